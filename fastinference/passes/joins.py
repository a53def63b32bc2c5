"""Joins: an ``Add`` of two integer streams becomes an integer adder (``AddJoin``), and the
float ops between it and the sign (or quantizer) after it one threshold unit (``Threshold``)
on the sum; a channel ``Concat`` of two streams of one kind a ``ConcatJoin``.

The common BNN residual form (Bi-Real Net style): ``sign(BN(acc_a + acc_b))``, or an
accumulator plus a shortcut of +-1 activations or integers (the network input, a quantized
activation). The ONNX model adds two float32 tensors that hold integers times a common unit
``u`` (1 for plain exports: +-1 weights, +-1 activations, integer inputs); for ``u`` 1 or a
power of two and sums below 2^24 that float32 sum is exact, so it is ``u * (a + b)`` with
``a + b`` an integer, and the float ops after it are read off as thresholds over the whole
reachable range of ``a + b``, as ``merge_thresholds`` does for one accumulator. Inputs of
different units, or of a unit that is not a power of two, are refused (the float sum would
round), as is a scale or bias on a branch before the Add (put the BatchNorm after the Add).
"""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedModelError
from ..ir import (INPUT, Affine, AddJoin, BinaryLayer, BinaryMaxPool, ConcatJoin, Flatten, IntMaxPool, Join,
                  Layer, MaxPool, Model, QuantAct, Stream, Threshold)
from .base import graph_pass, retarget, where
from .float_chain import EXHAUSTIVE_LIMIT
from .thresholds import (bits_from_steps, binary_pool_after, decreasing_before, follow_to_activation, splice,
                         thresholds_by_search, thresholds_from_bits)

EXACT_SUM = 1 << 24  # float32 holds every integer below this


def lower_joins(model: Model) -> tuple[Model, bool]:
    return graph_pass(model, _lower_joins)


def _int_range(bits: int, signed: bool) -> tuple[int, int]:
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def stream_of(model: Model, layers, pos, name: str):
    """The hardware stream a lowered tensor carries (looking through pools and flattens), or
    None for a value that is not (yet) an integer stream."""
    if name == INPUT:
        return Stream("int", *_int_range(model.input_bits, model.input_signed))
    l = layers[pos[name]]
    if isinstance(l, BinaryLayer):
        kind = l.output_kind
        if kind == "bits":
            return Stream("bits", -1, 1)
        if kind == "int":
            return Stream("int", l.out_offset, l.out_offset + int(np.shape(l.thresholds)[1]))
        if l.bias is not None:
            return None  # the last layer's scores
        return Stream("int", *l.acc_range())
    if isinstance(l, Threshold):
        if l.output_kind == "bits":
            return Stream("bits", -1, 1)
        return Stream("int", l.out_offset, l.out_offset + int(np.shape(l.thresholds)[1]))
    if isinstance(l, (AddJoin, ConcatJoin)):
        return l.out_stream
    if isinstance(l, BinaryMaxPool):
        return Stream("bits", -1, 1)
    if isinstance(l, (MaxPool, Flatten, IntMaxPool)):
        return stream_of(model, layers, pos, l.inputs[0])
    return None


def _operand(model, layers, pos, cons, join: Join, k: int):
    """Input k of a join: (stream, unit, the layer name it reads, layers to drop)."""
    name = join.inputs[k]
    p = None if name == INPUT else layers[pos[name]]
    # an accumulator scaled by one power of two (QONNX weight x input scale): the scale is the unit
    if isinstance(p, Affine) and len(p.steps) == 1 and p.steps[0][0] == "dot" and len(cons[p.name]) == 1:
        src = layers[pos[p.inputs[0]]]
        s = np.asarray(p.steps[0][1], dtype=np.float64).reshape(-1)
        if isinstance(src, BinaryLayer) and src.emits_scores and src.bias is None and cons[src.name] == [p.name]:
            if np.all(s == s[0]):
                return Stream("int", *src.acc_range()), float(s[0]), src.name, [p]
            raise UnsupportedModelError(
                f"{where(join)}: input '{name}' has a scale per channel (weights s*(+-1) with several s, "
                "e.g. a BatchNorm folded into the layer before the Add); the sum of the two branches is "
                "then not an integer sum: put the BatchNorm after the Add, or binarize the weights to +-1")
    st = stream_of(model, layers, pos, name)
    if st is None:
        what = f"'{name}' ({p.kind})" if p is not None else f"'{name}'"
        raise UnsupportedModelError(
            f"{where(join)}: its input {what} is not an integer stream (an accumulator, +-1 activations, "
            "quantized integers or the network input): a float op (BatchNorm, bias, scale, ReLU) sits "
            "between a layer and the join; put the BatchNorm after the Add, before the sign")
    unit = join.in_units[k] if join.in_units is not None else None
    if unit is None:
        unit = getattr(p, "unit", 1.0) if isinstance(p, AddJoin) else 1.0
    return st, float(unit), name, []


def _lower_joins(model: Model):
    layers = list(model.layers)
    cons = model.consumers()
    pos = {t.name: k for k, t in enumerate(layers)}
    for j in layers:
        if isinstance(j, QuantAct) and j.in_unit is not None:
            return _requantizer(model, layers, pos, j), True, {}
        if not isinstance(j, Join):
            continue
        ops = [_operand(model, layers, pos, cons, j, k) for k in range(2)]
        (sa, ua, na, da), (sb, ub, nb, db) = ops
        drop = da + db
        common = dict(name=j.name, source_nodes=j.source_nodes, in_shape=j.in_shape, out_shape=j.out_shape,
                      inputs=[na, nb], in_streams=(sa, sb))
        if ua != ub:
            raise UnsupportedModelError(
                f"{where(j)}: joins integers of different scales ({ua:g} and {ub:g} per unit); a join needs "
                "one scale on both branches (quantize both with the same scale)")
        if j.op == "concat":
            if sa.kind != sb.kind:
                raise UnsupportedModelError(
                    f"{where(j)}: concatenates {sa.kind} and {sb.kind} streams; both branches must give "
                    "+-1 activations (a sign on each branch before the Concat) or integers of one format")
            new = ConcatJoin(**common)
            return _replace(layers, j, drop, [new])
        if not _power_of_two_or_one(ua):
            raise UnsupportedModelError(
                f"{where(j)}: adds integers whose unit {ua:g} is not a power of two: the float32 sum the "
                "model computes rounds; use power-of-two scales on both branches")
        new = AddJoin(**common, unit=ua)
        lo, hi = new.out_range
        if max(-lo, hi) >= EXACT_SUM:
            raise UnsupportedModelError(
                f"{where(j)}: sums up to {max(-lo, hi)} (2^24 or more) are not exact in float32")
        out = [new]
        layers2 = _without(layers, drop)
        pos2 = {t.name: k for k, t in enumerate(layers2)}
        cons2 = Model(model.name, layers2, model.input_shape).consumers()
        found = follow_to_activation(layers2, pos2, cons2, j)
        span = []
        if found is not None:
            steps, _, pool, span, n_pre = found
            steps = ([("mul", np.full(j.out_shape[0], ua, dtype=np.float32))] if ua != 1 else []) + list(steps)
            n_pre += 1 if ua != 1 else 0
            pre_dec = decreasing_before(steps[:n_pre], int(j.out_shape[0]), lo, hi) if pool is not None else None
            out += _threshold_unit(new, steps, span[-1], pool, span, pre_dec)
            # the readers of the activation read the last new layer; re-pointed before the new
            # layers go in (the Threshold takes the activation's name: a pool after it reads it)
            layers2 = retarget(layers2, {span[-1].name: out[-1].name})
        layers2 = splice(layers2, j, span, out)
        return layers2, True, {}
    return layers, False, {}


def _requantizer(model: Model, layers, pos, q: QuantAct) -> list[Layer]:
    """A quantizer on an integer stream (a Brevitas QuantIdentity on a quantized activation, e.g.
    one shared by both branches of a residual block): ``Quant(unit * x)`` per element, an
    N-level ``Threshold`` on the integer input."""
    name = q.inputs[0]
    st = stream_of(model, layers, pos, name)
    if st is None or st.kind != "int":
        raise UnsupportedModelError(
            f"{where(q)}: a quantizer on {'+-1 activations' if st is not None else 'this input'} "
            "(not after a Gemm/MatMul/Conv) is not supported")
    M = int(q.out_shape[0])
    thr = Threshold(name=q.name, source_nodes=list(q.source_nodes), in_shape=q.in_shape, out_shape=q.out_shape,
                    inputs=[name], in_stream=st)
    from .multithreshold import multi_thresholds
    T, D, offset = multi_thresholds([("mul", np.full(M, q.in_unit, dtype=np.float32))], q.spec, thr, st.lo, st.hi)
    thr.thresholds, thr.directions, thr.out_offset = T, D, int(offset)
    thr.out_bits, thr.out_signed = int(q.spec.bits), bool(q.spec.signed)
    return [thr if t is q else t for t in layers]


def _power_of_two_or_one(u: float) -> bool:
    m, _ = np.frexp(u)
    return u > 0 and m == 0.5


def _without(layers, drop):
    gone = {t.name for t in drop}
    return [t for t in layers if t.name not in gone]


def _replace(layers, j, drop, out):
    return splice(_without(layers, drop), j, [], out), True, {}


def _threshold_unit(join: AddJoin, steps, act, pool, span, pre_dec) -> list[Layer]:
    """The Threshold (and a pool moved behind it) for ``act(steps(sum))``."""
    lo, hi = join.out_range
    M = int(join.out_shape[0])
    thr = Threshold(name=act.name, source_nodes=list(dict.fromkeys(n for t in span for n in t.source_nodes)),
                    in_shape=join.out_shape, out_shape=join.out_shape, inputs=[join.name],
                    in_stream=join.out_stream)
    if isinstance(act, QuantAct):
        from .multithreshold import multi_thresholds
        spec = act.spec
        T, D, offset = multi_thresholds(steps, spec, thr, lo, hi)
        thr.thresholds, thr.directions, thr.out_offset = T, D, int(offset)
        thr.out_bits, thr.out_signed = int(spec.bits), bool(spec.signed)
        out = [thr]
        if pool is not None:
            if np.any((D < 0) != pre_dec):
                raise UnsupportedModelError(
                    f"{where(pool)}: a MaxPool before a quantizer whose input decreases with the sum "
                    "(negative BatchNorm scale) is not supported; put the MaxPool after the activation")
            out.append(IntMaxPool(name=pool.name, source_nodes=pool.source_nodes, in_shape=pool.in_shape,
                                  out_shape=pool.out_shape, inputs=[thr.name], kernel=tuple(pool.kernel),
                                  stride=tuple(pool.stride), bits=int(spec.bits), signed=bool(spec.signed)))
        return out
    if (hi - lo + 1) * M <= EXHAUSTIVE_LIMIT:
        acc, bits, y = bits_from_steps(steps, act.mode, M, lo, hi)
        if act.mode == "sign" and np.any(y == 0):
            ch, r = np.argwhere(y == 0)[0]
            raise UnsupportedModelError(
                f"{where(act)}: Sign gives 0 (not +-1) for channel {int(ch)} at the sum {int(acc[r])}; "
                "use torch.where(x > 0, 1, -1) for a binary activation")
        T, D = thresholds_from_bits(acc, bits, thr)
    else:
        if act.mode == "sign":
            raise UnsupportedModelError(f"{where(act)}: Sign (0 at 0) after a join of wide integers is not "
                                        "supported; use torch.where(x > 0, 1, -1)")
        T, D = thresholds_by_search(steps, act.mode, thr, lo, hi)
    thr.thresholds, thr.directions = T.astype(np.int64), D.astype(np.int8)
    out = [thr]
    if pool is not None:
        out.append(binary_pool_after(pool, D, pre_dec, thr.name))
    return out
