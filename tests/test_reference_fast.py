"""The reference's fast paths (channels-last windows as one strided copy and one BLAS product,
thresholds broadcast over whole rows, pools as maxima of shifted slices, float32/float64/int64
picked from the accumulator bound) against plain loops over output pixels in int64, over random
shapes, strides, pads, kernels, weight and input bit widths, directions and threshold levels."""
from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastinference import reference
from fastinference.ir import BinaryConv, BinaryDense, BinaryMaxPool, IntMaxPool, Model


def plain_conv(x, W, stride, pads):
    """x (N, C, H, W) int64, W (M, C, kh, kw) -> acc (N, M, OH, OW): a loop over output pixels."""
    M, _, kh, kw = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    OH = (xp.shape[2] - kh) // stride[0] + 1
    OW = (xp.shape[3] - kw) // stride[1] + 1
    out = np.zeros((len(x), M, OH, OW), np.int64)
    for i in range(OH):
        for j in range(OW):
            patch = xp[:, :, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw]
            out[:, :, i, j] = patch.reshape(len(x), -1) @ W.reshape(M, -1).T.astype(np.int64)
    return out


def plain_activation(acc, T, D, offset):
    """acc (N, M, ...) int64, thresholds per channel (axis 1)."""
    e = (slice(None),) + (None,) * (acc.ndim - 2)
    if T is None:
        return acc
    if T.ndim == 1:
        return np.where(D[e] > 0, acc >= T[e], acc <= T[e]).astype(np.uint8)
    n = sum(np.where(D[e] > 0, acc >= T[:, i][e], acc <= T[:, i][e]).astype(np.int64) for i in range(T.shape[1]))
    return n + offset


def plain_pool(x, kernel, stride, out_hw, and_channels=None):
    N, C = x.shape[:2]
    out = np.zeros((N, C) + tuple(out_hw), x.dtype)
    for i in range(out_hw[0]):
        for j in range(out_hw[1]):
            win = x[:, :, i * stride[0]:i * stride[0] + kernel[0], j * stride[1]:j * stride[1] + kernel[1]]
            win = win.reshape(N, C, -1)
            out[:, :, i, j] = win.max(-1)
            if and_channels is not None:
                out[:, and_channels, i, j] = win.min(-1)[:, and_channels]
    return out


def random_output(rng, acc, kind, levels):
    """Thresholds (sorted per row by direction, some far outside any float32 integer) or a bias."""
    M = acc.shape[1]
    lo, hi = int(acc.min()) - 3, int(acc.max()) + 3
    D = rng.choice([-1, 1], M).astype(np.int8)
    if kind == "scores":
        return dict(bias=rng.integers(-1000, 1000, M)), None, D
    T = rng.integers(lo, hi, (M, levels), endpoint=True)
    T[rng.random(T.shape) < 0.1] = 1 << 30
    T[rng.random(T.shape) < 0.1] = -(1 << 30)
    T.sort(axis=1)
    T[D < 0] = T[D < 0, ::-1]
    T = T[:, 0] if kind == "bits" else T
    offset = int(rng.choice([-2, 0, 300, -(1 << 20)])) if kind == "int" else 0  # int8, int16, int32 outputs
    return dict(thresholds=T, directions=D, out_offset=offset), T, D


def input_kind(rng, binary, bits, signed, shape):
    if binary:
        return rng.integers(0, 2, shape), dict(input_kind="binary", input_bits=1)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    x = rng.integers(lo, hi, shape, endpoint=True)
    x[rng.random(shape) < 0.2] = hi
    return x, dict(input_kind="int", input_bits=bits, input_signed=signed)


def weights(rng, wbits, shape):
    if wbits == 1:
        return rng.choice([-1, 1], shape).astype(np.int8)
    return rng.integers(-(1 << (wbits - 1)), (1 << (wbits - 1)), shape).astype(np.int8)


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), N=st.integers(1, 3), C=st.integers(1, 5), M=st.integers(1, 6),
       H=st.integers(1, 8), Wd=st.integers(1, 8), kh=st.integers(1, 4), kw=st.integers(1, 4),
       sh=st.integers(1, 3), sw=st.integers(1, 3), pads=st.tuples(*[st.integers(0, 2)] * 4),
       binary=st.booleans(), bits=st.sampled_from([2, 4, 8, 16, 24]), signed=st.booleans(),
       wbits=st.sampled_from([1, 2, 4, 8]), out=st.sampled_from(["bits", "int", "scores"]),
       levels=st.sampled_from([1, 3, 15, 120]))
def test_conv_equals_plain_loops(seed, N, C, M, H, Wd, kh, kw, sh, sw, pads, binary, bits, signed, wbits, out,
                                 levels):
    rng = np.random.default_rng(seed)
    if binary:
        pads, wbits = (0, 0, 0, 0), 1
    if H + pads[0] + pads[2] < kh or Wd + pads[1] + pads[3] < kw:
        return
    x, kind = input_kind(rng, binary, bits, signed, (N, C, H, Wd))
    W = weights(rng, wbits, (M, C, kh, kw))
    acc = plain_conv(2 * x - 1 if binary else x, W, (sh, sw), pads)
    extra, T, D = random_output(rng, acc, out, levels)
    conv = BinaryConv(name="c", source_nodes=[], in_shape=(C, H, Wd), out_shape=(M,) + acc.shape[2:], weights=W,
                      weight_bits=wbits, stride=(sh, sw), pads=pads, **kind, **extra)
    want = plain_activation(acc, T, D, extra.get("out_offset")) if out != "scores" else acc + extra["bias"][None, :, None, None]
    got = reference.run_layer(conv, x)
    assert got.dtype == want.dtype and np.array_equal(got, want)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), N=st.integers(1, 3), C=st.integers(1, 5), H=st.integers(1, 9),
       Wd=st.integers(1, 9), kh=st.integers(1, 3), kw=st.integers(1, 3), sh=st.integers(1, 3),
       sw=st.integers(1, 3), binary=st.booleans(), ands=st.booleans())
def test_max_pools_equal_plain_loops(seed, N, C, H, Wd, kh, kw, sh, sw, binary, ands):
    rng = np.random.default_rng(seed)
    if H < kh or Wd < kw:
        return
    out_hw = ((H - kh) // sh + 1, (Wd - kw) // sw + 1)
    if binary:
        x = rng.integers(0, 2, (N, C, H, Wd)).astype(np.uint8)
        andc = rng.random(C) < 0.5 if ands else None
        pool = BinaryMaxPool(name="p", source_nodes=[], in_shape=(C, H, Wd), out_shape=(C,) + out_hw,
                             kernel=(kh, kw), stride=(sh, sw), and_channels=andc)
        want = plain_pool(x, (kh, kw), (sh, sw), out_hw, andc)
    else:
        x = rng.integers(-128, 128, (N, C, H, Wd))
        pool = IntMaxPool(name="p", source_nodes=[], in_shape=(C, H, Wd), out_shape=(C,) + out_hw,
                          kernel=(kh, kw), stride=(sh, sw), bits=8, signed=True)
        want = plain_pool(x, (kh, kw), (sh, sw), out_hw)
    got = reference.run_layer(pool, x)
    assert got.dtype == want.dtype and np.array_equal(got, want)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), K=st.integers(1, 100), M=st.integers(1, 8),
       bits=st.sampled_from([2, 8, 24, 40]), signed=st.booleans(), wbits=st.sampled_from([1, 8]))
def test_dense_is_exact_in_float32_float64_and_int64(seed, K, M, bits, signed, wbits):
    """Accumulator bounds below 2^24, below 2^53 and beyond: each exact."""
    rng = np.random.default_rng(seed)
    x, kind = input_kind(rng, False, bits, signed, (4, K))
    W = weights(rng, wbits, (M, K))
    bias = rng.integers(-(1 << 40), 1 << 40, M)
    layer = BinaryDense(name="d", source_nodes=[], in_shape=(K,), out_shape=(M,), weights=W, weight_bits=wbits,
                        bias=bias, **kind)
    want = x @ W.T.astype(np.int64) + bias
    assert np.array_equal(reference.run_layer(layer, x), want)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), C=st.integers(1, 3), M=st.integers(1, 5), H=st.integers(4, 8))
def test_chain_in_channels_last_equals_plain_chain(seed, C, M, H):
    """conv (multi-level) -> int max pool -> dense: the dense weights' (C, H, W) inputs meet the
    channels-last tensor in the right order."""
    rng = np.random.default_rng(seed)
    x, kind = input_kind(rng, False, 4, False, (3, C, H, H))
    W1 = weights(rng, 4, (M, C, 3, 3))
    acc = plain_conv(x, W1, (1, 1), (1, 1, 1, 1))
    extra, T, D = random_output(rng, acc, "int", 3)
    extra["out_offset"] = -2
    conv = BinaryConv(name="c", source_nodes=[], in_shape=(C, H, H), out_shape=(M, H, H), weights=W1, weight_bits=4,
                      pads=(1, 1, 1, 1), out_bits=3, out_signed=True, **kind, **extra)
    h = plain_activation(acc, T, D, extra["out_offset"])
    P = H // 2
    pool = IntMaxPool(name="p", source_nodes=[], in_shape=(M, H, H), out_shape=(M, P, P), bits=3, signed=True)
    h = plain_pool(h, (2, 2), (2, 2), (P, P))
    W2 = weights(rng, 2, (7, M * P * P))
    dense = BinaryDense(name="d", source_nodes=[], in_shape=(M * P * P,), out_shape=(7,), weights=W2, weight_bits=2,
                        input_kind="int", input_bits=3, input_signed=True)
    want = h.reshape(3, -1) @ W2.T.astype(np.int64)
    m = Model("t", [conv, pool, dense], (C, H, H), input_bits=4)
    assert np.array_equal(reference.run(m, x), want)
    outs = reference.run_layers(m, x)
    assert [o.shape for o in outs] == [(3, M, H, H), (3, M, P, P), (3, 7)]
    assert np.array_equal(outs[1], h)


@settings(max_examples=120, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), N=st.integers(1, 40), K=st.integers(1, 40), M=st.integers(1, 8),
       bits=st.sampled_from([1, 4, 8, 24]), levels=st.sampled_from([3, 7, 15, 40]), dirs=st.sampled_from([1, -1, 0]),
       far=st.booleans(), offset=st.sampled_from([0, -8, 300]))
def test_count_table_equals_plain_thresholds(seed, N, K, M, bits, levels, dirs, far, offset):
    """Multi-level thresholds inside the accumulator range (one lookup table per layer: ties,
    repeated thresholds, both directions, float32 and float64 accumulators), or one far outside
    (no table: the compare loop), equal the plain count; a layer changed between calls too."""
    rng = np.random.default_rng(seed)
    x, kind = input_kind(rng, bits == 1, bits, False, (N, K))
    W = weights(rng, 1 if bits == 1 else 4, (M, K))
    acc = (2 * x - 1 if bits == 1 else x) @ W.T.astype(np.int64)
    D = rng.choice([-1, 1], M) if dirs == 0 else np.full(M, dirs)
    lo, hi = int(acc.min()) - 2, int(acc.max()) + 2
    T = np.sort(rng.choice(acc.reshape(-1), (M, levels)) + rng.integers(-1, 2, (M, levels)), axis=1)  # ties
    T[:, 0] = np.minimum(T[:, 0], rng.integers(lo, hi, M, endpoint=True))
    if far:
        T[0, -1] = 1 << 40
    T[D < 0] = T[D < 0, ::-1]
    layer = BinaryDense(name="d", source_nodes=[], in_shape=(K,), out_shape=(M,), weights=W, weight_bits=4,
                        thresholds=T, directions=D.astype(np.int8), out_offset=offset, out_bits=8, **kind)
    for _ in range(2):  # the second call after an in-place change: a table made for the old T is not used
        want = plain_activation(acc, layer.thresholds, D, offset)
        got = reference.run_layer(layer, x)
        assert got.dtype == want.dtype and np.array_equal(got, want)
        layer.thresholds[:, 1:] = layer.thresholds[:, :-1].copy()


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), bits=st.sampled_from([2, 4, 8, 16]), signed=st.booleans(),
       narrow=st.booleans(), scale=st.sampled_from([1.0, 0.5, 0.1, 3.0]), dtype=st.sampled_from(["f4", "f8", "i8"]),
       img=st.booleans(), bad=st.sampled_from([None, "nan", "inf"]))
def test_fast_input_equals_check_input(seed, bits, signed, narrow, scale, dtype, img, bad):
    """The input as ``run`` reads it (quantized in float32 when the model has an input Quant:
    ties, out of range, -0.0, float64 and integer inputs) equals ``check_input``, in the same
    internal type; a bad value raises the same error."""
    from fastinference.errors import BadInputError
    from fastinference.quant import QuantSpec
    rng = np.random.default_rng(seed)
    q = QuantSpec(scale=np.float32(scale), zero_point=0.0, bits=bits, signed=signed, narrow=narrow)
    x = (rng.integers(-300, 300, (5, 16)) / 2).astype(dtype)  # halves: ties
    if dtype != "i8":
        x[0, :3] = [-0.0, 1e30, -1e30]
    if bad and dtype != "i8":
        x[2, 5] = np.nan if bad == "nan" else np.inf
    shape = (1, 4, 4) if img else (16,)
    for quant in (q, None):
        m = Model("t", [], shape, input_bits=bits, input_signed=signed, input_quant=quant)
        if quant is None:
            x = np.clip(np.round(x), -(1 << (bits - 1)) if signed else 0, (1 << (bits - 1 + (not signed))) - 1)
            x = x.astype(np.int64) if bad is None and rng.random() < 0.7 else x
        try:
            want = reference._channels_last(reference.check_input(m, x), False)
        except BadInputError as e:
            with pytest.raises(BadInputError, match=re.escape(str(e))):
                reference._input(m, x)
            continue
        got = reference._input(m, x)
        assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)


def line_thresholds(rng, acc, levels, M):
    """Per channel, thresholds of a uniform quantizer on the accumulator range (a line: the
    fused path), sometimes jittered by one (no line: the table or compare path)."""
    lo, hi = int(acc.min()) - 2, int(acc.max()) + 2
    step = rng.uniform(0.3, max((hi - lo) / levels, 0.5), M)
    start = rng.uniform(lo - 2, hi, M)
    T = np.ceil(start[:, None] + step[:, None] * np.arange(levels)).astype(np.int64)
    jitter = rng.random(T.shape) < 0.05
    T[jitter] += rng.choice([-1, 1], jitter.sum())
    return np.sort(T, axis=1)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), N=st.integers(1, 30), K=st.integers(1, 40), sizes=st.lists(
           st.integers(1, 12), min_size=1, max_size=3), bits=st.sampled_from([2, 4, 8, 16]),
       signed=st.booleans(), kinds=st.lists(st.sampled_from(["bits", "int", "int"]), min_size=3, max_size=3),
       levels=st.sampled_from([2, 3, 7, 15]), dirs=st.sampled_from([1, -1, 0]),
       offset=st.sampled_from([0, 0, -8, 1, 2, 300]), bias=st.booleans(), quant=st.booleans(), big=st.booleans())
def test_fused_dense_chain_equals_plain_loops(seed, N, K, sizes, bits, signed, kinds, levels, dirs, offset, bias,
                                             quant, big):
    """Dense chains run fused (constants in a row of ones, bits as clip(z, 0, 1), line-shaped
    multi-level thresholds as floor and clip, a few inputs of small magnitude as their own
    plan) equal plain int64 loops, in ``run`` and ``run_layers``; so does a second call with
    inputs of the full range and one after a layer changed in place."""
    from fastinference.quant import QuantSpec
    rng = np.random.default_rng(seed)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    xs = [rng.integers(lo, hi, (N, K), endpoint=True),
          rng.integers(max(lo, -3), min(hi, 3), (N, K), endpoint=True)]
    layers, kind, wbits = [], dict(input_kind="int", input_bits=bits, input_signed=signed), 4
    h = xs[0]
    for j, M in enumerate(sizes + [5]):
        W = weights(rng, 1 if kind["input_kind"] == "binary" or big else wbits, (M, h.shape[1]))
        h = h.astype(np.int64)
        acc = (2 * h - 1 if kind["input_kind"] == "binary" else h) @ W.T.astype(np.int64)
        D = rng.choice([-1, 1], M) if dirs == 0 else np.full(M, dirs)
        if j == len(sizes):
            extra = dict(bias=rng.integers(-50, 50, M) if bias else None)
            out_kind = None
        elif kinds[j] == "bits":
            T = rng.integers(int(acc.min()) - 1, int(acc.max()) + 2, M)
            extra, out_kind = dict(thresholds=T, directions=D.astype(np.int8)), ("binary", 1, False)
        else:
            T = line_thresholds(rng, acc, levels, M)
            T[D < 0] = T[D < 0, ::-1]
            extra = dict(thresholds=T, directions=D.astype(np.int8), out_offset=offset, out_bits=10)
            out_kind = ("int", 10, True)
        layer = BinaryDense(name=f"d{j}", source_nodes=[], in_shape=(h.shape[1],), out_shape=(M,), weights=W,
                            weight_bits=int(np.abs(W).max()).bit_length() + 1 if np.abs(W).max() > 1 else 1,
                            **kind, **extra)
        layers.append(layer)
        if out_kind is None:
            break
        h = plain_activation(acc, extra["thresholds"], D, extra.get("out_offset", 0))
        kind = dict(input_kind=out_kind[0], input_bits=out_kind[1], input_signed=out_kind[2])
    q = QuantSpec(scale=np.float32(1.0), zero_point=0.0, bits=bits, signed=signed, narrow=False) if quant else None
    m = Model("t", layers, (K,), input_bits=bits, input_signed=signed, input_quant=q)

    def plain(x):
        outs, h, kind = [], x, "int"
        for l in layers:
            w, h = l.weights.astype(np.int64), h.astype(np.int64)
            acc = (2 * h - 1 if l.input_kind == "binary" else h) @ w.T
            if l.thresholds is None:
                h = acc + (0 if l.bias is None else l.bias)
            else:
                h = plain_activation(acc, l.thresholds, l.directions, l.out_offset)
            outs.append(h)
        return outs

    for rnd in range(3):
        for x in xs:
            want = plain(x)
            got = reference.run_layers(m, x.astype(np.float32) if quant else x)
            assert [g.dtype for g in got] == [w.dtype for w in want]
            assert all(np.array_equal(g, w) for g, w in zip(got, want))
            assert np.array_equal(reference.run(m, x.astype(np.float32) if quant else x), want[-1])
        l = layers[rng.integers(len(layers))]  # changed in place: no stale plan
        l.weights[0] = -l.weights[0]


@pytest.mark.parametrize("quant", [False, True])
def test_fused_plan_follows_the_input_range(quant):
    """A plan made for inputs of small magnitude is not used for larger ones: sums just above
    2^24 (odd, so float32 would round them) stay exact after a call on small inputs."""
    from fastinference.quant import QuantSpec
    rng = np.random.default_rng(5)
    W = np.ones((3, 300), np.int8)
    layer = BinaryDense(name="d", source_nodes=[], in_shape=(300,), out_shape=(3,), weights=W, weight_bits=2,
                        input_kind="int", input_bits=16, input_signed=False)
    q = QuantSpec(scale=np.float32(1.0), zero_point=0.0, bits=16, signed=False, narrow=False) if quant else None
    m = Model("t", [layer], (300,), input_bits=16, input_quant=q)
    for x in (rng.integers(0, 4, (4, 300)), rng.integers(65533, 65536, (4, 300)), rng.integers(0, 40000, (4, 300))):
        want = x @ W.T.astype(np.int64)
        assert (want > (1 << 24)).any() or x.max() < 40000
        got = reference.run(m, x.astype(np.float32) if quant else x)
        assert got.dtype == np.int64 and np.array_equal(got, want)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), N=st.integers(1, 20), K=st.integers(1, 20), M=st.integers(1, 10),
       first_bits=st.booleans(), th_levels=st.sampled_from([1, 3, 15]), bias=st.booleans(), swap=st.booleans(),
       dirs=st.sampled_from([1, -1, 0]))
def test_residual_fold_equals_plain_graph(seed, N, K, M, first_bits, th_levels, bias, swap, dirs):
    """dense -> [dense scores] + itself -> threshold -> dense head: ``run`` folds the add and
    the threshold into the second dense layer (weights + I, thresholds - bias); it equals a
    plain int64 walk of the graph, and ``run_layers`` (no fold)."""
    from fastinference.ir import AddJoin, Stream, Threshold
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 16, (N, K))
    W0 = weights(rng, 4, (M, K))
    acc0 = x @ W0.T.astype(np.int64)
    if first_bits:
        T0, kind1 = rng.integers(int(acc0.min()), int(acc0.max()) + 2, M), dict(input_kind="binary", input_bits=1)
        s0 = Stream("bits", -1, 1)
    else:
        T0, kind1 = line_thresholds(rng, acc0, 3, M), dict(input_kind="int", input_bits=2, input_signed=False)
        s0 = Stream("int", 0, 3)
    D0 = np.ones(M, np.int8)
    first = BinaryDense(name="first", source_nodes=[], in_shape=(K,), out_shape=(M,), weights=W0, weight_bits=4,
                        input_kind="int", input_bits=4, thresholds=T0, directions=D0, out_bits=1 if first_bits else 2)
    h0 = plain_activation(acc0, T0, D0, 0).astype(np.int64)
    v0 = 2 * h0 - 1 if first_bits else h0
    W1 = weights(rng, 2, (M, M))
    b1 = rng.integers(-5, 6, M) if bias else None
    main = BinaryDense(name="main", source_nodes=[], in_shape=(M,), out_shape=(M,), weights=W1, weight_bits=2,
                       inputs=["first"], bias=b1, **kind1)
    s1 = v0 @ W1.T.astype(np.int64) + (0 if b1 is None else b1)
    lo1, hi1 = int(s1.min()) - 1, int(s1.max()) + 1
    order = ["first", "main"] if swap else ["main", "first"]
    streams = {"main": Stream("int", lo1 - 10, hi1 + 10), "first": s0}
    join = AddJoin(name="add", source_nodes=[], in_shape=(M,), out_shape=(M,), inputs=order,
                   in_streams=tuple(streams[n] for n in order))
    total = s1 + v0
    D = rng.choice([-1, 1], M) if dirs == 0 else np.full(M, dirs)
    if th_levels == 1:
        T = rng.integers(int(total.min()) - 1, int(total.max()) + 2, M)
    else:
        T = np.sort(rng.integers(int(total.min()) - 1, int(total.max()) + 2, (M, th_levels)), axis=1)
        T[D < 0] = T[D < 0, ::-1]
    th = Threshold(name="post", source_nodes=[], in_shape=(M,), out_shape=(M,), inputs=["add"],
                   in_stream=join.out_stream, thresholds=T, directions=D.astype(np.int8),
                   out_bits=1 if th_levels == 1 else 4, out_offset=0)
    h = plain_activation(total, T, D, 0).astype(np.int64)
    W2 = weights(rng, 2, (5, M))
    head = BinaryDense(name="head", source_nodes=[], in_shape=(M,), out_shape=(5,), weights=W2, weight_bits=2,
                       inputs=["post"], **(dict(input_kind="binary", input_bits=1) if th_levels == 1 else
                                          dict(input_kind="int", input_bits=4, input_signed=False)))
    want = (2 * h - 1 if th_levels == 1 else h) @ W2.T.astype(np.int64)
    m = Model("t", [first, main, join, th, head], (K,), input_bits=4)
    for _ in range(2):
        assert np.array_equal(reference.run(m, x), want)
        outs = reference.run_layers(m, x)
        assert np.array_equal(outs[3], h) and np.array_equal(outs[-1], want)
        main.weights[0] = -main.weights[0]  # changed in place: the fold follows
        W1 = main.weights
        s1 = v0 @ W1.T.astype(np.int64) + (0 if b1 is None else b1)
        h = plain_activation(s1 + v0, T, D, 0).astype(np.int64)
        want = (2 * h - 1 if th_levels == 1 else h) @ W2.T.astype(np.int64)
