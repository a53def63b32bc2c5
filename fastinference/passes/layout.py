"""Passes on the data layout: MaxPool on +-1 activations becomes a binary OR pool, MaxPool on
the network input an integer max pool, and Flatten
disappears into the dense layer after it (which keeps the (C, H, W) shape it reads, in ONNX
NCHW order)."""
from __future__ import annotations

from ..errors import UnsupportedModelError
from ..ir import BinaryDense, BinaryLayer, BinaryMaxPool, Flatten, IntMaxPool, MaxPool, Model
from .base import replace_layers, where


def maxpool_to_binary(model: Model) -> tuple[Model, bool]:
    """Run after ``merge_thresholds``, so that every remaining MaxPool reads bits (after a sign:
    an OR pool; a MaxPool before the sign was moved behind the threshold there) or integers
    (the network input, or a layer's multi-level quantized outputs): an ``IntMaxPool`` in the
    format of those integers."""
    layers, changed = [], False
    fmt = (int(model.input_bits), bool(model.input_signed))  # integers flowing here, or None: bits
    for l in model.layers:
        if isinstance(l, MaxPool):
            if any(l.pads):
                what = ("ONNX pads a MaxPool with -inf, a value the integer hardware does not have"
                        if fmt is not None else "padding does not exist on +-1 activations")
                raise UnsupportedModelError(
                    f"{where(l)}: MaxPool with padding is not supported ({what}); use padding=0")
            common = dict(name=l.name, source_nodes=l.source_nodes, in_shape=l.in_shape,
                          out_shape=l.out_shape, kernel=tuple(int(v) for v in l.kernel),
                          stride=tuple(int(v) for v in l.stride))
            l = IntMaxPool(**common, bits=fmt[0], signed=fmt[1]) if fmt is not None else BinaryMaxPool(**common)
            changed = True
        if isinstance(l, BinaryLayer):
            kind = l.output_kind
            fmt = (int(l.out_bits), bool(l.out_signed)) if kind == "int" else None
        layers.append(l)
    return replace_layers(model, layers), changed


def absorb_flatten(model: Model) -> tuple[Model, bool]:
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
