"""Passes on the data layout: MaxPool on +-1 activations becomes a binary OR pool, MaxPool on
the network input an integer max pool, and Flatten
disappears into the dense layer after it (which keeps the (C, H, W) shape it reads, in ONNX
NCHW order)."""
from __future__ import annotations

from ..errors import UnsupportedModelError
from ..ir import (INPUT, AddJoin, BinaryDense, BinaryLayer, BinaryMaxPool, ConcatJoin, Flatten, IntMaxPool, MaxPool,
                  Model, Threshold, int_bits)
from .base import graph_pass, replace_layers, where


def maxpool_to_binary(model: Model) -> tuple[Model, bool]:
    """Run after ``merge_thresholds``, so that every remaining MaxPool reads bits (after a sign:
    an OR pool; a MaxPool before the sign was moved behind the threshold there) or integers
    (the network input, or a layer's multi-level quantized outputs): an ``IntMaxPool`` in the
    format of those integers."""
    return graph_pass(model, _maxpool_to_binary)


def _maxpool_to_binary(model: Model):
    layers, changed = [], False
    # per tensor: the integers flowing there as (bits, signed), or None: bits
    fmts = {INPUT: (int(model.input_bits), bool(model.input_signed))}
    for l in model.layers:
        fmt = fmts[l.inputs[0]]
        if isinstance(l, MaxPool):
            if any(l.pads):
                what = ("ONNX pads a MaxPool with -inf, a value the integer hardware does not have"
                        if fmt is not None else "padding does not exist on +-1 activations")
                raise UnsupportedModelError(
                    f"{where(l)}: MaxPool with padding is not supported ({what}); use padding=0")
            common = dict(name=l.name, source_nodes=l.source_nodes, in_shape=l.in_shape,
                          out_shape=l.out_shape, inputs=l.inputs, kernel=tuple(int(v) for v in l.kernel),
                          stride=tuple(int(v) for v in l.stride))
            l = IntMaxPool(**common, bits=fmt[0], signed=fmt[1]) if fmt is not None else BinaryMaxPool(**common)
            changed = True
        if isinstance(l, (BinaryLayer, Threshold)):
            kind = l.output_kind
            fmt = (int(l.out_bits), bool(l.out_signed)) if kind == "int" else None
        elif isinstance(l, (AddJoin, ConcatJoin)):
            st = l.out_stream
            fmt = None if st.kind == "bits" else int_bits(st.lo, st.hi)
        layers.append(l)
        fmts[l.name] = fmt
    return layers, changed, {}


def absorb_flatten(model: Model) -> tuple[Model, bool]:
    if not model.is_chain:
        return graph_pass(model, _absorb_flatten_graph)
    layers = list(model.layers)
    for i, l in enumerate(layers):
        if isinstance(l, Flatten):
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            if nxt is not None and not isinstance(nxt, (BinaryDense, Flatten)) and len(l.in_shape) != 1:
                raise UnsupportedModelError(f"{where(l)}: a flatten must feed a Gemm/MatMul")
            if isinstance(nxt, BinaryDense):
                nxt = nxt.copy()
                nxt.in_shape = tuple(l.in_shape)
                layers[i + 1] = nxt
            elif nxt is None and len(l.in_shape) != 1:
                raise UnsupportedModelError(f"{where(l)}: the network may not end in a flatten of an image")
            del layers[i]
            return replace_layers(model, layers), True
    return model, False


def _absorb_flatten_graph(model: Model):
    """On a graph: the dense layers reading a flatten read its (C, H, W) input in NCHW order;
    a flatten of a vector is a no-op."""
    layers = list(model.layers)
    cons = model.consumers()
    for i, l in enumerate(layers):
        if not isinstance(l, Flatten):
            continue
        users = [u for u in layers if u.name in cons[l.name]]
        if not users and len(l.in_shape) != 1:
            raise UnsupportedModelError(f"{where(l)}: the network may not end in a flatten of an image")
        if len(l.in_shape) != 1 and not all(isinstance(u, (BinaryDense, Flatten)) for u in users):
            raise UnsupportedModelError(f"{where(l)}: a flatten must feed a Gemm/MatMul")
        for u in users:
            k = layers.index(u)
            u = u.copy()
            if isinstance(u, BinaryDense):
                u.in_shape = tuple(l.in_shape)
            layers[k] = u
        del layers[i]
        return layers, True, {l.name: l.inputs[0]}
    return layers, False, {}
