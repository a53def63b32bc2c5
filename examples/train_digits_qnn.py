#!/usr/bin/env python
"""Train the bundled example quantized networks (Brevitas, QONNX) on sklearn's digits.

Writes into --out (default: the folder of this script):
  digits_qmlp_w4a4.onnx   MLP 64-32-16-10, 4-bit weights and activations (QuantReLU), BN,
                          per-tensor float scales; input (1, 64); export_qonnx default (dynamo)
  digits_qcnn_w2a2.onnx   Conv(1->8)-BN-QuantReLU-MaxPool2-Conv(8->16)-BN-QuantReLU-flatten-
                          Linear(64->10), 2-bit weights and activations; input (1, 1, 8, 8); dynamo
  digits_res_qmlp_w4a4.onnx  a residual block (skip connection): a = R(BN(Linear(64->32) x)),
                          y = R(BN(Linear(QuantReLU(BN(Linear a))))) + a (the block input's
                          QuantReLU R, one module, quantizes the main branch too: one scale on
                          both sides of the Add), z = QuantReLU(y), scores = Linear(32->10) z;
                          4-bit weights and activations, power-of-two scales; input (1, 64);
                          dynamo (fastinference/testing/brevitas_res.py, RSpec join="relu")
  digits_q_test_x.npy     float32 (200, 64): the first 200 test rows (the rows of
                          digits_test_x.npy / digits_test_y.npy), raw pixels 0..16 as float32.
                          All nets start with an unsigned 8-bit Quant of scale exactly 1.0, so
                          these values pass it unchanged. The CNN takes them reshaped to
                          (N, 1, 8, 8).

The graphs fix the batch at 1 (Brevitas); qonnx's execute_onnx is the reference
(fastinference.testing.brevitas_nets.qonnx_execute runs all rows at once). The nets output
float scores (no softmax). Training is deterministic (fixed seed, one thread). The networks and
the recipe live in fastinference/testing/brevitas_nets.py (shared with the test suite);
the ops each export form contains: tests/test_brevitas_nets.py (expected_ops) and notes/qonnx_exports.md in the team notes.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
N_VECTORS = 200


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: %(default)s)")
    ap.add_argument("--only", help="comma-separated file names to write (default: all)")
    a = ap.parse_args(argv)
    import warnings
    warnings.filterwarnings("ignore")
    from fastinference.testing.brevitas_nets import (QSpec, load_meta, make_qnn, qnn_input,
                                                     qonnx_execute)
    from fastinference.testing.nets import load_data

    a.out.mkdir(parents=True, exist_ok=True)
    _, X_te, _, y_te = load_data()
    x = qnn_input(QSpec("mlp"), X_te[:N_VECTORS])
    np.save(a.out / "digits_q_test_x.npy", x)
    y = y_te[:N_VECTORS]

    from fastinference.testing.brevitas_res import RSpec, make_res, res_input

    nets = ((QSpec("mlp", 4, 4, "dynamo"), "digits_qmlp_w4a4.onnx"),
            (QSpec("cnn", 2, 2, "dynamo"), "digits_qcnn_w2a2.onnx"),
            (RSpec("mlp", 2, False, "relu", width=32, epochs=100), "digits_res_qmlp_w4a4.onnx"))
    with tempfile.TemporaryDirectory() as tmp:
        for spec, fname in nets:
            if a.only and fname not in a.only.split(","):
                continue
            res = isinstance(spec, RSpec)
            path = make_res(spec, tmp) if res else make_qnn(spec, tmp)
            meta = json.loads(path.with_suffix(".json").read_text()) if res else load_meta(path)
            shutil.copyfile(path, a.out / fname)
            s_all = qonnx_execute(path, (res_input if res else qnn_input)(spec, X_te))
            s = s_all[:N_VECTORS]
            print(f"{fname}: trained in {meta['train_seconds']:.1f} s; test accuracy (qonnx "
                  f"execute_onnx) {(s_all.argmax(1) == y_te).mean():.4f} on all {len(y_te)} test "
                  f"rows, {(s.argmax(1) == y).mean():.4f} on the {N_VECTORS} bundled rows")


if __name__ == "__main__":
    main()
