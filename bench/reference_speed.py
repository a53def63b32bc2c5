"""Reference model throughput beside onnxruntime on the same model and batch (figures only).

    python bench/reference_speed.py [--batch 1000] [--repeat 7] [--models digits_cnn ...]

Both run in this process on the bundled test inputs (tiled to the batch), interleaved: each
repeat times the reference once and onnxruntime once, so a load from other jobs on the machine
hits both alike. Printed: the best time of each as inferences/s, and the ratio of the medians
(reference / onnxruntime, >= 1: the reference is as fast). QONNX models run in onnxruntime as
QCDQ (qonnx's QuantToQCDQ: QuantizeLinear, Clip, DequantizeLinear) with the batch set.
"""
from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

import fastinference as fi

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
MODELS = {  # model: its test input
    "digits_mlp": "digits_test_x.npy",
    "digits_cnn": "digits_test_x_img.npy",
    "digits_res_mlp": "digits_test_x.npy",
    "digits_res_cnn": "digits_test_x_img.npy",
    "digits_qmlp_w4a4": "digits_q_test_x.npy",
    "digits_qcnn_w2a2": "digits_q_test_x.npy",
}


def ort_session(path: Path, batch: int) -> ort.InferenceSession:
    model = onnx.load(str(path))
    if any(n.domain not in ("", "ai.onnx") for n in model.graph.node):  # QONNX
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.transformation.change_batchsize import ChangeBatchSize
        from qonnx.transformation.qonnx_to_qcdq import QuantToQCDQ
        from qonnx.util.cleanup import cleanup_model
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w = cleanup_model(ModelWrapper(model)).transform(ChangeBatchSize(batch)).transform(QuantToQCDQ())
        model = w.model
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    a = ap.parse_args()
    print(f"{'model':<17} {'batch':>6} {'reference inf/s':>16} {'onnxruntime inf/s':>18} {'ratio':>6} "
          f"{'load+lower s':>13}")
    for name in a.models:
        path = EXAMPLES / f"{name}.onnx"
        t0 = time.perf_counter()
        net = fi.load(str(path))
        t_load = time.perf_counter() - t0
        x = np.load(EXAMPLES / MODELS[name])
        x = np.resize(x, (a.batch,) + x.shape[1:])  # the test rows, repeated
        sess = ort_session(path, a.batch)
        inp = sess.get_inputs()[0]
        feed = {inp.name: x.astype(np.float32).reshape((a.batch,) + tuple(inp.shape[1:]))}
        net.predict(x), sess.run(None, feed)  # warm up
        t_ref, t_ort = [], []
        for _ in range(a.repeat):
            for fn, ts in ((lambda: net.predict(x), t_ref), (lambda: sess.run(None, feed), t_ort)):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
        ratio = np.median(t_ort) / np.median(t_ref)
        print(f"{name:<17} {a.batch:>6} {a.batch / min(t_ref):>16,.0f} {a.batch / min(t_ort):>18,.0f} "
              f"{ratio:>6.2f} {t_load:>13.2f}")


if __name__ == "__main__":
    main()
