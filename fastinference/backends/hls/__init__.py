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
order, so its weight columns are permuted from ONNX's (C, H, W) order.

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


def _pack_rows(bits: np.ndarray, simd: int) -> list[list[int]]:
    """(R, SF*SIMD) of 0/1 -> per row, SF ints, bit i of word s = bits[r, s*SIMD + i]."""
    R, total = bits.shape
    SF = total // simd
    b = bits.reshape(R, SF, simd).astype(object)
    weights = [1 << i for i in range(simd)]
    return [[int(sum(int(v) * wt for v, wt in zip(b[r, s], weights) if v)) for s in range(SF)]
            for r in range(R)]


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
    m = max(abs(lo), abs(hi))
    bias = layer.bias if layer.bias is not None else np.zeros(layer.M, dtype=np.int64)
    need = _signed_bits(-m + int(bias.min()), m + int(bias.max()))
    if need <= 32:
        return 32
    if need <= 64:
        return 64
    raise UnsupportedModelError(
        f"layer '{layer.name}': scores need {need} bits; at most 64 are supported")


def _mvtu_stage(layer: BinaryLayer, fold: LayerFold, in_perm: np.ndarray | None,
                in_bits: int, score_bits: int) -> Stage:
    K, M, V = layer.K, layer.M, layer.V
    PE, SIMD = fold.pe, fold.simd
    if not (1 <= PE <= M and 1 <= SIMD <= K):
        raise BadOptionError(
            f"layer '{layer.name}': PE={PE}, SIMD={SIMD} out of range (PE 1..{M}, SIMD 1..{K})")
    NF, SF = math.ceil(M / PE), math.ceil(K / SIMD)
    binary = layer.input_kind == "binary"
    B = 1 if binary else in_bits
    signed = bool(layer.input_signed) and not binary
    scores = layer.emits_scores
    E = score_bits if scores else 1

    # accumulator: the symmetric reachable range (covers padded neurons too), plus one on
    # either side for clamped thresholds
    lo_in, hi_in = layer.input_range()
    m = K * max(abs(lo_in), abs(hi_in))
    acc_w = _signed_bits(-m - 1, m + 1)

    w = np.asarray(layer.weights).reshape(M, K)
    if in_perm is not None:
        w = w[:, in_perm]
    bits = np.zeros((NF * PE, SF * SIMD), dtype=np.uint8)
    bits[:M, :K] = (w > 0)
    words = _pack_rows(bits, SIMD)
    W = []
    for p in range(PE):
        rows = []
        for nf in range(NF):
            j = nf * PE + p
            rows.append({"words": ", ".join(_hex_word(v, SIMD) for v in words[j]),
                         "neuron": j, "pad": j >= M})
        W.append(rows)

    def per_pe(values: list[int]) -> list[str]:
        return [", ".join(str(values[nf * PE + p]) for nf in range(NF)) for p in range(PE)]

    wctx = {"kind": "mvtu", "arr": layer.name, "SIMD": SIMD, "PE": PE, "NF": NF, "SF": SF,
            "W": W, "scores": scores, "E": E, "acc_w": acc_w}
    if scores:
        bias = layer.bias if layer.bias is not None else np.zeros(M, dtype=np.int64)
        wctx["BIAS"] = per_pe([int(b) for b in bias] + [0] * (NF * PE - M))
    else:
        # clamping to [-m-1, m+1] keeps every comparison's outcome over reachable acc
        T = np.clip(np.asarray(layer.thresholds, dtype=object), -m - 1, m + 1)
        D = [1 if int(d) > 0 else 0 for d in layer.directions]
        if any(int(d) not in (1, -1) for d in layer.directions):
            raise UnsupportedModelError(f"layer '{layer.name}': directions must be +1 or -1")
        wctx["T"] = per_pe([int(t) for t in T] + [0] * (NF * PE - M))
        wctx["D"] = per_pe(D + [1] * (NF * PE - M))

    bound = layer_bound(layer, PE, SIMD)
    nodes = ", ".join(_comment(n) for n in layer.source_nodes) or "-"
    what = "conv" if isinstance(layer, BinaryConv) else "dense"
    comment = [
        f"layer {layer.name} ({layer.kind}), ONNX node(s): {nodes}",
        f"K={K} M={M} V={V} PE={PE} SIMD={SIMD}: NF={NF} neuron fold(s) x SF={SF} input fold(s)"
        + (f" x V={V} pixels" if V > 1 else "") + f", bound {bound} cycles per inference",
        f"input: {'bits' if binary else f'{B}-bit ' + ('signed' if signed else 'unsigned') + ' integers'}"
        + (f" (window of {what}, one per output pixel)" if V > 1 or what == "conv" else "")
        + ("; columns in (H, W, C) order" if in_perm is not None else ""),
        "output: " + (f"{M} scores acc + bias of {E} bits" if scores else
                      f"{M} bits, bit j = acc_j >= T_j (D_j = 1) or acc_j <= T_j (D_j = 0)"),
    ]
    wctx["comment"] = [comment[0], comment[1]]
    ctx = {"fn": layer.name, "arr": layer.name, "comment": comment, "K": K, "M": M, "V": V,
           "PE": PE, "SIMD": SIMD, "NF": NF, "SF": SF, "B": B, "binary": binary,
           "signed": signed, "scores": scores, "E": E, "acc_w": acc_w,
           "cnt_w": SIMD.bit_length() + 1, "in_w": K * B, "out_w": M * E,
           "lane_w": SIMD * B, "tail": K - (SF - 1) * SIMD,
           "rom_impl": "lutram" if NF * SF * SIMD <= 1024 else "bram"}
    return Stage(layer.name, "mvtu.cpp.j2", ctx, K * B, M * E, wctx)


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
    # the stream between stages: ("vector", values, bits per value) or
    # ("pixels", C, H, W, bits per value); helper functions have upper-case suffixes, so they
    # cannot collide with layer names (lower case)
    cur = ("vector", p.in_values, p.in_bits)
    first_compute = True
    for li, layer in enumerate(model.layers):
        nodes = ", ".join(_comment(n) for n in layer.source_nodes) or "-"
        if isinstance(layer, BinaryLayer):
            if layer.input_kind == "int":
                if not first_compute or not all(isinstance(l, IntMaxPool) for l in model.layers[:li]):
                    raise UnsupportedModelError(
                        f"layer '{layer.name}': integer inputs are only supported in the first layer")
                if int(layer.input_bits) != p.in_bits or bool(layer.input_signed) != p.in_signed:
                    raise UnsupportedModelError(
                        f"layer '{layer.name}': input format ({layer.input_bits} bits, "
                        f"signed={layer.input_signed}) differs from the model's "
                        f"({model.input_bits} bits, signed={model.input_signed})")
                B = p.in_bits
            else:
                if layer is model.layers[0] and p.in_bits != 1:
                    raise UnsupportedModelError(
                        f"layer '{layer.name}' takes bits but the model input has {p.in_bits} bits")
                B = 1
            first_compute = False
        if isinstance(layer, BinaryDense):
            perm = None
            if cur[0] == "pixels":
                _, C, H, W, pb = cur
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
            st = _mvtu_stage(layer, folding[layer.name], perm, B, score_bits)
            p.stages.append(st)
            cur = ("vector", layer.M, st.ctx["E"])
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
                                f"{C}x{H}x{W} input vector into {H * W} pixel(s) of {C} value(s)"]},
                    C * H * W * vb, C * vb))
                cur = ("pixels", C, H, W, vb)
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
                p.stages.append(Stage(fn, "swg.cpp.j2", {
                    "fn": fn, "C": C, "H": H, "W": W, "B": B, "K": K, "KH": kh, "KW": kw,
                    "SH": sh, "SW": sw, "PT": pt, "PL": pl, "OH": OH, "OW": OW,
                    "NS": kh + sh, "NEED0": max(0, min(kh - pt, H)),
                    "comment": [f"layer {layer.name}, ONNX node(s): {nodes}: sliding window",
                                f"input {C}x{H}x{W} pixels, kernel {kh}x{kw}, stride {sh}x{sw}, "
                                f"pads (top, left, bottom, right) = ({pt}, {pl}, {pb}, {pr}); "
                                f"{OH * OW} window(s) of K={K} values in (c, kh, kw) order"]},
                    C * B, K * B))
                st = _mvtu_stage(layer, folding[layer.name], None, B, score_bits)
                p.stages.append(st)
                cur = ("pixels", layer.M, OH, OW, st.ctx["E"])
            else:
                B = 1
                if isinstance(layer, IntMaxPool):
                    B = int(layer.bits)
                    if not all(isinstance(l, IntMaxPool) for l in model.layers[:li]) \
                            or B != p.in_bits or bool(layer.signed) != p.in_signed:
                        raise UnsupportedModelError(
                            f"layer '{layer.name}': integer max pooling is only supported on the "
                            f"network input ({p.in_bits}-bit, signed={p.in_signed})")
                if cur[4] != B:
                    raise UnsupportedModelError(
                        f"layer '{layer.name}': max pooling of {B}-bit values, but its input "
                        f"has {cur[4]}-bit values")
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
                signed = bool(getattr(layer, "signed", False))
                if isinstance(layer, IntMaxPool):
                    what = (f": max over the window of {B}-bit "
                            f"{'signed' if signed else 'unsigned'} integers per channel")
                else:
                    what = (": OR over the window" + (", AND for the channels in "
                            f"{layer.name}_AND" if and_mask else ""))
                pctx = {"fn": fn, "arr": layer.name, "C": C, "H": H, "W": W, "KH": kh, "KW": kw,
                        "SH": sh, "SW": sw, "OH": OH, "OW": OW, "and_mask": and_mask,
                        "NS": kh + sh, "B": B, "signed": signed,
                        "comment": [f"layer {layer.name} ({layer.kind}), ONNX node(s): {nodes}",
                                    f"input {C}x{H}x{W} pixels, kernel {kh}x{kw}, stride {sh}x{sw}"
                                    + what]}
                wctx = None
                if and_mask:
                    wctx = {"kind": "and", "arr": layer.name, "C": C, "and_mask": and_mask,
                            "comment": [f"layer {layer.name}: channels pooled with AND (bit c)"]}
                p.stages.append(Stage(fn, "maxpool.cpp.j2", pctx, C * B, C * B, wctx))
                cur = ("pixels", C, OH, OW, B)
        else:
            raise UnsupportedModelError(
                f"layer '{layer.name}' ({layer.kind}) has no HLS implementation")

    if cur[0] == "pixels":
        _, C, H, W, E = cur
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
