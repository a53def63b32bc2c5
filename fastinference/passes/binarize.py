"""Binarize: a Gemm/Conv whose every output row (channel) is ``s_j * (+-1)`` becomes a binary
layer with +-1 weights followed by a per-channel ``dot s_j`` step (omitted when all s_j are 1):
the exact product ``s_j * acc``, as the dot product's mathematical value (ONNX leaves the order
of its float32 sums open), not a float32 multiplication (thresholds.fuse_dot)

``s_j`` is taken as a magnitude (FINN's FactorOutMulSignMagnitude): a row ``-0.3 * (+-1)``
is ``0.3 * (-+1)``, so the sign goes into the weights and the scale is always >= 0. A row of
zeros (a BatchNorm with gamma = 0 folded in) gets +1 weights and scale 0.

The input of each compute layer must be the network input (integers: the first layer) or the
output of a sign activation (bits); anything else is rejected here with the node's name.
"""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedModelError
from ..ir import (INPUT, Affine, AvgPool, BinaryConv, BinaryDense, BinaryLayer, Conv, Flatten, Gemm, Join,
                  MaxPool, Model, QuantAct, Relu, SignAct)
from .base import graph_pass, where


def split_sign_magnitude(layer) -> tuple[np.ndarray, np.ndarray]:
    """weights (M, ...) -> (+-1 int8 weights, per-row magnitude float32). Raises if a row has
    more than one magnitude."""
    W = layer.weights.reshape(layer.weights.shape[0], -1)
    mag = np.abs(W)
    for j in range(W.shape[0]):
        vals = np.unique(mag[j])
        if vals.size != 1:
            raise UnsupportedModelError(
                f"{where(layer)}: output row {j} has weights of {vals.size} magnitudes "
                f"(e.g. {vals[0]:g}, {vals[-1]:g}); hardware needs binary weights (+-1, or "
                "s * (+-1) per row as BatchNorm folding leaves); binarize this layer when training")
    scale = mag[:, 0].astype(np.float32)
    signs = np.where(W < 0, -1, 1).astype(np.int8).reshape(layer.weights.shape)
    return signs, scale


def _weights(l, scale_in: float):
    """(integer weights, weight bits, per-row scale of the accumulator as float64 or None when
    it is 1) of a Gemm/Conv: QONNX integer weights as quantized, else +-1 signs and magnitudes."""
    if l.wq is not None:
        q, bits = l.wq["q"], int(l.wq["bits"])
        scale = l.wq["row_scale"].astype(np.float64) * np.float64(np.float32(scale_in))
        return q.astype(np.int8 if bits <= 8 else np.int64), bits, scale
    signs, scale = split_sign_magnitude(l)
    scale = scale.astype(np.float64) * np.float64(np.float32(scale_in))
    return signs, 1, (None if np.all(scale == 1) else scale)


def binarize(model: Model) -> tuple[Model, bool]:
    """Gemm/Conv -> MVAU (``BinaryDense``/``BinaryConv``) plus an exact ``dot`` step for the
    per-row scale of its accumulator (weight scale times the scale of its input). Tracks what
    flows: ``int`` (integers of ``bits``, ``signed``: the network input, or a QONNX activation
    quantizer's output), ``binary`` (+-1), ``acc`` (an accumulator), ``float``; and the float
    value of one integer unit of the ``int``/``binary`` data (``scale``: 1 for plain exports)."""
    return graph_pass(model, _binarize)


def _binarize(model: Model):
    """``binarize`` on a model with explicit inputs: the state (domain, bits, signed, scale)
    flows along the graph, per layer output."""
    layers, changed, renames = [], False, {}
    scale = float(model.input_quant.scale) if model.input_quant is not None else 1.0
    state = {INPUT: ("int", model.input_bits, model.input_signed, scale)}
    cons = model.consumers()
    for l in model.layers:
        if renames and any(p in renames for p in l.inputs):
            l = l.copy()
            l.inputs = [renames.get(p, p) for p in l.inputs]
        domain, bits, signed, scale = state[l.inputs[0]]
        if isinstance(l, Join):
            domain, bits, signed, scale = _join_state(l, [state[p] for p in l.inputs])
            layers.append(l)
            state[l.name] = (domain, bits, signed, scale)
            continue
        if isinstance(l, (Gemm, Conv)):
            if domain not in ("int", "binary"):
                raise UnsupportedModelError(
                    f"{where(l)}: its input is not binary (no sign activation before it), not quantized "
                    "(no QONNX Quant before it) and not the network input; hardware layers take integers "
                    "or +-1 activations")
            weights, wbits, row_scale = _weights(l, scale)
            xmax = 1 if domain == "binary" else ((1 << (bits - 1)) if signed else (1 << bits) - 1)
            K = int(np.prod(l.weights.shape[1:]))
            wmax = float(np.abs(l.weights).max(initial=0))
            if wmax * K * xmax * scale >= float(np.finfo(np.float32).max):
                raise UnsupportedModelError(
                    f"{where(l)}: weights of magnitude {wmax:g} over {K} inputs of up to "
                    f"{xmax} overflow float32 in the dot product (the ONNX model computes inf there); "
                    "rescale the weights")
            common = dict(name=l.name, source_nodes=l.source_nodes, in_shape=l.in_shape,
                          out_shape=l.out_shape, weights=weights, input_kind=domain,
                          input_bits=bits if domain == "int" else 1,
                          input_signed=signed if domain == "int" else False, weight_bits=wbits)
            if isinstance(l, Conv):
                if domain == "binary" and any(l.pads):
                    raise UnsupportedModelError(
                        f"{where(l)}: zero padding of a binary conv would feed 0 into a +-1 layer; "
                        "use padding=0 for convs after the first layer")
                layers.append(BinaryConv(**common, stride=tuple(l.stride), pads=tuple(l.pads)))
            else:
                layers.append(BinaryDense(**common))
            layers[-1].inputs = list(l.inputs)
            if row_scale is not None:
                layers.append(Affine(name=l.name + "_scale", source_nodes=l.source_nodes,
                                     in_shape=l.out_shape, out_shape=l.out_shape, inputs=[l.name],
                                     steps=[("dot", row_scale)]))  # exact: see thresholds.fuse_dot
                renames[l.name] = l.name + "_scale"
            domain, changed = "acc", True
            _check_fork(l, cons, domain)
            state[l.name] = state[layers[-1].name] = (domain, bits, signed, scale)
            continue
        if isinstance(l, BinaryLayer):  # already lowered (the driver runs passes to a fixed point)
            domain = "acc" if l.emits_scores else "binary"
        elif isinstance(l, SignAct):
            if domain == "int":
                raise UnsupportedModelError(f"{where(l)}: a sign directly on the network input is not supported")
            domain, scale = "binary", float(l.scale)
        elif isinstance(l, QuantAct):
            if domain == "binary":
                raise UnsupportedModelError(
                    f"{where(l)}: a quantizer on +-1 activations (not after a Gemm/MatMul/Conv) is not supported")
            if domain == "int":  # a requantizer (lowered to a Threshold by lower_joins)
                l.in_unit = float(scale)
            domain, bits, signed, scale = "int", l.spec.bits, l.spec.signed, float(l.spec.scale)
        elif isinstance(l, AvgPool):
            raise UnsupportedModelError(
                f"{where(l)}: AveragePool is not lowered to hardware; use MaxPool, or fold the "
                "average into the next layer (a window sum is a Conv with ones as weights) and "
                "re-export")
        elif isinstance(l, (Affine, Relu, AvgPool)):
            if domain in ("int", "binary"):
                raise UnsupportedModelError(
                    f"{where(l)}: {l.kind} on the network input or on +-1 activations is not supported; "
                    "feed the raw integers to the first Gemm/Conv")
            domain = "acc" if domain == "acc" else "float"
        elif not isinstance(l, (MaxPool, Flatten)) and not l.is_hardware:
            raise UnsupportedModelError(f"{where(l)}: {l.kind} cannot be lowered to hardware")
        _check_fork(l, cons, domain)
        layers.append(l)
        state[l.name] = (domain, bits, signed, scale)
    return layers, changed, {}


def _check_fork(l, cons, domain: str) -> None:
    """A fork (a tensor read by several layers) must carry integers or +-1 activations: an
    accumulator or a float value on its way to a threshold is one layer's private input."""
    users = list(dict.fromkeys(cons.get(l.name, [])))
    if len(users) > 1 and domain in ("acc", "float"):
        raise UnsupportedModelError(
            f"{where(l)}: its output feeds {len(users)} layers ({', '.join(users)}) before a sign "
            "activation or quantizer; a branch may start from +-1 activations, quantized integers or "
            "the network input only (move the fork after the activation)")


def _join_state(l: Join, ins: list):
    """The state after a join, and ``in_units`` (the float value of one integer unit) of its
    integer/+-1 inputs (None for an accumulator: the join pass reads its scale)."""
    doms = [d for d, *_ in ins]
    l.in_units = [float(s) if d in ("int", "binary") else None for d, _, _, s in ins]
    if l.op == "concat":
        if doms[0] == doms[1] and doms[0] in ("int", "binary") and ins[0] == ins[1]:
            return ins[0]
        what = {"int": "integers", "binary": "+-1 activations", "acc": "an accumulator", "float": "float values"}
        raise UnsupportedModelError(
            f"{where(l)}: concatenates {what[doms[0]]} and {what[doms[1]]}; a Concat joins two branches of "
            "+-1 activations (a sign on each branch before it) or of integers in one format and scale")
    return "acc", 1, False, 1.0
