"""The ``fastinference`` command line. Every error becomes one ``error:`` line and an exit
code here, in one place: 2 user error, 1 verification failure, 3 tool failure, 4 internal
error (a bug: the traceback goes to a file in the system's temporary folder)."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__
from .errors import BadInputError, BadOptionError, FastInferenceError, VerificationError
from .folding import DEFAULT_TARGET_CYCLES

EPILOG_FOLDING = (
    "Folding: each dense/conv layer computes PE output neurons in parallel, each consuming SIMD "
    "inputs per cycle; its bound is ceil(K/SIMD)*ceil(M/PE)*V cycles per inference (V output "
    "pixels of a conv, 1 for dense) and the pipeline's bound is the largest layer bound. "
    f"Default (no --fold-config, no --target-cycles): --target-cycles max({DEFAULT_TARGET_CYCLES}, "
    "largest V), i.e. the cheapest PE x SIMD per layer that reaches that bound.")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        sys.stderr.write(f"error: {message} (see '{self.prog} --help')\n")
        sys.exit(2)


def _progress(msg: str) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"[fastinference] {msg}\n")


def _load_npy(path: str, what: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise BadInputError(f"{what} {path}: no such file") from None
    except Exception as e:
        raise BadInputError(f"{what} {path}: not a readable .npy array ({type(e).__name__})") from None


def _save_npy(path: str, arr: np.ndarray) -> None:
    try:
        np.save(path, arr)
    except OSError as e:
        raise BadOptionError(f"--output {path}: cannot write ({e.strerror})") from None


def _layer_rows(net) -> list[dict]:
    rows = []
    for i, l in enumerate(net.layers):
        kind = l.kind
        if hasattr(l, "weights"):
            ops = l.K * l.M * l.V
            wbits, abits = int(l.weight_bits), l.input_bits if l.input_kind == "int" else 1
        else:  # pools: a comparison per window element; joins, thresholds: one op per value
            kh, kw = getattr(l, "kernel", (1, 1))
            ops = int(np.prod(l.out_shape)) * kh * kw
            wbits, abits = 0, int(getattr(l, "bits", 1))
        row = {"index": i, "name": l.name, "kind": kind, "input_shape": list(l.in_shape),
               "output_shape": list(l.out_shape), "weight_bits": wbits, "activation_bits": abits,
               "operations": int(ops), "source_nodes": list(l.source_nodes)}
        if getattr(l, "inputs", None) is not None:
            row["inputs"] = list(l.inputs)
        if hasattr(l, "weights"):
            from .folding import layer_bits
            row.update(K=l.K, M=l.M, V=l.V, **layer_bits(l))
        rows.append(row)
    return rows


def _ptq(a):
    from .ptq import options_from_args
    return options_from_args(a)


def _load(a):
    from .api import load
    net = load(a.model, input_bits=a.input_bits, input_signed=a.input_signed, ptq=_ptq(a))
    for w in (net.ptq.warnings if net.ptq else []):
        sys.stderr.write(f"warning: {w}\n")
    return net


def cmd_inspect(a) -> int:
    net = _load(a)
    rows = _layer_rows(net)
    if a.json:
        print(json.dumps({"model": Path(a.model).name, "input_shape": list(net.model.input_shape),
                          "input_bits": net.model.input_bits, "input_signed": net.model.input_signed,
                          "classes": net.model.num_classes, "layers": rows,
                          **({"ptq": net.ptq.summary()} if net.ptq else {})}, indent=2))
        return 0
    shape = lambda s: "x".join(map(str, s))
    print(f"{Path(a.model).name}: input {shape(net.model.input_shape)} "
          f"({net.model.input_bits}-bit {'signed' if net.model.input_signed else 'unsigned'}), "
          f"{net.model.num_classes} classes")
    hdr = f"{'#':>2}  {'name':<24} {'kind':<15} {'input':>10} {'output':>10} {'w bits':>6} {'a bits':>6} {'ops':>9}"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['index']:>2}  {r['name']:<24} {r['kind']:<15} {shape(r['input_shape']):>10} "
              f"{shape(r['output_shape']):>10} {r['weight_bits']:>6} {r['activation_bits']:>6} {r['operations']:>9}")
    if net.ptq:
        from .ptq import inspect_lines
        print("\n" + "\n".join(inspect_lines(net.ptq)))
    return 0


def cmd_predict(a) -> int:
    net = _load(a)
    x = _load_npy(a.input, "--input")
    scores = net.predict(x)
    _save_npy(a.output, scores)
    msg = f"wrote {a.output}: {scores.shape[0]} rows x {scores.shape[1]} int64 scores"
    if a.labels:
        y = _load_npy(a.labels, "--labels").reshape(-1)
        if y.shape[0] != scores.shape[0]:
            raise BadInputError(f"--labels has {y.shape[0]} rows, --input {scores.shape[0]}")
        acc = float((scores.argmax(axis=1) == y).mean())
        msg += f"; accuracy {acc:.4f} ({int((scores.argmax(axis=1) == y).sum())}/{y.shape[0]})"
        if net.ptq:
            from .ptq import predict_comparison
            msg += predict_comparison(a.model, net, x, scores, y)
    print(msg)
    return 0


def cmd_compile(a) -> int:
    from .project import compile_project
    vectors = _load_npy(a.vectors, "--vectors") if a.vectors else None
    t0 = time.time()
    rep = compile_project(a.model, a.out, backend=a.backend, fold_config=a.fold_config,
                          target_cycles=a.target_cycles, input_bits=a.input_bits,
                          input_signed=a.input_signed, part=a.part, clock_ns=a.clock_ns,
                          name=a.name, force=a.force, vectors=vectors, progress=_progress, ptq=_ptq(a),
                          in_stream_bits=a.in_stream_bits, out_stream=a.out_stream)
    for w in rep.get("ptq", {}).get("warnings", []):
        sys.stderr.write(f"warning: {w}\n")
    print(f"wrote {a.out} (top '{rep['top']}', backend {rep['backend']}, pipeline bound "
          f"{rep['bound_cycles']} cycles/inference, {time.time() - t0:.1f} s)")
    if rep.get("rtl_skipped"):
        sys.stderr.write(f"note: no RTL written: {rep['rtl_skipped']}\n")
    for l in rep["layers"]:
        print(f"  {l['name']:<24} K={l['K']:<5} M={l['M']:<4} V={l['V']:<3} PE={l['PE']:<4} "
              f"SIMD={l['SIMD']:<5} bound={l['bound_cycles']}")
    return 0


def _verify(a, runner, what: str, **kw) -> int:
    from .project import first_mismatch, load_project_network
    net, report = load_project_network(a.project)
    x = net.check_input(_load_npy(a.input, "--input"))
    want = net.predict(x)
    got, stats = runner(Path(a.project), x, **kw)
    _save_npy(a.output, got)
    bad = first_mismatch(got, want)
    if getattr(a, "report", None):
        rep = {**stats, "vectors": int(x.shape[0]),
               "mismatches": int((got != want).any(axis=1).sum()) if got.shape == want.shape else int(x.shape[0]),
               "bound_cycles": report["bound_cycles"]}
        with open(a.report, "w") as f:
            json.dump(rep, f, indent=2)
            f.write("\n")
    if bad:
        raise VerificationError(f"{what}: {bad}")
    extra = ""
    if "cycles_per_inference" in stats:
        extra = (f", {stats['cycles_per_inference']} cycles/inference (bound {report['bound_cycles']}), "
                 f"latency {stats.get('latency_cycles')} cycles")
    print(f"{what}: bit-exact on {x.shape[0]} vectors{extra}; wrote {a.output}")
    return 0


def cmd_csim(a) -> int:
    from .verify.csim import run_csim
    return _verify(a, lambda d, x: (run_csim(d, x), {}), "csim")


def cmd_sim(a) -> int:
    from .verify.rtl_sim import run_sim
    return _verify(a, lambda d, x: run_sim(d, x, simulator=a.simulator, waves=a.waves),
                   f"sim ({a.simulator})")


def cmd_synth(a) -> int:
    from .synth import memory_lines, run_synth
    rep = run_synth(Path(a.project), part=a.part, progress=_progress, pnr=a.pnr)
    print(json.dumps(rep.get("totals", rep), indent=2))
    if rep.get("memory"):
        print("memories per unit (xilinx):")
        print("\n".join(memory_lines(rep)))
    if "pnr" in rep:
        p = rep["pnr"]
        print(f"{p['device']}: Fmax {rep['fmax_mhz']} MHz" if p["fits"] else
              f"{p['device']}: does not fit ({', '.join(p['over_capacity']) or 'see synth/pnr.log'})")
        if p.get("rtl_variant"):
            print(f"  (timed netlist: {p['rtl_variant']})")
    return 0


def cmd_sweep(a) -> int:
    from .sweep import run_sweep
    return run_sweep(a, progress=_progress)


def _act_bits(text: str):
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': give an integer (2..8) or 'auto'") from None


def _int_list(text: str) -> list[int]:
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of integers") from None
    if not vals or any(v < 1 for v in vals):
        raise argparse.ArgumentTypeError("give positive integers, e.g. 1,4,16")
    return vals


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="fastinference", description="Compile binarized neural networks from ONNX "
                "to bit-exact HLS C++ and SystemVerilog, and verify them.")
    p.add_argument("--version", action="version", version=f"fastinference {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def input_opts(sp):
        sp.add_argument("--input-bits", type=int, default=8, metavar="B",
                        help="bits of each integer input value the hardware takes (default 8)")
        sp.add_argument("--input-signed", action="store_true",
                        help="inputs are signed (two's complement); default unsigned")
        g = sp.add_argument_group("float models (post-training quantization)")
        g.add_argument("--calibration", metavar="C.npy", help="representative inputs (N, F) or (N, C, H, W), "
                       "the integer values the hardware takes, N >= 8 (e.g. a few hundred training rows): "
                       "needed for a float model; ignored for binarized and QONNX models")
        g.add_argument("--weight-bits", type=int, default=8, metavar="W",
                       help="weight bits, symmetric per output channel (default 8; 2..8)")
        g.add_argument("--act-bits", type=_act_bits, default=8, metavar="A|auto",
                       help="activation bits after each hidden layer (default 8; 2..8), or 'auto': per "
                       "layer the fewest that keep argmax agreement with the float model on the "
                       "calibration rows >= --min-agreement")
        g.add_argument("--min-agreement", type=float, default=0.99, metavar="F",
                       help="target of --act-bits auto (default 0.99)")
        g.add_argument("--precision", metavar="P.json", help='per layer bits: {"layer name": {"weight_bits": '
                       'w, "act_bits": a}} (names as inspect prints them); others take the defaults')
        g.add_argument("--calib-percentile", type=float, metavar="P",
                       help="activation range from this percentile of |activation| on the calibration "
                       "rows (e.g. 99.99) instead of the max")

    def stream_opts(sp):
        g = sp.add_argument_group("AXI4-Stream ports (both cores; fastinference/axis.py)")
        g.add_argument("--in-stream-bits", type=int, metavar="B",
                       help="s_axis TDATA width, a multiple of 8: an AXI DMA's 32 or 64, a camera's 8. "
                       "The input values of one inference (ONNX flatten order, NCHW for images) are "
                       "packed LSB-first, as many whole values per beat as fit, TLAST on the last beat. "
                       "The pipeline's cycles per inference become max(folding bound, input beats, "
                       "output beats). Default: the whole input in one beat, rounded up to bytes")
        g.add_argument("--out-stream", choices=["vector", "serial"], default="vector",
                       help="m_axis: 'vector' (default), one beat per inference with every class score "
                       "as 32 bits, class 0 in the LSBs; 'serial', one 32-bit beat per class, class 0 "
                       "first, TLAST on the last (a 32-bit DMA)")

    def project_io_opts(sp):
        sp.add_argument("project", metavar="DIR", help="folder written by compile")
        sp.add_argument("--input", required=True, metavar="X.npy", help="inputs, integer values")
        sp.add_argument("--output", required=True, metavar="S.npy", help="where to write the scores")

    s = sub.add_parser("inspect", help="print the optimized layers",
                       description="Print the optimized (hardware) layers: index, name, kind, input "
                       "and output shape, weight and activation bits, operations per inference.")
    s.add_argument("model", help="ONNX file")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    input_opts(s)
    s.set_defaults(func=cmd_inspect)

    s = sub.add_parser("predict", help="run the bit-exact numpy reference model",
                       description="Run the reference model; writes int64 scores (N, classes): the "
                       "values the network feeds its final (Log)Softmax.")
    s.add_argument("model", help="ONNX file")
    s.add_argument("--input", required=True, metavar="X.npy", help="inputs, (N, F) or (N, C, H, W), integer values")
    s.add_argument("--output", required=True, metavar="S.npy", help="where to write the scores")
    s.add_argument("--labels", metavar="y.npy", help="labels: print the accuracy")
    input_opts(s)
    s.set_defaults(func=cmd_predict)

    s = sub.add_parser("compile", help="write the HLS and/or RTL project", epilog=EPILOG_FOLDING,
                       description="Write DIR/report.json, DIR/vectors, DIR/hls (Vitis HLS C++, "
                       "testbench, Makefile, run_hls.tcl) and DIR/rtl (SystemVerilog, cocotb "
                       "testbench, Makefile). Output is written atomically and is byte-identical "
                       "for the same model and options.")
    s.add_argument("model", help="ONNX file")
    s.add_argument("--out", required=True, metavar="DIR", help="output folder")
    s.add_argument("--backend", choices=["hls", "rtl", "all"], default="all", help="default: all")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--fold-config", metavar="F.json",
                   help='JSON {"layer name": {"pe": P, "simd": S}} (names as inspect prints them); '
                   "layers left out get the default")
    g.add_argument("--target-cycles", type=int, metavar="N",
                   help="per layer, the cheapest PE x SIMD whose bound is at most N cycles")
    input_opts(s)
    s.add_argument("--part", default="xc7z020clg400-1", help="FPGA part (default xc7z020clg400-1)")
    s.add_argument("--clock-ns", type=float, default=10.0, metavar="T", help="clock period in ns (default 10)")
    s.add_argument("--name", metavar="TOP", help="top-level name (default: from the model file name)")
    s.add_argument("--vectors", metavar="X.npy",
                   help="test vectors to bundle in DIR/vectors (default: 32 random inputs)")
    s.add_argument("--force", action="store_true", help="replace a non-empty --out")
    stream_opts(s)
    s.set_defaults(func=cmd_compile)

    s = sub.add_parser("csim", help="build DIR/hls with g++ and run it on vectors",
                       description="C-simulation: builds the generated HLS C++ with g++, runs it on "
                       "the inputs and checks every row against the reference model (exit 1 on a mismatch).")
    project_io_opts(s)
    s.set_defaults(func=cmd_csim)

    s = sub.add_parser("sim", help="simulate DIR/rtl under cocotb",
                       description="RTL simulation with cocotb (random valid gaps and back-pressure, "
                       "then a throughput phase); checks every row against the reference (exit 1 on a mismatch).")
    project_io_opts(s)
    s.add_argument("--simulator", choices=["verilator", "icarus"], default="verilator")
    s.add_argument("--report", metavar="R.json", help="write vectors, mismatches, cycles_per_inference, "
                   "latency_cycles, bound_cycles, simulator")
    s.add_argument("--waves", action="store_true", help="dump waveforms")
    s.set_defaults(func=cmd_sim)

    s = sub.add_parser("synth", help="Yosys synth_xilinx area and ECP5 place-and-route timing of DIR/rtl",
                       description="Runs Yosys synth_xilinx (out of context, -noiopad) on DIR/rtl and "
                       "writes DIR/synth/report.json (LUT, FF, CARRY4, LUTRAM, BRAM, DSP); then "
                       "(--pnr ecp5) synth_ecp5 and nextpnr place and route on a Lattice ECP5-85 "
                       "out of context, adding fmax_mhz and pnr {device, fits, critical_path, "
                       "utilisation} to the report.")
    s.add_argument("project", metavar="DIR")
    s.add_argument("--part", help="FPGA part (default: the one in report.json)")
    s.add_argument("--pnr", choices=["ecp5", "none"], default="ecp5",
                   help="place and route for timing (default ecp5: LFE5U-85F, nextpnr, target clock "
                   "from report.json's clock_ns; seconds for a small design, about 3 minutes for a "
                   "13k-LUT4 one); none: area only")
    s.set_defaults(func=cmd_synth)

    s = sub.add_parser("sweep", help="compile, simulate, synthesize and place and route over foldings",
                       description="One design per point: compile, simulate (Verilator, bit-exact "
                       "check), synthesize (Yosys synth_xilinx) and place and route (nextpnr, ECP5); "
                       "writes DIR/sweep.csv and DIR/pareto.png.")
    s.add_argument("model", help="ONNX file")
    s.add_argument("--out", required=True, metavar="DIR")
    s.add_argument("--target-cycles", type=_int_list, metavar="N1,N2,...",
                   help="points (default: a geometric series from fully parallel to fully folded)")
    s.add_argument("--fold-config-grid", metavar="G.json", help="JSON list of fold configs, one per point")
    s.add_argument("--jobs", type=int, default=None, help="parallel points (default: cores)")
    s.add_argument("--vectors", type=int, default=20, metavar="K", help="rows simulated per point (default 20)")
    s.add_argument("--force", action="store_true", help="use an --out that holds something else than a sweep")
    s.add_argument("--pnr", choices=["ecp5", "none"], default="ecp5",
                   help="place and route every point on a Lattice ECP5-85 with nextpnr, in parallel "
                   "across points (default ecp5: adds fmax_mhz and inferences_per_s = Fmax / measured "
                   "cycles, and plots inferences/s against LUTs; minutes per large point); none: area only")
    s.add_argument("--scheduler", metavar="ADDRESS", help="run the points on a Dask distributed cluster "
                   "(e.g. tcp://host:8786; needs the 'cluster' extra); default: a local process pool")
    input_opts(s)
    stream_opts(s)
    s.set_defaults(func=cmd_sweep)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except FastInferenceError as e:
        msg = " ".join(str(e).split("\n")[0:1]) if e.exit_code == 2 else str(e)
        sys.stderr.write(f"error: {msg}\n")
        return e.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    except BrokenPipeError:  # stdout piped into a reader that quit (`| head`): not a bug
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        sys.stderr.write("error: output pipe closed before the command finished\n")
        return 141  # 128 + SIGPIPE, as a shell reports a command killed by it
    except Exception as e:  # a bug: one line for the user, the traceback in a file
        what = " ".join(f"{type(e).__name__}: {e}".split())[:300]
        sys.stderr.write(f"error: internal error (a bug in fastinference): {what}; "
                         f"{_crash_report(sys.argv if argv is None else argv)}\n")
        return 4


def _crash_report(argv) -> str:
    """Write the current exception's traceback to a new file in the temporary folder; say
    where (or why not)."""
    import platform
    import tempfile
    import traceback

    text = (f"fastinference {__version__}, Python {platform.python_version()} "
            f"({sys.executable}), {platform.platform()}\n"
            f"command: {' '.join(str(a) for a in argv)}\n\n{traceback.format_exc()}")
    try:
        fd, path = tempfile.mkstemp(prefix=f"fastinference-crash-{time.strftime('%Y%m%d-%H%M%S')}-",
                                    suffix=".txt")
        with open(fd, "w") as f:
            f.write(text)
    except OSError as e:
        return f"the traceback could not be written to the temporary folder ({e.strerror})"
    return f"full traceback in {path}"


if __name__ == "__main__":
    sys.exit(main())
