"""HLS backend, quantized (multi-bit) MVAUs: generated C++ (g++ C simulation) == the reference.

Hand-built chains of BinaryDense layers with W-bit weights (1..8) on A-bit inputs (1..8 bits,
signed or unsigned, or +-1 bits), multi-threshold outputs (N thresholds per channel, both
directions, an offset, signed or unsigned out_bits) feeding the next layer's integer input;
a quantized conv -> integer max pool -> dense chain; the Brevitas QONNX MLPs through the
project flow (`compile_project(..., backend="hls")`).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from fastinference import reference
from fastinference.backends.hls import render
from fastinference.errors import UnsupportedModelError
from fastinference.folding import LayerFold
from fastinference.ir import BinaryConv, BinaryDense, IntMaxPool, Model
from fastinference.testing.hls_models import fold, random_inputs
from test_hls_dense import csim_equals_reference


# ------------------------------------------------------------------------------ builders
def _weights(rng, shape, wbits):
    if wbits == 1:
        return np.where(rng.random(shape) < 0.5, -1, 1).astype(np.int8)
    lo, hi = -(1 << (wbits - 1)), (1 << (wbits - 1)) - 1
    return rng.integers(lo, hi + 1, size=shape).astype(np.int8 if wbits <= 8 else np.int64)


def _set_output(layer, rng, acc, out):
    """Thresholds from the accumulators the layer really sees (ties included), a few past the
    reachable range; ``out``: "scores", "bits" or ("int", N, out_bits, out_signed, offset)."""
    lo, hi = layer.acc_range()
    M = layer.M
    if out == "scores":
        layer.bias = rng.integers(-20, 21, size=M).astype(np.int64)
        return
    N = 1 if out == "bits" else out[1]
    T = np.empty((M, N), dtype=np.int64)
    for j in range(M):
        pool = np.concatenate([acc[:, j], [lo - 3, lo - 1, lo, hi, hi + 1, hi + 5]])
        pick = rng.choice(pool, size=N)
        if rng.random() < 0.3:  # off the observed values
            pick = pick + rng.integers(-2, 3, size=N)
        T[j] = np.sort(pick)
    D = np.where(rng.random(M) < 0.5, -1, 1).astype(np.int8)
    T[D < 0] = T[D < 0][:, ::-1]  # descending rows for D = -1
    layer.directions = D
    if out == "bits":
        layer.thresholds = T[:, 0].copy()
    else:
        _, N, ob, osg, off = out
        layer.thresholds = T
        layer.out_bits, layer.out_signed, layer.out_offset = ob, osg, off


def _out_spec(rng, N_max_bits=4):
    """A random multi-threshold output: ("int", N, out_bits, out_signed, offset)."""
    ob = int(rng.integers(1, N_max_bits + 1))
    osg = bool(rng.random() < 0.4)
    if osg:
        lo, hi = -(1 << (ob - 1)), (1 << (ob - 1)) - 1
    else:
        lo, hi = 0, (1 << ob) - 1
    N = int(rng.integers(1, hi - lo + 1))
    off = int(rng.integers(lo, hi - N + 1))
    return ("int", N, ob, osg, off)


def mvau_dense(name, K, M, rng, wbits, in_kind, in_bits, in_signed, x, out, in_shape=None):
    layer = BinaryDense(name=name, source_nodes=[f"/{name}/MatMul", f"/{name}/MultiThreshold"],
                        in_shape=in_shape or (K,), out_shape=(M,),
                        weights=_weights(rng, (M, K), wbits), weight_bits=wbits,
                        input_kind=in_kind, input_bits=in_bits, input_signed=in_signed)
    acc = reference._matvec(layer, x.reshape(len(x), -1))
    _set_output(layer, rng, acc, out)
    return layer


def _next_input(layer):
    """(input_kind, bits, signed) a layer after `layer` takes."""
    if layer.output_kind == "bits":
        return "binary", 1, False
    return "int", int(layer.out_bits), bool(layer.out_signed)


def build_chain(seed_, sizes, wbits, first, folds, n_rows=40):
    """sizes (K0, M0, M1, ...); wbits per layer; first = (kind, bits, signed)."""
    rng = np.random.default_rng(seed_)
    kind, bits, sg = first
    model_bits, model_signed = (1, False) if kind == "binary" else (bits, sg)
    probe = Model("probe", [], (sizes[0],), input_bits=model_bits, input_signed=model_signed)
    x0 = random_inputs(probe, rng, n_rows)
    x = x0
    layers, folding = [], {}
    n = len(sizes) - 1
    for i in range(n):
        K, M = sizes[i], sizes[i + 1]
        if i == n - 1:
            out = "scores"
        else:
            out = "bits" if rng.random() < 0.25 else _out_spec(rng)
        layer = mvau_dense(f"dense_{i}", K, M, rng, wbits[i], kind, bits, sg, x, out)
        layers.append(layer)
        folding[layer.name] = LayerFold(*folds[i])
        x = reference.run_layer(layer, x)
        kind, bits, sg = _next_input(layer)
    model = Model("qchain", layers, (sizes[0],), input_bits=model_bits, input_signed=model_signed)
    return model, folding, x0


@st.composite
def qchains(draw, max_k=70):
    seed_ = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(1, 3))
    sizes = [draw(st.integers(1, max_k))] + [draw(st.integers(1, 24)) for _ in range(n)]
    wbits = [draw(st.integers(1, 8)) for _ in range(n)]
    kind = draw(st.sampled_from(["binary", "int", "int"]))
    sg = draw(st.booleans()) if kind == "int" else False
    bits = draw(st.integers(1, 8)) if kind == "int" else 1
    folds = [(draw(st.integers(1, M)), draw(st.integers(1, K)))
             for K, M in zip(sizes[:-1], sizes[1:])]
    return seed_, sizes, wbits, (kind, bits, sg), folds


def _property(examples, shard):
    @seed(1100 + shard)
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(chain=qchains())
    def check(out_root, chain):
        model, folding, x = build_chain(*chain)
        out = out_root / f"chain{len(list(out_root.iterdir()))}"
        csim_equals_reference(model, folding, out, x)
    return check


# --------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("shard", [0, 1])
def test_qchain_csim_equals_reference(tmp_path, shard):
    """Random W-bit x A-bit chains, multi-threshold outputs, random PE/SIMD: csim == reference."""
    _property(4, shard)(tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("shard", range(4))
def test_qchain_sweep(tmp_path, shard):
    _property(25, 10 + shard)(tmp_path)


def test_every_weight_and_input_width(tmp_path):
    """One build: a chain through every weight width 1..8 and input formats 1..8 bits, signed
    and unsigned, +-1 bits in and out, N thresholds both directions, PE/SIMD not dividing."""
    rng = np.random.default_rng(7)
    n_rows = 60
    probe = Model("probe", [], (23,), input_bits=3, input_signed=True)
    x0 = random_inputs(probe, rng, n_rows)
    x = x0
    # (weight bits, M, output): the next layer takes the output's format
    plan = [(5, 13, ("int", 7, 3, False, 0)),       # 3-bit signed in -> 3-bit unsigned
            (1, 11, ("int", 12, 4, True, -6)),      # +-1 weights x ints -> 4-bit signed, offset
            (8, 9, "bits"),                          # 8-bit weights x signed ints -> bits
            (3, 10, ("int", 255, 8, False, 0)),     # 3-bit weights x +-1 bits -> 8 bits, N=255
            (2, 12, ("int", 1, 1, False, 0)),       # 2-bit x 8-bit unsigned -> 1-bit int
            (7, 8, ("int", 60, 6, True, -30)),      # 7-bit x 1-bit unsigned ints -> 6-bit signed
            (4, 14, ("int", 3, 2, True, -2)),       # 2-bit signed out
            (6, 10, "bits"),
            (1, 7, ("int", 5, 5, False, 3)),        # XNOR -> 5-bit with an offset
            (8, 5, "scores")]
    folds = [(4, 5), (3, 11), (9, 1), (5, 3), (12, 10), (3, 7), (7, 2), (4, 14), (2, 4), (2, 7)]
    kind, bits, sg = "int", 3, True
    K = 23
    layers, folding = [], {}
    for i, ((wb, M, out), f) in enumerate(zip(plan, folds)):
        layer = mvau_dense(f"q{i}", K, M, rng, wb, kind, bits, sg, x, out)
        layers.append(layer)
        folding[layer.name] = LayerFold(*f)
        x = reference.run_layer(layer, x)
        kind, bits, sg = _next_input(layer)
        K = M
    model = Model("widths", layers, (23,), input_bits=3, input_signed=True)
    csim_equals_reference(model, folding, tmp_path, x0)


def test_quantized_conv_pool_dense(tmp_path):
    """BinaryConv with 3-bit weights on 4-bit unsigned pixels (pads, stride 1), a 3-bit
    unsigned multi-threshold output, IntMaxPool on it (3x3 stride 2 and 2x2), then a 2-bit
    conv on the pooled integers (signed output) and a dense score layer with 5-bit weights."""
    rng = np.random.default_rng(11)
    n_rows = 30
    C, H, W = 2, 7, 7
    model_in = Model("probe", [], (C, H, W), input_bits=4, input_signed=False)
    x0 = random_inputs(model_in, rng, n_rows)
    c0 = BinaryConv(name="conv_0", source_nodes=["/conv0/Conv", "/act0/Quant"], in_shape=(C, H, W),
                    out_shape=(5, 7, 7), weights=_weights(rng, (5, C, 3, 3), 3), weight_bits=3,
                    input_kind="int", input_bits=4, input_signed=False, pads=(1, 1, 1, 1))
    patches, _, _ = reference._windows(c0, x0)
    _set_output(c0, rng, reference._matvec(c0, patches.reshape(-1, c0.K)), ("int", 7, 3, False, 0))
    x1 = reference.run_layer(c0, x0)
    p0 = IntMaxPool(name="pool_0", source_nodes=["/pool0/MaxPool"], in_shape=(5, 7, 7),
                    out_shape=(5, 3, 3), kernel=(3, 3), stride=(2, 2), bits=3, signed=False)
    x2 = reference.run_layer(p0, x1)
    c1 = BinaryConv(name="conv_1", source_nodes=["/conv1/Conv"], in_shape=(5, 3, 3),
                    out_shape=(4, 2, 2), weights=_weights(rng, (4, 5, 2, 2), 2), weight_bits=2,
                    input_kind="int", input_bits=3, input_signed=False)
    patches, _, _ = reference._windows(c1, x2)
    _set_output(c1, rng, reference._matvec(c1, patches.reshape(-1, c1.K)), ("int", 6, 3, True, -3))
    x3 = reference.run_layer(c1, x2)
    p1 = IntMaxPool(name="pool_1", source_nodes=["/pool1/MaxPool"], in_shape=(4, 2, 2),
                    out_shape=(4, 1, 1), kernel=(2, 2), stride=(2, 2), bits=3, signed=True)
    x4 = reference.run_layer(p1, x3)
    d0 = mvau_dense("dense_0", 4, 3, rng, 5, "int", 3, True, x4, "scores", in_shape=(4, 1, 1))
    model = Model("qcnn", [c0, p0, c1, p1, d0], (C, H, W), input_bits=4, input_signed=False)
    folding = fold(conv_0=(2, 6), conv_1=(4, 20), dense_0=(1, 3))
    got = csim_equals_reference(model, folding, tmp_path, x0)
    assert len(np.unique(got, axis=0)) > 5  # the scores vary: the thresholds are not constant


def test_stream_format_mismatch_is_refused():
    """A layer whose input format differs from what the stream carries is refused by name."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 16, size=(5, 6))
    a = mvau_dense("a", 6, 4, rng, 3, "int", 4, False, x, ("int", 3, 2, False, 0))
    b = mvau_dense("b", 4, 2, rng, 3, "int", 3, False, rng.integers(0, 8, size=(5, 4)), "scores")
    model = Model("bad", [a, b], (6,), input_bits=4)
    with pytest.raises(UnsupportedModelError, match="layer 'b' takes 3-bit unsigned integers, "
                       "but layer 'a' gives 2-bit unsigned integers"):
        render(model, fold(a=(1, 1), b=(1, 1)))
    p = IntMaxPool(name="p", source_nodes=[], in_shape=(1, 2, 2), out_shape=(1, 1, 1), bits=4,
                   signed=True)
    c = mvau_dense("c", 1, 2, rng, 2, "int", 4, True, np.zeros((1, 1), int), "scores",
                   in_shape=(1, 1, 1))
    model = Model("badpool", [p, c], (1, 2, 2), input_bits=4, input_signed=False)
    with pytest.raises(UnsupportedModelError, match="layer 'p' takes 4-bit signed integers, "
                       "but the network input gives 4-bit unsigned"):
        render(model, fold(c=(1, 1)))


# ------------------------------------------------------------------------ QONNX via project
@pytest.mark.parametrize("arch,wbits,abits", [("mlp", 4, 4), ("mlp", 2, 2), ("mlp", 8, 8),
                                               ("mlp", 1, 2), ("cnn", 2, 2)])
def test_qonnx_project_csim_equals_predict(qnet_dir, tmp_path, arch, wbits, abits):
    """Brevitas QONNX nets compiled with --backend hls: csim == predict on 50 test rows (the
    CNN: quantized conv, MaxPool after a quantized activation, conv, dense)."""
    from fastinference import load
    from fastinference.project import compile_project
    from fastinference.testing import nets
    from fastinference.testing.brevitas_nets import QSpec, make_qnn, qnn_input
    from fastinference.verify.csim import run_csim

    spec = QSpec(arch=arch, wbits=wbits, abits=abits)
    path = make_qnn(spec, qnet_dir)
    _, X_te, _, _ = nets.load_data()
    xf = qnn_input(spec, X_te[:50])
    net = load(str(path))
    out = tmp_path / "proj"
    compile_project(str(path), out, backend="hls", vectors=xf)
    x = net.check_input(xf)
    want = net.predict(xf)
    assert len(np.unique(want, axis=0)) > 10
    got = run_csim(out, x, expected=want)
    assert np.array_equal(got, want)


def test_render_is_byte_identical_and_readable():
    """The same quantized model renders to the same bytes twice (no g++); the comments name
    the layer, its ONNX nodes, the weight format and the threshold meaning."""
    chain = (5, [30, 7, 4], [4, 1], ("int", 5, True), [(3, 7), (2, 7)])
    a = render(*build_chain(*chain)[:2])
    b = render(*build_chain(*chain)[:2])
    assert a == b
    cpp, wh = a["fi_top.cpp"], a["weights.h"]
    assert ("// layer dense_0 (mvau_dense), ONNX node(s): /dense_0/MatMul, "
            "/dense_0/MultiThreshold") in cpp
    assert "4-bit two's complement weights; 4x5-bit signed products" in cpp
    assert "static const fi_rom_uint<28> dense_0_W[3][15]" in wh  # SIMD*WB = 7*4 bits, NF*SF = 3*5
