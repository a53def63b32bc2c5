"""Remove ops that do not change the integer scores: Identity/Dropout, and the final
(Log)Softmax (argmax-invariant; ``predict`` returns the scores that feed it)."""
from __future__ import annotations

from ..errors import UnsupportedModelError
from ..ir import Identity, Model, Softmax
from .base import graph_pass, replace_layers, where


def remove_identity(model: Model) -> tuple[Model, bool]:
    if model.is_chain:
        kept = [l for l in model.layers if not isinstance(l, Identity)]
        return replace_layers(model, kept), len(kept) != len(model.layers)
    return graph_pass(model, _remove_identity)


def _remove_identity(model: Model):
    """On a graph: readers of an Identity read its input."""
    gone = {l.name: l.inputs[0] for l in model.layers if isinstance(l, Identity)}
    return [l for l in model.layers if l.name not in gone], bool(gone), gone


def remove_final_softmax(model: Model) -> tuple[Model, bool]:
    for i, l in enumerate(model.layers):
        if isinstance(l, Softmax) and i != len(model.layers) - 1:
            raise UnsupportedModelError(
                f"{where(l)}: a softmax is only supported as the last op of the network")
    if model.layers and isinstance(model.layers[-1], Softmax):
        return replace_layers(model, model.layers[:-1]), True
    return model, False
