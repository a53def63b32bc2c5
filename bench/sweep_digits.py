"""Sweep the bundled digits MLP over folding targets: compile, Verilator (bit-exact check),
Yosys synth_xilinx (LUT, FF) and nextpnr place and route on a Lattice ECP5-85 (Fmax) per point;
prints the table (with Fmax and inferences/s = Fmax / measured cycles), the wall time, the load,
each stage's time per point, and where the CSV and the Pareto plot (inferences/s against LUTs)
are. ``--extra`` adds the other bundled designs at their default folding (W4A4 MLP, W2A2 CNN,
digits CNN) to the same pool; ``--markdown`` prints the README tables.

    python bench/sweep_digits.py [--out out/sweep] [--targets 16,64,256,1024,4096] [--jobs 2]
                                 [--pnr none] [--extra] [--markdown]

Every point runs as three jobs (compile + Verilator; synth_xilinx; synth_ecp5 + nextpnr), the
last two side by side, longest first over ``--jobs`` workers; ``DIR/sweep.json`` holds each
stage's wall and CPU time and an estimate of the wall time on an idle machine.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import fastinference as fi
from fastinference.folding import default_target
from fastinference.sweep import _plan, print_table, sweep_many

ROOT = Path(__file__).resolve().parent.parent
EXTRA = ("digits_qmlp_w4a4", "digits_qcnn_w2a2", "digits_cnn")


def _fmt(v, nd=None) -> str:
    if v in (None, ""):
        return "-"
    if nd is not None:
        return f"{float(v):,.{nd}f}"
    return f"{int(v):,}"


def _pe_simd(model_path: str, folding: str) -> str:
    fold = json.loads(folding)
    names = [l.name for l in fi.load(model_path).model.compute_layers()]
    return ", ".join(f"{fold[n]['pe']}x{fold[n]['simd']}" for n in names if n in fold)


def markdown(items: list[tuple[str, dict]], first_col: str = "point") -> str:
    """One table row per (model path, sweep row)."""
    lines = [f"| {first_col} | PE x SIMD per layer | bound | measured cycles | latency | LUT | FF | BRAM18 | "
             "ECP5 LUT4 | Fmax (MHz) | inferences/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for model_path, r in items:
        if r["status"] != "ok":
            lines.append(f"| {r['point']} | failed: {r.get('error', '')} |||||||||")
            continue
        fmax = r.get("fmax_mhz")
        lines.append(
            f"| {r['point']} | {_pe_simd(model_path, r['folding'])} | {_fmt(r['bound_cycles'])} | "
            f"{_fmt(r['cycles_per_inference'])} | {_fmt(r['latency_cycles'])} | {_fmt(r['LUT'])} | {_fmt(r['FF'])} | "
            f"{_fmt(r['BRAM'])} | {_fmt(r.get('ecp5_LUT4'))} | "
            f"{'**' + _fmt(fmax, 1) + '**' if fmax not in (None, '') and float(fmax) >= 150 else _fmt(fmax, 1)} | "
            f"{_fmt(r.get('inferences_per_s'))} |" + (f" {r['error']}" if r.get("error") else ""))
    return "\n".join(lines)


def stage_table(rows: list[dict]) -> str:
    lines = [f"{'point':<28} {'sim':>14} {'synth_xilinx':>14} {'synth_ecp5':>12} {'nextpnr':>10}   (wall s / cpu s)"]
    for r in rows:
        st = r.get("stages") or {}
        cell = lambda k: (f"{st[k]['wall_s']:.0f}/{st[k]['cpu_s']:.0f}" if k in st else "-")
        pnr = st.get("pnr")
        ecp5 = f"{r.get('ecp5_synth_s', 0):.0f}" if pnr and r.get("ecp5_synth_s") not in (None, "") else "-"
        nxt = f"{r.get('pnr_s', 0):.0f}" if pnr and r.get("pnr_s") not in (None, "") else "-"
        lines.append(f"{r['point']:<28} {cell('sim'):>14} {cell('area'):>14} {ecp5:>12} {nxt:>10}"
                     + ("   (cached)" if r.get("cached") else "") + (f"   pnr wall/cpu {cell('pnr')}" if pnr else ""))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "examples" / "digits_mlp.onnx"))
    ap.add_argument("--out", default=str(ROOT / "out" / "sweep"))
    ap.add_argument("--targets", default=None, help="comma-separated target cycles (default: geometric series)")
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--vectors", type=int, default=20)
    ap.add_argument("--pnr", choices=["ecp5", "none"], default="ecp5", help="place and route (default ecp5)")
    ap.add_argument("--extra", action="store_true",
                    help="also the W4A4 MLP, W2A2 CNN and digits CNN at their default folding (same pool)")
    ap.add_argument("--markdown", action="store_true", help="print the README tables")
    a = ap.parse_args()
    targets = [int(t) for t in a.targets.split(",")] if a.targets else None
    load0 = os.getloadavg()
    t0 = time.time()
    plans = [_plan(a.model, a.out, target_cycles=targets, vectors=a.vectors, pnr=a.pnr)]
    extra = []
    if a.extra:
        for name in EXTRA:
            path = str(ROOT / "examples" / f"{name}.onnx")
            t = default_target(fi.load(path).model)
            extra.append(path)
            plans.append(_plan(path, Path(a.out) / "extra" / name, target_cycles=[t], vectors=a.vectors, pnr=a.pnr))
    results = sweep_many(plans, jobs=a.jobs, progress=lambda m: print(m, file=sys.stderr, flush=True))
    wall = time.time() - t0
    rows = results[0]
    print_table(rows)
    for path, rs in zip(extra, results[1:]):
        print(f"\n{Path(path).name} (default folding):")
        print_table(rs)
    print("\nper stage (wall s / CPU s):")
    print(stage_table(rows + [dict(r, point=f"{Path(p).stem} {r['point']}") for p, rs in zip(extra, results[1:])
                              for r in rs]))
    summary = json.loads((Path(a.out) / "sweep.json").read_text())
    cached = sum(1 for r in rows if r.get("cached"))
    every = rows + [r for rs in results[1:] for r in rs]
    cpu = sum(r.get("cpu_s", 0) or 0 for r in every if not r.get("cached"))
    from fastinference.sweep import estimate_wall
    print(f"\n{len(every)} designs ({sum(1 for r in every if r.get('cached'))} from the cache; "
          f"{cached} of the {len(rows)} sweep points) in {wall:.0f} s wall, {cpu:.0f} s CPU; load average "
          f"{load0[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end on {os.cpu_count()} cores; "
          f"idle-machine estimate from CPU times (same schedule): the sweep alone "
          f"{summary['idle_estimate_s']['2']:.0f} s on 2 cores ({summary['idle_estimate_s']['1']:.0f} s on 1), "
          f"everything {estimate_wall(every, 2):.0f} s on 2 cores")
    print(f"CSV: {Path(a.out) / 'sweep.csv'}, plot: {Path(a.out) / 'pareto.png'}, timings: {Path(a.out) / 'sweep.json'}")
    if a.markdown:
        print("\n" + markdown([(a.model, r) for r in rows]))
        if extra:
            print("\n" + markdown([(p, dict(r, point=f"{Path(p).stem} ({r['point']})"))
                                   for p, rs in zip(extra, results[1:]) for r in rs],
                                  first_col="design (default folding)"))
    return 0 if all(r["status"] == "ok" for r in every) else 1


if __name__ == "__main__":
    sys.exit(main())
