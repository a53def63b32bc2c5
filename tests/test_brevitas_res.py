"""Quantized residual networks from real Brevitas QONNX exports (fastinference/testing/brevitas_res.py):
predict == qonnx's executor (integer scores times output_scale), csim == predict, Verilator and
Icarus == predict at cycles per inference == the bound; what the hardware cannot add is exit 2
naming the Add.

Covered: dense and conv, a main branch of 1 and 2 layers, the shortcut with and without a
projection layer, the quantizers Brevitas users put before the Add (the block input's shared
QuantReLU on the main branch; one shared QuantIdentity on both branches, which on an identity
shortcut requantizes the block input: a Threshold on an integer stream; two QuantIdentity
modules that learned one scale), dynamo and TorchScript exports. Refused: float (not
power-of-two) scales, two different scales on the branches.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import fastinference as fi
from fastinference import cli, folding
from fastinference.ir import AddJoin, Threshold
from fastinference.project import compile_project
from fastinference.testing.brevitas_nets import assert_predict_equals_qonnx
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
    R("mlp", 1, False, "ident", epochs=10),
    R("mlp", 2, False, "ident", export="torchscript", epochs=10),
    pytest.param(R("mlp", 1, True, "relu", wbits=8, abits=8, epochs=10), marks=SLOW),
    pytest.param(R("mlp", 1, False, "ident", wbits=8, abits=8, epochs=10), marks=SLOW),
    pytest.param(R("cnn", 1, False, "ident", epochs=12), marks=SLOW),
    pytest.param(R("cnn", 2, True, "ident", epochs=10), marks=SLOW),
    pytest.param(R("cnn", 2, False, "relu", wbits=2, abits=2, export="torchscript", epochs=25), marks=SLOW),
    pytest.param(R("cnn", 1, True, "split", epochs=10), marks=SLOW),
]
# (spec, rows, simulators): csim and the simulators on few rows
HARDWARE = [
    (R("mlp", 2, True, "ident", epochs=10), 12, ("icarus", "verilator")),
    (R("mlp", 1, False, "relu", epochs=10), 12, ("icarus",)),
    # the shared QuantIdentity requantizes the unsigned block input: a Threshold on an unsigned
    # stream (threshold_unit InSigned = 0)
    (R("mlp", 1, False, "ident", epochs=10), 12, ("icarus",)),
    pytest.param(R("cnn", 2, True, "relu", epochs=12), 4, ("verilator",), marks=SLOW),
    pytest.param(R("cnn", 1, False, "relu", epochs=12), 4, ("icarus",), marks=SLOW),
    pytest.param(R("cnn", 2, True, "ident", epochs=10), 4, ("icarus", "verilator"), marks=SLOW),
    pytest.param(R("mlp", 2, False, "relu", wbits=2, abits=2, export="torchscript", epochs=10), 12,
                 ("icarus", "verilator"), marks=SLOW),
]


@pytest.fixture(scope="session")
def digits():
    _, X, _, y = load_data()
    return X[:200], y[:200]


check_exact = assert_predict_equals_qonnx


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


# ----------------------------------------------------------------- a requantizer alone
def _quant(name, x, scale, bits, signed, inits, narrow=0, mode="ROUND"):
    from onnx import helper, numpy_helper
    s, z, b = f"{name}_s", f"{name}_z", f"{name}_b"
    inits += [numpy_helper.from_array(np.float32(scale), s), numpy_helper.from_array(np.float32(0), z),
              numpy_helper.from_array(np.float32(bits), b)]
    return helper.make_node("Quant", [x, s, z, b], [name], name=name, domain="qonnx.custom_op.general",
                            signed=signed, narrow=narrow, rounding_mode=mode)


def requant_graph(path, fork: bool):
    """x (1, 6) -> Quant(1, 8 bits) -> MatMul(Quant W1) -> Quant(0.5, 4 bits signed) = a ->
    Quant(0.75, 3 bits signed: a requantizer of integers, float scale) -> MatMul(Quant W2) -> y;
    fork: y = MatMul(Quant(requant(a) + a)), the requantizer of one scale and 3 bits (it clamps)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(3)
    W1 = rng.integers(-7, 8, size=(6, 5)).astype(np.float32)
    W2 = rng.integers(-7, 8, size=(5, 3)).astype(np.float32)
    inits = [numpy_helper.from_array(W1, "W1"), numpy_helper.from_array(W2, "W2")]
    nodes = [_quant("xq", "x", 1.0, 8, 0, inits), _quant("w1q", "W1", 1.0, 4, 1, inits, narrow=1),
             helper.make_node("MatMul", ["xq", "w1q"], ["h1"], name="mm1"),
             _quant("a", "h1", 8.0, 4, 1, inits),
             _quant("rq", "a", 8.0 if fork else 12.0, 3, 1, inits)]
    last = "rq"
    if fork:
        nodes.append(helper.make_node("Add", ["rq", "a"], ["sum"], name="add"))
        nodes.append(_quant("sq", "sum", 8.0, 4, 1, inits))
        last = "sq"
    nodes += [_quant("w2q", "W2", 1.0, 4, 1, inits, narrow=1), helper.make_node("MatMul", [last, "w2q"], ["y"], name="mm2")]
    g = helper.make_graph(nodes, "rq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                            helper.make_opsetid("qonnx.custom_op.general", 1)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


@pytest.mark.parametrize("fork", [False, True], ids=["chain", "fork"])
def test_requantizer_is_a_threshold(tmp_path, fork):
    """A Quant on quantized integers (a float scale in the chain; the shortcut of an Add in the
    fork) is an N-level Threshold: predict == qonnx, csim == Icarus == predict at the bound."""
    tool_env()
    path = requant_graph(tmp_path / "rq.onnx", fork)
    x = np.random.default_rng(4).integers(0, 256, size=(400, 6)).astype(np.float32)
    net, scores = check_exact(path, x)
    thr = next(l for l in net.layers if isinstance(l, Threshold) and l.name == "rq")
    assert thr.out_bits == 3 and thr.out_signed and thr.in_stream.kind == "int"
    assert any(isinstance(l, AddJoin) for l in net.layers) == fork
    out = tmp_path / "out"
    compile_project(str(path), out, backend="all", vectors=x[:8])
    assert np.array_equal(run_csim(out, x[:8]), scores[:8])
    got, st = run_sim(out, x[:8], simulator="icarus")
    cfg = json.loads((out / "rtl" / "tb_config.json").read_text())
    assert np.array_equal(got, scores[:8]) and st["cycles_per_inference"] == cfg["expected_cycles"]


def test_bundled_example():
    """examples/digits_res_qmlp_w4a4.onnx: a residual W4A4 MLP (the block input's QuantReLU
    shared by the main branch, an identity shortcut, a 2-layer main branch): exact against qonnx
    on the bundled rows, accurate."""
    x = np.load("examples/digits_q_test_x.npy")
    y = np.load("examples/digits_test_y.npy")
    net, scores = check_exact(Path("examples/digits_res_qmlp_w4a4.onnx"), x)
    kinds = [l.kind for l in net.layers]
    assert kinds.count("add_join") == 1 and kinds.count("threshold") == 1
    assert (scores.argmax(1) == y).mean() >= 0.95
