#!/usr/bin/env python
"""Train the bundled residual BNNs (skip connections) on sklearn's digits and export them.

Writes into --out (default: the folder of this script):
  digits_res_mlp.onnx   a = sign(BN(W0 x)) (64 -> 64), y = sign(BN(W1 a + a)) (the shortcut
                        carries the +-1 activations a), scores = W2 y (64 -> 10), LogSoftmax;
                        input (N, 64)
  digits_res_cnn.onnx   a = sign(BN(Conv3x3(x))) (1 -> 16 channels, pad 1), y = sign(BN(Conv1x1(a)
                        + a)), MaxPool 2, Flatten, Linear (256 -> 10), LogSoftmax; input
                        (N, 1, 8, 8)
Test vectors: the bundled digits_test_x.npy / digits_test_x_img.npy / digits_test_y.npy (the
first 200 test rows; train_digits_bnn.py writes them).

+-1 weights without bias, the where-sign activation, BatchNorm after the Add (its threshold
covers the integer sum: fastinference lowers the Add to an integer adder and a threshold unit).
Both files use the legacy exporter; the script also exports each net with the dynamo exporter
into a temporary folder and checks, on all 450 test rows, that fastinference's predict equals
onnxruntime's pre-softmax scores for both exports and that both lower to the same hardware.
It fails if either check fails or an accuracy is below 0.9. Deterministic (fixed seeds, one
thread); about a minute on one core.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
NETS = (  # (file, res_nets name, training options)
    ("digits_res_mlp.onnx", "res_mlp1", dict(epochs=40, width=64, bn_lr=1e-3, batch=256)),
    ("digits_res_cnn.onnx", "res_cnn1", dict(epochs=30, conv_width=16)),
)
MIN_ACCURACY = 0.9


def _hardware(net) -> list:
    pos = {l.name: i for i, l in enumerate(net.model.layers)}
    pos["<input>"] = -1
    rows = []
    for i, l in enumerate(net.model.layers):
        d = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in vars(l).items()
             if k not in ("name", "source_nodes", "inputs")}
        rows.append((l.kind, [pos[p] for p in net.model.inputs_of(i)], repr(sorted(d.items()))))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: %(default)s)")
    a = ap.parse_args(argv)
    import warnings
    warnings.filterwarnings("ignore")
    import fastinference as fi
    from fastinference.testing import nets, res_nets  # needs torch: imported only when training

    a.out.mkdir(parents=True, exist_ok=True)
    _, X_te, _, y_te = nets.load_data()
    ok = True
    for fname, name, opts in NETS:
        model, _ = res_nets.train(name, **opts)
        em = res_nets.to_export_model(model)
        kind = "cnn" if "cnn" in name else "mlp"
        path = nets.export(em, kind, "legacy", a.out / fname)
        with tempfile.TemporaryDirectory() as tmp:
            dyn = nets.export(em, kind, "dynamo", Path(tmp) / fname)
            hw, exact = [], True
            for p in (path, dyn):
                net = fi.load(str(p))
                s = net.predict(X_te)
                exact &= np.array_equal(s, nets.ort_pre_softmax(p, X_te).astype(np.int64))
                hw.append(_hardware(net))
            ok &= exact
            same = hw[0] == hw[1]
            ok &= same
        acc = float((s.argmax(1) == y_te).mean())
        acc200 = float((s[:200].argmax(1) == y_te[:200]).mean())
        ok &= acc >= MIN_ACCURACY
        print(f"{fname}: test accuracy {acc:.4f} on all {len(y_te)} rows, {acc200:.4f} on the 200 bundled "
              f"rows; predict == onnxruntime (legacy and dynamo): {exact}; same hardware: {same}; "
              f"layers: {', '.join(l.kind for l in net.layers)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
