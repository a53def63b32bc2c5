"""Tiny hand-built ONNX graphs (onnx.helper) for unit tests of the frontend and passes."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

F32 = TensorProto.FLOAT


class GraphBuilder:
    """Builds a chain: each ``add_*`` consumes the current tensor and makes a new one."""

    def __init__(self, input_shape, batch="N", opset=13):
        self.nodes, self.inits = [], []
        self.opset = opset
        self.input = helper.make_tensor_value_info("x", F32, [batch] + list(input_shape))
        self.cur = "x"
        self.n = 0

    def _name(self, op):
        self.n += 1
        return f"{op}_{self.n}"

    def init(self, arr, dtype=np.float32):
        name = f"c{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(arr, dtype=dtype), name))
        return name

    def node(self, op, inputs, **attrs):
        name = self._name(op)
        out = name + "_out"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        self.cur = out
        return out

    def gemm(self, W, b=None, transB=1, alpha=1.0, beta=1.0):
        B = W if transB else np.asarray(W).T
        ins = [self.cur, self.init(B)] + ([self.init(b)] if b is not None else [])
        return self.node("Gemm", ins, transB=transB, alpha=alpha, beta=beta)

    def matmul(self, W, b=None):
        self.node("MatMul", [self.cur, self.init(np.asarray(W).T)])
        if b is not None:
            self.node("Add", [self.cur, self.init(b)])
        return self.cur

    def conv(self, W, b=None, stride=1, pad=0):
        ins = [self.cur, self.init(W)] + ([self.init(b)] if b is not None else [])
        k = list(np.asarray(W).shape[2:])
        return self.node("Conv", ins, kernel_shape=k, strides=[stride, stride], pads=[pad] * 4)

    def bn(self, gamma, beta, mean, var, eps=1e-5):
        ins = [self.cur] + [self.init(v) for v in (gamma, beta, mean, var)]
        return self.node("BatchNormalization", ins, epsilon=eps)

    def sign(self, form="where"):
        src = self.cur
        if form == "sign":
            return self.node("Sign", [src])
        const_nodes = form == "where"
        if const_nodes:
            names = []
            for v in (0.0, [1.0], [-1.0]):
                nm = self._name("Constant")
                self.nodes.append(helper.make_node("Constant", [], [nm + "_out"], name=nm,
                                                   value=numpy_helper.from_array(np.array(v, np.float32))))
                names.append(nm + "_out")
            zero, one, mone = names
        else:
            zero, one, mone = self.init(np.array(0.0)), self.init([1.0]), self.init([-1.0])
        g = self.node("Greater", [src, zero])
        return self.node("Where", [g, one, mone])

    def maxpool(self, k=2):
        return self.node("MaxPool", [self.cur], kernel_shape=[k, k], strides=[k, k])

    def flatten(self):
        return self.node("Flatten", [self.cur], axis=1)

    def logsoftmax(self):
        return self.node("LogSoftmax", [self.cur], axis=1)

    def op(self, op, *extra, **attrs):
        return self.node(op, [self.cur] + list(extra), **attrs)

    def model(self) -> onnx.ModelProto:
        out = helper.make_tensor_value_info(self.cur, F32, ["N", "C"])
        g = helper.make_graph(self.nodes, "g", [self.input], [out], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", self.opset)])
        m.ir_version = 8
        return m

    def save(self, path) -> str:
        onnx.save(self.model(), str(path))
        return str(path)


def non_binary_hidden_net(path, rng, width=5) -> str:
    """A BNN whose middle Gemm has real-valued weights: hardware must reject it by node name."""
    ident = (np.ones(width), np.zeros(width), np.zeros(width), np.ones(width))
    g = GraphBuilder((6,))
    g.gemm(pm1(rng, width, 6))
    g.bn(*ident)
    g.sign()
    g.gemm(rng.normal(size=(width, width)).astype(np.float32))
    g.bn(*ident)
    g.sign()
    g.gemm(pm1(rng, 3, width))
    return g.save(path)


def ort_run(model_or_path, x, output=None):
    """onnxruntime with graph optimizations off (exact float32 semantics of each node)."""
    m = onnx.load(str(model_or_path)) if not isinstance(model_or_path, onnx.ModelProto) else model_or_path
    if output is not None and output not in [o.name for o in m.graph.output]:
        m.graph.output.append(helper.make_tensor_value_info(output, F32, None))
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return s.run([output or m.graph.output[0].name], {s.get_inputs()[0].name: np.asarray(x, np.float32)})[0]


def pm1(rng, *shape):
    return rng.choice([-1.0, 1.0], size=shape).astype(np.float32)
