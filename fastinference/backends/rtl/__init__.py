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

from ...errors import BadOptionError, UnsupportedModelError
from ...folding import LayerFold, layer_bound, pipeline_bound
from ...ir import BinaryDense, BinaryLayer, Model
from ...names import safe_comment

REPO = Path(__file__).resolve().parents[3]
TEMPLATES = REPO / "rtl_templates"
SIM_DIR = REPO / "sim"

#: hand-written modules every dense design uses, in compile order
DENSE_MODULES = ("stream_fifo.sv", "adder_tree.sv", "mvtu.sv")
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


def check_supported(model: Model) -> None:
    if not model.layers:
        raise UnsupportedModelError("the model has no layers; nothing to compile to RTL")
    for i, l in enumerate(model.layers):
        if not isinstance(l, BinaryDense):
            raise UnsupportedModelError(
                f"layer '{l.name}' ({l.kind}): the RTL backend supports dense (MLP) networks "
                f"only for now; compile with --backend hls for this model")
        if i > 0 and l.input_kind != "binary":
            raise UnsupportedModelError(
                f"layer '{l.name}': only the first layer may take integer inputs")
        if i < len(model.layers) - 1 and l.emits_scores:
            raise UnsupportedModelError(
                f"layer '{l.name}' emits scores but is not the last layer")
        if i > 0 and l.K != model.layers[i - 1].M:
            raise UnsupportedModelError(
                f"layer '{l.name}' takes {l.K} inputs but the layer before emits {model.layers[i - 1].M}")
    last = model.layers[-1]
    if last.emits_scores:
        bias = last.bias if last.bias is not None else np.zeros(last.M, dtype=np.int64)
        a = acc_bound(last)
        if a + int(np.abs(bias).max(initial=0)) > (1 << (SCORE_BITS - 1)) - 1:
            raise UnsupportedModelError(
                f"layer '{last.name}': scores can exceed 32-bit two's complement")


def _layer_info(model: Model, folding: dict[str, LayerFold]) -> list[RtlLayer]:
    out = []
    for i, l in enumerate(model.layers):
        f = folding[l.name]
        binary = l.input_kind == "binary"
        in_bits = 1 if binary else int(l.input_bits)
        in_signed = bool(l.input_signed) and not binary
        accw = acc_width(l)
        if l.emits_scores and accw > SCORE_BITS:
            raise UnsupportedModelError(f"layer '{l.name}': accumulator wider than 32 bits")
        desc = "bits (XNOR-popcount)" if binary else \
            f"{in_bits}-bit {'signed' if in_signed else 'unsigned'} integers"
        out.append(RtlLayer(
            name=l.name, kind=l.kind,
            nodes=safe_comment(", ".join(l.source_nodes) or "(none)"),
            K=l.K, M=l.M, PE=f.pe, SIMD=f.simd, bound=layer_bound(l, f.pe, f.simd),
            binary=binary, in_bits=in_bits, in_signed=in_signed, scores=l.emits_scores,
            acc_width=accw, weight_file=f"{l.name}_w.mem", thresh_file=f"{l.name}_t.mem",
            input_desc=desc))
    return out


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
    for l in model.layers:
        if l.name not in folding:
            raise BadOptionError(f"no folding given for layer '{l.name}'")
    layers = _layer_info(model, folding)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    for l, rl in zip(model.layers, layers):
        _write(out / rl.weight_file, _hex_lines(weight_words(l, rl.PE, rl.SIMD), rl.PE * rl.SIMD))
        words, bits = thresh_words(l, rl.PE, rl.acc_width)
        _write(out / rl.thresh_file, _hex_lines(words, bits))

    first, last = layers[0], layers[-1]
    bound = pipeline_bound(model, folding)
    ctx = dict(
        top=top, version=__version__, model_comment=safe_comment(model.name or "model"),
        in_elems=first.K, in_bits=first.in_bits, in_signed=first.in_signed,
        in_width=first.in_width, classes=last.M, out_width=last.M * SCORE_BITS,
        bound=bound, layers=layers, fifo_depth=FIFO_DEPTH)
    _write(out / f"{top}.sv", _env().get_template("top.sv.j2").render(**ctx))

    for m in DENSE_MODULES:
        shutil.copyfile(TEMPLATES / m, out / m)
    for f in TB_FILES:
        shutil.copyfile(SIM_DIR / f, out / f)
    sources = list(DENSE_MODULES) + [f"{top}.sv"]
    _write(out / "filelist.f", "".join(s + "\n" for s in sources))
    config = {
        "top": top, "sources": sources, "in_elems": first.K, "in_bits": first.in_bits,
        "in_signed": first.in_signed, "classes": last.M, "score_bits": SCORE_BITS,
        "bound_cycles": bound, "layers": len(layers), "part": part, "clock_ns": clock_ns,
    }
    _write(out / "tb_config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")
    _write(out / "Makefile", _env().get_template("Makefile.j2").render(**ctx))
    return out
