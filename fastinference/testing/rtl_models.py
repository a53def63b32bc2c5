"""Hand-built lowered models for the RTL tests: random +-1 weights, random thresholds and
directions (some unreachable), integer first layer, score last layer."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from fastinference.ir import BinaryDense, Model


def random_mlp(sizes, input_bits=8, input_signed=False, seed=0, bias=True,
               last_scores=True, name="mlp") -> Model:
    rng = np.random.default_rng(seed)
    layers = []
    for i in range(len(sizes) - 1):
        K, M = sizes[i], sizes[i + 1]
        w = rng.choice(np.array([-1, 1], dtype=np.int8), size=(M, K))
        first = i == 0
        kw = dict(name=f"dense_{i}", source_nodes=[f"/layers.{i}/Gemm", f"/bn{i}/BatchNorm*/"],
                  in_shape=(K,), out_shape=(M,), weights=w,
                  input_kind="int" if first else "binary",
                  input_bits=input_bits if first else 1, input_signed=input_signed if first else False)
        last = i == len(sizes) - 2
        if last and last_scores:
            kw["bias"] = (rng.integers(-50, 50, size=M) if bias else np.zeros(M)).astype(np.int64)
        else:
            layer = BinaryDense(**kw)
            lo, hi = layer.acc_range()
            # thresholds mostly near the middle of the reachable range, a few outside it
            span = max(1, (hi - lo) // 6)
            mid = (lo + hi) // 2
            t = rng.integers(mid - span, mid + span + 1, size=M).astype(np.int64)
            t[rng.random(M) < 0.1] = hi + 1000
            t[rng.random(M) < 0.1] = lo - 1000
            kw["thresholds"] = t
            kw["directions"] = rng.choice(np.array([-1, 1], dtype=np.int8), size=M)
        layers.append(BinaryDense(**kw))
    return Model(name=name, layers=layers, input_shape=(sizes[0],), input_bits=input_bits,
                 input_signed=input_signed)


def random_inputs(model: Model, n: int, seed=1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    b = model.input_bits
    lo, hi = ((-(1 << (b - 1)), (1 << (b - 1)) - 1) if model.input_signed else (0, (1 << b) - 1))
    x = rng.integers(lo, hi + 1, size=(n,) + tuple(model.input_shape)).astype(np.int64)
    # extremes too
    x[0] = lo
    if n > 1:
        x[1] = hi
    return x


def write_vectors(project: Path, x: np.ndarray, scores: np.ndarray) -> None:
    v = Path(project) / "vectors"
    v.mkdir(parents=True, exist_ok=True)
    (v / "input.txt").write_text("".join(" ".join(map(str, r)) + "\n" for r in x.reshape(len(x), -1)))
    (v / "expected.txt").write_text("".join(" ".join(map(str, r)) + "\n" for r in scores))
