"""How often onnxruntime differs from the reference on a net WITHOUT the margin-keeping step.

    python bench/tie_mismatch.py [--rows 4000] [--seed 0]

The test nets (fastinference.testing.nets) move every BatchNorm threshold >= 0.05 away from
the integers (``keep_threshold_margin``) so that no engine's rounding can flip a sign. This
bench skips that step: a digits MLP 64-37-19-10 with seeded random binary weights, seeded
random BatchNorm gamma/beta and running statistics from the digits data, exported with the
dynamo exporter (BatchNorm folded into rows ``s * (+-1)`` and a float bias) and with the
legacy one (BatchNorm kept). On random integer inputs 0..16 it prints the rows where
``predict`` (the exact value, README "Exactness") and onnxruntime differ in any score and in
the argmax, then again with every threshold exactly on an integer (beta 0, integer
running means). onnxruntime sums the K float32 products ``s * x_k`` in its own order, so near a
threshold it can land on the other side; the legacy export has no folded rows.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import fastinference as fi
from fastinference.testing import nets


def build(seed: int, ties: bool = False):
    torch.manual_seed(seed)
    model = nets.build("mlp_odd")
    x_tr = nets.load_data()[0]
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.weight.copy_(torch.randn(m.num_features, generator=g))
                m.bias.copy_(torch.randn(m.num_features, generator=g))
    nets.recalibrate_bn(model, torch.tensor(x_tr, dtype=torch.float32))  # no margin step
    if ties:  # beta 0 and integer means: thresholds exactly on integers (every tie reachable)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm1d):
                    m.bias.zero_()
                    m.running_mean.copy_(torch.round(m.running_mean))
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    x = np.random.default_rng(a.seed).integers(0, 17, size=(a.rows, 64))
    with tempfile.TemporaryDirectory() as d:
        for ties in (False, True):
            model = build(a.seed, ties)
            print("thresholds on integers (exact ties):" if ties else "random BatchNorm (no margin step):")
            for exporter in ("dynamo", "legacy"):
                path = nets.export(nets.to_export_model(model), "mlp_odd", exporter, Path(d) / f"{exporter}.onnx")
                ours = fi.load(str(path)).predict(x)
                ort = nets.ort_pre_softmax(path, x).astype(np.int64)
                any_diff = (ours != ort).any(axis=1)
                argmax = ours.argmax(1) != ort.argmax(1)
                print(f"  {exporter:7s}: {a.rows} rows, {int(any_diff.sum())} differ in a score "
                      f"({100 * any_diff.mean():.2f}%), {int(argmax.sum())} in the argmax "
                      f"({100 * argmax.mean():.2f}%)")
    print(f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
