"""Malformed and unsupported ONNX models through the real command line (GitHub issue 7, item 4).

Every case in ``CASES`` is a bad model (or a bad file) and the words its one-line error must
contain. The test runs ``python -m fastinference inspect|predict`` on it and checks the
contract: exit code 2, exactly one stderr line starting ``error: ``, no traceback, nothing
written. ``tests/make_error_table.py`` renders the same list (with the message each case gets)
into ``docs/ERRORS.md``; ``test_error_table_is_up_to_date`` keeps that file from drifting.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from fastinference.testing.graphs import F32, GraphBuilder, ort_run, pm1

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
MLP = EXAMPLES / "digits_mlp.onnx"
MODEL = "model.onnx"  # every case writes its model under this name in its own folder


# ----------------------------------------------------------------------------- builders
def mlp(bn=True, sign_form="where", last_bias=None) -> GraphBuilder:
    """Gemm(6->5) [BN] sign Gemm(5->3) LogSoftmax: a valid BNN to break."""
    rng = np.random.default_rng(0)
    g = GraphBuilder((6,))
    g.gemm(pm1(rng, 5, 6))
    if bn:
        g.bn(np.ones(5), np.zeros(5), np.full(5, 3.0), np.ones(5))
    g.sign(sign_form)
    g.gemm(pm1(rng, 3, 5), last_bias)
    g.logsoftmax()
    return g


def mlp_init() -> GraphBuilder:
    """The MLP with the sign constants as initializers (not Constant nodes)."""
    return mlp(sign_form="initializers")


def cnn() -> GraphBuilder:
    """Conv(1->4, 3x3, pad 1) BN sign MaxPool Flatten Gemm(64->3)."""
    rng = np.random.default_rng(1)
    g = GraphBuilder((1, 8, 8))
    g.conv(pm1(rng, 4, 1, 3, 3), pad=1)
    g.bn(np.ones(4), np.zeros(4), np.zeros(4), np.ones(4))
    g.sign()
    g.maxpool(2)
    g.flatten()
    g.gemm(pm1(rng, 3, 64))
    return g


def save(m: onnx.ModelProto, d: Path, name: str = MODEL) -> str:
    """Write without checking (the point is to write broken models)."""
    (d / name).write_bytes(m.SerializeToString())
    return name


def node(m: onnx.ModelProto, op: str, k: int = 0) -> onnx.NodeProto:
    """The k-th node of type ``op``."""
    return [n for n in m.graph.node if n.op_type == op][k]


def init(m: onnx.ModelProto, name: str) -> onnx.TensorProto:
    return next(t for t in m.graph.initializer if t.name == name)


def set_init(m: onnx.ModelProto, name: str, arr) -> None:
    t = init(m, name)
    t.CopyFrom(numpy_helper.from_array(np.asarray(arr), name))


def set_attr(n: onnx.NodeProto, name: str, value) -> None:
    for a in list(n.attribute):
        if a.name == name:
            n.attribute.remove(a)
    n.attribute.append(helper.make_attribute(name, value))


def edited(build: Callable[[], GraphBuilder], edit: Callable[[onnx.ModelProto], None]):
    def make(d: Path) -> list[str]:
        m = build().model()
        edit(m)
        return ["inspect", save(m, d)]
    return make


def raw_file(data: bytes | Callable[[], bytes], name: str = MODEL):
    def make(d: Path) -> list[str]:
        (d / name).write_bytes(data() if callable(data) else data)
        return ["inspect", name]
    return make


# ---------------------------------------------------------------------- the edits
def _truncated() -> bytes:
    data = MLP.read_bytes()
    return data[: len(data) // 2]


def _random_bytes() -> bytes:
    return np.random.default_rng(7).integers(0, 256, 3000, dtype=np.uint8).tobytes()


def _no_nodes(m):
    del m.graph.node[:]


def _no_input(m):
    # the data input becomes an initializer: nothing is left to feed the network
    m.graph.initializer.append(numpy_helper.from_array(np.zeros((1, 6), np.float32), "x"))
    del m.graph.input[:]


def _two_inputs(m):
    m.graph.input.append(helper.make_tensor_value_info("y", F32, ["N", 6]))


def _two_outputs(m):
    m.graph.output.append(helper.make_tensor_value_info(node(m, "Gemm").output[0], F32, ["N", 5]))


def _opset(v):
    def edit(m):
        m.opset_import[0].version = v
    return edit


def _ir_version_too_new(m):
    m.ir_version = 99


def _custom_domain(m):
    n = node(m, "Sign") if any(n.op_type == "Sign" for n in m.graph.node) else node(m, "Greater")
    n.domain = "com.example"
    m.opset_import.append(helper.make_opsetid("com.example", 1))


def _branch(m):
    # the first Gemm's output also feeds a Relu whose result is added back later: two paths
    g = node(m, "Gemm", 0)
    bn = node(m, "BatchNormalization")
    m.graph.node.insert(1, helper.make_node("Relu", [g.output[0]], ["side"], name="side_relu"))
    add = helper.make_node("Add", [bn.output[0], "side"], ["joined"], name="join_add")
    i = list(m.graph.node).index(bn)
    m.graph.node.insert(i + 1, add)
    node(m, "Greater").input[0] = "joined"


def _skip_connection(m):
    # y = Gemm2(sign(h)) + h: the second Gemm's result is added to an earlier tensor
    gm = [n for n in m.graph.node if n.op_type == "Gemm"]
    first, second = gm
    set_init(m, second.input[1], pm1(np.random.default_rng(3), 5, 5))
    ls = node(m, "LogSoftmax")
    add = helper.make_node("Add", [second.output[0], first.output[0]], ["skip"], name="skip_add")
    m.graph.node.insert(list(m.graph.node).index(ls), add)
    ls.input[0] = "skip"


def _dead_branch(m):
    g = node(m, "Gemm", 0)
    m.graph.node.insert(1, helper.make_node("Relu", [g.output[0]], ["unused"], name="dangling_relu"))


def _output_mid_chain(m):
    m.graph.output[0].name = node(m, "Gemm", 0).output[0]


def _input_shape(dims):
    def edit(m):
        t = m.graph.input[0].type.tensor_type
        t.shape.Clear()
        for d in dims:
            dim = t.shape.dim.add()
            if isinstance(d, str):
                dim.dim_param = d
            else:
                dim.dim_value = d
    return edit


def _input_no_shape(m):
    m.graph.input[0].type.tensor_type.ClearField("shape")


def _input_int(m):
    m.graph.input[0].type.tensor_type.elem_type = TensorProto.STRING


def _weight(op, k=0, slot=1, fn=None):
    def edit(m):
        n = node(m, op, k)
        arr = numpy_helper.to_array(init(m, n.input[slot])).copy()
        set_init(m, n.input[slot], fn(arr))
    return edit


def _nan_at(i, v=np.nan):
    def fn(a):
        a.reshape(-1)[i] = v
        return a
    return fn


def _zero_rows(a):
    return a[:0]


def _external(missing: bool = False, escape: bool = False, short: bool = False):
    def make(d: Path) -> list[str]:
        m = mlp().model()
        onnx.save_model(m, str(d / MODEL), save_as_external_data=True, all_tensors_to_one_file=True,
                        location="model.onnx.data", size_threshold=0)
        target = d
        if escape:  # the model moves into sub/ and points at ../outside.data
            target = d / "sub"
            target.mkdir()
            os.rename(d / "model.onnx.data", d / "outside.data")
            m = onnx.load(str(d / MODEL), load_external_data=False)
            os.remove(d / MODEL)
            for t in m.graph.initializer:
                for e in t.external_data:
                    if e.key == "location":
                        e.value = "../outside.data"
            save(m, target)
        if missing:
            os.remove(d / "model.onnx.data")
        if short:
            p = d / "model.onnx.data"
            p.write_bytes(p.read_bytes()[:40])
        return ["inspect", os.path.relpath(target / MODEL, d)]
    return make


def _where_consts(a, b):
    def edit(m):
        w = node(m, "Where")
        set_init(m, w.input[1], np.array([a], np.float32))
        set_init(m, w.input[2], np.array([b], np.float32))
    return edit


def _greater_const(v):
    def edit(m):
        set_init(m, node(m, "Greater").input[1], np.array(v, np.float32))
    return edit


def _greater_swapped(m):
    g = node(m, "Greater")
    g.input[0], g.input[1] = g.input[1], g.input[0]


def _bn_param(slot, fn):
    return _weight("BatchNormalization", 0, slot, fn)


def _duplicate_output(m):
    # the BatchNormalization writes the tensor the first Gemm already wrote
    bn = node(m, "BatchNormalization")
    g = node(m, "Gemm", 0)
    old = bn.output[0]
    bn.output[0] = g.output[0]
    for n in m.graph.node:
        for i, t in enumerate(n.input):
            if t == old:
                n.input[i] = g.output[0]


def _duplicate_initializer(m):
    t = onnx.TensorProto()
    t.CopyFrom(m.graph.initializer[0])
    m.graph.initializer.append(t)


def _missing_tensor(m):
    node(m, "BatchNormalization").input[0] = "no_such_tensor"


def _out_of_order(m):
    nodes = list(m.graph.node)
    i = nodes.index(node(m, "BatchNormalization"))
    nodes[0], nodes[i] = nodes[i], nodes[0]
    del m.graph.node[:]
    m.graph.node.extend(nodes)


def _drop_input(op, keep):
    def edit(m):
        n = node(m, op)
        del n.input[keep:]
    return edit


def _extra_input(op):
    def edit(m):
        n = node(m, op)
        n.input.extend([n.input[-1]] * 2)
    return edit


def _attr(op, name, value, k=0):
    def edit(m):
        set_attr(node(m, op, k), name, value)
    return edit


def _attr_proto(op, name, make_attr, k=0):
    def edit(m):
        n = node(m, op, k)
        for a in list(n.attribute):
            if a.name == name:
                n.attribute.remove(a)
        n.attribute.append(make_attr(name))
    return edit


def _float_ints(name):
    a = helper.make_attribute(name, [1.0, 1.0])
    return a


def _where_to_cast(m):
    w = node(m, "Where")
    w.CopyFrom(helper.make_node("Cast", [w.input[0]], list(w.output), name=w.name, to=TensorProto.FLOAT))


def _bn_training(m):
    m.opset_import[0].version = 14
    set_attr(node(m, "BatchNormalization"), "training_mode", 1)


def _op_type(old, new, k=0):
    def edit(m):
        node(m, old, k).op_type = new
    return edit


def _non_utf8_name(d: Path) -> list[str]:
    m = mlp(sign_form="sign").model()
    node(m, "Sign").name = "NAMEX"
    data = m.SerializeToString().replace(b"NAMEX", b"NAM\xff\xfe")
    (d / MODEL).write_bytes(data)
    return ["inspect", MODEL]


def _newline_name(m):
    n = node(m, "Sign")
    n.name = "bad\nname"
    n.op_type = "Sigmoid"


def _dropout_training(m):
    g = node(m, "Gemm", 0)
    t = numpy_helper.from_array(np.array(True), "train")
    r = numpy_helper.from_array(np.array(0.5, np.float32), "ratio")
    m.graph.initializer.extend([t, r])
    d = helper.make_node("Dropout", [g.output[0], "ratio", "train"], ["dropped"], name="my_dropout")
    m.graph.node.insert(1, d)
    node(m, "BatchNormalization").input[0] = "dropped"


def _div_by_zero(m):
    g = node(m, "Gemm", 0)
    m.graph.initializer.append(numpy_helper.from_array(np.array([1, 2, 0, 1, 1], np.float32), "divisor"))
    m.graph.node.insert(1, helper.make_node("Div", [g.output[0], "divisor"], ["divided"], name="my_div"))
    node(m, "BatchNormalization").input[0] = "divided"


def _predict_nan_weights(d: Path) -> list[str]:
    m = mlp().model()
    g = node(m, "Gemm", 1)
    a = numpy_helper.to_array(init(m, g.input[1])).copy()
    a[0, 0] = np.inf
    set_init(m, g.input[1], a)
    np.save(d / "x.npy", np.zeros((3, 6), np.int64))
    return ["predict", save(m, d), "--input", "x.npy", "--output", "s.npy"]


# ------------------------------------------------------------------------ the cases
@dataclass(frozen=True)
class Case:
    id: str
    what: str                                    # the bad input, for docs/ERRORS.md
    make: Callable[[Path], list[str]]            # writes files into a folder -> CLI args
    needles: tuple[str, ...] = field(default=()) # words the error line must contain


CASES: list[Case] = [
    # the file
    Case("missing_file", "the model file does not exist", lambda d: ["inspect", "nope.onnx"], ("nope.onnx", "no such file")),
    Case("folder", "a folder instead of a file", lambda d: (d / "dir.onnx").mkdir() or ["inspect", "dir.onnx"], ("folder",)),
    Case("empty_file", "an empty file", raw_file(b""), ("model.onnx", "empty")),
    Case("text_file", "a text file", raw_file(b"this is not a model\n" * 10), ("model.onnx", "not a readable ONNX")),
    Case("random_bytes", "3000 random bytes", raw_file(_random_bytes), ("model.onnx", "not a readable ONNX")),
    Case("truncated", "the first half of a valid model", raw_file(_truncated), ("model.onnx", "truncated")),
    Case("no_nodes", "a model whose graph has no nodes", edited(mlp, _no_nodes), ("no nodes",)),
    # the graph's interface
    Case("no_input", "no graph input (the input is an initializer)", edited(mlp, _no_input), ("0 data inputs",)),
    Case("two_inputs", "two graph inputs", edited(mlp, _two_inputs), ("2 data inputs", "'x', 'y'")),
    Case("two_outputs", "two graph outputs", edited(mlp, _two_outputs), ("2 outputs",)),
    Case("opset_too_new", "default-domain opset 99", edited(mlp, _opset(99)), ("opset 99", "opset_version")),
    Case("opset_too_old", "default-domain opset 6", edited(mlp, _opset(6)), ("opset 6",)),
    Case("ir_version_too_new", "IR version 99", edited(mlp, _ir_version_too_new), ("IR version 99",)),
    Case("custom_domain", "a node from a custom domain", edited(lambda: mlp(sign_form="sign"), _custom_domain),
         ("Sign_", "com.example")),
    # not a chain
    Case("branch", "an accumulator that feeds two nodes which are joined again by an Add", edited(mlp, _branch),
         ("Gemm_1", "feeds 2 layers", "before a sign")),
    Case("skip_connection", "a skip connection from an accumulator (not from a sign activation)",
         edited(mlp, _skip_connection), ("Gemm_1", "feeds 2 layers", "before a sign")),
    Case("dead_branch", "an extra node reading a chain tensor whose result is unused", edited(mlp, _dead_branch),
         ("dangling_relu", "dead branch")),
    Case("output_mid_chain", "the graph output is a tensor in the middle of the chain",
         edited(mlp, _output_mid_chain), ("Gemm_1_out", "not at the end of the chain")),
    # the input's shape
    Case("dynamic_feature_dim", "a dynamic dimension other than the batch", edited(mlp, _input_shape(["N", "F"])),
         ("dynamic dimension 1", "'F'")),
    Case("input_without_shape", "an input without a shape", edited(mlp, _input_no_shape), ("'x'", "shape")),
    Case("input_rank_3", "an input of rank 3", edited(mlp, _input_shape(["N", 2, 3])), ("'x'", "(N, F)")),
    Case("input_size_0", "an input of size 0", edited(mlp, _input_shape(["N", 0])), ("'x'", "empty")),
    Case("input_string", "a string input", edited(mlp, _input_int), ("'x'", "type")),
    # external data
    Case("external_data_missing", "weights in MODEL.onnx.data, which is missing", _external(missing=True),
         ("model.onnx.data", "missing")),
    Case("external_data_outside", "external data outside the model's folder (../outside.data)",
         _external(escape=True), ("../outside.data", "beside")),
    Case("external_data_short", "an external data file shorter than the model says", _external(short=True),
         ("'c0'", "model.onnx.data", "incomplete")),
    # weights
    Case("nan_weight", "a NaN in a Gemm weight", edited(mlp, _weight("Gemm", 0, 1, _nan_at(3))), ("Gemm_1", "NaN")),
    Case("inf_bias", "an Inf in a Gemm bias", edited(lambda: mlp(last_bias=np.zeros(3)), _weight("Gemm", 1, 2, _nan_at(1, np.inf))),
         ("Gemm_", "Inf")),
    Case("nan_bn_mean", "a NaN in a BatchNorm mean", edited(mlp, _bn_param(3, _nan_at(0))), ("BatchNormalization_", "NaN")),
    Case("inf_conv_weight", "an Inf in a Conv weight", edited(cnn, _weight("Conv", 0, 1, _nan_at(5, -np.inf))), ("Conv_1", "Inf")),
    Case("inf_weight_predict", "an Inf weight, through predict", _predict_nan_weights, ("Gemm_", "Inf")),
    Case("non_binary_weight", "a hidden Gemm with weights of several magnitudes",
         edited(mlp, _weight("Gemm", 0, 1, lambda a: a * np.arange(1, 7, dtype=np.float32))), ("Gemm_1", "binary weights")),
    Case("weight_3d", "a 3-D Gemm weight", edited(mlp, _weight("Gemm", 0, 1, lambda a: a.reshape(5, 2, 3))), ("Gemm_1", "2-D")),
    Case("weight_int64", "an int64 Gemm weight", edited(mlp, _weight("Gemm", 0, 1, lambda a: a.astype(np.int64))),
         ("Gemm_1",)),
    Case("gemm_0_outputs", "a Gemm with 0 outputs", edited(mlp, _weight("Gemm", 1, 1, _zero_rows)), ("Gemm_", "0 outputs")),
    Case("conv_0_channels", "a Conv with 0 output channels", edited(cnn, _weight("Conv", 0, 1, _zero_rows)),
         ("Conv_1", "0 output")),
    # the sign pattern
    Case("greater_than_half", "Greater(x, 0.5) -> Where(1, -1)", edited(mlp_init, _greater_const(0.5)),
         ("Greater_", "constant 0")),
    Case("greater_swapped", "Greater(0, x): the constant first", edited(mlp_init, _greater_swapped), ("Greater_", "constant 0")),
    Case("where_2", "Where(x > 0, 2, -1)", edited(mlp_init, _where_consts(2, -1)), ("Where_", "+1 and -1", "got 2, -1")),
    Case("where_1_0", "Where(x > 0, 1, 0)", edited(mlp_init, _where_consts(1, 0)), ("Where_", "+1 and -1", "got 1, 0")),
    Case("where_inverted", "Where(x > 0, -1, 1)", edited(mlp_init, _where_consts(-1, 1)), ("Where_", "-1, 1")),
    Case("greater_without_where", "a comparison that feeds something else than Where",
         edited(mlp, _where_to_cast), ("Greater_", "Where")),
    # BatchNormalization
    Case("bn_negative_variance", "a BatchNorm with a negative variance", edited(mlp, _bn_param(4, _nan_at(2, -1.0))),
         ("BatchNormalization_", "channel 2", "negative variance")),
    Case("bn_negative_epsilon", "a BatchNorm whose variance + epsilon is not positive",
         edited(mlp, lambda m: (_bn_param(4, lambda a: a * 0)(m), _attr("BatchNormalization", "epsilon", -1e-5)(m))),
         ("BatchNormalization_", "epsilon")),
    Case("bn_zero_variance_and_epsilon", "a BatchNorm with variance 0 and epsilon 0",
         edited(mlp, lambda m: (_bn_param(4, lambda a: a * 0)(m), _attr("BatchNormalization", "epsilon", 0.0)(m))),
         ("BatchNormalization_", "channel 0", "not positive")),
    Case("bn_param_shape", "a BatchNorm whose scale has the wrong length",
         edited(mlp, _bn_param(1, lambda a: a[:3])), ("BatchNormalization_", "scale has shape (3,)")),
    Case("bn_training", "a BatchNorm in training mode", edited(mlp, _bn_training),
         ("BatchNormalization_", "training")),
    # graph structure
    Case("duplicate_output_name", "two nodes write the same tensor", edited(mlp, _duplicate_output), ("Gemm_1_out",)),
    Case("duplicate_initializer", "two initializers with the same name", edited(mlp, _duplicate_initializer), ("c0",)),
    Case("missing_tensor", "a node reads a tensor that nothing produces", edited(mlp, _missing_tensor),
         ("no_such_tensor", "BatchNormalization_")),
    Case("out_of_order", "nodes not in topological order", edited(mlp, _out_of_order), ("BatchNormalization_", "order")),
    # node inputs
    Case("gemm_1_input", "a Gemm with one input", edited(mlp, _drop_input("Gemm", 1)), ("Gemm_1", "input")),
    Case("bn_3_inputs", "a BatchNormalization with three inputs", edited(mlp, _drop_input("BatchNormalization", 3)),
         ("BatchNormalization_", "input")),
    Case("where_2_inputs", "a Where with two inputs", edited(mlp, _drop_input("Where", 2)), ("Where_", "input")),
    Case("conv_4_inputs", "a Conv with four inputs", edited(cnn, _extra_input("Conv")), ("Conv_1", "input")),
    # attributes
    Case("strides_float", "Conv strides given as floats", edited(cnn, _attr("Conv", "strides", [1.0, 1.0])),
         ("Conv_1", "strides")),
    Case("transB_string", "Gemm transB given as a string", edited(mlp, _attr("Gemm", "transB", "yes")),
         ("Gemm_1", "transB")),
    Case("kernel_shape_int", "MaxPool kernel_shape given as one int", edited(cnn, _attr("MaxPool", "kernel_shape", 2)),
         ("MaxPool_", "kernel_shape")),
    Case("epsilon_int", "BatchNorm epsilon given as an int", edited(mlp, _attr("BatchNormalization", "epsilon", 1)),
         ("BatchNormalization_", "epsilon")),
    Case("unknown_attribute", "an attribute the op does not have", edited(mlp, _attr("Gemm", "colour", 1)),
         ("Gemm_1", "colour")),
    Case("strides_zero", "Conv strides 0", edited(cnn, _attr("Conv", "strides", [0, 0])), ("Conv_1", "strides")),
    Case("strides_3", "Conv strides with three entries", edited(cnn, _attr("Conv", "strides", [1, 1, 1])),
         ("Conv_1", "strides")),
    Case("pads_negative", "Conv pads -1", edited(cnn, _attr("Conv", "pads", [-1, -1, -1, -1])), ("Conv_1", "pads")),
    Case("kernel_shape_mismatch", "Conv kernel_shape that differs from the weight",
         edited(cnn, _attr("Conv", "kernel_shape", [2, 2])), ("Conv_1", "kernel_shape")),
    Case("maxpool_kernel_0", "MaxPool kernel_shape 0x0", edited(cnn, _attr("MaxPool", "kernel_shape", [0, 0])),
         ("MaxPool_", "kernel_shape")),
    Case("maxpool_stride_0", "MaxPool strides 0", edited(cnn, _attr("MaxPool", "strides", [0, 0])),
         ("MaxPool_", "strides")),
    Case("conv_group_2", "Conv group=2", edited(cnn, _attr("Conv", "group", 2)), ("Conv_1", "group")),
    Case("gemm_transA", "Gemm transA=1", edited(mlp, _attr("Gemm", "transA", 1)), ("Gemm_1", "transA")),
    Case("gemm_transB_flipped", "Gemm transB flipped so the weight no longer fits",
         edited(mlp, _attr("Gemm", "transB", 0)), ("Gemm_1", "transB=0", "takes 5 inputs", "has 6")),
    Case("flatten_axis_2", "Flatten axis=2", edited(cnn, _attr("Flatten", "axis", 2)), ("Flatten_", "axis")),
    Case("softmax_axis_0", "LogSoftmax over the batch axis", edited(mlp, _attr("LogSoftmax", "axis", 0)),
         ("LogSoftmax_", "axis")),
    # ops
    Case("unsupported_op", "an op outside the supported set (Sigmoid instead of the sign)",
         edited(lambda: mlp(sign_form="sign"), _op_type("Sign", "Sigmoid")), ("Sign_", "Sigmoid", "supported")),
    Case("unknown_op", "an op that ONNX does not have", edited(lambda: mlp(sign_form="sign"), _op_type("Sign", "Sgn")),
         ("Sign_", "Sgn")),
    Case("no_sign", "no activation between two Gemms", edited(lambda: mlp(bn=False, sign_form="sign"), _op_type("Sign", "Identity")),
         ("Gemm_", "not binary")),
    Case("softmax_mid_chain", "a Softmax between two layers", edited(lambda: mlp(bn=False, sign_form="sign"), _op_type("Sign", "Softmax")),
         ("Sign_", "softmax")),
    Case("cast_to_int", "a Cast of the data to int32", edited(lambda: mlp(sign_form="sign"),
         lambda m: (_op_type("Sign", "Cast")(m), _attr("Cast", "to", TensorProto.INT32)(m))), ("Sign_", "Cast", "INT32")),
    Case("last_bias_huge", "a last layer whose integer bias (1e8) is beyond float32's exact integers",
         edited(lambda: mlp(last_bias=np.array([1e8, 0, 0])), lambda m: None), ("Gemm_", "2^24")),
    Case("dropout_training", "a Dropout whose training_mode input is true", edited(mlp, _dropout_training),
         ("my_dropout", "training")),
    Case("div_by_zero", "a Div by a constant with a 0 in channel 2", edited(mlp, _div_by_zero),
         ("my_div", "division by zero", "channel 2")),
    Case("newline_in_name", "an unsupported node whose name contains a newline",
         edited(lambda: mlp(sign_form="sign"), _newline_name), ("bad\\nname", "Sigmoid")),
    Case("non_utf8_name", "a node name that is not valid UTF-8", _non_utf8_name, ("model.onnx", "UTF-8")),
    Case("float_last_bias", "a last layer with a non-integer bias", edited(lambda: mlp(last_bias=np.array([0.5, 0, 0])), lambda m: None),
         ("Gemm_", "not integers")),
]

IDS = [c.id for c in CASES]
assert len(set(IDS)) == len(IDS)


def run_case(case: Case, d: Path, argv_runner) -> tuple[int, str, str]:
    args = case.make(d)
    return argv_runner(args, d)


def run_subprocess(args, cwd):
    p = subprocess.run([sys.executable, "-m", "fastinference", *args], capture_output=True, text=True,
                       cwd=cwd, timeout=120)
    return p.returncode, p.stdout, p.stderr


def check_user_error(rc: int, err: str, needles) -> str:
    assert rc == 2, f"rc={rc}: {err}"
    assert "Traceback" not in err, err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "internal error" not in lines[0], err
    for n in needles:
        assert n in lines[0], f"{n!r} not in {lines[0]!r}"
    return lines[0]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_malformed_model_is_a_clean_user_error(tmp_path, case):
    before = set(os.listdir(tmp_path))
    rc, out, err = run_case(case, tmp_path, run_subprocess)
    check_user_error(rc, err, case.needles)
    assert out == ""
    # nothing written: no scores, no new files beside the ones the case made
    assert not (tmp_path / "s.npy").exists()


def test_external_data_beside_the_model_works(tmp_path):
    """What the dynamo exporter writes: MODEL.onnx + MODEL.onnx.data in the same folder."""
    m = mlp().model()
    onnx.save_model(mlp().model(), str(tmp_path / MODEL), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx.data", size_threshold=0)
    assert (tmp_path / "model.onnx.data").stat().st_size > 0
    x = np.random.default_rng(0).integers(0, 256, (20, 6))
    np.save(tmp_path / "x.npy", x)
    rc, out, err = run_subprocess(["predict", MODEL, "--input", "x.npy", "--output", "s.npy"], tmp_path)
    assert rc == 0, err
    pre = node(m, "Gemm", 1).output[0]
    want = ort_run(m, x, pre)
    assert np.array_equal(np.load(tmp_path / "s.npy"), want.astype(np.int64))


def test_error_table_is_up_to_date():
    import make_error_table
    want = make_error_table.render()
    have = (ROOT / "docs" / "ERRORS.md").read_text() if (ROOT / "docs" / "ERRORS.md").exists() else ""
    assert have == want, "docs/ERRORS.md is stale: run `python tests/make_error_table.py`"


@pytest.mark.parametrize("cid", ["truncated", "out_of_order", "nan_weight", "strides_zero", "where_2",
                                 "external_data_missing", "last_bias_huge"])
def test_compile_of_a_malformed_model_writes_nothing(tmp_path, cid):
    case = next(c for c in CASES if c.id == cid)
    args = case.make(tmp_path)
    model = args[1]
    before = sorted(os.listdir(tmp_path))
    rc, out, err = run_subprocess(["compile", model, "--out", "proj"], tmp_path)
    check_user_error(rc, err, case.needles)
    assert sorted(os.listdir(tmp_path)) == before  # no proj/, no temporary folder left behind
