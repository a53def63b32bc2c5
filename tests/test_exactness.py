"""Rows ``s * (+-1)`` (BatchNorm folded into the weights, as the dynamo exporter writes them):
the reference takes the Gemm's exact value ``s * acc + b`` (rounded once), not
``float32(float32(acc) * s) + b``: ONNX does not fix how an implementation sums the K float32
products, so the exact value is the only implementation-independent meaning. README, Exactness."""
from __future__ import annotations

from fractions import Fraction

import numpy as np

import fastinference as fi
from fastinference.passes.float_chain import exact_dot_f32
from fastinference.testing.graphs import GraphBuilder

S = np.float32(0.1)
ACC = 5
R = np.float32(np.float32(ACC) * S)  # float32(5 * 0.1f), rounded down from the exact value
B = -R


def test_the_constructed_case_differs_in_sign():
    two_roundings = np.float32(np.float32(np.float32(ACC) * S) + B)
    exact = Fraction(float(S)) * ACC + Fraction(float(B))
    assert two_roundings == 0 and exact > 0  # x > 0: -1 the float32 way, +1 exactly
    assert exact_dot_f32(np.array([ACC]), S, B)[0] > 0


def test_the_reference_follows_the_exact_value(tmp_path):
    g = GraphBuilder((5,))
    g.gemm(np.full((1, 5), S, np.float32), b=np.array([B], np.float32))  # Gemm(x, s*(+1), b)
    g.sign()
    g.gemm(np.ones((1, 1), np.float32))
    net = fi.load(g.save(tmp_path / "tie.onnx"))
    first = net.model.compute_layers()[0]
    assert first.thresholds.tolist() == [ACC]  # acc >= 5 gives +1: 5*s + b > 0 exactly
    x = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0], [2, 1, 1, 1, 0]])  # acc 5, 4, 5
    assert net.predict(x).reshape(-1).tolist() == [1, -1, 1]
