"""The golden model: integer-only numpy execution of a lowered model.

Every layer's integer products run through BLAS in floating point, exact because every partial
sum is an integer the type holds (float32 below 2^24, float64 below 2^53, int64 beyond; checked
per layer from the weights and the input range). Tensors flow channels last so that a conv is
one strided copy of its windows and one matrix product, a max pool a few shifted slices. Bits
enter a product as 0/1 (b @ 2w minus the weights' row sums, folded into the thresholds or the
bias); many threshold levels are one lookup in a table of counts, made once per set of
thresholds. Dense chains run fused: per-channel constants enter the product through a column
of ones, bits come out as clip(z, 0, 1), line-shaped multi-level thresholds as floor and clip,
a residual add and its threshold folded into the dense layer before (see "Dense chains, fused").
The bit-packed XNOR-popcount (``xnor_popcount_acc``, pad bits masked for any width K) is the
binarized unit's definition, kept to test against. Every backend must equal this bit for bit.
"""
from __future__ import annotations

import math
import operator

import numpy as np

from .errors import BadInputError, UnsupportedModelError
from .ir import (INPUT, AddJoin, BinaryConv, BinaryDense, BinaryLayer, BinaryMaxPool, ConcatJoin, IntMaxPool,
                 Model, Threshold)

WORD = 64
_clip = getattr(getattr(np, "_core", np).umath, "clip", np.clip)  # the ufunc: no Python wrapper per call


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


EXACT_F32 = 1 << 24  # every integer below this in magnitude is a float32, so sums stay exact
EXACT_F64 = 1 << 53  # ... and a float64


def _exact_dtype(bound: int):
    """The cheapest type whose sums are exact on integers up to ``bound`` in magnitude."""
    return np.float32 if bound < EXACT_F32 else np.float64 if bound < EXACT_F64 else np.int64


# Inside ``run``, a tensor of shape (C, H, W) (or (C,)) is held channels last, (N, H, W, C):
# bits as bool (True = +1), integers in the type ``_exact_dtype`` picks from their range
# (float32 in every bundled network), so that a conv is one strided copy and one BLAS product.
# The public functions (``run_layer``, ``run_layers``, ``_windows``, ``_matvec``) take and give
# the IR's layout: (N, C, H, W), bits as 0/1 uint8, integers as int64.

def _values(x: np.ndarray, dtype, binary: bool) -> np.ndarray:
    """The integers a tensor stands for, as ``dtype``: bits are +1/-1."""
    if binary:
        v = np.asarray(x).astype(bool, copy=False).astype(dtype)  # 2b - 1, in place
        v *= 2
        v -= 1
        return v
    return np.asarray(x).astype(dtype, copy=False)


def _per_channel(v: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """A per-channel vector (M,) repeated along one row of ``acc`` (N, ..., M) flattened: numpy
    broadcasts over long rows far faster than over rows of M."""
    reps = acc[0].size // len(v) if acc.ndim > 1 else 1
    return np.tile(v, reps) if reps > 1 else v


TABLE_LEVELS = 6  # fewer levels: the compares are faster (on large tensors; measured)
TABLE_MAX = 1 << 18  # entries of a count table (int8 or wider): it stays in the caches
_TABLES: dict = {}  # count tables by the thresholds' bytes (layers may change between calls)


def _out_type(lo: int, levels: int):
    """The narrowest int type of ``lo`` .. ``lo + levels``."""
    return next(t for t in (np.int8, np.int16, np.int32)
                if np.iinfo(t).min <= lo and lo + levels <= np.iinfo(t).max)


def _count_table(T: np.ndarray, D: np.ndarray, offset: int, dtype):
    """Multi-level thresholds as one lookup: (table, lo, hi, base) such that channel c of an
    accumulator a gives ``table[clip(a, lo, hi) + base[c]]`` = ``out_offset`` + the number of
    thresholds it passes; None where the table would be large or not exact in ``dtype``. The
    rows cover a = min(T) - 1 .. max(T) + 1: every a below or above passes the same thresholds.
    Exact in floating point: lo, hi and base are integers ``dtype`` holds, and so is every sum."""
    dtype = np.dtype(dtype)
    up = np.asarray(D) > 0  # the rule of each channel: acc >= T, else acc <= T
    key = (T.tobytes(), T.shape, up.tobytes(), offset, dtype.str)
    if key in _TABLES:
        return _TABLES[key]
    M, levels = T.shape
    lo, hi = int(T.min()) - 1, int(T.max()) + 1
    width = hi - lo + 1
    base = np.arange(M, dtype=np.int64) * width - lo
    consts = np.append(base, [lo, hi])
    table = None
    if dtype.kind == "f" and M * width <= TABLE_MAX and np.array_equal(
            consts.astype(dtype).astype(np.int64), consts):
        a = np.arange(lo, hi + 1)  # the accumulators of a row
        count = np.full((M, width), offset, dtype=np.int64)
        for i in range(levels):
            t = T[:, i:i + 1]
            count += np.where(up[:, None], a >= t, a <= t)
        table = (count.astype(_out_type(offset, levels)).reshape(-1),
                 dtype.type(lo), dtype.type(hi), base.astype(dtype))
    if len(_TABLES) >= 256:
        _TABLES.clear()
    _TABLES[key] = table
    return table


def _activate(layer, acc: np.ndarray, shift=0) -> np.ndarray:
    """Thresholds per channel (the last axis of ``acc``, which is the accumulator plus
    ``shift`` (M,)): bits (bool) for (M,) thresholds, else ``out_offset`` + the number of
    thresholds passed (the narrowest int type): one table lookup per value
    (``_count_table``), or one compare per level."""
    shape = acc.shape
    T0, D = np.asarray(layer.thresholds, dtype=np.int64), np.asarray(layer.directions)
    T0 = T0 + (shift if T0.ndim == 1 else np.reshape(shift, (-1, 1)))  # acc + s vs T + s
    if T0.ndim == 2 and T0.shape[1] >= TABLE_LEVELS:
        lut = _count_table(T0, D, int(layer.out_offset), acc.dtype)
        if lut is not None:
            table, lo, hi, base = lut
            i = np.clip(acc.reshape(len(acc), -1), lo, hi)
            i += _per_channel(base, i)
            return table.take(i.astype(np.intp)).reshape(shape)
    # exact: a T beyond what a float type holds exactly rounds to a value still beyond every
    # accumulator (rounding is monotone and 2^24, 2^53 are exact)
    dtype = acc.dtype if acc.dtype.kind == "f" else np.int64
    T = T0.astype(dtype)
    acc = acc.reshape(len(acc), -1)  # (N, ... * M): channels vary fastest
    if np.any(D < 0):  # acc <= T is -acc >= -T: one rule, +1, for every channel
        sign = D.astype(dtype)
        acc, T = acc * _per_channel(sign, acc), T * (sign if T.ndim == 1 else sign[:, None])
    if T.ndim == 1:
        return (acc >= _per_channel(T, acc)).reshape(shape)
    levels, lo = T.shape[1], layer.out_offset
    if levels <= 100:  # a few levels: one vector compare per level, counted in int8
        count = np.zeros(acc.shape, dtype=np.int8)
        for i in range(levels):
            count += (acc >= _per_channel(T[:, i], acc)).view(np.int8)
    else:  # each row of T ascending: a binary search per value
        acc, count = acc.reshape(shape), np.empty(shape, dtype=np.int32)
        for j in range(T.shape[0]):
            count[..., j] = np.searchsorted(T[j], acc[..., j], side="right")
    out_type = _out_type(lo, levels)
    count = count.reshape(shape).astype(out_type, copy=False)
    if lo:
        count += out_type(lo)
    return count


def _product(layer: BinaryLayer, x: np.ndarray, w: np.ndarray):
    """x (P, K) integers, or bits (bool) for +1/-1, w (M, K) -> (acc + S, S): the exact
    products, in floating point where exact (``_acc_dtype``). S = 0 for integers; for bits
    (2b - 1) @ w = b @ 2w - S, S the weights' row sums: one pass less over x than making the
    +-1 values, and ``_finish`` folds S into the thresholds or the bias."""
    dtype = _in_dtype(layer)
    x = np.asarray(x).astype(dtype, copy=False)  # bits: 0/1
    wt = w.T.astype(dtype)  # a column-major copy: BLAS reads the weights in their row order
    if layer.input_kind != "binary":
        return x @ wt, 0
    wt *= 2
    return x @ wt, w.sum(axis=1, dtype=np.int64)


def _in_dtype(layer: BinaryLayer):
    """The type of a product's inputs and sums (``_acc_dtype``; bits: |b @ 2w| <= 2 * bound)."""
    return _exact_dtype(_acc_bound(layer) * (2 if layer.input_kind == "binary" else 1))


def _acc_dtype(layer: BinaryLayer):
    """Integer products through BLAS in floating point: exact while every partial sum stays an
    integer the format holds (|sum| <= K * max|w| * max|x|): float32 below 2^24 (every layer
    of the examples), float64 below 2^53, an int64 matmul beyond."""
    return _exact_dtype(_acc_bound(layer))


def _acc_bound(layer: BinaryLayer) -> int:
    lo, hi = layer.input_range()
    w = layer.weights
    return (w.size // len(w)) * max(-int(w.min()), int(w.max()), 0) * max(-lo, hi)


def _matvec(layer: BinaryLayer, x: np.ndarray) -> np.ndarray:
    """x: (N, K) inputs (0/1 bits for binary inputs, integers for int inputs) -> acc (N, M)."""
    acc, S = _product(layer, x, layer.weights.reshape(layer.M, -1))
    return acc - np.asarray(S, dtype=acc.dtype)  # |acc| <= bound: exact


def _finish(layer: BinaryLayer, acc: np.ndarray, S=0) -> np.ndarray:
    """The output of ``acc`` + S (``_product``): thresholds, or scores plus the bias."""
    if layer.output_kind != "scores":
        return _activate(layer, acc, np.asarray(S, dtype=np.int64))
    c = (np.zeros(layer.M, np.int64) if layer.bias is None else np.asarray(layer.bias, dtype=np.int64)) - S
    if not c.any():
        return acc
    dtype = _exact_dtype(2 * _acc_bound(layer) + int(np.abs(c).max()))  # |acc| <= 2 * bound
    if acc.dtype != dtype:
        acc = acc.astype(dtype)
    acc += c.astype(dtype)  # acc is ours (a fresh product): in place, no new pages
    return acc


def _patches(layer: BinaryConv, x: np.ndarray) -> np.ndarray:
    """x (N, H, W, C) -> (N, OH, OW, kh, kw, C): the zero-padded window of every output pixel,
    a strided view."""
    kh, kw = layer.kernel
    sh, sw = layer.stride
    pt, pl, pb, pr = layer.pads
    N, H, W, C = x.shape
    if pt or pl or pb or pr:
        xp = np.zeros((N, H + pt + pb, W + pl + pr, C), dtype=x.dtype)
        xp[:, pt:pt + H, pl:pl + W] = x
        x = xp
    OH = (x.shape[1] - kh) // sh + 1
    OW = (x.shape[2] - kw) // sw + 1
    s = x.strides
    return np.lib.stride_tricks.as_strided(
        x, (N, OH, OW, kh, kw, C), (s[0], s[1] * sh, s[2] * sw, s[1], s[2], s[3]), writeable=False)


def _patch_matrix(p: np.ndarray) -> np.ndarray:
    """Windows (N, OH, OW, kh, kw, C) -> (N*OH*OW, kh*kw*C), one copy. One channel: the kh*kw
    shifted images copied whole (long runs) into a column-major matrix."""
    P, K = int(np.prod(p.shape[:3])), int(np.prod(p.shape[3:]))
    if p.shape[-1] > 1:
        return p.reshape(P, K)
    return np.ascontiguousarray(p[..., 0].transpose(3, 4, 0, 1, 2)).reshape(K, P).T


def _conv(layer: BinaryConv, x: np.ndarray) -> np.ndarray:
    """x (N, H, W, C) -> (N, OH, OW, M): one copy of the windows, one matrix product."""
    if layer.input_kind == "binary" and any(layer.pads):
        raise UnsupportedModelError(
            f"layer '{layer.name}': zero padding of a binary conv is not binary")
    p = _patches(layer, x.astype(_in_dtype(layer), copy=False))  # before the windows: fewer values
    N, OH, OW = p.shape[:3]
    w = layer.weights.transpose(0, 2, 3, 1).reshape(layer.M, -1)  # (c, kh, kw) -> (kh, kw, c)
    acc, S = _product(layer, _patch_matrix(p), w)
    return _finish(layer, acc.reshape(N, OH, OW, layer.M), S)


def _dense(layer: BinaryDense, x: np.ndarray) -> np.ndarray:
    """x (N, ..., C) channels last -> (N, M); the weights' inputs (C, ...) reordered to match."""
    w = layer.weights.reshape(layer.M, -1)
    if x.ndim > 2:
        w = np.moveaxis(w.reshape((layer.M, x.shape[-1]) + x.shape[1:-1]), 1, -1).reshape(layer.M, -1)
    return _finish(layer, *_product(layer, x.reshape(len(x), -1), w))


def _max_pool(layer, x: np.ndarray) -> np.ndarray:
    """x (N, H, W, C) -> (N, OH, OW, C) (floor mode), separable: the maximum of kh shifted
    strided row slices (whole rows: long runs), then of kw column slices of that. Bits: OR, or
    AND for ``and_channels`` (OR of the inverted bits, inverted)."""
    kh, kw = layer.kernel
    sh, sw = layer.stride
    OH, OW = layer.out_shape[1:]
    flip = getattr(layer, "and_channels", None)
    if flip is not None:
        flip = np.asarray(flip, dtype=bool)
        x = x ^ flip
    rows = x[:, :sh * (OH - 1) + 1:sh].copy()
    for dy in range(1, kh):
        np.maximum(rows, x[:, dy:dy + sh * (OH - 1) + 1:sh], out=rows)
    out = rows[:, :, :sw * (OW - 1) + 1:sw].copy()
    for dx in range(1, kw):
        np.maximum(out, rows[:, :, dx:dx + sw * (OW - 1) + 1:sw], out=out)
    return out if flip is None else np.bitwise_xor(out, flip, out=out)


def _join(layer, xs: list[np.ndarray]) -> np.ndarray:
    """An integer add of two tensors, or a channel concat (the last axis)."""
    if isinstance(layer, AddJoin):
        dtype = _exact_dtype(max(abs(v) for v in layer.out_range))
        a, b = (_values(x, dtype, s.kind == "bits") for s, x in zip(layer.in_streams, xs))
        fresh = a if a is not xs[0] else b if b is not xs[1] else None  # a temporary: add into it
        return np.add(a, b, out=fresh)
    s = layer.out_stream
    if s.kind == "bits":
        return np.concatenate(xs, axis=-1)
    dtype = _exact_dtype(max(abs(s.lo), abs(s.hi)))
    return np.concatenate([x.astype(dtype, copy=False) for x in xs], axis=-1)


# Dense chains, fused: a dense layer's per-channel constants (the bits' row sums, a bias, a
# threshold, a line's offset) enter its product as one more weight row against an input column
# of ones, which the previous dense layer (or the input) writes as one more output column; so
# after the product only the activation's own pass or two remain:
# - bits: [acc >= T] is [acc - T + 1 >= 1] (a direction -1 negates the column): on integers,
#   one clip to 0..1 gives the bits as 0/1 float32, which the next product reads as is;
# - many threshold levels, where the count of thresholds passed is, on the thresholds' range,
#   a line floor((p*acc + q) / 2^k) (so in every bundled QNN): the column scaled by p / 2^k
#   (exact: p*acc + q is an integer below 2^24 in magnitude, 2^k a power of two), then one
#   floor and one clip to the output range (every accumulator below or above the thresholds
#   gives the lowest or highest count: the line is monotone);
# - scores: the bias minus the row sums in the constant row.
# Each layer's matrix is made once per (layer contents, input form) and kept (``_PLANS``).

_PLANS: dict = {}  # id(layer) -> (the layer's contents, {input form: plan})
_key_scalars = operator.attrgetter("out_offset", "input_kind", "input_bits", "input_signed", "weight_bits",
                                   "in_shape", "out_shape")


def _layer_key(layer) -> tuple:
    """What a plan depends on, compared whole on every call: arrays by type, shape and bytes."""
    w, T, D, b = layer.weights, layer.thresholds, layer.directions, layer.bias
    return (type(layer), _key_scalars(layer),
            (w.dtype, w.shape, w.tobytes()) if isinstance(w, np.ndarray) else w,
            (T.dtype, T.shape, T.tobytes()) if isinstance(T, np.ndarray) else T,
            (D.dtype, D.shape, D.tobytes()) if isinstance(D, np.ndarray) else D,
            (b.dtype, b.shape, b.tobytes()) if isinstance(b, np.ndarray) else b)


def _line(t: np.ndarray, pmax: int):
    """Thresholds t (L,) ascending -> (p, q, k), the smallest p with 0 < p <= pmax (for the
    smallest k) such that floor((p*a + q) / 2^k) = #{i: a >= t[i]} for every integer a in
    t[0] - 1 .. t[-1], or None. Each step i asks p*t_i + q >= i*2^k > p*(t_i - 1) + q, so q
    exists iff i*D - p*t_i <= j*D - p*t_j + p - 1 for every pair: p*(t_j - t_i - 1) <=
    (j - i)*D - 1, a lower bound on p where j < i, an upper one where t_j > t_i + 1."""
    L = len(t)
    if pmax < 1 or L < 2:
        return None
    t = np.asarray(t, np.int64)
    i = np.arange(1, L + 1, dtype=np.int64)
    di = i[:, None] - i[None, :]  # i - j
    dt = t[:, None] - t[None, :]  # t_i - t_j
    low, up = di > 0, (di < 0) & (-dt > 1)
    for k in range(0, 23):
        D = 1 << k
        plo = max(1, int((-(-(di[low] * D + 1) // (dt[low] + 1))).max(initial=1)))
        phi = int(((-di[up] * D - 1) // (-dt[up] - 1)).min(initial=pmax))
        p = plo
        if p <= min(phi, pmax):
            q = int((i * D - p * t).max())
            assert np.all(q <= i * D - p * (t - 1) - 1)
            return p, q, k
    return None


def _dense_plan(layer: BinaryDense, aug_in: bool, xabs: int, float_bits: bool):
    """The fused form of a dense layer on a 2-D input whose values are at most ``xabs`` in
    magnitude (bits: 0/1), with a column of ones appended when ``aug_in``: (W float32
    (K [+1], M [+1]), post, const) or None where it does not apply (the layer takes the plain
    path). post: ("bits", float_bits), ("line", lo, hi), ("table", values) (``_table_plan``)
    or ("scores",); const: (M,) to add
    after the product when there is no column of ones; the extra output column (ones) is
    there where post can make it."""
    M = layer.M
    w = layer.weights.reshape(M, -1).astype(np.int64)
    binary = layer.input_kind == "binary"
    W, S = (2 * w, w.sum(axis=1)) if binary else (w, np.zeros(M, np.int64))
    colbound = np.abs(W).sum(axis=1) * (1 if binary else xabs)  # |every partial sum| <= this
    kind = layer.output_kind
    scale = np.ones(M)  # column c holds W_c * scale_c, the constant row const_c (exact floats)
    if kind == "scores":
        const = (np.zeros(M, np.int64) if layer.bias is None else np.asarray(layer.bias, np.int64)) - S
        if np.any(colbound + np.abs(const) >= EXACT_F32):
            return None
        post, sign = ("scores",), np.ones(M, np.int64)
    elif kind == "bits":  # acc >= T: raw - S - T + 1 >= 1; acc <= T: S + T - raw + 1 >= 1
        T, sign = np.asarray(layer.thresholds, np.int64), np.where(np.asarray(layer.directions) > 0, 1, -1)
        const = 1 - sign * (S + T)
        if np.any(np.abs(T) >= EXACT_F32) or np.any(colbound + np.abs(const) >= EXACT_F32):
            return None
        post = ("bits", float_bits)
    else:
        T, D = np.asarray(layer.thresholds, np.int64), np.asarray(layer.directions)
        if np.any(np.abs(T) >= EXACT_F32):
            return None
        L, off = T.shape[1], int(layer.out_offset)
        sign, const = np.where(D > 0, 1, -1), np.zeros(M, np.int64)
        for c in range(M):  # acc <= T_i is -acc >= -T_i: the line on -acc, p negated
            t = np.sort(sign[c] * T[c])
            r = _line(t, (EXACT_F32 - 1) // (int(colbound[c]) + abs(int(S[c])) + int(np.abs(t).max()) + 1))
            if r is None:
                return _table_plan(W, S, np.where(D > 0, 1, -1), T, colbound, L, off, aug_in)
            p, q, k = r
            # z_c = (p * sign * acc + q + off * 2^k) / 2^k, acc = raw - S
            const[c] = q + off * (1 << k) - p * sign[c] * S[c]
            if int(colbound[c]) * p + abs(int(const[c])) >= EXACT_F32:
                return _table_plan(W, S, np.where(D > 0, 1, -1), T, colbound, L, off, aug_in)
            sign[c] *= p
            scale[c] = 2.0 ** -k
        post = ("line", np.float32(off), np.float32(off + L))
    aug_out = post[0] == "bits" and post[1] or post[0] == "line" and post[1] <= 1 <= post[2]
    W = (W * sign[:, None]).T.astype(np.float64) * scale  # (K, M): powers of two, exact
    const = const * scale
    if aug_in:
        W = np.vstack([W, const])
    if aug_out:
        W = np.hstack([W, np.zeros((len(W), 1))])
        if aug_in:
            W[-1, -1] = 1.0
        else:
            const = np.append(const, 1.0)
    return (np.ascontiguousarray(W, dtype=np.float32), post,
            None if aug_in or not np.any(const) else const.astype(np.float32))


def _table_plan(W, S, sign, T, colbound, L: int, off: int, aug_in: bool):
    """Multi-level thresholds that are no line: one lookup whose index the product gives,
    z = M * (sign * acc - lo) + c (direction -1 channels negated, so that every channel counts
    up: all give the lowest count below lo = min(T) - 1 and the highest above max(T) + 1, so
    one clamp of the index, ``take(mode="clip")``, is every channel's clip). None where the
    table or the sums are too large."""
    M = len(W)
    Tu = sign[:, None] * T
    lo, hi = int(Tu.min()) - 1, int(Tu.max()) + 1
    width = hi - lo + 1
    const = np.arange(M, dtype=np.int64) - M * lo - M * sign * S
    if width * M > TABLE_MAX or np.any(M * colbound + np.abs(const) >= EXACT_F32):
        return None
    a = np.arange(lo, hi + 1)
    count = off + (a[:, None, None] >= Tu[None, :, :]).sum(axis=2)  # (width, M): row a, channel c
    table = count.reshape(-1).astype(np.float32)
    W = (W * (M * sign)[:, None]).T.astype(np.float64)
    if aug_in:
        W = np.vstack([W, const])
    return (np.ascontiguousarray(W, dtype=np.float32), ("table", table),
            None if aug_in else const.astype(np.float32))


def _plan(layer, form):
    """``_dense_plan(layer, *form)``, made once per layer contents."""
    key = _layer_key(layer)
    entry = _PLANS.get(id(layer))
    if entry is None or entry[0] != key:
        if len(_PLANS) >= 256:
            _PLANS.clear()
        entry = _PLANS[id(layer)] = (key, {})
    plans = entry[1]
    if form not in plans:
        plans[form] = _dense_plan(layer, *form)
    return plans[form]


_F0, _F1 = np.float32(0), np.float32(1)


def _fused_dense(layer: BinaryDense, x: np.ndarray, aug_in: bool, xabs: int, float_bits: bool):
    """(y, aug_out) by the layer's fused plan, or None where it has none."""
    plan = _plan(layer, (aug_in, xabs, float_bits))
    if plan is None:
        return None
    W, post, const = plan
    z = np.matmul(x.astype(np.float32, copy=False), W)  # bits and ints alike: exact in float32
    if const is not None:
        z += const
    if post[0] == "line":
        np.floor(z, out=z)
        _clip(z, post[1], post[2], out=z)
    elif post[0] == "table":
        z = post[1].take(z.astype(np.intp), mode="clip")
    elif post[0] == "bits":  # integers: >= 1 is 1, <= 0 is 0
        z = _clip(z, _F0, _F1, out=z) if post[1] else np.greater(z, _F0)
    return z, W.shape[1] > layer.M


def _step(layer, xs: list[np.ndarray]) -> np.ndarray:
    """One hardware layer on channels-last tensors."""
    if isinstance(layer, (AddJoin, ConcatJoin)):
        return _join(layer, xs)
    x = xs[0]
    if isinstance(layer, Threshold):
        return _activate(layer, x)
    if isinstance(layer, BinaryDense):
        return _dense(layer, x)
    if isinstance(layer, BinaryConv):
        return _conv(layer, x)
    if isinstance(layer, (IntMaxPool, BinaryMaxPool)):
        return _max_pool(layer, x)
    raise UnsupportedModelError(
        f"layer '{layer.name}' ({layer.kind}) was not lowered to a hardware layer")


def _bits_in(layer) -> list[bool]:
    """Whether each input of a layer is bits."""
    if isinstance(layer, (AddJoin, ConcatJoin)):
        return [s.kind == "bits" for s in layer.in_streams]
    if isinstance(layer, BinaryLayer):
        return [layer.input_kind == "binary"]
    return [isinstance(layer, BinaryMaxPool)]


def _channels_last(x: np.ndarray, bits: bool) -> np.ndarray:
    """IR layout (N, C, ...) -> the internal one."""
    x = np.moveaxis(np.asarray(x), 1, -1) if np.ndim(x) > 2 else np.asarray(x)
    if bits:
        return x.astype(bool)
    return x.astype(_exact_dtype(max(-int(x.min(initial=0)), int(x.max(initial=0)))), copy=False)


def _channels_first(y: np.ndarray) -> np.ndarray:
    """The internal layout -> the IR's: (N, C, ...), bits 0/1 uint8, integers int64."""
    y = np.moveaxis(y, -1, 1) if y.ndim > 2 else y
    return np.ascontiguousarray(y, dtype=np.uint8 if y.dtype == bool else np.int64)


def _windows(layer: BinaryConv, x: np.ndarray) -> tuple[np.ndarray, int, int]:
    """x (N, C, H, W) -> (N, OH, OW, C*kh*kw) patches in weight order (c, kh, kw)."""
    p = _patches(layer, np.moveaxis(np.asarray(x), 1, -1))  # N, OH, OW, kh, kw, C
    N, OH, OW = p.shape[:3]
    return p.transpose(0, 1, 2, 5, 3, 4).reshape(N, OH, OW, -1), OH, OW


def run_join(layer, xs: list[np.ndarray]) -> np.ndarray:
    """A join of two tensors (N, *shape): an integer add, or a channel concat (axis 1)."""
    return _channels_first(_join(layer, [_channels_last(x, b) for x, b in zip(xs, _bits_in(layer))]))


def run_threshold(layer: Threshold, x: np.ndarray) -> np.ndarray:
    """Per channel (axis 1 of (N, C, ...)) thresholds on an integer stream."""
    return run_layer(layer, x)


def run_layer(layer, x: np.ndarray) -> np.ndarray:
    """One hardware layer. Binary activations are 0/1 uint8 arrays, shapes as in the IR."""
    return _channels_first(_step(layer, [_channels_last(x, _bits_in(layer)[0])]))


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
    if x.size and (x.min() < lo or x.max() > hi):  # then the first value out of range, named
        bad = (x < lo) | (x > hi)
        idx = np.argwhere(bad.reshape(x.shape[0], -1))[0]
        v = x.reshape(x.shape[0], -1)[idx[0], idx[1]]
        v = int(v) if float(v).is_integer() else v
        raise BadInputError(
            f"input row {idx[0]}, column {idx[1]}: value {v} does not fit "
            f"{model.input_bits}-bit {'signed' if model.input_signed else 'unsigned'} integers "
            f"({lo}..{hi}); change --input-bits/--input-signed")
    return x.astype(np.int64)


def _input(model: Model, x) -> np.ndarray:
    """``_channels_last(check_input(model, x))`` in fewer passes where x is plainly valid: the
    same values and type; anything else (errors included) takes the long way."""
    return _input_ext(model, x, False)[0]


def _bucket(m: int) -> int:
    """The smallest 2^j - 1 >= m: a few plans per layer for the ranges inputs take."""
    return (1 << max(int(m), 0).bit_length()) - 1


_min, _max = np.minimum.reduce, np.maximum.reduce  # the ufuncs' own: no Python wrapper per call
_QUANTS: dict = {}  # id(QuantSpec) -> (its fields, ``_plain_quant``)


def _plain_quant(q):
    """(qmin, qmax, float32 scale) of a per-tensor Quant with zero-point 0, rounding half to
    even and integers below 2^24; else None."""
    fields = (q.scale, q.zero_point, q.rounding, q.bits, q.signed, q.narrow)
    got = _QUANTS.get(id(q))
    if got is not None and len(got[0]) == len(fields) and all(a is b for a, b in zip(got[0], fields)):
        return got[1]
    ok = (getattr(q.scale, "ndim", 0) == 0 == getattr(q.zero_point, "ndim", 0) and q.zero_point == 0
          and q.rounding.upper() in ("ROUND", "HALF_EVEN") and max(-q.qmin, q.qmax) < EXACT_F32)
    r = (q.qmin, q.qmax, np.float32(q.scale)) if ok else None
    if not any(isinstance(f, np.ndarray) for f in fields):  # an array may change in place
        if len(_QUANTS) >= 64:
            _QUANTS.clear()
        _QUANTS[id(q)] = (fields, r)
    return r


def _input_ext(model: Model, x, aug: bool):
    """(``_input(model, x)``, whether a column of ones is appended (``aug`` asks for one, on
    2-D float32 inputs), a bound of its magnitudes (``_bucket``; None: the declared range))."""
    x, shape, q = np.asarray(x), tuple(model.input_shape), model.input_quant
    if x.ndim >= 2 and x.size and math.prod(x.shape[1:]) == math.prod(shape):
        if x.shape[1:] != shape:
            x = x.reshape((len(x),) + shape)
        if q is None and x.dtype.kind in "iu":  # integers: one range check
            lo, hi = int(x.min()), int(x.max())
            b = model.input_bits
            qlo, qhi = (-(1 << (b - 1)), (1 << (b - 1)) - 1) if model.input_signed else (0, (1 << b) - 1)
            if qlo <= lo and hi <= qhi:
                x = np.moveaxis(x, 1, -1) if x.ndim > 2 else x
                dtype, xabs = _exact_dtype(max(-lo, hi, 0)), _bucket(max(-lo, hi))
                if aug and x.ndim == 2 and dtype == np.float32:
                    y = np.empty((len(x), x.shape[1] + 1), np.float32)
                    y[:, :-1] = x
                    y[:, -1] = 1
                    return y, True, xabs
                return x.astype(dtype, copy=False), False, xabs
        elif q is not None and x.dtype.kind in "iuf" and (qc := _plain_quant(q)) is not None:
            qmin, qmax, scale = qc
            y = x.astype(np.float32, copy=False)  # Quant in float32, as QuantSpec.to_int
            if scale != 1:
                y = y / scale
            lo, hi = float(_min(y, axis=None)), float(_max(y, axis=None))  # NaN if any value is
            if math.isfinite(lo) and math.isfinite(hi):
                if lo < qmin or hi > qmax:
                    y = np.clip(y, np.float32(qmin), np.float32(qmax))
                xabs = _bucket(min(max(-qmin, qmax), max(-math.floor(lo), math.ceil(hi), 0)))
                # no column of ones here: rint into a strided buffer costs more (measured) than
                # adding the first layer's constants to its product
                y = np.rint(y)  # half to even; integers below 2^24: exact float32
                return (np.moveaxis(y, 1, -1) if y.ndim > 2 else y), False, xabs
    return _channels_last(check_input(model, x), False), False, None


_READERS: dict = {}  # id(model) -> (its graph, ``_readers``)


def _readers(model: Model) -> tuple[dict, dict, list]:
    """(tensor name -> (a dense layer reads it, only dense layers and adds read it), tensor
    name -> index of its last reader, the inputs of each layer)."""
    graph = tuple([(type(l), l.name, l.inputs and tuple(l.inputs)) for l in model.layers])
    got = _READERS.get(id(model))
    if got is not None and got[0] == graph:
        return got[1]
    ins = [model.inputs_of(i) for i in range(len(model.layers))]
    last_reader = {p: i for i in range(len(model.layers)) for p in ins[i]}
    kinds = {l.name: l for l in model.layers}
    out = {}
    for name, rs in model.consumers().items():
        rs = [kinds[r] for r in rs]
        out[name] = (any(isinstance(r, BinaryDense) for r in rs),
                     bool(rs) and all(isinstance(r, (BinaryDense, AddJoin)) for r in rs))
    cons = model.consumers()
    index = {l.name: i for i, l in enumerate(model.layers)}
    folds = {}  # i -> (j, k): dense scores i, then j = i + its own input, then threshold k
    for i, l in enumerate(model.layers):
        if not (isinstance(l, BinaryDense) and l.output_kind == "scores" and len(cons[l.name]) == 1):
            continue
        j = index[cons[l.name][0]]
        join = model.layers[j]
        if not (isinstance(join, AddJoin) and sorted(ins[j]) == sorted([l.name, ins[i][0]]) and ins[i][0] != l.name
                and len(cons[join.name]) == 1):
            continue
        k = index[cons[join.name][0]]
        if isinstance(model.layers[k], Threshold) and i < j < k:
            folds[i] = (j, k)
    if len(_READERS) >= 64:
        _READERS.clear()
    _READERS[id(model)] = (graph, (out, last_reader, ins, folds))
    return out, last_reader, ins, folds


_FOLDS: dict = {}  # id of the threshold -> (the three layers' contents, the folded layer)


def _folded(dense: BinaryDense, join: AddJoin, th: Threshold, a_name: str, order: list):
    """A dense layer's scores plus its own input, thresholded, as one dense layer: the input's
    values (+-1 for bits, else the integers) are the identity matrix's product, so the weights
    gain I, and the thresholds lose the bias. None where the streams do not say so."""
    key = (_layer_key(dense), tuple(join.in_streams), tuple(order),
           tuple((v.dtype, v.shape, v.tobytes()) if isinstance(v, np.ndarray) else v
                 for v in (th.thresholds, th.directions, th.out_offset, th.out_bits, th.out_signed)))
    got = _FOLDS.get(id(th))
    if got is not None and got[0] == key:
        return got[1]
    layer = None
    streams = dict(zip(order, join.in_streams))
    M = dense.M
    w = dense.weights.reshape(M, -1).astype(np.int64)
    if (w.shape[1] == M and (streams[a_name].kind == "bits") == (dense.input_kind == "binary")
            and th.thresholds is not None):
        T = np.asarray(th.thresholds, np.int64)
        if dense.bias is not None:
            b = np.asarray(dense.bias, np.int64)
            T = T - (b if T.ndim == 1 else b[:, None])  # acc + b vs T is acc vs T - b
        w = w + np.eye(M, dtype=np.int64)
        layer = BinaryDense(name=th.name, source_nodes=[], in_shape=dense.in_shape, out_shape=dense.out_shape,
                            weights=w, weight_bits=max(2, int(np.abs(w).max()).bit_length() + 1),
                            input_kind=dense.input_kind, input_bits=dense.input_bits,
                            input_signed=dense.input_signed, thresholds=T, directions=th.directions,
                            out_offset=th.out_offset, out_bits=th.out_bits, out_signed=th.out_signed)
    if len(_FOLDS) >= 256:
        _FOLDS.clear()
    _FOLDS[id(th)] = (key, layer)
    return layer


def _run(model: Model, x: np.ndarray, fold: bool = False):
    """(layer, output) for every layer, channels last, in list order (the graph in topological
    order); a tensor is let go after its last reader (less memory: fewer fresh pages to fault
    in). A dense layer runs fused (``_fused_dense``) where it can: its output may then carry a
    column of ones (only dense layers read it whole; others, and the caller, get a view
    without it) and bits as 0/1 float32 (where only dense layers and adds read them). With
    ``fold``, a dense layer whose scores only a residual add and a threshold read runs as one
    folded dense layer (``_folded``), and the two layers between give no output (None)."""
    readers, last_reader, inputs, folds = _readers(model)
    last = model.layers[-1].name if model.layers else None
    x, aug, xabs = _input_ext(model, x, readers.get(INPUT, (False,))[0])
    values = {INPUT: (x, aug, xabs)}
    skip = {}
    for i, layer in enumerate(model.layers):
        if i in skip:
            y, aug = skip.pop(i)
            if y is None:
                yield layer, None
                continue
            values[layer.name] = (y, aug, None)
            yield layer, (y[..., :-1] if aug else y)
            continue
        names = inputs[i]
        ins = [values[p] for p in names]
        y = None
        if fold and i in folds and ins[0][0].ndim == 2:
            j, k = folds[i]
            th = model.layers[k]
            layer2 = _folded(layer, model.layers[j], th, names[0], inputs[j])
            if layer2 is not None:
                r = _dense_step(layer2, ins[0], th.name != last and readers[th.name][1])
                if r is not None:
                    y, aug = r
                    if aug and (th.name == last or not readers[th.name][0]):
                        y, aug = y[:, :-1], False
                    skip[j], skip[k] = (None, False), (y, aug)
                    for p in names + inputs[j]:
                        if last_reader.get(p, -1) <= j:
                            values.pop(p, None)
                    yield layer, None
                    continue
        for p in names:
            if last_reader[p] == i:
                values.pop(p, None)
        if isinstance(layer, BinaryDense) and ins[0][0].ndim == 2:
            r = _dense_step(layer, ins[0], layer.name != last and readers[layer.name][1])
            if r is not None:
                y, aug = r
                if aug and (layer.name == last or not readers[layer.name][0]):
                    y, aug = y[:, :-1], False
        if y is None:
            y, aug = _step(layer, [v[:, :-1] if a else v for v, a, _ in ins]), False
        values[layer.name] = (y, aug, None)
        del ins
        yield layer, (y[..., :-1] if aug else y)


def _dense_step(layer: BinaryDense, value: tuple, float_bits: bool):
    """``_fused_dense`` on a value (array, column of ones, magnitude bound or None)."""
    x, aug, xabs = value
    lo, hi = layer.input_range()
    xabs = max(-lo, hi) if xabs is None or layer.input_kind == "binary" else min(xabs, max(-lo, hi))
    return _fused_dense(layer, x, aug, xabs, float_bits)


def _layer_out(layer, y: np.ndarray) -> np.ndarray:
    """``_channels_first`` of a layer's output, bits (bool or 0/1 float32) as 0/1 uint8."""
    if y.dtype != bool and getattr(layer, "output_kind", None) == "bits":
        y = y.astype(bool)
    return _channels_first(y)


def run_layers(model: Model, x: np.ndarray) -> list[np.ndarray]:
    """Every layer's output, in list order (the graph walked in topological order)."""
    return [_layer_out(l, y) for l, y in _run(model, x)]


def run(model: Model, x: np.ndarray) -> np.ndarray:
    """Integer scores (N, classes) as int64."""
    if not model.is_lowered:
        bad = next(l for l in model.layers if not l.is_hardware)
        raise UnsupportedModelError(f"layer '{bad.name}' ({bad.kind}) was not lowered")
    for layer, out in _run(model, x, fold=True):
        pass
    return _layer_out(layer, out).reshape(len(out), -1)
