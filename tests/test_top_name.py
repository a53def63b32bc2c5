"""A model file named like one of its layers (or like a file the backends write) still
compiles without --name: the top gets a derived name that clashes with nothing."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastinference.names import RESERVED_TOP_NAMES, unique_top

ROOT = Path(__file__).resolve().parent.parent
MLP = ROOT / "examples" / "digits_mlp.onnx"


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "fastinference", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_unique_top():
    assert unique_top("digits_mlp", {"layer_0_matmul"}) == "digits_mlp"
    assert unique_top("layer_0_matmul", {"layer_0_matmul"}) == "layer_0_matmul_top"
    assert unique_top("a", {"a", "a_top", "a_top_2"}) == "a_top_3"
    assert unique_top("mvtu", set()) == "mvtu_top"
    assert unique_top("tb", set()) == "tb_top"


def test_reserved_names_cover_the_rtl_modules():
    stems = {p.stem for p in (ROOT / "rtl_templates").glob("*.sv")}
    assert stems <= RESERVED_TOP_NAMES


@pytest.mark.parametrize("stem,top,csim", [("layer_0_matmul", "layer_0_matmul_top", True),
                                           ("mvtu", "mvtu_top", False)])
def test_model_named_like_a_layer_compiles(tmp_path, stem, top, csim):
    shutil.copy(MLP, tmp_path / f"{stem}.onnx")
    r = _cli("compile", f"{stem}.onnx", "--out", "proj", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    proj = tmp_path / "proj"
    assert (proj / "hls" / f"{top}.cpp").is_file() and (proj / "rtl" / f"{top}.sv").is_file()
    # HLS: the C simulation builds with g++ and matches the reference
    x = None if not csim else np.load(ROOT / "examples" / "digits_test_x.npy")[:20]
    if csim:
        np.save(tmp_path / "x.npy", x)
        r = _cli("csim", "proj", "--input", "x.npy", "--output", "s.npy", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    # RTL: the module set elaborates in Icarus with this top (no module defined twice)
    r = subprocess.run(["iverilog", "-g2012", "-s", top, "-o", "top.vvp", "-f", "filelist.f"],
                       cwd=proj / "rtl", capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads((proj / "report.json").read_text())["model"]


def test_explicit_name_clash_is_an_option_error(tmp_path):
    shutil.copy(MLP, tmp_path / "m.onnx")
    for bad in ("layer_0_matmul", "weights"):
        r = _cli("compile", "m.onnx", "--out", "proj", "--name", bad, cwd=tmp_path)
        assert r.returncode == 2
        assert r.stderr.startswith(f"error: --name '{bad}' is also") and r.stderr.count("\n") == 1
        assert not (tmp_path / "proj").exists()
