"""Figures for the HLS backend: per layer and folding, the cycle bound and the g++ C-simulation
time per inference (plus the whole network at each target).

    python bench/hls_csim.py [--model examples/digits_mlp.onnx ...] [--targets 1,8,64,512]
                             [--vectors 2000] [--work .tmp-bench-hls] [--json out.json]

Each layer is timed alone: the layer fed from the model input (first layer) or from bits,
followed by a one-score dense layer that costs one cycle, with the folding that
``--target-cycles T`` gives it. The time per inference is (t(N vectors) - t(1 vector)) / (N-1)
of the testbench binary, so process start and file reading of one row are excluded. These are
figures, not checks: nothing here asserts.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from fastinference import load, reference
from fastinference.backends.hls import write_hls
from fastinference.errors import BadOptionError
from fastinference.folding import LayerFold, fold_for_target, layer_bound, pipeline_bound
from fastinference.ir import BinaryConv, BinaryDense, BinaryLayer, Model
from fastinference.verify.csim import build

ROOT = Path(__file__).resolve().parents[1]


def single_layer(model: Model, layer: BinaryLayer) -> tuple[Model, dict]:
    """The layer alone, fed from the model input (first layer) or from bits, followed by a
    one-score dense layer (PE=1, SIMD=K: one cycle) when the layer emits bits. Returns the
    model and the folding of the extra layer."""
    first = layer is model.layers[0]
    one = replace(layer)
    if not isinstance(layer, BinaryConv):
        one = replace(one, in_shape=(layer.K,) if not first else tuple(layer.in_shape))
    if first:
        shape, bits, signed = tuple(model.input_shape), model.input_bits, model.input_signed
    else:
        shape = tuple(layer.in_shape) if isinstance(layer, BinaryConv) else (layer.K,)
        bits, signed = 1, False
    layers, extra = [one], {}
    if not layer.emits_scores:
        k = int(np.prod(layer.out_shape))
        tail = BinaryDense(name="bench_score", source_nodes=[], in_shape=tuple(layer.out_shape),
                           out_shape=(1,), weights=np.ones((1, k), dtype=np.int8),
                           bias=np.zeros(1, dtype=np.int64))
        layers.append(tail)
        extra = {"bench_score": LayerFold(1, k)}
    return Model(f"{layer.name}_alone", layers, shape, bits, signed), extra


def vectors(model: Model, n: int, rng) -> np.ndarray:
    b = model.input_bits
    lo, hi = ((-(1 << (b - 1)), (1 << (b - 1)) - 1) if model.input_signed else (0, (1 << b) - 1))
    return rng.integers(lo, hi + 1, size=(n, int(np.prod(model.input_shape))), dtype=np.int64)


def time_csim(model: Model, folding, work: Path, n: int, rng) -> tuple[float, float, bool]:
    """(build seconds, seconds per inference, bit-exact on the n vectors)."""
    hls = work / "hls"
    write_hls(model, folding, hls, top="bench_top")
    t0 = time.perf_counter()
    exe = build(hls)
    t_build = time.perf_counter() - t0
    x = vectors(model, n, rng)
    want = reference.run(model, x.reshape((n,) + tuple(model.input_shape)))
    times = {}
    for rows in (1, n):
        inp, exp = work / f"in{rows}.txt", work / f"exp{rows}.txt"
        inp.write_text("".join(" ".join(map(str, r)) + "\n" for r in x[:rows]))
        exp.write_text("".join(" ".join(map(str, r)) + "\n" for r in want[:rows]))
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            r = subprocess.run([str(exe), str(inp), str(exp)], capture_output=True, text=True)
            best = min(best, time.perf_counter() - t0)
        times[rows] = (best, r.returncode)
    exact = times[1][1] == 0 and times[n][1] == 0
    return t_build, (times[n][0] - times[1][0]) / max(1, n - 1), exact


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append",
                    help="ONNX model(s); default: examples/digits_mlp.onnx and digits_cnn.onnx")
    ap.add_argument("--targets", default="1,8,64,512",
                    help="comma-separated --target-cycles values (default 1,8,64,512)")
    ap.add_argument("--vectors", type=int, default=2000, help="inferences per timing (default 2000)")
    ap.add_argument("--work", default=str(ROOT / ".tmp-bench-hls"), help="build folder")
    ap.add_argument("--json", help="also write the rows as JSON here")
    a = ap.parse_args(argv)
    models = a.model or [str(ROOT / "examples" / "digits_mlp.onnx"),
                         str(ROOT / "examples" / "digits_cnn.onnx")]
    targets = [int(t) for t in a.targets.split(",") if t.strip()]
    work = Path(a.work).resolve()
    os.environ.setdefault("FI_CSIM_PCH_DIR", str(work / "pch"))
    rng = np.random.default_rng(0)
    rows = []
    hdr = f"{'model':<12} {'layer':<16} {'target':>6} {'K':>5} {'M':>4} {'V':>3} {'PE':>4} " \
          f"{'SIMD':>4} {'bound':>6} {'build s':>8} {'us/inf':>9} exact"
    print(hdr)
    for path in models:
        net = load(path)
        mname = Path(path).stem
        for t in targets:
            try:
                folding = fold_for_target(net.model, t)
            except BadOptionError:
                continue  # a conv with more pixels than t cycles
            units = [(l.name, *single_layer(net.model, l), l) for l in net.model.compute_layers()]
            units.append(("(network)", net.model, {}, None))
            for lname, m, extra, layer in units:
                if layer is not None:
                    f = folding[layer.name]
                    fold = {layer.name: f, **extra}
                    bound = layer_bound(layer, f.pe, f.simd)
                    K, M, V, PE, SIMD = layer.K, layer.M, layer.V, f.pe, f.simd
                else:
                    fold = folding
                    bound = pipeline_bound(m, folding)
                    K = M = V = PE = SIMD = "-"
                wdir = work / mname / f"t{t}" / lname.strip("()")
                tb, per, exact = time_csim(m, fold, wdir, a.vectors, rng)
                row = {"model": mname, "layer": lname, "target": t, "K": K, "M": M, "V": V,
                       "PE": PE, "SIMD": SIMD, "bound_cycles": bound, "build_s": round(tb, 2),
                       "csim_us_per_inference": round(per * 1e6, 2), "exact": exact}
                rows.append(row)
                print(f"{mname:<12} {lname:<16} {t:>6} {K!s:>5} {M!s:>4} {V!s:>3} {PE!s:>4} "
                      f"{SIMD!s:>4} {bound:>6} {tb:>8.1f} {per * 1e6:>9.1f} {exact}", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
