"""Max pooling on the integer network input (IntMaxPool), and pools of any kernel and stride in
every engine.

* predict == onnxruntime for MaxPool -> Conv -> sign -> ... on unsigned/signed 8-bit and 12-bit
  inputs, square, non-square, overlapping and stride > kernel pools;
* one small net per case through ``--backend all``: g++ C-simulation, Icarus and Verilator equal
  predict (and measured cycles equal the documented figure): an integer pool on 12-bit signed
  inputs, and a 3x3 stride-2 binary pool after a sign (RTL used to refuse it);
* refusals, exit 2 naming the node: MaxPool with pads, AveragePool.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import fastinference as fi
from fastinference.ir import BinaryMaxPool, IntMaxPool
from fastinference.project import compile_project
from fastinference.testing.graphs import GraphBuilder, ort_run, pm1
from fastinference.verify.csim import run_csim
from fastinference.verify.rtl_sim import run_sim

FORMATS = [(8, False), (8, True), (12, False), (12, True)]


def _range(bits, signed):
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def _inputs(rng, n, shape, bits, signed):
    lo, hi = _range(bits, signed)
    x = rng.integers(lo, hi + 1, size=(n,) + shape)
    x[: n // 4] = rng.choice([lo, hi], size=(n // 4,) + shape)  # the extremes decide maxima
    return x.astype(np.float32)


def pool_first_net(path, rng, shape, k, s, dense=False):
    """MaxPool(k, s) on the input -> Conv 2x2 (or Flatten -> Gemm) -> BN -> sign -> Gemm."""
    C, H, W = shape
    g = GraphBuilder(shape)
    g.node("MaxPool", [g.cur], kernel_shape=list(k), strides=list(s))
    OH, OW = (H - k[0]) // s[0] + 1, (W - k[1]) // s[1] + 1
    if dense:
        g.flatten()
        g.gemm(pm1(rng, 6, C * OH * OW))
        M, F = 6, 6
    else:
        g.conv(pm1(rng, 4, C, 2, 2))
        M, F = 4, 4 * (OH - 1) * (OW - 1)
    g.bn(rng.uniform(-2, 2, M), rng.normal(0, 30, M), rng.normal(0, 30, M), np.ones(M))
    g.sign()
    if not dense:
        g.flatten()
    g.gemm(pm1(rng, 3, F))
    return g.save(path)


POOLS = {"k2s2": ((2, 2), (2, 2)), "k3x2_s2x3": ((3, 2), (2, 3)), "k3s2_overlap": ((3, 3), (2, 2)),
         "k2s3_gap": ((2, 2), (3, 3))}


@pytest.mark.parametrize("bits,signed", FORMATS)
@pytest.mark.parametrize("pool", list(POOLS))
def test_predict_equals_onnxruntime(tmp_path, pool, bits, signed):
    rng = np.random.default_rng(len(pool) * 100 + bits + signed)
    k, s = POOLS[pool]
    for dense in (False, True):
        path = pool_first_net(tmp_path / f"n{dense}.onnx", rng, (2, 9, 10), k, s, dense)
        net = fi.load(path, input_bits=bits, input_signed=signed)
        pool_layer = net.layers[0]
        assert isinstance(pool_layer, IntMaxPool)
        assert (pool_layer.bits, pool_layer.signed, pool_layer.kernel, pool_layer.stride) == (bits, signed, k, s)
        assert net.layers[1].input_kind == "int" and net.layers[1].input_bits == bits
        x = _inputs(rng, 300, (2, 9, 10), bits, signed)
        assert np.array_equal(net.predict(x), ort_run(path, x))


def test_reference_is_a_max_over_integers():
    """Hand-checked: signed values, a non-square window and stride > kernel."""
    from fastinference.reference import run_layer
    layer = IntMaxPool(name="p", source_nodes=[], in_shape=(1, 3, 5), out_shape=(1, 1, 2),
                       kernel=(2, 2), stride=(1, 3), bits=8, signed=True)
    x = np.array([[[[-128, -5, 7, -100, -3], [-128, -6, 0, -2, -1], [9, 9, 9, 9, 9]]]])
    assert run_layer(layer, x).tolist() == [[[[-5, -1]]]]


def _engines(path, out, x, bits, signed, **kw):
    rep = compile_project(str(path), out, backend="all", input_bits=bits, input_signed=signed,
                          vectors=x, **kw)
    want = fi.load(str(path), input_bits=bits, input_signed=signed).predict(x)
    assert np.array_equal(run_csim(out, x), want), "csim"
    cfg = json.loads((out / "rtl" / "tb_config.json").read_text())
    for sim in ("icarus", "verilator"):
        got, stats = run_sim(out, x, simulator=sim)
        assert np.array_equal(got, want), sim
        assert stats["cycles_per_inference"] == max(rep["bound_cycles"], cfg["stream_cycles"]), sim
    return want


def test_int_pool_every_engine(tmp_path):
    """12-bit signed input, a 3x2 pool with stride 2x3 feeding a conv: csim, Icarus and
    Verilator equal predict (which equals onnxruntime)."""
    rng = np.random.default_rng(7)
    path = pool_first_net(tmp_path / "int_pool.onnx", rng, (2, 9, 10), (3, 2), (2, 3))
    x = _inputs(rng, 24, (2, 9, 10), 12, True)
    want = _engines(path, tmp_path / "out", x, 12, True)
    assert np.array_equal(want, ort_run(path, x))
    rtl = (tmp_path / "out" / "rtl" / "filelist.f").read_text().split()
    assert "maxpool.sv" in rtl and "sliding_window.sv" in rtl


def test_binary_pool_3x3_stride2_backend_all(tmp_path):
    """Conv -> BN -> sign -> MaxPool 3x3 stride 2 -> Flatten -> Gemm, through --backend all
    (the RTL accepted only square kernels with stride = kernel before)."""
    rng = np.random.default_rng(3)
    g = GraphBuilder((1, 9, 9))
    g.conv(pm1(rng, 5, 1, 3, 3), pad=1)
    g.bn(rng.uniform(-2, 2, 5), rng.normal(0, 20, 5), rng.normal(0, 20, 5), np.ones(5))
    g.sign()
    g.node("MaxPool", [g.cur], kernel_shape=[3, 3], strides=[2, 2])
    g.flatten()
    g.gemm(pm1(rng, 4, 5 * 4 * 4))
    path = g.save(tmp_path / "pool3s2.onnx")
    net = fi.load(str(path))
    assert any(isinstance(l, BinaryMaxPool) and l.kernel == (3, 3) and l.stride == (2, 2)
               for l in net.layers)
    x = _inputs(rng, 24, (1, 9, 9), 8, False)
    want = _engines(path, tmp_path / "out", x, 8, False)
    assert np.array_equal(want, ort_run(path, x))


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "fastinference", *map(str, args)],
                          capture_output=True, text=True)


def test_refusals_exit_2_naming_the_node(tmp_path):
    rng = np.random.default_rng(1)
    g = GraphBuilder((2, 8, 8))
    g.node("MaxPool", [g.cur], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1])
    g.conv(pm1(rng, 4, 2, 2, 2))
    g.sign()
    g.flatten()
    g.gemm(pm1(rng, 3, 4 * 16))
    padded = g.save(tmp_path / "pads.onnx")
    g = GraphBuilder((2, 8, 8))
    g.conv(pm1(rng, 4, 2, 2, 2))
    g.sign()
    g.node("AveragePool", [g.cur], kernel_shape=[2, 2], strides=[1, 1])
    g.flatten()
    g.gemm(pm1(rng, 3, 4 * 36))
    avg = g.save(tmp_path / "avg.onnx")
    for path, node, hint in [(padded, "MaxPool_1", "padding=0"), (avg, "AveragePool_", "use MaxPool")]:
        r = _cli("compile", path, "--out", tmp_path / "o", "--input-signed")
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and node in lines[0] and hint in lines[0]
        assert not (tmp_path / "o").exists()
