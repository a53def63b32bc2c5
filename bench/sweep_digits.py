"""Sweep the bundled digits MLP over folding targets: compile, Verilator (bit-exact check),
Yosys synth_xilinx (LUT, FF) and nextpnr place and route on a Lattice ECP5-85 (Fmax) per point;
prints the table (with Fmax and inferences/s = Fmax / measured cycles), the wall time, and where
the CSV and the Pareto plot (inferences/s against LUTs) are.

    python bench/sweep_digits.py [--out out/sweep] [--targets 64,256,1024] [--jobs 2] [--pnr none]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from fastinference.sweep import print_table, sweep

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "examples" / "digits_mlp.onnx"))
    ap.add_argument("--out", default=str(ROOT / "out" / "sweep"))
    ap.add_argument("--targets", default=None, help="comma-separated target cycles (default: geometric series)")
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--vectors", type=int, default=20)
    ap.add_argument("--pnr", choices=["ecp5", "none"], default="ecp5", help="place and route (default ecp5)")
    a = ap.parse_args()
    targets = [int(t) for t in a.targets.split(",")] if a.targets else None
    t0 = time.time()
    rows = sweep(a.model, a.out, target_cycles=targets, jobs=a.jobs, vectors=a.vectors, pnr=a.pnr,
                 progress=lambda m: print(m, file=sys.stderr))
    print_table(rows)
    cached = sum(1 for r in rows if r.get("cached"))
    print(f"\n{len(rows)} points ({cached} from the cache) in {time.time() - t0:.0f} s; CSV: {Path(a.out) / 'sweep.csv'}, "
          f"plot: {Path(a.out) / 'pareto.png'}")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
