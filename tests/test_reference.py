"""The reference model against plain integer arithmetic: packed XNOR-popcount with masked pad
bits for every width, thresholds with both directions, convs with padding and strides."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from fastinference import reference
from fastinference.ir import BinaryConv, BinaryDense, BinaryMaxPool, Model


def dense(name, W, kind, T=None, D=None, bits=8, signed=False, bias=None):
    M, K = W.shape
    return BinaryDense(name=name, source_nodes=[name], in_shape=(K,), out_shape=(M,), weights=W.astype(np.int8),
                       input_kind=kind, input_bits=bits if kind == "int" else 1,
                       input_signed=signed if kind == "int" else False, thresholds=T, directions=D, bias=bias)


@settings(max_examples=200, deadline=None)
@given(K=st.integers(1, 130), M=st.integers(1, 9), N=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_xnor_popcount_equals_dot_product_for_every_width(K, M, N, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, (N, K))
    w = rng.integers(0, 2, (M, K))
    assert np.array_equal(reference.xnor_popcount_acc(x, w, K), (2 * x - 1) @ (2 * w - 1).T)


@settings(max_examples=60, deadline=None)
@given(K=st.integers(1, 130), M=st.integers(1, 40), seed=st.integers(0, 2**32 - 1),
       signed=st.booleans(), bits=st.integers(2, 8))
def test_two_layer_network_matches_integer_model(K, M, seed, signed, bits):
    rng = np.random.default_rng(seed)
    W1 = rng.choice([-1, 1], (M, K))
    W2 = rng.choice([-1, 1], (5, M))
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    T = rng.integers(-K * 4, K * 4, M)
    D = rng.choice([-1, 1], M).astype(np.int8)
    bias = rng.integers(-5, 5, 5)
    m = Model("t", [dense("a", W1, "int", T, D, bits, signed), dense("b", W2, "binary", bias=bias)], (K,),
              input_bits=bits, input_signed=signed)
    x = rng.integers(lo, hi, (7, K), endpoint=True)
    h = x @ W1.T
    s = np.where(D > 0, h >= T, h <= T)
    want = np.where(s, 1, -1) @ W2.T + bias
    assert np.array_equal(reference.run(m, x), want)


def _conv_direct(x, W, stride, pads):
    N, C, H, Wd = x.shape
    M, _, kh, kw = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    OH = (H + pads[0] + pads[2] - kh) // stride[0] + 1
    OW = (Wd + pads[1] + pads[3] - kw) // stride[1] + 1
    out = np.zeros((N, M, OH, OW), np.int64)
    for i in range(OH):
        for j in range(OW):
            patch = xp[:, :, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw]
            out[:, :, i, j] = np.einsum("nchw,mchw->nm", patch, W)
    return out


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), stride=st.integers(1, 2), pad=st.integers(0, 1), C=st.integers(1, 3))
def test_conv_and_pool_match_direct_loops(seed, stride, pad, C):
    rng = np.random.default_rng(seed)
    H = W = 7
    Wc = rng.choice([-1, 1], (4, C, 3, 3))
    x = rng.integers(0, 16, (3, C, H, W))
    acc = _conv_direct(x, Wc, (stride, stride), (pad,) * 4)
    OH, OW = acc.shape[2:]
    T = rng.integers(-20, 20, 4)
    conv = BinaryConv(name="c", source_nodes=[], in_shape=(C, H, W), out_shape=(4, OH, OW), weights=Wc.astype(np.int8),
                      input_kind="int", input_bits=4, thresholds=T, directions=np.ones(4, np.int8),
                      stride=(stride, stride), pads=(pad,) * 4)
    bits = reference.run_layer(conv, x)
    assert np.array_equal(bits, (acc >= T[None, :, None, None]).astype(np.uint8))
    PH, PW = OH // 2, OW // 2
    andc = np.array([False, True, False, True])
    pool = BinaryMaxPool(name="p", source_nodes=[], in_shape=(4, OH, OW), out_shape=(4, PH, PW),
                         kernel=(2, 2), stride=(2, 2), and_channels=andc)
    pooled = reference.run_layer(pool, bits)
    for c in range(4):
        for i in range(PH):
            for j in range(PW):
                win = bits[:, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2].reshape(3, -1)
                want = win.min(1) if andc[c] else win.max(1)
                assert np.array_equal(pooled[:, c, i, j], want)


def test_unsigned_acc_range_bounds_every_input():
    rng = np.random.default_rng(0)
    W = rng.choice([-1, 1], (6, 10))
    layer = dense("a", W, "int", bits=4)
    lo, hi = layer.acc_range()
    x = np.array([[15] * 10, [0] * 10])
    for r in (x @ W.T).ravel():
        assert lo <= r <= hi
    assert hi == 15 * (W > 0).sum(1).max() and lo == -15 * (W < 0).sum(1).max()
