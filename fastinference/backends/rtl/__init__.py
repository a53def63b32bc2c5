"""RTL backend: a lowered dense BNN to a SystemVerilog project (``DIR/rtl``).

The generated top chains one hand-written ``mvtu`` (matrix-vector-threshold unit) per dense
layer with ``stream_fifo`` s between them, behind an AXI4-Stream slave (one beat = one input
vector) and master (one beat = all class scores). Weights and thresholds go to
``$readmemh`` files next to the top (relative names: run simulators and Yosys from the
folder). The writer also copies the hand-written modules, the cocotb testbench and writes
``filelist.f``, ``Makefile`` (``make sim SIM=verilator|icarus``) and ``tb_config.json``.

Everything written is a pure function of (model, folding, top, part, clock_ns): no time
stamps, no absolute paths, so the output is byte-identical across runs.
"""
from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np

from ... import resources
from ...errors import BadOptionError, UnsupportedModelError
from ...folding import LayerFold, layer_bound, pipeline_bound
from ...ir import BinaryConv, BinaryDense, BinaryLayer, BinaryMaxPool, IntMaxPool, Model
from ...names import safe_comment

TEMPLATES = resources.rtl_templates()  # rtl_templates/ (in the wheel: fastinference/_data/)
SIM_DIR = resources.sim_dir()

#: testbench files copied from ``sim/``
TB_FILES = ("fi_tb.py", "fi_runner.py")
FIFO_DEPTH = 2
SCORE_BITS = 32


@dataclass
class RtlLayer:
    """What the top template needs about one layer (all plain values)."""

    name: str
    kind: str
    nodes: str
    K: int
    M: int
    PE: int
    SIMD: int
    bound: int
    binary: bool
    in_bits: int
    in_signed: bool
    scores: bool
    acc_width: int
    weight_file: str
    thresh_file: str
    input_desc: str

    @property
    def in_width(self) -> int:
        return self.K * self.in_bits

    @property
    def out_width(self) -> int:
        return self.M * (SCORE_BITS if self.scores else 1)


def _signed_width(lo: int, hi: int) -> int:
    """Bits of a two's complement number holding every value in lo..hi."""
    w = 1
    while not (-(1 << (w - 1)) <= lo and hi <= (1 << (w - 1)) - 1):
        w += 1
    return w


def _hex_lines(words: list[int], bits: int) -> str:
    digits = max(1, math.ceil(bits / 4))
    return "".join(f"{w:0{digits}x}\n" for w in words)


def acc_bound(layer: BinaryLayer) -> int:
    """Largest |acc| any input can reach (symmetric bound used for widths and clamping)."""
    lo, hi = layer.input_range()
    return layer.K * max(abs(lo), abs(hi))


def acc_width(layer: BinaryLayer) -> int:
    """Accumulator width: holds +-(bound+1) (clamped thresholds), the popcount K and one
    more bit than the input integers."""
    a = acc_bound(layer) + 1
    bits = 1 if layer.input_kind == "binary" else layer.input_bits
    return max(_signed_width(-a, a), bits + 1, _signed_width(0, layer.K))


def weight_words(layer: BinaryLayer, pe: int, simd: int) -> list[int]:
    """ROM words: address nf*SF+sf, bit p*SIMD+s = weight bit (1 = +1) of neuron nf*PE+p,
    input sf*SIMD+s; pad positions 0."""
    K, M = layer.K, layer.M
    SF, NF = math.ceil(K / simd), math.ceil(M / pe)
    w = np.zeros((NF * pe, SF * simd), dtype=np.uint8)
    w[:M, :K] = (layer.weights.reshape(M, K) > 0)
    words = []
    for nf in range(NF):
        for sf in range(SF):
            block = w[nf * pe:(nf + 1) * pe, sf * simd:(sf + 1) * simd].reshape(-1)  # p*SIMD+s
            words.append(int.from_bytes(np.packbits(block, bitorder="little").tobytes(), "little"))
    return words


def thresh_words(layer: BinaryLayer, pe: int, accw: int) -> tuple[list[int], int]:
    """ROM words of NF entries, lane p at [p*ThrW +: ThrW]: {dir, T} with T clamped to
    +-(bound+1) (same comparisons on every reachable acc), or the 32-bit bias of scores."""
    M = layer.M
    NF = math.ceil(M / pe)
    if layer.emits_scores:
        thr_w = SCORE_BITS
        bias = layer.bias if layer.bias is not None else np.zeros(M, dtype=np.int64)
        vals = [int(b) & ((1 << thr_w) - 1) for b in bias]
    else:
        thr_w = accw + 1
        a = acc_bound(layer) + 1
        vals = []
        for t, d in zip(layer.thresholds, layer.directions):
            t = min(max(int(t), -a), a)
            vals.append(((1 if int(d) > 0 else 0) << accw) | (t & ((1 << accw) - 1)))
    vals += [0] * (NF * pe - M)
    words = []
    for nf in range(NF):
        word = 0
        for p in range(pe):
            word |= vals[nf * pe + p] << (p * thr_w)
        words.append(word)
    return words, pe * thr_w


def multibit_reason(model: Model) -> str | None:
    """Why the RTL backend cannot build this model yet (multi-bit weights or activations), or
    None. The multi-bit RTL datapath is its own piece of work; until then such models compile
    to HLS only."""
    for l in model.compute_layers():
        if l.weight_bits > 1 or l.output_kind == "int":
            what = (f"{l.weight_bits}-bit weights" if l.weight_bits > 1 else f"{l.out_bits}-bit activations")
            return (f"layer '{l.name}' has {what}: the RTL backend supports binarized layers only so far; "
                    "use --backend hls for quantized networks")
    return None


def check_supported(model: Model) -> None:
    if not model.layers:
        raise UnsupportedModelError("the model has no layers; nothing to compile to RTL")
    reason = multibit_reason(model)
    if reason:
        raise UnsupportedModelError(reason)
    compute = model.compute_layers()
    for i, l in enumerate(compute):
        if i > 0 and l.input_kind != "binary":
            raise UnsupportedModelError(
                f"layer '{l.name}': only the first layer may take integer inputs")
        if l is not compute[-1] and l.emits_scores:
            raise UnsupportedModelError(
                f"layer '{l.name}' emits scores but is not the last layer")
    last = model.layers[-1]
    if not isinstance(last, BinaryDense):
        raise UnsupportedModelError(
            f"layer '{last.name}' ({last.kind}): the network must end with a dense layer (scores)")
    bias = last.bias if last.bias is not None else np.zeros(last.M, dtype=np.int64)
    if acc_bound(last) + int(np.abs(bias).max(initial=0)) > (1 << (SCORE_BITS - 1)) - 1:
        raise UnsupportedModelError(
            f"layer '{last.name}': scores can exceed 32-bit two's complement")


def hardware_weights(layer: BinaryLayer, pixel_input: bool) -> np.ndarray:
    """(M, K) +-1 weights in the element order the hardware feeds the layer: a conv sees
    windows in (kh, kw, c) order (sliding_window); a dense layer fed by a pixel stream sees
    its input in (h, w, c) order (pixel_collector) instead of ONNX's (c, h, w)."""
    w = layer.weights
    if isinstance(layer, BinaryConv):
        w = w.transpose(0, 2, 3, 1)
    elif pixel_input and len(layer.in_shape) == 3:
        C, H, W = layer.in_shape
        w = w.reshape(layer.M, C, H, W).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(w).reshape(layer.M, -1)


def _mvtu_info(l: BinaryLayer, f: LayerFold) -> RtlLayer:
    binary = l.input_kind == "binary"
    in_bits = 1 if binary else int(l.input_bits)
    in_signed = bool(l.input_signed) and not binary
    accw = acc_width(l)
    if l.emits_scores and accw > SCORE_BITS:
        raise UnsupportedModelError(f"layer '{l.name}': accumulator wider than 32 bits")
    desc = "bits (XNOR-popcount)" if binary else \
        f"{in_bits}-bit {'signed' if in_signed else 'unsigned'} integers"
    return RtlLayer(
        name=l.name, kind=l.kind, nodes=safe_comment(", ".join(l.source_nodes) or "(none)"),
        K=l.K, M=l.M, PE=f.pe, SIMD=f.simd, bound=layer_bound(l, f.pe, f.simd),
        binary=binary, in_bits=in_bits, in_signed=in_signed, scores=l.emits_scores,
        acc_width=accw, weight_file=f"{l.name}_w.mem", thresh_file=f"{l.name}_t.mem",
        input_desc=desc)


@dataclass
class Stage:
    """One block of the generated top: a module instance with valid/ready on both sides."""

    name: str
    module: str
    params: list[tuple[str, str]]
    in_width: int
    out_width: int
    comments: list[str]
    image_cycles: int = 0  # cycles per image of a pixel-stream block (0: vector block)


def _mvtu_stage(r: RtlLayer) -> Stage:
    return Stage(
        name=r.name, module="mvtu",
        params=[("K", str(r.K)), ("M", str(r.M)), ("PE", str(r.PE)), ("SIMD", str(r.SIMD)),
                ("Binary", f"1'b{int(r.binary)}"), ("InBits", str(r.in_bits)),
                ("InSigned", f"1'b{int(r.in_signed)}"), ("Scores", f"1'b{int(r.scores)}"),
                ("AccWidth", str(r.acc_width)), ("WeightFile", f'"{r.weight_file}"'),
                ("ThreshFile", f'"{r.thresh_file}"')],
        in_width=r.in_width, out_width=r.out_width,
        comments=[f"{r.kind} from ONNX node(s): {r.nodes}",
                  f"K={r.K} M={r.M} PE={r.PE} SIMD={r.SIMD} bound={r.bound} cycles/inference",
                  f"input: {r.input_desc}; output: {'32-bit scores' if r.scores else 'bits'}"])


def build_stages(model: Model, folding: dict[str, LayerFold]) -> tuple[list[Stage], list[tuple[BinaryLayer, RtlLayer, np.ndarray]]]:
    """The chain of blocks, and per compute layer its ROM description and hardware weights.

    A conv net streams pixels (one beat = one pixel) between pixel_serializer, sliding_window,
    the conv's mvtu (one window in, one output pixel out) and the pools (binary_maxpool for
    square bit pools with stride = kernel, maxpool for any other kernel, stride or integer
    values); a pixel_collector gathers the last image into the vector a dense layer takes."""
    stages: list[Stage] = []
    roms = []
    pixels = False  # does a pixel stream flow at this point?
    pix_bits = 1  # bits per value of that stream
    for i, l in enumerate(model.layers):
        nodes = safe_comment(", ".join(l.source_nodes) or "(none)")
        if isinstance(l, BinaryConv):
            C, H, W = l.in_shape
            bits = 1 if l.input_kind == "binary" else int(l.input_bits)
            if not pixels:
                stages.append(Stage(
                    name=f"{l.name}_ser", module="pixel_serializer",
                    params=[("N", str(H * W)), ("PixW", str(C * bits))],
                    in_width=H * W * C * bits, out_width=C * bits, image_cycles=H * W,
                    comments=[f"image vector -> {H * W} pixels of {C} x {bits} bits"]))
            kh, kw = l.kernel
            OH, OW = l.out_shape[1:]
            pt, pl, pb, pr = l.pads
            if max(pt, pb) >= kh or max(pl, pr) >= kw:
                raise UnsupportedModelError(f"layer '{l.name}': padding as large as the kernel is not supported in RTL")
            stages.append(Stage(
                name=f"{l.name}_win", module="sliding_window",
                params=[("C", str(C)), ("H", str(H)), ("W", str(W)), ("BITS", str(bits)),
                        ("KH", str(kh)), ("KW", str(kw)), ("StrideH", str(l.stride[0])),
                        ("StrideW", str(l.stride[1])), ("PadT", str(pt)), ("PadL", str(pl)),
                        ("PadB", str(pb)), ("PadR", str(pr))],
                in_width=C * bits, out_width=kh * kw * C * bits, image_cycles=max(H * W, OH * OW),
                comments=[f"windows {kh}x{kw}, stride {l.stride[0]}x{l.stride[1]}, pads {pt},{pl},{pb},{pr} "
                          f"of {C}x{H}x{W} for {l.name}"]))
            r = _mvtu_info(l, folding[l.name])
            stages.append(_mvtu_stage(r))
            roms.append((l, r, hardware_weights(l, True)))
            pixels, pix_bits = not l.emits_scores, 1
        elif isinstance(l, (BinaryMaxPool, IntMaxPool)):
            C, H, W = l.in_shape
            OH, OW = l.out_shape[1:]
            k = tuple(int(v) for v in l.kernel)
            st = tuple(int(v) for v in l.stride)
            if isinstance(l, IntMaxPool):
                if not all(isinstance(p, IntMaxPool) for p in model.layers[:i]):
                    raise UnsupportedModelError(
                        f"layer '{l.name}': integer max pooling is only supported on the network input")
                bits, signed = int(l.bits), bool(l.signed)
            else:
                bits, signed = 1, False
            if not pixels:
                stages.append(Stage(
                    name=f"{l.name}_ser", module="pixel_serializer",
                    params=[("N", str(H * W)), ("PixW", str(C * bits))],
                    in_width=H * W * C * bits, out_width=C * bits, image_cycles=H * W,
                    comments=[f"image vector -> {H * W} pixels of {C} x {bits} bits"]))
            mask = 0
            if getattr(l, "and_channels", None) is not None:
                for c, a in enumerate(l.and_channels):
                    mask |= int(bool(a)) << c
            what = (f"max over the window of {bits}-bit {'signed' if signed else 'unsigned'} integers"
                    if isinstance(l, IntMaxPool) else
                    "OR over the window; AND for channels set in AndMask (pool before a decreasing threshold)")
            head = (f"{'integer' if isinstance(l, IntMaxPool) else 'binary'} max pool {k[0]}x{k[1]}, "
                    f"stride {st[0]}x{st[1]} of {C}x{H}x{W} from ONNX node(s): {nodes}")
            if bits == 1 and k[0] == k[1] and st == k:
                # the common case: a cheaper block (OW x C flops instead of a line buffer)
                stages.append(Stage(
                    name=l.name, module="binary_maxpool",
                    params=[("C", str(C)), ("H", str(H)), ("W", str(W)), ("K", str(k[0])),
                            ("Stride", str(st[0])), ("AndMask", f"{C}'h{mask:x}")],
                    in_width=C, out_width=C, image_cycles=H * W, comments=[head, what]))
            else:
                stages.append(Stage(
                    name=l.name, module="maxpool",
                    params=[("C", str(C)), ("H", str(H)), ("W", str(W)), ("Bits", str(bits)),
                            ("Signed", f"1'b{int(signed)}"), ("KH", str(k[0])), ("KW", str(k[1])),
                            ("StrideH", str(st[0])), ("StrideW", str(st[1])),
                            ("AndMask", f"{C}'h{mask:x}")],
                    in_width=C * bits, out_width=C * bits, image_cycles=max(H * W, OH * OW),
                    comments=[head, what]))
            pixels, pix_bits = True, bits
        elif isinstance(l, BinaryDense):
            if pixels:
                C, H, W = l.in_shape
                stages.append(Stage(
                    name=f"{l.name}_col", module="pixel_collector",
                    params=[("C", str(C)), ("N", str(H * W)), ("BITS", str(pix_bits))],
                    in_width=C * pix_bits, out_width=H * W * C * pix_bits, image_cycles=H * W,
                    comments=[f"{H * W} pixels -> one vector (HWC order) for {l.name}"]))
            r = _mvtu_info(l, folding[l.name])
            stages.append(_mvtu_stage(r))
            roms.append((l, r, hardware_weights(l, pixels)))
            pixels = False
        else:
            raise UnsupportedModelError(f"layer '{l.name}' ({l.kind}) is not supported by the RTL backend")
    return stages, roms


def stream_cycles(stages: list[Stage]) -> int:
    """Cycles per image the pixel-stream blocks need (0 for an MLP); the pipeline runs at
    max(layer bounds, this)."""
    return max((s.image_cycles for s in stages), default=0)


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)


def _write(path: Path, text: str) -> None:
    path.write_bytes(text.encode("ascii"))


def write_rtl(model: Model, folding: dict[str, LayerFold], out_dir, top: str = "fi_top",
              part: str = "xc7z020clg400-1", clock_ns: float = 10.0) -> Path:
    """Fill ``out_dir`` (``DIR/rtl``) with the SystemVerilog project. Returns ``out_dir``."""
    from ... import __version__

    check_supported(model)
    for l in model.compute_layers():
        if l.name not in folding:
            raise BadOptionError(f"no folding given for layer '{l.name}'")
    stages, roms = build_stages(model, folding)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    for l, rl, w in roms:
        hw = l.copy()
        hw.weights = w
        _write(out / rl.weight_file, _hex_lines(weight_words(hw, rl.PE, rl.SIMD), rl.PE * rl.SIMD))
        words, bits = thresh_words(l, rl.PE, rl.acc_width)
        _write(out / rl.thresh_file, _hex_lines(words, bits))

    first_layer = model.layers[0]
    if isinstance(first_layer, IntMaxPool):
        in_bits, in_signed = int(first_layer.bits), bool(first_layer.signed)
    else:
        in_bits = 1 if first_layer.input_kind == "binary" else int(first_layer.input_bits)
        in_signed = bool(first_layer.input_signed) and first_layer.input_kind != "binary"
    in_elems = int(np.prod(model.input_shape))
    image_input = stages[0].module == "pixel_serializer"
    last = roms[-1][1]
    bound = pipeline_bound(model, folding)
    s_cycles = stream_cycles(stages)
    ctx = dict(
        top=top, version=__version__, model_comment=safe_comment(model.name or "model"),
        in_elems=in_elems, in_bits=in_bits, in_signed=in_signed, in_width=in_elems * in_bits,
        classes=last.M, out_width=last.M * SCORE_BITS, bound=bound, stream_cycles=s_cycles,
        cycles=max(bound, s_cycles), stages=stages, fifo_depth=FIFO_DEPTH, last_bits=not last.scores,
        image_input=image_input,
        channels=int(model.input_shape[0]) if image_input else 0,
        pixels=int(np.prod(model.input_shape[1:])) if image_input else 0)
    _write(out / f"{top}.sv", _env().get_template("top.sv.j2").render(**ctx))

    used = {f"{s.module}.sv" for s in stages}
    if "maxpool.sv" in used:  # maxpool instantiates a sliding_window
        used.add("sliding_window.sv")
    modules = ["stream_fifo.sv", "adder_tree.sv", "mvtu.sv"] + sorted(used - {"mvtu.sv"})
    for m in modules:
        shutil.copyfile(TEMPLATES / m, out / m)
    for f in TB_FILES:
        shutil.copyfile(SIM_DIR / f, out / f)
    sources = modules + [f"{top}.sv"]
    _write(out / "filelist.f", "".join(s + "\n" for s in sources))
    config = {
        "top": top, "sources": sources, "in_elems": in_elems, "in_bits": in_bits,
        "in_signed": in_signed, "classes": last.M, "score_bits": SCORE_BITS,
        "bound_cycles": bound, "stream_cycles": s_cycles, "expected_cycles": max(bound, s_cycles),
        "layers": len(roms), "part": part, "clock_ns": clock_ns,
    }
    _write(out / "tb_config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")
    _write(out / "Makefile", _env().get_template("Makefile.j2").render(**ctx))
    return out
