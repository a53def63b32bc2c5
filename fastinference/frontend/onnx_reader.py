"""ONNX -> IR: read a graph of float ops from an ONNX file.

The data path is the graph of nodes that starts at the single graph input: a chain, or a
dataflow graph where a tensor may feed several nodes (a fork) and ``Add`` of two data tensors
or ``Concat`` on the channel axis joins two branches (``ir.Join``). It must stream: one input,
one output at its end (no output in the middle, no dead branch), joins of equal shapes, no
cycle (the nodes in topological order). Everything that
only computes on constants (initializers, Constant nodes, and the Shape/Gather/Unsqueeze/
Concat/Cast noise exporters leave around a Flatten) is folded here with ONNX's reference
evaluator (``onnx.reference``), so constants get ONNX's semantics, not numpy's. An op or
attribute outside the supported set is an ``UnsupportedModelError`` naming the node.
"""
from __future__ import annotations

import os
import re

import numpy as np
import onnx
import onnx.external_data_helper
from onnx import TensorProto, numpy_helper

from ..errors import UnsupportedModelError
from ..ir import (INPUT, Affine, AvgPool, Conv, Flatten, Gemm, Identity, Join, Layer, MaxPool, Model,
                  Relu, SignAct, Softmax)
from ..names import safe_identifier
from .qonnx_ops import QONNX_DOMAINS, QONNX_OPS, QonnxOps, clean_qonnx, is_qonnx

MIN_OPSET, MAX_OPSET = 7, 23
INVALID = "the model is not valid ONNX: re-export it"

SUPPORTED_OPS = (
    "Gemm, MatMul, Add, Sub, Mul, Div, Conv, BatchNormalization, Greater/GreaterOrEqual/Less + "
    "Where (sign), Sign, Relu, MaxPool, AveragePool, Flatten, Reshape, LogSoftmax, Softmax, "
    "Identity, Dropout, Cast, Constant, and shape arithmetic (Shape, Gather, Unsqueeze, Squeeze, "
    "Concat, Slice) on constants"
)


def _node_label(node: onnx.NodeProto, index: int) -> str:
    return node.name or f"{node.op_type}_{index}"


_FOLDABLE = frozenset(("Constant", "Identity", "Dropout", "Cast", "Gather", "Unsqueeze", "Squeeze",
                       "Concat", "Reshape", "Slice", "Add", "Sub", "Mul", "Div"))
_CONSTANT_VALUES = ("value", "value_float", "value_floats", "value_int", "value_ints")
_EVALUATORS: dict[tuple[bytes, int], object] = {}  # (node without names, opset) -> evaluator


def evaluate_node(node: onnx.NodeProto, inputs: list, opset: int) -> np.ndarray:
    """The first output of ``node`` on constant ``inputs`` (None for an empty optional input),
    computed by ``onnx.reference`` in ``opset``. Evaluators are cached per op, attributes and
    opset: building one costs more than running it."""
    from onnx.reference import ReferenceEvaluator
    names = [f"i{k}" if t else "" for k, t in enumerate(node.input)]
    outs = [f"o{k}" if t else "" for k, t in enumerate(node.output)]
    plain = onnx.helper.make_node(node.op_type, names, outs, domain=node.domain)
    plain.attribute.extend(node.attribute)
    key = (plain.SerializeToString(deterministic=True), opset)
    ev = _EVALUATORS.get(key)
    if ev is None:
        graph = onnx.helper.make_graph(
            [plain], "fold", [onnx.helper.make_value_info(n, onnx.TypeProto()) for n in names if n],
            [onnx.helper.make_value_info(outs[0], onnx.TypeProto())])
        ev = ReferenceEvaluator(graph, opsets={"": opset})
        if len(_EVALUATORS) > 4096:
            _EVALUATORS.clear()
        _EVALUATORS[key] = ev
    feeds = {n: np.asarray(v) for n, v in zip(names, inputs) if n}
    return np.asarray(ev.run(None, feeds)[0])


_NUMERIC_INPUT = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16,
                  TensorProto.INT8, TensorProto.INT16, TensorProto.INT32, TensorProto.INT64,
                  TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64}


def _init_array(init: onnx.TensorProto) -> np.ndarray:
    try:
        return numpy_helper.to_array(init)
    except Exception as e:
        raise UnsupportedModelError(
            f"initializer '{init.name}': its data cannot be read ({type(e).__name__}: {str(e)[:100]}); "
            "the file is damaged: re-export the model") from None


def _data_input(g: onnx.GraphProto) -> tuple[onnx.ValueInfoProto, tuple[int, ...]]:
    """The one graph input that is not an initializer, and its shape without the batch."""
    init_names = {t.name for t in g.initializer}
    inputs = [i for i in g.input if i.name not in init_names]
    if len(inputs) != 1:
        raise UnsupportedModelError(
            f"the graph has {len(inputs)} data inputs ({', '.join(repr(i.name) for i in inputs) or 'none'}); "
            "a network with exactly one input is supported")
    if len(g.output) != 1:
        raise UnsupportedModelError(
            f"the graph has {len(g.output)} outputs ({', '.join(repr(o.name) for o in g.output) or 'none'}); "
            "a network with exactly one output is supported")
    inp = inputs[0]
    if not inp.type.HasField("tensor_type"):
        raise UnsupportedModelError(f"input '{inp.name}' is not a tensor; a float tensor (N, F) or "
                                    "(N, C, H, W) is expected")
    ttype = inp.type.tensor_type
    if ttype.elem_type not in _NUMERIC_INPUT:
        name = TensorProto.DataType.Name(ttype.elem_type) if ttype.elem_type in TensorProto.DataType.values() \
            else str(ttype.elem_type)
        raise UnsupportedModelError(f"input '{inp.name}' has element type {name}; a numeric (float) "
                                    "tensor is expected")
    if not ttype.HasField("shape"):
        raise UnsupportedModelError(f"input '{inp.name}' has no shape; export with a fixed input shape "
                                    "(N, F) or (N, C, H, W)")
    dims = []
    for i, d in enumerate(ttype.shape.dim):
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif i == 0:
            dims.append(-1)
        else:
            raise UnsupportedModelError(
                f"input '{inp.name}' has a dynamic dimension {i} ('{d.dim_param}'); only the batch "
                "dimension may be dynamic: export with a fixed input shape")
    if len(dims) not in (2, 4):
        raise UnsupportedModelError(
            f"input '{inp.name}' has shape {dims}; supported are (N, F) and (N, C, H, W)")
    in_shape = tuple(dims[1:])
    if any(d <= 0 for d in in_shape):
        raise UnsupportedModelError(f"input '{inp.name}' has an empty shape {dims}: every dimension "
                                    "but the batch must be at least 1")
    if dims[0] == 0 or dims[0] < -1:
        raise UnsupportedModelError(f"input '{inp.name}' has batch dimension {dims[0]}; use a dynamic "
                                    "batch or a batch of at least 1")
    return inp, in_shape


class _Reader(QonnxOps):
    def __init__(self, model: onnx.ModelProto, path: str):
        self.model = model
        self.path = path
        self.graph = model.graph
        self.consts: dict[str, np.ndarray] = {}
        self.data_shape: dict[str, tuple[int, ...]] = {}  # data tensor -> shape without batch
        self.layers: list[Layer] = []
        self.used_names: set[str] = set()
        self.consumers: dict[str, list[int]] = {}
        self.skip: set[int] = set()
        self.current: str = ""  # name of the data tensor visited last
        self.producer: dict[str, str] = {}  # data tensor -> the layer computing it (INPUT: the input)
        self.tensor_node: dict[str, tuple] = {}  # data tensor -> (node, index) that computes it
        self.graph_input: str = ""
        self.quantized: dict[str, tuple] = {}  # constant -> its integers (QONNX weight quantizers)
        self.input_quant = None  # QONNX: the Quant on the graph input

    # ------------------------------------------------------------------ helpers
    def label(self, node, index) -> str:
        return _node_label(node, index)

    def err(self, node, index, msg) -> UnsupportedModelError:
        return UnsupportedModelError(f"node '{_node_label(node, index)}' ({node.op_type}): {msg}")

    def attrs(self, node) -> dict:
        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    def const(self, name: str, node, index) -> np.ndarray:
        if name not in self.consts:
            raise self.err(node, index, f"input '{name}' must be a constant (initializer)")
        return self.consts[name]

    def add(self, cls, node_names, in_shape, out_shape, **kw) -> Layer:
        base = node_names[0] if node_names else cls.kind
        name = safe_identifier(base, self.used_names, prefix="layer")
        layer = cls(name=name, source_nodes=list(node_names), in_shape=tuple(in_shape),
                    out_shape=tuple(out_shape), **kw)
        self.layers.append(layer)
        return layer

    # --------------------------------------------------------------- the reader
    def read(self) -> Model:
        g = self.graph
        for init in g.initializer:
            self.consts[init.name] = _init_array(init)
        inp, in_shape = _data_input(g)
        self.data_shape[inp.name] = in_shape
        self.current = self.graph_input = inp.name
        self.producer[inp.name] = INPUT

        for idx, node in enumerate(g.node):
            for t in node.input:
                self.consumers.setdefault(t, []).append(idx)
        # Fold everything that depends on constants only first: exporters may place the
        # Constant nodes of a pattern after the node that uses them.
        for idx, node in enumerate(g.node):
            if node.op_type != "Shape" and all(not t or t in self.consts for t in node.input):
                self.fold_constant(node, idx)
                self.skip.add(idx)
        for idx, node in enumerate(g.node):
            if idx in self.skip:
                continue
            self.visit(node, idx)
        self.check_ends(g.output[0].name)
        opset = next((o.version for o in self.model.opset_import if o.domain in ("", "ai.onnx")), 0)
        model = Model(
            name=safe_identifier(os.path.splitext(os.path.basename(self.path))[0] or "model",
                                 prefix="net"),
            layers=self.layers, input_shape=in_shape, source_path=self.path, opset=opset,
            producer=f"{self.model.producer_name} {self.model.producer_version}".strip(),
            input_quant=self.input_quant,
        )
        try:
            model.check_graph()
        except ValueError as e:  # pragma: no cover (check_ends names the node first)
            raise UnsupportedModelError(f"{e}; the graph cannot be streamed") from None
        return model.compact()

    def data_users(self, t: str) -> list[int]:
        """The nodes that read data tensor ``t`` on the data path (not Shape: it reads no data)."""
        return [i for i in dict.fromkeys(self.consumers.get(t, []))
                if self.graph.node[i].op_type != "Shape" and i not in self.skip]

    def check_ends(self, out: str) -> None:
        """One output, at the end: the graph output is a data tensor that nothing reads, and
        every other data tensor is read on the way to it (no dead branch)."""
        if out not in self.producer:
            raise UnsupportedModelError(
                f"graph output '{out}' is not at the end of the chain that starts at the input "
                f"(it is not computed from the input; the data path ends at '{self.current}')")
        users = self.data_users(out)
        if users:
            n = self.graph.node[users[0]]
            raise UnsupportedModelError(
                f"graph output '{out}' is not at the end of the chain: node '{_node_label(n, users[0])}' "
                f"({n.op_type}) reads it too; an output in the middle of the graph cannot be streamed: "
                "make the last node's result the only output")
        for t, (node, idx) in self.tensor_node.items():
            if t != out and not self.data_users(t):
                raise self.err(node, idx, f"its output '{t}' is not used on the way to the graph output "
                                          f"'{out}' (a dead branch); remove the node")
        if self.layers and self.producer[out] != self.layers[-1].name:  # pragma: no cover
            raise UnsupportedModelError(f"graph output '{out}' is not computed by the last layer")

    def visit(self, node, idx):
        data_inputs = [t for t in node.input if t and t in self.data_shape]
        if not data_inputs:
            self.fold_constant(node, idx)
            return
        if node.op_type == "Shape":
            shape = (1,) + self.data_shape[data_inputs[0]]
            self.consts[node.output[0]] = np.array(shape, dtype=np.int64)
            return
        n0 = len(self.layers)
        if len(data_inputs) > 1:
            out_name, out_shape = self.join(node, idx, data_inputs)
        else:
            handler = getattr(self, "op_" + node.op_type, None)
            if handler is None:
                raise self.err(node, idx, f"unsupported op on the data path; supported: {SUPPORTED_OPS}")
            x = data_inputs[0]
            out_name, out_shape = handler(node, idx, x, self.data_shape[x])
        new = self.layers[n0:]
        if new:  # the node's first layer reads its data inputs, the others the layer before
            new[0].inputs = [self.producer[t] for t in data_inputs]
            for prev, l in zip(new, new[1:]):
                l.inputs = [prev.name]
        self.producer[out_name] = new[-1].name if new else self.producer[data_inputs[0]]
        self.data_shape[out_name] = tuple(out_shape)
        self.tensor_node[out_name] = (node, idx)
        self.current = out_name

    def join(self, node, idx, data_inputs):
        """Add of two data tensors (one shape) or Concat of two on the channel axis."""
        op = node.op_type
        if op not in ("Add", "Concat"):
            raise self.err(node, idx, f"reads {len(data_inputs)} data tensors ({', '.join(data_inputs)}); "
                                      "only Add and Concat (channel axis) join two branches")
        if len(data_inputs) != 2 or len([t for t in node.input if t]) != 2:
            raise self.err(node, idx, f"joins {len(data_inputs)} data tensors and "
                                      f"{len([t for t in node.input if t]) - len(data_inputs)} constants; "
                                      "a join takes exactly two data tensors")
        a, b = (self.data_shape[t] for t in data_inputs)
        label = _node_label(node, idx)
        if op == "Add":
            if a != b:
                raise self.err(node, idx, f"adds tensors of different shapes {a} ('{data_inputs[0]}') and {b} "
                                          f"('{data_inputs[1]}'); a join needs one shape on both branches")
            self.add(Join, [label], a, a, op="add")
            return node.output[0], a
        axis = self.attrs(node).get("axis")
        rank = len(a) + 1
        if axis is None or axis not in (1, 1 - rank):
            raise self.err(node, idx, f"axis={axis}: a join concatenates on the channel axis (1) only")
        if len(a) != len(b) or a[1:] != b[1:]:
            raise self.err(node, idx, f"concatenates tensors of shapes {a} and {b}; they must agree on every "
                                      "axis but the channels")
        out = (a[0] + b[0],) + tuple(a[1:])
        self.add(Join, [label], a, out, op="concat")
        return node.output[0], out

    # ------------------------------------------------------- constant folding
    def fold_constant(self, node, idx):
        """Evaluate a node whose inputs are all constants with ONNX's reference evaluator
        (``onnx.reference``): ONNX's own semantics, in the model's opset (an integer Div
        truncates toward zero, a Reshape's 0 copies a dimension, ...)."""
        op = node.op_type
        if any(t and t not in self.consts for t in node.input):
            missing = [t for t in node.input if t and t not in self.consts]
            raise self.err(node, idx, f"input '{missing[0]}' is neither a constant nor on the chain "
                                      "from the graph input")
        if op in QONNX_OPS and node.domain not in ("", "ai.onnx"):
            return self.fold_qonnx(node, idx)
        if op not in _FOLDABLE:
            raise self.err(node, idx, f"unsupported op on constants; supported: {SUPPORTED_OPS}")
        if op == "Constant" and not any(a.name in _CONSTANT_VALUES for a in node.attribute):
            raise self.err(node, idx, "Constant without a supported value attribute")
        if op == "Div" and len(node.input) == 2 and all(node.input):
            b = np.asarray(self.consts[node.input[1]])
            if b.dtype.kind in "iu" and np.asarray(self.consts[node.input[0]]).dtype.kind in "iu" \
                    and np.any(b == 0):
                raise self.err(node, idx, "integer division by zero in constants (undefined in ONNX)")
        try:
            val = evaluate_node(node, [self.consts[t] if t else None for t in node.input], self.opset())
        except Exception as e:  # malformed constant arithmetic
            raise self.err(node, idx, f"cannot evaluate on its constant inputs ({_one_line(e, 160)})") from None
        self.consts[node.output[0]] = np.asarray(val)

    # ---------------------------------------------------------- data-path ops
    def _check_float(self, node, idx, arr, what):
        arr = np.asarray(arr)
        if arr.dtype.kind not in "fiub":
            raise self.err(node, idx, f"{what} has dtype {arr.dtype}; numbers expected")
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            i = int(np.argmax(~np.isfinite(arr.reshape(-1))))
            raise self.err(node, idx, f"{what} contains NaN or Inf (flat index {i}: {arr.reshape(-1)[i]}); "
                                      "export a model with finite weights")
        return arr

    def op_Identity(self, node, idx, x, shape):
        self.add(Identity, [_node_label(node, idx)], shape, shape)
        return node.output[0], shape

    def op_Dropout(self, node, idx, x, shape):
        if len(node.input) > 2 and node.input[2]:
            mode = self.consts.get(node.input[2])
            if mode is None or np.asarray(mode).size != 1 or bool(np.asarray(mode).reshape(-1)[0]):
                raise self.err(node, idx, "Dropout in training mode (its training_mode input is not a "
                                          "constant false) is not supported; export in eval mode")
        return self.op_Identity(node, idx, x, shape)

    def op_Cast(self, node, idx, x, shape):
        to = self.attrs(node).get("to")
        if to != TensorProto.FLOAT:
            name = TensorProto.DataType.Name(to) if to in TensorProto.DataType.values() else str(to)
            raise self.err(node, idx, f"a Cast on the data path to {name} is not supported (only to FLOAT)")
        return self.op_Identity(node, idx, x, shape)

    def op_Gemm(self, node, idx, x, shape):
        a = self.attrs(node)
        if len(shape) != 1:
            raise self.err(node, idx, f"input has shape {shape}; flatten it first")
        if a.get("transA", 0):
            raise self.err(node, idx, "transA=1 on the data input is not supported")
        B = self._check_float(node, idx, self.const(node.input[1], node, idx), "weight B").astype(np.float32)
        if B.ndim != 2:
            raise self.err(node, idx, f"weight B has shape {B.shape}; 2-D expected")
        tb = a.get("transB", 0)
        W = np.ascontiguousarray(B if tb else B.T)  # (M, K)
        if W.shape[1] != shape[0]:
            raise self.err(node, idx, f"weight B of shape {B.shape} with transB={tb} takes {W.shape[1]} "
                                      f"inputs, but the input has {shape[0]}")
        M = W.shape[0]
        if M == 0:
            raise self.err(node, idx, f"weight B of shape {B.shape} gives 0 outputs; a layer needs at least one")
        steps = []
        alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
        if not (np.isfinite(np.float32(alpha)) and np.isfinite(np.float32(beta))):
            raise self.err(node, idx, f"alpha={alpha:g}, beta={beta:g}: both must be finite")
        if alpha != 1.0:
            steps.append(("mul", np.full(M, alpha, dtype=np.float32)))
        bias = None
        if len(node.input) > 2 and node.input[2]:
            C = self._check_float(node, idx, self.const(node.input[2], node, idx), "bias C").astype(np.float32)
            try:
                C = np.broadcast_to(C.reshape(-1) if C.size == M else C, (M,)).astype(np.float32)
            except ValueError:
                raise self.err(node, idx, f"bias shape {C.shape} does not broadcast to ({M},)") from None
            bias = (np.float32(beta) * C).astype(np.float32)
        label = _node_label(node, idx)
        wq = self.weight_quant(node, idx, node.input[1], (lambda a: a) if tb else (lambda a: a.T))
        self.add(Gemm, [label], shape, (M,), weights=W, bias=None, wq=wq)
        if steps and bias is not None:
            # onnxruntime: Y = beta*C, then MLAS adds alpha*(A.B) with a fused multiply-add
            self.add(Affine, [label], (M,), (M,),
                     steps=[("muladd", np.stack([np.full(M, alpha, dtype=np.float32), bias]))])
            return node.output[0], (M,)
        if steps:
            self.add(Affine, [label], (M,), (M,), steps=steps)
        if bias is not None:
            self.add(Affine, [label], (M,), (M,), steps=[("add", bias)])
        return node.output[0], (M,)

    def op_MatMul(self, node, idx, x, shape):
        if len(shape) != 1:
            raise self.err(node, idx, f"input has shape {shape}; flatten it first")
        if node.input[0] != x:
            raise self.err(node, idx, "the constant must be the second MatMul operand")
        B = self._check_float(node, idx, self.const(node.input[1], node, idx), "weight").astype(np.float32)
        if B.ndim != 2 or B.shape[0] != shape[0]:
            raise self.err(node, idx, f"weight shape {B.shape} does not match input width {shape[0]}")
        W = np.ascontiguousarray(B.T)
        if W.shape[0] == 0:
            raise self.err(node, idx, f"weight of shape {B.shape} gives 0 outputs; a layer needs at least one")
        wq = self.weight_quant(node, idx, node.input[1], lambda a: a.T)
        self.add(Gemm, [_node_label(node, idx)], shape, (W.shape[0],), weights=W, bias=None, wq=wq)
        return node.output[0], (W.shape[0],)

    def _channel_vector(self, node, idx, c, shape):
        """A constant that broadcasts per channel (axis 0 of the unbatched shape) -> (Ch,)."""
        c = self._check_float(node, idx, c, "constant").astype(np.float32)
        ch = shape[0]
        try:
            full = np.broadcast_shapes(c.shape, (1,) + tuple(shape)) if c.ndim <= len(shape) + 1 else None
        except ValueError:
            full = None
        if full is None or full != (1,) + tuple(shape):
            raise self.err(node, idx, f"constant of shape {c.shape} does not broadcast to the data {shape}")
        b = np.broadcast_to(c, (1,) + tuple(shape)).reshape(ch, -1)
        if not np.all(b == b[:, :1]):
            raise self.err(node, idx, "only per-channel constants are supported (one value per channel)")
        return np.ascontiguousarray(b[:, 0])

    def _affine(self, node, idx, x, shape, op):
        other = [t for t in node.input if t != x]
        if len(other) != 1:
            raise self.err(node, idx, "both operands are the same data tensor")
        if op in ("sub", "div") and node.input[0] != x:
            raise self.err(node, idx, "constant minus/over data is not supported")
        c = self._channel_vector(node, idx, self.const(other[0], node, idx), shape)
        if op == "div" and np.any(c == 0):
            raise self.err(node, idx, f"division by zero (channel {int(np.argmax(c == 0))})")
        if op == "sub":
            op, c = "add", -c
        self.add(Affine, [_node_label(node, idx)], shape, shape, steps=[(op, c)])
        return node.output[0], shape

    def op_Add(self, node, idx, x, shape):
        return self._affine(node, idx, x, shape, "add")

    def op_Sub(self, node, idx, x, shape):
        return self._affine(node, idx, x, shape, "sub")

    def op_Mul(self, node, idx, x, shape):
        return self._affine(node, idx, x, shape, "mul")

    def op_Div(self, node, idx, x, shape):
        return self._affine(node, idx, x, shape, "div")

    def op_Conv(self, node, idx, x, shape):
        a = self.attrs(node)
        if len(shape) != 3:
            raise self.err(node, idx, f"input has shape {shape}; a 2-D conv needs (C, H, W)")
        W = self._check_float(node, idx, self.const(node.input[1], node, idx), "weight").astype(np.float32)
        if a.get("group", 1) != 1:
            raise self.err(node, idx, f"group={a['group']} is not supported (only group=1)")
        if W.ndim != 4 or W.shape[1] != shape[0]:
            raise self.err(node, idx, f"weight shape {W.shape} does not match {shape[0]} input channels "
                                      "(only 2-D convs with group=1 are supported)")
        if W.shape[0] == 0 or W.shape[2] == 0 or W.shape[3] == 0:
            raise self.err(node, idx, f"weight shape {W.shape} gives 0 output channels or an empty kernel")
        self._window_attrs(node, idx, a)
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            raise self.err(node, idx, f"dilations={a['dilations']} are not supported (only 1)")
        kh, kw = W.shape[2:]
        if "kernel_shape" in a and tuple(a["kernel_shape"]) != (kh, kw):
            raise self.err(node, idx, f"kernel_shape={list(a['kernel_shape'])} does not match the weight's "
                                      f"{kh}x{kw} kernel")
        sh, sw = a.get("strides", [1, 1])
        pads = self._pads(node, idx, a, shape, (kh, kw), (sh, sw))
        C, H, Wd = shape
        OH = (H + pads[0] + pads[2] - kh) // sh + 1
        OW = (Wd + pads[1] + pads[3] - kw) // sw + 1
        if OH < 1 or OW < 1:
            raise self.err(node, idx, f"kernel {kh}x{kw} does not fit the {H}x{Wd} input")
        M = W.shape[0]
        label = _node_label(node, idx)
        wq = self.weight_quant(node, idx, node.input[1], lambda a: a)
        self.add(Conv, [label], shape, (M, OH, OW), weights=W, bias=None, stride=(sh, sw), pads=pads, wq=wq)
        if len(node.input) > 2 and node.input[2]:
            b = self._check_float(node, idx, self.const(node.input[2], node, idx), "bias").astype(np.float32)
            if b.shape != (M,):
                raise self.err(node, idx, f"bias shape {b.shape} is not ({M},)")
            self.add(Affine, [label], (M, OH, OW), (M, OH, OW), steps=[("add", b)])
        return node.output[0], (M, OH, OW)

    def _window_attrs(self, node, idx, a):
        """kernel_shape, strides, dilations: 2 positive ints; pads: 4 non-negative ints."""
        for name, n, lo in (("kernel_shape", 2, 1), ("strides", 2, 1), ("dilations", 2, 1), ("pads", 4, 0)):
            if name not in a:
                continue
            v = list(a[name])
            if len(v) != n:
                raise self.err(node, idx, f"{name}={v} must have {n} entries (only 2-D is supported)")
            if any(x < lo for x in v):
                raise self.err(node, idx, f"{name}={v}: every entry must be at least {lo}")

    def _pads(self, node, idx, a, shape, kernel, stride):
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto in ("NOTSET", "VALID"):
            p = list(a.get("pads", [0, 0, 0, 0])) if auto == "NOTSET" else [0, 0, 0, 0]
            if len(p) != 4:
                raise self.err(node, idx, f"pads={p} must have 4 entries for 2-D")
            return (int(p[0]), int(p[1]), int(p[2]), int(p[3]))  # ONNX: t, l, b, r
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            out = []
            for i in range(2):
                n = shape[1 + i]
                o = -(-n // stride[i])
                total = max(0, (o - 1) * stride[i] + kernel[i] - n)
                small, big = total // 2, total - total // 2
                out.append((small, big) if auto == "SAME_UPPER" else (big, small))
            return (out[0][0], out[1][0], out[0][1], out[1][1])
        raise self.err(node, idx, f"auto_pad={auto} is not supported")

    def op_BatchNormalization(self, node, idx, x, shape):
        a = self.attrs(node)
        if a.get("training_mode", 0):
            raise self.err(node, idx, "training_mode=1 is not supported; export the model in eval mode")
        if len(node.output) > 1 and any(node.output[1:]):
            raise self.err(node, idx, "BatchNormalization with training outputs; export in eval mode")
        scale, bias, mean, var = (self._check_float(node, idx, self.const(t, node, idx), n).astype(np.float32)
                                  for t, n in zip(node.input[1:5], ("scale", "B", "mean", "var")))
        ch = shape[0]
        for v, n in zip((scale, bias, mean, var), ("scale", "B", "mean", "var")):
            if v.shape != (ch,):
                raise self.err(node, idx, f"{n} has shape {v.shape}; the {ch} channels need shape ({ch},)")
        if np.any(var < 0):
            j = int(np.argmax(var < 0))
            raise self.err(node, idx, f"channel {j} has a negative variance {var[j]}, which no training gives; "
                                      "the model is damaged: re-export it")
        eps = np.float32(a.get("epsilon", 1e-5))
        if not np.isfinite(eps) or eps < 0:
            raise self.err(node, idx, f"epsilon={float(eps):g} must be a finite number >= 0")
        if np.any(var + eps <= 0):
            j = int(np.argmax(var + eps <= 0))
            raise self.err(node, idx, f"channel {j}: variance + epsilon = {float(var[j] + eps):g} is not "
                                      "positive (1/sqrt of it is not finite)")
        # onnxruntime's CPU kernel: inv_std = 1/sqrt(var + eps); y = x * new_scale + new_bias
        inv_std = (np.float32(1) / np.sqrt(var + eps)).astype(np.float32)
        new_scale = (inv_std * scale).astype(np.float32)
        new_bias = (bias - mean * new_scale).astype(np.float32)
        bad = ~(np.isfinite(new_scale) & np.isfinite(new_bias))
        if bad.any():
            j = int(np.argmax(bad))
            raise self.err(node, idx, f"channel {j}: the folded scale/bias overflow float32 (variance "
                                      f"{float(var[j]):g}, epsilon {float(eps):g})")
        self.add(Affine, [_node_label(node, idx)], shape, shape,
                 steps=[("mul", new_scale), ("add", new_bias)])
        return node.output[0], shape

    def _sign_pattern(self, node, idx, x, shape, mode_true):
        """Greater/GreaterOrEqual/Less(x, 0) followed by Where(cond, a, b) with a, b = +-1."""
        c = np.asarray(self.const(node.input[1], node, idx)) if node.input[0] == x else None
        if c is None or c.size != 1 or float(c.reshape(-1)[0]) != 0.0:
            raise self.err(node, idx, "only a comparison of the data with the constant 0 is supported "
                                      "(the sign pattern x > 0 -> Where(1, -1))")
        users = self.consumers.get(node.output[0], [])
        if len(users) != 1 or self.graph.node[users[0]].op_type != "Where":
            raise self.err(node, idx, "a comparison must feed exactly one Where node (the sign pattern)")
        wi = users[0]
        where = self.graph.node[wi]
        if where.input[0] != node.output[0]:
            raise self.err(where, wi, "the comparison must be the Where condition")
        vals = []
        for t in where.input[1:3]:
            v = np.asarray(self.const(t, where, wi))
            if v.size != 1:
                raise self.err(where, wi, f"Where branch '{t}' must be a single constant")
            vals.append(float(v.reshape(-1)[0]))
        if vals == [1.0, -1.0]:
            mode = mode_true
        elif vals == [-1.0, 1.0] and mode_true == "lt":
            mode = "ge"
        elif vals == [-1.0, 1.0]:
            raise self.err(where, wi, f"Where({node.op_type}(x, 0), -1, 1) is an inverted sign and is not "
                                      "supported; use Where(x > 0, 1, -1) (or Where(x >= 0, 1, -1))")
        else:
            raise self.err(where, wi, f"sign constants must be +1 and -1 (got {vals[0]:g}, {vals[1]:g}); "
                                      "supported: Where(x > 0, 1, -1), Where(x >= 0, 1, -1), Where(x < 0, -1, 1)")
        if mode == "lt":
            raise self.err(where, wi, "Where(x < 0, 1, -1) is not supported; use Where(x > 0, 1, -1)")
        self.skip.add(wi)
        self.add(SignAct, [_node_label(node, idx), _node_label(where, wi)], shape, shape, mode=mode)
        return where.output[0], shape

    def op_Greater(self, node, idx, x, shape):
        return self._sign_pattern(node, idx, x, shape, "gt")

    def op_GreaterOrEqual(self, node, idx, x, shape):
        return self._sign_pattern(node, idx, x, shape, "ge")

    def op_Less(self, node, idx, x, shape):
        return self._sign_pattern(node, idx, x, shape, "lt")

    def op_Sign(self, node, idx, x, shape):
        self.add(SignAct, [_node_label(node, idx)], shape, shape, mode="sign")
        return node.output[0], shape

    def op_Relu(self, node, idx, x, shape):
        self.add(Relu, [_node_label(node, idx)], shape, shape)
        return node.output[0], shape

    def _pool(self, node, idx, x, shape, cls):
        a = self.attrs(node)
        if len(shape) != 3:
            raise self.err(node, idx, f"input has shape {shape}; pooling needs (C, H, W)")
        k = tuple(a.get("kernel_shape", []))
        if len(k) != 2:
            raise self.err(node, idx, f"kernel_shape={list(k)}: only 2-D pooling is supported")
        self._window_attrs(node, idx, a)
        s = tuple(a.get("strides", [1, 1]))
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            raise self.err(node, idx, "dilations are not supported")
        pads = self._pads(node, idx, a, shape, k, s)
        C, H, W = shape
        fl = [(H + pads[0] + pads[2] - k[0]) // s[0] + 1, (W + pads[1] + pads[3] - k[1]) // s[1] + 1]
        if a.get("ceil_mode", 0):
            ce = [-(-(H + pads[0] + pads[2] - k[0]) // s[0]) + 1, -(-(W + pads[1] + pads[3] - k[1]) // s[1]) + 1]
            if ce != fl:
                raise self.err(node, idx, "ceil_mode=1 changes the output size here; use ceil_mode=0")
        if fl[0] < 1 or fl[1] < 1:
            raise self.err(node, idx, f"kernel {k} does not fit the {H}x{W} input")
        if cls is AvgPool and a.get("count_include_pad", 0) and any(pads):
            raise self.err(node, idx, "count_include_pad=1 with padding is not supported")
        self.add(cls, [_node_label(node, idx)], shape, (C, fl[0], fl[1]), kernel=k, stride=s, pads=pads)
        return node.output[0], (C, fl[0], fl[1])

    def op_MaxPool(self, node, idx, x, shape):
        if len(node.output) > 1 and any(node.output[1:]):
            raise self.err(node, idx, "the Indices output is not supported")
        return self._pool(node, idx, x, shape, MaxPool)

    def op_AveragePool(self, node, idx, x, shape):
        return self._pool(node, idx, x, shape, AvgPool)

    def op_Flatten(self, node, idx, x, shape):
        axis = self.attrs(node).get("axis", 1)
        if axis != 1:
            raise self.err(node, idx, f"axis={axis} is not supported (only 1: keep the batch)")
        F = int(np.prod(shape))
        self.add(Flatten, [_node_label(node, idx)], shape, (F,))
        return node.output[0], (F,)

    def op_Reshape(self, node, idx, x, shape):
        target = [int(v) for v in np.asarray(self.const(node.input[1], node, idx)).reshape(-1)]
        F = int(np.prod(shape))
        if len(target) != 2 or target[1] not in (F, -1) or (target[1] == -1 and target[0] == -1):
            raise self.err(node, idx, f"reshape to {target} is not supported; only a flatten to "
                                      f"(N, {F}) or (-1, {F}) is")
        self.add(Flatten, [_node_label(node, idx)], shape, (F,))
        return node.output[0], (F,)

    def _softmax(self, node, idx, x, shape, log):
        axis = self.attrs(node).get("axis", 1 if self.opset() < 13 else -1)
        if len(shape) != 1 or axis not in (1, -1):
            raise self.err(node, idx, "only a softmax over the class axis of (N, classes) is supported")
        self.add(Softmax, [_node_label(node, idx)], shape, shape, log=log)
        return node.output[0], shape

    def op_LogSoftmax(self, node, idx, x, shape):
        return self._softmax(node, idx, x, shape, True)

    def op_Softmax(self, node, idx, x, shape):
        return self._softmax(node, idx, x, shape, False)

    def opset(self) -> int:
        return next((o.version for o in self.model.opset_import if o.domain in ("", "ai.onnx")), 0)


def load_onnx(path: str) -> onnx.ModelProto:
    """Read and check an ONNX file; every failure is an UnsupportedModelError."""
    if not os.path.exists(path):
        raise UnsupportedModelError(f"{path}: no such file")
    if os.path.isdir(path):
        raise UnsupportedModelError(f"{path}: is a folder, not an ONNX file")
    if os.path.getsize(path) == 0:
        raise UnsupportedModelError(f"{path}: the file is empty")
    try:
        model = onnx.load(path, load_external_data=False)
    except OSError as e:
        raise UnsupportedModelError(f"{path}: cannot read the file ({e.strerror or type(e).__name__})") from None
    except Exception as e:
        raise UnsupportedModelError(f"{path}: not a readable ONNX model ({type(e).__name__}): the file is "
                                    "not ONNX, or it is truncated or damaged; export or copy it again") from None
    bad = _non_utf8_field(model)
    if bad:
        raise UnsupportedModelError(f"{path}: the text field {bad} is not valid UTF-8; the file is damaged: "
                                    "re-export the model")
    # The dynamo exporter keeps weights in a side file (MODEL.onnx.data) by default.
    base = os.path.dirname(os.path.abspath(path))
    for init in model.graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            loc = {e.key: e.value for e in init.external_data}.get("location", "")
            full = os.path.normpath(os.path.join(base, loc))
            if not loc or os.path.isabs(loc) or not full.startswith(base + os.sep) or not os.path.isfile(full):
                raise UnsupportedModelError(
                    f"initializer '{init.name}': its external data file '{loc}' is missing (it must "
                    f"lie beside {os.path.basename(path)}); copy it there or re-export with the "
                    "weights inside the model")
    for init in model.graph.initializer:
        if init.data_location != onnx.TensorProto.EXTERNAL:
            continue
        loc = {e.key: e.value for e in init.external_data}.get("location", "")
        try:
            onnx.external_data_helper.load_external_data_for_tensor(init, base)
        except Exception as e:
            raise UnsupportedModelError(
                f"initializer '{init.name}': cannot read it from the external data file '{loc}' "
                f"({_one_line(e, 160)}); the file does not belong to this model or is incomplete") from None
    if not model.HasField("graph") or not model.graph.node:
        raise UnsupportedModelError(f"{path}: not an ONNX model (no graph or no nodes)")
    if model.ir_version > onnx.IR_VERSION:
        raise UnsupportedModelError(
            f"{path}: IR version {model.ir_version} is newer than the onnx package reads (up to "
            f"{onnx.IR_VERSION}); re-export with an older exporter or update onnx")
    if is_qonnx(model):
        model = clean_qonnx(model)
    for i, n in enumerate(model.graph.node):
        if n.domain in QONNX_DOMAINS and n.op_type in QONNX_OPS:
            continue
        if n.domain not in ("", "ai.onnx"):
            raise UnsupportedModelError(f"node '{_node_label(n, i)}' ({n.op_type}): domain '{n.domain}' "
                                        "is not supported (only standard ONNX ops)")
    opset = None
    for o in model.opset_import:
        if o.domain not in ("", "ai.onnx"):
            if o.domain not in QONNX_DOMAINS and any(n.domain == o.domain for n in model.graph.node):
                raise UnsupportedModelError(f"{path}: ops from domain '{o.domain}' are not supported")
            continue
        if not MIN_OPSET <= o.version <= MAX_OPSET:
            raise UnsupportedModelError(
                f"{path}: opset {o.version} is not supported (supported: {MIN_OPSET}..{MAX_OPSET}); "
                "re-export with opset_version in that range")
        opset = o.version
    if opset is None:
        raise UnsupportedModelError(f"{path}: the model does not import the default ONNX opset; "
                                    f"re-export with opset_version in {MIN_OPSET}..{MAX_OPSET}")
    check_structure(model.graph, opset)
    try:
        onnx.checker.check_model(model)
    except Exception as e:
        raise UnsupportedModelError(f"{path}: invalid ONNX model: {_one_line(e)}") from None
    return model


def _non_utf8_field(msg, where: str = "model") -> str | None:
    """The first string field (anywhere in the message tree) that protobuf could not decode:
    python's protobuf hands those out as bytes, which would break every name lookup."""
    from google.protobuf.descriptor import FieldDescriptor as FD
    for field, value in msg.ListFields():
        rep = field.is_repeated if hasattr(field, "is_repeated") else field.label == FD.LABEL_REPEATED
        if field.type == FD.TYPE_STRING:
            vals = value if rep else [value]
            if any(isinstance(v, bytes) for v in vals):
                return f"{where}.{field.name}"
        elif field.type == FD.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                continue
            vals = value if rep else [value]
            for i, v in enumerate(vals):
                bad = _non_utf8_field(v, f"{where}.{field.name}" + (f"[{i}]" if rep else ""))
                if bad:
                    return bad
    return None


def _one_line(e: Exception, limit: int = 240) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_structure(g: onnx.GraphProto, opset: int) -> None:
    """The graph-level rules, each with a message that names the node: one data input and one
    output, unique tensor names, every input defined before it is used (topological order), ops
    that exist in the opset with the right number of inputs and outputs, and attributes that
    the op has, of the type it wants. (onnx.checker checks most of these too, in words that
    do not always name the node; it runs after this.)"""
    _data_input(g)
    where: dict[str, str] = {}  # tensor name -> what defines it

    def define(name: str, what: str) -> None:
        if name in where:
            raise UnsupportedModelError(
                f"tensor '{name}' is defined twice ({where[name]} and {what}); tensor names must be unique: "
                f"{INVALID}")
        where[name] = what

    for t in g.initializer:
        define(t.name, f"initializer '{t.name}'")
    init_names = {t.name for t in g.initializer}
    for i in g.input:
        if i.name not in init_names:
            define(i.name, f"graph input '{i.name}'")
    later: dict[str, tuple[int, onnx.NodeProto]] = {}
    for idx, n in enumerate(g.node):
        for o in n.output:
            if o:
                later.setdefault(o, (idx, n))
    for idx, n in enumerate(g.node):
        label = f"node '{_node_label(n, idx)}' ({n.op_type})"
        if n.domain not in QONNX_DOMAINS:  # QONNX ops: checked by their handlers
            _check_schema(n, label, opset)
        for t in n.input:
            if not t or t in where:
                continue
            if t in later and later[t][0] >= idx:
                j, m = later[t]
                raise UnsupportedModelError(
                    f"{label} reads '{t}', which node '{_node_label(m, j)}' computes after it: the nodes "
                    "are not in topological order; save the model with its nodes sorted")
            raise UnsupportedModelError(
                f"{label} reads '{t}', which no node, initializer or graph input defines; {INVALID}")
        for o in n.output:
            if o:
                define(o, f"the output of node '{_node_label(n, idx)}'")
    for o in g.output:
        if o.name not in where:
            raise UnsupportedModelError(f"graph output '{o.name}' is not computed by any node; {INVALID}")


def _check_schema(n: onnx.NodeProto, label: str, opset: int) -> None:
    try:
        schema = onnx.defs.get_schema(n.op_type, opset, "")
    except Exception:
        raise UnsupportedModelError(
            f"{label}: ONNX has no op '{n.op_type}' in opset {opset}; supported: {SUPPORTED_OPS}") from None
    nin, nout = len(n.input), len(n.output)
    if not schema.min_input <= nin <= schema.max_input:
        rng = str(schema.min_input) if schema.min_input == schema.max_input else \
            f"{schema.min_input} to {schema.max_input}"
        raise UnsupportedModelError(f"{label} has {nin} input{'s' * (nin != 1)}; {n.op_type} takes {rng}; {INVALID}")
    if not schema.min_output <= nout <= schema.max_output:
        rng = str(schema.min_output) if schema.min_output == schema.max_output else \
            f"{schema.min_output} to {schema.max_output}"
        raise UnsupportedModelError(f"{label} has {nout} output{'s' * (nout != 1)}; {n.op_type} gives {rng}; {INVALID}")
    single = onnx.defs.OpSchema.FormalParameterOption.Single
    for i, (t, formal) in enumerate(zip(n.input, schema.inputs)):
        if not t and formal.option == single:
            raise UnsupportedModelError(f"{label}: input {i} ({formal.name}) is required but empty; {INVALID}")
    if nout and not n.output[0]:
        raise UnsupportedModelError(f"{label}: its first output has no name; {INVALID}")
    seen = set()
    for a in n.attribute:
        if a.name in seen:
            raise UnsupportedModelError(f"{label}: attribute '{a.name}' is given twice; {INVALID}")
        seen.add(a.name)
        if a.ref_attr_name:
            raise UnsupportedModelError(f"{label}: attribute '{a.name}' refers to a function attribute; "
                                        "only plain graphs are supported")
        if a.name not in schema.attributes:
            raise UnsupportedModelError(
                f"{label}: {n.op_type} (opset {opset}) has no attribute '{a.name}'; known: "
                f"{', '.join(sorted(schema.attributes)) or 'none'}; {INVALID}")
        want = schema.attributes[a.name].type
        if a.type != int(want.value):
            got = onnx.AttributeProto.AttributeType.Name(a.type) \
                if a.type in onnx.AttributeProto.AttributeType.values() else str(a.type)
            raise UnsupportedModelError(f"{label}: attribute '{a.name}' is {got}; {n.op_type} wants {want.name}; "
                                        f"{INVALID}")
    for name, attr in schema.attributes.items():
        if attr.required and name not in seen:
            raise UnsupportedModelError(f"{label}: the required attribute '{name}' is missing; {INVALID}")


def check_types(model: onnx.ModelProto) -> None:
    """ONNX's strict type and shape inference (what onnxruntime checks when it loads a model):
    an int64 weight in a float Gemm, a weight that does not fit its input... The first problem,
    in one line that names the node."""
    try:
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except Exception as e:
        text = " ".join(str(e).split())
        m = re.search(r"\(op_type:([^,]*), node name: ([^)]*)\): (?:\[\w+\] )*(.*?)(?: \(op_type:|$)", text)
        if m:
            op, name, what = m.group(1), m.group(2), m.group(3).strip()
            raise UnsupportedModelError(f"node '{name}' ({op}): {what[:200]} (ONNX type/shape inference); "
                                        f"{INVALID}") from None
        raise UnsupportedModelError(f"invalid ONNX model: {_one_line(e, 200)} (ONNX type/shape inference); "
                                    "re-export it") from None


def one_line(text: str) -> str:
    """Control characters (a newline in a tensor name...) escaped: an error stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def read_model(path: str) -> Model:
    """ONNX file -> IR model of float ops. Every problem with the model is an
    UnsupportedModelError with a one-line message; anything else escaping from here is a bug
    in the reader."""
    try:
        with np.errstate(all="ignore"):  # inf/NaN in constant folding: the checks report them
            return _read_model(path)
    except UnsupportedModelError as e:
        msg = str(e)
        if one_line(msg) != msg:
            raise UnsupportedModelError(one_line(msg)) from None
        raise


def _read_model(path: str) -> Model:
    model = load_onnx(path)
    try:
        ir = _Reader(model, path).read()
    except UnsupportedModelError:
        raise
    except Exception:
        # A model that is not even valid ONNX gets ONNX's own verdict; a valid one that trips
        # the reader is our bug and propagates (the CLI reports it as an internal error).
        check_types(model)
        raise
    check_types(model)
    return ir
