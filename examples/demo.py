"""`make demo`: the bundled digits networks from ONNX to verified hardware.

The BNNs (plain PyTorch exports), the residual BNNs (skip connections), the quantized networks
(Brevitas QONNX exports: a W4A4 MLP, a W2A2 ConvNet and a residual W4A4 MLP) and the float
networks (quantized here, post-training, to 8 bits with the bundled calibration rows). For each
bundled model: reference accuracy (and bit-exactness against onnxruntime, qonnx's executor for
QONNX files, or argmax agreement with the float model for float ones), compile to HLS and RTL,
g++ C-simulation, Verilator and Icarus simulation, each compared bit for bit with the
reference, cycles per inference against the folding bound. Exits non-zero if any
engine is not bit-exact.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from fastinference import load
from fastinference.errors import FastInferenceError
from fastinference.project import compile_project, first_mismatch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

MODELS = [("digits_mlp", "digits_test_x.npy"), ("digits_cnn", "digits_test_x_img.npy"),
          ("digits_res_mlp", "digits_test_x.npy"), ("digits_res_cnn", "digits_test_x_img.npy"),
          ("digits_qmlp_w4a4", "digits_q_test_x.npy"), ("digits_qcnn_w2a2", "digits_q_test_x.npy"),
          ("digits_res_qmlp_w4a4", "digits_q_test_x.npy"),
          ("digits_float_mlp", "digits_test_x.npy"), ("digits_float_cnn", "digits_test_x_img.npy")]
CALIBRATION = "digits_calib_x.npy"  # representative inputs for the float models


def qonnx_scores(path: Path, net, x: np.ndarray):
    """qonnx's executor on the rows, in score units (None when qonnx is not installed)."""
    try:
        from fastinference.testing.brevitas_nets import qonnx_execute
    except ImportError:
        return None
    out = qonnx_execute(path, np.asarray(x, dtype=np.float32).reshape((len(x),) + tuple(net.model.input_shape)))
    return out / np.broadcast_to(net.model.output_scale, (out.shape[1],))


def ort_scores(path: Path, x: np.ndarray) -> np.ndarray | None:
    """onnxruntime's input to the final LogSoftmax (None when onnxruntime is not installed)."""
    try:
        import onnx
        import onnxruntime as ort
    except ImportError:
        return None
    m = onnx.load(str(path))
    last = m.graph.node[-1]
    if last.op_type in ("LogSoftmax", "Softmax"):
        m.graph.output[0].name = last.input[0]
        m.graph.node.pop()
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x.astype(np.float32)})[0]


def line(engine: str, ok: bool, extra: str = "") -> str:
    return f"  {engine:<22} {'bit-exact' if ok else 'MISMATCH'}{extra}"


def demo_model(name: str, xfile: str, out_root: Path, n_icarus: int) -> bool:
    from fastinference.verify.csim import run_csim
    from fastinference.verify.rtl_sim import run_sim

    onnx_path = HERE / f"{name}.onnx"
    x = np.load(HERE / xfile)
    y = np.load(HERE / "digits_test_y.npy")
    ptq = {"calibration": str(HERE / CALIBRATION)} if name.startswith("digits_float") else None
    net = load(str(onnx_path), ptq=ptq)
    if ptq is not None:
        x = x.reshape((len(x),) + tuple(net.model.input_shape))
    t0 = time.time()
    scores = net.predict(x)
    acc = float((scores.argmax(1) == y).mean())
    print(f"\n== {name} ({onnx_path.relative_to(ROOT)}): "
          + ", ".join(f"{l.name} {l.kind}" for l in net.layers))
    print(f"  reference accuracy     {acc:.3f} on {len(y)} test digits")
    ok = True
    qonnx = net.model.output_scale is not None and ptq is None
    ref = qonnx_scores(onnx_path, net, x) if qonnx else ort_scores(onnx_path, x)
    if ref is not None and ptq is not None:  # a float model: quantized here, so agreement
        agree = float((ref.argmax(1) == scores.argmax(1)).mean())
        print(f"  float model (onnxrt)   accuracy {float((ref.argmax(1) == y).mean()):.3f}, argmax "
              f"agreement with the 8-bit hardware {agree:.3f}")
    elif ref is not None and qonnx:
        same = np.array_equal(np.round(ref).astype(np.int64), scores)
        ok &= same
        print(line("qonnx executor", same, " (outputs / output_scale)"))
    elif ref is not None:
        same = np.array_equal(ref.astype(np.int64), scores) and np.all(ref == np.round(ref))
        ok &= same
        print(line("onnxruntime", same, " (scores before LogSoftmax)"))
    out = out_root / name
    t0 = time.time()
    rep = compile_project(str(onnx_path), out, backend="all", force=True, vectors=x, ptq=ptq)
    print(f"  compiled to            {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} "
          f"in {time.time() - t0:.1f} s (HLS: {out.name}/hls"
          + ("" if rep.get("rtl_skipped") else f", RTL: {out.name}/rtl") + ")")
    print("  bits                   " + ", ".join(
        f"{l['name']} W{l['weight_bits']}A{l['input_bits']}->{l['output_bits'] if l['output'] != 'scores' else 'scores'}"
        for l in rep["layers"]))
    print("  folding                " + ", ".join(f"{l['name']} PE={l['PE']} SIMD={l['SIMD']}" for l in rep["layers"]))

    t0 = time.time()
    got = run_csim(out, x)
    bad = first_mismatch(got, scores)
    ok &= bad is None
    print(line("g++ C-sim", bad is None, f" ({len(x)} vectors, {time.time() - t0:.1f} s)") + (f": {bad}" if bad else ""))
    if rep.get("rtl_skipped"):
        print(f"  RTL                    not written: {rep['rtl_skipped']}")
        return ok
    for sim, n in (("verilator", len(x)), ("icarus", n_icarus)):
        t0 = time.time()
        got, stats = run_sim(out, x[:n], simulator=sim)
        bad = first_mismatch(got, scores[:n])
        ok &= bad is None
        print(line(f"{sim}", bad is None,
                   f" ({n} vectors, {stats['cycles_per_inference']} cycles/inference, bound "
                   f"{rep['bound_cycles']}, latency {stats['latency_cycles']} cycles, "
                   f"{time.time() - t0:.1f} s)") + (f": {bad}" if bad else ""))
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(ROOT / "out" / "demo"), help="where the projects go")
    ap.add_argument("--icarus-vectors", type=int, default=50, help="rows simulated in Icarus (slower)")
    ap.add_argument("--models", default=",".join(m for m, _ in MODELS))
    a = ap.parse_args()
    out_root = Path(a.out)
    ok = True
    try:
        for name, xfile in MODELS:
            if name in a.models.split(","):
                ok &= demo_model(name, xfile, out_root, a.icarus_vectors)
    except FastInferenceError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    print(f"\n{'all engines bit-exact' if ok else 'SOME ENGINE IS NOT BIT-EXACT'}; projects in {out_root}")
    print("next: `make -C out/demo/digits_mlp/rtl sim SIM=icarus`, `make -C out/demo/digits_mlp/hls csim`, "
          "`vitis_hls -f run_hls.tcl` in out/demo/digits_mlp/hls on a machine with Vitis")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
