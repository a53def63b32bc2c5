"""HLS backend, convolutional nets built by hand: C simulation == fastinference.reference.

Covers the sliding window (zero padding of integer inputs, stride, non-square kernels,
asymmetric pads, rows below the last window), max pooling as OR and AND, a dense layer after a
conv (weight columns permuted from NCHW to the hardware's HWC order), a binary image input,
and a conv score layer (scores gathered back into NCHW order).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from fastinference.folding import LayerFold
from fastinference.ir import Model
from fastinference.testing.hls_models import conv, dense, fold, maxpool, random_inputs
from test_hls_dense import csim_equals_reference


def test_cnn_int_conv_pad_pool_and_binary_conv_dense(tmp_path):
    """The digits CNN shape: 1x8x8 8-bit -> conv 3x3 pad 1 (16) -> pool 2 (AND on even
    channels) -> conv 3x3 (32) -> dense 128 -> 10 scores."""
    rng = np.random.default_rng(7)
    c0 = conv("conv_0", 1, 8, 8, 16, (3, 3), rng, pads=(1, 1, 1, 1), input_kind="int", bits=8)
    p0 = maxpool("pool_0", 16, 8, 8, and_channels=(np.arange(16) % 2 == 0))
    c1 = conv("conv_1", 16, 4, 4, 32, (3, 3), rng)
    d0 = dense("dense_0", 128, 10, rng, scores=True, in_shape=(32, 2, 2))
    model = Model("cnn", [c0, p0, c1, d0], (1, 8, 8), input_bits=8)
    folding = fold(conv_0=(3, 4), conv_1=(8, 36), dense_0=(4, 24))
    x = random_inputs(model, rng, 48)
    csim_equals_reference(model, folding, tmp_path, x, top="cnn_top")


def test_odd_conv_shapes_and_conv_scores(tmp_path):
    """Signed 4-bit 2x7x9 input; conv 3x2, stride (2, 1), pads (1, 0, 2, 1); overlapping pool
    3x3 stride 2 with leftover rows and columns; 1x1 binary conv; conv score layer last."""
    rng = np.random.default_rng(8)
    c0 = conv("conv_a", 2, 7, 9, 6, (3, 2), rng, stride=(2, 1), pads=(1, 0, 2, 1),
              input_kind="int", bits=4, signed=True)
    C, OH, OW = c0.out_shape  # 6 x 4 x 9
    p0 = maxpool("pool_a", C, OH, OW, k=(3, 3), stride=(2, 2))
    C2, H2, W2 = p0.out_shape  # 6 x 1 x 4
    c1 = conv("conv_b", C2, H2, W2, 5, (1, 1), rng)
    c2 = conv("conv_c", 5, H2, W2, 3, (1, 3), rng, scores=True)
    model = Model("odd", [c0, p0, c1, c2], (2, 7, 9), input_bits=4, input_signed=True)
    folding = fold(conv_a=(4, 5), conv_b=(2, 5), conv_c=(3, 7))
    x = random_inputs(model, rng, 40)
    csim_equals_reference(model, folding, tmp_path, x)


def test_binary_image_conv_pool_and_dense(tmp_path):
    """A 4x3x3 image of bits in (unpacked from the NCHW input vector); binary conv 2x2 (5);
    pool 2x2 stride 1 with AND on all channels; dense 5 -> 4 scores."""
    rng = np.random.default_rng(9)
    c0 = conv("conv_a", 4, 3, 3, 5, (2, 2), rng)
    p0 = maxpool("pool_a", 5, 2, 2, k=(2, 2), stride=(1, 1), and_channels=np.ones(5, bool))
    d1 = dense("dense_b", 5, 4, rng, scores=True, in_shape=(5, 1, 1))
    model = Model("bits", [c0, p0, d1], (4, 3, 3), input_bits=1)
    folding = fold(conv_a=(5, 7), dense_b=(3, 2))
    x = random_inputs(model, rng, 40)
    csim_equals_reference(model, folding, tmp_path, x)


@st.composite
def conv_nets(draw):
    """int conv (random kernel, stride, pads) -> optional pool -> optional binary conv ->
    dense scores, random folding."""
    seed = draw(st.integers(0, 2**32 - 1))
    C = draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    pads = tuple(draw(st.integers(0, k - 1)) for k in (kh, kw, kh, kw))
    H = draw(st.integers(max(1, kh - pads[0] - pads[2]), 9))
    W = draw(st.integers(max(1, kw - pads[1] - pads[3]), 9))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    M = draw(st.integers(1, 12))
    pool = draw(st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3),
                          st.integers(1, 3), st.booleans()))
    conv2 = draw(st.tuples(st.booleans(), st.integers(1, 2), st.integers(1, 2),
                           st.integers(1, 8)))
    classes = draw(st.integers(1, 6))
    r = draw(st.randoms(use_true_random=False))
    return seed, C, (kh, kw), pads, H, W, stride, M, pool, conv2, classes, r


def build_conv_net(seed, C, k, pads, H, W, stride, M, pool, conv2, classes, r):
    rng = np.random.default_rng(seed)
    bits, signed = (8, False) if seed % 2 else (5, True)
    layers = [conv("conv_0", C, H, W, M, k, rng, stride=stride, pads=pads, input_kind="int",
                   bits=bits, signed=signed)]
    pkh, pkw, psh, psw, use_and = pool
    c_, h_, w_ = layers[-1].out_shape
    if pkh <= h_ and pkw <= w_:
        andc = np.array([r.random() < 0.5 for _ in range(c_)]) if use_and else None
        layers.append(maxpool("pool_0", c_, h_, w_, (pkh, pkw), (psh, psw), andc))
    use2, kh2, kw2, m2 = conv2
    c_, h_, w_ = layers[-1].out_shape
    if use2 and kh2 <= h_ and kw2 <= w_:
        layers.append(conv("conv_1", c_, h_, w_, m2, (kh2, kw2), rng))
    out = layers[-1].out_shape
    layers.append(dense("dense_0", int(np.prod(out)), classes, rng, scores=True, in_shape=out))
    folding = {}
    for l in layers:
        if hasattr(l, "weights") and l.weights is not None:
            folding[l.name] = LayerFold(r.randint(1, l.M), r.randint(1, l.K))
    return Model("convs", layers, (C, H, W), input_bits=bits, input_signed=signed), folding, rng


def _conv_property(examples, seed_value):
    @seed(seed_value)
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(net=conv_nets())
    def check(out_root, net):
        model, folding, rng = build_conv_net(*net)
        x = random_inputs(model, rng, 24)
        out = out_root / f"convs{len(list(out_root.iterdir()))}"
        csim_equals_reference(model, folding, out, x)
    return check


def test_random_conv_nets_equal_reference(tmp_path):
    """Property: random kernels, strides, pads (sliding window and line buffer edge cases),
    pools with leftover rows and columns, random folding: C simulation == reference."""
    _conv_property(5, 11)(tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("shard", [0, 1])
def test_random_conv_nets_many(tmp_path, shard):
    """The same property on 2 x 20 more examples (-m slow)."""
    _conv_property(20, 200 + shard)(tmp_path)
