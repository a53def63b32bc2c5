"""Quantized residual networks from real Brevitas QONNX exports (fastinference/testing/brevitas_res.py):
predict == qonnx's executor (integer scores times output_scale), csim == predict, Verilator and
Icarus == predict at cycles per inference == the bound; what the hardware cannot add is exit 2
naming the Add.

Covered: dense and conv, a main branch of 1 and 2 layers, the shortcut with and without a
projection layer, the quantizers Brevitas users put before the Add (the block input's shared
QuantReLU on the main branch; one shared QuantIdentity on both branches; two QuantIdentity
modules that learned one scale), dynamo and TorchScript exports. Refused: float (not
power-of-two) scales, two different scales on the branches.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import fastinference as fi
from fastinference import cli, folding
from fastinference.ir import AddJoin, Threshold
from fastinference.project import compile_project
from fastinference.testing.brevitas_nets import qonnx_execute
from fastinference.testing.brevitas_res import RSpec, make_res, res_input
from fastinference.testing.nets import load_data
from fastinference.testing.rtl_helpers import tool_env
from fastinference.verify.csim import run_csim
from fastinference.verify.rtl_sim import run_sim

R = RSpec
SLOW = pytest.mark.slow
EXACT = [
    R("mlp", 1, False, "relu", epochs=10),
    R("mlp", 2, True, "ident", epochs=10),
    R("mlp", 1, True, "split", export="torchscript", epochs=10),
    R("mlp", 2, False, "relu", wbits=2, abits=2, export="torchscript", epochs=10),
    R("cnn", 1, False, "relu", epochs=12),
    pytest.param(R("mlp", 1, True, "relu", wbits=8, abits=8, epochs=10), marks=SLOW),
    pytest.param(R("cnn", 2, True, "ident", epochs=10), marks=SLOW),
    pytest.param(R("cnn", 2, False, "relu", wbits=2, abits=2, export="torchscript", epochs=10), marks=SLOW),
    pytest.param(R("cnn", 1, True, "split", epochs=10), marks=SLOW),
]
# (spec, rows, simulators): csim and the simulators on few rows
HARDWARE = [
    (R("mlp", 2, True, "ident", epochs=10), 12, ("icarus", "verilator")),
    (R("mlp", 1, False, "relu", epochs=10), 12, ("icarus",)),
    pytest.param(R("cnn", 1, False, "relu", epochs=12), 4, ("icarus",), marks=SLOW),
    pytest.param(R("cnn", 2, True, "ident", epochs=10), 4, ("icarus", "verilator"), marks=SLOW),
    pytest.param(R("mlp", 2, False, "relu", wbits=2, abits=2, export="torchscript", epochs=10), 12,
                 ("icarus", "verilator"), marks=SLOW),
]


@pytest.fixture(scope="session")
def digits():
    _, X, _, y = load_data()
    return X[:200], y[:200]


def check_exact(path, x):
    """predict's integer scores times output_scale are qonnx's outputs; returns (net, scores)."""
    net = fi.load(str(path))
    scores = net.predict(x)
    ref = qonnx_execute(path, x)
    scale = np.broadcast_to(net.model.output_scale, (scores.shape[1],))
    units = np.round(ref / scale).astype(np.int64)
    bad = np.argwhere(units != scores)
    assert bad.size == 0, f"{path.name}: row {bad[0][0]}: qonnx {units[bad[0][0]]} vs predict {scores[bad[0][0]]}"
    np.testing.assert_allclose(scores * scale, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())
    return net, scores


@pytest.mark.parametrize("spec", EXACT, ids=lambda s: s.name)
def test_predict_equals_qonnx(spec, qnet_dir, digits):
    X, y = digits
    path = make_res(spec, qnet_dir)
    net, scores = check_exact(path, res_input(spec, X))
    assert not net.model.is_chain
    joins = [l for l in net.layers if isinstance(l, AddJoin)]
    assert len(joins) == 1
    j = joins[0]
    assert all(s.kind == "int" for s in j.in_streams)
    assert isinstance(net.layers[net.layers.index(j) + 1], Threshold)
    assert len(np.unique(scores.argmax(1))) >= 5  # a network, not a constant
    assert (scores.argmax(1) == y).mean() > 0.5


_projects: dict = {}


def _project(spec, rows, qnet_dir, root):
    if spec not in _projects:
        path = make_res(spec, qnet_dir)
        _, X, _, _ = load_data()
        x = res_input(spec, X[:rows])
        out = root / spec.name
        compile_project(str(path), out, backend="all", vectors=x)
        net = fi.load(str(path))
        _projects[spec] = (net, out, net.check_input(x), net.predict(x))
    return _projects[spec]


@pytest.fixture(scope="module")
def proj_root(tmp_path_factory):
    return tmp_path_factory.mktemp("brevitas_res")


@pytest.mark.parametrize("spec, rows, sims", HARDWARE, ids=lambda v: v.name if isinstance(v, RSpec) else str(v))
def test_hardware_equals_predict_at_bound(spec, rows, sims, qnet_dir, proj_root):
    tool_env()
    net, out, x, want = _project(spec, rows, qnet_dir, proj_root)
    assert np.array_equal(run_csim(out, x), want), "csim != predict"
    cfg = json.loads((out / "rtl" / "tb_config.json").read_text())
    assert cfg["bound_cycles"] == folding.pipeline_bound(net.model, folding.resolve_folding(net.model))
    for sim in sims:
        got, st = run_sim(out, x, simulator=sim)
        assert np.array_equal(got, want), f"{sim} != predict"
        assert st["cycles_per_inference"] == cfg["expected_cycles"] == max(cfg["bound_cycles"], cfg["stream_cycles"]), \
            (sim, st, cfg)


REFUSED = [
    (R("mlp", 1, False, "relu", po2=False, epochs=3), "is not a power of two"),
    (R("mlp", 1, True, "const", epochs=3), "different scales"),
]


@pytest.mark.parametrize("spec, needle", REFUSED, ids=lambda v: v.name if isinstance(v, RSpec) else "")
def test_unaddable_is_exit_2_naming_the_add(spec, needle, qnet_dir, tmp_path, capsys):
    import onnx
    path = make_res(spec, qnet_dir)
    add = next(n.name for n in onnx.load(str(path)).graph.node if n.op_type == "Add")
    out = tmp_path / "out"
    rc = cli.main(["compile", str(path), "--out", str(out)])
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert add in lines[0] and needle in lines[0], lines[0]
    assert not out.exists()
