"""``compile``: write a hardware project folder atomically.

Everything goes into a temporary folder beside ``--out`` and is renamed into place only when
complete, so an error or Ctrl-C leaves ``--out`` as it was. The layout is the contract's:
report.json, source/ (a copy of the ONNX file, so csim/sim can rerun the reference),
vectors/, hls/, rtl/.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from . import __version__
from .api import Network, load
from .axis import OUT_MODES, StreamFormat, stream_format
from .errors import BadOptionError, UnsupportedModelError
from .folding import LayerFold, folding_report, graph_report, pipeline_bound, resolve_folding
from .ir import Model
from .names import RESERVED_TOP_NAMES, safe_identifier, unique_top
from .project_dir import AtomicFolder, check_out, load_report  # noqa: F401  (the API of project folders)

BACKENDS = ("hls", "rtl", "all")
DEFAULT_PART = "xc7z020clg400-1"
DEFAULT_CLOCK_NS = 10.0
DEFAULT_VECTORS = 32
PTQ_CALIBRATION = "calibration.npy"  # in source/: a float model's calibration rows


def random_vectors(model: Model, n: int = DEFAULT_VECTORS, seed: int = 0) -> np.ndarray:
    """Deterministic test inputs covering the whole input range."""
    lo, hi = ((-(1 << (model.input_bits - 1)), (1 << (model.input_bits - 1)) - 1) if model.input_signed
              else (0, (1 << model.input_bits) - 1))
    rng = np.random.default_rng(seed)
    return rng.integers(lo, hi, size=(n,) + tuple(model.input_shape), endpoint=True, dtype=np.int64)


def write_vectors(folder: Path, x: np.ndarray, scores: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_int_rows(folder / "input.txt", x.reshape(x.shape[0], -1))
    write_int_rows(folder / "expected.txt", scores)


def write_int_rows(path: Path, rows: np.ndarray) -> None:
    with open(path, "w") as f:
        for r in rows:
            f.write(" ".join(str(int(v)) for v in r) + "\n")


def top_name(net: Network, name: str | None) -> str:
    """--name, checked; without it a name derived from the model's file name that differs from
    every layer name and every file or module name the backends write."""
    layers = {l.name for l in net.model.layers}
    if name is None:
        return unique_top(net.name, layers)
    clean = safe_identifier(name, prefix="net")
    if clean != name:
        raise BadOptionError(f"--name '{name}' is not a safe identifier in C++/SystemVerilog/Tcl; "
                             f"use for example '{clean}'")
    if name in layers or name in RESERVED_TOP_NAMES:
        what = "a layer's name" if name in layers else "the name of a generated file or module"
        raise BadOptionError(f"--name '{name}' is also {what}; pick another top name, for example "
                             f"'{unique_top(name, layers)}'")
    return name




def copy_source(src: str, dest: Path) -> str:
    """Copy the ONNX file (and an external-data file beside it) into ``dest``."""
    import onnx

    dest.mkdir(parents=True, exist_ok=True)
    base = os.path.basename(src)
    shutil.copyfile(src, dest / base)
    # the dynamo exporter's weights live in side files (MODEL.onnx.data): copy what the model names
    m = onnx.load(src, load_external_data=False)
    for init in m.graph.initializer:
        for e in init.external_data:
            if e.key == "location" and not (dest / e.value).exists():
                shutil.copyfile(os.path.join(os.path.dirname(src), e.value), dest / e.value)
    return base


def build_report(net: Network, folding: dict[str, LayerFold], top: str, backend: str,
                 part: str, clock_ns: float, source_file: str, folding_origin: str) -> dict:
    m = net.model
    return {
        "model": source_file,
        "top": top,
        "backend": backend,
        "input": {"bits": m.input_bits, "signed": m.input_signed, "shape": list(m.input_shape),
                  **({} if m.input_quant is None else {"scale": float(m.input_quant.scale),
                                                        "rounding": m.input_quant.rounding})},
        "classes": m.num_classes,
        "bound_cycles": pipeline_bound(m, folding),
        "folding": folding_origin,
        "part": part,
        "clock_ns": clock_ns,
        "layers": folding_report(m, folding),
        **({} if m.is_chain else {"graph": graph_report(m)}),
        "output_scale": (None if m.output_scale is None else
                         [float(v) for v in np.broadcast_to(m.output_scale, (m.num_classes,))]),
        "version": __version__,
    }


# backends that stream graphs with skip connections (forks and joins); the others take chains
GRAPH_BACKENDS: tuple[str, ...] = ("hls", "rtl")


def check_backend_graph(model: Model, backend: str) -> None:
    """The one place that keeps a graph with skip connections away from a backend that
    writes chains only (exit 2, before anything is written)."""
    if model.is_chain:
        return
    for b in (("hls", "rtl") if backend == "all" else (backend,)):
        if b not in GRAPH_BACKENDS:
            raise UnsupportedModelError(f"skip connections are not supported by the {b} backend yet "
                                        f"(the network has joins: {', '.join(joins(model))})")


def joins(model: Model) -> list[str]:
    return [l.name for l in model.layers if l.kind in ("add_join", "concat_join")]


def compile_project(model_path: str, out: str | Path, backend: str = "all", fold_config=None,
                    target_cycles: int | None = None, input_bits: int = 8, input_signed: bool = False,
                    part: str = DEFAULT_PART, clock_ns: float = DEFAULT_CLOCK_NS, name: str | None = None,
                    force: bool = False, vectors: np.ndarray | None = None, progress=None, ptq=None,
                    in_stream_bits: int | None = None, out_stream: str = "vector") -> dict:
    """The ``compile`` command. Returns the report dict. ``ptq``: post-training quantization
    options of a float model (``api.load``); the calibration rows and the chosen bits go into
    source/ and report.json["ptq"], so csim/sim rebuild the same network. ``in_stream_bits`` /
    ``out_stream``: the AXI4-Stream port format of both cores (fastinference/axis.py), written
    to report.json["stream"]."""
    say = progress or (lambda msg: None)
    if backend not in BACKENDS:
        raise BadOptionError(f"--backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if not (isinstance(clock_ns, (int, float)) and 0.5 <= float(clock_ns) <= 1000):
        raise BadOptionError(f"--clock-ns {clock_ns!r}: give a period in ns between 0.5 and 1000")
    if not isinstance(part, str) or not part.replace("-", "").replace("_", "").isalnum():
        raise BadOptionError(f"--part {part!r}: a Xilinx part name has letters, digits and '-' only")
    out = Path(out)
    if out_stream not in OUT_MODES:  # before loading the model: a typo fails fast
        stream_format(1, 1, False, 1, None, out_stream)
    check_out(out, force)
    net = load(model_path, input_bits=input_bits, input_signed=input_signed, ptq=ptq)
    top = top_name(net, name)
    folding = resolve_folding(net.model, fold_config, target_cycles)
    origin = ("fold-config" if fold_config is not None else
              f"target-cycles {target_cycles}" if target_cycles is not None else "default")
    x = net.check_input(vectors) if vectors is not None else random_vectors(net.model)
    scores = net.predict(x)
    check_backend_graph(net.model, backend)
    from .backends.rtl import multibit_reason
    # 'all' on a quantized network: the HLS project, and one line saying why no RTL
    skip_rtl = multibit_reason(net.model) if backend == "all" else None
    fmt = port_format(net.model, in_stream_bits, out_stream)
    with AtomicFolder(out, force) as tmp:
        source_file = copy_source(str(model_path), tmp / "source")
        report = build_report(net, folding, top, backend, part, float(clock_ns), source_file, origin)
        report["stream"] = fmt.as_dict()
        if skip_rtl:
            report["rtl_skipped"] = skip_rtl
        if net.ptq is not None:
            np.save(tmp / "source" / PTQ_CALIBRATION, net.ptq.calibration)
            report["ptq"] = {**net.ptq.summary(), "calibration": PTQ_CALIBRATION}
        with open(tmp / "report.json", "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
        write_vectors(tmp / "vectors", x, scores)
        if backend in ("hls", "all"):
            say("writing HLS C++")
            from .backends.hls import write_hls
            write_hls(net.model, folding, tmp / "hls", top, part, float(clock_ns), stream=fmt)
        if backend in ("rtl", "all") and not skip_rtl:
            say("writing SystemVerilog")
            from .backends.rtl import write_rtl
            write_rtl(net.model, folding, tmp / "rtl", top, part, float(clock_ns), stream=fmt)
            from .backends.ip import write_ip_files
            write_ip_files(tmp / "rtl", top, part, float(clock_ns))
    return report


def port_format(model: Model, in_stream_bits: int | None = None, out_stream: str = "vector") -> StreamFormat:
    """The AXI4-Stream format of a compiled network's ports: the input as the hardware takes
    it (the first layer's input: 1-bit for a binary first layer), the class scores out."""
    from .backends.rtl import _graph_input
    in_bits, in_signed, _ = _graph_input(model)
    from .hwplan import output_word_bits
    return stream_format(int(np.prod(model.input_shape)), in_bits, in_signed, int(model.num_classes),
                         in_stream_bits, out_stream, output_word_bits(model))


def load_project_network(project: str | Path) -> tuple[Network, dict]:
    """The reference network of a compiled project (from its copy of the ONNX file)."""
    report = load_report(project)
    src = Path(project) / "source" / report["model"]
    ptq = None
    if "ptq" in report:  # a float model: the same quantization, from the saved calibration rows
        p = report["ptq"]
        ptq = {"calibration": str(Path(project) / "source" / p["calibration"]), "precision": p["precision"],
               "calib_percentile": p["calib_percentile"], "act_bits": 8}
    net = load(str(src), input_bits=report["input"]["bits"], input_signed=report["input"]["signed"], ptq=ptq)
    return net, report


def first_mismatch(got: np.ndarray, want: np.ndarray) -> str | None:
    if got.shape != want.shape:
        return f"output has shape {got.shape}, the reference {want.shape}"
    rows = np.nonzero((got != want).any(axis=1))[0]
    if rows.size == 0:
        return None
    r = int(rows[0])
    return (f"{rows.size} of {got.shape[0]} rows differ from the reference; first row {r}: "
            f"got {got[r].tolist()}, expected {want[r].tolist()}")
