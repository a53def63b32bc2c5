"""Binarized networks on sklearn's digits, trained with torch and exported to ONNX.

Run `python -m fastinference.testing.nets [NAME ...] [--out DIR]` to train, export and print the graphs.

What the two torch 2.13 exporters write (observed; export form of every net = plain
Linear/Conv2d holding sign(w) with bias=False, BatchNorm in eval mode, the activation
`torch.where(x > 0, torch.tensor([1.0]), torch.tensor([-1.0]))`, final nn.LogSoftmax(dim=1)).
Input is named "input" (float32, (batch, 64) or (batch, 1, 8, 8), dim 0 symbolic "batch"),
output "output" (batch, 10), in both.

LEGACY  (dynamo=False, opset 11, do_constant_folding=True; ir_version 6; node names "/3/MatMul")
  mlp_seed/mlp_odd/mlp_negbn:
    MatMul BatchNormalization Constant Greater Constant Constant Where
    MatMul BatchNormalization Constant Greater Constant Constant Where  MatMul LogSoftmax
  mlp_deep: the same with 4 MatMul-BN-sign blocks.
  cnn:
    Conv Constant Greater Constant Constant Where MaxPool
    Conv Constant Greater Constant Constant Where Flatten MatMul LogSoftmax
  cnn_poolfirst:
    Conv MaxPool BatchNormalization Constant Greater Constant Constant Where
    Conv Constant Greater Constant Constant Where Flatten MatMul LogSoftmax
  - Linear without bias -> MatMul(x, W^T): initializer float32 [K, M] (already transposed), +-1.
  - BN after a Linear stays a BatchNormalization node (inputs: X, weight=gamma, bias=beta,
    running_mean, running_var as float32 initializers "1.weight"...; attrs epsilon=1e-5 (as
    float32 9.9999997e-06), momentum=0.9; opset-11 BN: one output).
  - BN right after a Conv is FOLDED into the Conv: weight float32 (M, C, kh, kw) = sign(w) *
    gamma/sqrt(var+eps) per output channel (one magnitude per row, sign may be flipped where
    gamma < 0) plus a float32 bias (M,). A BN after MaxPool (cnn_poolfirst) is not folded, and
    that first Conv keeps +-1 weights and no bias input.
  - sign: Constant(0-d float 0.0) -> Greater(x, c) -> Where(cond, Constant([1.0]),
    Constant([-1.0])) (the two values are float32 tensors of shape [1]; Constant nodes, not
    initializers).
  - Conv attrs: dilations, group=1, kernel_shape, pads [t, l, b, r], strides. MaxPool attrs:
    ceil_mode=0, dilations, kernel_shape [2, 2], pads 0, strides [2, 2].
  - Flatten(axis=1) before the last MatMul; last layer MatMul [128, 10] +-1, no bias/Add.

DYNAMO  (dynamo=True, default opset 20, ir_version 10, dynamic batch works via
         dynamic_shapes=({0: Dim("batch")},); node names "node_Gemm_15", "node_gt", ...)
  mlp_seed/mlp_odd/mlp_negbn:  Gemm Greater Where Gemm Greater Where Gemm LogSoftmax
  mlp_deep:                    Gemm Greater Where (x4) Gemm LogSoftmax
  cnn:            Conv Greater Where MaxPool Conv Greater Where Reshape Gemm LogSoftmax
  cnn_poolfirst:  Conv MaxPool BatchNormalization Greater Where Conv Greater Where Reshape Gemm
                  LogSoftmax
  - Linear -> Gemm(x, W, [C]) with transB=1, W float32 [M, K] (NOT transposed), alpha=1.
  - EVERY BN directly after a Linear/Conv is FOLDED (the default optimize=True): hidden
    Gemm/Conv get float weights sign(w)*gamma/sqrt(var+eps) per output row (sign flipped where
    gamma < 0) and a float bias initializer "<i>.weight_bias". So the hidden Gemm nodes are
    3-input Gemm with non-+-1 weights; the frontend must recover +-1 = sign(W) row-wise (all
    entries of a row share one |value|) and a threshold from bias/scale.
  - BN not after Conv/Gemm (cnn_poolfirst's BN after MaxPool) stays BatchNormalization
    (5 inputs, attrs epsilon, momentum; one output) with initializers "2.weight" etc.
  - sign: Greater(x, initializer "scalar_tensor_default" 0-d float32 0.0) -> Where(cond,
    initializer "clone" float32[1]=[1.0], initializer "clone_1" float32[1]=[-1.0]); these three
    initializers are SHARED by all the sign blocks of the graph. No Constant nodes.
  - Flatten -> Reshape(x, initializer int64 [-1, 128]) with allowzero=1.
  - last layer: Gemm(x, W[10, K] +-1) with transB=1, beta=1, 2 inputs (no C).
  - Conv/MaxPool also carry auto_pad=b"NOTSET" (MaxPool: storage_order=0).

Both exports of a net give identical integer scores on all 450 test rows (tests/test_exports.py).

The networks (input: raw digits pixels 0..16 as float32; split train_test_split(test_size=0.25,
random_state=0): 1347 train / 450 test rows). Accuracy = onnxruntime argmax on the 450 test
rows (same for both exporters); time = training on one thread:
  mlp_seed       64-128-256-10                                       0.942   ~1.5 s
  mlp_odd        64-37-19-10                                         0.896   ~0.6 s
  mlp_deep       64-64-64-64-32-10                                   0.951   ~0.9 s
  mlp_negbn      mlp_odd, then every other BN channel: gamma, beta and the next layer's input
                 column negated (same function, negative scales)     0.896   ~0.5 s
  cnn            Conv(1->16,3x3,pad 1)-BN-sign-MaxPool2-Conv(16->32,3x3)-BN-sign-Flatten-
                 Linear(128->10)                                     0.933   ~2.4 s
  cnn_poolfirst  Conv-MaxPool-BN-sign-Conv-BN-sign-Flatten-Linear, every other gamma of both
                 BNs initialized to -1 (they stay negative)          0.936   ~3 s
  mlp_ties       mlp_negbn with make_exact_ties (below)              0.902   ~0.8 s
  cnn_ties       cnn with make_exact_ties                            0.953   ~2.5 s
All but the *_ties nets keep their BN thresholds >= 0.05 away from integers
(keep_threshold_margin), so float rounding in ORT or in a BN folded by an exporter can never flip
a sign and exact ties never occur. The *_ties nets do the opposite: every BN is y = +-1 * (x - T)
with integer T reachable by the accumulator and var + eps == 1.0f exactly, so the BN/folded
outputs are exact integers and x == T gives exactly 0 -> -1 (hundreds to thousands of such ties
on the test rows): these catch `>` vs `>=` and `<` vs `<=` (negative scale) mistakes.
In the *_ties exports the folded weights are exactly +-1 and the folded biases integers.
"""
from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

NAMES = ("mlp_seed", "mlp_odd", "mlp_deep", "mlp_negbn", "cnn", "cnn_poolfirst", "mlp_ties",
         "cnn_ties")
# networks whose BN thresholds sit exactly on reachable integers (see make_exact_ties)
TIES = ("mlp_ties", "cnn_ties")
EXPORTERS = ("legacy", "dynamo")
CASES = [(n, e) for n in NAMES for e in EXPORTERS]  # every (network, exporter) pair
CASE_IDS = [f"{n}-{e}" for n, e in CASES]


# ----------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------
def load_data():
    """Raw digits pixels (0..16), fixed split. Returns X_train, X_test (int64, (N, 64)), y's."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    X = d.data.astype(np.int64)
    y = d.target.astype(np.int64)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0)
    return X_tr, X_te, y_tr, y_te


def input_shape(name):
    """Per-row input shape the ONNX model of `name` takes."""
    return (1, 8, 8) if name.startswith("cnn") else (64,)


# ----------------------------------------------------------------------------------------
# straight-through binarization
# ----------------------------------------------------------------------------------------
class _SignSTE(torch.autograd.Function):
    """Forward: +1 where x > 0 else -1.  Backward: hardtanh STE (pass where |x| <= clip), or
    the plain identity STE with clip=None."""

    @staticmethod
    def forward(ctx, x, clip):
        ctx.save_for_backward(x)
        ctx.clip = clip
        return torch.where(x > 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        if ctx.clip is None:
            return g, None
        return g * (x.abs() <= ctx.clip).to(g.dtype), None


class _WeightSignSTE(torch.autograd.Function):
    """Forward: +1 where w >= 0 else -1 (no zeros).  Backward: identity (clipped at |w| <= 1)."""

    @staticmethod
    def forward(ctx, w):
        ctx.save_for_backward(w)
        return torch.where(w >= 0, 1.0, -1.0).to(w.dtype)

    @staticmethod
    def backward(ctx, g):
        (w,) = ctx.saved_tensors
        return g * (w.abs() <= 1).to(g.dtype)


def binary_weight(w):
    return torch.where(w >= 0, 1.0, -1.0).to(w.dtype)


class BinaryLinear(nn.Linear):
    def __init__(self, k, m):
        super().__init__(k, m, bias=False)

    def forward(self, x):
        return F.linear(x, _WeightSignSTE.apply(self.weight))


class BinaryConv2d(nn.Conv2d):
    def __init__(self, c, m, k, padding=0):
        super().__init__(c, m, k, padding=padding, bias=False)

    def forward(self, x):
        return F.conv2d(x, _WeightSignSTE.apply(self.weight), None, self.stride, self.padding)


class SignAct(nn.Module):
    def __init__(self, clip=1.0):
        super().__init__()
        self.clip = clip

    def forward(self, x):
        return _SignSTE.apply(x, self.clip)


class ExportSign(nn.Module):
    """The seed's export form of the activation."""

    def forward(self, x):
        return torch.where(x > 0, torch.tensor([1.0]), torch.tensor([-1.0]))


# ----------------------------------------------------------------------------------------
# networks (training form: a plain nn.Sequential; the last module is the score layer)
# ----------------------------------------------------------------------------------------
def _mlp(sizes, clip=1.0):
    layers = []
    for i in range(len(sizes) - 2):
        layers += [BinaryLinear(sizes[i], sizes[i + 1]), nn.BatchNorm1d(sizes[i + 1]),
                   SignAct(clip)]
    layers += [BinaryLinear(sizes[-2], sizes[-1])]
    return nn.Sequential(*layers)


def build(name):
    if name == "mlp_seed":
        return _mlp([64, 128, 256, 10])
    if name in ("mlp_odd", "mlp_negbn", "mlp_ties"):
        return _mlp([64, 37, 19, 10])
    if name == "mlp_deep":
        return _mlp([64, 64, 64, 64, 32, 10])
    if name in ("cnn", "cnn_ties"):
        return nn.Sequential(
            BinaryConv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), SignAct(),
            nn.MaxPool2d(2),
            BinaryConv2d(16, 32, 3, padding=0), nn.BatchNorm2d(32), SignAct(),
            nn.Flatten(),
            BinaryLinear(128, 10),
        )
    if name == "cnn_poolfirst":
        return nn.Sequential(
            BinaryConv2d(1, 16, 3, padding=1), nn.MaxPool2d(2), nn.BatchNorm2d(16), SignAct(),
            BinaryConv2d(16, 32, 3, padding=0), nn.BatchNorm2d(32), SignAct(),
            nn.Flatten(),
            BinaryLinear(128, 10),
        )
    raise KeyError(name)


# epochs per network (the rest of the recipe is shared)
EPOCHS = {"mlp_seed": 30, "mlp_odd": 40, "mlp_deep": 40, "mlp_negbn": 40, "cnn": 30,
          "cnn_poolfirst": 30, "mlp_ties": 40, "cnn_ties": 30}
LR = {}  # per-network Adam learning rate, default 1e-2
# The narrow/deep MLPs train unstably with batch 64 and BN affine lr 1e-2 (gamma wanders
# through 0, flipping whole channels): they use batch 256 and BN lr 1e-3 (mlp_deep 0.67 -> 0.95).
_STABLE = ("mlp_odd", "mlp_deep", "mlp_negbn", "mlp_ties")
BN_LR = {n: 1e-3 for n in _STABLE}  # per-network Adam lr of the BN affine parameters (def. LR)
BATCH = {n: 256 for n in _STABLE}  # per-network batch size, default 64
TEMP = {}  # per-network softmax temperature numerator for training (scores * T / sqrt(K))


def _prepare(name, seed=0):
    torch.manual_seed(seed)
    np.random.seed(seed)
    model = build(name)
    if name == "cnn_poolfirst":
        # negative gammas from the start: MaxPool before a negative-scale BN acts like a
        # min-pool on the signs, so they cannot be flipped after training for free.
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.weight[::2] = -1.0
    return model


def train(name, seed=0, verbose=False):
    """Train network `name` deterministically. Returns (model, stats dict)."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    X_tr, X_te, y_tr, y_te = load_data()
    shape = input_shape(name)
    xt = torch.tensor(X_tr, dtype=torch.float32).reshape(-1, *shape)
    yt = torch.tensor(y_tr)
    model = _prepare(name, seed)
    lr = LR.get(name, 1e-2)
    bn = [p for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
          for p in m.parameters()]
    w = [p for p in model.parameters() if all(p is not q for q in bn)]
    opt = torch.optim.Adam([{"params": w, "lr": lr},
                            {"params": bn, "lr": BN_LR.get(name, lr)}])
    epochs = EPOCHS[name]
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    g = torch.Generator().manual_seed(seed)
    k_last = model[-1].in_features
    t0 = time.perf_counter()
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=g)
        bs = BATCH.get(name, 64)
        for i in range(0, len(xt), bs):
            idx = perm[i:i + bs]
            out = model(xt[idx])
            # scores are sums of k_last +-1 products: scale for a sane softmax temperature
            loss = F.cross_entropy(out * (TEMP.get(name, 4.0) / k_last ** 0.5), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():  # keep latent weights in the STE's live range
                for m in model.modules():
                    if isinstance(m, (BinaryLinear, BinaryConv2d)):
                        m.weight.clamp_(-1, 1)
        sched.step()
    model.eval()
    stats = {"train_seconds": time.perf_counter() - t0}
    if name in ("mlp_negbn", "mlp_ties"):
        flip_half_gammas(model)
    if name in TIES:
        stats["tie_channels"] = make_exact_ties(model)
    else:
        stats["nudged_thresholds"] = keep_threshold_margin(model)
    stats["torch_test_acc"] = accuracy_torch(model, X_te, y_te, shape)
    if verbose:
        print(f"{name}: {stats}")
    return model, stats


@torch.no_grad()
def recalibrate_bn(model, x):
    """Re-estimate BN running statistics with the final binary weights (one full-batch pass):
    the running averages collected while weights were still flipping lag behind."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    model(x)
    for m in bns:
        m.momentum = 0.1
    model.eval()


@torch.no_grad()
def flip_half_gammas(model):
    """Negate gamma and beta of every other BN channel and negate the matching input columns
    of the next binary layer: sign(-y) = -sign(y) (up to y == 0), so the network computes
    (almost) the same function but the hardware sees negative BN scales."""
    mods = list(model)
    for i, m in enumerate(mods):
        if isinstance(m, nn.BatchNorm1d):
            nxt = next(n for n in mods[i + 1:] if isinstance(n, BinaryLinear))
            ch = torch.arange(0, m.num_features, 2)
            m.weight[ch] = -m.weight[ch]
            m.bias[ch] = -m.bias[ch]
            nxt.weight[:, ch] = -nxt.weight[:, ch]


@torch.no_grad()
def keep_threshold_margin(model, margin=0.05):
    """BN inputs are integers (sums of integer pixels or of +-1 times +-1, or a max of those).
    Move each BN channel's real threshold tau (BN(tau) == 0) at least `margin` away from every
    integer by adjusting beta, so float32 rounding (in ORT, in a BN folded into Gemm/Conv by an
    exporter) can never flip a sign: integer-exact comparisons against ORT are then well
    defined. Returns how many channels were moved."""
    moved = 0
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            scale = (m.weight / torch.sqrt(m.running_var + m.eps)).double()
            mu = m.running_mean.double()
            tau = mu - m.bias.double() / scale
            n = torch.round(tau)
            d = tau - n
            bad = (d.abs() < margin) & (scale != 0)
            if bad.any():
                tau_new = n + torch.where(d >= 0, margin, -margin).double()
                beta_new = (mu - tau_new) * scale
                m.bias[bad] = beta_new[bad].to(m.bias.dtype)
                moved += int(bad.sum())
    return moved


@torch.no_grad()
def make_exact_ties(model):
    """Rewrite every BN channel as y = s * (x - T) with s = +-1 (the sign of its scale) and T
    the reachable integer nearest its threshold: gamma = s, beta = 0, running_mean = T and
    running_var = 1 - eps rounded so that float32(var) + float32(eps) == 1.0 exactly. Every BN
    output (and every BN folded into a Conv/Gemm by an exporter: weights +-1, bias -s*T) is then
    an exact integer in float32, and x == T gives exactly 0 -> sign -1: a deterministic tie
    that catches `>` vs `>=` (and `<` vs `<=` for s = -1) mistakes. Reachable: accumulators of
    +-1 inputs over K terms have the parity of K; integer-input layers reach every integer.
    Returns the number of channels rewritten."""
    eps32 = np.float32(1e-5)
    var = np.float32(1.0) - eps32
    while np.float32(var) + eps32 != np.float32(1.0):
        var = np.nextafter(var, np.float32(2.0), dtype=np.float32)
    n = 0
    prev = None
    for m in model:
        if isinstance(m, (BinaryLinear, BinaryConv2d)):
            prev = m
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            assert abs(m.eps - 1e-5) < 1e-12
            scale = (m.weight / torch.sqrt(m.running_var + m.eps)).double()
            tau = m.running_mean.double() - m.bias.double() / scale
            first = prev is model[0]
            if first:
                T = torch.round(tau)
            else:
                K = prev.weight[0].numel()
                T = 2 * torch.round((tau - K) / 2) + K  # nearest integer with K's parity
            m.weight.copy_(torch.where(scale >= 0, 1.0, -1.0))
            m.bias.zero_()
            m.running_mean.copy_(T.float())
            m.running_var.fill_(float(var))
            n += m.num_features
    return n


@torch.no_grad()
def accuracy_torch(model, X, y, shape):
    model.eval()
    out = model(torch.tensor(X, dtype=torch.float32).reshape(-1, *shape))
    return float((out.argmax(1).numpy() == y).mean())


# ----------------------------------------------------------------------------------------
# export
# ----------------------------------------------------------------------------------------
@torch.no_grad()
def to_export_model(model):
    """Seed style: plain Linear/Conv2d holding sign(w), the where-sign activation, BN as is,
    and a final LogSoftmax."""
    layers = []
    for m in model:
        if isinstance(m, BinaryLinear):
            e = nn.Linear(m.in_features, m.out_features, bias=False)
            e.weight.copy_(binary_weight(m.weight))
        elif isinstance(m, BinaryConv2d):
            e = nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, padding=m.padding,
                          bias=False)
            e.weight.copy_(binary_weight(m.weight))
        elif isinstance(m, SignAct):
            e = ExportSign()
        else:
            e = m  # BatchNorm, MaxPool, Flatten
        layers.append(e)
    layers.append(nn.LogSoftmax(dim=1))
    return nn.Sequential(*layers).eval()


def export(model_e, name, exporter, path, opset=None):
    """Write the ONNX of export-form model `model_e` with `exporter` ('legacy' | 'dynamo');
    `opset` defaults to 11 (legacy, the seed's) and the exporter's default (dynamo)."""
    shape = input_shape(name)
    dummy = torch.zeros(2, *shape)
    path = Path(path)
    if exporter == "legacy":
        torch.onnx.export(
            model_e, (dummy,), str(path), dynamo=False, opset_version=opset or 11,
            do_constant_folding=True, input_names=["input"], output_names=["output"],
            dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        )
    elif exporter == "dynamo":
        import contextlib
        import warnings
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            prog = torch.onnx.export(
                model_e, (dummy,), dynamo=True, input_names=["input"], output_names=["output"],
                dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False,
                **({"opset_version": opset} if opset else {}),
            )
            prog.save(str(path))
    else:
        raise ValueError(exporter)
    return path


def train_and_export(name, exporter, out_dir, model=None):
    """Train `name` (or reuse `model` from `train`), export with `exporter` into `out_dir`.
    Returns the ONNX path (out_dir/<name>_<exporter>.onnx)."""
    if model is None:
        model, _ = train(name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return export(to_export_model(model), name, exporter, out_dir / f"{name}_{exporter}.onnx")


# ----------------------------------------------------------------------------------------
# ONNX helpers
# ----------------------------------------------------------------------------------------
def op_types(path):
    import onnx
    return [n.op_type for n in onnx.load(str(path)).graph.node]


def ort_tensors(onnx_path, X, names):
    """Run the ONNX with onnxruntime (graph optimizations off, one thread) on X (cast to
    float32) and return the named tensors (intermediate ones are added as graph outputs)."""
    import onnx
    import onnxruntime as ort

    m = onnx.load(str(onnx_path))
    outs = [o.name for o in m.graph.output]
    for t in names:
        if t not in outs:
            m.graph.output.append(onnx.helper.make_empty_tensor_value_info(t))
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    X = np.asarray(X, dtype=np.float32)
    dims = [d if isinstance(d, int) else -1 for d in inp.shape[1:]]
    if X.ndim != len(inp.shape):  # e.g. flat (N, 64) rows for a (N, 1, 8, 8) model
        X = X.reshape(len(X), *dims)
    return sess.run(list(names), {inp.name: X})


def ort_pre_softmax(onnx_path, X):
    """Run the ONNX with onnxruntime (no graph optimizations) and return the tensor that feeds
    the final LogSoftmax/Softmax (the integer scores), or the graph output if there is none."""
    import onnx

    m = onnx.load(str(onnx_path))
    soft = [n for n in m.graph.node if n.op_type in ("LogSoftmax", "Softmax")]
    tname = soft[-1].input[0] if soft else m.graph.output[0].name
    return ort_tensors(onnx_path, X, [tname])[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description="train + export the test networks, print graphs")
    ap.add_argument("--out", default="/tmp/fi_nets")
    ap.add_argument("names", nargs="*", default=list(NAMES))
    a = ap.parse_args(argv)
    _, X_te, _, y_te = load_data()
    for name in a.names:
        model, st = train(name)
        for exp in EXPORTERS:
            p = train_and_export(name, exp, a.out, model=model)
            s = ort_pre_softmax(p, X_te)
            acc = float((s.argmax(1) == y_te).mean())
            integer = bool(np.all(s == np.round(s)))
            print(f"{name:14s} {exp:7s} train {st['train_seconds']:5.1f}s torch {st['torch_test_acc']:.3f}"
                  f" ort {acc:.3f} integer={integer}")
            print("    ", " ".join(op_types(p)))


if __name__ == "__main__":
    main()
