#!/usr/bin/env python
"""Train the bundled plain float networks on sklearn's digits and check their post-training
quantization.

Writes into --out (default: the folder of this script):
  digits_float_mlp.onnx  MLP 64-64-32-10: Linear-BatchNorm-ReLU x2, Linear, LogSoftmax; input
                         (N, 64) float32 raw pixels 0..16; torch's dynamo exporter
  digits_float_cnn.onnx  Conv(1->8,3x3,pad 1)-BN-ReLU-MaxPool2-Conv(8->16,3x3)-BN-ReLU-MaxPool2-
                         Flatten-Linear(16->10), LogSoftmax; input (N, 1, 8, 8); dynamo exporter
  digits_calib_x.npy     uint8 (1347, 64): the training rows (integer pixels 0..16), the
                         calibration file for --calibration (the CNN takes it as (N, 1, 8, 8))

Both networks are also exported with the legacy (TorchScript) exporter into a temporary folder;
for each of the four files the script quantizes with fastinference at 8-bit weights and
activations (calibration: the training rows), and prints the accuracy of the quantized model
(integer scores, the bit-exact reference), of the float model (onnxruntime) and their argmax
agreement on the 450 held-out test rows (digits_test_x.npy / digits_test_y.npy). It fails if the
agreement is below 99%. Training is deterministic (fixed seed, one thread), a few seconds each.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: %(default)s)")
    a = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    import logging
    logging.disable(logging.WARNING)
    import fastinference as fi
    from fastinference.ptq import onnx_float_scores
    from fastinference.testing import float_nets
    from fastinference.testing.nets import load_data

    a.out.mkdir(parents=True, exist_ok=True)
    X_tr, X_te, _, y_te = load_data()
    np.save(a.out / "digits_calib_x.npy", X_tr.astype(np.uint8))
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for name in float_nets.FLOAT_NETS:
            model = float_nets.train(name)
            for exporter in ("legacy", "dynamo"):
                path = float_nets.export_float(model, name, exporter, Path(tmp) / f"{name}_{exporter}.onnx")
                net = fi.load(str(path), ptq={"calibration": X_tr})
                x = X_te.reshape((-1,) + net.model.input_shape)
                s = net.predict(x)
                f = onnx_float_scores(str(path), x)
                agree = float((s.argmax(1) == f.argmax(1)).mean())
                ok &= agree >= 0.99
                print(f"{name} ({exporter}): quantized W8A8 accuracy {(s.argmax(1) == y_te).mean():.4f}, "
                      f"float (onnxruntime) {(f.argmax(1) == y_te).mean():.4f}, argmax agreement "
                      f"{agree:.4f} on {len(y_te)} test rows")
                if exporter == "dynamo":
                    shutil.copyfile(path, a.out / f"digits_float_{name}.onnx")
    if not ok:
        print("error: argmax agreement below 0.99 at 8 bits", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
