#!/usr/bin/env python
"""The same float models through hls4ml 1.3.0 and through fastinference's post-training
quantization, side by side.

For each model (default: the bundled examples/digits_float_mlp.onnx and digits_float_cnn.onnx,
trained by examples/train_digits_float.py) and the 450 held-out digits rows:

  hls4ml default  convert_from_onnx_model at its default precision ap_fixed<16,6> for weights
                  and activations (model-level config), C-simulated with hls_model.compile() +
                  predict() (g++, no Vitis)
  hls4ml auto     config_from_onnx_model(granularity="name") with "auto" precision where its
                  converter infers it (the rest stays ap_fixed<16,6>)
  ours W8A8       fastinference PTQ: 8-bit weights (per channel) and activations, calibration
                  examples/digits_calib_x.npy (the training rows); predict (== csim == RTL sim)
  ours auto       --act-bits auto (min agreement 0.99 on the calibration rows)

and prints a table: accuracy, argmax agreement with the float model (onnxruntime), weight and
activation bits. hls4ml's ONNX front end goes through qonnx (cleanup, channels-last, Gemm to
MatMul) as its documentation says; it does not take the final LogSoftmax, so that node is cut
(its argmax is the argmax of its input: nothing changes for the comparison). The batch is fixed
to 1 for hls4ml. The numbers of one run are in the README ("Float models").
"""
from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def cut_softmax_fix_batch(path: Path, out: Path) -> Path:
    """The ONNX without its final (Log)Softmax, batch fixed to 1."""
    import onnx
    m = onnx.load(str(path))
    g = m.graph
    last = [n for n in g.node if g.output[0].name in n.output]
    if last and last[0].op_type in ("LogSoftmax", "Softmax"):
        src = last[0].input[0]
        g.node.remove(last[0])
        vi = [v for v in g.value_info if v.name == src]
        new_out = onnx.helper.make_tensor_value_info(src, onnx.TensorProto.FLOAT, None)
        if vi:
            new_out.type.CopyFrom(vi[0].type)
        del g.output[:]
        g.output.append(new_out)
    for v in list(g.input) + list(g.output):
        if v.type.tensor_type.HasField("shape") and len(v.type.tensor_type.shape.dim):
            v.type.tensor_type.shape.dim[0].Clear()
            v.type.tensor_type.shape.dim[0].dim_value = 1
    del g.value_info[:]
    onnx.save(m, str(out))
    return out


def qonnx_prepare(path: Path):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model
    model = cleanup_model(ModelWrapper(str(path)))
    model = model.transform(ConvertToChannelsLastAndClean())
    model = model.transform(GemmToMatMul())
    return cleanup_model(model)


def hls4ml_run(path: Path, x: np.ndarray, workdir: Path, auto: bool) -> tuple[np.ndarray, str, str]:
    """(scores, weight precision, activation precision) of hls4ml's C simulation."""
    import hls4ml
    model = qonnx_prepare(path)
    is_cnn = x.ndim == 4
    if auto:
        cfg = hls4ml.utils.config_from_onnx_model(model, granularity="name", backend="Vitis",
                                                  default_precision="fixed<16,6>")
    else:
        cfg = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1}}
    with contextlib.redirect_stdout(io.StringIO()):
        hm = hls4ml.converters.convert_from_onnx_model(
            model, output_dir=str(workdir), backend="Vitis", hls_config=cfg,
            io_type="io_stream" if is_cnn else "io_parallel")
        hm.compile()
    xin = np.ascontiguousarray(x.transpose(0, 2, 3, 1) if is_cnn else x, dtype=np.float32)
    y = np.asarray(hm.predict(xin)).reshape(len(x), -1)
    wp, ap = set(), set()
    for layer in hm.get_layers():
        for name, var in getattr(layer, "weights", {}).items():
            wp.add(str(var.type.precision))
        out = layer.get_output_variable()
        ap.add(str(out.type.precision))
    short = lambda s: ", ".join(sorted(s)) if len(s) <= 2 else f"{len(s)} types ({', '.join(sorted(s)[:2])}, ...)"
    return y, short(wp), short(ap)


def ours(path: Path, x: np.ndarray, calib: np.ndarray, act_bits) -> tuple[np.ndarray, str, str]:
    import fastinference as fi
    net = fi.load(str(path), ptq={"calibration": calib, "act_bits": act_bits})
    prec = net.ptq.precision()
    w = sorted({v["weight_bits"] for v in prec.values()})
    a = [v["act_bits"] for v in prec.values() if "act_bits" in v]
    return net.predict(x), f"int{'/'.join(map(str, w))} per channel", \
        f"uint{'/'.join(map(str, a))} per tensor" + (" (auto)" if act_bits == "auto" else "")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("models", nargs="*", type=Path,
                    default=[EXAMPLES / "digits_float_mlp.onnx", EXAMPLES / "digits_float_cnn.onnx"])
    ap.add_argument("--calibration", type=Path, default=EXAMPLES / "digits_calib_x.npy")
    ap.add_argument("--keep", type=Path, help="keep hls4ml's projects in this folder")
    a = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from fastinference.ptq import onnx_float_scores
    from fastinference.testing.nets import load_data

    _, X_te, _, y_te = load_data()
    calib = np.load(a.calibration)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = a.keep or Path(tmp)
        for path in a.models:
            is_cnn = "cnn" in path.name
            x = X_te.reshape(-1, 1, 8, 8) if is_cnn else X_te
            f = onnx_float_scores(str(path), x).argmax(1)
            rows.append((path.name, "float (onnxruntime)", (f == y_te).mean(), 1.0, "float32", "float32"))
            cut = cut_softmax_fix_batch(path, work / f"{path.stem}_nosoftmax.onnx")
            for label, auto in (("hls4ml default", False), ("hls4ml auto", True)):
                try:
                    s, wp, apr = hls4ml_run(cut, x, work / f"{path.stem}_{'auto' if auto else 'default'}", auto)
                    rows.append((path.name, label, (s.argmax(1) == y_te).mean(), (s.argmax(1) == f).mean(), wp, apr))
                except Exception as e:  # report, keep going
                    rows.append((path.name, label, float("nan"), float("nan"),
                                 f"failed: {type(e).__name__}: {str(e)[:60]}", ""))
            for label, ab in (("ours W8A8", 8), ("ours auto", "auto")):
                s, wp, apr = ours(path, x, calib, ab)
                rows.append((path.name, label, (s.argmax(1) == y_te).mean(), (s.argmax(1) == f).mean(), wp, apr))
    n = len(y_te)
    print(f"| model | flow | accuracy | agreement with float ({n} rows) | weights | activations |")
    print("|---|---|---|---|---|---|")
    for m, label, acc, agr, wp, apr in rows:
        print(f"| {m} | {label} | {acc:.4f} | {agr:.4f} ({int(round(agr * n)) if agr == agr else '-'}/{n}) "
              f"| {wp} | {apr} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
