"""Canonical thresholds, so that equivalent networks compile to identical hardware.

The legacy exporter keeps a negative BatchNorm scale in the BatchNormalization node (the
threshold's direction becomes ``acc <= T``); the dynamo exporter folds it into the weights
(the row's signs flip, the direction stays ``acc >= T``). Both are the same function, and
FINN's FactorOutMulSignMagnitude picks one form: the sign goes into the +-1 weights. So:

* a channel with direction -1 gets its weight row negated: ``acc <= T`` is ``-acc >= -T``
  (a pool before the threshold keeps its AND mode: ``max(acc) <= T`` is ``min(-acc) >= -T``);
* a threshold is moved to the smallest reachable accumulator value at or above it (a binary
  layer's accumulator has the parity of K) and clamped to ``lo .. hi + 1`` of the range.
"""
from __future__ import annotations

import numpy as np

from ..ir import BinaryLayer, Model
from .base import replace_layers


def canonical_thresholds(model: Model) -> tuple[Model, bool]:
    layers, changed = [], False
    for l in model.layers:
        if not isinstance(l, BinaryLayer) or l.thresholds is None:
            layers.append(l)
            continue
        T = l.thresholds.astype(np.int64).copy()
        D = l.directions.astype(np.int8)
        # multi-bit weights keep their direction: negating a row of two's complement weights
        # can overflow (-(-8) in 4 bits), and both exporters give the same QONNX graph anyway
        neg = (D < 0) if l.weight_bits == 1 else np.zeros(l.M, dtype=bool)
        W = l.weights.reshape(l.M, -1)
        W = np.where(neg[:, None], -W, W).astype(l.weights.dtype)
        negT = neg[:, None] if T.ndim == 2 else neg
        T = np.where(negT, -T, T)
        new = l.copy()
        new.weights = W.reshape(l.weights.shape)
        lo, hi = new.acc_range()
        if new.is_binary:
            T = T + ((T - new.K) % 2)  # next value of K's parity (acc = 2*popcount - K)
        T = np.clip(T, lo, hi + 1) if T.ndim == 1 else np.clip(T, lo - 1, hi + 1)
        new.thresholds = T.astype(np.int64)
        new.directions = np.where(neg, 1, D).astype(np.int8)
        if neg.any() or not np.array_equal(new.thresholds, l.thresholds):
            changed = True
            layers.append(new)
        else:
            layers.append(l)
    return replace_layers(model, layers), changed
