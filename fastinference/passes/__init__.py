"""Optimizer passes shared by every backend, and the pipeline that lowers a float model
to hardware layers (``lower``)."""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedModelError
from ..ir import AddJoin, BinaryLayer, Model
from .base import apply_until_fixed, where
from .binarize import binarize
from .canonical import canonical_thresholds
from .cleanup import remove_final_softmax, remove_identity
from .joins import lower_joins
from .layout import absorb_flatten, maxpool_to_binary
from .thresholds import finalize_scores, merge_thresholds

PIPELINE = (remove_identity, remove_final_softmax, binarize, merge_thresholds, lower_joins,
            canonical_thresholds, maxpool_to_binary, finalize_scores, absorb_flatten)


def check_lowered(model: Model) -> None:
    if not model.is_chain:
        return check_lowered_graph(model)
    for l in model.layers:
        if not l.is_hardware:
            raise UnsupportedModelError(f"{where(l)}: {l.kind} could not be lowered to hardware "
                                        "(it is not between a binary layer and a sign)")
    compute = model.compute_layers()
    if not compute:
        raise UnsupportedModelError("the network has no Gemm/MatMul/Conv layer")
    for l in compute[:-1]:
        if l.emits_scores:
            raise UnsupportedModelError(f"{where(l)}: a hidden layer must be followed by a sign activation")
    last = compute[-1]
    if not last.emits_scores or model.layers[-1] is not last:
        raise UnsupportedModelError(
            f"{where(model.layers[-1])}: the network must end with a Gemm/MatMul giving the scores "
            "(optionally followed by (Log)Softmax)")
    if any(isinstance(l, BinaryLayer) and l.M == 0 for l in compute):
        raise UnsupportedModelError("a layer has zero outputs")


def check_lowered_graph(model: Model) -> None:
    """The graph form of ``check_lowered``: every layer lowered; an accumulator (a layer
    without a sign) feeds only joins, or is the output; the output gives integer scores."""
    for l in model.layers:
        if not l.is_hardware:
            raise UnsupportedModelError(f"{where(l)}: {l.kind} could not be lowered to hardware "
                                        "(it is not between a binary layer (or a join) and a sign)")
    compute = model.compute_layers()
    if not compute:
        raise UnsupportedModelError("the network has no Gemm/MatMul/Conv layer")
    cons = model.consumers()
    last = model.layers[-1]
    for l in compute:
        if l.emits_scores and l is not last and \
                not all(isinstance(model.layer(u), AddJoin) for u in cons[l.name]):
            raise UnsupportedModelError(f"{where(l)}: a hidden layer must be followed by a sign activation "
                                        "(or be added to another branch by a join)")
    if not ((isinstance(last, BinaryLayer) and last.emits_scores) or isinstance(last, AddJoin)):
        raise UnsupportedModelError(
            f"{where(last)}: the network must end with a Gemm/MatMul giving the scores "
            "(optionally followed by (Log)Softmax)")
    if any(l.M == 0 for l in compute):
        raise UnsupportedModelError("a layer has zero outputs")


def lower(model: Model) -> Model:
    """Float model -> hardware model (each pass applied until it changes nothing)."""
    # float32 overflow (inf) and NaN are part of the arithmetic being mirrored, not news for
    # the user: numpy must not print RuntimeWarnings beside the one-line messages
    with np.errstate(all="ignore"):
        for p in PIPELINE:
            model = apply_until_fixed(model, p)
    check_lowered(model)
    return model
