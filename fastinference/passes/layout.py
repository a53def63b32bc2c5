"""Passes on the data layout: MaxPool on +-1 activations becomes a binary OR pool, and Flatten
disappears into the dense layer after it (which keeps the (C, H, W) shape it reads, in ONNX
NCHW order)."""
from __future__ import annotations

from ..errors import UnsupportedModelError
from ..ir import BinaryDense, BinaryMaxPool, Flatten, MaxPool, Model
from .base import replace_layers, where


def maxpool_to_binary(model: Model) -> tuple[Model, bool]:
    """Only valid on bits; run after ``merge_thresholds`` so that every remaining MaxPool
    follows a sign (a MaxPool before the sign was moved behind the threshold there)."""
    layers, changed = [], False
    for l in model.layers:
        if isinstance(l, MaxPool):
            if any(l.pads):
                raise UnsupportedModelError(f"{where(l)}: MaxPool with padding is not supported; use padding=0")
            l = BinaryMaxPool(name=l.name, source_nodes=l.source_nodes, in_shape=l.in_shape,
                              out_shape=l.out_shape, kernel=tuple(l.kernel), stride=tuple(l.stride))
            changed = True
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
