"""The arithmetic of the QONNX quantizers, in numpy, exactly as qonnx's executor performs it.

``Quant`` (``IntQuant``): ``q = R(clamp(x / s + z, qmin, qmax))`` and ``y = (q - z) * s``, in
float32 when x and s are float32 (qonnx's ``int_quant``: the division, the addition of the
zero point and the rounding all happen on float32 arrays). ``R`` is the rounding mode: ``ROUND``
is half-to-even (``np.round``). Clamping to integer bounds before rounding is the same as after.

``BipolarQuant``: ``+1`` where ``x >= 0`` (zero maps to +1), else ``-1``, times the scale.

These functions are the single place where fastinference states the QONNX semantics: the
frontend folds weight quantizers with them, the reference quantizes a float input with them, and
the threshold pass evaluates activation quantizers with them over the reachable accumulators.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROUNDING_MODES = ("ROUND", "HALF_EVEN", "CEIL", "FLOOR", "UP", "DOWN", "HALF_UP", "HALF_DOWN")


def min_int(signed: bool, narrow: bool, bits: int) -> int:
    if signed:
        return -(1 << (bits - 1)) + (1 if narrow else 0)
    return 0


def max_int(signed: bool, narrow: bool, bits: int) -> int:
    if signed:
        return (1 << (bits - 1)) - 1
    return (1 << bits) - 1 - (1 if narrow else 0)


def round_fn(mode: str):
    """numpy rounding for a QONNX rounding mode (as qonnx's ``resolve_rounding_mode``)."""
    m = mode.upper()
    if m in ("ROUND", "HALF_EVEN"):
        return np.round
    if m == "CEIL":
        return np.ceil
    if m == "FLOOR":
        return np.floor
    if m == "UP":
        return lambda x: np.sign(x) * np.ceil(np.abs(x))
    if m == "DOWN":
        return np.fix
    if m == "HALF_UP":
        return lambda x: np.sign(x) * np.floor(np.abs(x) + np.float32(0.5))
    if m == "HALF_DOWN":
        return lambda x: np.sign(x) * np.ceil(np.abs(x) - np.float32(0.5))
    raise ValueError(mode)


@dataclass(frozen=True)
class QuantSpec:
    """One integer quantizer: scale (scalar or per channel, float32), zero point, bit width,
    signedness, narrow range and rounding mode. ``q`` lies in ``qmin..qmax``."""

    scale: np.ndarray
    zero_point: float
    bits: int
    signed: bool
    narrow: bool
    rounding: str = "ROUND"

    @property
    def qmin(self) -> int:
        return min_int(self.signed, self.narrow, self.bits)

    @property
    def qmax(self) -> int:
        return max_int(self.signed, self.narrow, self.bits)

    def to_int(self, x: np.ndarray, scale=None) -> np.ndarray:
        """The integer q (int64) that Quant computes for float x (float32 arithmetic)."""
        s = np.asarray(self.scale if scale is None else scale, dtype=np.float32)
        y = np.asarray(x, dtype=np.float32) / s
        y = (y + np.float32(self.zero_point)).astype(np.float32)
        y = np.clip(y, np.float32(self.qmin), np.float32(self.qmax))
        return round_fn(self.rounding)(y).astype(np.int64)

    def dequant(self, q: np.ndarray) -> np.ndarray:
        """y = (q - z) * s in float32, as Quant's output."""
        s = np.asarray(self.scale, dtype=np.float32)
        return ((np.asarray(q, dtype=np.float32) - np.float32(self.zero_point)) * s).astype(np.float32)


def bipolar(x: np.ndarray) -> np.ndarray:
    """BipolarQuant's sign: +1 where x >= 0, else -1 (int64)."""
    return np.where(np.asarray(x) >= 0, 1, -1).astype(np.int64)


def is_power_of_two(s) -> bool:
    s = np.asarray(s, dtype=np.float64).reshape(-1)
    if s.size == 0 or np.any(s <= 0):
        return False
    m, _ = np.frexp(s)
    return bool(np.all(m == 0.5))


@dataclass(frozen=True)
class ThresholdSpec:
    """A FINN/QONNX ``MultiThreshold``: ``out_scale * #{i: x >= T[c, i]} + out_bias``, as the
    same integers ``q = qmin + count`` times ``scale`` as a ``QuantSpec`` (``qmin`` =
    out_bias / out_scale, a whole number). ``thresholds`` (C, N) float32, rows ascending."""

    thresholds: np.ndarray
    scale: float
    qmin: int
    bits: int
    signed: bool
    rounding: str = "THRESHOLDS"

    @property
    def qmax(self) -> int:
        return self.qmin + int(self.thresholds.shape[1])

    def to_int(self, y: np.ndarray) -> np.ndarray:
        """y with channels on axis 0 ((C,) or (C, R)) -> qmin + count of thresholds passed."""
        y = np.asarray(y, dtype=np.float32)
        out = np.empty(y.shape, dtype=np.int64)
        for c in range(y.shape[0]):
            out[c] = np.searchsorted(self.thresholds[c], y[c], side="right")
        return out + self.qmin
