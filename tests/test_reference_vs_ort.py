"""fastinference's numpy reference model is bit-exact against onnxruntime on every test network
and both exporters: same integer scores on all 450 test rows, hence the same argmax."""
from __future__ import annotations

import numpy as np
import pytest

import fastinference
from fastinference.testing.nets import CASE_IDS, CASES, ort_pre_softmax


@pytest.mark.parametrize("name,exporter", CASES, ids=CASE_IDS)
def test_reference_equals_onnxruntime(nets, name, exporter):
    case = nets.get(name, exporter)
    ref = ort_pre_softmax(case.path, case.X_test_f32)
    assert np.array_equal(ref, np.round(ref)), "onnxruntime scores are not integers"
    ref = ref.astype(np.int64)

    net = fastinference.load(case.path)
    got = np.asarray(net.predict(case.X_test))
    assert got.dtype == np.int64
    assert got.shape == ref.shape
    bad = np.flatnonzero((got != ref).any(axis=1))
    assert bad.size == 0, (f"{bad.size} of {len(ref)} rows differ; first row {bad[0]}: "
                           f"fastinference {got[bad[0]].tolist()} vs onnxruntime "
                           f"{ref[bad[0]].tolist()}")
    assert np.array_equal(got, ref)
    assert np.array_equal(got.argmax(1), ref.argmax(1))


@pytest.mark.parametrize("name", ["mlp_seed", "cnn"])
def test_reference_accepts_float_integers(nets, name):
    """X given as float32 holding integers (what the ONNX itself takes) predicts the same."""
    case = nets.get(name, "legacy")
    net = fastinference.load(case.path)
    assert np.array_equal(np.asarray(net.predict(case.X_test_f32)), np.asarray(net.predict(case.X_test)))


def test_bundled_examples_vs_onnxruntime():
    from pathlib import Path
    ex = Path(__file__).resolve().parent.parent / "examples"
    x = np.load(ex / "digits_test_x.npy")
    x_img = np.load(ex / "digits_test_x_img.npy")
    y = np.load(ex / "digits_test_y.npy")
    assert x.dtype == np.int64 and x.shape == (200, 64) and y.shape == (200,)
    assert np.array_equal(x_img, x.reshape(-1, 1, 8, 8))
    for fname, xin in (("digits_mlp.onnx", x), ("digits_cnn.onnx", x_img)):
        ref = ort_pre_softmax(ex / fname, xin)
        assert np.array_equal(ref, np.round(ref))
        assert (ref.argmax(1) == y).mean() > 0.88
        got = fastinference.load(ex / fname).predict(xin)
        assert np.array_equal(np.asarray(got), ref.astype(np.int64)), fname
