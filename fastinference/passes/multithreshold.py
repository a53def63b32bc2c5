"""Multi-level thresholds: the float ops between an accumulator and a QONNX activation
quantizer (``QuantAct``), turned into N = qmax - qmin integer thresholds per channel.

The quantized output ``q(acc) = Quant(steps(acc))`` is a monotone staircase in the integer
accumulator (every step is monotone per channel, and so is the rounding), so it is exactly
``qmin + #{i: acc >= T[j, i]}`` for an increasing channel, or ``qmin + #{i: acc <= T[j, i]}``
for a decreasing one (a negative BatchNorm scale). T is read off the staircase itself, which is
evaluated with the arithmetic the source graph performs (``float_chain.eval_steps``, then qonnx's
float32 ``Quant`` with its rounding mode, half-to-even for ``ROUND``): over the whole reachable
accumulator range when it is small enough, else by a binary search per level with spot checks.
Nothing is taken from a closed formula, so ties at half steps round exactly as Quant does.
"""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedModelError
from ..quant import QuantSpec
from .base import where
from .float_chain import EXHAUSTIVE_LIMIT, SAMPLES, eval_per_channel, eval_steps, first_true


def _levels_from_table(acc: np.ndarray, q: np.ndarray, spec: QuantSpec, layer):
    """q (M, R) over acc (R,) -> (T (M, N), directions (M,))."""
    M, N = q.shape[0], spec.qmax - spec.qmin
    lo, hi = int(acc[0]), int(acc[-1])
    T = np.zeros((M, N), dtype=np.int64)
    D = np.ones(M, dtype=np.int8)
    d = np.diff(q, axis=1)
    levels = spec.qmin + np.arange(1, N + 1)
    for j in range(M):
        if (d[j] >= 0).all():
            # first acc with q >= level; hi + 1 where none
            idx = np.searchsorted(q[j], levels, side="left")
            T[j] = np.where(idx < acc.size, acc[np.minimum(idx, acc.size - 1)], hi + 1)
        elif (d[j] <= 0).all():
            D[j] = -1
            # last acc with q >= level (q non-increasing): count of q >= level, minus one
            cnt = (q[j][None, :] >= levels[:, None]).sum(axis=1)
            T[j] = np.where(cnt > 0, acc[np.maximum(cnt - 1, 0)], lo - 1)
        else:
            raise UnsupportedModelError(
                f"{where(layer)}: channel {j}: the quantized activation is not monotone in the "
                "accumulator; no integer thresholds reproduce it")
    return T, D


def _levels_by_search(steps, spec: QuantSpec, layer, lo: int, hi: int):
    M, N = layer.M, spec.qmax - spec.qmin
    q_of = lambda a: spec.to_int(eval_per_channel(steps, a))  # a (M,) -> (M,)
    los, his = np.full(M, lo, dtype=np.int64), np.full(M, hi, dtype=np.int64)
    q_lo, q_hi = q_of(los), q_of(his)
    dec = q_lo > q_hi
    D = np.where(dec, -1, 1).astype(np.int8)
    levels = spec.qmin + np.arange(1, N + 1)
    T = np.zeros((M, N), dtype=np.int64)
    for i, lev in enumerate(levels):
        inc_first = first_true(lambda a: q_of(a) >= lev, los, his)     # increasing channels
        dec_first = first_true(lambda a: q_of(a) < lev, los, his) - 1  # decreasing: last acc >= lev
        T[:, i] = np.where(dec, dec_first, inc_first)
    # spot checks: the staircase must equal the thresholds' count everywhere sampled
    rng = np.random.default_rng(0)
    n = max(1, SAMPLES // max(1, M * 8))
    acc = np.clip(np.concatenate([rng.integers(lo, hi + 1, size=(n, M)),
                                  (T.T[:, :, None] + np.array([-1, 0, 1])).transpose(0, 2, 1).reshape(-1, M)]),
                  lo, hi)
    for a in acc:
        want = q_of(a)
        got = np.where(dec, (a[:, None] <= T).sum(axis=1), (a[:, None] >= T).sum(axis=1)) + spec.qmin
        if np.any(want != got):
            j = int(np.argmax(want != got))
            raise UnsupportedModelError(
                f"{where(layer)}: channel {j}: the quantized activation is not monotone in the "
                "accumulator; no integer thresholds reproduce it")
    return T, D


def multi_thresholds(steps, spec: QuantSpec, layer, lo: int, hi: int):
    """(T (M, N), directions (M,), out_offset) for ``Quant(steps(acc))`` over acc in lo..hi."""
    if (hi - lo + 1) * layer.M <= EXHAUSTIVE_LIMIT:
        acc = np.arange(lo, hi + 1, dtype=np.int64)
        q = spec.to_int(eval_steps(steps, acc, layer.M))
        T, D = _levels_from_table(acc, q, spec, layer)
    else:
        T, D = _levels_by_search(steps, spec, layer, lo, hi)
    return T, D, spec.qmin
