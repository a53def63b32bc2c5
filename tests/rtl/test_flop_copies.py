"""flop_copies keeps its copies apart through synthesis: Yosys' opt_merge would merge flops with
the same D into one (the fan-out the copies exist to split), so each copy is marked keep. Checked
on the flattened netlist of both flows (synth_ecp5, synth_xilinx), a few seconds each."""
from __future__ import annotations

import re
import subprocess

import pytest

from fastinference.testing.rtl_helpers import TEMPLATES, tool_env
from fastinference import tools

TOP = """\
module fc_top (input logic clk_i, input logic rst_ni, input logic en_i, input logic [1:0] d_i,
               output logic [{n2}-1:0] q_o);
  flop_copies #(.Width(2), .Copies({n}), .HasReset(1'b{r}), .ResetVal(2'b01))
    u_copies (.clk_i, .rst_ni, .en_i, .d_i, .q_o);
endmodule
"""


@pytest.mark.parametrize("flow,ff,copies,reset", [("synth_ecp5", r"TRELLIS_FF", 4, 1),
                                                   ("synth_xilinx -flatten -noiopad", r"FD\w*", 3, 0)])
def test_copies_survive_synthesis(tmp_path, flow, ff, copies, reset):
    tool_env()
    (tmp_path / "fc_top.sv").write_text(TOP.format(n=copies, n2=2 * copies, r=reset))
    (tmp_path / "flop_copies.sv").write_text((TEMPLATES / "flop_copies.sv").read_text())
    r = subprocess.run(tools.yosys() + ["-q", "-p", f"read_verilog -sv flop_copies.sv fc_top.sv; {flow} -top fc_top; "
                                       "tee -q -o stat.txt stat"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    stat = (tmp_path / "stat.txt").read_text()
    flops = sum(int(m.group(1)) for m in re.finditer(rf"^\s+(\d+)\s+(?:\$_)?{ff}\b", stat, re.M))
    assert flops == 2 * copies, stat
