"""The golden model: integer-only numpy execution of a lowered model.

Binary layers run as XNOR-popcount on bit-packed uint64 words (``np.bitwise_count``), with
the pad bits of the last word masked so that any width K is exact; the first layer multiplies
integer inputs by +-1 weights. Every backend must equal this bit for bit.
"""
from __future__ import annotations

import numpy as np

from .errors import BadInputError, UnsupportedModelError
from .ir import (INPUT, AddJoin, BinaryConv, BinaryDense, BinaryLayer, BinaryMaxPool, ConcatJoin, IntMaxPool,
                 Model, Threshold)

WORD = 64


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """(..., K) of 0/1 -> (..., ceil(K/64)) uint64, bit k of the vector at bit k%64 of word k//64.
    Pad bits of the last word are 0."""
    bits = np.asarray(bits, dtype=np.uint8)
    K = bits.shape[-1]
    words = -(-K // WORD)
    padded = np.zeros(bits.shape[:-1] + (words * WORD,), dtype=np.uint8)
    padded[..., :K] = bits
    # little-endian bit order inside bytes, little-endian bytes inside words
    packed = np.packbits(padded, axis=-1, bitorder="little")
    return packed.reshape(bits.shape[:-1] + (words, 8)).copy().view("<u8")[..., 0]


def valid_mask(K: int) -> np.ndarray:
    """One uint64 per word with ones on the K real bit positions (pad bits 0)."""
    return pack_bits(np.ones(K, dtype=np.uint8))


def xnor_popcount_acc(x_bits: np.ndarray, w_bits: np.ndarray, K: int) -> np.ndarray:
    """acc[n, m] = sum_k (+-1)(x) * (+-1)(w) = 2 * popcount(xnor & valid) - K.

    x_bits: (N, K) 0/1, w_bits: (M, K) 0/1."""
    xp = pack_bits(x_bits)[:, None, :]  # (N, 1, words)
    wp = pack_bits(w_bits)[None, :, :]  # (1, M, words)
    xnor = ~(xp ^ wp) & valid_mask(K)[None, None, :]  # pad bits masked: they would XNOR to 1
    pc = np.bitwise_count(xnor).sum(axis=-1, dtype=np.int64)
    return 2 * pc - K


def _threshold(layer: BinaryLayer, acc: np.ndarray) -> np.ndarray:
    """acc (..., M) with channels on the last axis -> 0/1 bits."""
    T = np.asarray(layer.thresholds).astype(acc.dtype)  # exact: |T| <= the accumulator bound + 1
    if np.all(layer.directions > 0):  # canonical binary layers: one comparison
        return (acc >= T).view(np.uint8)
    return np.where(layer.directions > 0, acc >= T, acc <= T).view(np.uint8)


def _multi_threshold(layer: BinaryLayer, acc: np.ndarray) -> np.ndarray:
    """acc (..., M) -> out_offset + the number of thresholds passed, per channel (int64)."""
    T = np.asarray(layer.thresholds).astype(acc.dtype)
    out = np.empty(acc.shape, dtype=np.int64)
    for j in range(layer.M):
        a = acc[..., j]
        if layer.directions[j] > 0:  # T[j] ascending: #{i: acc >= T[j, i]}
            out[..., j] = np.searchsorted(T[j], a, side="right")
        else:  # T[j] descending: #{i: acc <= T[j, i]}
            out[..., j] = T.shape[1] - np.searchsorted(T[j][::-1], a, side="left")
    return out + layer.out_offset


EXACT_F32 = 1 << 24  # every integer below this in magnitude is a float32, so sums stay exact
EXACT_F64 = 1 << 53  # ... and a float64


def _matvec(layer: BinaryLayer, x: np.ndarray) -> np.ndarray:
    """x: (N, K) inputs (0/1 bits for binary inputs, integers for int inputs) -> acc (N, M).

    Integer products through BLAS in floating point: exact while every partial sum stays an
    integer the format holds (|sum| <= K * max|w| * max|x|, checked): float32 below 2^24
    (every layer of the examples), float64 below 2^53, int64 matmul beyond."""
    w = layer.weights.reshape(layer.M, -1)
    if layer.input_kind == "binary":
        x = 2 * np.asarray(x, dtype=np.int8) - 1  # bit 1 = +1, bit 0 = -1
    lo, hi = layer.input_range()
    bound = layer.K * int(np.abs(w).max(initial=0)) * max(abs(lo), abs(hi))
    dtype = np.float32 if bound < EXACT_F32 else np.float64 if bound < EXACT_F64 else None
    if dtype is None:
        return np.asarray(x, dtype=np.int64) @ w.T.astype(np.int64)
    # w.T as a column-major copy: BLAS then reads the weights in their natural row order
    return np.asarray(x, dtype=dtype) @ w.T.astype(dtype)  # exact integers, as floats


def _finish(layer: BinaryLayer, acc: np.ndarray) -> np.ndarray:
    kind = layer.output_kind
    if kind == "scores":
        bias = layer.bias if layer.bias is not None else 0
        return acc.astype(np.int64) + bias
    if kind == "int":
        return _multi_threshold(layer, acc)
    return _threshold(layer, acc)


def _windows(layer: BinaryConv, x: np.ndarray) -> tuple[np.ndarray, int, int]:
    """x (N, C, H, W) -> (N, OH, OW, C*kh*kw) patches in weight order (c, kh, kw)."""
    kh, kw = layer.kernel
    sh, sw = layer.stride
    pt, pl, pb, pr = layer.pads
    x = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    N, C, H, W = x.shape
    OH = (H - kh) // sh + 1
    OW = (W - kw) // sw + 1
    v = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))  # N,C,H',W',kh,kw
    v = v[:, :, ::sh, ::sw][:, :, :OH, :OW]
    v = v.transpose(0, 2, 3, 1, 4, 5).reshape(N, OH, OW, C * kh * kw)
    return v, OH, OW


def _pool_windows(layer, x: np.ndarray) -> np.ndarray:
    """x (N, C, H, W) -> (N, C, OH, OW, kh, kw): the window of every output pixel (floor mode)."""
    kh, kw = layer.kernel
    sh, sw = layer.stride
    OH, OW = layer.out_shape[1:]
    v = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
    return v[:, :, ::sh, ::sw][:, :, :OH, :OW]


def _stream_value(stream, x: np.ndarray) -> np.ndarray:
    """The integers a stream stands for: bits 1/0 are +1/-1."""
    x = np.asarray(x, dtype=np.int64)
    return 2 * x - 1 if stream.kind == "bits" else x


def run_join(layer, xs: list[np.ndarray]) -> np.ndarray:
    """A join of two tensors (N, *shape): an integer add, or a channel concat (axis 1)."""
    if isinstance(layer, AddJoin):
        a, b = (_stream_value(s, x) for s, x in zip(layer.in_streams, xs))
        return a + b
    if layer.out_stream.kind == "bits":
        return np.concatenate([np.asarray(x, dtype=np.uint8) for x in xs], axis=1)
    return np.concatenate([np.asarray(x, dtype=np.int64) for x in xs], axis=1)


def run_threshold(layer: Threshold, x: np.ndarray) -> np.ndarray:
    """Per channel (axis 1 of (N, C, ...)) thresholds on an integer stream."""
    acc = np.moveaxis(np.asarray(x, dtype=np.int64), 1, -1)
    out = _multi_threshold(layer, acc) if layer.output_kind == "int" else _threshold(layer, acc)
    return np.moveaxis(out, -1, 1)


def run_layer(layer, x: np.ndarray) -> np.ndarray:
    """One hardware layer. Binary activations are 0/1 uint8 arrays, shapes as in the IR."""
    N = x.shape[0]
    if isinstance(layer, Threshold):
        return run_threshold(layer, x)
    if isinstance(layer, BinaryDense):
        out = _finish(layer, _matvec(layer, x.reshape(N, -1)))
        return out
    if isinstance(layer, BinaryConv):
        if layer.input_kind == "binary" and any(layer.pads):
            raise UnsupportedModelError(
                f"layer '{layer.name}': zero padding of a binary conv is not binary")
        patches, OH, OW = _windows(layer, x)
        acc = _matvec(layer, patches.reshape(N * OH * OW, -1)).reshape(N, OH, OW, layer.M)
        out = _finish(layer, acc)
        return out.transpose(0, 3, 1, 2)  # back to N, M, OH, OW
    if isinstance(layer, IntMaxPool):
        return _pool_windows(layer, x).max(axis=(-2, -1))
    if isinstance(layer, BinaryMaxPool):
        v = _pool_windows(layer, x)
        any_ = v.max(axis=(-2, -1))
        if layer.and_channels is None:
            return any_.astype(np.uint8)
        all_ = v.min(axis=(-2, -1))
        return np.where(layer.and_channels[None, :, None, None], all_, any_).astype(np.uint8)
    raise UnsupportedModelError(
        f"layer '{layer.name}' ({layer.kind}) was not lowered to a hardware layer")


def check_input(model: Model, x: np.ndarray) -> np.ndarray:
    """Validate and convert inputs to int64 of shape (N, *input_shape)."""
    x = np.asarray(x)
    shape = tuple(model.input_shape)
    flat = int(np.prod(shape))
    if x.ndim == 1 and x.size == flat:
        x = x[None]
    if x.ndim >= 2 and x.shape[1:] != shape:
        if int(np.prod(x.shape[1:])) == flat:
            x = x.reshape((x.shape[0],) + shape)
        else:
            raise BadInputError(
                f"input has shape {x.shape}; the model takes (N, {', '.join(map(str, shape))})")
    if x.ndim < 2:
        raise BadInputError(f"input has shape {x.shape}; the model takes (N, {', '.join(map(str, shape))})")
    if model.input_quant is not None:  # QONNX: the input Quant makes the hardware's integers
        if x.dtype.kind not in "iubf":
            raise BadInputError(f"input dtype {x.dtype} is not numeric")
        bad = ~np.isfinite(x.astype(np.float64))
        if bad.any():
            idx = np.argwhere(bad.reshape(x.shape[0], -1))[0]
            raise BadInputError(f"input row {idx[0]}, column {idx[1]}: value is not finite")
        return model.input_quant.to_int(x.astype(np.float32))
    if x.dtype.kind not in "iub":
        if x.dtype.kind != "f":
            raise BadInputError(f"input dtype {x.dtype} is not numeric")
        bad = ~np.isfinite(x) | (x != np.round(x))
        if bad.any():
            idx = np.argwhere(bad.reshape(x.shape[0], -1))[0]
            v = x.reshape(x.shape[0], -1)[idx[0], idx[1]]
            raise BadInputError(
                f"input row {idx[0]}, column {idx[1]}: value {v} is not an integer; the hardware "
                f"takes {model.input_bits}-bit {'signed' if model.input_signed else 'unsigned'} integers")
    if model.input_signed:
        lo, hi = -(1 << (model.input_bits - 1)), (1 << (model.input_bits - 1)) - 1
    else:
        lo, hi = 0, (1 << model.input_bits) - 1
    bad = (x < lo) | (x > hi)
    if bad.any():
        idx = np.argwhere(bad.reshape(x.shape[0], -1))[0]
        v = x.reshape(x.shape[0], -1)[idx[0], idx[1]]
        v = int(v) if float(v).is_integer() else v
        raise BadInputError(
            f"input row {idx[0]}, column {idx[1]}: value {v} does not fit "
            f"{model.input_bits}-bit {'signed' if model.input_signed else 'unsigned'} integers "
            f"({lo}..{hi}); change --input-bits/--input-signed")
    return x.astype(np.int64)


def run_layers(model: Model, x: np.ndarray) -> list[np.ndarray]:
    """Every layer's output, in list order (the graph walked in topological order)."""
    x = check_input(model, x)
    values = {INPUT: x}
    outs = []
    for i, layer in enumerate(model.layers):
        ins = [values[p] for p in model.inputs_of(i)]
        if isinstance(layer, (AddJoin, ConcatJoin)):
            y = run_join(layer, ins)
        else:
            y = run_layer(layer, ins[0])
        values[layer.name] = y
        outs.append(y)
    return outs


def run(model: Model, x: np.ndarray) -> np.ndarray:
    """Integer scores (N, classes) as int64."""
    if not model.is_lowered:
        bad = next(l for l in model.layers if not l.is_hardware)
        raise UnsupportedModelError(f"layer '{bad.name}' ({bad.kind}) was not lowered")
    out = run_layers(model, x)[-1]
    return np.asarray(out, dtype=np.int64).reshape(out.shape[0], -1)
