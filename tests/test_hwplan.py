"""hwplan.MvauPlan, the per-layer hardware plan both backends render: the checks it makes once,
its column orders and weight lanes, and its S domain (the RTL's acc = a*S + c) against the
accumulator domain on every datapath, thresholds both directions and past the range."""
from __future__ import annotations

import numpy as np
import pytest

from fastinference.errors import BadOptionError, UnsupportedModelError
from fastinference.folding import LayerFold
from fastinference.hwplan import hwc_perm, mvau_plan, window_perm
from fastinference.ir import BinaryDense


def _layer(rng, K, M, wb, kind, bits, signed, out="int", N=3):
    if wb == 1:
        w = np.where(rng.random((M, K)) < 0.5, -1, 1).astype(np.int8)
    else:
        w = rng.integers(-(1 << (wb - 1)), 1 << (wb - 1), size=(M, K)).astype(np.int8)
    layer = BinaryDense(name="d", source_nodes=["/d/MatMul"], in_shape=(K,), out_shape=(M,),
                        weights=w, weight_bits=wb, input_kind=kind, input_bits=bits,
                        input_signed=signed)
    lo, hi = layer.acc_range()
    if out == "scores":
        layer.bias = rng.integers(-9, 10, size=M).astype(np.int64)
        return layer
    T = np.sort(rng.integers(lo - 4, hi + 5, size=(M, N)), axis=1)
    D = np.where(rng.random(M) < 0.5, -1, 1).astype(np.int8)
    T[D < 0] = T[D < 0][:, ::-1]
    layer.thresholds, layer.directions = T, D
    layer.out_bits, layer.out_signed, layer.out_offset = 3, False, 0
    return layer


def _inputs(rng, layer, n):
    if layer.input_kind == "binary":
        x = rng.integers(0, 2, size=(n, layer.K))
        x[0], x[1] = 0, 1
        return x, 2 * x - 1  # (bits the hardware sees, values)
    lo, hi = layer.input_range()
    x = rng.integers(lo, hi + 1, size=(n, layer.K))
    x[0], x[1] = lo, hi
    return x, x


CASES = [(1, "binary", 1, False), (1, "int", 4, False), (1, "int", 3, True),
         (3, "binary", 1, False), (4, "int", 2, False), (5, "int", 4, True)]


@pytest.mark.parametrize("wb,kind,bits,signed", CASES)
def test_s_domain_equals_accumulator_domain(wb, kind, bits, signed):
    rng = np.random.default_rng(wb * 31 + bits)
    layer = _layer(rng, 11, 7, wb, kind, bits, signed)
    p = mvau_plan(layer, LayerFold(3, 4))
    hw, x = _inputs(rng, layer, 200)
    w = p.weights
    acc = x @ w.T
    # the sum the RTL mvau accumulates, per datapath (rtl_templates/mvau.sv)
    S = {"xnor": (hw[:, None, :] == (w > 0)[None]).sum(axis=2),
         "pm_x": np.where(w[None] > 0, hw[:, None, :], -hw[:, None, :] - 1).sum(axis=2),
         "w_pm": hw @ w.T, "mul": acc}[p.datapath]
    a, c = p.s_affine
    assert (acc == a * S + c).all()
    s_lo, s_hi = p.s_range
    assert s_lo <= S.min() and S.max() <= s_hi
    assert -(1 << (p.s_acc_bits - 1)) <= s_lo - 1 and s_hi + 1 < 1 << (p.s_acc_bits - 1)
    for j, (neg, us) in enumerate(p.s_thresholds()):
        assert neg == (layer.directions[j] < 0)
        for i, u in enumerate(us):
            t = layer.thresholds[j, i]
            want = acc[:, j] <= t if neg else acc[:, j] >= t
            got = (~S[:, j] >= u) if neg else (S[:, j] >= u)
            assert (want == got).all()
            tc = p.clamped_thresholds[j, i]  # the HLS form: same outcomes
            assert (want == ((acc[:, j] <= tc) if neg else (acc[:, j] >= tc))).all()
    assert p.acc_lo <= acc.min() and acc.max() <= p.acc_hi


def test_scores_bias_in_s_domain():
    rng = np.random.default_rng(3)
    layer = _layer(rng, 9, 5, 1, "int", 4, True, out="scores")
    p = mvau_plan(layer, LayerFold(2, 3))
    hw, x = _inputs(rng, layer, 50)
    S = np.where(p.weights[None] > 0, hw[:, None, :], -hw[:, None, :] - 1).sum(axis=2)
    a, _ = p.s_affine
    assert (x @ p.weights.T + layer.bias == a * S + np.array(p.s_bias())).all()
    assert p.scores and p.n_thr == 0 and p.score_range == (p.acc_lo + layer.bias.min(),
                                                          p.acc_hi + layer.bias.max())


def test_column_orders_and_lanes():
    C, H, W = 3, 2, 4
    onnx = np.arange(C * H * W).reshape(C, H, W)
    assert (onnx.reshape(-1)[hwc_perm(C, H, W)] == onnx.transpose(1, 2, 0).reshape(-1)).all()
    assert (onnx.reshape(-1)[window_perm(C, H, W)] == onnx.transpose(1, 2, 0).reshape(-1)).all()
    rng = np.random.default_rng(1)
    layer = _layer(rng, 10, 5, 3, "int", 2, False)
    perm = rng.permutation(10)
    p = mvau_plan(layer, LayerFold(2, 4), perm)
    assert (p.NF, p.SF) == (3, 3)
    assert (p.weights == np.asarray(layer.weights, dtype=np.int64)[:, perm]).all()
    lanes = p.lanes(pad=5)
    assert lanes.shape == (6, 12)
    assert (lanes[:5, :10] == (p.weights & 7)).all()
    assert (lanes[5] == 5).all() and (lanes[:, 10:] == 5).all()
    pm = mvau_plan(_layer(rng, 10, 5, 1, "int", 2, False), LayerFold(2, 4))
    assert pm.datapath == "pm_x" and pm.s_pad == 1  # +1 on a zero input adds nothing to S
    assert set(np.unique(pm.lanes(0)[:5, :10])) <= {0, 1}


def test_checks_made_once():
    rng = np.random.default_rng(2)
    layer = _layer(rng, 6, 4, 2, "int", 2, False)
    with pytest.raises(BadOptionError, match="PE=5, SIMD=1 out of range"):
        mvau_plan(layer, LayerFold(5, 1))
    bad = layer.copy()
    bad.weights = np.full((4, 6), 2, dtype=np.int8)
    with pytest.raises(UnsupportedModelError, match="do not fit 2-bit"):
        mvau_plan(bad, LayerFold(1, 1))
    bad = layer.copy()
    bad.directions = np.zeros(4, dtype=np.int8)
    with pytest.raises(UnsupportedModelError, match="directions must be"):
        mvau_plan(bad, LayerFold(1, 1))
    bad = layer.copy()
    bad.thresholds = np.zeros((3, 2), dtype=np.int64)
    with pytest.raises(UnsupportedModelError, match="thresholds of shape"):
        mvau_plan(bad, LayerFold(1, 1))
    bad = layer.copy()
    bad.out_bits = 1  # 3 thresholds: outputs 0..3 do not fit 1 bit
    with pytest.raises(UnsupportedModelError, match="do not fit 1-bit unsigned"):
        mvau_plan(bad, LayerFold(1, 1))


def test_threshold_plan_clamps_to_the_input_range():
    from fastinference.hwplan import threshold_plan
    from fastinference.ir import Threshold
    rng = np.random.default_rng(4)
    C, N = 5, 3
    T = np.sort(rng.integers(-40, 40, size=(C, N)), axis=1)
    D = np.array([1, -1, 1, -1, 1], dtype=np.int8)
    T[D < 0] = T[D < 0][:, ::-1]
    layer = Threshold(name="t", source_nodes=[], in_shape=(C,), out_shape=(C,), thresholds=T,
                      directions=D, out_bits=2, out_signed=False, out_offset=0)
    tp = threshold_plan(layer, C, 5, True)  # inputs -16..15
    assert (tp.in_lo, tp.in_hi, tp.thr_bits) == (-16, 15, 6)
    x = np.arange(-16, 16)
    for c in range(C):
        for i in range(N):
            t, tc = T[c, i], tp.clamped_thresholds[c, i]
            assert -17 <= tc <= 16
            f = (lambda v, th: v <= th) if D[c] < 0 else (lambda v, th: v >= th)
            assert (f(x, t) == f(x, tc)).all()
    with pytest.raises(UnsupportedModelError, match="4 per beat"):
        threshold_plan(layer, 4, 5, True)
