"""Plain float networks on sklearn's digits (no quantization in training), as users export
them: Linear/Conv2d with bias, BatchNorm, ReLU, MaxPool, a final LogSoftmax; inputs are the raw
pixels 0..16 as float32. Used by examples/train_digits_float.py, tests/test_ptq.py and
bench/hls4ml_compare.py.

  mlp  64-64-32-10: Linear-BN-ReLU x2, Linear                          input (N, 64)
  cnn  Conv(1->8,3x3,pad 1)-BN-ReLU-MaxPool2-Conv(8->16,3x3)-BN-ReLU-MaxPool2-Flatten-Linear(16->10)
                                                                       input (N, 1, 8, 8)
Training is deterministic (fixed seed, one thread) and takes a few seconds on a CPU.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .nets import export, load_data

FLOAT_NETS = ("mlp", "cnn")


def input_shape(name: str) -> tuple[int, ...]:
    return (1, 8, 8) if name == "cnn" else (64,)


def build(name: str) -> nn.Sequential:
    if name == "mlp":
        return nn.Sequential(nn.Linear(64, 64), nn.BatchNorm1d(64), nn.ReLU(),
                             nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(),
                             nn.Linear(32, 10))
    if name == "cnn":
        return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(8, 16, 3), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(16, 10))
    raise ValueError(name)


def train(name: str, seed: int = 0, epochs: int = 60) -> nn.Sequential:
    """Adam on the training split; returns the model in eval mode (no LogSoftmax)."""
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    X_tr, _, y_tr, _ = load_data()
    x = torch.tensor(X_tr, dtype=torch.float32).reshape(-1, *input_shape(name))
    y = torch.tensor(y_tr)
    model = build(name)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


def export_float(model: nn.Sequential, name: str, exporter: str, path) -> Path:
    """Export with a final LogSoftmax, as users do (``exporter``: 'legacy' | 'dynamo')."""
    e = nn.Sequential(*model, nn.LogSoftmax(dim=1)).eval()
    return export(e, "cnn" if name == "cnn" else "mlp", exporter, Path(path))


@torch.no_grad()
def torch_scores(model: nn.Sequential, X: np.ndarray, name: str) -> np.ndarray:
    return model(torch.tensor(np.asarray(X), dtype=torch.float32).reshape(-1, *input_shape(name))).numpy()


def make(name: str, exporter: str, out_dir, seed: int = 0, epochs: int = 60) -> Path:
    """Train and export ``name`` into ``out_dir/float_<name>_<exporter>.onnx``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return export_float(train(name, seed, epochs), name, exporter, out_dir / f"float_{name}_{exporter}.onnx")
