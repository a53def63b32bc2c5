"""Quantized (QONNX) residual networks on sklearn's digits, trained with Brevitas and exported
with ``brevitas.export.export_qonnx`` (the residual counterparts of ``brevitas_nets.py``).

    make_res(RSpec(arch="mlp", depth=2, proj=True), out_dir) -> Path of the exported .onnx
    res_input(spec_or_path, X_pixels) -> the float32 rows the ONNX file takes

The block, as Brevitas users write it (QuantLinear or 3x3 QuantConv2d with padding 1, each
followed by a torch BatchNorm):

    a    = R(BN(L0(inp(x))))                       block input: unsigned abits integers, scale s_a
    main = BN(L1 a)                (depth 1)  or  BN(L2 R1(BN(L1 a)))   (depth 2)
    short = a                      or  BN(P a)      (proj: a dense or 1x1 conv projection)
    join "relu":   y = R(main) + short      the block input's QuantReLU ``R`` (one module, one
                                            scale) quantizes the main branch too; proj: R(BN(P a))
    join "ident":  y = Q(main) + Q(short)   one shared signed QuantIdentity ``Q`` (abits + 1 bits,
                                            at most 8) on both sides; with no projection Q
                                            requantizes a (an N-level Threshold in hardware)
    join "split":  y = Qm(main) + Qs(short) two QuantIdentity modules: two learned scales (they
                                            return float tensors: Brevitas refuses to add two
                                            QuantTensors of different scales)
    join "const":  as "split" with constant scales 1/4 and 1/8 (two scales for sure: refused)
    z = R2(y)  (a QuantReLU) -> [cnn: MaxPool 2, flatten] -> QuantLinear -> scores

``inp`` is the unsigned 8-bit input quantizer of scale 1 (the pixels 0..16 pass unchanged).
Weights: signed narrow-range ``wbits``-bit, per-tensor. ``po2``: power-of-two scales on the
activations and weights (the float32 Add of two quantized tensors is then exact; with float
scales it rounds, and the compiler refuses it naming the Add).

Training: full-batch Adam on nets.load_data's train split, seeded, one thread, deterministic.
make_res caches the export by the spec in out_dir (one file per spec, written atomically).
``python -m fastinference.testing.brevitas_res [--out DIR]`` trains the specs of the tests and
prints their graphs and accuracy.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from .brevitas_nets import _atomic, _hash, _torch_settings

ARCHS = ("mlp", "cnn")
JOINS = ("relu", "ident", "split", "const")
EXPORTS = ("dynamo", "torchscript")


@dataclasses.dataclass(frozen=True)
class RSpec:
    arch: str = "mlp"
    depth: int = 1
    proj: bool = False
    join: str = "relu"
    wbits: int = 4
    abits: int = 4
    po2: bool = True
    export: str = "dynamo"
    width: int = 0  # 0: 24 (mlp) or 6 channels (cnn)
    epochs: int = 30
    seed: int = 0

    def __post_init__(self):
        if self.arch not in ARCHS or self.join not in JOINS or self.export not in EXPORTS:
            raise ValueError(f"bad RSpec {self}")
        if self.depth not in (1, 2):
            raise ValueError("depth must be 1 or 2")

    @property
    def name(self) -> str:
        return (f"res{self.arch}{self.depth}{'p' if self.proj else ''}-{self.join}-w{self.wbits}a{self.abits}-"
                f"{'po2' if self.po2 else 'float'}-{self.export}-e{self.epochs}-s{self.seed}")

    @property
    def channels(self) -> int:
        return self.width or (24 if self.arch == "mlp" else 6)


def input_shape(arch: str) -> tuple:
    return (1, 8, 8) if arch == "cnn" else (64,)


def res_input(spec, X) -> np.ndarray:
    """The float32 rows the ONNX file takes (raw pixels 0..16; (N, 1, 8, 8) for the cnn)."""
    if not isinstance(spec, RSpec):
        spec = RSpec(**json.loads(Path(spec).with_suffix(".json").read_text())["spec"])
    X = np.asarray(X)
    return X.astype(np.float32).reshape((len(X),) + input_shape(spec.arch))


def _quants(spec: RSpec):
    from brevitas.core.restrict_val import RestrictValueType
    from brevitas.core.scaling import ScalingImplType
    from brevitas.core.function_wrapper.ops_ste import CeilSte
    from brevitas.quant import Int8ActPerTensorFloat, Int8WeightPerTensorFloat, Uint8ActPerTensorFloat

    po2 = {}
    if spec.po2:
        po2 = dict(restrict_scaling_type=RestrictValueType.POWER_OF_TWO, restrict_value_float_to_int_impl=CeilSte)
    wq = type("IntWeight", (Int8WeightPerTensorFloat,), dict(bit_width=spec.wbits, **po2))
    uq = type("UintAct", (Uint8ActPerTensorFloat,), dict(bit_width=spec.abits, **po2))
    sq = type("IntAct", (Int8ActPerTensorFloat,), dict(bit_width=min(spec.abits + 1, 8), **po2))
    iq = type("UintInputUnitScale", (Uint8ActPerTensorFloat,), dict(
        bit_width=8, scaling_impl_type=ScalingImplType.CONST, scaling_const=255.0, max_val=255.0,
        restrict_scaling_type=RestrictValueType.FP))
    cq = [type(f"IntActConst{k}", (Int8ActPerTensorFloat,), dict(
        bit_width=min(spec.abits + 1, 8), scaling_impl_type=ScalingImplType.CONST, restrict_scaling_type=RestrictValueType.FP,
        scaling_const=c * (1 << spec.abits), max_val=c * (1 << spec.abits), min_val=-c * (1 << spec.abits))) for k, c in enumerate((0.25, 0.125))]
    return wq, uq, sq, iq, cq


def build(spec: RSpec):
    import torch
    import torch.nn as nn
    import brevitas.nn as qnn

    wq, uq, sq, iq, cq = _quants(spec)
    w = spec.channels
    conv = spec.arch == "cnn"

    def lin(i, o, k=1):
        if conv:
            return qnn.QuantConv2d(i, o, k, padding=k // 2, bias=False, weight_quant=wq)
        return qnn.QuantLinear(i, o, bias=False, weight_quant=wq)

    bn = nn.BatchNorm2d if conv else nn.BatchNorm1d
    relu = lambda: qnn.QuantReLU(act_quant=uq, return_quant_tensor=True)  # noqa: E731
    ident = lambda rq=True: qnn.QuantIdentity(act_quant=sq, return_quant_tensor=rq)  # noqa: E731

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=iq, return_quant_tensor=True)
            self.l0 = nn.Sequential(lin(1 if conv else 64, w, 3 if conv else 1), bn(w))
            self.r0 = relu()
            k = 3 if conv else 1
            if spec.depth == 1:
                self.main = nn.Sequential(lin(w, w, k), bn(w))
            else:
                self.main = nn.Sequential(lin(w, w, k), bn(w), relu(), lin(w, w, k), bn(w))
            self.short = nn.Sequential(lin(w, w, 1), bn(w)) if spec.proj else None
            if spec.join == "ident":
                self.q = ident()
            elif spec.join == "split":
                self.qm, self.qs = ident(False), ident(False)
            elif spec.join == "const":
                self.qm, self.qs = (qnn.QuantIdentity(act_quant=q, return_quant_tensor=False) for q in cq)
            self.r2 = relu()
            self.pool = nn.MaxPool2d(2) if conv else None
            self.head = qnn.QuantLinear(w * 16 if conv else w, 10, bias=False, weight_quant=wq)

        def forward(self, x):
            a = self.r0(self.l0(self.inp(x)))
            m = self.main(a)
            s = self.short(a) if self.short is not None else a
            if spec.join == "relu":
                y = self.r0(m) + (self.r0(s) if self.short is not None else s)
            elif spec.join == "ident":
                y = self.q(m) + self.q(s)
            else:
                y = self.qm(m) + self.qs(s)
            z = self.r2(y)
            if conv:
                z = torch.flatten(self.pool(z), 1)
            z = self.head(z)
            return z.value if hasattr(z, "value") else z

    return Net()


def train(spec: RSpec):
    import time
    import torch
    import torch.nn.functional as F
    from .nets import load_data

    X_tr, X_te, y_tr, y_te = load_data()
    with _torch_settings():
        torch.manual_seed(spec.seed)
        model = build(spec)
        xt, yt = torch.tensor(res_input(spec, X_tr)), torch.tensor(y_tr)
        opt = torch.optim.Adam(model.parameters(), lr=0.02)
        t0 = time.perf_counter()
        model.train()
        for _ in range(spec.epochs):
            opt.zero_grad()
            F.cross_entropy(model(xt), yt).backward()
            opt.step()
        secs = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            acc = float((model(torch.tensor(res_input(spec, X_te))).argmax(1).numpy() == y_te).mean())
    return model, {"train_seconds": secs, "float_test_acc": acc}


def export(model, spec: RSpec, path) -> Path:
    import warnings
    import torch
    from brevitas.export import export_qonnx

    x = torch.tensor(res_input(spec, np.zeros((1, 64), dtype=np.int64)))
    with warnings.catch_warnings(), _torch_settings():
        warnings.simplefilter("ignore")
        export_qonnx(model, x, str(path), dynamo=spec.export == "dynamo", verbose=False)
    return Path(path)


def make_res(spec: RSpec, out_dir) -> Path:
    """Train and export spec's net (cached in out_dir by the spec); returns the .onnx path.
    The .json next to it holds the spec, the float test accuracy and the op types."""
    import onnx

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    d = dataclasses.asdict(spec)
    path = out_dir / f"{spec.name}-{_hash(d)}.onnx"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return path
    model, stats = train(spec)
    _atomic(path, lambda p: export(model, spec, p))
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    _atomic(meta, lambda p: Path(p).write_text(json.dumps({"spec": d, **stats, "ops": ops}, indent=1)))
    return path


def main(argv=None):
    import argparse
    from .brevitas_nets import qonnx_execute
    from .nets import load_data

    ap = argparse.ArgumentParser(description="train + export the quantized residual test networks")
    ap.add_argument("--out", default="brevitas_res")
    a = ap.parse_args(argv)
    _, X_te, _, y_te = load_data()
    for spec in (RSpec(), RSpec(depth=2, proj=True, join="ident"), RSpec(arch="cnn", depth=2)):
        p = make_res(spec, a.out)
        m = json.loads(p.with_suffix(".json").read_text())
        acc = float((qonnx_execute(p, res_input(spec, X_te)).argmax(1) == y_te).mean())
        print(f"{spec.name}: torch {m['float_test_acc']:.3f} qonnx {acc:.3f} ({m['train_seconds']:.1f} s)")
        print("   ", " ".join(m["ops"]))


if __name__ == "__main__":
    main()
