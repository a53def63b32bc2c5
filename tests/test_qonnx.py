"""QONNX networks (Brevitas exports and hand-made graphs): predict equals qonnx's executor.

For every test net, the integer scores times ``output_scale`` are qonnx's float outputs, and the
scores are exactly ``round(output / output_scale)`` (no or an int32-quantized last bias). Ties
(power-of-two scales put accumulators exactly on half steps) are rounded half-to-even, as Quant's
ROUND does. Bad QONNX input is exit 2 with one line naming the node.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import fastinference as fi
from fastinference.cli import main as cli_main
from fastinference.testing.brevitas_nets import QSpec, assert_predict_equals_qonnx, make_qnn, qnn_input
from fastinference.testing.nets import load_data

S = QSpec
# a covering set: every width pair the issue names, both archs, the export forms, per-channel
# and power-of-two scales, the int32 last bias, negative BatchNorm scales, learned input scales
DEFAULT = [
    S("mlp", 4, 4, "dynamo"),
    S("mlp", 1, 1, "torchscript", per_channel=True, po2=True),
    S("mlp", 2, 2, "cleaned", po2=True, neg_bn=True, last_bias="int32"),
    S("mlp", 4, 2, "dynamo", per_channel=True, input_quant="learned", last_bias="int32"),
    S("mlp", 8, 8, "dynamo", neg_bn=True),
    S("mlp", 1, 2, "dynamo"),
    S("cnn", 2, 2, "dynamo"),
    S("cnn", 1, 2, "torchscript", po2=True),
    S("cnn", 1, 1, "dynamo"),
]
SLOW = [
    S("mlp", 8, 8, "torchscript", per_channel=True, po2=True, last_bias="int32"),
    S("mlp", 4, 4, "cleaned_torchscript", neg_bn=True, input_quant="learned", po2=True),
    S("cnn", 4, 4, "torchscript", per_channel=True, neg_bn=True),
    S("cnn", 8, 8, "dynamo", po2=True, last_bias="int32"),
    S("cnn", 4, 2, "cleaned", input_quant="learned"),
    S("cnn", 2, 2, "cleaned_torchscript", per_channel=True, po2=True, neg_bn=True),
]


@pytest.fixture(scope="session")
def digits_rows():
    _, X_te, _, y_te = load_data()
    return X_te[:200], y_te[:200]


check_exact = assert_predict_equals_qonnx


@pytest.mark.parametrize("spec", DEFAULT + [pytest.param(s, marks=pytest.mark.slow) for s in SLOW],
                         ids=lambda s: s.name)
def test_brevitas_predict_equals_qonnx(spec, qnet_dir, digits_rows):
    X, y = digits_rows
    path = make_qnn(spec, qnet_dir)
    net, scores = check_exact(path, qnn_input(spec, X))
    wbits = {l.weight_bits for l in net.model.compute_layers()}
    assert wbits == {spec.wbits}
    hidden = net.model.compute_layers()[:-1]
    assert all(l.output_kind == ("bits" if spec.abits == 1 else "int") for l in hidden)
    if spec.abits > 1:
        assert all(l.out_bits == spec.abits for l in hidden)


def test_export_forms_lower_to_the_same_layers(qnet_dir):
    """dynamo, TorchScript and cleaned exports of one trained net: identical integer layers."""
    nets = [fi.load(str(make_qnn(S("mlp", 2, 2, form, po2=True, neg_bn=True, last_bias="int32"), qnet_dir)))
            for form in ("dynamo", "torchscript", "cleaned")]
    for other in nets[1:]:
        for a, b in zip(nets[0].model.compute_layers(), other.model.compute_layers()):
            assert np.array_equal(a.weights, b.weights)
            assert np.array_equal(a.thresholds, b.thresholds) if a.thresholds is not None else b.thresholds is None
            assert np.array_equal(a.directions, b.directions) if a.directions is not None else True
        assert np.array_equal(nets[0].model.output_scale, other.model.output_scale)


# ------------------------------------------------------------------ hand-made QONNX graphs
def quant(name, x, scale, bits, signed=1, narrow=0, mode="ROUND", zp=0.0, inits=None):
    s, z, b = f"{name}_s", f"{name}_z", f"{name}_b"
    inits += [numpy_helper.from_array(np.asarray(scale, dtype=np.float32), s),
              numpy_helper.from_array(np.asarray(zp, dtype=np.float32), z),
              numpy_helper.from_array(np.asarray(float(bits), dtype=np.float32), b)]
    return helper.make_node("Quant", [x, s, z, b], [name], name=name, domain="qonnx.custom_op.general",
                            signed=signed, narrow=narrow, rounding_mode=mode)


def tie_graph(path, mode="ROUND", act_scale=1.0, act_bits=4, zp=0.0, w_bits=4, trunc=False):
    """x (1, 6) -> Quant(scale 1, 4 bits unsigned) -> Gemm(Quant(W, scale 1)) -> Mul 0.5 ->
    Quant(act) -> Gemm(Quant(W2)) -> y (1, 3). With the 0.5, odd accumulators land exactly on
    half steps: ROUND must round them to even."""
    rng = np.random.default_rng(1)
    inits = []
    W1 = rng.integers(-7, 8, size=(6, 5)).astype(np.float32)
    W2 = rng.integers(-7, 8, size=(5, 3)).astype(np.float32)
    inits += [numpy_helper.from_array(W1, "W1"), numpy_helper.from_array(W2, "W2"),
              numpy_helper.from_array(np.float32(0.5), "half")]
    nodes = [quant("xq", "x", 1.0, 4, signed=0, inits=inits),
             quant("w1q", "W1", 1.0, w_bits, narrow=1, inits=inits),
             helper.make_node("MatMul", ["xq", "w1q"], ["h1"], name="mm1"),
             helper.make_node("Mul", ["h1", "half"], ["h2"], name="mul_half"),
             quant("aq", "h2", act_scale, act_bits, signed=1, mode=mode, zp=zp, inits=inits),
             quant("w2q", "W2", 1.0, 4, narrow=1, inits=inits),
             helper.make_node("MatMul", ["aq", "w2q"], ["y"], name="mm2")]
    g = helper.make_graph(nodes, "tie", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                            helper.make_opsetid("qonnx.custom_op.general", 1)])
    onnx.save(m, str(path))
    return path


def test_half_steps_round_to_even(tmp_path):
    path = tie_graph(tmp_path / "tie.onnx")
    x = np.array(np.meshgrid(*[np.arange(0, 16, 5)] * 6)).reshape(6, -1).T.astype(np.float32)
    net, _ = check_exact(path, x)
    # the staircase really has ties: odd accumulators sit on half steps
    acc = x.astype(np.int64) @ net.model.compute_layers()[0].weights.T.astype(np.int64)
    assert (acc % 2 != 0).any()


@pytest.mark.parametrize("mode", ["FLOOR", "CEIL", "HALF_UP", "DOWN"])
def test_other_rounding_modes(tmp_path, mode):
    path = tie_graph(tmp_path / f"tie_{mode}.onnx", mode=mode, act_scale=0.75)
    x = np.random.default_rng(2).integers(0, 16, size=(300, 6)).astype(np.float32)
    check_exact(path, x)


@pytest.mark.parametrize("kw,needle", [
    (dict(mode="SIDEWAYS"), "rounding_mode 'SIDEWAYS'"),
    (dict(zp=1.0), "zero point is not 0"),
    (dict(act_bits=12), "use an activation bit width <= 8"),
    (dict(w_bits=10), "use a weight bit width <= 8"),
])
def test_bad_qonnx_is_exit_2(tmp_path, capsys, kw, needle):
    path = tie_graph(tmp_path / "bad.onnx", **kw)
    out = tmp_path / "out"
    rc = cli_main(["compile", str(path), "--out", str(out), "--backend", "hls"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error:") and needle in err and "\n" not in err, err
    assert not out.exists()


def test_per_channel_activation_scale_is_exit_2(tmp_path, capsys):
    path = tie_graph(tmp_path / "pc.onnx", act_scale=np.full((1, 5), 0.5, dtype=np.float32) * [1, 2, 1, 2, 1])
    rc = cli_main(["inspect", str(path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "per-channel activation scale" in err and "node 'aq'" in err


def test_rtl_backend_compiles_multibit(tmp_path, capsys):
    # the RTL mvau takes 1..8-bit weights and activations (tests/rtl/test_rtl_qnn.py simulates them)
    path = tie_graph(tmp_path / "q.onnx")
    rc = cli_main(["compile", str(path), "--out", str(tmp_path / "o"), "--backend", "rtl"])
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "o" / "rtl" / "mvau.sv").is_file()


@pytest.mark.parametrize("out_dtype,out_scale,out_bias", [("UINT2", 1.0, 0.0), ("INT3", 0.5, -1.0)])
def test_multithreshold_node(tmp_path, out_dtype, out_scale, out_bias):
    """A FINN MultiThreshold between two layers: its count becomes the next layer's integers."""
    rng = np.random.default_rng(3)
    inits = []
    W1 = rng.integers(-7, 8, size=(6, 5)).astype(np.float32)
    W2 = rng.integers(-7, 8, size=(5, 3)).astype(np.float32)
    T = np.sort(rng.integers(-60, 60, size=(5, 3)).astype(np.float32) + 0.5 * rng.integers(0, 2, size=(5, 3)), axis=1)
    T[1] = T[1, ::-1].copy()  # unsorted rows count the same
    inits += [numpy_helper.from_array(W1, "W1"), numpy_helper.from_array(W2, "W2"), numpy_helper.from_array(T, "T")]
    nodes = [quant("xq", "x", 1.0, 4, signed=0, inits=inits),
             quant("w1q", "W1", 1.0, 4, narrow=1, inits=inits),
             helper.make_node("MatMul", ["xq", "w1q"], ["h1"], name="mm1"),
             helper.make_node("MultiThreshold", ["h1", "T"], ["a"], name="mt", domain="qonnx.custom_op.general",
                              out_dtype=out_dtype, out_scale=out_scale, out_bias=out_bias),
             quant("w2q", "W2", 1.0, 4, narrow=1, inits=inits),
             helper.make_node("MatMul", ["a", "w2q"], ["y"], name="mm2")]
    g = helper.make_graph(nodes, "mt", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                            helper.make_opsetid("qonnx.custom_op.general", 1)])
    path = tmp_path / "mt.onnx"
    onnx.save(m, str(path))
    x = rng.integers(0, 16, size=(300, 6)).astype(np.float32)
    net, _ = check_exact(path, x)
    first = net.model.compute_layers()[0]
    assert first.output_kind == "int" and first.out_signed == out_dtype.startswith("INT")
