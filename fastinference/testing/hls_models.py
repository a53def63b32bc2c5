"""Hand-built lowered models for the HLS backend tests (no ONNX involved)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fastinference.folding import LayerFold, folding_report, pipeline_bound
from fastinference.ir import BinaryConv, BinaryDense, BinaryMaxPool


def pm1(rng, shape):
    return np.where(rng.random(shape) < 0.5, -1, 1).astype(np.int8)


def thresholds_for(rng, layer, acc_lo, acc_hi):
    """Thresholds spread over (and a little past) the reachable range, random directions."""
    M = layer.M
    T = rng.integers(acc_lo - 2, acc_hi + 3, size=M).astype(np.int64)
    D = np.where(rng.random(M) < 0.5, -1, 1).astype(np.int8)
    return T, D


def dense(name, K, M, rng, *, input_kind="binary", bits=1, signed=False, scores=False,
          in_shape=None, bias_scale=10):
    layer = BinaryDense(name=name, source_nodes=[f"/{name}/MatMul", f"{name} bn"],
                        in_shape=in_shape or (K,), out_shape=(M,), weights=pm1(rng, (M, K)),
                        input_kind=input_kind, input_bits=bits, input_signed=signed)
    if scores:
        layer.bias = rng.integers(-bias_scale, bias_scale + 1, size=M).astype(np.int64)
    else:
        lo, hi = layer.input_range()
        m = K * max(abs(lo), abs(hi))
        # typical thresholds stay close to 0: scale the spread with sqrt(K)
        s = int(max(2, min(m, 3 * np.sqrt(K) * max(abs(lo), abs(hi)))))
        layer.thresholds, layer.directions = thresholds_for(rng, layer, -s, s)
    return layer


def conv(name, C, H, W, M, k, rng, *, stride=(1, 1), pads=(0, 0, 0, 0), input_kind="binary",
         bits=1, signed=False, scores=False):
    kh, kw = k
    OH = (H + pads[0] + pads[2] - kh) // stride[0] + 1
    OW = (W + pads[1] + pads[3] - kw) // stride[1] + 1
    layer = BinaryConv(name=name, source_nodes=[f"/{name}/Conv"], in_shape=(C, H, W),
                       out_shape=(M, OH, OW), weights=pm1(rng, (M, C, kh, kw)),
                       input_kind=input_kind, input_bits=bits, input_signed=signed,
                       stride=stride, pads=pads)
    if scores:
        layer.bias = rng.integers(-5, 6, size=M).astype(np.int64)
    else:
        K = layer.K
        lo, hi = layer.input_range()
        s = int(max(2, 2 * np.sqrt(K) * max(abs(lo), abs(hi))))
        layer.thresholds, layer.directions = thresholds_for(rng, layer, -s, s)
    return layer


def maxpool(name, C, H, W, k=(2, 2), stride=(2, 2), and_channels=None):
    OH = (H - k[0]) // stride[0] + 1
    OW = (W - k[1]) // stride[1] + 1
    return BinaryMaxPool(name=name, source_nodes=[f"/{name}/MaxPool"], in_shape=(C, H, W),
                         out_shape=(C, OH, OW), kernel=k, stride=stride,
                         and_channels=and_channels)


def random_inputs(model, rng, n):
    shape = (n,) + tuple(model.input_shape)
    b = model.input_bits
    if model.input_signed:
        lo, hi = -(1 << (b - 1)), (1 << (b - 1)) - 1
    else:
        lo, hi = 0, (1 << b) - 1
    x = rng.integers(lo, hi + 1, size=shape, dtype=np.int64)
    # extremes: all lowest, all highest
    x[0] = lo
    if n > 1:
        x[1] = hi
    return x


def write_report(model, folding, out_dir):
    """The fields of DIR/report.json that run_csim reads."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rep = {"model": model.name,
           "input": {"bits": model.input_bits, "signed": model.input_signed,
                     "shape": list(model.input_shape)},
           "bound_cycles": pipeline_bound(model, folding),
           "layers": folding_report(model, folding), "version": "test"}
    (out / "report.json").write_text(json.dumps(rep, indent=1))


def fold(**kw):
    return {k: LayerFold(*v) for k, v in kw.items()}
