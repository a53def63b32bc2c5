"""Quantized (QONNX) test networks on sklearn's digits, trained with Brevitas.

    make_qnn(QSpec(arch="mlp", wbits=4, abits=4), out_dir) -> Path of the exported .onnx
    qonnx_execute(path, x) -> float64 (N, 10) scores from qonnx's execute_onnx (golden reference)
    qnn_input(spec_or_path, X_pixels) -> the float32 rows the ONNX file takes

Run `python -m fastinference.testing.brevitas_nets [--out DIR]` to train a few nets and print
their graphs. torch and brevitas are imported inside the functions: importing this module is cheap.

The networks (BatchNorm is plain torch, so every export keeps it as a float op):
  mlp  in-QuantIdentity(8 bit) - QuantLinear(64->32) - BN - act - QuantLinear(32->16) - BN - act
       - QuantLinear(16->10) -> scores
  cnn  in-QuantIdentity(8 bit) on (1, 8, 8) - QuantConv(1->8, 3x3, pad 1) - BN - act - MaxPool2
       - QuantConv(8->16, 3x3) - BN - act - flatten - QuantLinear(64->10) -> scores
  act = QuantReLU(abits) for abits >= 2 (unsigned), QuantIdentity(SignedBinaryActPerTensorConst)
        (+-1, exported as BipolarQuant... see notes/qonnx_exports.md) for abits == 1.
  Weights: signed narrow-range `wbits`-bit Int quantizer (max-abs stats scale, per tensor or per
  output channel; float or power-of-two scale); wbits == 1 = binary quantizer with a stats scale.
  Input quant ("int"): unsigned 8 bit with a constant scale of exactly 1.0, so the raw pixels
  0..16 (as float32) pass unchanged; ("learned"): the net takes pixels/16 and learns a float
  (po2=True: power-of-two) scale.
  last_bias="int32": the last QuantLinear has a bias quantized with Int32Bias (scale = input
  scale * weight scale), else no bias.
  neg_bn: after training, every other channel of every BN gets a negative gamma; the function is
  kept by negating that channel's weights in the layer before and its running mean, so accuracy
  is unchanged but thresholds flip.

Training: full-batch Adam, train split of nets.load_data (1347 rows), seeded, one thread,
deterministic algorithms. make_qnn caches the trained weights by the training part of the spec
and the export by the whole spec, in out_dir: a test session trains each net once, and the export
forms of one spec share one trained net.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from pathlib import Path

import numpy as np

ARCHS = ("mlp", "cnn")
EXPORTS = ("dynamo", "torchscript", "cleaned", "cleaned_torchscript")
INPUT_QUANTS = ("int", "learned")
DEFAULT_EPOCHS = {"mlp": 60, "cnn": 40}  # ~1 s and ~4 s on one thread
CACHE_VERSION = 1  # bump when the nets or the training change


@dataclasses.dataclass(frozen=True)
class QSpec:
    """One Brevitas test network. See the module docstring for the meaning of each field.

    export: "dynamo" (export_qonnx default), "torchscript" (dynamo=False), "cleaned" (the dynamo
    export through qonnx.util.cleanup.cleanup_model), "cleaned_torchscript" (the TorchScript
    export through cleanup_model).
    """

    arch: str = "mlp"
    wbits: int = 4
    abits: int = 4
    export: str = "dynamo"
    per_channel: bool = False
    po2: bool = False
    input_quant: str = "int"
    last_bias: str | None = None
    neg_bn: bool = False
    log_softmax: bool = False
    epochs: int = 0  # 0: the default of the arch (DEFAULT_EPOCHS)
    seed: int = 0

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.export not in EXPORTS:
            raise ValueError(f"export must be one of {EXPORTS}, got {self.export!r}")
        if self.input_quant not in INPUT_QUANTS:
            raise ValueError(f"input_quant must be one of {INPUT_QUANTS}, got {self.input_quant!r}")
        if self.last_bias not in (None, "int32"):
            raise ValueError(f"last_bias must be None or 'int32', got {self.last_bias!r}")
        for f in ("wbits", "abits"):
            if not 1 <= getattr(self, f) <= 8:
                raise ValueError(f"{f} must be in 1..8, got {getattr(self, f)}")

    @property
    def name(self) -> str:
        """Short readable id, e.g. mlp-w4a4-dynamo-pt-float-int."""
        s = (f"{self.arch}-w{self.wbits}a{self.abits}-{self.export}-"
             f"{'pc' if self.per_channel else 'pt'}-{'po2' if self.po2 else 'float'}-{self.input_quant}")
        if self.last_bias:
            s += f"-bias{self.last_bias}"
        if self.neg_bn:
            s += "-negbn"
        if self.log_softmax:
            s += "-logsoftmax"
        if self.epochs:
            s += f"-e{self.epochs}"
        if self.seed:
            s += f"-s{self.seed}"
        return s

    def train_key(self) -> str:
        """Hash of every field that changes the trained weights (not the export form)."""
        d = dataclasses.asdict(self)
        for k in ("export", "log_softmax"):
            d.pop(k)
        return _hash(d)

    def key(self) -> str:
        return _hash(dataclasses.asdict(self))

    def with_export(self, export: str) -> "QSpec":
        return dataclasses.replace(self, export=export)


def _hash(d) -> str:
    return hashlib.sha256(json.dumps([CACHE_VERSION, d], sort_keys=True).encode()).hexdigest()[:12]


def input_shape(arch: str) -> tuple:
    """Per-row input shape of the ONNX model (the graph input is (1, *input_shape))."""
    return (1, 8, 8) if arch == "cnn" else (64,)


def qnn_input(spec, X) -> np.ndarray:
    """The float32 rows the ONNX file of `spec` (a QSpec, or a path written by make_qnn) takes,
    from raw digits pixels X (N, 64), integers 0..16: pixels as float32 for input_quant="int",
    pixels/16 for "learned"; reshaped to (N, 1, 8, 8) for the cnn."""
    if not isinstance(spec, QSpec):
        spec = load_meta(spec)["spec"]
    X = np.asarray(X)
    x = X.astype(np.float32) if spec.input_quant == "int" else (X / 16.0).astype(np.float32)
    return x.reshape((len(X),) + input_shape(spec.arch))


def load_meta(path) -> dict:
    """The side file make_qnn writes next to the .onnx: spec (QSpec), float_test_acc,
    train_seconds, ops (op types in order)."""
    d = json.loads(Path(path).with_suffix(".json").read_text())
    d["spec"] = QSpec(**d["spec"])
    return d


# ----------------------------------------------------------------------------------------
# quantizers and networks (brevitas imported lazily)
# ----------------------------------------------------------------------------------------
def _quantizers(spec: QSpec):
    """(weight_quant, act_quant-or-None, input_quant) injector classes for spec."""
    from brevitas.core.restrict_val import RestrictValueType
    from brevitas.core.scaling import ScalingImplType, ScalingPerOutputType
    from brevitas.core.stats import StatsOp
    from brevitas.core.function_wrapper import TensorClampSte
    from brevitas.core.function_wrapper.ops_ste import CeilSte
    from brevitas.quant import (Int8WeightPerTensorFloat, SignedBinaryActPerTensorConst,
                                SignedBinaryWeightPerTensorConst, Uint8ActPerTensorFloat)

    per_out = ScalingPerOutputType.CHANNEL if spec.per_channel else ScalingPerOutputType.TENSOR
    po2 = {}
    if spec.po2:
        po2 = dict(restrict_scaling_type=RestrictValueType.POWER_OF_TWO,
                   restrict_value_float_to_int_impl=CeilSte)

    if spec.wbits == 1:
        wq = type("BinWeight", (SignedBinaryWeightPerTensorConst,), dict(
            scaling_impl_type=ScalingImplType.STATS, scaling_stats_op=StatsOp.AVE,
            scaling_min_val=1e-10, scaling_per_output_type=per_out,
            tensor_clamp_impl=TensorClampSte, **po2))
    else:
        wq = type("IntWeight", (Int8WeightPerTensorFloat,), dict(
            bit_width=spec.wbits, scaling_per_output_type=per_out, **po2))

    if spec.abits == 1:
        aq = SignedBinaryActPerTensorConst
    else:
        aq = type("UintAct", (Uint8ActPerTensorFloat,), dict(bit_width=spec.abits, **po2))

    if spec.input_quant == "int":
        iq = type("UintInputUnitScale", (Uint8ActPerTensorFloat,), dict(
            bit_width=8, scaling_impl_type=ScalingImplType.CONST, scaling_const=255.0, max_val=255.0,
            restrict_scaling_type=RestrictValueType.FP))
    else:
        iq = type("UintInput", (Uint8ActPerTensorFloat,), dict(bit_width=8, **po2))
    return wq, aq, iq


def _build(spec: QSpec):
    import torch
    import torch.nn as nn
    import brevitas.nn as qnn
    from brevitas.quant import Int32Bias

    wq, aq, iq = _quantizers(spec)

    def act():
        if spec.abits == 1:
            return qnn.QuantIdentity(act_quant=aq, return_quant_tensor=True)
        return qnn.QuantReLU(act_quant=aq, return_quant_tensor=True)

    bias = dict(bias=True, bias_quant=Int32Bias) if spec.last_bias == "int32" else dict(bias=False)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=iq, return_quant_tensor=True)
            if spec.arch == "mlp":
                self.features = nn.Sequential(
                    qnn.QuantLinear(64, 32, bias=False, weight_quant=wq), nn.BatchNorm1d(32), act(),
                    qnn.QuantLinear(32, 16, bias=False, weight_quant=wq), nn.BatchNorm1d(16), act())
                self.last = qnn.QuantLinear(16, 10, weight_quant=wq, **bias)
            else:
                self.features = nn.Sequential(
                    qnn.QuantConv2d(1, 8, 3, padding=1, bias=False, weight_quant=wq),
                    nn.BatchNorm2d(8), act(), nn.MaxPool2d(2),
                    qnn.QuantConv2d(8, 16, 3, bias=False, weight_quant=wq),
                    nn.BatchNorm2d(16), act())
                self.last = qnn.QuantLinear(64, 10, weight_quant=wq, **bias)
            self.log_softmax = False

        def forward(self, x):
            x = self.features(self.inp(x))
            x = torch.flatten(x, 1) if spec.arch == "cnn" else x
            x = self.last(x)
            if hasattr(x, "value"):
                x = x.value
            return torch.log_softmax(x, 1) if self.log_softmax else x

    return Net()


@contextlib.contextmanager
def _torch_settings():
    """One thread and deterministic algorithms while training; restored afterwards."""
    import torch
    n = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(n)
        torch.use_deterministic_algorithms(det)


def _negate_bn_channels(model):
    """Every other channel of every BN: gamma -> -gamma, running_mean -> -running_mean and the
    previous layer's weight row -> -row. BN(-z) with these = BN(z): same function, negative scales
    (exact for the sign-symmetric weight quantizers used here)."""
    import torch
    mods = list(model.features)
    with torch.no_grad():
        for i, m in enumerate(mods):
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                idx = torch.arange(1, m.num_features, 2)
                m.weight[idx] *= -1
                m.running_mean[idx] *= -1
                mods[i - 1].weight[idx] *= -1


def train(spec: QSpec, verbose: bool = False):
    """Train the net of spec (ignores spec.export). Returns (model in eval mode, stats dict)."""
    import time
    import torch
    import torch.nn.functional as F
    from fastinference.testing.nets import load_data

    X_tr, X_te, y_tr, y_te = load_data()
    with _torch_settings():
        torch.manual_seed(spec.seed)
        model = _build(spec)
        xt = torch.tensor(qnn_input(spec, X_tr))
        yt = torch.tensor(y_tr)
        opt = torch.optim.Adam(model.parameters(), lr=0.02)
        t0 = time.perf_counter()
        model.train()
        for ep in range(spec.epochs or DEFAULT_EPOCHS[spec.arch]):
            opt.zero_grad()
            loss = F.cross_entropy(model(xt), yt)
            loss.backward()
            opt.step()
            if verbose and ep % 10 == 0:
                print(f"  epoch {ep}: loss {loss.item():.4f}")
        secs = time.perf_counter() - t0
        model.eval()
        if spec.neg_bn:
            _negate_bn_channels(model)
        with torch.no_grad():
            acc = (model(torch.tensor(qnn_input(spec, X_te))).argmax(1).numpy() == y_te).mean()
    return model, {"train_seconds": secs, "float_test_acc": float(acc)}


def export(model, spec: QSpec, path) -> Path:
    """Export model (trained for spec) in the form spec.export to path."""
    import warnings
    import torch
    from brevitas.export import export_qonnx

    path = Path(path)
    model.log_softmax = spec.log_softmax
    x = torch.tensor(qnn_input(spec, np.zeros((1, 64), dtype=np.int64)))
    dynamo = spec.export in ("dynamo", "cleaned")
    with warnings.catch_warnings(), _torch_settings():
        warnings.simplefilter("ignore")
        export_qonnx(model, x, str(path), dynamo=dynamo, verbose=False)
    if spec.export.startswith("cleaned"):
        from qonnx.util.cleanup import cleanup
        cleanup(str(path), out_file=str(path))
    model.log_softmax = False
    return path


def make_qnn(spec: QSpec, out_dir) -> Path:
    """Train (or reuse the cached training of) spec's net, export it, return the .onnx path.

    Files in out_dir: <name>-<key>.onnx and .json (load_meta), and train-<train_key>.pt (the
    trained state dict, shared by the export forms of one net)."""
    import torch

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{spec.name}-{spec.key()}.onnx"
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists():
        return path
    ckpt = out_dir / f"train-{spec.train_key()}.pt"
    if ckpt.exists():
        saved = torch.load(ckpt, weights_only=False)
        model = _build(spec)
        model.load_state_dict(saved["state"])
        model.eval()
        stats = saved["stats"]
    else:
        model, stats = train(spec)
        _atomic(ckpt, lambda p: torch.save({"state": model.state_dict(), "stats": stats}, p))
    _atomic(path, lambda p: export(model, spec, p))
    import onnx
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    meta = {"spec": dataclasses.asdict(spec), **stats, "ops": ops}
    _atomic(meta_path, lambda p: Path(p).write_text(json.dumps(meta, indent=1)))
    return path


def _atomic(path: Path, write):
    """write(tmp) then rename to path (safe with parallel test workers)."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    write(tmp)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------
# golden reference
# ----------------------------------------------------------------------------------------
def assert_predict_equals_qonnx(path, x):
    """predict's integer scores times output_scale are qonnx's outputs, exactly in units of the
    scale; returns (net, scores)."""
    import fastinference as fi

    net = fi.load(str(path))
    scores = net.predict(x)
    ref = qonnx_execute(path, x)
    scale = np.broadcast_to(net.model.output_scale, (scores.shape[1],))
    units = np.round(ref / scale).astype(np.int64)
    bad = np.argwhere(units != scores)
    assert bad.size == 0, f"{Path(path).name}: row {bad[0][0]} class {bad[0][1]}: qonnx {units[tuple(bad[0])]} " \
                          f"vs predict {scores[tuple(bad[0])]} ({len(np.unique(bad[:, 0]))} rows differ)"
    np.testing.assert_allclose(scores * scale, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())
    return net, scores


def qonnx_execute(path, x, batched: bool = True, full: bool = False):
    """Run qonnx's execute_onnx on the rows of x (N, ...) (the float32 model inputs, see
    qnn_input) and return the float64 outputs (N, 10); full=True: a dict of every tensor of the
    graph (name -> array with the N rows stacked on dim 0; initializers keep their shape).

    The exported graphs fix the batch at 1. batched=True (default) rewrites a copy of the model
    for batch N (dim 0 of every tensor computed from the input, and the leading 1 of the shape
    given to a Reshape on that path) and runs execute_onnx once: about 100x faster than
    batched=False, which runs the unchanged model once per row. The two give the same output of
    every Quant/BipolarQuant node; float ops (Gemm, MatMul, Conv) may differ in the last bit of
    float32 since onnxruntime sums in another order for another batch size, so a float-scale net
    could in principle round a tie differently (tests/test_brevitas_nets.py checks it does not
    on the test nets; power-of-two nets compute exactly anyway)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    model = ModelWrapper(str(path))
    if not model.check_all_tensor_shapes_specified():  # the TorchScript export has none
        from qonnx.transformation.infer_shapes import InferShapes
        model = model.transform(InferShapes())
    iname = model.graph.input[0].name
    oname = model.graph.output[0].name
    x = np.asarray(x, dtype=np.float32)
    if batched and len(x) > 1:
        model = _with_batch(model, len(x))
        ctx = execute_onnx(model, {iname: x}, return_full_exec_context=full)
        return ctx if full else np.asarray(ctx[oname], dtype=np.float64)
    rows = [execute_onnx(model, {iname: row[None]}, return_full_exec_context=full) for row in x]
    if not full:
        return np.asarray([r[oname][0] for r in rows], dtype=np.float64)
    batch = _batch_tensors(model)
    return {k: (np.concatenate([r[k] for r in rows]) if k in batch else v)
            for k, v in rows[0].items()}


def _with_batch(model, n: int):
    """A copy of a batch-1 ModelWrapper with batch n (see qonnx_execute)."""
    import copy

    model = copy.deepcopy(model)
    g = model.graph
    batch = _batch_tensors(model)
    for node in g.node:
        if node.op_type == "Reshape" and node.input[0] in batch:
            shape = model.get_initializer(node.input[1])
            if shape is None or shape[0] not in (1, -1):
                raise ValueError(f"cannot rebatch Reshape {node.name}")
            if shape[0] == 1:
                shape = shape.copy()
                shape[0] = -1
                model.set_initializer(node.input[1], shape)
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        if vi.name in batch:
            d = vi.type.tensor_type.shape.dim[0]
            if d.dim_value != 1:
                raise ValueError(f"tensor {vi.name}: batch dim is not 1")
            d.dim_value = n
    return model


def _batch_tensors(model) -> set:
    """Names of the tensors computed from the graph input (nodes are topologically sorted in
    every export)."""
    batch = {model.graph.input[0].name}
    for node in model.graph.node:
        if any(t in batch for t in node.input):
            batch.update(node.output)
    return batch
