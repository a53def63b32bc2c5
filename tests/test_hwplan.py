"""hwplan.MvauPlan, the per-layer hardware plan both backends render: the checks it makes once,
its column orders and weight lanes, and its S domain (the RTL's acc = a*S + c) against the
accumulator domain on every datapath, thresholds both directions and past the range. The
window, pool and join plans: their fields are what the HLS stages and the RTL stage graph
write (widths, shapes, masks, offsets), and their checks are made once."""
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


# ------------------------------------------------------------- the other layers' plans
def _both_backends(model):
    """The HLS stages by function name and the RTL stages by name (and wire widths) of a model
    at its default folding: what each backend writes, before any file is rendered."""
    from fastinference.backends.hls.stages import plan
    from fastinference.backends.rtl import graph, mvau
    from fastinference.backends.rtl.writer import _graph_input
    from fastinference.folding import default_target, fold_for_target

    folding = fold_for_target(model, default_target(model))
    hls = {st.fn: st for st in plan(model, folding).stages}
    rp = graph.plan_graph(model, folding, mvau, graph.input_tensor(model, *_graph_input(model)))
    rtl = {st.name: dict(st.params) for st in rp.stages}
    return hls, rtl, {w.name: w.width for w in rp.wires.values()}


def _int_pool_cnn():
    """4-bit input -> int max pool 3x3 stride 2 -> int conv 2x2 pad 1 -> bits -> pool 2x2 with
    AND on two channels -> dense scores."""
    from fastinference.ir import IntMaxPool, Model
    from fastinference.testing.hls_models import conv, dense, maxpool
    rng = np.random.default_rng(5)
    p0 = IntMaxPool(name="pool_0", source_nodes=["/p0/MaxPool"], in_shape=(2, 9, 9),
                    out_shape=(2, 4, 4), kernel=(3, 3), stride=(2, 2), bits=4, signed=False)
    c0 = conv("conv_0", 2, 4, 4, 3, (2, 2), rng, pads=(1, 1, 1, 1), input_kind="int", bits=4)
    p1 = maxpool("pool_1", 3, 5, 5, and_channels=np.array([1, 0, 1], bool))
    d0 = dense("dense_0", 12, 4, rng, scores=True, in_shape=(3, 2, 2))
    return Model("ipool", [p0, c0, p1, d0], (2, 9, 9), input_bits=4)


def test_window_and_pool_plans_are_what_both_backends_write():
    from fastinference.hwplan import pool_plan, window_plan
    model = _int_pool_cnn()
    hls, rtl, wires = _both_backends(model)
    c0 = model.layer("conv_0")
    wp = window_plan(c0)
    assert (wp.K, wp.bits, wp.OH, wp.OW, wp.pixel_bits, wp.window_bits) == (8, 4, 5, 5, 8, 32)
    h = hls["conv_0_WINDOWS"]
    assert (h.in_w, h.out_w) == (wp.pixel_bits, wp.window_bits)
    assert [h.ctx[k] for k in ("K", "B", "KH", "KW", "SH", "SW", "PT", "PL")] == [
        wp.K, wp.bits, wp.KH, wp.KW, wp.SH, wp.SW, wp.PT, wp.PL]
    r = rtl["conv_0_win"]
    assert wires["conv_0_win_o"] == wp.window_bits
    assert [r[k] for k in ("C", "BITS", "KH", "KW", "StrideH", "StrideW", "PadT", "PadL", "PadB",
                           "PadR")] == [str(v) for v in (wp.C, wp.bits, wp.KH, wp.KW, wp.SH, wp.SW)
                                        + wp.pads]
    for name, fmt, keys in (("pool_0", (4, False), ("KH", "KW", "StrideH", "StrideW")),
                            ("pool_1", (1, False), ("K", None, "Stride", None))):  # binary_maxpool
        pp = pool_plan(model.layer(name), *fmt)
        h, r = hls[name], rtl[name]
        assert h.in_w == h.out_w == wires[f"{name}_o"] == pp.pixel_bits
        assert [h.ctx[k] for k in ("KH", "KW", "SH", "SW", "B", "signed", "integer")] == [
            pp.KH, pp.KW, pp.SH, pp.SW, pp.bits, pp.signed, pp.integer]
        assert r["AndMask"] == f"{pp.C}'h{pp.and_mask:x}"
        assert all(r[k] == str(v) for k, v in zip(keys, (pp.KH, pp.KW, pp.SH, pp.SW)) if k)
    assert pool_plan(model.layer("pool_1"), 1, False).and_mask == 0b101
    assert hls["pool_1"].ctx["and_mask"] == "0x5" and "Bits" in rtl["pool_0"]


def test_join_plans_are_what_both_backends_write():
    from fastinference.hwplan import join_plan, threshold_plan
    from fastinference.testing.dag_models import concat_model, conv_block
    model = conv_block(np.random.default_rng(3), 1)  # pixels: add of scores + bits, threshold
    hls, rtl, wires = _both_backends(model)
    add = model.layer("add")
    jp = join_plan(add, (4, 4), ((6, 6), (6, 6)))
    assert (jp.op, jp.beats, jp.elems, jp.offsets) == ("add", 36, 4, (0, 0))
    assert (jp.lo, jp.hi) == add.out_range
    h, r = hls["add"].ctx, rtl["add"]
    assert (h["C"], h["BEATS"], (h["OB"], h["out_signed"])) == (jp.elems, jp.beats, jp.exact_format)
    assert (r["E"], r["WO"]) == (str(jp.elems), str(jp.sum_bits))
    assert wires["add_o"] == jp.elems * jp.sum_bits
    # the threshold after it: one comparison width in both
    tp = threshold_plan(model.layer("post"), 4, jp.sum_bits, True)
    assert rtl["post"]["CmpW"] == str(tp.thr_bits)
    assert hls["post"].ctx["thr_w"] == threshold_plan(model.layer("post"), 4, *jp.exact_format).thr_bits

    model = concat_model(np.random.default_rng(5))  # vectors: a concat of 6 + 7 bits
    hls, rtl, wires = _both_backends(model)
    jp = join_plan(model.layer("cat"), (6, 7), (None, None))
    assert (jp.op, jp.beats, jp.elems, jp.offsets, jp.exact_format) == ("concat", 1, 13, (0, 6), (1, False))
    h, r = hls["cat"].ctx, rtl["cat"]
    assert (h["C"], h["BEATS"], h["OB"], [m["C"] for m in h["ins"]]) == (13, 1, 1, [6, 7])
    assert (r["EA"], r["EB"], r["WO"]) == ("6", "7", "1") and wires["cat_o"] == 13


def test_window_pool_join_checks_made_once():
    from fastinference.hwplan import join_plan, pool_plan, window_plan
    from fastinference.testing.dag_models import concat_model
    from fastinference.testing.hls_models import conv, maxpool
    rng = np.random.default_rng(6)
    c = conv("c", 2, 5, 5, 3, (3, 3), rng)
    c.pads = (1, 1, 1, 1)
    with pytest.raises(UnsupportedModelError, match="zero padding of a binary conv"):
        window_plan(c)
    c = conv("c", 2, 5, 5, 3, (3, 3), rng)
    c.out_shape = (3, 4, 3)
    with pytest.raises(UnsupportedModelError, match="does not match kernel/stride/pads"):
        window_plan(c)
    p = maxpool("p", 2, 5, 5)
    p.out_shape = (2, 3, 3)
    with pytest.raises(UnsupportedModelError, match="does not match kernel/stride"):
        pool_plan(p, 1, False)
    p.in_shape = (50,)
    with pytest.raises(UnsupportedModelError, match=r"expected a \(C, H, W\) input"):
        pool_plan(p, 1, False)
    cat = concat_model(rng).layer("cat")
    with pytest.raises(UnsupportedModelError, match="different shapes"):
        join_plan(cat, (6, 7), ((2, 3), (3, 2)))
    with pytest.raises(UnsupportedModelError, match="takes two inputs"):
        join_plan(cat, (6, 7, 1), (None, None, None))
