"""HLS backend, convolutional nets built by hand: C simulation == fastinference.reference.

Covers the sliding window (zero padding of integer inputs, stride, non-square kernels,
asymmetric pads, rows below the last window), max pooling as OR and AND, a dense layer after a
conv (weight columns permuted from NCHW to the hardware's HWC order), a binary image input,
and a conv score layer (scores gathered back into NCHW order).
"""
from __future__ import annotations

import numpy as np

from fastinference.ir import Model
from hls_models import conv, dense, fold, maxpool, random_inputs
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
