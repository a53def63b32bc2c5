"""RTL backend, graphs with skip connections: Verilator == Icarus == predict, bit for bit, at
cycles per inference == the bound of the slowest layer.

* the bundled residual examples compiled with ``--backend rtl`` (the MLP in the default
  suite, in both simulators; the CNN under ``-m slow``);
* hand-built lowered graphs: a dense shortcut of 2 layers with a projection and unequal
  folding on the branches (default suite, Icarus); under ``-m slow`` shortcuts of 1 and 2
  layers with and without a projection, dense and conv, and a concat;
* the FIFO sizing is needed: the same dense block with the shortcut FIFO forced to depth 1
  stalls (measured cycles per inference > the bound).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import fastinference as fi
from fastinference import cli, reference
from fastinference.backends.rtl import write_rtl
from fastinference.testing.hls_models import fold, random_inputs
from fastinference.testing.dag_models import concat_model, conv_block, dense_block
from fastinference.verify.rtl_sim import run_sim


def expected_cycles(out_dir):
    return json.loads((out_dir / "rtl" / "tb_config.json").read_text())["expected_cycles"]


def check(out_dir, x, want, sims=("icarus",)):
    """Every simulator gives ``want`` at cycles per inference == the bound."""
    for sim in sims:
        got, st = run_sim(out_dir, x, sim)
        assert np.array_equal(got, want), f"{sim} != reference"
        assert st["cycles_per_inference"] == expected_cycles(out_dir), (sim, st)


def build(model, folding, out_dir, depths=None):
    write_rtl(model, folding, out_dir / "rtl", top=model.name, depths=depths)
    return out_dir


# ----------------------------------------------------------------------------- examples
@pytest.mark.parametrize("name,xfile,sims", [
    ("digits_res_mlp", "digits_test_x", ("icarus", "verilator")),
    pytest.param("digits_res_cnn", "digits_test_x_img", ("icarus", "verilator"), marks=pytest.mark.slow),
])
def test_examples(tmp_path, name, xfile, sims):
    out = tmp_path / name
    assert cli.main(["compile", f"examples/{name}.onnx", "--out", str(out), "--backend", "rtl"]) == 0
    top = (out / "rtl" / f"{name}.sv").read_text()
    assert "stream_fork" in top and "stream_join_add" in top and "cycle schedule" in top
    x = np.load(f"examples/{xfile}.npy")[:16]
    check(out, x, fi.load(f"examples/{name}.onnx").predict(x), sims)


# ------------------------------------------------------------------------ hand-built graphs
def dense_fold(m, slow=(1, 3)):
    """The main branch folded slowly, the rest (the shortcut) fast: unequal branches."""
    return fold(**{l.name: slow if l.name.startswith("main") else (l.M, l.K) for l in m.compute_layers()})


@pytest.mark.parametrize("depth,proj", [
    (2, True),
    pytest.param(1, False, marks=pytest.mark.slow),
    pytest.param(2, False, marks=pytest.mark.slow),
    pytest.param(1, True, marks=pytest.mark.slow),
])
def test_dense_shortcuts(tmp_path, depth, proj):
    rng = np.random.default_rng(10 * depth + proj)
    m = dense_block(rng, depth, proj)
    x = random_inputs(m, rng, 12)
    check(build(m, dense_fold(m), tmp_path), x, reference.run(m, x))


@pytest.mark.slow
@pytest.mark.parametrize("depth", [1, 2])
def test_conv_shortcuts(tmp_path, depth):
    rng = np.random.default_rng(depth)
    m = conv_block(rng, depth)
    f = fold(first=(4, 9), head=(3, 16), **{f"main{k}": (1, 2) for k in range(depth)})
    x = random_inputs(m, rng, 6)
    check(build(m, f, tmp_path), x, reference.run(m, x), ("icarus", "verilator"))


@pytest.mark.slow
def test_concat_join(tmp_path):
    rng = np.random.default_rng(5)
    m = concat_model(rng)
    x = random_inputs(m, rng, 12)
    f = fold(first=(10, 16), a=(1, 2), b=(7, 10), head=(4, 13))
    check(build(m, f, tmp_path), x, reference.run(m, x), ("icarus", "verilator"))


# ------------------------------------------------------------------- the sizing is needed
def test_undersized_fifo_stalls(tmp_path):
    """A dense block whose main branch is slow (2 layers of 36 cycles): the scheduled
    shortcut FIFO keeps one inference per 36 cycles; forced to depth 1 the pipeline stalls
    (still exact, more cycles per inference)."""
    rng = np.random.default_rng(3)
    m = dense_block(rng, 2, False)
    f = dense_fold(m)
    x = random_inputs(m, rng, 12)
    want = reference.run(m, x)
    ok = build(m, f, tmp_path / "ok")
    depths = json.loads((ok / "rtl" / "tb_config.json").read_text())["fifo_depths"]
    short = "first_fork0_o1"  # the fork's second copy: the shortcut into the add
    assert short in depths and depths[short] > 1
    check(ok, x, want)
    small = build(m, f, tmp_path / "small", depths={short: 1})
    # Verilator: Icarus 11 gives wrong data through a Depth = 1 stream_fifo (its g_reg
    # branch), a simulator problem outside the sized designs (every scheduled depth is >= 2)
    got, st = run_sim(small, x, "verilator")
    assert np.array_equal(got, want)
    assert st["cycles_per_inference"] > expected_cycles(small)
