"""Merge the float ops between a binary layer's integer accumulator and the sign that follows
into one integer threshold per channel, with a direction.

For ``y = g*(h - mu)/sqrt(v + eps) + b`` the sign is +1 iff ``y > 0``; with
``tau = mu - b*sqrt(v + eps)/g`` that is ``h >= floor(tau) + 1`` for ``g > 0`` and
``h <= ceil(tau) - 1`` for ``g < 0``; ``g == 0`` gives a constant (``closed_form_threshold``).

The rule we emit is not taken from that formula on trust: every channel's float32 chain (the
same float32 operations onnxruntime performs) is evaluated on the WHOLE reachable integer
range of the accumulator, which is finite (fan-in times input range), and the threshold is
read off that table. The closed form is cross-checked against it in tests. A non-monotone
table (impossible for the supported ops, which are all monotone) is an error, never a guess.

A MaxPool between the accumulator and the sign becomes a binary pool after the threshold:
``thr(max h)`` is ``OR`` of ``thr(h)`` for an increasing threshold and ``AND`` for a
decreasing one (negative BatchNorm scale), per channel.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import UnsupportedModelError
from ..ir import Affine, BinaryLayer, BinaryMaxPool, IntMaxPool, MaxPool, Model, QuantAct, Relu, SignAct
from .base import graph_pass, replace_layers, where
from .float_chain import EXHAUSTIVE_LIMIT, SAMPLES, eval_per_channel, eval_steps, first_true, fuse_dot
from .multithreshold import multi_thresholds


def bits_from_steps(steps, mode: str, M: int, lo: int, hi: int):
    """Evaluate the sign of the float chain for every acc in lo..hi. Returns (acc, bits (M, R), y)."""
    acc = np.arange(lo, hi + 1, dtype=np.int64)
    y = eval_steps(steps, acc, M)
    bits = (y > 0) if mode == "gt" else (y >= 0)
    return acc, bits, y


def thresholds_from_bits(acc: np.ndarray, bits: np.ndarray, layer) -> tuple[np.ndarray, np.ndarray]:
    """A monotone 0/1 table per channel -> (T, direction)."""
    M = bits.shape[0]
    lo, hi = int(acc[0]), int(acc[-1])
    T = np.zeros(M, dtype=np.int64)
    D = np.ones(M, dtype=np.int8)
    d = np.diff(bits.astype(np.int8), axis=1)
    for j in range(M):
        b = bits[j]
        if b.all():
            T[j], D[j] = lo, 1
        elif not b.any():
            T[j], D[j] = hi + 1, 1
        elif (d[j] >= 0).all():
            T[j], D[j] = acc[np.argmax(b)], 1
        elif (d[j] <= 0).all():
            T[j], D[j] = acc[len(b) - 1 - np.argmax(b[::-1])], -1
        else:
            raise UnsupportedModelError(
                f"{where(layer)}: channel {j}: the activation is not monotone in the accumulator; "
                "no integer threshold reproduces it")
    return T, D


def _bit(steps, mode, acc):
    y = eval_per_channel(steps, acc)
    return (y > 0) if mode == "gt" else (y >= 0)


def thresholds_by_search(steps, mode: str, layer, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """The same (T, direction) as the exhaustive table, for accumulator ranges too wide to
    tabulate (many input bits): the float chain is monotone per channel (adds, multiplications
    and divisions by constants, relu; float32 rounding is monotone too), so the sign flips at
    most once and a binary search finds where. Spot checks over the range guard that claim."""
    M = layer.M
    los, his = np.full(M, lo, dtype=np.int64), np.full(M, hi, dtype=np.int64)
    b_lo, b_hi = _bit(steps, mode, los), _bit(steps, mode, his)
    T = np.where(b_lo, lo, hi + 1).astype(np.int64)  # constant channels, as in the table
    D = np.ones(M, dtype=np.int8)
    inc = ~b_lo & b_hi
    dec = b_lo & ~b_hi
    if inc.any():
        T = np.where(inc, first_true(lambda a: _bit(steps, mode, a), los, his), T)
    if dec.any():
        T = np.where(dec, first_true(lambda a: ~_bit(steps, mode, a), los, his) - 1, T)
        D = np.where(dec, -1, D).astype(np.int8)
    rng = np.random.default_rng(0)
    n = max(1, SAMPLES // M)
    acc = np.concatenate([rng.integers(lo, hi + 1, size=(n, M)), np.stack([T - 1, T, T + 1])])
    acc = np.clip(acc, lo, hi)  # (n + 3, M): the evaluation broadcasts the per-channel steps
    bad = (_bit(steps, mode, acc) != np.where(D > 0, acc >= T, acc <= T)).any(axis=0)
    if bad.any():
        j = int(np.argmax(bad))
        raise UnsupportedModelError(
            f"{where(layer)}: channel {j}: the activation is not monotone in the accumulator; "
            "no integer threshold reproduces it")
    return T, D


def _sign_zero_by_search(steps, layer, lo: int, hi: int):
    """For ONNX Sign on a wide range: a reachable accumulator where the float value is exactly
    0 -> (channel, acc), or None."""
    M = layer.M
    los, his = np.full(M, lo, dtype=np.int64), np.full(M, hi, dtype=np.int64)
    up = eval_per_channel(steps, los) <= eval_per_channel(steps, his)
    ge = lambda a: np.where(up, eval_per_channel(steps, a) >= 0, eval_per_channel(steps, a) <= 0)
    gt = lambda a: np.where(up, eval_per_channel(steps, a) > 0, eval_per_channel(steps, a) < 0)
    a, b = first_true(ge, los, his), first_true(gt, los, his)  # zeros: a..b-1
    for j in range(M):
        for acc in (a[j], a[j] + 1):
            if acc < b[j] and lo <= acc <= hi and _reachable(layer, np.array([acc]))[0]:
                return j, int(acc)
    return None


def closed_form_threshold(gamma, beta, mean, var, eps) -> tuple[int | None, int]:
    """The textbook rule for one channel of BatchNorm + (x > 0), in exact real arithmetic.
    Returns (T, direction); T None means constant (g == 0: +1 iff b > 0)."""
    if gamma == 0:
        return None, 1 if beta > 0 else -1
    tau = mean - beta * math.sqrt(var + eps) / gamma
    if gamma > 0:
        return math.floor(tau) + 1, 1
    return math.ceil(tau) - 1, -1


def _reachable(layer: BinaryLayer, acc: np.ndarray) -> np.ndarray:
    if layer.input_kind == "binary":
        return (acc - layer.K) % 2 == 0  # acc = 2*popcount - K has K's parity
    return np.ones(acc.shape, dtype=bool)


def merge_thresholds(model: Model) -> tuple[Model, bool]:
    return graph_pass(model, _merge_thresholds)


def sole_reader(layers, pos, cons, t):
    """The layer that alone reads ``t``'s output, if it reads nothing else; else None."""
    users = cons.get(t.name, [])
    if len(users) != 1:
        return None
    u = layers[pos[users[0]]]
    return u if u.inputs == [t.name] else None


def follow_to_activation(layers, pos, cons, start):
    """From ``start``, the private chain of Affine/Relu/MaxPool ops to a SignAct/QuantAct:
    (steps, same-node flags, pool, the ops after start up to the activation, the number of
    steps before the pool) or None."""
    steps, same, pool, span, n_pre = [], [], None, [], 0
    t = sole_reader(layers, pos, cons, start)
    while t is not None and isinstance(t, (Affine, Relu, MaxPool)):
        if isinstance(t, Affine):
            steps += t.steps
            same += [t.source_nodes == start.source_nodes] * len(t.steps)
        elif isinstance(t, Relu):
            steps.append(("relu", None))
            same.append(False)
        else:
            if pool is not None or any(t.pads):
                raise UnsupportedModelError(
                    f"{where(t)}: only one unpadded MaxPool between a layer and its sign is supported")
            pool, n_pre = t, len(steps)
        span.append(t)
        t = sole_reader(layers, pos, cons, t)
    if t is None or not isinstance(t, (SignAct, QuantAct)):
        return None
    return steps, same, pool, span + [t], n_pre


def decreasing_before(steps, M: int, lo: int, hi: int) -> np.ndarray:
    """Per channel: do the float steps before a pool decrease over lo..hi (a negative scale)?
    A max pool after them is then a min over their input."""
    if not steps:
        return np.zeros(M, dtype=bool)
    y_lo = eval_per_channel(steps, np.full(M, lo, dtype=np.int64))
    y_hi = eval_per_channel(steps, np.full(M, hi, dtype=np.int64))
    return np.asarray(y_lo > y_hi).reshape(-1)


def splice(layers, first, span, out):
    """``layers`` with ``first`` replaced by ``out`` and the layers of ``span`` removed."""
    gone = {t.name for t in span}
    i = next(k for k, t in enumerate(layers) if t.name == first.name)
    return layers[:i] + out + [t for t in layers[i + 1:] if t.name not in gone]


def _merge_thresholds(model: Model):
    layers = list(model.layers)
    cons = model.consumers()
    pos = {t.name: k for k, t in enumerate(layers)}
    for i, l in enumerate(layers):
        if not isinstance(l, BinaryLayer) or not l.emits_scores or l.bias is not None:
            continue
        found = follow_to_activation(layers, pos, cons, l)
        if found is None:
            continue
        steps, same, pool, span, n_pre = found
        sign = span[-1]
        lo, hi = l.acc_range()
        pre_dec = decreasing_before(steps[:n_pre], l.M, lo, hi) if pool is not None else None
        steps = fuse_dot(steps, same, l, lo, hi)
        if isinstance(sign, QuantAct):
            out = _merge_quant(l, steps, sign, pool, span, lo, hi, pre_dec)
            return splice(layers, l, span, out), True, {sign.name: out[-1].name}
        if (hi - lo + 1) * l.M <= EXHAUSTIVE_LIMIT:
            acc, bits, y = bits_from_steps(steps, sign.mode, l.M, lo, hi)
            zero = None
            if sign.mode == "sign":
                z = (y == 0) & _reachable(l, acc)[None, :]
                if z.any():
                    ch, r = np.argwhere(z)[0]
                    zero = (int(ch), int(acc[r]))
            T, D = thresholds_from_bits(acc, bits, l) if zero is None else (None, None)
        else:
            zero = _sign_zero_by_search(steps, l, lo, hi) if sign.mode == "sign" else None
            T, D = thresholds_by_search(steps, sign.mode, l, lo, hi) if zero is None else (None, None)
        if zero is not None:
            raise UnsupportedModelError(
                f"{where(sign)}: Sign gives 0 (not +-1) for channel {zero[0]} at accumulator {zero[1]}; "
                "use torch.where(x > 0, 1, -1) for a binary activation")
        new = l.copy()
        new.thresholds, new.directions = T, D
        new.source_nodes = list(dict.fromkeys(l.source_nodes + [n for t in span for n in t.source_nodes]))
        out = [new]
        if pool is not None:
            new.out_shape = l.out_shape
            out.append(binary_pool_after(pool, D, pre_dec, new.name))
        return splice(layers, l, span, out), True, {sign.name: out[-1].name}
    return layers, False, {}


def binary_pool_after(pool, D, pre_dec, reads: str) -> BinaryMaxPool:
    """A MaxPool moved behind a threshold: OR per channel, AND where the ops after the pool
    decrease (the threshold's direction, flipped where the ops before the pool decrease)."""
    and_ch = (D < 0) != pre_dec
    return BinaryMaxPool(name=pool.name, source_nodes=pool.source_nodes, in_shape=pool.in_shape,
                         out_shape=pool.out_shape, inputs=[reads], kernel=tuple(pool.kernel),
                         stride=tuple(pool.stride), and_channels=and_ch if and_ch.any() else None)


def _merge_quant(l: BinaryLayer, steps, quant: QuantAct, pool, merged, lo: int, hi: int, pre_dec=None) -> list:
    """The layer with N-level thresholds for ``Quant(steps(acc))``, and a MaxPool that sat
    between them moved behind the quantizer as an integer pool (max commutes with a
    non-decreasing staircase)."""
    spec = quant.spec
    T, D, offset = multi_thresholds(steps, spec, l, lo, hi)
    new = l.copy()
    new.thresholds, new.directions, new.out_offset = T, D, int(offset)
    new.out_bits, new.out_signed = int(spec.bits), bool(spec.signed)
    new.source_nodes = list(dict.fromkeys(l.source_nodes + [n for t in merged for n in t.source_nodes]))
    out = [new]
    if pool is not None:
        if np.any((D < 0) != (pre_dec if pre_dec is not None else False)):  # ops after the pool decrease
            raise UnsupportedModelError(
                f"{where(pool)}: a MaxPool before a quantizer whose input decreases with the accumulator "
                "(negative BatchNorm scale) is not supported; put the MaxPool after the activation")
        out.append(IntMaxPool(name=pool.name, source_nodes=pool.source_nodes, in_shape=pool.in_shape,
                              out_shape=pool.out_shape, inputs=[new.name], kernel=tuple(pool.kernel),
                              stride=tuple(pool.stride),
                              bits=int(spec.bits), signed=bool(spec.signed)))
    return out


def _score_scale(model: Model, l: BinaryLayer, steps):
    """A QONNX last layer: a first exact ``dot`` step (weight scale times input scale) is the
    float value of one score unit (``output_scale``); a following bias must be a whole number
    of units (Brevitas' Int32Bias). Returns (scale (M,) float64 or None, remaining steps)."""
    if not steps or steps[0][0] not in ("dot", "dotadd") or not _is_qonnx(model):
        return None, steps
    op, v = steps[0]
    v = np.asarray(v, dtype=np.float64)
    a = v if op == "dot" else v[0]
    rest = list(steps[1:])
    if op == "dotadd":
        rest = [("add", v[1])] + rest
    if rest and rest[0][0] == "add":
        b = np.asarray(rest[0][1], dtype=np.float64)
        units = np.round(b / a)
        if not np.all(np.abs(units * a - b) <= 1e-6 * np.maximum(np.abs(b), a)):
            raise UnsupportedModelError(
                f"{where(l)}: the last layer's bias is not a whole number of score units (weight scale x "
                "input scale); quantize it with Brevitas' Int32Bias, or train the last layer with bias=False")
        rest = [("add", units)] + rest[1:]
    return a, rest


def _is_qonnx(model: Model) -> bool:
    """A network whose scores may carry a scale: a QONNX input quantizer, or multi-bit weights
    (QONNX or post-training quantized)."""
    return model.input_quant is not None or any(
        isinstance(l, BinaryLayer) and l.weight_bits > 1 for l in model.layers)


def _score_layer(model: Model):
    """On a graph: the index of the layer giving the scores (the last layer, or the one
    before the float ops that end the list, each reading the one before alone), or None."""
    m = model.explicit()
    cons = m.consumers()
    i = len(m.layers) - 1
    while i > 0 and isinstance(m.layers[i], Affine) and m.layers[i].inputs == [m.layers[i - 1].name] \
            and cons[m.layers[i - 1].name] == [m.layers[i].name]:
        i -= 1
    return i if i >= 0 and isinstance(m.layers[i], BinaryLayer) else None


def finalize_scores(model: Model) -> tuple[Model, bool]:
    """The last layer's trailing float ops must keep the scores integer: adds of integer
    constants (an integer bias) and multiplications by 1; for a QONNX network, a scale (the
    float value of one score unit, ``output_scale``) and a bias in whole units."""
    layers = list(model.layers)
    if model.is_chain:
        idx = max((i for i, l in enumerate(layers) if isinstance(l, BinaryLayer)), default=None)
    else:
        idx = _score_layer(model)
    if idx is None or not layers[idx].emits_scores or layers[idx].bias is not None:
        return model, False
    l = layers[idx]
    bias = np.zeros(l.M, dtype=np.float64)
    lo, hi = l.acc_range()
    steps = []
    for t in layers[idx + 1:]:
        if not isinstance(t, Affine):
            raise UnsupportedModelError(f"{where(t)}: {t.kind} after the last layer is not supported")
        steps += t.steps
    out_scale, steps = _score_scale(model, l, steps)
    t = layers[idx + 1] if idx + 1 < len(layers) else l  # names the trailing ops in errors
    for op, v in steps:
        v = np.asarray(v, dtype=np.float64)
        if op == "muladd" and np.all(v[0] == 1):  # alpha 1: a plain add of the bias
            op, v = "add", v[1]
        if op == "add" and np.all(v == np.round(v)):
            bias += v
            # onnxruntime adds in float32: exact only while every partial sum is an
            # integer float32 holds exactly (|value| <= 2^24)
            if np.abs(v).max(initial=0) > 2 ** 24 or \
                    np.maximum(np.abs(lo + bias), np.abs(hi + bias)).max(initial=0) > 2 ** 24:
                raise UnsupportedModelError(
                    f"{where(t)}: the last layer's bias (up to {np.abs(v).max():g}) makes scores beyond "
                    "2^24, where float32 (what the ONNX model computes) cannot hold every integer; "
                    "the scores would not be exact")
        elif op in ("mul", "div") and np.all(v == 1):
            pass
        else:
            raise UnsupportedModelError(
                f"{where(t)}: the last layer's output is scaled or has a non-integer bias, so its "
                "scores are not integers; train the last layer with bias=False and no BatchNorm "
                "after it")
    new = l.copy()
    new.bias = bias.astype(np.int64)
    if np.abs(new.bias).max(initial=0) > 2**31 - 1 - l.K * 2**16:
        raise UnsupportedModelError(f"{where(l)}: the bias does not fit 32-bit scores")
    new.source_nodes = list(dict.fromkeys(l.source_nodes + [n for t in layers[idx + 1:] for n in t.source_nodes]))
    model = replace_layers(model, layers[:idx] + [new])
    if out_scale is not None:
        model.output_scale = np.asarray(out_scale, dtype=np.float64)
    return model, True
