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


# ------------------------------------------------------------------------- graphs
def retarget(layers: list[Layer], mapping: dict[str, str]) -> list[Layer]:
    """Explicit-input layers with every input named in ``mapping`` replaced (chains of
    renames followed), as copies where anything changed."""
    if not mapping:
        return layers

    def final(n):
        seen = set()
        while n in mapping and n not in seen:
            seen.add(n)
            n = mapping[n]
        return n

    out = []
    for l in layers:
        if l.inputs is not None and any(p in mapping for p in l.inputs):
            l = l.copy()
            l.inputs = [final(p) for p in l.inputs]
        out.append(l)
    return out


def graph_pass(model: Model, body) -> tuple[Model, bool]:
    """Run ``body(explicit_model) -> (layers, modified, renames)`` on the model with explicit
    inputs, re-point the inputs named in ``renames`` (a layer merged into or replaced by
    another), and give back the compact model (a chain keeps ``inputs`` None everywhere)."""
    layers, modified, renames = body(model.explicit())
    if not modified:
        return model, False
    m = replace_layers(model, retarget(layers, renames))
    return m.compact(), True


def linked(model: Model, a: Layer, b: Layer, consumers=None) -> bool:
    """``b`` reads ``a`` alone and nothing else reads ``a`` (explicit inputs)."""
    cons = consumers if consumers is not None else model.consumers()
    return b.inputs == [a.name] and cons.get(a.name) == [b.name]
