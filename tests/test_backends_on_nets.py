"""The networks trained in this session (fastinference/testing/nets.py: MLPs, CNNs, negative BatchNorm scales,
exact ties), through every backend, compared with the reference bit for bit.

* Both exporters of a net lower to the same binary hardware (weights, thresholds,
  directions, pool modes), so one simulation covers both exports.
* RTL: Icarus on 20 test rows at two foldings, Verilator on 50 rows at the default folding
  (the other folding for mlp_odd, for every net under -m slow); measured cycles per inference equal the bound
  (max with the pixel-stream cycles of a conv net, which the generated top documents).
* HLS: g++ C-simulation on all test rows at the default folding and a folded one.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import fastinference as fi
from fastinference.ir import BinaryLayer, BinaryMaxPool
from fastinference.project import compile_project
from fastinference.verify.csim import run_csim
from fastinference.verify.rtl_sim import run_sim
from fastinference.testing.nets import NAMES

FOLDINGS = {"default": {}, "folded": {"target_cycles": 256}}


def hardware_signature(net) -> list:
    sig = []
    for l in net.layers:
        if isinstance(l, BinaryLayer):
            sig.append((l.kind, l.weights.tolist(), None if l.thresholds is None else l.thresholds.tolist(),
                        None if l.directions is None else l.directions.tolist(),
                        None if l.bias is None else l.bias.tolist(), l.in_shape, l.out_shape))
        elif isinstance(l, BinaryMaxPool):
            sig.append((l.kind, l.kernel, l.stride,
                        None if l.and_channels is None else l.and_channels.tolist()))
    return sig


@pytest.mark.parametrize("name", NAMES)
def test_both_exporters_give_the_same_hardware(nets, name):
    a = fi.load(str(nets.get(name, "legacy").path))
    b = fi.load(str(nets.get(name, "dynamo").path))
    assert hardware_signature(a) == hardware_signature(b)


def _project(nets, name, fold, tmp_path, backend, rows):
    case = nets.get(name, "legacy")
    x = case.X_test[:rows]
    out = tmp_path / f"{name}_{fold}_{backend}"
    rep = compile_project(str(case.path), out, backend=backend, vectors=x, **FOLDINGS[fold])
    return case, x, out, rep


def _expected_cycles(out, rep) -> int:
    cfg = json.loads((out / "rtl" / "tb_config.json").read_text())
    assert cfg["bound_cycles"] == rep["bound_cycles"]
    return max(rep["bound_cycles"], cfg["stream_cycles"])


def _check_rtl(nets, name, fold, tmp_path, simulator, rows):
    case, x, out, rep = _project(nets, name, fold, tmp_path, "rtl", rows)
    got, stats = run_sim(out, x, simulator=simulator)
    assert np.array_equal(got, fi.load(str(case.path)).predict(x))
    assert stats["cycles_per_inference"] == _expected_cycles(out, rep)


@pytest.mark.parametrize("fold", list(FOLDINGS))
@pytest.mark.parametrize("name", NAMES)
def test_rtl_icarus(nets, name, fold, tmp_path):
    _check_rtl(nets, name, fold, tmp_path, "icarus", 20)


@pytest.mark.parametrize("name,fold", [
    # every net at the default folding; folded only mlp_odd (odd sizes: tails) by default
    pytest.param(n, f, marks=[] if f == "default" or n == "mlp_odd" else [pytest.mark.slow])
    for f in FOLDINGS for n in NAMES])
def test_rtl_verilator(nets, name, fold, tmp_path):
    _check_rtl(nets, name, fold, tmp_path, "verilator", 50)


@pytest.mark.parametrize("fold", list(FOLDINGS))
@pytest.mark.parametrize("name", NAMES)
def test_hls_csim(nets, name, fold, tmp_path):
    case, x, out, _ = _project(nets, name, fold, tmp_path, "hls", 10_000)
    got = run_csim(out, x)
    assert np.array_equal(got, fi.load(str(case.path)).predict(x))
