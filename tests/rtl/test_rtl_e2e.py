"""End to end: hand-built lowered dense models -> write_rtl -> cocotb (Verilator, Icarus),
compared EXACTLY with fastinference.reference.run, and the measured steady-state cycles per
inference equal to folding.pipeline_bound exactly."""
from __future__ import annotations

import filecmp
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fastinference import folding, reference
from fastinference.backends.rtl import write_rtl
from fastinference.errors import UnsupportedModelError
from fastinference.ir import BinaryDense, BinaryConv, BinaryMaxPool, Model
from fastinference.verify.rtl_sim import run_sim
from fastinference.testing.rtl_helpers import REPO, SIMULATORS, tool_env
from fastinference.testing.rtl_models import random_inputs, random_mlp, write_vectors


def make_project(root: Path, model: Model, fold, n=24, seed=1, top="fi_top"):
    x = random_inputs(model, n, seed=seed)
    ref = reference.run(model, x)
    write_rtl(model, fold, root / "rtl", top=top)
    write_vectors(root, x, ref)
    return x, ref


@pytest.fixture(scope="module")
def mlp_project(tmp_path_factory):
    """64-37-19-10, unsigned 8-bit inputs, default folding (bound 64)."""
    root = tmp_path_factory.mktemp("mlp_64_37_19_10")
    m = random_mlp([64, 37, 19, 10], input_bits=8, seed=3)
    f = folding.resolve_folding(m)
    x, ref = make_project(root, m, f, n=32)
    return root, m, f, x, ref


@pytest.mark.parametrize("sim", SIMULATORS)
def test_mlp_bit_exact_and_bound(mlp_project, sim):
    tool_env()
    root, m, f, x, ref = mlp_project
    scores, stats = run_sim(root, x, simulator=sim)
    assert scores.dtype == np.int64 and scores.shape == ref.shape
    assert np.array_equal(scores, ref)
    assert stats["cycles_per_inference"] == folding.pipeline_bound(m, f) == 64
    assert stats["steady_state_intervals"] == [64]
    assert stats["simulator"] == sim and stats["vectors"] == len(x)
    assert stats["latency_cycles"] > 64


def test_make_sim_icarus(mlp_project):
    """`make -C DIR/rtl sim SIM=icarus` on the bundled vectors, with the venv on PATH."""
    tool_env()
    root = mlp_project[0]
    r = subprocess.run(["make", "-C", str(root / "rtl"), "sim", "SIM=icarus"],
                       capture_output=True, text=True, env=os.environ.copy())
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "bit-exact: yes" in r.stdout and "0 mismatches" in r.stdout


def test_make_sim_fails_on_wrong_expected(tmp_path):
    tool_env()
    m = random_mlp([6, 5, 3], input_bits=2, seed=9)
    make_project(tmp_path, m, folding.resolve_folding(m), n=4)
    exp = tmp_path / "vectors" / "expected.txt"
    rows = exp.read_text().splitlines()
    first = rows[1].split()
    first[0] = str(int(first[0]) + 1)
    rows[1] = " ".join(first)
    exp.write_text("\n".join(rows) + "\n")
    r = subprocess.run(["make", "-C", str(tmp_path / "rtl"), "sim", "SIM=icarus"],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert "1 mismatches" in r.stdout and "error: row 1: got" in r.stderr


FOLDINGS = {
    # signed 4-bit inputs, odd sizes, every layer fully parallel: one inference per cycle
    "full": ({"dense_0": {"pe": 9, "simd": 20}, "dense_1": {"pe": 7, "simd": 9},
              "dense_2": {"pe": 3, "simd": 7}}, 1),
    # PE = SIMD = 1 everywhere: bound = max K*M
    "serial": ({"dense_0": {"pe": 1, "simd": 1}, "dense_1": {"pe": 1, "simd": 1},
                "dense_2": {"pe": 1, "simd": 1}}, 180),
    # tails everywhere, the bound set by the middle layer
    "tails": ({"dense_0": {"pe": 4, "simd": 6}, "dense_1": {"pe": 2, "simd": 4},
               "dense_2": {"pe": 2, "simd": 2}}, 12),
}


@pytest.mark.parametrize("fold_name", list(FOLDINGS))
def test_foldings_icarus(tmp_path, fold_name):
    tool_env()
    m = random_mlp([20, 9, 7, 3], input_bits=4, input_signed=True, seed=11)
    cfg, bound = FOLDINGS[fold_name]
    f = folding.resolve_folding(m, cfg)
    assert folding.pipeline_bound(m, f) == bound
    x, ref = make_project(tmp_path, m, f, n=16)
    scores, stats = run_sim(tmp_path, x, simulator="icarus")
    assert np.array_equal(scores, ref)
    assert stats["cycles_per_inference"] == bound


def test_last_layer_bits_and_no_bias_icarus(tmp_path):
    """A network whose last layer thresholds (0/1 per class), and a 1-bit unsigned input."""
    tool_env()
    m = random_mlp([12, 8, 5], input_bits=1, seed=4, last_scores=False)
    f = folding.resolve_folding(m, target_cycles=8)
    x, ref = make_project(tmp_path, m, f, n=12)
    assert set(np.unique(ref)) <= {0, 1}
    scores, stats = run_sim(tmp_path, x, simulator="icarus")
    assert np.array_equal(scores, ref)
    assert stats["cycles_per_inference"] == folding.pipeline_bound(m, f)


def test_deterministic_output(tmp_path):
    m = random_mlp([64, 37, 19, 10], seed=3)
    f = folding.resolve_folding(m)
    write_rtl(m, f, tmp_path / "a", top="fi_top")
    write_rtl(m, f, tmp_path / "b", top="fi_top")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", names, shallow=False)
    assert not mismatch and not errors
    for name in names:
        text = (tmp_path / "a" / name).read_bytes()
        assert str(tmp_path).encode() not in text and str(REPO).encode() not in text, name


def test_generated_top_comments(tmp_path):
    m = random_mlp([10, 6, 4], seed=2)
    m.layers[0].source_nodes = ["/evil*/node\nwith $ and \"quotes\" // and [brackets]"]
    write_rtl(m, folding.resolve_folding(m), tmp_path, top="my_top")
    top = (tmp_path / "my_top.sv").read_text()
    assert "module my_top" in top and "K=10 M=6" in top
    assert "*/" not in top and "$ and" not in top
    assert (tmp_path / "filelist.f").read_text().split()[-1] == "my_top.sv"


def _conv_model(with_pool: bool) -> Model:
    rng = np.random.default_rng(0)
    conv = BinaryConv(name="conv_0", source_nodes=["c"], in_shape=(1, 6, 6), out_shape=(4, 4, 4),
                      weights=rng.choice([-1, 1], size=(4, 1, 3, 3)).astype(np.int8),
                      input_kind="int", input_bits=8, thresholds=np.zeros(4, dtype=np.int64),
                      directions=np.ones(4, dtype=np.int8))
    layers = [conv]
    if with_pool:
        layers.append(BinaryMaxPool(name="pool_0", source_nodes=["p"], in_shape=(4, 4, 4),
                                    out_shape=(4, 2, 2)))
    return Model(name="cnn", layers=layers, input_shape=(1, 6, 6))


@pytest.mark.parametrize("with_pool", [False, True])
def test_network_ending_without_scores_is_rejected(tmp_path, with_pool):
    m = _conv_model(with_pool)
    f = {"conv_0": folding.LayerFold(1, 1)}
    with pytest.raises(UnsupportedModelError, match="pool_0" if with_pool else "conv_0"):
        write_rtl(m, f, tmp_path / "rtl")
    assert not (tmp_path / "rtl").exists()


def test_small_conv_net_icarus(tmp_path):
    """int conv (pad 1, stride 2) -> AND/OR pool -> binary conv -> dense scores, pixel path."""
    rng = np.random.default_rng(5)
    conv0 = BinaryConv(name="conv_0", source_nodes=["c0"], in_shape=(2, 7, 7), out_shape=(6, 4, 4),
                       weights=rng.choice([-1, 1], size=(6, 2, 3, 3)).astype(np.int8), input_kind="int",
                       input_bits=4, thresholds=rng.integers(-8, 8, 6), directions=rng.choice([-1, 1], 6).astype(np.int8),
                       stride=(2, 2), pads=(1, 1, 1, 1))
    pool = BinaryMaxPool(name="pool_0", source_nodes=["p"], in_shape=(6, 4, 4), out_shape=(6, 2, 2),
                         and_channels=np.array([0, 1, 0, 1, 1, 0], dtype=bool))
    conv1 = BinaryConv(name="conv_1", source_nodes=["c1"], in_shape=(6, 2, 2), out_shape=(5, 1, 1),
                       weights=rng.choice([-1, 1], size=(5, 6, 2, 2)).astype(np.int8),
                       thresholds=rng.integers(-4, 4, 5), directions=rng.choice([-1, 1], 5).astype(np.int8))
    dense = BinaryDense(name="dense_0", source_nodes=["d"], in_shape=(5, 1, 1), out_shape=(3,),
                        weights=rng.choice([-1, 1], size=(3, 5)).astype(np.int8), bias=np.array([1, -2, 0]))
    m = Model(name="cnn", layers=[conv0, pool, conv1, dense], input_shape=(2, 7, 7), input_bits=4)
    f = {"conv_0": folding.LayerFold(2, 3), "conv_1": folding.LayerFold(2, 5), "dense_0": folding.LayerFold(1, 2)}
    x, ref = make_project(tmp_path, m, f, n=24)
    scores, stats = run_sim(tmp_path, x, simulator="icarus")
    assert np.array_equal(scores, ref)
    assert stats["cycles_per_inference"] == folding.pipeline_bound(m, f)


@pytest.mark.parametrize("fold_name", [
    # one folding in the default suite (tails everywhere); each Verilator build costs ~15 s
    pytest.param(f, marks=[] if f == "tails" else [pytest.mark.slow]) for f in FOLDINGS])
def test_foldings_verilator(tmp_path, fold_name):
    tool_env()
    m = random_mlp([20, 9, 7, 3], input_bits=4, input_signed=True, seed=11)
    cfg, bound = FOLDINGS[fold_name]
    f = folding.resolve_folding(m, cfg)
    x, ref = make_project(tmp_path, m, f, n=16)
    scores, stats = run_sim(tmp_path, x, simulator="verilator")
    assert np.array_equal(scores, ref)
    assert stats["cycles_per_inference"] == bound


def _with_ecp5_define(rtl: Path) -> None:
    """Simulate the netlist the ECP5 timing run builds (synth.ECP5_DEFINES: `-DFI_ECP5`, the
    mvau's weight ROMs as banked LUT ROMs): a first source file defining FI_ECP5 (one
    compilation unit in both simulators)."""
    import json
    (rtl / "fi_ecp5_define.sv").write_text("`define FI_ECP5\n")
    cfg = json.loads((rtl / "tb_config.json").read_text())
    cfg["sources"] = ["fi_ecp5_define.sv"] + cfg["sources"]
    (rtl / "tb_config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize("sim", SIMULATORS)
def test_mlp_ecp5_weight_roms(tmp_path, sim):
    """The FI_ECP5 weight ROMs (rtl_templates/weight_rom.sv, Lut = 1) exact at the bound: a
    2,368-word ROM (two bank-select levels, read latency 3), 361 words (one level), 5 words."""
    tool_env()
    m = random_mlp([64, 37, 19, 10], input_bits=8, seed=3)
    f = folding.resolve_folding(m, {"dense_0": {"pe": 1, "simd": 1}, "dense_1": {"pe": 1, "simd": 2},
                                    "dense_2": {"pe": 2, "simd": 19}})
    x, ref = make_project(tmp_path, m, f, n=4)
    _with_ecp5_define(tmp_path / "rtl")
    scores, stats = run_sim(tmp_path, x, simulator=sim)
    assert np.array_equal(scores, ref)
    assert stats["cycles_per_inference"] == folding.pipeline_bound(m, f) == 64 * 37
