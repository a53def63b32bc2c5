#!/usr/bin/env python
"""Train the bundled example BNNs on sklearn's digits and export them to ONNX.

Writes into --out (default: the folder of this script):
  digits_mlp.onnx          64-128-256-10 MLP (MatMul-BN-sign x2, MatMul, LogSoftmax), input (N, 64)
  digits_cnn.onnx          Conv-BN-sign-MaxPool-Conv-BN-sign-Flatten-MatMul-LogSoftmax, input (N, 1, 8, 8)
  digits_test_x.npy        int64 (200, 64): the first 200 test rows, raw pixels 0..16 (MLP input)
  digits_test_x_img.npy    int64 (200, 1, 8, 8): the same rows as images (CNN input;
                           = digits_test_x.reshape(-1, 1, 8, 8))
  digits_test_y.npy        int64 (200,): their labels

Both models use the legacy exporter (dynamo=False, opset 11, do_constant_folding=True, dynamic
batch), as the original fastinference seed did. Training is deterministic (fixed seeds, one
thread): running this twice gives byte-identical files on the same machine and torch version.
The networks and the training recipe live in fastinference/testing/nets.py (shared with the test suite).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
N_VECTORS = 200


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: %(default)s)")
    a = ap.parse_args(argv)
    from fastinference.testing import nets  # needs torch: imported only when training
    import warnings
    warnings.filterwarnings("ignore")

    a.out.mkdir(parents=True, exist_ok=True)
    _, X_te, _, y_te = nets.load_data()
    x = np.ascontiguousarray(X_te[:N_VECTORS], dtype=np.int64)
    y = np.ascontiguousarray(y_te[:N_VECTORS], dtype=np.int64)
    np.save(a.out / "digits_test_x.npy", x)
    np.save(a.out / "digits_test_x_img.npy", x.reshape(-1, 1, 8, 8))
    np.save(a.out / "digits_test_y.npy", y)

    for net, fname in (("mlp_seed", "digits_mlp.onnx"), ("cnn", "digits_cnn.onnx")):
        model, st = nets.train(net)
        path = nets.export(nets.to_export_model(model), net, "legacy", a.out / fname)
        s_all = nets.ort_pre_softmax(path, X_te)
        s = s_all[:N_VECTORS]
        print(f"{fname}: trained in {st['train_seconds']:.1f} s; test accuracy (onnxruntime) "
              f"{(s_all.argmax(1) == y_te).mean():.4f} on all {len(y_te)} test rows, "
              f"{(s.argmax(1) == y).mean():.4f} on the {N_VECTORS} bundled rows")


if __name__ == "__main__":
    main()
