"""The HLS backend: a lowered model -> a Vitis HLS C++ project (``DIR/hls``).

``write_hls(model, folding, out_dir, top, part, clock_ns)`` fills ``out_dir`` with:

* ``<top>.h`` / ``<top>.cpp``: the DATAFLOW top with AXI4-Stream ports and an s_axilite
  control interface (ap_ctrl_chain); one function per layer connected by ``hls::stream``;
* ``weights.h``: the packed weights, thresholds, directions and biases;
* ``fi_stream.h``: our FIFO with the ``hls::stream`` API, used by C simulation when the
  Xilinx header is not available;
* ``tb.cpp``, ``Makefile`` (``make csim``) and ``run_hls.tcl`` (Vitis HLS).

Streams. The top input carries one beat per inference: the ``F`` inputs of ``B`` bits, value
``i`` at bits ``[i*B, i*B+B)`` in ONNX flatten order. The output carries one beat per
inference: the scores as ``E``-bit two's complement (``E`` = 32, or 64 when 32 does not hold
the score range), score ``j`` at bits ``[j*E, j*E+E)``. Inside, a dense layer takes and gives
one vector per inference; convolutions and pools take and give one pixel (all channels) per
beat in raster order. A dense layer after a conv/pool gets the pixels gathered in (H, W, C)
order, so its weight columns are permuted from ONNX's (C, H, W) order. Every value inside is
a ``B``-bit integer, two's complement if signed (a 1-bit unsigned value doubles as a +-1 bit,
1 = +1): a compute layer's multi-threshold output packs ``out_bits`` per value and the next
layer must take exactly that format (checked).

Compute layers (MVAU, ``mvtu.cpp.j2``): W-bit weights (1: +-1) times A-bit inputs (or +-1
bits), folded by PE and SIMD, one flat ``PIPELINE II=1`` loop; the accumulator is as wide as
the exact reachable range (``acc_range()``), thresholds one bit wider where clamping needs it.

All C++ lives in the Jinja templates in ``hls_templates/``; this module decides what goes in
their holes. The output depends only on the arguments (byte-identical across runs).
"""
from __future__ import annotations

import math
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import numpy as np

from ... import names, resources
from ...errors import BadOptionError, UnsupportedModelError
from ...folding import LayerFold, layer_bound, pipeline_bound
from ...ir import BinaryConv, BinaryDense, BinaryLayer, BinaryMaxPool, IntMaxPool, Model

TEMPLATE_DIR = resources.hls_templates()  # hls_templates/ (in the wheel: fastinference/_data/)
DEFAULT_PART = "xc7z020clg400-1"
DEFAULT_CLOCK_NS = 10.0
CXXFLAGS = ("-std=c++17 -O2 -Wall -Werror -Wno-unknown-pragmas -Wno-uninitialized "
            "-Wno-maybe-uninitialized")
MAX_AP_WIDTH = 32768  # ap_int's hard limit (AP_INT_MAX_W)
STATIC_FILES = ("fi_stream.h",)

__all__ = ["write_hls", "plan", "TEMPLATE_DIR", "CXXFLAGS", "DEFAULT_PART", "DEFAULT_CLOCK_NS"]


# ------------------------------------------------------------------------------ helpers
def _signed_bits(lo: int, hi: int) -> int:
    """Smallest two's complement width holding every integer in [lo, hi] (at least 2)."""
    w = 2
    while not (-(1 << (w - 1)) <= lo and hi <= (1 << (w - 1)) - 1):
        w += 1
    return w


def _hex_word(value: int, width: int) -> str:
    """A C++ expression for an ap_uint<width> constant, in hex."""
    digits = max(1, math.ceil(width / 4))
    text = f"0x{value:0{digits}x}"
    if width <= 32:
        return text
    if width <= 64:
        return text + "ULL"
    return f'ap_uint<{width}>("{text}", 16)'


def _comment(text) -> str:
    return names.safe_comment(text, limit=200)


# --------------------------------------------------------------------------------- plan
@dataclass
class Stage:
    """One generated C++ function: its template, the holes, and the streams it connects."""

    fn: str
    template: str
    ctx: dict
    in_w: int
    out_w: int
    weights: dict | None = None  # context for weights.h, if the stage has constants
    out_fmt: tuple | None = None  # a compute stage's output values: (bits, signed)


@dataclass
class Plan:
    stages: list[Stage] = field(default_factory=list)
    in_values: int = 0
    in_bits: int = 8
    in_signed: bool = False
    out_values: int = 0
    out_bits: int = 32
    bound_cycles: int = 0
    layer_rows: list[str] = field(default_factory=list)


def _score_bits(layer: BinaryLayer) -> int:
    lo, hi = layer.acc_range()
    bias = layer.bias if layer.bias is not None else np.zeros(layer.M, dtype=np.int64)
    need = _signed_bits(lo + int(bias.min()), hi + int(bias.max()))
    if need <= 32:
        return 32
    if need <= 64:
        return 64
    raise UnsupportedModelError(
        f"layer '{layer.name}': scores need {need} bits; at most 64 are supported")


def _fmt(bits: int, signed: bool) -> str:
    """A stream value format in words: '4-bit unsigned integers'."""
    return f"{bits}-bit {'signed' if signed else 'unsigned'} integers"


def _pack_lanes(vals: np.ndarray, simd: int, wb: int) -> list[list[int]]:
    """(R, SF*SIMD) of wb-bit two's complement values -> per row, SF words of simd*wb bits,
    lane i at bits [i*wb, i*wb+wb)."""
    R, total = vals.shape
    SF = total // simd
    mask = (1 << wb) - 1
    v = (vals.astype(np.int64) & mask).reshape(R, SF, simd)
    return [[int(sum(int(v[r, s, i]) << (i * wb) for i in range(simd) if v[r, s, i]))
             for s in range(SF)] for r in range(R)]


def _mvtu_stage(layer: BinaryLayer, fold: LayerFold, in_perm: np.ndarray | None,
                score_bits: int) -> Stage:
    """A BinaryDense/BinaryConv layer as one MVAU function (``mvtu.cpp.j2``) and its
    constants (``weights.h``). ``mode`` picks the datapath: ``xnor`` (+-1 weights, bits in:
    XNOR-popcount), ``pm_x`` (+-1 weights, integers in: +-x), ``w_pm`` (integer weights, bits
    in: +-w), ``mul`` (integer weights times integer inputs)."""
    K, M, V = layer.K, layer.M, layer.V
    PE, SIMD = fold.pe, fold.simd
    if not (1 <= PE <= M and 1 <= SIMD <= K):
        raise BadOptionError(
            f"layer '{layer.name}': PE={PE}, SIMD={SIMD} out of range (PE 1..{M}, SIMD 1..{K})")
    NF, SF = math.ceil(M / PE), math.ceil(K / SIMD)
    WB = int(layer.weight_bits)
    if not 1 <= WB <= 32:
        raise UnsupportedModelError(
            f"layer '{layer.name}': {WB}-bit weights; use a weight bit width of 1..32")
    binary = layer.input_kind == "binary"
    B = 1 if binary else int(layer.input_bits)
    signed = bool(layer.input_signed) and not binary
    mode = ("xnor" if binary else "pm_x") if WB == 1 else ("w_pm" if binary else "mul")
    kind = layer.output_kind
    scores = kind == "scores"

    w = np.asarray(layer.weights).reshape(M, K).astype(np.int64)
    if WB == 1:
        if not np.isin(w, (-1, 1)).all():
            raise UnsupportedModelError(f"layer '{layer.name}': 1-bit weights must be +-1")
    elif w.min(initial=0) < -(1 << (WB - 1)) or w.max(initial=0) > (1 << (WB - 1)) - 1:
        raise UnsupportedModelError(
            f"layer '{layer.name}': weights do not fit {WB}-bit two's complement")
    if in_perm is not None:
        w = w[:, in_perm]

    # accumulator: the exact reachable range (partial sums stay inside it: every product's
    # range holds 0); thresholds clamped to one past it on either side keep every outcome
    lo, hi = layer.acc_range()
    acc_w = _signed_bits(lo, hi)
    thr_w = _signed_bits(lo - 1, hi + 1)

    # weights: +-1 as bit 1 = +1 (pad lanes 0, masked or times a 0 input); integers as WB-bit
    # two's complement lanes (pad lanes and PE padding 0)
    vals = np.zeros((NF * PE, SF * SIMD), dtype=np.int64)
    vals[:M, :K] = (w > 0) if WB == 1 else w
    words = _pack_lanes(vals, SIMD, WB)
    W = []
    for p in range(PE):
        rows = []
        for nf in range(NF):
            j = nf * PE + p
            rows.append({"words": ", ".join(_hex_word(v, SIMD * WB) for v in words[j]),
                         "neuron": j, "pad": j >= M})
        W.append(rows)

    def per_pe(values: list[int]) -> list[str]:
        return [", ".join(str(values[nf * PE + p]) for nf in range(NF)) for p in range(PE)]

    wctx = {"kind": "mvtu", "arr": layer.name, "SIMD": SIMD, "WB": WB, "PE": PE, "NF": NF,
            "SF": SF, "W": W, "scores": scores, "acc_w": acc_w, "thr_w": thr_w}
    N, E, out_signed, offset, val_w = 0, score_bits, True, 0, 1
    if scores:
        bias = layer.bias if layer.bias is not None else np.zeros(M, dtype=np.int64)
        wctx["BIAS"] = per_pe([int(b) for b in bias] + [0] * (NF * PE - M))
        wctx["E"] = E
    else:
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
        N = int(T.shape[1])
        if T.shape[0] != M or N < 1:
            raise UnsupportedModelError(
                f"layer '{layer.name}': thresholds of shape {T.shape}; expected ({M}, N >= 1)")
        o_lo, o_hi = ((-(1 << (E - 1)), (1 << (E - 1)) - 1) if out_signed else (0, (1 << E) - 1))
        if not (1 <= E <= 32 and o_lo <= offset and offset + N <= o_hi):
            raise UnsupportedModelError(
                f"layer '{layer.name}': outputs {offset}..{offset + N} do not fit "
                f"{_fmt(E, out_signed)}")
        val_w = _signed_bits(min(offset, 0), max(N, offset + N))
        Tc = np.clip(T, lo - 1, hi + 1)
        rows_t = [[int(t) for t in Tc[j]] if j < M else [0] * N for j in range(NF * PE)]
        wctx["T"] = [[{"vals": ", ".join(map(str, rows_t[nf * PE + p])), "neuron": nf * PE + p,
                       "pad": nf * PE + p >= M} for nf in range(NF)] for p in range(PE)]
        wctx["N"] = N
        wctx["D"] = per_pe([1 if int(d) > 0 else 0 for d in D] + [1] * (NF * PE - M))

    bound = layer_bound(layer, PE, SIMD)
    nodes = ", ".join(_comment(n) for n in layer.source_nodes) or "-"
    what = "conv" if isinstance(layer, BinaryConv) else "dense"
    wdesc = ("+-1 weights (bit 1 = +1)" if WB == 1 else
             f"{WB}-bit two's complement weights")
    datapath = {"xnor": "XNOR-popcount", "pm_x": "+-x per lane", "w_pm": "+-w per lane",
                "mul": f"{WB}x{B + (0 if signed else 1)}-bit signed products"}[mode]
    if scores:
        out_desc = f"{M} scores acc + bias of {E} bits"
    elif kind == "bits":
        out_desc = f"{M} bits, bit j = acc_j >= T_j (D_j = 1) or acc_j <= T_j (D_j = 0)"
    else:
        out_desc = (f"{M} {_fmt(E, out_signed)}, value j = {offset} + #{{i < {N}: acc_j >= "
                    f"T[j][i]}} (D_j = 1; acc_j <= T[j][i] if D_j = 0)")
    comment = [
        f"layer {layer.name} ({layer.kind}), ONNX node(s): {nodes}",
        f"K={K} M={M} V={V} PE={PE} SIMD={SIMD}: NF={NF} neuron fold(s) x SF={SF} input fold(s)"
        + (f" x V={V} pixels" if V > 1 else "") + f", bound {bound} cycles per inference",
        f"input: {'bits (1 = +1)' if binary else _fmt(B, signed)}"
        + (f" (window of {what}, one per output pixel)" if V > 1 or what == "conv" else "")
        + ("; columns in (H, W, C) order" if in_perm is not None else ""),
        f"weights: {wdesc}; {datapath}; accumulator {acc_w} bits (reachable {lo}..{hi})",
        "output: " + out_desc,
    ]
    wctx["comment"] = [comment[0], comment[1], comment[3]]
    ctx = {"fn": layer.name, "arr": layer.name, "comment": comment, "K": K, "M": M, "V": V,
           "PE": PE, "SIMD": SIMD, "NF": NF, "SF": SF, "B": B, "WB": WB, "mode": mode,
           "signed": signed, "scores": scores, "E": E, "N": N, "offset": offset,
           "out_signed": out_signed,
           "val_w": val_w, "cnt_w": SIMD.bit_length() + 1, "nc_w": max(1, N.bit_length()),
           "acc_w": acc_w, "in_w": K * B, "out_w": M * E, "lane_w": SIMD * max(B, WB),
           "tail": K - (SF - 1) * SIMD,
           "rom_impl": "lutram" if NF * SF * SIMD * WB <= 1024 else "bram"}
    return Stage(layer.name, "mvtu.cpp.j2", ctx, K * B, M * E, wctx,
                 (E, True if scores else out_signed))


def plan(model: Model, folding: dict[str, LayerFold]) -> Plan:
    """Decide the chain of generated functions and their stream widths."""
    if not model.layers:
        raise UnsupportedModelError("the model has no layers")
    if not model.is_lowered:
        bad = next(l for l in model.layers if not l.is_hardware)
        raise UnsupportedModelError(
            f"layer '{bad.name}' ({bad.kind}) was not lowered to a hardware layer")
    last = model.layers[-1]
    if not (isinstance(last, BinaryLayer) and last.emits_scores):
        raise UnsupportedModelError(
            f"layer '{last.name}': the HLS backend needs a score layer (no thresholds) last")
    for l in model.layers[:-1]:
        if isinstance(l, BinaryLayer) and l.emits_scores:
            raise UnsupportedModelError(
                f"layer '{l.name}': only the last layer may emit scores (it has no thresholds)")

    p = Plan(in_bits=int(model.input_bits), in_signed=bool(model.input_signed))
    p.in_values = int(np.prod(model.input_shape))
    score_bits = _score_bits(last)
    p.out_bits = score_bits
    p.out_values = int(np.prod(last.out_shape))
    # the stream between stages: ("vector", values, bits, signed) or
    # ("pixels", C, H, W, bits, signed): every value is a `bits`-bit integer (two's complement
    # if signed; a 1-bit unsigned value is also a +-1 bit, 1 = +1); helper functions have
    # upper-case suffixes, so they cannot collide with layer names (lower case)
    cur = ("vector", p.in_values, p.in_bits, p.in_signed)
    src = "the network input"

    def check_format(layer, need: tuple[int, bool], what: str):
        if tuple(cur[-2:]) != need:
            got = "bits" if cur[-2:] == (1, False) else _fmt(*cur[-2:])
            raise UnsupportedModelError(
                f"layer '{layer.name}' takes {what}, but {src} gives {got}")

    for layer in model.layers:
        nodes = ", ".join(_comment(n) for n in layer.source_nodes) or "-"
        if isinstance(layer, BinaryLayer):
            if layer.input_kind == "int":
                B, sg = int(layer.input_bits), bool(layer.input_signed)
                if not 1 <= B <= 32:
                    raise UnsupportedModelError(
                        f"layer '{layer.name}': {B}-bit inputs; use an input bit width of 1..32")
                check_format(layer, (B, sg), _fmt(B, sg))
            elif layer.input_kind == "binary":
                B = 1
                check_format(layer, (1, False), "bits (+-1)")
            else:
                raise UnsupportedModelError(
                    f"layer '{layer.name}': input kind {layer.input_kind!r} "
                    "(expected int or binary)")
        if isinstance(layer, BinaryDense):
            perm = None
            if cur[0] == "pixels":
                _, C, H, W, pb, psg = cur
                HW = H * W
                fn = f"{layer.name}_FLATTEN"
                # a pixel of C values of pb bits is one C*pb-bit word: gathering words in
                # pixel order gives the (H, W, C) order for any pb
                p.stages.append(Stage(fn, "flatten.cpp.j2", {
                    "fn": fn, "C": C * pb, "HW": HW,
                    "comment": [f"layer {layer.name}, ONNX node(s): {nodes}: gathers {HW} pixel(s) "
                                f"of {C} x {pb} bit(s) into one {C * pb * HW}-bit vector in "
                                "(H, W, C) order"]},
                    C * pb, C * HW * pb))
                # column (h*W + w)*C + c of the hardware vector is ONNX column c*HW + h*W + w
                perm = np.arange(C * HW).reshape(C, HW).T.reshape(-1)
                if layer.K != C * HW:
                    raise UnsupportedModelError(
                        f"layer '{layer.name}': K={layer.K} but its input has {C}x{H}x{W} values")
            elif layer.K != cur[1]:
                raise UnsupportedModelError(
                    f"layer '{layer.name}': K={layer.K} but its input has {cur[1]} values")
            st = _mvtu_stage(layer, folding[layer.name], perm, score_bits)
            p.stages.append(st)
            cur = ("vector", layer.M) + st.out_fmt
        elif isinstance(layer, (BinaryConv, BinaryMaxPool, IntMaxPool)):
            if len(layer.in_shape) != 3:
                raise UnsupportedModelError(
                    f"layer '{layer.name}': expected a (C, H, W) input, got {layer.in_shape}")
            C, H, W = (int(v) for v in layer.in_shape)
            if cur[0] == "vector":
                vb = cur[2]
                if cur[1] != C * H * W:
                    raise UnsupportedModelError(
                        f"layer '{layer.name}': input {C}x{H}x{W} but the previous stage gives "
                        f"{cur[1]} values")
                fn = f"{layer.name}_PIXELS"
                p.stages.append(Stage(fn, "unflatten.cpp.j2", {
                    "fn": fn, "C": C, "HW": H * W, "B": vb,
                    "comment": [f"layer {layer.name}, ONNX node(s): {nodes}: splits the "
                                f"{C}x{H}x{W} input vector into {H * W} pixel(s) of {C} value(s) "
                                f"of {vb} bit(s)"]},
                    C * H * W * vb, C * vb))
                cur = ("pixels", C, H, W) + tuple(cur[2:])
            elif cur[1:4] != (C, H, W):
                raise UnsupportedModelError(
                    f"layer '{layer.name}': input {C}x{H}x{W} but the previous stage gives "
                    f"{cur[1]}x{cur[2]}x{cur[3]}")
            _, OH, OW = (int(v) for v in layer.out_shape)
            if isinstance(layer, BinaryConv):
                kh, kw = layer.kernel
                sh, sw = (int(v) for v in layer.stride)
                pt, pl, pb, pr = (int(v) for v in layer.pads)
                if layer.input_kind == "binary" and any(layer.pads):
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
                K = C * kh * kw
                fn = f"{layer.name}_WINDOWS"
                vdesc = ("bits" if layer.input_kind == "binary"
                         else _fmt(B, bool(layer.input_signed)))
                p.stages.append(Stage(fn, "swg.cpp.j2", {
                    "fn": fn, "C": C, "H": H, "W": W, "B": B, "K": K, "KH": kh, "KW": kw,
                    "SH": sh, "SW": sw, "PT": pt, "PL": pl, "OH": OH, "OW": OW,
                    "NS": kh + sh, "NEED0": max(0, min(kh - pt, H)),
                    "comment": [f"layer {layer.name}, ONNX node(s): {nodes}: sliding window",
                                f"input {C}x{H}x{W} pixels of {vdesc}, kernel {kh}x{kw}, "
                                f"stride {sh}x{sw}, pads (top, left, bottom, right) = "
                                f"({pt}, {pl}, {pb}, {pr}); {OH * OW} window(s) of K={K} values "
                                "in (c, kh, kw) order"]},
                    C * B, K * B))
                st = _mvtu_stage(layer, folding[layer.name], None, score_bits)
                p.stages.append(st)
                cur = ("pixels", layer.M, OH, OW) + st.out_fmt
            else:
                if isinstance(layer, IntMaxPool):
                    B, signed = int(layer.bits), bool(layer.signed)
                    if not 1 <= B <= 64:
                        raise UnsupportedModelError(
                            f"layer '{layer.name}': {B}-bit values; use 1..64 bits")
                    check_format(layer, (B, signed), _fmt(B, signed))
                else:
                    B, signed = 1, False
                    check_format(layer, (1, False), "bits (+-1)")
                kh, kw = (int(v) for v in layer.kernel)
                sh, sw = (int(v) for v in layer.stride)
                if (H - kh) // sh + 1 != OH or (W - kw) // sw + 1 != OW:
                    raise UnsupportedModelError(
                        f"layer '{layer.name}': output shape {layer.out_shape} does not match "
                        f"kernel/stride")
                andc = getattr(layer, "and_channels", None)
                and_mask = None
                if andc is not None and np.asarray(andc).any():
                    v = sum(1 << c for c in range(C) if bool(andc[c]))
                    and_mask = _hex_word(v, C)
                fn = layer.name
                integer = isinstance(layer, IntMaxPool)
                if integer:
                    what = f": max over the window of {_fmt(B, signed)} per channel"
                else:
                    what = (": OR over the window" + (", AND for the channels in "
                            f"{layer.name}_AND" if and_mask else ""))
                pctx = {"fn": fn, "arr": layer.name, "C": C, "H": H, "W": W, "KH": kh, "KW": kw,
                        "SH": sh, "SW": sw, "OH": OH, "OW": OW, "and_mask": and_mask,
                        "NS": kh + sh, "B": B, "signed": signed, "integer": integer,
                        "comment": [f"layer {layer.name} ({layer.kind}), ONNX node(s): {nodes}",
                                    f"input {C}x{H}x{W} pixels, kernel {kh}x{kw}, stride {sh}x{sw}"
                                    + what]}
                wctx = None
                if and_mask:
                    wctx = {"kind": "and", "arr": layer.name, "C": C, "and_mask": and_mask,
                            "comment": [f"layer {layer.name}: channels pooled with AND (bit c)"]}
                p.stages.append(Stage(fn, "maxpool.cpp.j2", pctx, C * B, C * B, wctx))
                cur = ("pixels", C, OH, OW, B, signed)
        else:
            raise UnsupportedModelError(
                f"layer '{layer.name}' ({layer.kind}) has no HLS implementation")
        src = f"layer '{layer.name}'"

    if cur[0] == "pixels":
        _, C, H, W, E, _sg = cur
        fn = f"{last.name}_COLLECT"
        nodes = ", ".join(_comment(n) for n in last.source_nodes) or "-"
        p.stages.append(Stage(fn, "collect.cpp.j2", {
            "fn": fn, "C": C, "HW": H * W, "E": E,
            "comment": [f"layer {last.name}, ONNX node(s): {nodes}: gathers {H * W} pixel(s) of "
                        f"{C} score(s) into one vector in ONNX (C, H, W) order"]},
            C * E, C * H * W * E))

    p.bound_cycles = pipeline_bound(model, folding)
    for l in model.compute_layers():
        f = folding[l.name]
        p.layer_rows.append(
            f"{l.name}: K={l.K} M={l.M} V={l.V} PE={f.pe} SIMD={f.simd} "
            f"bound={layer_bound(l, f.pe, f.simd)}")
    return p


# -------------------------------------------------------------------------------- write
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True, autoescape=False)


def _check_options(model: Model, top: str, part: str, clock_ns) -> str:
    if not isinstance(top, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", top or ""):
        raise BadOptionError(f"--name {top!r}: the top name must be a C identifier "
                             "(letters, digits, underscores, starting with a letter)")
    if top != names.safe_identifier(top):
        raise BadOptionError(f"--name {top!r}: use {names.safe_identifier(top)!r} "
                             "(lower case, not a keyword)")
    if top in {l.name for l in model.layers}:
        raise BadOptionError(f"--name {top!r} is also a layer's name; pick another top name")
    if not isinstance(part, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", part):
        raise BadOptionError(f"--part {part!r}: expected a part name such as {DEFAULT_PART}")
    try:
        c = float(clock_ns)
    except (TypeError, ValueError):
        c = float("nan")
    if not (math.isfinite(c) and c > 0):
        raise BadOptionError(f"--clock-ns {clock_ns!r}: expected a positive number of ns")
    return f"{c:.10g}"


def render(model: Model, folding: dict[str, LayerFold], top: str = "fi_top",
           part: str = DEFAULT_PART, clock_ns: float = DEFAULT_CLOCK_NS) -> dict[str, str]:
    """All generated files as ``{file name: text}`` (nothing written)."""
    clock = _check_options(model, top, part, clock_ns)
    missing = [l.name for l in model.compute_layers() if l.name not in folding]
    if missing:
        raise BadOptionError(f"no folding for layer(s) {', '.join(missing)}")
    p = plan(model, folding)
    env = _env()

    used = {l.name for l in model.layers} | {top}
    in_port = names.safe_identifier("x_in", used)
    out_port = names.safe_identifier("y_out", used)

    widths = [p.in_values * p.in_bits, p.out_values * p.out_bits]
    functions, streams, calls, wlayers = [], [], [], []
    src = in_port
    for i, st in enumerate(p.stages):
        widths += [st.in_w, st.out_w]
        functions.append(env.get_template(st.template).render(**st.ctx).rstrip("\n"))
        if st.weights is not None:
            wlayers.append(st.weights)
        if i == len(p.stages) - 1:
            dst = out_port
        else:
            dst = f"{st.fn}_OUT"
            streams.append({"name": dst, "width": st.out_w, "depth": 2})
        calls.append({"fn": st.fn, "src": src, "dst": dst})
        src = dst
    for st in p.stages:
        widths += [st.ctx.get("lane_w", 1), st.ctx.get("NF", 1) * st.ctx.get("PE", 1) * st.ctx.get("E", 1)]
    max_w = max(widths)
    if max_w > MAX_AP_WIDTH:
        raise UnsupportedModelError(
            f"a stream of {max_w} bits exceeds ap_int's limit of {MAX_AP_WIDTH}; the HLS backend "
            "carries whole vectors per beat")
    ap_max = 0 if max_w <= 1024 else math.ceil(max_w / 1024) * 1024

    model_comment = _comment(model.name or "model")
    common = {"top": top, "model_comment": model_comment, "in_port": in_port,
              "out_port": out_port, "in_values": p.in_values, "in_bits": p.in_bits,
              "in_signed": p.in_signed, "out_values": p.out_values, "out_bits": p.out_bits,
              "bound_cycles": p.bound_cycles}
    sources = [f"{top}.cpp"]
    headers = [f"{top}.h", "weights.h", "fi_stream.h"]
    files = {
        f"{top}.h": env.get_template("top.h.j2").render(ap_int_max_w=ap_max, **common),
        f"{top}.cpp": env.get_template("top.cpp.j2").render(
            functions=functions, streams=streams, calls=calls, layer_rows=p.layer_rows, **common),
        "weights.h": env.get_template("weights.h.j2").render(layers=wlayers, **common),
        "tb.cpp": env.get_template("tb.cpp.j2").render(**common),
        "Makefile": env.get_template("Makefile.j2").render(
            cxxflags=CXXFLAGS, sources=["tb.cpp"] + sources, headers=headers, **common),
        "run_hls.tcl": env.get_template("run_hls.tcl.j2").render(
            sources=sources + headers, part=part, clock_ns=clock, **common),
    }
    for name in STATIC_FILES:
        files[name] = (TEMPLATE_DIR / name).read_text()
    return files


def write_hls(model: Model, folding: dict[str, LayerFold], out_dir, top: str = "fi_top",
              part: str = DEFAULT_PART, clock_ns: float = DEFAULT_CLOCK_NS) -> list[Path]:
    """Write the HLS project into ``out_dir`` (created if needed); returns the files written.

    Everything is rendered before anything is written, so an error leaves ``out_dir`` as it
    was."""
    files = render(model, folding, top, part, clock_ns)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in sorted(files):
        path = out / name
        path.write_text(files[name])
        written.append(path)
    return written
