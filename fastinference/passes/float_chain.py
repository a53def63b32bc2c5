"""The float arithmetic between an integer accumulator and the activation that follows it,
evaluated exactly as the source graph computes it.

A chain of per-channel steps (``add``, ``mul``, ``div``, ``relu``, ``muladd`` = onnxruntime's
fused Gemm alpha + bias) runs in float32 on integer accumulators; a first ``dot``/``dotadd``
step is a dot product's scale (binarize's ``s * (+-1)`` rows, a QONNX weight scale times input
scale), taken as the exact product rounded once (ONNX leaves the order of a dot product's float
sums open). ``thresholds`` and ``multithreshold`` read integer thresholds off these values.
"""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedModelError
from .base import where


def _round_sum_f32(p: np.ndarray, b: np.ndarray) -> np.ndarray:
    """float32(p + b) with ONE rounding, for p and b float64 (p exact). The float64 sum is made
    exact by TwoSum and rounded to odd, so the final rounding to float32 is the single correct
    one (53 >= 24 + 2 bits)."""
    s = p + b
    bb = s - p
    t = (p - (s - bb)) + (b - bb)  # s + t == p + b exactly
    fix = np.isfinite(s) & (t != 0) & ((s.view(np.int64) & 1) == 0)
    if np.any(fix):
        s = np.where(fix, np.nextafter(s, np.where(t > 0, np.inf, -np.inf)), s)
    return s.astype(np.float32)


def fma_f32(y, a, b) -> np.ndarray:
    """float32(y * a + b) with ONE rounding, as a fused multiply-add computes it (what
    onnxruntime's Gemm does with alpha != 1 and a bias C: MLAS's kernel ends in
    ``alpha * acc + C`` on FMA units). y, a, b float32 (broadcastable); y * a is exact in
    float64 (24 + 24 bits)."""
    y64, a64, b64 = (np.asarray(v, dtype=np.float32).astype(np.float64) for v in (y, a, b))
    return _round_sum_f32(y64 * a64, b64)


EXACT_ACC_LIMIT = 1 << 29  # |acc| below this: acc * s (s float32) is exact in float64


def exact_dot_f32(acc, a, b=None) -> np.ndarray:
    """float32 of the EXACT value ``a * acc + b``, rounded once: the output of a Gemm/Conv whose
    rows are ``a * (+-1)`` (BatchNorm folded in) on integer inputs, with its bias b. ONNX does
    not fix the order in which an implementation sums the K products, so the reference takes
    the mathematical value (``docs``: README, Exactness). acc: integers with |acc| <
    EXACT_ACC_LIMIT; a, b float32 (broadcastable)."""
    acc64 = np.asarray(acc, dtype=np.int64).astype(np.float64)
    a = np.asarray(a, dtype=np.float64)
    a_hi = a.astype(np.float32).astype(np.float64)
    if np.array_equal(a_hi, a):
        p = acc64 * a
        if b is None:
            return p.astype(np.float32)
        return _round_sum_f32(p, np.asarray(b, dtype=np.float32).astype(np.float64))
    # a QONNX scale: the float64 product of two float32 scales (48 bits), split into two float32
    # halves so that both partial products are exact; the dot product is rounded once, a bias
    # is then added in float32 (a MatMul followed by an Add, as ONNX runs it)
    p = _round_sum_f32(acc64 * a_hi, acc64 * (a - a_hi))
    if b is None:
        return p
    return (p + np.asarray(b, dtype=np.float32)).astype(np.float32)


EXACT_OPS = ("dot", "dotadd")  # first steps only: they take the integer accumulator itself


def apply_step(op, v, y: np.ndarray) -> np.ndarray:
    """One float32 step on y (channels on axis 0 of v's broadcast): add, mul, div, relu, and
    muladd (v = [alpha; bias] stacked, fused: see ``fma_f32``)."""
    if op == "relu":
        return np.maximum(y, np.float32(0))
    if op == "muladd":
        return fma_f32(y, v[0], v[1])
    return {"add": np.add, "mul": np.multiply, "div": np.divide}[op](y, v).astype(np.float32)


def _start(steps, acc: np.ndarray, expand: bool):
    """The float32 value the steps start from: float32(acc), or for a first ``dot``/``dotadd``
    step the exactly rounded ``s * acc (+ b)``. Returns (value, remaining steps)."""
    if steps and steps[0][0] in EXACT_OPS:
        op, v = steps[0]
        v = np.asarray(v, dtype=np.float64)  # float32 values, or float64 QONNX scale products
        if expand:
            v = v[..., None]
        y = exact_dot_f32(acc, v) if op == "dot" else exact_dot_f32(acc, v[0], v[1])
        return y, steps[1:]
    return acc.astype(np.float32), steps


def eval_steps(steps, acc: np.ndarray, M: int) -> np.ndarray:
    """float32 evaluation of per-channel steps, in order. acc: (R,) ints -> (M, R) float32."""
    y, steps = _start(steps, acc[None, :], True)
    y = np.broadcast_to(y, (M, acc.size))
    for op, v in steps:
        if op not in ("relu", "add", "mul", "div", "muladd"):  # pragma: no cover
            raise ValueError(op)
        v = None if v is None else np.asarray(v, dtype=np.float32)[..., None]
        y = apply_step(op, v, y)
    return y


EXHAUSTIVE_LIMIT = 1 << 24  # table entries (channels x accumulator values) evaluated at once
SAMPLES = 1 << 20           # spot checks per layer when the range is searched instead


def eval_per_channel(steps, acc: np.ndarray) -> np.ndarray:
    """float32 steps on one accumulator value per channel: acc (M,) ints -> (M,) float32, the
    same operations as ``eval_steps`` (column j of its table for acc[j])."""
    y, steps = _start(steps, acc, False)
    for op, v in steps:
        y = apply_step(op, None if v is None else np.asarray(v, dtype=np.float32), y)
    return y


def first_true(pred, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per channel, the first acc in lo..hi where the monotone (False..True) ``pred`` holds;
    hi + 1 where it never does. Binary search, all channels at once."""
    L, H = lo - 1, hi + 1  # pred(L) False, pred(H) True, by convention
    while np.any(H - L > 1):
        mid = (L + H) // 2
        active = H - L > 1
        p = pred(np.where(active, mid, L + 1)) & active
        H = np.where(p, mid, H)
        L = np.where(active & ~p, mid, L)
    return H


def fuse_dot(steps, same, layer, lo: int, hi: int):
    """A first ``("dot", s)`` step (binarize's scale of rows ``s * (+-1)``) takes the rest of
    its own ONNX node with it (the Gemm's alpha and bias C, the Conv's bias): the node's
    output is the exact ``alpha * s * acc + beta * C``, rounded once to float32. Ops of later
    nodes stay float32 steps."""
    if not steps or steps[0][0] != "dot":
        return steps
    if max(-lo, hi) >= EXACT_ACC_LIMIT:
        raise UnsupportedModelError(
            f"{where(layer)}: accumulators up to {max(-lo, hi)} (2^29 or more) with rows s*(+-1): the exact "
            "value of the dot product is not evaluated that far; use fewer input bits or inputs")
    a, b, k = np.asarray(steps[0][1], dtype=np.float64), None, 1

    def times(alpha):
        if np.all(np.asarray(alpha) == 1):
            return a
        prod = a.astype(np.float64) * np.asarray(alpha, dtype=np.float32).astype(np.float64)
        if np.any(prod.astype(np.float32).astype(np.float64) != prod):
            raise UnsupportedModelError(
                f"{where(layer)}: Gemm alpha != 1 on rows s*(+-1) (BatchNorm folded) gives scales "
                "alpha*s that float32 cannot hold exactly; export with alpha=1")
        return prod.astype(np.float32)

    while k < len(steps) and same[k] and b is None:
        op, v = steps[k]
        if op == "mul":
            a = times(v)
        elif op == "add":
            b = np.asarray(v, dtype=np.float32)
        elif op == "muladd":
            a, b = times(np.asarray(v)[0]), np.asarray(v, dtype=np.float32)[1]
        else:
            break
        k += 1
    first = ("dot", a) if b is None else ("dotadd", np.stack([a, b]))
    return [first] + list(steps[k:])


