"""The bundled quantized networks (Brevitas QONNX exports): accuracy, exactness against qonnx's
executor and per engine, compile and simulation times (figures only).

    python bench/qnn.py [--out out/bench_qnn] [--rows 200] [--engines csim,verilator,icarus]

Each row: the model, its layers' bit widths, reference accuracy on the bundled test digits,
whether predict equals qonnx's executor (integer scores = round(output / output_scale)), the
time to load and lower, to compile, and for each engine its time and whether it is bit-exact
(an engine the backend does not support for the model says why).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import fastinference as fi
from fastinference.errors import FastInferenceError
from fastinference.project import compile_project, first_mismatch
from fastinference.testing.brevitas_nets import qonnx_execute

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
MODELS = ("digits_qmlp_w4a4", "digits_qcnn_w2a2")


def run_engine(engine: str, project: Path, x: np.ndarray):
    if engine == "csim":
        from fastinference.verify.csim import run_csim
        return run_csim(project, x), {}
    from fastinference.verify.rtl_sim import run_sim
    return run_sim(project, x, simulator=engine)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "out" / "bench_qnn"))
    ap.add_argument("--rows", type=int, default=200)
    ap.add_argument("--engines", default="csim,verilator,icarus")
    a = ap.parse_args()
    x_all = np.load(EXAMPLES / "digits_q_test_x.npy")[: a.rows]
    y = np.load(EXAMPLES / "digits_test_y.npy")[: a.rows]
    ok = True
    for name in MODELS:
        path = EXAMPLES / f"{name}.onnx"
        t0 = time.perf_counter()
        net = fi.load(str(path))
        t_load = time.perf_counter() - t0
        x = x_all.reshape((len(x_all),) + tuple(net.model.input_shape))
        scores = net.predict(x)
        ref = qonnx_execute(path, x.astype(np.float32))
        units = np.round(ref / np.broadcast_to(net.model.output_scale, (scores.shape[1],))).astype(np.int64)
        exact = np.array_equal(units, scores)
        ok &= exact
        bits = ", ".join(f"W{l.weight_bits}A{l.input_bits if l.input_kind == 'int' else 1}"
                         for l in net.model.compute_layers())
        print(f"\n{name}: {bits}; accuracy {float((scores.argmax(1) == y).mean()):.3f} on {len(y)} digits; "
              f"predict == qonnx executor: {'yes' if exact else 'NO'}; load+lower {t_load:.2f} s")
        t0 = time.perf_counter()
        rep = compile_project(str(path), Path(a.out) / name, backend="all", force=True, vectors=x)
        print(f"  compile (--backend all)  {time.perf_counter() - t0:6.1f} s, bound {rep['bound_cycles']} cycles/inference"
              + (f"; RTL skipped: {rep['rtl_skipped']}" if rep.get("rtl_skipped") else ""))
        for engine in a.engines.split(","):
            if engine != "csim" and rep.get("rtl_skipped"):
                print(f"  {engine:<10} not run (no RTL)")
                continue
            t0 = time.perf_counter()
            try:
                got, stats = run_engine(engine, Path(a.out) / name, x)
            except FastInferenceError as e:
                print(f"  {engine:<10} error: {e}")
                ok = False
                continue
            bad = first_mismatch(got, scores)
            ok &= bad is None
            cyc = (f", {stats['cycles_per_inference']} cycles/inference (bound {rep['bound_cycles']})"
                   if stats.get("cycles_per_inference") is not None else "")
            print(f"  {engine:<10} {'bit-exact' if bad is None else 'MISMATCH: ' + bad} on {len(x)} rows, "
                  f"{time.perf_counter() - t0:.1f} s{cyc}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
