"""Simulate a compiled project's RTL (``DIR/rtl``) under cocotb and read the scores back.

``run_sim(project_dir, x, simulator="verilator", waves=False) -> (scores, stats)``: ``x`` are
the model's integer inputs (any shape with N rows; flattened in ONNX order per row),
``scores`` int64 (N, classes), ``stats`` holds ``cycles_per_inference`` (steady state, input
always valid and output always ready), ``latency_cycles`` (the first input beat's handshake
to the last output beat's handshake of the first inference, idle pipeline), ``simulator``,
``vectors``, ``bound_cycles``, ``expected_cycles`` (max of the bound, the pixel-stream cycles
and the AXI4-Stream beats per inference: tb_config.json), ``steady_state_intervals`` and
``sim_seconds``. The testbench sends the inputs in the project's stream format (tb_config
``stream``) and fails on an AXI4-Stream rule the core breaks (a ToolError naming it).

The design is built once per simulator (``DIR/rtl/sim_build/<simulator>``) and reused while
its sources are unchanged; all vectors run in one simulation.
"""
from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import tools
from ..errors import BadInputError, ToolError, VerificationError

SIMULATORS = ("verilator", "icarus")


def _load_runner(rtl_dir: Path):
    path = rtl_dir / "fi_runner.py"
    if not path.exists():
        raise ToolError(f"{rtl_dir} has no fi_runner.py: compile with --backend rtl first")
    spec = importlib.util.spec_from_file_location(f"fi_runner_{abs(hash(str(rtl_dir)))}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _check_tools(simulator: str) -> None:
    tools.simulator(simulator)  # a clear error when it is missing (the runner exits instead)


def to_rows(x, cfg: dict) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[None]
    x = x.reshape(x.shape[0], -1)
    if x.shape[1] != cfg["in_elems"]:
        raise BadInputError(f"input rows have {x.shape[1]} values; the design takes {cfg['in_elems']}")
    if x.dtype.kind == "f":
        if not np.all(x == np.round(x)):
            raise BadInputError("input values must be integers")
    x = x.astype(np.int64)
    bits = cfg["in_bits"]
    lo, hi = ((-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if cfg["in_signed"]
              else (0, (1 << bits) - 1))
    bad = np.argwhere((x < lo) | (x > hi))
    if len(bad):
        r, c = bad[0]
        raise BadInputError(f"input row {r}, column {c}: value {x[r, c]} does not fit "
                            f"{bits}-bit {'signed' if cfg['in_signed'] else 'unsigned'} integers")
    return x


def _log_tail(*logs: Path, lines: int = 12) -> str:
    """The last lines of the newest existing log, and where the full log is."""
    found = [p for p in logs if p.is_file()]
    if not found:
        return ""
    log = max(found, key=lambda p: p.stat().st_mtime)
    tail = log.read_text(errors="replace").splitlines()[-lines:]
    return "\n  " + "\n  ".join(tail) + f"\n(full log: {log})"


def run_sim(project_dir, x, simulator: str = "verilator", waves: bool = False,
            seed: int = 1) -> tuple[np.ndarray, dict]:
    if simulator not in SIMULATORS:
        raise ToolError(f"unknown simulator {simulator!r}; use one of {', '.join(SIMULATORS)}")
    _check_tools(simulator)
    rtl_dir = Path(project_dir).resolve() / "rtl"
    cfg_path = rtl_dir / "tb_config.json"
    if not cfg_path.exists():
        raise ToolError(f"{rtl_dir} holds no RTL project: compile with --backend rtl first")
    cfg = json.loads(cfg_path.read_text())
    rows = to_rows(x, cfg)
    runner = _load_runner(rtl_dir)
    bdir = rtl_dir / "sim_build"
    bdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"run_{simulator}_", dir=bdir))
    inp, outp = work / "input.txt", work / "scores.txt"
    inp.write_text("".join(" ".join(str(int(v)) for v in r) + "\n" for r in rows))
    t0 = time.perf_counter()
    try:
        stats = runner.run(rtl_dir, simulator, inp, None, outp, work / "stats.json",
                           waves=waves, seed=seed, work_dir=work)
    except (RuntimeError, SystemExit, OSError, ValueError) as e:
        raise ToolError(f"{simulator}: {e}" + _log_tail(bdir / simulator / "build.log", work / "sim.log")) from None
    stats["sim_seconds"] = round(time.perf_counter() - t0, 3)
    lines = [l.split() for l in outp.read_text().splitlines() if l.strip()]
    scores = np.array(lines, dtype=np.int64).reshape(len(rows), cfg["classes"])
    # no expected scores were given: the testbench's only check is its own consistency
    # (throughput phase vs functional phase); comparing with the reference is the caller's job
    tb_mismatches = stats.pop("mismatches", 0)
    first = stats.pop("first_mismatch", None)
    if tb_mismatches:
        raise VerificationError(f"{simulator}: the RTL gave different scores for the same input "
                                f"under different stream timing: {first}")
    if not waves:
        shutil.rmtree(work, ignore_errors=True)
    return scores, stats


def main(argv=None) -> int:  # small helper: python -m fastinference.verify.rtl_sim DIR X.npy
    import argparse

    ap = argparse.ArgumentParser(description="simulate DIR/rtl on X.npy and print stats")
    ap.add_argument("project_dir")
    ap.add_argument("input")
    ap.add_argument("--simulator", default="verilator", choices=SIMULATORS)
    a = ap.parse_args(argv)
    scores, stats = run_sim(a.project_dir, np.load(a.input), a.simulator)
    print(json.dumps(stats, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
