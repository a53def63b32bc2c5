"""RTL cycles: per network and folding, the folding bound vs the cycles per inference measured
in simulation (steady state, input always valid, output always ready), the latency and the
simulation time.

    python bench/rtl_cycles.py [--sim verilator|icarus] [--vectors 32] [--out DIR] [--json R.json]

Networks: the bundled digits MLP (examples/digits_mlp.onnx) and a random 64-37-19-10 MLP
(int8 inputs, odd sizes). Foldings: the default (64 cycles), --target-cycles 8, PE=SIMD=1
(fully serial) and PE=M, SIMD=K (fully parallel: one inference per cycle).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from fastinference import folding, load, reference
from fastinference.backends.rtl import write_rtl
from fastinference.testing.rtl_models import random_inputs, random_mlp, write_vectors
from fastinference.verify.rtl_sim import run_sim

ROOT = Path(__file__).resolve().parents[1]


def networks(n_vectors: int):
    net = load(str(ROOT / "examples" / "digits_mlp.onnx"))
    x = np.load(ROOT / "examples" / "digits_test_x.npy")[:n_vectors]
    yield "digits_mlp", net.model, x
    m = random_mlp([64, 37, 19, 10], input_bits=8, seed=3, name="mlp_64_37_19_10")
    yield "mlp_64_37_19_10", m, random_inputs(m, n_vectors)


def foldings(model):
    layers = model.compute_layers()
    yield "default", folding.resolve_folding(model)
    yield "target8", folding.resolve_folding(model, target_cycles=8)
    yield "serial", folding.resolve_folding(model, {l.name: {"pe": 1, "simd": 1} for l in layers})
    yield "parallel", folding.resolve_folding(model, {l.name: {"pe": l.M, "simd": l.K} for l in layers})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sim", default="verilator", choices=["verilator", "icarus"])
    ap.add_argument("--vectors", type=int, default=32)
    ap.add_argument("--out", default=str(ROOT / "out" / "bench_rtl"))
    ap.add_argument("--json", default=None, help="also write the rows as JSON")
    a = ap.parse_args(argv)
    rows = []
    print(f"| network | folding | PE x SIMD per layer | bound | measured | latency | {a.sim} s |")
    print("|---|---|---|---|---|---|---|")
    for name, model, x in networks(a.vectors):
        ref = reference.run(model, x)
        for fname, fold in foldings(model):
            proj = Path(a.out) / f"{name}_{fname}"
            write_rtl(model, fold, proj / "rtl", top="fi_top")
            write_vectors(proj, x, ref)
            t0 = time.perf_counter()
            got, st = run_sim(proj, x, simulator=a.sim)
            dt = time.perf_counter() - t0
            bound = folding.pipeline_bound(model, fold)
            row = {"network": name, "folding": fname, "simulator": a.sim,
                   "pe_simd": [f"{fold[l.name].pe}x{fold[l.name].simd}" for l in model.compute_layers()],
                   "bound_cycles": bound, "cycles_per_inference": st["cycles_per_inference"],
                   "latency_cycles": st["latency_cycles"], "bit_exact": bool(np.array_equal(got, ref)),
                   "vectors": len(x), "sim_seconds": round(dt, 2)}
            rows.append(row)
            ok = "" if row["bit_exact"] else " MISMATCH"
            print(f"| {name} | {fname} | {' '.join(row['pe_simd'])} | {bound} | "
                  f"{row['cycles_per_inference']} | {row['latency_cycles']} | {dt:.1f}{ok} |", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2) + "\n")
    bad = [r for r in rows if not r["bit_exact"] or r["cycles_per_inference"] != r["bound_cycles"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
