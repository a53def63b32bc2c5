"""package_ip.tcl and <top>.xdc: they parse in a real tclsh with Vivado's commands as stub
procs that record their calls, and the recorded calls name every generated source file."""
from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest

from fastinference.project import compile_project
from fastinference.testing.graphs import GraphBuilder, pm1

STUBS = r"""
set ::calls {}
proc unknown {args} { lappend ::calls $args; return "" }
source [lindex $argv 0]
foreach c $::calls { puts [join $c "\t"] }
"""


@pytest.fixture(scope="module")
def rtl_project(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ip")
    rng = np.random.default_rng(0)
    g = GraphBuilder((12,))
    g.gemm(pm1(rng, 7, 12))
    g.bn(np.ones(7), np.zeros(7), np.zeros(7), np.ones(7))
    g.sign()
    g.gemm(pm1(rng, 3, 7))
    path = g.save(tmp / "weird name [$x].onnx")
    out = tmp / "proj"
    compile_project(path, out, backend="rtl", part="xc7a35tcpg236-1", clock_ns=4.0, name="my_core")
    return out


def run_tcl(script, cwd):
    assert shutil.which("tclsh"), "tclsh is part of the toolchain (Debian tcl)"
    stub = cwd / "stubs.tcl"
    stub.write_text(STUBS)
    p = subprocess.run(["tclsh", str(stub), str(script)], capture_output=True, text=True, cwd=cwd, timeout=60)
    assert p.returncode == 0, p.stderr
    return [line.split("\t") for line in p.stdout.splitlines()]


def test_package_ip_names_every_source_and_the_part(rtl_project, tmp_path):
    rtl = rtl_project / "rtl"
    calls = run_tcl(rtl / "package_ip.tcl", tmp_path)
    flat = "\n".join(" ".join(c) for c in calls)
    sources = [l.strip() for l in (rtl / "filelist.f").read_text().splitlines() if l.strip().endswith(".sv")]
    assert sources
    added = " ".join(" ".join(c) for c in calls if c[0] == "add_files")
    for f in sources:
        assert os.path.join(str(rtl), f) in added or f"/{f}" in added, f
    for mem in (p.name for p in rtl.iterdir() if p.suffix == ".mem"):
        assert mem in added
    assert any(c[0] == "create_project" and "xc7a35tcpg236-1" in c for c in calls)
    assert "ipx::package_project" in flat and "ipx::save_core" in flat
    assert any(c[0] == "ipx::associate_bus_interfaces" and "s_axis" in c for c in calls)
    assert any(c[0] == "ipx::associate_bus_interfaces" and "m_axis" in c for c in calls)
    assert any(c[:2] == ["set_property", "name"] and "my_core" in c for c in calls)


def test_xdc_creates_the_clock(rtl_project, tmp_path):
    calls = run_tcl(rtl_project / "rtl" / "my_core.xdc", tmp_path)
    clk = [c for c in calls if c[0] == "create_clock"]
    assert len(clk) == 1 and "4.000" in clk[0]


def test_source_names_do_not_reach_tcl(rtl_project):
    for f in ("package_ip.tcl", "my_core.xdc"):
        text = (rtl_project / "rtl" / f).read_text()
        assert "weird" not in text and "[$x]" not in text


def test_axis_interfaces_map_tlast_and_reset(rtl_project, tmp_path):
    """An AXI DMA needs TLAST on both interfaces: mapped by name whatever Vivado infers; the
    reset is associated with the clock."""
    calls = run_tcl(rtl_project / "rtl" / "package_ip.tcl", tmp_path)
    flat = "\n".join(" ".join(c) for c in calls)
    for side in ("s_axis", "m_axis"):
        for sig in ("tdata", "tvalid", "tready", "tlast"):
            assert any(c[:2] == ["set_property", "physical_name"] and f"{side}_{sig}" in c for c in calls), (side, sig)
    assert any(c[0] == "ipx::associate_bus_interfaces" and "-reset" in c and "ap_rst_n" in c for c in calls)
    assert "input  logic                  s_axis_tlast" in (rtl_project / "rtl" / "my_core.sv").read_text()
    assert "96-bit TDATA" in flat  # 12 x 8-bit inputs in one beat
