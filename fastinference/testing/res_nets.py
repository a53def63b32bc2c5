"""Binarized networks with skip connections on sklearn's digits, trained with torch and
exported with both exporters (the residual counterparts of ``nets.py``).

The residual form is the common BNN one (Bi-Real Net style): the integer outputs of two
branches are added, then BatchNorm, then the sign, so the threshold covers the sum:

    a = sign(BN(W0 x))                      the block input (+-1), read by both branches
    main: W1 a            (1 layer)  or  W2 sign(BN(W1 a))  (2 layers): an accumulator
    shortcut: a (+-1)     or  P a (a projection: a dense or 1x1 conv layer, an accumulator)
    y = sign(BN(main + shortcut))

Weights are +-1 with no bias, the activation is the seeds' ``torch.where(x > 0, 1, -1)``,
the last layer gives integer scores (then LogSoftmax). BatchNorm thresholds are kept 0.05
away from integers (``nets.keep_threshold_margin``), as for the chain nets. Also a net whose
shortcut carries the network input's integers (``res_in``) and one that concatenates two
branches of +-1 activations (``cat_mlp``).

``python -m fastinference.testing.res_nets [NAME ...] --out DIR`` trains, exports and prints
the accuracy of each.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .nets import (BinaryConv2d, BinaryLinear, ExportSign, SignAct, binary_weight, export, keep_threshold_margin,
                   load_data)

NAMES = ("res_mlp1", "res_mlp2", "res_mlp1_proj", "res_mlp2_proj", "res_cnn1", "res_cnn2_proj", "res_in",
         "cat_mlp")
EXPORTERS = ("legacy", "dynamo")


def input_shape(name):
    return (1, 8, 8) if "cnn" in name else (64,)


class ResNet(nn.Module):
    """One residual block between a first layer and a score layer (see the module docstring)."""

    def __init__(self, name, width=32, conv_width=8):
        super().__init__()
        self.name = name
        self.conv = "cnn" in name
        self.depth = 2 if ("2" in name) else 1
        self.proj = name.endswith("_proj")
        w = width if not self.conv else conv_width
        out = (w * 3) // 4 if self.proj else w
        if self.conv:
            self.first = nn.Sequential(BinaryConv2d(1, w, 3, padding=1), nn.BatchNorm2d(w), SignAct())
            lin = lambda i, o: BinaryConv2d(i, o, 1)
            bn = nn.BatchNorm2d
        else:
            self.first = nn.Sequential(BinaryLinear(64, w), nn.BatchNorm1d(w), SignAct())
            lin = BinaryLinear
            bn = nn.BatchNorm1d
        if name == "res_in":  # the shortcut is the network input (integers): main 64 -> 64
            self.first = nn.Identity()
            w = out = 64
        if self.depth == 2:
            self.main = nn.Sequential(lin(w, w), bn(w), SignAct(), lin(w, out))
        else:
            self.main = nn.Sequential(lin(w, out))
        self.short = nn.Sequential(lin(w, out)) if self.proj else nn.Identity()
        self.post = nn.Sequential(bn(out), SignAct())
        if self.conv:
            self.head = nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), BinaryLinear(out * 16, 10))
        else:
            self.head = nn.Sequential(BinaryLinear(out, 10))

    def forward(self, x):
        a = self.first(x)
        return self.head(self.post(self.main(a) + self.short(a)))


class CatNet(nn.Module):
    """a = sign(BN(W0 x)); b = sign(BN(W1 a)); scores = W2 concat(a, b)."""

    def __init__(self, name, width=24):
        super().__init__()
        self.first = nn.Sequential(BinaryLinear(64, width), nn.BatchNorm1d(width), SignAct())
        self.branch = nn.Sequential(BinaryLinear(width, 16), nn.BatchNorm1d(16), SignAct())
        self.head = BinaryLinear(width + 16, 10)

    def forward(self, x):
        a = self.first(x)
        return self.head(torch.cat([a, self.branch(a)], dim=1))


def build(name, width=32, conv_width=8):
    if name not in NAMES:
        raise KeyError(name)
    return CatNet(name) if name.startswith("cat") else ResNet(name, width, conv_width)


def train(name, seed=0, epochs=15, width=32, bn_lr=1e-2, batch=64, conv_width=8):
    """Train ``name`` deterministically (one thread). Returns (model, test accuracy)."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    X_tr, X_te, y_tr, y_te = load_data()
    shape = input_shape(name)
    xt = torch.tensor(X_tr, dtype=torch.float32).reshape(-1, *shape)
    yt = torch.tensor(y_tr)
    model = build(name, width, conv_width)
    bn = [p for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) for p in m.parameters()]
    rest = [p for p in model.parameters() if all(p is not q for q in bn)]
    opt = torch.optim.Adam([{"params": rest, "lr": 1e-2}, {"params": bn, "lr": bn_lr}])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    g = torch.Generator().manual_seed(seed)
    k_last = [m for m in model.modules() if isinstance(m, BinaryLinear)][-1].in_features
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=g)
        for i in range(0, len(xt), batch):
            idx = perm[i:i + batch]
            loss = F.cross_entropy(model(xt[idx]) * (4.0 / k_last ** 0.5), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                for m in model.modules():
                    if isinstance(m, (BinaryLinear, BinaryConv2d)):
                        m.weight.clamp_(-1, 1)
        sched.step()
    model.eval()
    keep_threshold_margin(model)
    with torch.no_grad():
        acc = float((model(torch.tensor(X_te, dtype=torch.float32).reshape(-1, *shape)).argmax(1).numpy()
                     == y_te).mean())
    return model, acc


@torch.no_grad()
def _exportable(m: nn.Module) -> nn.Module:
    """Replace the training modules in place: +-1 weights in plain Linear/Conv2d, the where-sign."""
    for name, c in m.named_children():
        if isinstance(c, BinaryLinear):
            e = nn.Linear(c.in_features, c.out_features, bias=False)
            e.weight.copy_(binary_weight(c.weight))
        elif isinstance(c, BinaryConv2d):
            e = nn.Conv2d(c.in_channels, c.out_channels, c.kernel_size, padding=c.padding, bias=False)
            e.weight.copy_(binary_weight(c.weight))
        elif isinstance(c, SignAct):
            e = ExportSign()
        else:
            e = _exportable(c)
        setattr(m, name, e)
    return m


def to_export_model(model):
    import copy
    return nn.Sequential(_exportable(copy.deepcopy(model)), nn.LogSoftmax(dim=1)).eval()


def train_and_export(name, out_dir, exporters=EXPORTERS, model=None):
    """Train (or reuse ``model``) and export; returns ({exporter: path}, test accuracy)."""
    acc = None
    if model is None:
        model, acc = train(name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    em = to_export_model(model)
    paths = {}
    for e in exporters:
        paths[e] = export(em, "cnn" if "cnn" in name else "mlp", e, out_dir / f"{name}_{e}.onnx")
    return paths, acc


def main(argv=None):
    from .nets import ort_pre_softmax
    ap = argparse.ArgumentParser(description="train + export the residual test networks")
    ap.add_argument("--out", default="res_nets")
    ap.add_argument("names", nargs="*", default=list(NAMES))
    a = ap.parse_args(argv)
    _, X_te, _, y_te = load_data()
    for name in a.names:
        t0 = time.perf_counter()
        paths, acc = train_and_export(name, a.out)
        for e, p in paths.items():
            s = ort_pre_softmax(p, X_te)
            print(f"{name:14s} {e:7s} torch {acc:.3f} ort {float((s.argmax(1) == y_te).mean()):.3f} "
                  f"({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
