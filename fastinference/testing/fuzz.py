"""Fuzz the ONNX frontend: mutate valid BNNs and check that every outcome is clean.

    python bench/fuzz_frontend.py [--n 10000] [--seed 0] [--jobs 2] [--show 3]   (or: python -m fastinference.testing.fuzz)

Each case takes one of the seed models (small GraphBuilder MLPs and CNNs, and the bundled
examples/digits_*.onnx), applies 1-3 random mutations (bytes of the serialized file flipped,
truncated, inserted or deleted; attributes changed or removed; the input's shape; initializer
values, dims and dtypes; Constant values; node order; op types; nodes deleted, bypassed or
inserted; node inputs dropped, added or swapped; the opset; the graph output) and loads the
result with ``fastinference.load`` for an input format drawn per case from ``FORMATS``
(unsigned 8-bit, as ``--input-bits``/``--input-signed`` default, and signed, 4-bit and 12-bit
ones). The outcome must be one of

* ``compiled+equal``: it compiled, and ``predict`` equals onnxruntime's pre-softmax output
  exactly (the output must be integer) on random integers of that format (the first two rows
  the format's minimum and maximum);
* ``compiled, onnxruntime rejects``: it compiled but onnxruntime refuses the model (no
  reference to compare with; reported, not a failure);
* ``error: ...``: a ``FastInferenceError`` with exit code 2 and a one-line message;

anything else (another exception type, a different exit code, a multi-line or empty
message, a score mismatch, more than ``TIME_LIMIT`` seconds) is a failure. The script prints
counts per outcome (errors grouped by the start of their message), the time, and the first
failures with the seed and index to replay them (``--only I``); it exits 1 on any failure.
``tests/test_fuzz_frontend.py`` drives the same mutations from hypothesis.
"""
from __future__ import annotations

import argparse
import collections
import copy
import os
import random
import re
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from fastinference.testing.graphs import GraphBuilder, pm1

ROOT = Path(__file__).resolve().parents[2]  # the repository (examples/): a dev-only module

TIME_LIMIT = 30.0      # seconds per case (load + predict + onnxruntime)
MAX_RUN_ELEMS = 200_000  # skip the comparison for inputs larger than this (still counted)
N_ROWS = 24            # random input rows compared per compiled case
#: input formats (bits, signed) a case is loaded with, as --input-bits / --input-signed
FORMATS = ((8, False), (8, False), (8, True), (12, False), (12, True), (4, True), (1, False))


# ------------------------------------------------------------------------- seed models
def _seed_mlp(rng) -> onnx.ModelProto:
    g = GraphBuilder((12,))
    g.gemm(pm1(rng, 9, 12))
    g.bn(rng.uniform(-2, 2, 9), rng.normal(0, 1, 9), rng.normal(0, 8, 9), rng.uniform(0.5, 2, 9))
    g.sign("initializers")
    g.gemm(pm1(rng, 7, 9))
    g.bn(rng.uniform(-2, 2, 7), rng.normal(0, 1, 7), rng.normal(0, 2, 7), rng.uniform(0.5, 2, 7))
    g.sign("where")
    g.gemm(pm1(rng, 4, 7))
    g.logsoftmax()
    return g.model()


def _seed_matmul(rng) -> onnx.ModelProto:
    """MatMul + Add (the dynamo exporter's folded BatchNorm: rows s * (+-1) and a float bias)."""
    g = GraphBuilder((10,))
    s = rng.uniform(0.1, 2, 8).astype(np.float32) * rng.choice([-1, 1], 8).astype(np.float32)
    g.matmul(pm1(rng, 8, 10) * s[:, None], rng.normal(0, 5, 8).astype(np.float32))
    g.sign("initializers")
    g.matmul(pm1(rng, 5, 8))
    g.op("Softmax", axis=1)
    return g.model()


def _seed_cnn(rng) -> onnx.ModelProto:
    g = GraphBuilder((1, 6, 6))
    g.conv(pm1(rng, 4, 1, 3, 3), pad=1)
    g.bn(rng.uniform(-2, 2, 4), rng.normal(0, 1, 4), rng.normal(0, 10, 4), rng.uniform(0.5, 2, 4))
    g.sign()
    g.maxpool(2)
    g.conv(pm1(rng, 5, 4, 2, 2))
    g.bn(rng.uniform(-2, 2, 5), rng.normal(0, 1, 5), rng.normal(0, 2, 5), rng.uniform(0.5, 2, 5))
    g.sign()
    g.flatten()
    g.gemm(pm1(rng, 3, 20))
    g.logsoftmax()
    return g.model()


def _seed_cnn_poolfirst(rng) -> onnx.ModelProto:
    """MaxPool before the sign, negative BatchNorm scales (AND pooling), a conv bias."""
    g = GraphBuilder((2, 4, 4))
    g.conv(pm1(rng, 3, 2, 3, 3), b=rng.normal(0, 3, 3).astype(np.float32), pad=1)
    g.maxpool(2)
    g.bn(np.array([1.5, -0.7, 1.0]), rng.normal(0, 1, 3), rng.normal(0, 5, 3), rng.uniform(0.5, 2, 3))
    g.sign()
    g.flatten()
    g.gemm(pm1(rng, 4, 12), np.array([1, -2, 0, 3], np.float32))
    return g.model()


def _seed_gemm_bias(rng) -> onnx.ModelProto:
    """Gemm with +-1 weights and a fractional bias (alpha/beta mutations make it a fused
    multiply-add in onnxruntime), Relu and Mul before the sign, GreaterOrEqual."""
    g = GraphBuilder((8,))
    g.gemm(pm1(rng, 6, 8), np.round(rng.normal(0, 4, 6), 1).astype(np.float32))
    g.op("Mul", g.init(rng.uniform(0.2, 3, 6).astype(np.float32)))
    g.op("Relu")
    ge = g.node("GreaterOrEqual", [g.cur, g.init(np.array(0.0))])
    g.node("Where", [ge, g.init([1.0]), g.init([-1.0])])
    g.gemm(pm1(rng, 3, 6), np.array([2, 0, -1], np.float32))
    g.logsoftmax()
    return g.model()


def _seed_int_pool(rng) -> onnx.ModelProto:
    """MaxPool on the integer input (a max over integers), non-square with stride > kernel in
    one direction, then a conv, a negative-scale BatchNorm and the sign."""
    g = GraphBuilder((2, 7, 8))
    g.node("MaxPool", [g.cur], kernel_shape=[3, 2], strides=[2, 3])  # -> 2x3x3
    g.conv(pm1(rng, 3, 2, 2, 2))
    g.bn(np.array([1.2, -0.8, 0.5]), rng.normal(0, 2, 3), rng.normal(0, 20, 3), rng.uniform(0.5, 2, 3))
    g.sign()
    g.flatten()
    g.gemm(pm1(rng, 4, 12))
    g.logsoftmax()
    return g.model()


def _seed_int_pool_dense(rng) -> onnx.ModelProto:
    """An overlapping 3x3 stride-2 MaxPool on the input, then Flatten -> Gemm."""
    g = GraphBuilder((1, 7, 7))
    g.node("MaxPool", [g.cur], kernel_shape=[3, 3], strides=[2, 2])  # -> 1x3x3
    g.flatten()
    g.gemm(pm1(rng, 5, 9))
    g.bn(rng.uniform(-2, 2, 5), rng.normal(0, 1, 5), rng.normal(0, 10, 5), rng.uniform(0.5, 2, 5))
    g.sign()
    g.gemm(pm1(rng, 3, 5))
    return g.model()


def seed_models() -> dict[str, bytes]:
    rng = np.random.default_rng(2024)
    seeds = {
        "mlp": _seed_mlp(rng),
        "matmul": _seed_matmul(rng),
        "cnn": _seed_cnn(rng),
        "cnn_poolfirst": _seed_cnn_poolfirst(rng),
        "gemm_bias": _seed_gemm_bias(rng),
        "int_pool": _seed_int_pool(rng),
        "int_pool_dense": _seed_int_pool_dense(rng),
    }
    out = {k: m.SerializeToString() for k, m in seeds.items()}
    for name in ("digits_mlp", "digits_cnn"):
        out[name] = (ROOT / "examples" / f"{name}.onnx").read_bytes()
    return out


# --------------------------------------------------------------------------- mutations
OPS = ["Relu", "Identity", "Sign", "Sigmoid", "Add", "Mul", "Sub", "Div", "Gemm", "MatMul", "Conv",
       "MaxPool", "AveragePool", "BatchNormalization", "Flatten", "Greater", "GreaterOrEqual", "Less",
       "Where", "Softmax", "LogSoftmax", "Dropout", "Cast", "Abs", "Neg", "Reshape", "Transpose",
       "Tanh", "Not", "Equal", "Constant", "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Slice",
       "Clip", "LSTM", "Sgn", ""]
ATTRS = ["strides", "pads", "kernel_shape", "axis", "transA", "transB", "alpha", "beta", "epsilon",
         "group", "dilations", "ceil_mode", "auto_pad", "momentum", "to", "training_mode",
         "count_include_pad", "storage_order", "axes", "value", "value_float", "spatial", "perm"]
SPECIAL = [np.nan, np.inf, -np.inf, 1e30, -1e30, 3e38, -3e38, 0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 2.0, 3.0, 1e-30, 1e-45,
           65504.0, 16777217.0, 0.1]


def _rand_attr_value(rnd: random.Random, name: str):
    kind = rnd.random()
    if name in ("strides", "pads", "kernel_shape", "dilations", "axes", "perm") and kind < 0.7:
        n = rnd.choice([0, 1, 2, 2, 2, 3, 4, 4, 5])
        return [rnd.choice([-1, 0, 1, 1, 2, 2, 3, 4, 7]) for _ in range(n)]
    if name in ("alpha", "beta", "epsilon", "momentum", "value_float") and kind < 0.8:
        return float(rnd.choice(SPECIAL + [1e-5, 1e-3, 0.9]))
    if name == "auto_pad" and kind < 0.8:
        return rnd.choice(["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER", "bogus", ""])
    if name == "value" and kind < 0.8:
        arr = np.array(rnd.choice([0.0, 1.0, -1.0, 0.5, [1.0, -1.0], [[2.0]], np.nan, 7]), dtype=np.float32)
        return numpy_helper.from_array(arr)
    if kind < 0.85:
        return rnd.choice([-2, -1, 0, 1, 1, 2, 3, 4, 2**31, TensorProto.FLOAT, TensorProto.INT64,
                           TensorProto.STRING, 99])
    if kind < 0.92:
        return float(rnd.choice(SPECIAL))
    if kind < 0.96:
        return rnd.choice(["", "x", "SAME_UPPER"])
    return [float(rnd.choice(SPECIAL)) for _ in range(rnd.randint(0, 4))]


def _tensor_names(m):
    names = [i.name for i in m.graph.input] + [t.name for t in m.graph.initializer]
    for n in m.graph.node:
        names += [t for t in n.output if t]
    return names


def _chain_tensors(m):
    return [m.graph.input[0].name] + [n.output[0] for n in m.graph.node if n.output] if m.graph.input else []


def _rewire(m, old, new):
    for n in m.graph.node:
        for i, t in enumerate(n.input):
            if t == old:
                n.input[i] = new
    for o in m.graph.output:
        if o.name == old:
            o.name = new


def mut_attr(m, rnd):
    if not m.graph.node:
        return "attr: no node"
    n = rnd.choice(list(m.graph.node))
    r = rnd.random()
    if n.attribute and r < 0.2:
        a = rnd.choice(list(n.attribute))
        n.attribute.remove(a)
        return f"attr: remove {n.name}.{a.name}"
    name = rnd.choice([a.name for a in n.attribute]) if n.attribute and r < 0.8 else rnd.choice(ATTRS)
    value = _rand_attr_value(rnd, name)
    for a in list(n.attribute):
        if a.name == name:
            n.attribute.remove(a)
    try:
        n.attribute.append(helper.make_attribute(name, value))
    except Exception:
        return f"attr: could not make {name}={value!r}"
    return f"attr: {n.name}.{name}={value!r}"[:120]


def mut_input_shape(m, rnd):
    if not m.graph.input:
        return "shape: no input"
    t = m.graph.input[0].type.tensor_type
    r = rnd.random()
    dims = t.shape.dim
    if r < 0.55 and len(dims):
        d = dims[rnd.randrange(len(dims))]
        v = rnd.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 64, -1, "F", None])
        if v is None:
            d.Clear()
        elif isinstance(v, str):
            d.dim_param = v
        else:
            d.dim_value = v
        return f"shape: dim -> {v}"
    if r < 0.65 and len(dims):
        del dims[rnd.randrange(len(dims))]
        return "shape: drop a dim"
    if r < 0.75:
        dims.add().dim_value = rnd.choice([1, 2, 3])
        return "shape: add a dim"
    if r < 0.85:
        t.ClearField("shape")
        return "shape: clear"
    t.elem_type = rnd.choice([TensorProto.INT64, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.STRING,
                              TensorProto.BOOL, TensorProto.UINT8, 0, 99])
    return f"shape: elem_type {t.elem_type}"


def mut_init_value(m, rnd):
    if not m.graph.initializer:
        return "init: none"
    t = rnd.choice(list(m.graph.initializer))
    try:
        a = numpy_helper.to_array(t).copy()
    except Exception:
        return "init: unreadable"
    if a.dtype.kind != "f" or a.size == 0:
        a = a.astype(np.float32)
    flat = a.reshape(-1)
    r = rnd.random()
    if a.size == 0:
        pass
    elif r < 0.3:
        for _ in range(rnd.randint(1, 3)):
            flat[rnd.randrange(flat.size)] = rnd.choice(SPECIAL)
    elif r < 0.45:  # keep it binary: flip signs
        for _ in range(rnd.randint(1, 4)):
            i = rnd.randrange(flat.size)
            flat[i] = -flat[i]
    elif r < 0.65:  # realistic random values (BatchNorm-like)
        g = np.random.default_rng(rnd.randrange(2**32))
        flat[:] = g.normal(0, rnd.choice([0.5, 2, 10, 100]), flat.size)
        if rnd.random() < 0.5:
            flat[:] = np.abs(flat)
    elif r < 0.75:
        g = np.random.default_rng(rnd.randrange(2**32))
        flat[:] = g.integers(-3, 4, flat.size)
    elif r < 0.85:
        flat *= np.float32(rnd.choice([-1.0, 0.0, 0.5, 2.0, 1e20, 1e-20, 3.0]))
    else:
        flat[:] = rnd.choice(SPECIAL)
    t.CopyFrom(numpy_helper.from_array(a.astype(numpy_helper.to_array(t).dtype
                                                if rnd.random() < 0.8 else a.dtype), t.name))
    return f"init: values of {t.name}"


def mut_init_dims(m, rnd):
    if not m.graph.initializer:
        return "init: none"
    t = rnd.choice(list(m.graph.initializer))
    try:
        a = numpy_helper.to_array(t).copy()
    except Exception:
        return "init: unreadable"
    r = rnd.random()
    if r < 0.2 and a.ndim >= 2:
        a = a.T.copy()
    elif r < 0.4 and a.ndim >= 1 and a.shape[0] > 0:
        a = a[: rnd.randrange(a.shape[0] + 1)]
    elif r < 0.55:
        a = a.reshape(-1)
    elif r < 0.7:
        a = a[None]
    elif r < 0.8 and a.ndim >= 1:
        a = np.concatenate([a, a[:1]], axis=0)
    else:
        dt = rnd.choice([np.float64, np.float16, np.int64, np.int32, np.int8, np.bool_, np.uint8])
        with np.errstate(all="ignore"):
            a = a.astype(dt)
    t.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(a), t.name))
    return f"init: dims/dtype of {t.name} -> {a.shape} {a.dtype}"


def mut_constant(m, rnd):
    cs = [n for n in m.graph.node if n.op_type == "Constant"]
    if not cs:
        return mut_init_value(m, rnd)
    n = rnd.choice(cs)
    v = rnd.choice([0.0, 1.0, -1.0, 0.5, -0.5, 2.0, np.nan, np.inf, [1.0, 1.0], [[1.0]], 1e-30])
    dt = rnd.choice([np.float32, np.float32, np.int64, np.float64])
    del n.attribute[:]
    n.attribute.append(helper.make_attribute("value", numpy_helper.from_array(np.array(v, dtype=dt))))
    return f"constant: {n.name} = {v!r} {dt.__name__}"


def mut_order(m, rnd):
    nodes = list(m.graph.node)
    if len(nodes) < 2:
        return "order: too few"
    r = rnd.random()
    if r < 0.6:
        i, j = rnd.sample(range(len(nodes)), 2)
        nodes[i], nodes[j] = nodes[j], nodes[i]
    elif r < 0.9:
        n = nodes.pop(rnd.randrange(len(nodes)))
        nodes.insert(rnd.randrange(len(nodes) + 1), n)
    else:
        nodes.reverse()
    copies = [copy.deepcopy(n) for n in nodes]
    del m.graph.node[:]
    m.graph.node.extend(copies)
    return "order: shuffled"


def mut_op_type(m, rnd):
    if not m.graph.node:
        return "op: none"
    n = rnd.choice(list(m.graph.node))
    old = n.op_type
    n.op_type = rnd.choice(OPS)
    return f"op: {n.name} {old} -> {n.op_type}"


def mut_delete(m, rnd):
    nodes = list(m.graph.node)
    if not nodes:
        return "delete: none"
    i = rnd.randrange(len(nodes))
    n = nodes[i]
    del m.graph.node[i]
    if rnd.random() < 0.7 and n.input and n.output:  # bypass: its consumers read its first input
        _rewire(m, n.output[0], n.input[0])
        return f"delete: bypass {n.name} ({n.op_type})"
    return f"delete: {n.name} ({n.op_type})"


def mut_inputs(m, rnd):
    if not m.graph.node:
        return "inputs: none"
    n = rnd.choice(list(m.graph.node))
    r = rnd.random()
    if r < 0.35 and n.input:
        del n.input[rnd.randrange(len(n.input))]
        return f"inputs: drop one of {n.name}"
    if r < 0.6:
        names = _tensor_names(m) + ["", "nope"]
        n.input.insert(rnd.randrange(len(n.input) + 1), rnd.choice(names))
        return f"inputs: add one to {n.name}"
    if r < 0.8 and len(n.input) >= 2:
        i, j = rnd.sample(range(len(n.input)), 2)
        n.input[i], n.input[j] = n.input[j], n.input[i]
        return f"inputs: swap in {n.name}"
    if n.input:
        n.input[rnd.randrange(len(n.input))] = rnd.choice(_tensor_names(m))
        return f"inputs: rewire {n.name}"
    return "inputs: nothing"


_INSERT = ["Relu", "Identity", "Dropout", "Sign", "Mul", "Add", "Sub", "Div", "BatchNormalization",
           "MaxPool", "Flatten", "Softmax", "LogSoftmax", "Cast", "Neg", "sign_pattern", "Gemm"]


def mut_insert(m, rnd):
    """Insert a node into the chain after a random tensor (its consumers read the new node)."""
    chain = _chain_tensors(m)
    if not chain:
        return "insert: no chain"
    t = rnd.choice(chain)
    op = rnd.choice(_INSERT)
    k = len(m.graph.node)
    new = f"ins{k}_{op}"
    g = np.random.default_rng(rnd.randrange(2**32))
    consts = []
    attrs = {}
    extra = []
    ch = rnd.choice([1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 128])

    def c(arr, dtype=np.float32):
        name = f"{new}_c{len(consts)}"
        consts.append(numpy_helper.from_array(np.asarray(arr, dtype=dtype), name))
        return name

    if op in ("Mul", "Add", "Sub", "Div"):
        shape = rnd.choice([(), (1,), (ch,), (ch, 1, 1), (1, ch)])
        vals = g.normal(0, 3, shape) if rnd.random() < 0.7 else np.full(shape, rnd.choice(SPECIAL))
        extra = [c(vals)]
    elif op == "BatchNormalization":
        extra = [c(g.normal(0, 1, ch)), c(g.normal(0, 1, ch)), c(g.normal(0, 5, ch)), c(g.uniform(0.1, 3, ch))]
    elif op == "MaxPool":
        k2 = rnd.choice([1, 2, 3])
        attrs = dict(kernel_shape=[k2, k2], strides=[rnd.choice([1, 2, k2])] * 2)
    elif op == "Flatten":
        attrs = dict(axis=1)
    elif op in ("Softmax", "LogSoftmax"):
        attrs = dict(axis=rnd.choice([1, -1]))
    elif op == "Cast":
        attrs = dict(to=rnd.choice([TensorProto.FLOAT, TensorProto.FLOAT, TensorProto.DOUBLE]))
    elif op == "Gemm":
        extra = [c(pm1(g, ch, rnd.choice([1, 4, 5, 7, 9, 10, 12, 20, 64])))]
        attrs = dict(transB=1)
    nodes = []
    if op == "sign_pattern":
        cmp = rnd.choice(["Greater", "GreaterOrEqual", "Less"])
        a, b = rnd.choice([(1.0, -1.0), (-1.0, 1.0), (1.0, -1.0)])
        nodes.append(helper.make_node(cmp, [t, c(0.0)], [new + "_cmp"], name=new + "_cmp"))
        nodes.append(helper.make_node("Where", [new + "_cmp", c([a]), c([b])], [new], name=new))
    else:
        nodes.append(helper.make_node(op, [t] + extra, [new], name=new, **attrs))
    _rewire(m, t, new)
    for nd in nodes:  # _rewire also changed the new nodes' reads of t: restore them
        for i, x in enumerate(nd.input):
            if x == new and nd.op_type != "Where":
                nd.input[i] = t
    pos = 0
    for i, n in enumerate(m.graph.node):
        if t in n.output:
            pos = i + 1
    for nd in reversed(nodes):
        m.graph.node.insert(pos, nd)
    m.graph.initializer.extend(consts)
    return f"insert: {op} after {t}"


def mut_tie(m, rnd):
    """Put a BatchNormalization's threshold exactly on an integer accumulator (ties), or make
    its scale 0 or negative: the cases where x > 0 and x >= 0 differ."""
    bns = [n for n in m.graph.node if n.op_type == "BatchNormalization" and len(n.input) == 5]
    if not bns:
        return mut_init_value(m, rnd)
    n = rnd.choice(bns)
    inits = {t.name: t for t in m.graph.initializer}
    if any(t not in inits for t in n.input[1:5]):
        return "tie: parameters are not initializers"
    ch = numpy_helper.to_array(inits[n.input[1]]).shape[0]
    g = np.random.default_rng(rnd.randrange(2**32))
    eps = next((a.f for a in n.attribute if a.name == "epsilon"), 1e-5)
    gamma = g.choice([1.0, -1.0, 2.0, -0.5, 0.0, 0.25], ch)
    mean = g.integers(-6, 7, ch).astype(np.float64)
    var = np.full(ch, rnd.choice([1.0 - eps, 1.0, 4.0 - eps, 0.25]))
    beta = np.where(g.random(ch) < 0.5, 0.0, g.choice([0.5, -0.5, 1.0, -1.0], ch))
    for t, v in zip(n.input[1:5], (gamma, beta, mean, var)):
        inits[t].CopyFrom(numpy_helper.from_array(v.astype(np.float32), t))
    return f"tie: {n.name}"


def mut_float_attr(m, rnd):
    """Realistic values for the float attributes that change the arithmetic: Gemm alpha/beta,
    BatchNormalization epsilon."""
    cands = [(n, a) for n in m.graph.node for a in
             {"Gemm": ("alpha", "beta"), "BatchNormalization": ("epsilon",)}.get(n.op_type, ())]
    if not cands:
        return mut_tie(m, rnd)
    n, name = rnd.choice(cands)
    v = rnd.choice({"alpha": [0.5, 2.0, -1.0, 0.1, 3.0, 1e-3, 0.0], "beta": [2.0, 0.5, -1.0, 0.0, 0.3],
                    "epsilon": [1e-3, 0.1, 1.0, 0.0, 1e-7, 2.5]}[name])
    for a in list(n.attribute):
        if a.name == name:
            n.attribute.remove(a)
    n.attribute.append(helper.make_attribute(name, float(v)))
    return f"float attr: {n.name}.{name}={v}"


def mut_opset(m, rnd):
    v = rnd.choice([1, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17, 18, 21, 23, 24, 30])
    if m.opset_import:
        m.opset_import[0].version = v
    return f"opset: {v}"


def mut_output(m, rnd):
    r = rnd.random()
    names = _tensor_names(m)
    if r < 0.5 and m.graph.output:
        m.graph.output[0].name = rnd.choice(names + ["nope"])
        return "output: renamed"
    if r < 0.8:
        m.graph.output.append(helper.make_tensor_value_info(rnd.choice(names), TensorProto.FLOAT, None))
        return "output: added"
    if m.graph.input:
        m.graph.input.append(helper.make_tensor_value_info("extra_in", TensorProto.FLOAT, ["N", 3]))
    return "input: added"


MODEL_MUTATIONS = [(mut_float_attr, 1), (mut_attr, 4), (mut_input_shape, 1), (mut_init_value, 5), (mut_init_dims, 1),
                   (mut_constant, 1), (mut_order, 1), (mut_op_type, 2), (mut_delete, 2), (mut_inputs, 1),
                   (mut_insert, 6), (mut_opset, 1), (mut_output, 1), (mut_tie, 3)]


def mutate_bytes(data: bytes, rnd: random.Random) -> tuple[bytes, str]:
    b = bytearray(data)
    if not b:
        return bytes([rnd.randrange(256)]), "bytes: one byte"
    r = rnd.random()
    if r < 0.35:
        for _ in range(rnd.randint(1, 8)):
            i = rnd.randrange(len(b))
            b[i] ^= 1 << rnd.randrange(8)
        return bytes(b), "bytes: flip bits"
    if r < 0.55:
        for _ in range(rnd.randint(1, 4)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        return bytes(b), "bytes: overwrite"
    if r < 0.7:
        return bytes(b[: rnd.randrange(len(b))]), "bytes: truncate"
    if r < 0.85:
        i = rnd.randrange(len(b) + 1)
        ins = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 16)))
        return bytes(b[:i] + ins + b[i:]), "bytes: insert"
    i = rnd.randrange(len(b))
    j = min(len(b), i + rnd.randint(1, 64))
    return bytes(b[:i] + b[j:]), "bytes: delete"


# mutations that mostly keep a compilable model: they test the arithmetic, not the checks
SEMANTIC_MUTATIONS = [(mut_insert, 4), (mut_tie, 4), (mut_init_value, 2), (mut_float_attr, 3)]


def mutate(data: bytes, rnd: random.Random, n: int, semantic: bool = False) -> tuple[bytes, list[str]]:
    """n mutations; a model-level one works on the parsed model, a byte-level one on the file.
    ``semantic``: only the mutations that mostly keep the model compilable."""
    log = []
    for _ in range(n):
        if not semantic and rnd.random() < 0.2:
            data, what = mutate_bytes(data, rnd)
            log.append(what)
            continue
        m = onnx.ModelProto()
        try:
            m.ParseFromString(data)
        except Exception:
            data, what = mutate_bytes(data, rnd)
            log.append(what)
            continue
        fns, weights = zip(*(SEMANTIC_MUTATIONS if semantic else MODEL_MUTATIONS))
        fn = rnd.choices(fns, weights)[0]
        try:
            with np.errstate(all="ignore"):
                log.append(fn(m, rnd))
        except Exception as e:  # a mutation that does not apply to this model
            log.append(f"{fn.__name__} skipped ({type(e).__name__})")
            continue
        data = m.SerializeToString()
    return data, log


# ------------------------------------------------------------------------------ oracle
@dataclass
class Outcome:
    kind: str          # "equal", "ort-rejects", "too-big", "error", or a failure kind
    detail: str = ""   # the error message, or what went wrong
    key: str = ""      # grouping key for counts

    @property
    def ok(self) -> bool:
        return self.kind in ("equal", "ort-rejects", "too-big", "error", "near-tie")


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def error_key(msg: str) -> str:
    """The start of an error message without names and numbers: groups messages by kind."""
    s = re.sub(r"'[^']*'", "'_'", msg)
    s = re.sub(r"\([A-Za-z]+\)", "(Op)", s)
    s = re.sub(r"-?\d+(\.\d+)?(e[-+]?\d+)?", "N", s)
    s = re.sub(r"\[[^\]]*\]", "[..]", s)
    return s[:70]


def pre_softmax_tensor(m: onnx.ModelProto) -> str:
    """The tensor fastinference returns as scores: the graph output, walked back through
    Identity/Dropout and the one final (Log)Softmax."""
    prod = {o: n for n in m.graph.node for o in n.output if o}
    t = m.graph.output[0].name
    softmax_seen = False
    while t in prod:
        n = prod[t]
        cast_f = n.op_type == "Cast" and any(a.name == "to" and a.i == TensorProto.FLOAT for a in n.attribute)
        if n.op_type in ("Identity", "Dropout") or cast_f or \
                (n.op_type in ("Softmax", "LogSoftmax") and not softmax_seen):
            softmax_seen |= n.op_type in ("Softmax", "LogSoftmax")
            t = n.input[0]
            continue
        break
    return t


U32 = 2.0 ** -24  # unit roundoff of float32


def _f32_steps(steps, v):
    """The float32 steps exactly as float_chain.eval_steps (and onnxruntime) evaluate them;
    v is (N, C, ...) with the channels on axis 1."""
    from fastinference.passes.float_chain import apply_step
    y = np.asarray(v, dtype=np.float32)
    for op, c in steps:
        if c is not None:
            c = np.asarray(c, dtype=np.float32)
            c = c.reshape(c.shape[:-1] + (c.shape[-1],) + (1,) * (y.ndim - 2))
        y = apply_step(op, c, y)
    return y


def ambiguous_rows(source, x: np.ndarray) -> np.ndarray:
    """Which rows of ``x`` pass a sign whose input float32 may legitimately land on either side.

    ``source`` is the float-op chain the frontend read (``net.source``). It is evaluated with
    the integer accumulators exact (float64) and, for a Gemm/MatMul/Conv whose weights are not
    integers (rows ``s * (+-1)``), the worst-case error of a float32 dot product in any order,
    ``e = K * u * sum|w||x|`` (Higham's bound, u = 2^-24). The float ops up to the sign are then
    evaluated in float32 at both ends of ``[acc - e, acc + e]`` (they are monotone per channel);
    a unit whose two ends fall on different sides of the sign is a near-tie: onnxruntime's
    answer there depends on its summation order, not on the exact value, and no integer
    threshold can follow it. Layers with integer weights get ``e = 0``: their sign must match
    exactly, ties included, so a mismatch there is always a bug."""
    from fastinference import ir
    N = x.shape[0]
    v = x.astype(np.float64)  # the data, without the batch dim in shapes
    e = np.zeros_like(v)
    pending = []  # float32 steps since the last exact accumulator
    acc_lo = acc_hi = None
    amb = np.zeros(N, dtype=bool)
    for l in source.layers:
        if isinstance(l, (ir.Gemm, ir.Conv)):
            W = l.weights.astype(np.float64)
            exact = np.all(W == np.round(W))
            if isinstance(l, ir.Gemm):
                xf = v.reshape(N, -1)
                acc = xf @ W.T
                mag = np.abs(xf) @ np.abs(W).T
                K = W.shape[1]
            else:
                pt, pl, pb, pr = l.pads
                xp = np.pad(v, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
                kh, kw = W.shape[2:]
                sh, sw = l.stride
                OH, OW = l.out_shape[1:]
                win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
                win = win[:, :, ::sh, ::sw][:, :, :OH, :OW]  # N, C, OH, OW, kh, kw
                acc = np.einsum("nchwij,mcij->nmhw", win, W)
                mag = np.einsum("nchwij,mcij->nmhw", np.abs(win), np.abs(W))
                K = int(np.prod(W.shape[1:]))
            err = np.zeros_like(acc) if exact and mag.max(initial=0) < 2 ** 24 else (K + 1) * U32 * mag
            acc_lo, acc_hi = acc - err, acc + err
            pending = []
            v, e = acc, err
        elif isinstance(l, ir.Affine):
            pending += l.steps
        elif isinstance(l, ir.Relu):
            pending.append(("relu", None))
        elif isinstance(l, ir.MaxPool):
            def pool(a, l=l):
                kh, kw = l.kernel
                sh, sw = l.stride
                OH, OW = l.out_shape[1:]
                w = np.lib.stride_tricks.sliding_window_view(a, (kh, kw), axis=(2, 3))
                return w[:, :, ::sh, ::sw][:, :, :OH, :OW].max(axis=(-2, -1))
            if pending or acc_lo is None:  # after a float op: pool the current values
                v = pool(v)
                acc_lo = acc_hi = None
            else:  # right after the accumulator: pool both ends (max is monotone)
                acc_lo, acc_hi = pool(acc_lo), pool(acc_hi)
                v = pool(v)
        elif isinstance(l, ir.SignAct):
            if acc_lo is None:
                return np.ones(N, dtype=bool)  # not a pattern this check understands: do not judge
            lo = _f32_steps(pending, np.minimum(acc_lo, acc_hi).astype(np.float32))
            hi = _f32_steps(pending, np.maximum(acc_lo, acc_hi).astype(np.float32))
            mid = _f32_steps(pending, ((acc_lo + acc_hi) / 2).astype(np.float32))
            if l.mode == "ge":
                d_lo, d_hi, d_mid = lo >= 0, hi >= 0, mid >= 0
            else:
                d_lo, d_hi, d_mid = lo > 0, hi > 0, mid > 0
            wide = (acc_hi - acc_lo) > 0
            amb |= (wide & ((d_lo != d_mid) | (d_hi != d_mid))).reshape(N, -1).any(axis=1)
            v = np.where(d_mid, 1.0, -1.0)
            e = np.zeros_like(v)
            acc_lo = acc_hi = None
            pending = []
        elif isinstance(l, ir.Flatten):
            v = v.reshape(N, -1)
            if acc_lo is not None:
                acc_lo, acc_hi = acc_lo.reshape(N, -1), acc_hi.reshape(N, -1)
    return amb


def ort_scores(m: onnx.ModelProto, x: np.ndarray, tensor: str) -> np.ndarray:
    import onnxruntime as ort
    m = copy.deepcopy(m)
    if tensor not in [o.name for o in m.graph.output]:
        m.graph.output.append(helper.make_tensor_value_info(tensor, TensorProto.FLOAT, None))
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 4
    s = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    inp = s.get_inputs()[0]
    batch = inp.shape[0] if inp.shape and isinstance(inp.shape[0], int) and inp.shape[0] > 0 else None
    if batch is not None and batch != x.shape[0]:  # a fixed batch: run in chunks of that size
        outs = []
        for i in range(0, x.shape[0], batch):
            chunk = x[i:i + batch]
            pad = batch - chunk.shape[0]
            if pad:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)])
            outs.append(_ort_run(s, inp, chunk, tensor)[: batch - pad])
        return np.concatenate(outs)
    return _ort_run(s, inp, x, tensor)


def _ort_run(s, inp, x, tensor):
    dt = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
          "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(uint8)": np.uint8}.get(inp.type, np.float32)
    return s.run([tensor], {inp.name: x.astype(dt)})[0]


def check_model_bytes(data: bytes, workdir: str, rng_seed: int = 0, time_limit: float = TIME_LIMIT,
                      input_format: tuple[int, bool] = (8, False)) -> Outcome:
    """Load ``data`` with fastinference for ``input_format`` = (input bits, signed) and judge
    the outcome (see the module docstring)."""
    import fastinference as fi
    from fastinference.errors import FastInferenceError

    bits, signed = input_format
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    path = os.path.join(workdir, "fuzz.onnx")
    with open(path, "wb") as f:
        f.write(data)
    use_alarm = time_limit and hasattr(signal, "SIGALRM") and \
        __import__("threading").current_thread() is __import__("threading").main_thread()
    if use_alarm:
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, time_limit)
    try:
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                net, failure = fi.load(path, input_bits=bits, input_signed=signed), None
            except FastInferenceError as e:
                net, failure = None, e
        if caught:  # the command line would print it: more than the one error line on stderr
            w = caught[0]
            return Outcome("stray-warning", f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})",
                           "stray-warning")
        if failure is not None:
            e = failure
            msg = str(e)
            if e.exit_code != 2:
                return Outcome("bad-exit-code", f"{type(e).__name__} exit {e.exit_code}: {msg}", "bad-exit-code")
            if not msg.strip() or "\n" in msg:
                return Outcome("bad-message", repr(msg), "bad-message")
            return Outcome("error", msg, error_key(msg.replace(path, "MODEL")))
        try:
            shape = tuple(net.model.input_shape)
            if int(np.prod(shape)) * N_ROWS > MAX_RUN_ELEMS:
                return Outcome("too-big", f"input {shape}", "too-big")
            rng = np.random.default_rng(rng_seed)
            x = rng.integers(lo, hi + 1, (N_ROWS,) + shape)
            x[0] = lo
            x[1] = hi
            got = net.predict(x)
        except FastInferenceError as e:  # valid inputs: the model compiled, so this is a bug
            return Outcome("predict-error", f"{type(e).__name__}: {e}", "predict-error")
        m = onnx.load_from_string(data)
        tensor = pre_softmax_tensor(m)
        try:
            want = ort_scores(m, x.astype(np.float32), tensor)
        except _Timeout:
            raise
        except Exception as e:
            return Outcome("ort-rejects", f"{type(e).__name__}: {' '.join(str(e).split())[:200]}", "ort-rejects")
        want = np.asarray(want, dtype=np.float64).reshape(N_ROWS, -1)
        if got.shape != want.shape:
            return Outcome("mismatch", f"shape {got.shape} vs onnxruntime {want.shape}", "mismatch")
        if not np.all(np.isfinite(want)) or not np.array_equal(want, np.round(want)):
            return Outcome("mismatch", "onnxruntime scores are not integers but the model compiled", "mismatch")
        if not np.array_equal(got, want.astype(np.int64)):
            rows = np.flatnonzero((got != want).any(1))
            amb = ambiguous_rows(net.source, x)
            r = int(rows[0])
            if amb[rows].all():
                return Outcome("near-tie", f"rows {rows.tolist()} differ; each passes a sign within the "
                                           "float32 rounding bound of its threshold", "compiled, near-tie")
            r = int(rows[~amb[rows]][0])
            return Outcome("mismatch", f"row {r}: fastinference {got[r].tolist()} vs onnxruntime "
                                       f"{want[r].astype(np.int64).tolist()}", "mismatch")
        return Outcome("equal", "", "compiled+equal")
    except _Timeout:
        return Outcome("timeout", f"more than {time_limit} s", "timeout")
    except MemoryError:
        return Outcome("crash", "MemoryError", "crash: MemoryError")
    except Exception as e:
        tb = traceback.format_exc(limit=-4)
        return Outcome("crash", f"{type(e).__name__}: {e}\n{tb}", f"crash: {type(e).__name__}")
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)


def run_case(seeds: dict[str, bytes], seed: int, index: int, workdir: str, semantic: bool = False):
    """Case ``index`` of run ``seed``: deterministic. -> (seed model, mutations, Outcome)."""
    rnd = random.Random(f"{seed}:{index}:{'s' if semantic else ''}")
    name = rnd.choice(sorted(seeds))
    n = rnd.choice([1, 1, 2, 2, 3])
    data, log = mutate(seeds[name], rnd, n, semantic)
    # the format from its own stream: the mutations of a (seed, index) stay what they were
    bits, signed = random.Random(f"{seed}:{index}:format").choice(FORMATS)
    out = check_model_bytes(data, workdir, rng_seed=index, input_format=(bits, signed))
    return name, log + [f"input {bits}-bit {'signed' if signed else 'unsigned'}"], out


# --------------------------------------------------------------------------------- main
_SEEDS = None
_WORKDIR = None


def _worker_init():
    global _SEEDS, _WORKDIR
    import warnings
    warnings.simplefilter("ignore")
    _SEEDS = seed_models()
    _WORKDIR = tempfile.mkdtemp(prefix="fi-fuzz-")


def _work(args):
    seed, index, semantic = args
    name, log, out = run_case(_SEEDS, seed, index, _WORKDIR, semantic)
    return index, name, log, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000, help="number of mutated models (default 10000)")
    ap.add_argument("--seed", type=int, default=0, help="run seed: the same seed gives the same models")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    ap.add_argument("--semantic", action="store_true",
                    help="only mutations that mostly keep the model compilable (inserted ops, ties, values, "
                         "alpha/beta/epsilon): many more compiled models compared with onnxruntime")
    ap.add_argument("--only", type=int, default=None, metavar="I", help="replay case I of --seed and print it")
    ap.add_argument("--show", type=int, default=3, help="failures to print in full (default 3)")
    ap.add_argument("--top", type=int, default=25, help="error kinds to list (default 25)")
    ap.add_argument("--show-ok", default=None, metavar="KIND",
                    help="also print up to --show cases of this accepted outcome (e.g. ort-rejects)")
    a = ap.parse_args(argv)
    if a.n < 1 or a.jobs < 1:
        ap.error("--n and --jobs must be at least 1")

    if a.only is not None:
        _worker_init()
        _, name, log, out = _work((a.seed, a.only, a.semantic))
        print(f"case {a.only} (seed {a.seed}): {name} + {log}\n-> {out.kind}: {out.detail}")
        return 0 if out.ok else 1

    t0 = time.time()
    counts = collections.Counter()
    errors = collections.Counter()
    failures = []
    tty = sys.stderr.isatty()
    jobs = [(a.seed, i, a.semantic) for i in range(a.n)]
    if a.jobs == 1:
        _worker_init()
        results = map(_work, jobs)
        pool = None
    else:
        import multiprocessing as mp
        pool = mp.get_context("fork").Pool(a.jobs, initializer=_worker_init)
        results = pool.imap_unordered(_work, jobs, chunksize=8)
    done = shown = 0
    last = 0.0
    for index, name, log, out in results:
        done += 1
        if out.kind == "error":
            counts["clean error"] += 1
            errors[out.key] += 1
        else:
            counts[out.key] += 1
        if not out.ok:
            failures.append((index, name, log, out))
        elif a.show_ok and out.kind == a.show_ok and shown < a.show:
            shown += 1
            print(f"--- case {index} ({out.kind}): {name} + {log}\n    {out.detail}")
        now = time.time()
        if now - last > (1.0 if tty else 30.0) or done == a.n:
            last = now
            line = (f"[fuzz] {done}/{a.n} {now - t0:6.1f}s  equal {counts['compiled+equal']}  "
                    f"errors {counts['clean error']}  failures {len(failures)}")
            sys.stderr.write(("\r" + line) if tty else (line + "\n"))
            sys.stderr.flush()
    if tty:
        sys.stderr.write("\n")
    if pool is not None:
        pool.close()
        pool.join()
    dt = time.time() - t0

    print(f"fuzzed {a.n} mutated models (seed {a.seed}{', semantic' if a.semantic else ''}, "
          f"{a.jobs} job{'s' * (a.jobs > 1)}) in {dt:.1f} s "
          f"({1000 * dt / a.n:.1f} ms each)")
    print("outcomes:")
    for k, v in counts.most_common():
        print(f"  {v:6d}  {k}")
    print(f"clean errors by message start ({len(errors)} kinds; top {a.top}):")
    for k, v in errors.most_common(a.top):
        print(f"  {v:6d}  {k}")
    if failures:
        print(f"FAILURES: {len(failures)} (replay one with --seed {a.seed}{' --semantic' if a.semantic else ''} "
              "--only I)")
        for index, name, log, out in sorted(failures)[: a.show]:
            print(f"--- case {index}: {name} + {log}\n    {out.kind}: {out.detail}")
        kinds = collections.Counter(f.kind for *_, f in failures)
        print("failure kinds:", dict(kinds))
        return 1
    print("no crashes, mismatches or timeouts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
