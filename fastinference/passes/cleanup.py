"""Remove ops that do not change the integer scores: Identity/Dropout, and the final
(Log)Softmax (argmax-invariant; ``predict`` returns the scores that feed it)."""
from __future__ import annotations

from ..errors import UnsupportedModelError
from ..ir import Identity, Model, Softmax
from .base import replace_layers, where


def remove_identity(model: Model) -> tuple[Model, bool]:
    kept = [l for l in model.layers if not isinstance(l, Identity)]
    return replace_layers(model, kept), len(kept) != len(model.layers)


def remove_final_softmax(model: Model) -> tuple[Model, bool]:
    for i, l in enumerate(model.layers):
        if isinstance(l, Softmax) and i != len(model.layers) - 1:
            raise UnsupportedModelError(
                f"{where(l)}: a softmax is only supported as the last op of the network")
    if model.layers and isinstance(model.layers[-1], Softmax):
        return replace_layers(model, model.layers[:-1]), True
    return model, False
