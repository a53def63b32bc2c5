"""Constant folding follows ONNX's semantics (onnx.reference), not numpy's: an integer Div
truncates toward zero (-7 / 2 = -3), where numpy's // floors (-4)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import fastinference as fi
from fastinference.errors import UnsupportedModelError
from fastinference.frontend.onnx_reader import evaluate_node
from fastinference.testing.graphs import GraphBuilder, ort_run, pm1


@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_integer_div_truncates_toward_zero(dtype):
    div = helper.make_node("Div", ["a", "b"], ["c"])
    a = np.array([-7, 7, -7, 7, -8, -1], dtype=dtype)
    b = np.array([2, 2, -2, -2, 3, 2], dtype=dtype)
    for opset in (7, 13, 14):
        got = evaluate_node(div, [a, b], opset)
        assert got.dtype == dtype
        assert got.tolist() == [-3, 3, 3, -3, -2, 0]


def _mlp_with_reshape_target(path, numerator):
    """An MLP on (N, 1, 2, 3) whose Reshape target is Concat(Div(numerator, 2), [6]): with
    numerator -3, ONNX gives -1 (a flatten); a flooring fold would give -2 (no valid reshape)."""
    rng = np.random.default_rng(0)
    g = GraphBuilder((1, 2, 3))
    q = g.node("Div", [g.init([numerator], np.int64), g.init([2], np.int64)])
    target = g.node("Concat", [q, g.init([6], np.int64)], axis=0)
    g.cur = "x"
    g.node("Reshape", ["x", target])
    g.gemm(pm1(rng, 5, 6))
    g.bn(np.ones(5), np.zeros(5), rng.normal(0, 2, 5), np.ones(5))
    g.sign()
    g.gemm(pm1(rng, 3, 5))
    return g.save(path)


def test_negative_int_div_in_a_model(tmp_path):
    path = _mlp_with_reshape_target(tmp_path / "m.onnx", -3)
    net = fi.load(path)
    x = np.random.default_rng(1).integers(0, 256, size=(50, 1, 2, 3))
    assert np.array_equal(net.predict(x), ort_run(path, x).astype(np.int64))


def test_integer_div_by_zero_is_named(tmp_path):
    path = _mlp_with_reshape_target(tmp_path / "m.onnx", -3)
    import onnx
    m = onnx.load(path)
    for init in m.graph.initializer:
        if init.name == "c1":
            init.CopyFrom(onnx.numpy_helper.from_array(np.array([0], np.int64), "c1"))
    onnx.save(m, path)
    with pytest.raises(UnsupportedModelError, match=r"node 'Div_1' \(Div\): integer division by zero"):
        fi.load(path)
