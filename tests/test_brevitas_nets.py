"""The QONNX test-network factory (fastinference/testing/brevitas_nets.py): every spec trains and
exports, the export forms of one net agree under qonnx's executor, the batched executor equals
the row-by-row one, accuracy is sane, and each export form has the ops expected_ops lists
(what the QONNX frontend must handle; details in notes/qonnx_exports.md).

SPEC_MATRIX (~24 specs, @slow) covers W1A1, W2A2, W4A4, W8A8, W1A2, W4A2 for mlp and cnn, the
export forms, per-tensor/per-channel weight scales, float/power-of-two scales, both input quants,
the int32 last bias and negative BN gammas. DEFAULT_SPECS (6) run in the default suite.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest

from fastinference.testing.brevitas_nets import QSpec, load_meta, make_qnn, qnn_input, qonnx_execute
from fastinference.testing.nets import load_data

S = QSpec
SPEC_MATRIX = [
    # mlp
    S("mlp", 1, 1, "dynamo"),
    S("mlp", 1, 1, "torchscript", per_channel=True, po2=True),
    S("mlp", 1, 1, "cleaned", neg_bn=True),
    S("mlp", 2, 2, "dynamo", po2=True, neg_bn=True),
    S("mlp", 2, 2, "torchscript", per_channel=True, input_quant="learned"),
    S("mlp", 4, 4, "dynamo"),
    S("mlp", 4, 4, "torchscript", po2=True, last_bias="int32"),
    S("mlp", 4, 4, "cleaned", per_channel=True, input_quant="learned", last_bias="int32"),
    S("mlp", 8, 8, "dynamo", per_channel=True, po2=True, input_quant="learned"),
    S("mlp", 8, 8, "cleaned", neg_bn=True, log_softmax=True),
    S("mlp", 1, 2, "dynamo", per_channel=True, po2=True),
    S("mlp", 4, 2, "torchscript", po2=True, neg_bn=True, last_bias="int32"),
    # cnn
    S("cnn", 1, 1, "dynamo", po2=True),
    S("cnn", 1, 1, "cleaned", per_channel=True, neg_bn=True),
    S("cnn", 2, 2, "dynamo"),
    S("cnn", 2, 2, "torchscript", per_channel=True, po2=True, neg_bn=True),
    S("cnn", 2, 2, "cleaned", input_quant="learned", last_bias="int32"),
    S("cnn", 4, 4, "dynamo", per_channel=True, po2=True, last_bias="int32"),
    S("cnn", 4, 4, "torchscript", input_quant="learned"),
    S("cnn", 8, 8, "cleaned", po2=True),
    S("cnn", 8, 8, "torchscript", per_channel=True, neg_bn=True),
    S("cnn", 1, 2, "torchscript", po2=True, input_quant="learned"),
    S("cnn", 4, 2, "dynamo", per_channel=True, neg_bn=True),
    S("cnn", 4, 2, "cleaned_torchscript", po2=True),
]
DEFAULT_SPECS = [
    S("mlp", 4, 4, "dynamo"),
    S("mlp", 1, 1, "torchscript", per_channel=True, po2=True),
    S("mlp", 2, 2, "cleaned", po2=True, neg_bn=True, last_bias="int32"),
    S("mlp", 4, 2, "dynamo", per_channel=True, input_quant="learned", last_bias="int32"),
    S("cnn", 2, 2, "dynamo"),
    S("cnn", 1, 2, "torchscript", po2=True),
]

# Op types (set) of each export form, observed with brevitas 0.13.4 / torch 2.13 / qonnx 1.0.0.
_BASE = {
    ("mlp", "dynamo"): {"Quant", "Gemm", "BatchNormalization"},
    ("mlp", "torchscript"): {"Quant", "Transpose", "MatMul", "BatchNormalization"},
    ("cnn", "dynamo"): {"Quant", "Conv", "BatchNormalization", "MaxPool", "Reshape", "Gemm"},
    ("cnn", "torchscript"): {"Quant", "Conv", "BatchNormalization", "MaxPool", "Flatten",
                             "Transpose", "MatMul"},
}


def expected_ops(spec: QSpec) -> set:
    form = "torchscript" if spec.export in ("torchscript", "cleaned_torchscript") else "dynamo"
    ops = set(_BASE[spec.arch, form])
    if spec.abits >= 2:
        ops.add("Relu")
    if spec.wbits == 1 or spec.abits == 1:
        ops.add("BipolarQuant")
    if spec.last_bias and form == "torchscript":
        ops.add("Gemm")  # the biased last layer: Gemm(x, Quant(W), Quant(bias)), transB=1
    if spec.log_softmax:
        ops.add("LogSoftmax")
    if spec.export == "cleaned_torchscript":
        ops.discard("Transpose")  # cleanup folds it into the weight Quant's initializer
    return ops


@pytest.fixture(scope="session")
def qnet_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("qnets")


@pytest.fixture(scope="session")
def digits():
    _, X_te, _, y_te = load_data()
    return X_te[:200], y_te[:200]


def _check_spec(spec, qnet_dir, digits):
    X, y = digits
    path = make_qnn(spec, qnet_dir)
    meta = load_meta(path)
    assert meta["spec"] == spec
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    print(f"{spec.name}: {' '.join(ops)}")
    assert set(ops) == expected_ops(spec), spec.name
    out = qonnx_execute(path, qnn_input(spec, X))
    assert out.shape == (len(X), 10) and np.isfinite(out).all()
    acc = (out.argmax(1) == y).mean()
    floor = 0.8 if min(spec.wbits, spec.abits) >= 4 else 0.5
    assert meta["float_test_acc"] > floor and acc > floor, (spec.name, meta["float_test_acc"], acc)
    return path


@pytest.mark.parametrize("spec", DEFAULT_SPECS, ids=lambda s: s.name)
def test_default_specs(spec, qnet_dir, digits):
    _check_spec(spec, qnet_dir, digits)


@pytest.mark.slow
@pytest.mark.parametrize("spec", SPEC_MATRIX, ids=lambda s: s.name)
def test_spec_matrix(spec, qnet_dir, digits):
    _check_spec(spec, qnet_dir, digits)


def _act_quant_outputs(path, x, batched=True):
    """Outputs of the Quant/BipolarQuant nodes on the data path, in graph order."""
    ctx = qonnx_execute(path, x, batched=batched, full=True)
    g = onnx.load(str(path)).graph
    data = {g.input[0].name}
    outs = []
    for n in g.node:
        if any(t in data for t in n.input):
            data.update(n.output)
            if n.op_type in ("Quant", "BipolarQuant"):
                outs.append(ctx[n.output[0]])
    return outs


@pytest.mark.parametrize("base", [S("mlp", 4, 4),  # trained once for DEFAULT_SPECS[0]
                                  pytest.param(S("cnn", 2, 2, per_channel=True, po2=True,
                                                 last_bias="int32"), marks=pytest.mark.slow)],
                         ids=lambda s: s.name)
def test_export_forms_agree(base, qnet_dir, digits):
    """One trained net, four export forms: the same activation quant outputs and (up to float32
    rounding of the last Gemm/MatMul) the same scores."""
    X, _ = digits
    x = qnn_input(base, X)
    forms = ("dynamo", "torchscript", "cleaned", "cleaned_torchscript")
    paths = [make_qnn(base.with_export(f), qnet_dir) for f in forms]
    ref_q = _act_quant_outputs(paths[0], x)
    ref = qonnx_execute(paths[0], x)
    for f, p in zip(forms[1:], paths[1:]):
        q = _act_quant_outputs(p, x)
        assert len(q) == len(ref_q), f
        for a, b in zip(ref_q, q):
            np.testing.assert_array_equal(a, b, err_msg=f)
        np.testing.assert_allclose(qonnx_execute(p, x), ref, rtol=0, atol=1e-5 * np.abs(ref).max(),
                                   err_msg=f)


@pytest.mark.parametrize("spec", [DEFAULT_SPECS[1], DEFAULT_SPECS[4]], ids=lambda s: s.name)
def test_batched_equals_row_by_row(spec, qnet_dir, digits):
    X, _ = digits
    x = qnn_input(spec, X[:40])
    path = make_qnn(spec, qnet_dir)
    for a, b in zip(_act_quant_outputs(path, x), _act_quant_outputs(path, x, batched=False)):
        np.testing.assert_array_equal(a, b)
    a, b = qonnx_execute(path, x), qonnx_execute(path, x, batched=False)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * np.abs(a).max())


def test_input_quant_int_passes_pixels(qnet_dir, digits):
    """input_quant="int": the input Quant has scale 1.0, 8 bits, unsigned: pixels pass unchanged."""
    X, _ = digits
    spec = S("mlp", 4, 4, "dynamo")
    path = make_qnn(spec, qnet_dir)
    g = onnx.load(str(path)).graph
    first = g.node[0]
    assert first.op_type == "Quant" and first.input[0] == g.input[0].name
    x = qnn_input(spec, X)
    assert x.dtype == np.float32 and x.min() == 0 and x.max() == 16
    ctx = qonnx_execute(path, x, full=True)
    np.testing.assert_array_equal(ctx[first.output[0]], x)
