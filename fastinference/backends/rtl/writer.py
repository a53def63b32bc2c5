"""RTL backend, the writer: a lowered model to the SystemVerilog project in ``DIR/rtl``.

``check_supported`` refuses what the RTL cannot build; ``write_rtl_graph`` lays out the stage
graph (``graph.py``, every design, chains included), writes the ``$readmemh`` ROMs of each mvau
(``mvau.py``), renders the top (``top_graph.sv.j2``) and the project files: the hand-written
modules, the cocotb testbench, ``filelist.f``, ``Makefile`` and ``tb_config.json``.
"""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import jinja2
import numpy as np

from ... import resources
from ...errors import BadOptionError, UnsupportedModelError
from ...folding import LayerFold, pipeline_bound
from ...ir import signed_bits as _signed_width
from ...ir import INPUT, AddJoin, BinaryDense, BinaryLayer, ConcatJoin, IntMaxPool, Model, Threshold
from ...names import safe_comment
from . import mvau
from .mvau import MVAU_FILES, SCORE_BITS, _check_score_range, acc_width, plan_thresh_words, plan_weight_words

TEMPLATES = resources.rtl_templates()  # rtl_templates/ (in the wheel: fastinference/_data/)
SIM_DIR = resources.sim_dir()

#: testbench files copied from ``sim/``
TB_FILES = ("fi_tb.py", "fi_runner.py")


def _hex_lines(words: list[int], bits: int) -> str:
    digits = max(1, math.ceil(bits / 4))
    return "".join(f"{w:0{digits}x}\n" for w in words)


def multibit_reason(model: Model) -> str | None:
    """Why the RTL backend cannot build this model's multi-bit layers, or None: the mvau takes
    1..8-bit weights and inputs (wider ones go to HLS only)."""
    for l in model.compute_layers():
        if l.weight_bits > 8:
            return (f"layer '{l.name}' has {l.weight_bits}-bit weights: the RTL backend takes "
                    "1..8-bit weights; use --backend hls")
    return None


def check_supported(model: Model) -> None:
    if not model.layers:
        raise UnsupportedModelError("the model has no layers; nothing to compile to RTL")
    reason = multibit_reason(model)
    if reason:
        raise UnsupportedModelError(reason)
    compute = model.compute_layers()
    cons = model.consumers()
    for l in compute:
        # in a graph, scores (the integer sums) may feed joins: the AddJoin takes them
        joined = (not model.is_chain and cons[l.name]
                  and all(model.layer(c).kind in ("add_join", "concat_join") for c in cons[l.name]))
        if l is not model.layers[-1] and l.emits_scores and not joined:
            raise UnsupportedModelError(
                f"layer '{l.name}' emits scores but is not the last layer")
        if l.output_kind == "int" and (np.ndim(l.thresholds) != 2 or np.shape(l.thresholds)[1] < 1):
            raise UnsupportedModelError(f"layer '{l.name}': a multi-threshold layer needs at least one threshold")
        if l.output_kind == "int" and l.out_bits > SCORE_BITS:
            raise UnsupportedModelError(f"layer '{l.name}': {l.out_bits}-bit outputs are wider than 32 bits")
        if acc_width(l) > SCORE_BITS:
            raise UnsupportedModelError(f"layer '{l.name}': accumulator wider than 32 bits")
    for l in compute:
        if l.emits_scores and l is not model.layers[-1]:
            _check_score_range(l)
    last = model.layers[-1]
    if not model.is_chain and isinstance(last, (AddJoin, Threshold)) and len(last.out_shape) == 1:
        if isinstance(last, AddJoin) and _signed_width(*last.out_range) > SCORE_BITS:
            raise UnsupportedModelError(f"layer '{last.name}': sums wider than 32 bits")
        return
    if not isinstance(last, BinaryDense):
        raise UnsupportedModelError(
            f"layer '{last.name}' ({last.kind}): the network must end with a dense layer (scores)")
    if last.emits_scores:
        _check_score_range(last)


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)


def _write(path: Path, text: str) -> None:
    path.write_bytes(text.encode("ascii"))


def _graph_input(model: Model) -> tuple[int, bool, bool]:
    """(bits, signed, binary) of the network input, as its first reader takes it."""
    first = model.layer(model.consumers()[INPUT][0])
    if isinstance(first, IntMaxPool):
        return int(first.bits), bool(first.signed), False
    if isinstance(first, BinaryLayer):
        if first.input_kind == "binary":
            return 1, False, True
        return int(first.input_bits), bool(first.input_signed), False
    if isinstance(first, (AddJoin, ConcatJoin)):
        i = model.inputs_of(model.layers.index(first)).index(INPUT)
        st = first.in_streams[i]
        return st.bits, (st.signed and st.kind == "int"), st.kind == "bits"
    return int(model.input_bits), bool(model.input_signed), False


def write_rtl_graph(model: Model, folding: dict[str, LayerFold], out: Path, top: str, part: str,
                    clock_ns: float, depths: dict | None = None, stream=None):
    """A graph with skip connections (see graph.py). Returns the GraphPlan."""
    from ... import __version__
    from . import axis_ctx, graph

    in_bits, in_signed, binary = _graph_input(model)
    image_input = len(model.input_shape) == 3
    p = graph.plan_graph(model, folding, mvau,
                         graph.input_tensor(model, in_bits, in_signed, binary), depths)
    for _l, rl, _w in p.roms:
        _write(out / rl.weight_file, _hex_lines(plan_weight_words(rl.plan), rl.PE * rl.SIMD * rl.w_bits))
        words, bits = plan_thresh_words(rl.plan, rl.acc_width)
        _write(out / rl.thresh_file, _hex_lines(words, bits))
    bound = pipeline_bound(model, folding)
    s_cycles = max((s.image_cycles for s in p.stages), default=0)
    in_elems = int(np.prod(model.input_shape))
    o = p.output
    classes = o.elems
    fmt = axis_ctx.resolve(stream, in_elems, in_bits, in_signed, classes)
    ctx = dict(
        top=top, version=__version__, model_comment=safe_comment(model.name or "model"),
        in_elems=in_elems, in_bits=in_bits, in_signed=in_signed, in_width=in_elems * in_bits,
        classes=classes, out_width=classes * SCORE_BITS, bound=bound, stream_cycles=s_cycles,
        cycles=max(bound, s_cycles), stages=p.stages, wires=list(p.wires.values()),
        fifos=[w for w in p.wires.values() if w.producer and w.consumer],
        input_wire=p.input_wire, output_wire=o.wire, output_ready_n=p.wires[o.wire].ready_n,
        out_bits=o.bits,
        out_signed=o.signed and o.kind == "int", image_input=image_input,
        channels=int(model.input_shape[0]) if image_input else 0,
        pixels=int(np.prod(model.input_shape[1:])) if image_input else 0, **axis_ctx.context(fmt))
    _write(out / f"{top}.sv", _env().get_template("top_graph.sv.j2").render(**ctx))
    _write_project_files(out, top, {s.module for s in p.stages} | axis_ctx.modules(fmt), ctx, {
        "in_elems": in_elems, "in_bits": in_bits, "in_signed": in_signed, "classes": classes,
        "bound_cycles": bound, "stream_cycles": s_cycles, "layers": len(p.roms), "part": part,
        "clock_ns": clock_ns, "fifo_depths": {w.name: w.depth for w in ctx["fifos"]}, **axis_ctx.config(fmt)})
    return p


def _write_project_files(out: Path, top: str, used: set[str], ctx: dict, config: dict) -> None:
    """Next to the generated top: the hand-written modules it uses, the cocotb testbench,
    filelist.f, tb_config.json and the Makefile (shared by chains and graphs)."""
    used = {f"{m}.sv" for m in used}
    if "maxpool.sv" in used:  # maxpool instantiates a sliding_window
        used.add("sliding_window.sv")
    modules = ["stream_fifo.sv", *MVAU_FILES] + sorted(used - set(MVAU_FILES))
    for m in modules:
        shutil.copyfile(TEMPLATES / m, out / m)
    for f in TB_FILES:
        shutil.copyfile(SIM_DIR / f, out / f)
    sources = modules + [f"{top}.sv"]
    _write(out / "filelist.f", "".join(s + "\n" for s in sources))
    config = {"top": top, "sources": sources, "score_bits": SCORE_BITS,
              "expected_cycles": max(config["bound_cycles"], config["stream_cycles"],
                                     *((config["stream"]["in_beats"], config["stream"]["out_beats"])
                                       if "stream" in config else ())), **config}
    _write(out / "tb_config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")
    _write(out / "Makefile", _env().get_template("Makefile.j2").render(**ctx))


def write_rtl(model: Model, folding: dict[str, LayerFold], out_dir, top: str = "fi_top",
              part: str = "xc7z020clg400-1", clock_ns: float = 10.0, depths: dict | None = None,
              stream=None) -> Path:
    """Fill ``out_dir`` (``DIR/rtl``) with the SystemVerilog project. Returns ``out_dir``.
    Chains and graphs alike go through ``write_rtl_graph`` (``depths``: FIFO name -> depth,
    replacing the cycle schedule's: tests of undersized FIFOs; ``stream``: the AXI4-Stream
    port format, an ``axis.StreamFormat``, default one input beat and one output beat)."""
    check_supported(model)
    for l in model.compute_layers():
        if l.name not in folding:
            raise BadOptionError(f"no folding given for layer '{l.name}'")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_rtl_graph(model, folding, out, top, part, clock_ns, depths, stream)
    return out
