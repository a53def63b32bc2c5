"""HLS backend, the stages: a lowered model -> the generated C++ functions and the streams
between them (``plan``), each stage its template, the holes' values and its constants.

A compute layer's stage formats its ``hwplan.MvauPlan`` (``_mvtu_stage``), a conv's window
generator its ``WindowPlan``, a pool its ``PoolPlan``, a join its ``JoinPlan`` and a threshold
its ``ThresholdPlan`` (the plans the RTL backend renders too); what is this backend's own (the
stream format each stage hands to the next, the flatten/unflatten/collect converters, forks,
a join's internal sum width) is decided here. The stream depths of a graph
come from the cycle schedule of the stages (``_program``, ``schedule.fifo_depths``). See the
package docstring (``backends/hls/__init__.py``) for the streams' formats.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ... import names, schedule
from ...errors import UnsupportedModelError
from ...folding import LayerFold, layer_bound, pipeline_bound
from ...hwplan import (hwc_perm, join_plan, mvau_plan, output_word_bits, pool_plan, score_word_bits,
                       threshold_plan, value_format, wide_signed_bits, window_plan)
from ...ir import (INPUT, AddJoin, BinaryConv, BinaryDense, BinaryLayer, BinaryMaxPool, ConcatJoin,
                   IntMaxPool, Model, Threshold)

__all__ = ["Stage", "Plan", "plan"]


# ------------------------------------------------------------------------------ helpers
_signed_bits = wide_signed_bits  # at least 2 bits: an ap_int<1> holds only -1 and 0


def _hex_word(value: int, width: int, cls: str = "ap_uint") -> str:
    """A C++ expression for an unsigned ``width``-bit constant of class ``cls`` (``ap_uint``,
    or ``fi_rom_uint`` in a ``weights.h`` table), in hex."""
    digits = max(1, math.ceil(width / 4))
    text = f"0x{value:0{digits}x}"
    if width <= 32:
        return text
    if width <= 64:
        return text + "ULL"
    return f'{cls}<{width}>("{text}", 16)'


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
    ins: list = field(default_factory=list)  # the streams it reads (C++ names)
    outs: list = field(default_factory=list)  # the streams it writes


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
    streams: dict = field(default_factory=dict)  # internal stream -> width, in creation order
    depths: dict = field(default_factory=dict)  # internal stream -> FIFO depth
    depth_notes: dict = field(default_factory=dict)  # internal stream -> where the depth comes from
    nodes: list = field(default_factory=list)  # the stages as schedule.Node (cycle programs)
    schedule: object = None  # schedule.Schedule of a graph


_score_bits = score_word_bits
_fmt = value_format  # '4-bit unsigned integers'


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
    constants (``weights.h``), formatted from its ``hwplan.MvauPlan``. ``mode`` picks the
    datapath: ``xnor`` (+-1 weights, bits in: XNOR-popcount), ``pm_x`` (+-1 weights, integers
    in: +-x), ``w_pm`` (integer weights, bits in: +-w), ``mul`` (integer weights times integer
    inputs)."""
    pl = mvau_plan(layer, fold, in_perm)
    K, M, V = pl.K, pl.M, pl.V
    PE, SIMD, NF, SF = pl.PE, pl.SIMD, pl.NF, pl.SF
    WB, B, signed, binary = pl.weight_bits, pl.in_bits, pl.in_signed, pl.binary_in
    mode, kind, scores = pl.datapath, pl.output, pl.scores
    lo, hi = pl.acc_lo, pl.acc_hi
    acc_w, thr_w = pl.acc_bits, pl.thr_bits

    # weights: +-1 as bit 1 = +1 (pad lanes 0, masked or times a 0 input); integers as WB-bit
    # two's complement lanes (pad lanes and PE padding 0)
    words = _pack_lanes(pl.lanes(0), SIMD, WB)
    W = []
    for p in range(PE):
        rows = []
        for nf in range(NF):
            j = nf * PE + p
            rows.append({"words": ", ".join(_hex_word(v, SIMD * WB, "fi_rom_uint") for v in words[j]),
                         "neuron": j, "pad": j >= M})
        W.append(rows)

    def per_pe(values: list[int]) -> list[str]:
        return [", ".join(str(values[nf * PE + p]) for nf in range(NF)) for p in range(PE)]

    wctx = {"kind": "mvtu", "arr": layer.name, "SIMD": SIMD, "WB": WB, "PE": PE, "NF": NF,
            "SF": SF, "W": W, "scores": scores, "acc_w": acc_w, "thr_w": thr_w}
    N, E, out_signed, offset, val_w = 0, score_bits, True, 0, 1
    if scores:
        wctx["BIAS"] = per_pe([int(b) for b in pl.bias] + [0] * (NF * PE - M))
        wctx["E"] = E
    else:
        E, out_signed, offset, N = pl.out_bits, pl.out_signed, pl.out_offset, pl.n_thr
        val_w = pl.count_bits
        Tc = pl.clamped_thresholds
        rows_t = [[int(t) for t in Tc[j]] if j < M else [0] * N for j in range(NF * PE)]
        wctx["T"] = [[{"vals": ", ".join(map(str, rows_t[nf * PE + p])), "neuron": nf * PE + p,
                       "pad": nf * PE + p >= M} for nf in range(NF)] for p in range(PE)]
        wctx["N"] = N
        wctx["D"] = per_pe([1 if int(d) > 0 else 0 for d in pl.directions] + [1] * (NF * PE - M))

    bound = layer_bound(layer, PE, SIMD)
    nodes = ", ".join(_comment(n) for n in pl.source_nodes) or "-"
    what = "conv" if pl.conv else "dense"
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
        f"layer {layer.name} ({pl.kind}), ONNX node(s): {nodes}",
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


def _beats(fmt: tuple) -> int:
    return 1 if fmt[0] == "vector" else int(fmt[2] * fmt[3])


def _per_beat(fmt: tuple) -> int:
    return int(fmt[1])


def _width(fmt: tuple) -> int:
    return _per_beat(fmt) * int(fmt[-2])


def _program(kind: str, ctx: dict, n_out: int = 1) -> list:
    """The stage's steps per inference for the cycle schedule (``schedule.Node.program``),
    read off its template's loops: ``(count, reads, writes)`` segments."""
    if kind == "mvtu.cpp.j2":
        steps = ctx["NF"] * ctx["SF"]
        pixel = ([(1, (0,), (0,))] if steps == 1 else
                 [(1, (0,), ())] + ([(steps - 2, (), ())] if steps > 2 else []) + [(1, (), (0,))])
        return pixel * ctx["V"]
    if kind in ("swg.cpp.j2", "maxpool.cpp.j2"):
        H, W, OH, OW, SH, KH = (ctx[k] for k in ("H", "W", "OH", "OW", "SH", "KH"))
        swg = kind == "swg.cpp.j2"
        pt = ctx["PT"] if swg else 0
        nxt = ctx["NEED0"] if swg else KH
        prog = [(nxt * W, (0,), ())] if nxt * W else []
        for oh in range(OH):
            top = oh * SH - pt
            need = H
            if oh + 1 < OH and (top + SH + KH < H or not swg):
                need = top + SH + KH
            reads = (need - nxt) * W
            both = min(reads, OW)
            if both:
                prog.append((both, (0,), (0,)))
            if OW > reads:
                prog.append((OW - reads, (), (0,)))
            elif reads > OW:
                prog.append((reads - OW, (0,), ()))
            nxt = need
        return prog
    if kind in ("flatten.cpp.j2", "collect.cpp.j2"):
        HW = ctx["HW"]
        return ([(HW - 1, (0,), ())] if HW > 1 else []) + [(1, (0,), (0,))]
    if kind == "unflatten.cpp.j2":
        HW = ctx["HW"]
        return [(1, (0,), (0,))] + ([(HW - 1, (), (0,))] if HW > 1 else [])
    if kind == "fork.cpp.j2":
        return [(ctx["BEATS"], (0,), tuple(range(n_out)))]
    if kind == "join.cpp.j2":
        return [(ctx["BEATS"], (0, 1), (0,))]
    if kind == "threshold.cpp.j2":
        return [(ctx["BEATS"], (0,), (0,))]
    raise AssertionError(kind)


def _fmt_desc(fmt: tuple, stream=None) -> str:
    if stream is not None and stream.kind == "bits":
        return "bits (1 = +1, 0 = -1)"
    return _fmt(int(fmt[-2]), bool(fmt[-1]))


def _join_input(fmt: tuple, stream) -> dict:
    bits = stream is not None and stream.kind == "bits"
    return {"W": _width(fmt), "C": _per_beat(fmt), "B": int(fmt[-2]), "signed": bool(fmt[-1]),
            "mode": "bits" if bits else "int", "desc": "a bit as +-1" if bits else _fmt(int(fmt[-2]), bool(fmt[-1]))}


def _threshold_stage(layer: Threshold, fmt: tuple, nodes: str) -> Stage:
    """A ``Threshold`` layer (``threshold.cpp.j2``), formatted from its ``hwplan.ThresholdPlan``."""
    B, sg = int(fmt[-2]), bool(fmt[-1])
    tp = threshold_plan(layer, _per_beat(fmt), B, sg)
    C, N, E, out_signed, offset = tp.C, tp.n_thr, tp.out_bits, tp.out_signed, tp.out_offset
    lo, hi = tp.in_lo, tp.in_hi
    bits_out = tp.output == "bits"
    D = tp.directions
    thr_w = tp.thr_bits
    Tc = tp.clamped_thresholds
    beats = _beats(fmt)
    out_desc = (f"{C} bits, bit c = x_c >= T_c (D_c = 1) or x_c <= T_c (D_c = 0)" if bits_out else
                f"{C} {_fmt(E, out_signed)}, value c = {offset} + #{{i < {N}: x_c >= T[c][i]}} "
                "(D_c = 1; x_c <= T[c][i] if D_c = 0)")
    comment = [f"layer {layer.name} ({layer.kind}), ONNX node(s): {nodes}",
               f"input: {beats} beat(s) of {C} {_fmt(B, sg)}; thresholds clamped to {lo - 1}..{hi + 1}",
               "output: " + out_desc]
    ctx = {"fn": layer.name, "arr": layer.name, "comment": comment, "C": C, "B": B, "signed": sg,
           "E": E, "N": N, "offset": offset, "out_signed": out_signed, "thr_w": thr_w, "BEATS": beats,
           "val_w": tp.count_bits, "nc_w": max(1, N.bit_length())}
    wctx = {"kind": "threshold", "arr": layer.name, "C": C, "N": N, "thr_w": thr_w,
            "T": [", ".join(str(int(t)) for t in row) for row in Tc],
            "D": ", ".join("1" if int(d) > 0 else "0" for d in D),
            "comment": [comment[0], f"thresholds of {C} channel(s), clamped to {lo - 1}..{hi + 1}"]}
    return Stage(layer.name, "threshold.cpp.j2", ctx, C * B, C * E, wctx, (E, out_signed))


def plan(model: Model, folding: dict[str, LayerFold], in_port: str = "x_in",
         out_port: str = "y_out") -> Plan:
    """Decide the generated functions, the streams between them and their depths. A chain
    gives a chain of functions; a graph adds a fork stage where a tensor feeds several layers
    (``fork.cpp.j2``) and sizes the FIFOs from the cycle schedule (``schedule.py``)."""
    if not model.layers:
        raise UnsupportedModelError("the model has no layers")
    if not model.is_lowered:
        bad = next(l for l in model.layers if not l.is_hardware)
        raise UnsupportedModelError(
            f"layer '{bad.name}' ({bad.kind}) was not lowered to a hardware layer")
    try:
        model.check_graph()
    except ValueError as e:
        raise UnsupportedModelError(str(e)) from None
    last = model.layers[-1]
    if not ((isinstance(last, BinaryLayer) and last.emits_scores) or isinstance(last, AddJoin)):
        raise UnsupportedModelError(
            f"layer '{last.name}': the HLS backend needs a score layer (no thresholds) last")
    cons = model.consumers()
    byname = {l.name: l for l in model.layers}
    for l in model.layers[:-1]:
        if isinstance(l, BinaryLayer) and l.emits_scores and not all(
                isinstance(byname[c], (AddJoin, ConcatJoin, Threshold)) for c in cons[l.name]):
            raise UnsupportedModelError(
                f"layer '{l.name}': only the last layer may emit scores (it has no thresholds)")

    p = Plan(in_bits=int(model.input_bits), in_signed=bool(model.input_signed))
    p.in_values = int(np.prod(model.input_shape))
    score_bits = output_word_bits(model)
    p.out_bits = score_bits
    p.out_values = int(np.prod(last.out_shape))
    # the stream format between stages: ("vector", values, bits, signed) or
    # ("pixels", C, H, W, bits, signed): every value is a `bits`-bit integer (two's complement
    # if signed; a 1-bit unsigned value is also a +-1 bit, 1 = +1); helper functions have
    # upper-case suffixes, so they cannot collide with layer names (lower case)
    handed: dict[str, list] = {}  # producer -> [(stream, format)] still to hand to its readers

    def add(st: Stage, ins: list[str], outs: list[str] | None = None) -> str:
        st.ins = list(ins)
        st.outs = outs if outs is not None else [f"{st.fn}_OUT"]
        for o in st.outs:
            p.streams[o] = st.out_w
        p.stages.append(st)
        return st.outs[0]

    def publish(producer: str, stream: str, fmt: tuple, label: str, nodes: str):
        readers = cons.get(producer, [])
        if len(readers) <= 1:
            handed[producer] = [(stream, fmt)]
            return
        fn = f"{label}_FORK"
        outs = []
        for k, r in enumerate(readers):
            o = f"{fn}_TO_{r}"
            outs.append(o if readers.count(r) == 1 else f"{o}_{k}")
        W = _width(fmt)
        what = "the network input" if producer == INPUT else f"layer {producer}"
        st = Stage(fn, "fork.cpp.j2", {
            "fn": fn, "W": W, "N": len(readers), "BEATS": _beats(fmt),
            "comment": [f"fork of {what} (ONNX node(s): {nodes}): one stream duplicated for "
                        + ", ".join(f"out{k} -> layer {r}" for k, r in enumerate(readers))]},
            W, W)
        add(st, [stream], outs)
        handed[producer] = [(o, fmt) for o in outs]

    def check_format(layer, cur, src, need: tuple[int, bool], what: str):
        if tuple(cur[-2:]) != need:
            got = "bits" if cur[-2:] == (1, False) else _fmt(*cur[-2:])
            raise UnsupportedModelError(
                f"layer '{layer.name}' takes {what}, but {src} gives {got}")

    def to_pixels(layer, s, cur, nodes, shape=None, fn=None):
        C, H, W = (int(v) for v in (shape or layer.in_shape))
        vb = cur[2]
        if cur[1] != C * H * W:
            raise UnsupportedModelError(
                f"layer '{layer.name}': input {C}x{H}x{W} but the previous stage gives "
                f"{cur[1]} values")
        fn = fn or f"{layer.name}_PIXELS"
        s = add(Stage(fn, "unflatten.cpp.j2", {
            "fn": fn, "C": C, "HW": H * W, "B": vb,
            "comment": [f"layer {layer.name}, ONNX node(s): {nodes}: splits the "
                        f"{C}x{H}x{W} input vector into {H * W} pixel(s) of {C} value(s) "
                        f"of {vb} bit(s)"]},
            C * H * W * vb, C * vb), [s])
        return s, ("pixels", C, H, W) + tuple(cur[2:])

    publish(INPUT, in_port, ("vector", p.in_values, p.in_bits, p.in_signed), "INPUT", "graph input")
    for i, layer in enumerate(model.layers):
        nodes = ", ".join(_comment(n) for n in layer.source_nodes) or "-"
        srcs = []
        for prod in model.inputs_of(i):
            s, f = handed[prod].pop(0)
            srcs.append((s, f, "the network input" if prod == INPUT else f"layer '{prod}'"))
        s, cur, src = srcs[0]
        if isinstance(layer, BinaryLayer):
            if layer.input_kind == "int":
                B, sg = int(layer.input_bits), bool(layer.input_signed)
                if not 1 <= B <= 32:
                    raise UnsupportedModelError(
                        f"layer '{layer.name}': {B}-bit inputs; use an input bit width of 1..32")
                check_format(layer, cur, src, (B, sg), _fmt(B, sg))
            elif layer.input_kind == "binary":
                B = 1
                check_format(layer, cur, src, (1, False), "bits (+-1)")
            else:
                raise UnsupportedModelError(
                    f"layer '{layer.name}': input kind {layer.input_kind!r} "
                    "(expected int or binary)")
        if isinstance(layer, BinaryLayer) and layer.emits_scores and layer is not last:
            E_scores = mvau_plan(layer, folding[layer.name]).score_exact_bits
        else:
            E_scores = score_bits
        if isinstance(layer, BinaryDense):
            perm = None
            if cur[0] == "pixels":
                _, C, H, W, pb, psg = cur
                HW = H * W
                fn = f"{layer.name}_FLATTEN"
                # a pixel of C values of pb bits is one C*pb-bit word: gathering words in
                # pixel order gives the (H, W, C) order for any pb
                s = add(Stage(fn, "flatten.cpp.j2", {
                    "fn": fn, "C": C * pb, "HW": HW,
                    "comment": [f"layer {layer.name}, ONNX node(s): {nodes}: gathers {HW} pixel(s) "
                                f"of {C} x {pb} bit(s) into one {C * pb * HW}-bit vector in "
                                "(H, W, C) order"]},
                    C * pb, C * HW * pb), [s])
                perm = hwc_perm(C, H, W)  # the hardware vector in (H, W, C) order
                if layer.K != C * HW:
                    raise UnsupportedModelError(
                        f"layer '{layer.name}': K={layer.K} but its input has {C}x{H}x{W} values")
            elif layer.K != cur[1]:
                raise UnsupportedModelError(
                    f"layer '{layer.name}': K={layer.K} but its input has {cur[1]} values")
            st = _mvtu_stage(layer, folding[layer.name], perm, E_scores)
            s = add(st, [s])
            cur = ("vector", layer.M) + st.out_fmt
        elif isinstance(layer, (BinaryConv, BinaryMaxPool, IntMaxPool)):
            if len(layer.in_shape) != 3:
                raise UnsupportedModelError(
                    f"layer '{layer.name}': expected a (C, H, W) input, got {layer.in_shape}")
            C, H, W = (int(v) for v in layer.in_shape)
            if cur[0] == "vector":
                s, cur = to_pixels(layer, s, cur, nodes)
            elif cur[1:4] != (C, H, W):
                raise UnsupportedModelError(
                    f"layer '{layer.name}': input {C}x{H}x{W} but the previous stage gives "
                    f"{cur[1]}x{cur[2]}x{cur[3]}")
            _, OH, OW = (int(v) for v in layer.out_shape)
            if isinstance(layer, BinaryConv):
                wp = window_plan(layer)
                fn = f"{layer.name}_WINDOWS"
                vdesc = "bits" if layer.input_kind == "binary" else _fmt(wp.bits, wp.signed)
                s = add(Stage(fn, "swg.cpp.j2", {
                    "fn": fn, "C": C, "H": H, "W": W, "B": wp.bits, "K": wp.K, "KH": wp.KH,
                    "KW": wp.KW, "SH": wp.SH, "SW": wp.SW, "PT": wp.PT, "PL": wp.PL,
                    "OH": OH, "OW": OW, "NS": wp.KH + wp.SH, "NEED0": max(0, min(wp.KH - wp.PT, H)),
                    "comment": [f"layer {layer.name}, ONNX node(s): {nodes}: sliding window",
                                f"input {C}x{H}x{W} pixels of {vdesc}, kernel {wp.KH}x{wp.KW}, "
                                f"stride {wp.SH}x{wp.SW}, pads (top, left, bottom, right) = "
                                f"{wp.pads}; {OH * OW} window(s) of K={wp.K} values "
                                "in (c, kh, kw) order"]},
                    wp.pixel_bits, wp.window_bits), [s])
                st = _mvtu_stage(layer, folding[layer.name], None, E_scores)
                s = add(st, [s])
                cur = ("pixels", layer.M, OH, OW) + st.out_fmt
            else:
                if isinstance(layer, IntMaxPool):
                    B, signed = int(layer.bits), bool(layer.signed)
                    if not 1 <= B <= 64:
                        raise UnsupportedModelError(
                            f"layer '{layer.name}': {B}-bit values; use 1..64 bits")
                    check_format(layer, cur, src, (B, signed), _fmt(B, signed))
                else:
                    B, signed = 1, False
                    check_format(layer, cur, src, (1, False), "bits (+-1)")
                pp = pool_plan(layer, B, signed)
                and_mask = _hex_word(pp.and_mask, C) if pp.and_mask else None
                fn = layer.name
                if pp.integer:
                    what = f": max over the window of {_fmt(pp.bits, pp.signed)} per channel"
                else:
                    what = (": OR over the window" + (", AND for the channels in "
                            f"{layer.name}_AND" if and_mask else ""))
                pctx = {"fn": fn, "arr": layer.name, "C": C, "H": H, "W": W, "KH": pp.KH,
                        "KW": pp.KW, "SH": pp.SH, "SW": pp.SW, "OH": OH, "OW": OW,
                        "and_mask": and_mask, "NS": pp.KH + pp.SH, "B": pp.bits, "signed": pp.signed,
                        "integer": pp.integer,
                        "comment": [f"layer {layer.name} ({layer.kind}), ONNX node(s): {nodes}",
                                    f"input {C}x{H}x{W} pixels, kernel {pp.KH}x{pp.KW}, stride "
                                    f"{pp.SH}x{pp.SW}" + what]}
                wctx = None
                if and_mask:
                    wctx = {"kind": "and", "arr": layer.name, "C": C, "and_mask": and_mask,
                            "comment": [f"layer {layer.name}: channels pooled with AND (bit c)"]}
                s = add(Stage(fn, "maxpool.cpp.j2", pctx, pp.pixel_bits, pp.pixel_bits, wctx), [s])
                cur = ("pixels", C, OH, OW, pp.bits, pp.signed)
        elif isinstance(layer, (AddJoin, ConcatJoin)):
            if len(srcs) != 2:
                raise UnsupportedModelError(f"layer '{layer.name}': a join takes two inputs")
            pixels = len(layer.in_shape) == 3 and any(f[0] == "pixels" for _, f, _ in srcs)
            ins = []
            for k, (sk, fk, _srck) in enumerate(srcs):
                if pixels and fk[0] == "vector":  # the network input, as pixels
                    H, W = (int(v) for v in layer.in_shape[1:])
                    sk, fk = to_pixels(layer, sk, fk, nodes, (fk[1] // (H * W), H, W),
                                       f"{layer.name}_PIXELS{k}")
                ins.append((sk, fk))
            (s0, f0), (s1, f1) = ins
            jp = join_plan(layer, (_per_beat(f0), _per_beat(f1)),
                           tuple(f[2:4] if f[0] == "pixels" else None for f in (f0, f1)))
            beats, C, lo, hi = jp.beats, jp.elems, jp.lo, jp.hi
            m0, m1 = (_join_input(f, st_) for f, st_ in zip((f0, f1), layer.in_streams))
            if jp.op == "add":
                OB, osg = (score_bits, True) if layer is last else jp.exact_format
                SW = _signed_bits(lo, hi) + 1
                raw = False
                what = f"element-wise add: {m0['desc']} + {m1['desc']} = {lo}..{hi} as {_fmt(OB, osg)}"
            else:
                OB, osg = jp.exact_format
                SW = max(OB, m0["B"], m1["B"]) + 1
                raw = all(m["B"] == OB and m["signed"] == osg for m in (m0, m1))
                what = (f"channel concat: {jp.in_elems[0]} then {jp.in_elems[1]} channel(s) as "
                        + ("bits" if jp.out_kind == "bits" else _fmt(OB, osg)))
            shape_desc = (f"{beats} pixel(s) of {C} channel(s)" if f0[0] == "pixels" else f"one vector of {C} value(s)")
            ctx = {"fn": layer.name, "op": jp.op, "raw": raw, "ins": [m0, m1], "C": C, "OB": OB,
                   "out_signed": osg, "OW": C * OB, "SW": SW, "BEATS": beats,
                   "comment": [f"layer {layer.name} ({layer.kind}), ONNX node(s): {nodes}",
                               f"{what}; {shape_desc} per inference",
                               f"in0: {srcs[0][2]}, in1: {srcs[1][2]}"]}
            s = add(Stage(layer.name, "join.cpp.j2", ctx, m0["W"], C * OB), [s0, s1])
            cur = ((f0[0],) + ((C,) if f0[0] == "vector" else (C,) + tuple(f0[2:4])) + (OB, osg))
        elif isinstance(layer, Threshold):
            st = _threshold_stage(layer, cur, nodes)
            s = add(st, [s])
            cur = cur[:-2] + st.out_fmt
        else:
            raise UnsupportedModelError(
                f"layer '{layer.name}' ({layer.kind}) has no HLS implementation")
        publish(layer.name, s, cur, layer.name, nodes)

    s, cur = handed[last.name][0]
    if cur[0] == "pixels":
        _, C, H, W, E, _sg = cur
        fn = f"{last.name}_COLLECT"
        nodes = ", ".join(_comment(n) for n in last.source_nodes) or "-"
        add(Stage(fn, "collect.cpp.j2", {
            "fn": fn, "C": C, "HW": H * W, "E": E,
            "comment": [f"layer {last.name}, ONNX node(s): {nodes}: gathers {H * W} pixel(s) of "
                        f"{C} score(s) into one vector in ONNX (C, H, W) order"]},
            C * E, C * H * W * E), [s])
    final = p.stages[-1]
    del p.streams[final.outs[0]]
    final.outs = [out_port]

    p.bound_cycles = pipeline_bound(model, folding)
    for l in model.compute_layers():
        f = folding[l.name]
        p.layer_rows.append(
            f"{l.name}: K={l.K} M={l.M} V={l.V} PE={f.pe} SIMD={f.simd} "
            f"bound={layer_bound(l, f.pe, f.simd)}")
    _size_fifos(p, model, in_port, out_port)
    return p


def _size_fifos(p: Plan, model: Model, in_port: str, out_port: str) -> None:
    """Stream depths: 2 in a chain (each stage reads as fast as the one before writes); in a
    graph, the depths of ``schedule.fifo_depths`` on the stages' cycle programs."""
    nodes = [schedule.Node(st.fn, st.ins, st.outs, _program(st.template, st.ctx, len(st.outs)))
             for st in p.stages]
    p.nodes = nodes
    if model.is_chain:
        p.depths = {s: 2 for s in p.streams}
        return
    sch = schedule.fifo_depths(nodes, in_port, out_port)
    p.schedule = sch
    p.depths = dict(sch.depths)
    writer = {o: st.fn for st in p.stages for o in st.outs}
    reader = {i: st.fn for st in p.stages for i in st.ins}
    for s in p.streams:
        w, r = writer[s], reader[s]
        d, occ = p.depths[s], sch.occupancy[s]
        p.depth_notes[s] = (
            f"depth {d}: cycle schedule (fastinference/schedule.py) at {sch.interval} cycles per "
            f"inference: it holds up to {occ} beat(s); {w} first writes at cycle "
            f"{sch.start.get(w, 0)}, {r} first reads at cycle {sch.start.get(r, 0)}"
            + (f"; {d - max(2, occ)} more so that an always-valid input keeps that rate"
               if d > max(2, occ) else "")
            + ("; at least 2" if occ < 2 else ""))
