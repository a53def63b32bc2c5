"""HLS backend, the project as files: deterministic output, the Tcl flow, `make csim`, the
tb's exit status, fi_stream.h, and the errors of write_hls/run_csim."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastinference import reference
from fastinference.backends.hls import render, write_hls
from fastinference.errors import BadOptionError, ToolError, UnsupportedModelError, VerificationError
from fastinference.ir import Model
from fastinference.verify.csim import run_csim
from fastinference.testing.hls_models import conv, dense, fold, maxpool, random_inputs, write_report

VENV_BIN = Path(sys.executable).parent


def small_cnn(seed=3, node_names=None):
    rng = np.random.default_rng(seed)
    c0 = conv("conv_0", 1, 6, 6, 4, (3, 3), rng, pads=(1, 1, 1, 1), input_kind="int", bits=8)
    if node_names:
        c0.source_nodes = node_names
    p0 = maxpool("pool_0", 4, 6, 6, and_channels=np.array([1, 0, 0, 1], bool))
    d0 = dense("dense_0", 36, 12, rng, in_shape=(4, 3, 3))
    d1 = dense("dense_1", 12, 3, rng, scores=True)
    model = Model("small_cnn", [c0, p0, d0, d1], (1, 6, 6), input_bits=8)
    folding = fold(conv_0=(2, 3), dense_0=(5, 8), dense_1=(3, 12))
    return model, folding, rng


def write_vectors(project, x, y):
    v = project / "vectors"
    v.mkdir(parents=True, exist_ok=True)
    (v / "input.txt").write_text("".join(" ".join(map(str, r)) + "\n" for r in x.reshape(len(x), -1)))
    (v / "expected.txt").write_text("".join(" ".join(map(str, r)) + "\n" for r in y))


def tree(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_byte_identical_and_self_contained(tmp_path):
    """Two writes give the same bytes; no absolute paths, dates or Xilinx headers; comments
    carry sanitized ONNX names; every compute function states K, M, PE, SIMD and its bound."""
    nasty = ["conv/0 */ #include <evil> \"q\" $x [y] {z} \\ ;", "caf\u00e9"]
    model, folding, _ = small_cnn(node_names=nasty)
    a, b = tmp_path / "a" / "hls", tmp_path / "b" / "hls"
    write_hls(model, folding, a, top="net", part="xc7z020clg400-1", clock_ns=5)
    write_hls(model, folding, b, top="net", part="xc7z020clg400-1", clock_ns=5)
    ta, tb = tree(a), tree(b)
    assert ta == tb
    assert sorted(ta) == ["Makefile", "fi_axis.h", "fi_stream.h", "net.cpp", "net.h", "run_hls.tcl",
                          "tb.cpp", "weights.h"]
    for name, data in ta.items():
        text = data.decode("ascii")  # plain ASCII throughout
        assert str(tmp_path) not in text and "/work/" not in text, name
        assert not re.search(r"20\d\d-\d\d-\d\d|\d\d:\d\d:\d\d", text), name
        assert "Xilinx, Inc." not in text, name
    cpp = ta["net.cpp"].decode()
    # the raw names only ever appear inside // comments, defused
    assert not re.search(r"^\s*#include <evil>", cpp, re.M) and "/*" not in cpp
    assert all(line.lstrip().startswith("//") for line in cpp.splitlines() if "evil" in line)
    for line in ("#pragma HLS INTERFACE axis port=x_in", "#pragma HLS INTERFACE axis port=y_out",
                 "#pragma HLS INTERFACE ap_ctrl_none port=return",
                 "#pragma HLS DATAFLOW", "#pragma HLS PIPELINE II=1"):
        assert line in cpp
    for l in model.compute_layers():
        f = folding[l.name]
        bound = -(-l.K // f.simd) * -(-l.M // f.pe) * l.V
        assert f"K={l.K} M={l.M} V={l.V} PE={f.pe} SIMD={f.simd}" in cpp
        assert f"bound {bound} cycles per inference" in cpp
    # weights: hex, one neuron per line
    w = ta["weights.h"].decode()
    assert re.search(r"^    0x[0-9a-f]+, 0x[0-9a-f]+, 0x[0-9a-f]+,  // neuron 0$", w, re.M)
    # a different folding changes the output
    folding2 = dict(folding, dense_0=fold(x=(4, 9))["x"])
    assert render(model, folding2, "net")["net.cpp"] != ta["net.cpp"].decode()


TCL_STUBS = r"""
set ::calls {}
foreach cmd {open_project set_top add_files open_solution set_part create_clock
             csim_design csynth_design cosim_design export_design exit} {
    proc $cmd {args} [format {lappend ::calls [linsert $args 0 %s]} $cmd]
}
cd [lindex $argv 0]
source run_hls.tcl
foreach c $::calls { puts [join $c "\t"] }
"""


@pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not installed")
def test_run_hls_tcl_calls(tmp_path):
    model, folding, _ = small_cnn()
    hls = tmp_path / "hls"
    files = write_hls(model, folding, hls, top="net", part="xczu3eg-sbva484-1-e", clock_ns=4)
    stub = tmp_path / "stubs.tcl"
    stub.write_text(TCL_STUBS)
    r = subprocess.run(["tclsh", str(stub), str(hls)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    calls = [line.split("\t") for line in r.stdout.splitlines()]
    names = [c[0] for c in calls]
    assert names == ["open_project", "set_top"] + ["add_files"] * (len(names) - 10) + [
        "open_solution", "set_part", "create_clock", "csim_design", "csynth_design",
        "cosim_design", "export_design", "exit"]
    assert calls[1] == ["set_top", "net"]
    added = [c[1:] for c in calls if c[0] == "add_files"]
    design = {a[0] for a in added if a[0] != "-tb"}
    tb = {a[1] for a in added if a[0] == "-tb"}
    sources = {p.name for p in files if p.suffix in (".cpp", ".h")}
    assert (design | tb) & sources == sources
    assert tb == {"tb.cpp", "../vectors/input.txt", "../vectors/expected.txt"}
    assert ["set_part", "xczu3eg-sbva484-1-e"] in calls
    assert ["create_clock", "-period", "4", "-name", "default"] in calls
    assert ["export_design", "-format", "ip_catalog"] in calls
    # cosim sits behind a variable at the top
    text = (hls / "run_hls.tcl").read_text()
    assert re.search(r"^set run_cosim 1$", text, re.M)
    stub.write_text(TCL_STUBS.replace("source run_hls.tcl",
                                      "set f [open run_hls.tcl]; set s [read $f]; close $f\n"
                                      "eval [string map {{set run_cosim 1} {set run_cosim 0}} $s]"))
    r = subprocess.run(["tclsh", str(stub), str(hls)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "cosim_design" not in r.stdout and "csynth_design" in r.stdout


def test_make_csim_own_stream_and_mismatch(tmp_path):
    """`make csim` from DIR/hls on ../vectors with fi_stream.h and the synthesis form of the
    popcount (a loop over bits); the tb exits 1 on a mismatch and names the row; run_csim
    turns that into VerificationError. Names that could clash: a top named like a tb local
    (rows), layers named x (a local in every layer function) and x_in (the input port)."""
    model, folding, rng = small_cnn()
    model.layers[2].name, model.layers[3].name = "x", "x_in"
    folding = {"conv_0": folding["conv_0"], "x": folding["dense_0"], "x_in": folding["dense_1"]}
    x = random_inputs(model, rng, 30)
    y = reference.run(model, x)
    write_report(model, folding, tmp_path)
    write_hls(model, folding, tmp_path / "hls", top="rows")
    assert "hls::stream<InBeat>& x_in_2" in (tmp_path / "hls" / "rows.h").read_text()
    write_vectors(tmp_path, x, y)
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}")
    r = subprocess.run(["make", "-s", "-C", str(tmp_path / "hls"), "csim",
                        "EXTRA_CXXFLAGS=-DFI_OWN_STREAM -DFI_POPCOUNT_LOOP"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "30 rows, all scores match" in r.stdout
    bad = y.copy()
    bad[17, 2] += 1
    write_vectors(tmp_path, x, bad)
    r = subprocess.run([str(tmp_path / "hls" / "build" / "csim")], cwd=tmp_path / "hls",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "MISMATCH at row 17" in r.stdout
    # run_csim: scores, and a VerificationError when given wrong expectations
    assert np.array_equal(run_csim(tmp_path, x), y)
    with pytest.raises(VerificationError, match="row 17"):
        run_csim(tmp_path, x, expected=bad)


def test_errors(tmp_path):
    model, folding, _ = small_cnn()
    with pytest.raises(BadOptionError, match="--part"):
        render(model, folding, "net", part="xc7z020; rm -rf /")
    with pytest.raises(BadOptionError, match="--clock-ns"):
        render(model, folding, "net", clock_ns=-1)
    with pytest.raises(BadOptionError, match="--name"):
        render(model, folding, "dense_0")
    with pytest.raises(BadOptionError, match="--name"):
        render(model, folding, "9net")
    with pytest.raises(BadOptionError, match="dense_1"):
        render(model, {k: v for k, v in folding.items() if k != "dense_1"}, "net")
    m2 = Model("no_scores", model.layers[:3], model.input_shape, input_bits=8)
    with pytest.raises(UnsupportedModelError, match="score layer"):
        render(m2, folding, "net")
    # nothing half-written: a failing write leaves no folder
    with pytest.raises(BadOptionError):
        write_hls(model, folding, tmp_path / "x" / "hls", top="net", part="bad part")
    assert not (tmp_path / "x").exists()
    with pytest.raises(ToolError, match="compile"):
        run_csim(tmp_path / "nothing", np.zeros((1, 36), np.int64))
    # a broken source: ToolError with the compiler's message
    write_report(model, folding, tmp_path / "p")
    write_hls(model, folding, tmp_path / "p" / "hls", top="net")
    cpp = tmp_path / "p" / "hls" / "net.cpp"
    cpp.write_text(cpp.read_text() + "\nint broken = ;\n")
    with pytest.raises(ToolError, match="broken"):
        run_csim(tmp_path / "p", np.zeros((1, 36), np.int64))
