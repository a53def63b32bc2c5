"""Vivado IP packaging files for DIR/rtl: ``package_ip.tcl`` and ``<top>.xdc`` from the
templates in ``constraints/``. Every name in them is a sanitized identifier or a file name
the writer chose; the part name is checked to be letters, digits and dashes. The core has two
AXI4-Stream interfaces (s_axis, m_axis: TDATA, TVALID, TREADY, TLAST, mapped by name) on the
clock, with the active-low reset associated; the widths come from tb_config.json's ``stream``."""
from __future__ import annotations

import json
import re
from pathlib import Path

import jinja2

from .. import __version__, resources
from ..errors import BadOptionError

TEMPLATES = resources.constraints_dir()  # constraints/ (in the wheel: fastinference/_data/)
CLOCK_CANDIDATES = ("ap_clk", "clk_i", "clk", "aclk")
RESET_CANDIDATES = ("ap_rst_n", "rst_ni", "aresetn")


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, autoescape=False)


def clock_port(top_sv: str) -> str:
    for name in CLOCK_CANDIDATES:
        if re.search(rf"\binput\s+(wire\s+|logic\s+)?{name}\b", top_sv):
            return name
    raise BadOptionError("generated top has no recognizable clock port")


def reset_port(top_sv: str) -> str:
    for name in RESET_CANDIDATES:
        if re.search(rf"\binput\s+(wire\s+|logic\s+)?{name}\b", top_sv):
            return name
    raise BadOptionError("generated top has no recognizable active-low reset port")


def _stream_widths(rtl: Path) -> tuple[int, int]:
    cfg = json.loads((rtl / "tb_config.json").read_text())
    st = cfg.get("stream") or {}
    whole = 8 * -(-cfg["in_elems"] * cfg["in_bits"] // 8)
    return int(st.get("in_stream_bits", whole)), int(st.get("out_stream_bits", 32 * cfg["classes"]))


def write_ip_files(rtl: Path, top: str, part: str, clock_ns: float) -> None:
    rtl = Path(rtl)
    if not re.fullmatch(r"[A-Za-z0-9-]+", part):
        raise BadOptionError(f"--part {part!r}: letters, digits and '-' only")
    top_sv = (rtl / f"{top}.sv").read_text()
    clock, reset = clock_port(top_sv), reset_port(top_sv)
    in_w, out_w = _stream_widths(rtl)
    from ..project_dir import read_filelist

    sources = read_filelist(rtl)
    memories = sorted(p.name for p in rtl.iterdir() if p.suffix in (".mem", ".hex", ".dat"))
    for f in sources + memories:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", f):
            raise BadOptionError(f"unsafe file name in filelist: {f!r}")
    env = _env()
    xdc = f"{top}.xdc"
    (rtl / xdc).write_text(env.get_template("top.xdc.j2").render(
        top=top, clock=clock, clock_ns=clock_ns, version=__version__))
    (rtl / "package_ip.tcl").write_text(env.get_template("package_ip.tcl.j2").render(
        top=top, part=part, clock=clock, reset=reset, sources=sources, memories=memories, xdc=xdc,
        in_stream_bits=in_w, out_stream_bits=out_w, version=__version__))
