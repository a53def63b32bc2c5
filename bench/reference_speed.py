"""Reference model throughput beside onnxruntime on the same model and batch (figures only).

    python bench/reference_speed.py [--batch 1000] [--repeat 15] [--threads N] [--models digits_cnn ...]

Both run in this process on the bundled test inputs (tiled to the batch), interleaved: each
repeat times the reference once and onnxruntime once, so a load from other jobs on the machine
hits both alike. Printed: the best wall time of each as inferences/s, the ratio of the median
wall times and of the median CPU times (reference / onnxruntime speed, >= 1: the reference is
as fast; CPU time is what a loaded machine distorts least). ``--threads N`` gives both N
threads (BLAS through threadpoolctl, onnxruntime's intra-op pool); 0: each library's default.
QONNX models run in onnxruntime as QCDQ (qonnx's QuantToQCDQ: QuantizeLinear, Clip,
DequantizeLinear) with the batch set.
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
    "digits_res_qmlp_w4a4": "digits_q_test_x.npy",
}


def ort_session(path: Path, batch: int, threads: int) -> ort.InferenceSession:
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
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    a = ap.parse_args()
    if a.threads:
        from threadpoolctl import threadpool_limits
        threadpool_limits(a.threads, user_api="blas")
    print(f"{'model':<20} {'batch':>6} {'reference inf/s':>16} {'onnxruntime inf/s':>18} {'ratio':>6} "
          f"{'cpu ratio':>9} {'load+lower s':>13}")
    for name in a.models:
        path = EXAMPLES / f"{name}.onnx"
        t0 = time.perf_counter()
        net = fi.load(str(path))
        t_load = time.perf_counter() - t0
        x = np.load(EXAMPLES / MODELS[name])
        x = np.resize(x, (a.batch,) + x.shape[1:])  # the test rows, repeated
        sess = ort_session(path, a.batch, a.threads)
        inp = sess.get_inputs()[0]
        feed = {inp.name: x.astype(np.float32).reshape((a.batch,) + tuple(inp.shape[1:]))}
        net.predict(x), sess.run(None, feed)  # warm up
        t = {"ref": [], "ort": [], "ref cpu": [], "ort cpu": []}
        for _ in range(a.repeat):
            for fn, key in ((lambda: net.predict(x), "ref"), (lambda: sess.run(None, feed), "ort")):
                t0, c0 = time.perf_counter(), time.process_time()
                fn()
                t[key].append(time.perf_counter() - t0)
                t[key + " cpu"].append(time.process_time() - c0)
        ratio, cpu_ratio = (np.median(t["ort" + k]) / np.median(t["ref" + k]) for k in ("", " cpu"))
        print(f"{name:<20} {a.batch:>6} {a.batch / min(t['ref']):>16,.0f} {a.batch / min(t['ort']):>18,.0f} "
              f"{ratio:>6.2f} {cpu_ratio:>9.2f} {t_load:>13.2f}")


if __name__ == "__main__":
    main()
