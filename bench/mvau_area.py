"""Area (and optionally timing) of the RTL mvau: single-unit designs and the digits MLP.

Single units (random weights, thresholds in range), each the `mvau` as the top with its ROM
files, Yosys `synth_xilinx -family xc7 -noiopad` (hierarchical: LUTs per submodule):
  binary   +-1 x bits, K=128 M=256 PE=4 SIMD=128 (the digits MLP's hidden layer at target 64)
  pop128   the popcount alone: 128 XNOR bits, 3:2 compressed as in mvau.sv, into
           mvau_popcount (bit heap); registered in and out (LUT per input bit)
  pop128_tree  the same into mvau_tree (the adder tree mvau_popcount replaced)
  w4a4     4-bit weights x 4-bit unsigned inputs, K=64 M=64 PE=4 SIMD=16, 15 thresholds
  binary_par  +-1 x bits fully parallel (SF = NF = 1, constant weights), K=128 M=32 PE=32 SIMD=128
  pm1a8    +-1 weights x 8-bit unsigned inputs, K=64 M=128 PE=8 SIMD=64 (the MLP's first layer
           at target 16)
  pm1a8_par  the same fully parallel, K=64 M=32 PE=32 SIMD=64 (a quarter of the first layer at
           target 1)
and the digits MLP (examples/digits_mlp.onnx) compiled at --target-cycles T (`fastinference
compile` + `synth`). Prints LUT per lane (PE x SIMD), LUT per input bit (popcount) and LUT per
synapse-op per cycle (the MLP: LUT / sum over layers of PE*SIMD). With --fmax also Yosys
synth_ecp5 + nextpnr-ecp5 (LFE5U-85F, out of context) per design: Fmax and critical path.

    python bench/mvau_area.py [--work .tmp-mvau-area] [--targets 16,64] [--only binary,pop128,pop128_tree]
                              [--fmax] [--no-mlp]
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from fastinference.backends.rtl import (MVAU_FILES, REG_EVERY, TEMPLATES, _hex_lines, _plan, acc_width,
                                        thresh_words, weight_words, wval_params)
from fastinference.ir import BinaryDense
from fastinference.synth import inclusive_cells, run_ecp5, run_yosys, summarize

ROOT = Path(__file__).resolve().parent.parent

# name: K, M, PE, SIMD, weight bits, input kind, input bits, thresholds per channel
UNITS = {
    "binary": (128, 256, 4, 128, 1, "binary", 1, 1),
    "w4a4": (64, 64, 4, 16, 4, "int", 4, 15),
    "pm1a8": (64, 128, 8, 64, 1, "int", 8, 1),   # the MLP's first layer at target 16
    "binary_par": (128, 32, 32, 128, 1, "binary", 1, 1),   # fully parallel: constant weights
    "pm1a8_par": (64, 32, 32, 64, 1, "int", 8, 1),   # fully parallel 8-bit x +-1 (a quarter of layer 0)
}


def _layer(rng, K, M, wb, kind, bits, nthr) -> BinaryDense:
    if wb == 1:
        w = rng.choice(np.array([-1, 1], dtype=np.int64), size=(M, K))
    else:
        w = rng.integers(-(1 << (wb - 1)), 1 << (wb - 1), size=(M, K))
    kw = dict(name="l", source_nodes=[], in_shape=(K,), out_shape=(M,), weights=w, weight_bits=wb,
              input_kind=kind, input_bits=bits, input_signed=False)
    lo, hi = BinaryDense(**kw, bias=np.zeros(M, dtype=np.int64)).acc_range()
    T = np.sort(rng.integers(lo, hi + 1, size=(M, nthr)), axis=1)
    if nthr == 1:
        return BinaryDense(**kw, thresholds=T[:, 0], directions=rng.choice([-1, 1], size=M))
    return BinaryDense(**kw, thresholds=T, directions=np.ones(M, dtype=np.int8),
                       out_bits=max(1, nthr.bit_length()))


def unit_dir(work: Path, name: str) -> tuple[Path, str, dict]:
    """DIR/rtl with filelist.f for one design; returns (rtl dir, top, figures for the ratios)."""
    rtl = work / name / "rtl"
    shutil.rmtree(rtl.parent, ignore_errors=True)
    rtl.mkdir(parents=True)
    for f in MVAU_FILES:
        shutil.copy(TEMPLATES / f, rtl / f)
    if name in ("pop128", "pop128_tree"):
        n = 128
        terms = (n + 2) // 3
        levels = (terms - 1).bit_length()
        if name == "pop128":   # as in mvau.sv: the bit-heap popcount, TreeRegs registers
            adder = (f"mvau_popcount #(.N({terms}), .OutW(8), .Regs({levels // REG_EVERY})) u_pop (\n"
                     "    .clk_i(clk_i), .en_i(1'b1), .in_i(term_q), .sum_o(sum));")
        else:                  # the adder tree it replaced (mvau_tree)
            adder = (f"mvau_tree #(.N({terms}), .InW(2), .OutW(8), .Signed(1'b0), .Levels({levels}),\n"
                     f"              .RegEvery({REG_EVERY})) u_tree (\n"
                     "    .clk_i(clk_i), .en_i(1'b1), .in_i(term_q), .sum_o(sum));")
        (rtl / "pop_top.sv").write_text(f"""module pop_top (
  input  logic clk_i,
  input  logic [{n-1}:0] x_i,
  input  logic [{n-1}:0] w_i,
  output logic [7:0] sum_o
);
  logic [{n-1}:0] x_q, w_q;
  logic [{2*terms-1}:0] term, term_q;
  logic [7:0] sum, sum_q;
  always_ff @(posedge clk_i) begin
    x_q <= x_i;
    w_q <= w_i;
    term_q <= term;
    sum_q <= sum;
  end
  // as in mvau.sv: XNOR bits, three lanes counted by one 6-input function per output bit
  logic [{3*terms-1}:0] m;
  assign m = {3*terms}'(~(x_q ^ w_q));
  for (genvar g = 0; g < {terms}; g++) begin : g_fa
    logic a, b, c;
    assign {{c, b, a}} = m[3*g +: 3];
    assign term[g*2 +: 2] = {{(a & b) | (a & c) | (b & c), a ^ b ^ c}};
  end
  {adder}
  assign sum_o = sum_q;
endmodule
""")
        (rtl / "filelist.f").write_text("mvau_tree.sv\nmvau_popcount.sv\npop_top.sv\n")
        return rtl, "pop_top", {"bits": n}
    K, M, PE, SIMD, wb, kind, bits, nthr = UNITS[name]
    layer = _layer(np.random.default_rng(7), K, M, wb, kind, bits, nthr)
    accw = acc_width(layer)
    (rtl / "w.mem").write_text(_hex_lines(weight_words(layer, PE, SIMD), PE * SIMD * wb))
    words, tbits = thresh_words(layer, PE, accw)
    (rtl / "t.mem").write_text(_hex_lines(words, tbits))
    out_bits = 1 if nthr == 1 else layer.out_bits
    params = dict(K=K, M=M, PE=PE, SIMD=SIMD, WBits=wb, BinIn=f"1'b{int(kind == 'binary')}",
                  InBits=bits, InSigned="1'b0", Scores="1'b0", NThr=nthr, OutBits=out_bits,
                  OutOffset=0, AccW=accw, RegEvery=REG_EVERY, WeightFile='"w.mem"', ThreshFile='"t.mem"')
    params.update(wval_params(_plan(layer, PE, SIMD)))   # one-step XNOR: the weights as a parameter
    plist = ",\n    ".join(f".{k}({v})" for k, v in params.items())
    (rtl / "unit_top.sv").write_text(f"""module unit_top (
  input  logic clk_i,
  input  logic rst_ni,
  input  logic in_valid_i,
  output logic in_ready_o,
  input  logic [{K * bits - 1}:0] in_data_i,
  output logic out_valid_o,
  input  logic out_ready_i,
  output logic [{M * out_bits - 1}:0] out_data_o
);
  mvau #(
    {plist}
  ) u_mvau (.*);
endmodule
""")
    (rtl / "filelist.f").write_text("\n".join([*MVAU_FILES, "unit_top.sv"]) + "\n")
    return rtl, "unit_top", {"lanes": PE * SIMD}


def synth_xilinx(rtl: Path) -> tuple[dict, dict]:
    (rtl / ".w").mkdir(exist_ok=True)
    stat = run_yosys(rtl, _top(rtl), "xc7", ".w")
    mods = stat.get("modules", {})
    per = {k.lstrip("\\"): summarize(v) for k, v in inclusive_cells(mods).items()}
    design = stat.get("design", {})
    total = summarize({k: int(v) for k, v in design.get("num_cells_by_type", {}).items()
                       if not k.startswith(("$paramod", "\\"))})
    return total, per


def _top(rtl: Path) -> str:
    return "pop_top" if (rtl / "pop_top.sv").exists() else "unit_top"


def fmax(rtl: Path, top: str) -> tuple[float | None, str]:
    (rtl / ".p").mkdir(exist_ok=True)
    res = run_ecp5(rtl, top, ".p", freq_mhz=150.0)
    cp = res.get("critical_path") or {}
    return res.get("fmax_mhz"), f"{cp.get('from', '?')} -> {cp.get('to', '?')}"


def mlp(work: Path, target: int, want_fmax: bool) -> dict:
    out = work / f"mlp_t{target}"
    fi = [sys.executable, "-m", "fastinference.cli"]
    subprocess.run(fi + ["compile", str(ROOT / "examples" / "digits_mlp.onnx"), "--out", str(out),
                         "--backend", "rtl", "--target-cycles", str(target), "--force"],
                   check=True, capture_output=True, text=True)
    subprocess.run(fi + ["synth", str(out), "--pnr", "ecp5" if want_fmax else "none"], check=True,
                   capture_output=True, text=True)
    rep = json.loads((out / "synth" / "report.json").read_text())
    plan = json.loads((out / "report.json").read_text())
    ops = sum(int(l["PE"]) * int(l["SIMD"]) for l in _layers(plan))
    return {"rep": rep, "ops": ops, "plan": plan}


def _layers(plan: dict) -> list[dict]:
    return [l for l in plan.get("layers", []) if "PE" in l and "SIMD" in l]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=str(ROOT / ".tmp-mvau-area"))
    ap.add_argument("--only", default="binary,pop128,w4a4")
    ap.add_argument("--targets", default="16,64")
    ap.add_argument("--no-mlp", action="store_true")
    ap.add_argument("--fmax", action="store_true", help="also synth_ecp5 + nextpnr (slow)")
    a = ap.parse_args()
    work = Path(a.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    for name in [n for n in a.only.split(",") if n]:
        rtl, top, fig = unit_dir(work, name)
        total, per = synth_xilinx(rtl)
        lut = total["LUT"]
        if "lanes" in fig:
            ratio = f"{lut / fig['lanes']:.2f} LUT/lane ({fig['lanes']} lanes)"
        else:
            ratio = f"{lut / fig['bits']:.2f} LUT/bit ({fig['bits']} bits)"
        print(f"{name:8s} LUT {lut:6d} FF {total['FF']:6d} CARRY4 {total['CARRY4']:4d} "
              f"BRAM18 {total['BRAM_RAMB18'] + 2 * total['BRAM_RAMB36']:3d}  {ratio}")
        for mod, s in sorted(per.items()):
            if mod != top:
                print(f"    {mod[:70]:70s} LUT {s['LUT']:6d} FF {s['FF']:6d}")
        if a.fmax:
            f, cp = fmax(rtl, top)
            print(f"    ECP5 Fmax {f} MHz; critical path {cp}")
        sys.stdout.flush()
    if not a.no_mlp:
        for t in [int(x) for x in a.targets.split(",") if x]:
            r = mlp(work, t, a.fmax)
            tot = r["rep"]["totals"]
            folds = ", ".join(f"{l['PE']}x{l['SIMD']}" for l in _layers(r["plan"]))
            line = (f"MLP t{t:<5d} ({folds}) LUT {tot['LUT']:6d} FF {tot['FF']:6d} "
                    f"{tot['LUT'] / r['ops']:.2f} LUT per synapse-op/cycle ({r['ops']} ops)")
            if a.fmax:
                cp = r["rep"].get("pnr", {}).get("critical_path") or {}
                line += f"  Fmax {r['rep'].get('fmax_mhz')} MHz ({cp.get('from', '?')} -> {cp.get('to', '?')})"
            print(line)
            for inst, s in sorted(r["rep"].get("instances", {}).items()):
                print(f"    {inst:30s} LUT {s['LUT']:6d} FF {s['FF']:6d}")
            sys.stdout.flush()
    print(f"({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
