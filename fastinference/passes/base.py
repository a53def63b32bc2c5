"""Pass protocol (as in qonnx): a pass takes a model and returns ``(model, modified)``.
``apply_until_fixed`` repeats one pass until it changes nothing."""
from __future__ import annotations

from typing import Callable

from ..ir import Layer, Model

Pass = Callable[[Model], tuple[Model, bool]]


def apply_until_fixed(model: Model, p: Pass, limit: int = 1000) -> Model:
    for _ in range(limit):
        model, modified = p(model)
        if not modified:
            return model
    raise RuntimeError(f"pass {p.__name__} did not converge")


def replace_layers(model: Model, layers: list[Layer]) -> Model:
    m = model.copy()
    m.layers = layers
    return m


def where(layer: Layer) -> str:
    """How an error names a layer: its IR name and the ONNX nodes it came from."""
    nodes = ", ".join("".join(c if c.isprintable() else repr(c)[1:-1] for c in str(n))
                      for n in layer.source_nodes)
    return f"layer '{layer.name}' (node {nodes})" if nodes else f"layer '{layer.name}'"
