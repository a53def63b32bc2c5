"""The hardware plan of a layer, shared by both backends.

``mvau_plan(layer, fold, perm)`` decides, once, everything the HLS (``mvtu.cpp.j2``) and the
RTL (``mvau.sv``) matrix-vector-activation units need about one ``BinaryDense``/``BinaryConv``
layer, as a frozen :class:`MvauPlan`: the fold (PE, SIMD, NF, SF), the weight and input formats
and the datapath they select, the weight matrix with its columns in the order the hardware
feeds them (``perm``) and folded to ``(NF*PE, SF*SIMD)`` lanes, the exact accumulator range and
width, the thresholds (clamped to one past that range on either side: every reachable outcome
is kept) and directions, the output format (bits, signed, offset, count of thresholds N) and
the score range. The RTL's "S domain" (the mvau accumulates a sum S with acc = a*S + c, its
thresholds compare S) is derived from the same plan (``s_affine``, ``s_range``,
``s_thresholds``). The checks that refuse a layer the hardware cannot hold (PE/SIMD out of
range, weights that do not fit their width, thresholds of the wrong shape, outputs that do not
fit) are made here, once, for both backends. A ``Threshold`` layer alone (the activation after
a join) gets a :class:`ThresholdPlan` the same way: its thresholds clamped to one past its
input's range, directions and output format (``threshold_plan``).

The other layers get a plan each the same way, built where each backend meets the layer:
:class:`WindowPlan` (``window_plan``: the sliding window in front of a conv's unit: shape,
kernel, stride, pads, value format, pixel and window widths), :class:`PoolPlan` (``pool_plan``:
a max pool's shape, kernel, stride, AND-channel mask, pixel width) and :class:`JoinPlan`
(``join_plan``: an add or concat's values per beat in and out, concat offsets, beats, output
range and the widths that hold it). Their shape checks are made there, once. What a plan
builder takes as an argument (the value format a pool or threshold sees, the values per beat
and pixel shape a join sees) is the backend's stream format, which differs where the two
backends carry a tensor differently: the RTL carries scores as 32-bit and sums as two's
complement (``JoinPlan.sum_bits``), the HLS backend each in its narrowest format
(``MvauPlan.score_exact_bits``, ``JoinPlan.exact_format``).

The backends only format plan fields: HLS packs per PE row words of SIMD lanes
(``weights.h``), the RTL one ROM word of PE*SIMD lanes per (nf, sf) step (``*_w.mem``).

Column orders (``perm``: hardware column i is ONNX column ``perm[i]``; None: ONNX order):
:func:`hwc_perm` for a dense layer fed by a pixel stream (pixels gathered in (H, W, C) order
instead of ONNX's (C, H, W)), :func:`window_perm` for a conv whose windows arrive in
(kh, kw, c) order (the RTL's ``sliding_window``; the HLS window generator keeps (c, kh, kw)).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import BadOptionError, UnsupportedModelError
from .folding import LayerFold
from .ir import (AddJoin, BinaryConv, BinaryLayer, BinaryMaxPool, ConcatJoin, IntMaxPool, Threshold,
                 int_bits, signed_bits)

__all__ = ["MvauPlan", "mvau_plan", "ThresholdPlan", "threshold_plan", "WindowPlan", "window_plan",
           "PoolPlan", "pool_plan", "JoinPlan", "join_plan", "hwc_perm", "window_perm",
           "score_word_bits", "wide_signed_bits", "value_format"]

#: datapath names (``mvtu.cpp.j2``'s ``mode``; the RTL's ``mvau_mode`` names in brackets):
#: ``xnor`` (+-1 weights on bits: XNOR-popcount), ``pm_x`` (+-1 weights on integers: +-x,
#: [pm1_int]), ``w_pm`` (W-bit weights on bits: +-w, [w_bin]), ``mul`` (W-bit x integers, [w_int])
DATAPATHS = ("xnor", "pm_x", "w_pm", "mul")


def wide_signed_bits(lo: int, hi: int) -> int:
    """Smallest two's complement width holding every integer in [lo, hi], at least 2 (an
    ap_int<1> holds only -1 and 0)."""
    return max(2, signed_bits(lo, hi))


def value_format(bits: int, signed: bool) -> str:
    """A stream value format in words: '4-bit unsigned integers'."""
    return f"{bits}-bit {'signed' if signed else 'unsigned'} integers"


def output_word_bits(model) -> int:
    """The width of one class score on a core's output stream: the last layer's scores, or the
    range of a last join / threshold (32, or 64 when 32 bits do not hold it)."""
    last = model.layers[-1]
    if isinstance(last, BinaryLayer):
        return score_word_bits(last)
    need = wide_signed_bits(*last.out_range)
    if need > 64:
        raise UnsupportedModelError(f"layer '{last.name}': scores need {need} bits; at most 64 are supported")
    return 32 if need <= 32 else 64


def score_word_bits(layer: BinaryLayer) -> int:
    """The width of a last layer's scores (acc + bias) on the output stream: 32, or 64 when
    32 bits do not hold their range."""
    lo, hi = layer.acc_range()
    bias = layer.bias if layer.bias is not None else np.zeros(layer.M, dtype=np.int64)
    need = wide_signed_bits(lo + int(bias.min()), hi + int(bias.max()))
    if need <= 32:
        return 32
    if need <= 64:
        return 64
    raise UnsupportedModelError(
        f"layer '{layer.name}': scores need {need} bits; at most 64 are supported")


def hwc_perm(C: int, H: int, W: int) -> np.ndarray:
    """Column (h*W + w)*C + c of a pixel-gathered vector is ONNX column c*H*W + h*W + w."""
    return np.arange(C * H * W).reshape(C, H * W).T.reshape(-1)


def window_perm(C: int, KH: int, KW: int) -> np.ndarray:
    """Column (kh*KW + kw)*C + c of a (kh, kw, c) window is ONNX column (c*KH + kh)*KW + kw."""
    return np.arange(C * KH * KW).reshape(C, KH, KW).transpose(1, 2, 0).reshape(-1)


@dataclass(frozen=True, eq=False)
class MvauPlan:
    """One compute layer as a matrix-vector-activation unit (see the module docstring)."""

    name: str
    kind: str  # the layer's kind (binary_dense, mvau_conv, ...)
    conv: bool
    source_nodes: tuple
    K: int
    M: int
    V: int
    PE: int
    SIMD: int
    NF: int  # neuron folds: ceil(M / PE)
    SF: int  # input folds: ceil(K / SIMD)
    weight_bits: int  # 1: +-1
    binary_in: bool  # inputs are +-1 bits (1 = +1)
    in_bits: int  # 1 for bits
    in_signed: bool
    in_lo: int  # the smallest and largest input value (-1, 1 for bits)
    in_hi: int
    datapath: str  # one of DATAPATHS
    perm: np.ndarray | None  # hardware column i = ONNX column perm[i]; None: ONNX order
    weights: np.ndarray  # (M, K) int64 values, columns in hardware order
    acc_lo: int  # the reachable accumulator range (before bias)
    acc_hi: int
    output: str  # "scores" (acc + bias), "bits" (one threshold) or "int" (multi-threshold)
    n_thr: int  # N thresholds per channel (0 for scores)
    out_bits: int  # bits per output value (1 for bits; 0 for scores: a backend's score width)
    out_signed: bool
    out_offset: int  # value = offset + number of thresholds passed
    thresholds: np.ndarray | None  # (M, N) int64 as the layer gives them (None for scores)
    directions: np.ndarray | None  # (M,) +1 (acc >= T) or -1 (acc <= T); None for scores
    bias: np.ndarray  # (M,) int64 (zeros without a bias)

    # ------------------------------------------------------------------ derived: HLS domain
    @property
    def scores(self) -> bool:
        return self.output == "scores"

    @property
    def acc_bits(self) -> int:
        """The accumulator: the exact reachable range (partial sums stay inside it: every
        product's range holds 0)."""
        return wide_signed_bits(self.acc_lo, self.acc_hi)

    @property
    def thr_bits(self) -> int:
        """The clamped thresholds acc_lo-1 .. acc_hi+1."""
        return wide_signed_bits(self.acc_lo - 1, self.acc_hi + 1)

    @property
    def clamped_thresholds(self) -> np.ndarray:
        """(M, N) thresholds clamped to one past the accumulator range on either side (every
        reachable outcome kept)."""
        return np.clip(self.thresholds, self.acc_lo - 1, self.acc_hi + 1)

    @property
    def count_bits(self) -> int:
        """A signed width holding the output value offset .. offset + N and the count 0 .. N."""
        N, offset = self.n_thr, self.out_offset
        return wide_signed_bits(min(offset, 0), max(N, offset + N))

    @property
    def score_range(self) -> tuple[int, int]:
        """The smallest and largest score acc + bias."""
        return self.acc_lo + int(self.bias.min()), self.acc_hi + int(self.bias.max())

    @property
    def score_exact_bits(self) -> int:
        """The narrowest two's complement width of the scores (a score layer feeding a join)."""
        return wide_signed_bits(*self.score_range)

    def lanes(self, pad: int = 0) -> np.ndarray:
        """(NF*PE, SF*SIMD) weight lanes: +-1 as bit 1 = +1, W-bit weights as W-bit two's
        complement (masked); lanes past K and rows past M hold ``pad`` (already encoded)."""
        wb = self.weight_bits
        vals = np.full((self.NF * self.PE, self.SF * self.SIMD), pad, dtype=np.int64)
        vals[:self.M, :self.K] = (self.weights > 0) if wb == 1 else (self.weights & ((1 << wb) - 1))
        return vals

    # ------------------------------------------------------------------ derived: S domain (RTL)
    @property
    def s_affine(self) -> tuple[int, np.ndarray]:
        """(a, c): acc_j = a * S_j + c_j, S the sum the RTL mvau accumulates (xnor: the
        popcount; pm_x: sum of x or ~x; w_pm: sum of the weights of the 1 bits; mul: acc)."""
        w = self.weights
        if self.datapath == "xnor":
            return 2, np.full(self.M, -self.K, dtype=np.int64)
        if self.datapath == "pm_x":
            return 1, (w < 0).sum(axis=1).astype(np.int64)
        if self.datapath == "w_pm":
            return 2, -w.sum(axis=1)
        return 1, np.zeros(self.M, dtype=np.int64)

    @property
    def s_range(self) -> tuple[int, int]:
        """Smallest and largest S over every input (and every partial sum's final value)."""
        w = self.weights
        if self.datapath == "xnor":
            return 0, self.K
        lo, hi = self.in_lo, self.in_hi
        if self.datapath == "pm_x":
            tlo = np.where(w > 0, lo, -hi - 1)
            thi = np.where(w > 0, hi, -lo - 1)
        elif self.datapath == "w_pm":
            tlo, thi = np.minimum(w, 0), np.maximum(w, 0)
        else:
            tlo, thi = np.minimum(w * lo, w * hi), np.maximum(w * lo, w * hi)
        return int(tlo.sum(axis=1).min()), int(thi.sum(axis=1).max())

    @property
    def s_acc_bits(self) -> int:
        """The RTL accumulator: every S and the clamped thresholds S_lo-1 .. S_hi+1."""
        lo, hi = self.s_range
        return signed_bits(lo - 1, hi + 1)

    @property
    def s_pad(self) -> int:
        """The RTL's pad lane (encoded): +1 for +-1 weights on integers (S adds x for +1, ~x for
        -1: a +1 on a zero input adds 0), else 0."""
        return 1 if self.datapath == "pm_x" else 0

    def s_thresholds(self) -> list[tuple[bool, list[int]]]:
        """Per channel (neg, [U_0..U_N-1]) in the S domain: ">= T" becomes S >= ceil((T-c)/a),
        "<= T" becomes ~S >= ~floor((T-c)/a) (neg, U stored inverted), clamped to
        S_lo-1 .. S_hi+1 (same result on every reachable S)."""
        a, c = self.s_affine
        lo, hi = self.s_range
        out = []
        for j in range(self.M):
            neg = int(self.directions[j]) < 0
            us = []
            for t in self.thresholds[j]:
                num = int(t) - int(c[j])
                if neg:
                    us.append(~min(max(num // a, lo - 1), hi))
                else:
                    us.append(min(max(-((-num) // a), lo), hi + 1))
            out.append((neg, us))
        return out

    def s_bias(self) -> list[int]:
        """Per channel bias + c (score = a*S + bias + c)."""
        _, c = self.s_affine
        return [int(b) + int(cj) for b, cj in zip(self.bias, c)]


def mvau_plan(layer: BinaryLayer, fold: LayerFold, perm: np.ndarray | None = None) -> MvauPlan:
    """The plan of a ``BinaryDense``/``BinaryConv`` layer folded by ``fold``, its weight
    columns in the order ``perm`` (see the module docstring). Raises ``BadOptionError`` for a
    PE/SIMD out of range and ``UnsupportedModelError`` for a layer the hardware cannot hold."""
    K, M, V = layer.K, layer.M, layer.V
    PE, SIMD = fold.pe, fold.simd
    if not (1 <= PE <= M and 1 <= SIMD <= K):
        raise BadOptionError(
            f"layer '{layer.name}': PE={PE}, SIMD={SIMD} out of range (PE 1..{M}, SIMD 1..{K})")
    WB = int(layer.weight_bits)
    if not 1 <= WB <= 32:
        raise UnsupportedModelError(
            f"layer '{layer.name}': {WB}-bit weights; use a weight bit width of 1..32")
    binary = layer.input_kind == "binary"
    w = np.asarray(layer.weights).reshape(M, K).astype(np.int64)
    if WB == 1:
        if not np.isin(w, (-1, 1)).all():
            raise UnsupportedModelError(f"layer '{layer.name}': 1-bit weights must be +-1")
    elif w.min(initial=0) < -(1 << (WB - 1)) or w.max(initial=0) > (1 << (WB - 1)) - 1:
        raise UnsupportedModelError(
            f"layer '{layer.name}': weights do not fit {WB}-bit two's complement")
    if perm is not None:
        w = w[:, perm]
    w.setflags(write=False)
    kind = layer.output_kind
    N, E, out_signed, offset = 0, 0, True, 0
    T = D = None
    if kind != "scores":
        D = np.asarray(layer.directions).reshape(-1)
        if D.shape != (M,) or any(int(d) not in (1, -1) for d in D):
            raise UnsupportedModelError(
                f"layer '{layer.name}': directions must be +1 or -1, one per channel")
        T = np.asarray(layer.thresholds, dtype=np.int64)
        if kind == "bits":  # one threshold per channel: a 1-bit unsigned count
            T = T.reshape(M, 1)
            E, out_signed, offset = 1, False, 0
        else:
            E, out_signed = int(layer.out_bits), bool(layer.out_signed)
            offset = int(layer.out_offset)
        N = int(T.shape[1]) if T.ndim == 2 else 0
        if T.ndim != 2 or T.shape[0] != M or N < 1:
            raise UnsupportedModelError(
                f"layer '{layer.name}': thresholds of shape {T.shape}; expected ({M}, N >= 1)")
        o_lo, o_hi = ((-(1 << (E - 1)), (1 << (E - 1)) - 1) if out_signed else (0, (1 << E) - 1))
        if not (1 <= E <= 32 and o_lo <= offset and offset + N <= o_hi):
            raise UnsupportedModelError(
                f"layer '{layer.name}': outputs {offset}..{offset + N} do not fit "
                f"{value_format(E, out_signed)}")
    bias = (np.asarray(layer.bias, dtype=np.int64).reshape(-1) if layer.bias is not None
            else np.zeros(M, dtype=np.int64))
    acc_lo, acc_hi = layer.acc_range()
    in_lo, in_hi = layer.input_range()
    datapath = ("xnor" if binary else "pm_x") if WB == 1 else ("w_pm" if binary else "mul")
    return MvauPlan(
        name=layer.name, kind=layer.kind, conv=isinstance(layer, BinaryConv),
        source_nodes=tuple(layer.source_nodes), K=K, M=M, V=V, PE=PE, SIMD=SIMD,
        NF=math.ceil(M / PE), SF=math.ceil(K / SIMD), weight_bits=WB, binary_in=binary,
        in_bits=1 if binary else int(layer.input_bits),
        in_signed=bool(layer.input_signed) and not binary, in_lo=int(in_lo), in_hi=int(in_hi),
        datapath=datapath, perm=perm, weights=w, acc_lo=int(acc_lo), acc_hi=int(acc_hi),
        output=kind, n_thr=N, out_bits=E, out_signed=out_signed, out_offset=offset,
        thresholds=T, directions=D, bias=bias)


@dataclass(frozen=True, eq=False)
class ThresholdPlan:
    """A ``Threshold`` layer (the activation alone) on ``C`` channels of ``in_bits``-bit
    integers: output value offset + #{i: x >= T[c][i]} (direction +1; x <= T[c][i] for -1)."""

    name: str
    kind: str
    C: int
    in_bits: int
    in_signed: bool
    in_lo: int  # the input's value range
    in_hi: int
    output: str  # "bits" (one threshold, 1-bit unsigned) or "int"
    n_thr: int
    out_bits: int
    out_signed: bool
    out_offset: int
    thresholds: np.ndarray  # (C, N) int64 as the layer gives them
    directions: np.ndarray  # (C,) +1 / -1

    @property
    def clamped_thresholds(self) -> np.ndarray:
        """(C, N) clamped to in_lo-1 .. in_hi+1: the same outcome on every input value."""
        return np.clip(self.thresholds, self.in_lo - 1, self.in_hi + 1)

    @property
    def thr_bits(self) -> int:
        return wide_signed_bits(self.in_lo - 1, self.in_hi + 1)

    @property
    def count_bits(self) -> int:
        N, offset = self.n_thr, self.out_offset
        return wide_signed_bits(min(offset, 0), max(N, offset + N))


def threshold_plan(layer: Threshold, channels: int, in_bits: int, in_signed: bool) -> ThresholdPlan:
    """The plan of a ``Threshold`` layer whose input carries ``channels`` values per beat of
    ``in_bits``-bit integers. Raises ``UnsupportedModelError`` when the channels, directions or
    thresholds do not match or the outputs do not fit their format."""
    C, B, sg = int(channels), int(in_bits), bool(in_signed)
    if C != layer.M:
        raise UnsupportedModelError(
            f"layer '{layer.name}': {layer.M} channels but its input carries {C} per beat")
    lo, hi = ((-(1 << (B - 1)), (1 << (B - 1)) - 1) if sg else (0, (1 << B) - 1))
    D = np.asarray(layer.directions).reshape(-1)
    if D.shape != (C,) or any(int(d) not in (1, -1) for d in D):
        raise UnsupportedModelError(
            f"layer '{layer.name}': directions must be +1 or -1, one per channel")
    T = np.asarray(layer.thresholds, dtype=np.int64)
    kind = layer.output_kind
    if kind == "bits":
        T = T.reshape(C, 1)
        E, out_signed, offset = 1, False, 0
    else:
        E, out_signed, offset = int(layer.out_bits), bool(layer.out_signed), int(layer.out_offset)
    N = int(T.shape[1]) if T.ndim == 2 else 0
    o_lo, o_hi = ((-(1 << (E - 1)), (1 << (E - 1)) - 1) if out_signed else (0, (1 << E) - 1))
    if (T.ndim != 2 or T.shape[0] != C or N < 1
            or not (1 <= E <= 32 and o_lo <= offset and offset + N <= o_hi)):
        raise UnsupportedModelError(
            f"layer '{layer.name}': thresholds of shape {T.shape} with outputs "
            f"{offset}..{offset + N} do not fit {C} channels of {value_format(E, out_signed)}")
    return ThresholdPlan(name=layer.name, kind=layer.kind, C=C, in_bits=B, in_signed=sg,
                         in_lo=lo, in_hi=hi, output=kind, n_thr=N, out_bits=E,
                         out_signed=out_signed, out_offset=offset, thresholds=T, directions=D)


def _chw(layer) -> tuple[int, int, int]:
    if len(layer.in_shape) != 3:
        raise UnsupportedModelError(
            f"layer '{layer.name}': expected a (C, H, W) input, got {layer.in_shape}")
    return tuple(int(v) for v in layer.in_shape)


@dataclass(frozen=True)
class WindowPlan:
    """The sliding window in front of a ``BinaryConv``'s mvau: ``C`` x ``H`` x ``W`` pixels of
    ``bits``-bit values (1: +-1 bits) in, one window of K = C*KH*KW values per output pixel
    out (OH x OW of them). The order of the values in a window is the backend's (``perm`` of
    its ``MvauPlan``: HLS (c, kh, kw), RTL (kh, kw, c)); everything else is decided here."""

    name: str
    C: int
    H: int
    W: int
    KH: int
    KW: int
    SH: int
    SW: int
    PT: int  # zero padding: top, left, bottom, right
    PL: int
    PB: int
    PR: int
    OH: int
    OW: int
    bits: int
    signed: bool

    @property
    def K(self) -> int:
        return self.C * self.KH * self.KW

    @property
    def pixel_bits(self) -> int:
        """One input beat: a pixel's C values."""
        return self.C * self.bits

    @property
    def window_bits(self) -> int:
        """One output beat: a window's K values."""
        return self.K * self.bits

    @property
    def pads(self) -> tuple[int, int, int, int]:
        return self.PT, self.PL, self.PB, self.PR


def window_plan(layer: BinaryConv) -> WindowPlan:
    """The window of a conv layer, its values in the layer's input format. Raises
    ``UnsupportedModelError`` for a shape that does not hold together, or padding of bits (a
    zero is not a +-1 value)."""
    C, H, W = _chw(layer)
    kh, kw = layer.kernel
    sh, sw = (int(v) for v in layer.stride)
    pt, pl, pb, pr = (int(v) for v in layer.pads)
    _, OH, OW = (int(v) for v in layer.out_shape)
    binary = layer.input_kind == "binary"
    if binary and any(layer.pads):
        raise UnsupportedModelError(
            f"layer '{layer.name}': zero padding of a binary conv is not binary")
    if int(layer.weights.shape[1]) != C:
        raise UnsupportedModelError(
            f"layer '{layer.name}': weights have {layer.weights.shape[1]} input "
            f"channels, the input has {C}")
    if (H + pt + pb - kh) // sh + 1 != OH or (W + pl + pr - kw) // sw + 1 != OW:
        raise UnsupportedModelError(
            f"layer '{layer.name}': output shape {layer.out_shape} does not match "
            f"kernel/stride/pads")
    return WindowPlan(name=layer.name, C=C, H=H, W=W, KH=int(kh), KW=int(kw), SH=sh, SW=sw,
                      PT=pt, PL=pl, PB=pb, PR=pr, OH=OH, OW=OW,
                      bits=1 if binary else int(layer.input_bits),
                      signed=False if binary else bool(layer.input_signed))


@dataclass(frozen=True)
class PoolPlan:
    """A max pool (``BinaryMaxPool``: OR over the window, AND for the channels of
    ``and_mask``; ``IntMaxPool``: the integer max) on ``C`` x ``H`` x ``W`` pixels of
    ``bits``-bit values, window KH x KW, stride SH x SW, no padding: OH x OW pixels out, in
    the format they came in."""

    name: str
    kind: str
    integer: bool  # an IntMaxPool
    C: int
    H: int
    W: int
    KH: int
    KW: int
    SH: int
    SW: int
    OH: int
    OW: int
    bits: int
    signed: bool
    and_mask: int  # bit c: channel c pools with AND (0: none)

    @property
    def pixel_bits(self) -> int:
        """One beat, in and out: a pixel's C values."""
        return self.C * self.bits


def pool_plan(layer: BinaryMaxPool | IntMaxPool, bits: int, signed: bool) -> PoolPlan:
    """The plan of a ``BinaryMaxPool`` / ``IntMaxPool`` whose input stream carries
    ``bits``-bit values (two's complement if ``signed``). Raises ``UnsupportedModelError``
    when the output shape does not match the kernel and stride."""
    C, H, W = _chw(layer)
    _, OH, OW = (int(v) for v in layer.out_shape)
    kh, kw = (int(v) for v in layer.kernel)
    sh, sw = (int(v) for v in layer.stride)
    if (H - kh) // sh + 1 != OH or (W - kw) // sw + 1 != OW:
        raise UnsupportedModelError(
            f"layer '{layer.name}': output shape {layer.out_shape} does not match "
            f"kernel/stride")
    andc = getattr(layer, "and_channels", None)
    mask = 0 if andc is None else sum(1 << c for c in range(C) if bool(andc[c]))
    return PoolPlan(name=layer.name, kind=layer.kind, integer=isinstance(layer, IntMaxPool),
                    C=C, H=H, W=W, KH=kh, KW=kw, SH=sh, SW=sw, OH=OH, OW=OW, bits=int(bits),
                    signed=bool(signed), and_mask=mask)


@dataclass(frozen=True)
class JoinPlan:
    """A join of two streams of one shape (``AddJoin``: value i of in0 + value i of in1;
    ``ConcatJoin``: in0's values, then in1's), one beat of each in and one beat out per pixel
    (``hw``: the (H, W) of a pixel stream) or per inference (``hw`` None: one vector). The
    output values range over ``lo``..``hi`` (the sum's range, or the union of the inputs'
    ranges); each backend picks the width its streams carry them in (``exact_format``, the
    narrowest, or ``sum_bits``, two's complement)."""

    name: str
    kind: str
    op: str  # "add" or "concat"
    hw: tuple | None
    in_elems: tuple  # values per beat of in0 and in1
    elems: int  # values per beat out
    out_kind: str  # "bits" (a concat of bits) or "int"
    lo: int
    hi: int

    @property
    def beats(self) -> int:
        return 1 if self.hw is None else int(self.hw[0] * self.hw[1])

    @property
    def offsets(self) -> tuple[int, int]:
        """Where in the output beat the values of in0 and in1 start."""
        return (0, self.in_elems[0] if self.op == "concat" else 0)

    @property
    def exact_format(self) -> tuple[int, bool]:
        """(bits, signed) of the narrowest integer holding lo..hi; (1, False) for bits."""
        return (1, False) if self.out_kind == "bits" else int_bits(self.lo, self.hi)

    @property
    def sum_bits(self) -> int:
        """The narrowest two's complement width holding lo..hi."""
        return signed_bits(self.lo, self.hi)


def join_plan(layer: AddJoin | ConcatJoin, in_elems: tuple, in_hw: tuple) -> JoinPlan:
    """The plan of a join whose two input streams carry ``in_elems`` values per beat, in
    pixels of ``in_hw`` (an (H, W) each, or None for a vector). Raises
    ``UnsupportedModelError`` unless there are two inputs of one shape."""
    if len(layer.in_streams) != 2 or len(in_elems) != 2:
        raise UnsupportedModelError(f"layer '{layer.name}': a join takes two inputs")
    hw0, hw1 = (None if hw is None else tuple(int(v) for v in hw) for hw in in_hw)
    if hw0 != hw1:
        raise UnsupportedModelError(
            f"layer '{layer.name}': its two inputs arrive in different shapes")
    e0, e1 = (int(e) for e in in_elems)
    if isinstance(layer, AddJoin):
        if e0 != e1:
            raise UnsupportedModelError(f"layer '{layer.name}': an add of tensors of different shapes")
        op, elems, kind, (lo, hi) = "add", e0, "int", layer.out_range
    else:
        st = layer.out_stream
        op, elems, kind, lo, hi = "concat", e0 + e1, st.kind, st.lo, st.hi
    return JoinPlan(name=layer.name, kind=layer.kind, op=op, hw=hw0, in_elems=(e0, e1),
                    elems=elems, out_kind=kind, lo=int(lo), hi=int(hi))
