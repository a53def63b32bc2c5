"""Reference model throughput beside onnxruntime on the same model and batch (figures only).

    python bench/reference_speed.py [--batch 1000] [--repeat 5]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

import fastinference as fi

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def best_of(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    print(f"{'model':<12} {'batch':>6} {'reference inf/s':>16} {'onnxruntime inf/s':>18} {'load+lower s':>13}")
    for name in ("digits_mlp", "digits_cnn"):
        path = EXAMPLES / f"{name}.onnx"
        t0 = time.perf_counter()
        net = fi.load(str(path))
        t_load = time.perf_counter() - t0
        x = np.random.default_rng(0).integers(0, 17, (a.batch,) + net.model.input_shape)
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed = {sess.get_inputs()[0].name: x.astype(np.float32)}
        t_ref = best_of(lambda: net.predict(x), a.repeat)
        t_ort = best_of(lambda: sess.run(None, feed), a.repeat)
        print(f"{name:<12} {a.batch:>6} {a.batch / t_ref:>16,.0f} {a.batch / t_ort:>18,.0f} {t_load:>13.2f}")


if __name__ == "__main__":
    main()
