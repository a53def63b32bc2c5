"""HLS backend, the writer: the stages of ``stages.plan`` rendered through the Jinja templates
of ``hls_templates/`` into the project's files (``render``: nothing written; ``write_hls``:
everything rendered first, then written). The output depends only on the arguments.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import jinja2

from ... import names, resources
from ...errors import BadOptionError, UnsupportedModelError
from ...folding import LayerFold
from ...ir import Model
from . import axis_ctx
from .stages import _comment, plan

TEMPLATE_DIR = resources.hls_templates()  # hls_templates/ (in the wheel: fastinference/_data/)
DEFAULT_PART = "xc7z020clg400-1"
DEFAULT_CLOCK_NS = 10.0
CXXFLAGS = ("-std=c++17 -O2 -Wall -Werror -Wno-unknown-pragmas -Wno-uninitialized "
            "-Wno-maybe-uninitialized")
MAX_AP_WIDTH = 32768  # ap_int's hard limit (AP_INT_MAX_W)
STATIC_FILES = ("fi_stream.h", "fi_axis.h")

__all__ = ["write_hls", "render", "TEMPLATE_DIR", "CXXFLAGS", "DEFAULT_PART", "DEFAULT_CLOCK_NS"]


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
           part: str = DEFAULT_PART, clock_ns: float = DEFAULT_CLOCK_NS,
           depths: dict | None = None, stream=None) -> dict[str, str]:
    """All generated files as ``{file name: text}`` (nothing written). ``depths``: stream ->
    FIFO depth, replacing the schedule's (tests of undersized FIFOs). ``stream``: the ports'
    ``axis.StreamFormat`` (None: the default, the whole input in one beat; ``axis_ctx.py``)."""
    clock = _check_options(model, top, part, clock_ns)
    missing = [l.name for l in model.compute_layers() if l.name not in folding]
    if missing:
        raise BadOptionError(f"no folding for layer(s) {', '.join(missing)}")
    used = {l.name for l in model.layers} | {top}
    in_port = names.safe_identifier("x_in", used)
    out_port = names.safe_identifier("y_out", used)
    p = plan(model, folding, in_port, out_port)
    env = _env()
    for name, d in (depths or {}).items():  # tests: other depths than the schedule's
        p.depths[name] = int(d)
        p.depth_notes[name] = f"depth {int(d)}: set by hand (not the schedule's)"

    widths = [p.in_values * p.in_bits, p.out_values * p.out_bits]
    functions, streams, calls, wlayers = [], [], [], []
    for st in p.stages:
        widths += [st.in_w, st.out_w]
        functions.append(env.get_template(st.template).render(**st.ctx).rstrip("\n"))
        if st.weights is not None:
            wlayers.append(st.weights)
        calls.append({"fn": st.fn, "args": st.ins + st.outs})
    for name, width in p.streams.items():
        streams.append({"name": name, "width": width, "depth": p.depths[name],
                        "note": p.depth_notes.get(name)})
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
    common["axis"] = axis_ctx.apply(p, stream, in_port, out_port, calls, streams)
    sources = [f"{top}.cpp"]
    headers = [f"{top}.h", "weights.h", "fi_stream.h", "fi_axis.h"]
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
              part: str = DEFAULT_PART, clock_ns: float = DEFAULT_CLOCK_NS,
              depths: dict | None = None, stream=None) -> list[Path]:
    """Write the HLS project into ``out_dir`` (created if needed); returns the files written.

    Everything is rendered before anything is written, so an error leaves ``out_dir`` as it
    was."""
    files = render(model, folding, top, part, clock_ns, depths, stream=stream)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in sorted(files):
        path = out / name
        path.write_text(files[name])
        written.append(path)
    return written
