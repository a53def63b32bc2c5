"""Passes on the data layout: MaxPool on +-1 activations becomes a binary OR pool, MaxPool on
the network input an integer max pool, and Flatten
disappears into the dense layer after it (which keeps the (C, H, W) shape it reads, in ONNX
NCHW order)."""
from __future__ import annotations

from ..errors import UnsupportedModelError
from ..ir import BinaryDense, BinaryLayer, BinaryMaxPool, Flatten, IntMaxPool, MaxPool, Model
from .base import replace_layers, where


def maxpool_to_binary(model: Model) -> tuple[Model, bool]:
    """Run after ``merge_thresholds``, so that every remaining MaxPool either follows a sign
    (bits: an OR pool; a MaxPool before the sign was moved behind the threshold there) or
    reads the network input (integers: nothing but other pools before it, as ``binarize``
    tracks the domain), which becomes an ``IntMaxPool`` in the input's format."""
    layers, changed = [], False
    on_input = True  # only pools so far: the network input's integers flow here
    multibit = None  # the last compute layer, if it emits integers of more than one bit
    for l in model.layers:
        if isinstance(l, MaxPool):
            if any(l.pads):
                what = ("ONNX pads a MaxPool with -inf, a value the integer hardware does not have"
                        if on_input else "padding does not exist on +-1 activations")
                raise UnsupportedModelError(
                    f"{where(l)}: MaxPool with padding is not supported ({what}); use padding=0")
            common = dict(name=l.name, source_nodes=l.source_nodes, in_shape=l.in_shape,
                          out_shape=l.out_shape, kernel=tuple(int(v) for v in l.kernel),
                          stride=tuple(int(v) for v in l.stride))
            if on_input:
                l = IntMaxPool(**common, bits=int(model.input_bits), signed=bool(model.input_signed))
            elif multibit is not None:
                raise UnsupportedModelError(
                    f"{where(l)}: MaxPool on the {multibit.out_bits}-bit integer outputs of layer "
                    f"'{multibit.name}' is not supported (only on the network input or on +-1 "
                    "activations); move the pool before the quantizer")
            else:
                l = BinaryMaxPool(**common)
            changed = True
        on_input = on_input and isinstance(l, (MaxPool, IntMaxPool))
        if isinstance(l, BinaryLayer):  # multi-bit integer outputs (quantized activations)?
            multibit = l if l.thresholds is not None and int(getattr(l, "out_bits", 1)) > 1 else None
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
