"""Post-training quantization (PTQ) of a plain float model, as a transformation of the
float-op chain BEFORE ``passes.lower``: the result is the same kind of chain a QONNX model
gives (Gemm/Conv with integer weights ``wq``, ``QuantAct`` activation quantizers), so the
existing passes turn it into MVAU layers with multi-thresholds, exactly.

* Weights: symmetric, narrow range, ``weight_bits`` (default 8), one scale per output channel
  (max |w| of the row / (2^(b-1) - 1)). The LAST layer takes one scale for all its rows, so
  that its integer scores share one ``output_scale`` and their argmax is the float model's.
* Activations: a ``QuantAct`` (per-tensor scale, zero point 0, half-to-even) after each hidden
  layer's last elementwise op (bias, BatchNorm, ReLU): unsigned after a ReLU, signed otherwise;
  ``act_bits`` (default 8). The scale is max / qmax of the float activation on the calibration
  rows (or a percentile of |activation|). A MaxPool after the ReLU then pools integers.
* The first layer takes the integer input as before (``--input-bits``): its input scale is 1.
* The last layer's float bias is rounded to whole score units (acc scale = weight scale x
  input scale), so the scores are integers (``passes.thresholds._score_scale``).

Statistics come from a numpy float32 evaluation of the float chain on the calibration rows.
``simulate`` evaluates the quantized chain with the same arithmetic the threshold pass reads
its staircases from (``thresholds.fuse_dot`` + ``eval_per_channel`` + ``QuantSpec.to_int``),
so its integer scores equal the lowered reference's; it makes ``act_bits="auto"`` (greedy,
first layer first, 2..8 bits, smallest that keeps argmax agreement with the float model on the
calibration rows >= ``min_agreement``) cheap.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Optional, Union

import numpy as np

from .errors import BadInputError, BadOptionError, UnsupportedModelError
from .ir import Affine, Conv, Flatten, Gemm, Identity, MaxPool, Model, QuantAct, Relu, SignAct, Softmax
from .passes import float_chain
from .quant import QuantSpec

MIN_CALIB_ROWS = 8
BITS_RANGE = (2, 8)
CALIB_HELP = ("representative inputs, a .npy array (N, F) or (N, C, H, W) of the integer values the "
              "hardware takes, N >= 8 rows, e.g. a few hundred training rows")


@dataclass
class PTQConfig:
    """Options of the float-model flow (``--calibration`` and friends)."""

    calibration: object = None          # np.ndarray or a .npy path
    weight_bits: int = 8
    act_bits: Union[int, str] = 8       # or "auto"
    precision: Optional[Union[dict, str]] = None  # {"layer": {"weight_bits": w, "act_bits": a}} or a JSON path
    calib_percentile: Optional[float] = None      # None: max
    min_agreement: float = 0.99
    calibration_name: str = "--calibration"


# ---------------------------------------------------------------------------- detection
def is_float_model(model: Model) -> bool:
    """A chain with a Gemm/Conv whose float weights are neither quantized (QONNX) nor binary
    (one magnitude per row), and no quantizer or sign of its own."""
    if any(isinstance(l, (SignAct, QuantAct)) for l in model.layers) or model.input_quant is not None:
        return False
    for l in model.layers:
        if isinstance(l, (Gemm, Conv)) and l.wq is None:
            W = np.abs(l.weights.reshape(l.weights.shape[0], -1))
            if W.size and np.any(W.max(axis=1) != W.min(axis=1)):
                return True
    return False


def need_calibration_message(path: str) -> str:
    return (f"{path} is a float model (weights of many magnitudes): give --calibration C.npy to "
            f"quantize it post-training ({CALIB_HELP})")


# ---------------------------------------------------------------------------- options
def _check_bits(v, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not BITS_RANGE[0] <= int(v) <= BITS_RANGE[1]:
        raise BadOptionError(f"{what} must be an integer in {BITS_RANGE[0]}..{BITS_RANGE[1]}, got {v!r}")
    return int(v)


def check_calibration(model: Model, x, name: str = "--calibration") -> np.ndarray:
    """The calibration rows as float32 (N, *input_shape); BadInputError naming the problem."""
    from . import reference
    if isinstance(x, (str, bytes)) or hasattr(x, "__fspath__"):
        try:
            x = np.load(x, allow_pickle=False)
        except FileNotFoundError:
            raise BadInputError(f"{name} {x}: no such file") from None
        except Exception as e:
            raise BadInputError(f"{name} {x}: not a readable .npy array ({type(e).__name__})") from None
    x = np.asarray(x)
    shape = tuple(model.input_shape)
    want = f"(N, {', '.join(map(str, shape))})" + (f" or (N, {int(np.prod(shape))})" if len(shape) > 1 else "")
    if x.dtype.kind not in "iuf":
        raise BadInputError(f"{name}: dtype {x.dtype}; give numeric (integer or float) inputs: {CALIB_HELP}")
    if x.ndim < 2 or (x.shape[1:] != shape and int(np.prod(x.shape[1:])) != int(np.prod(shape))):
        raise BadInputError(f"{name}: shape {x.shape}; the model takes {want}")
    if x.shape[0] < MIN_CALIB_ROWS:
        raise BadInputError(f"{name}: {x.shape[0]} rows; give at least {MIN_CALIB_ROWS} representative "
                            "inputs (a few hundred are better)")
    flat = x.reshape(x.shape[0], -1)
    if x.dtype.kind == "f":
        bad = ~np.isfinite(flat)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise BadInputError(f"{name}: row {r}, column {c} is {flat[r, c]}; calibration data must be finite")
    try:
        xi = reference.check_input(model, x)
    except BadInputError as e:
        raise BadInputError(f"{name}: {e}") from None
    return xi.astype(np.float32)


def load_precision(precision, names: list[str], last: str) -> dict:
    """--precision: dict or JSON path -> {name: {"weight_bits"?: w, "act_bits"?: a}}, checked."""
    if precision is None:
        return {}
    src = "--precision"
    if not isinstance(precision, dict):
        src = f"--precision {precision}"
        try:
            with open(precision) as f:
                precision = json.load(f)
        except FileNotFoundError:
            raise BadOptionError(f"{src}: no such file") from None
        except (OSError, ValueError) as e:
            raise BadOptionError(f"{src}: not a JSON file ({type(e).__name__})") from None
    if not isinstance(precision, dict):
        raise BadOptionError(f'{src}: give a JSON object {{"layer name": {{"weight_bits": w, "act_bits": a}}}}')
    out = {}
    for k, v in precision.items():
        if k not in names:
            raise BadOptionError(f"{src}: no layer '{k}'; the quantized layers are {', '.join(names)}")
        if not isinstance(v, dict) or not v or set(v) - {"weight_bits", "act_bits"}:
            raise BadOptionError(f'{src}: layer \'{k}\': give {{"weight_bits": w, "act_bits": a}} (either or both)')
        out[k] = {kk: _check_bits(vv, f"{src}: layer '{k}': {kk}") for kk, vv in v.items()}
        if "act_bits" in out[k] and k == last:
            raise BadOptionError(f"{src}: layer '{k}' is the last layer: its outputs are the integer "
                                 "scores; only weight_bits applies")
    return out


# ---------------------------------------------------------------------------- float evaluation
def _chan(v, y):
    """A per-channel vector shaped to broadcast on y (N, C, ...)."""
    v = np.asarray(v, dtype=np.float32)
    return v.reshape(v.shape[:-1] + (v.shape[-1],) + (1,) * (y.ndim - 2)) if v.ndim else v


def _patches(x: np.ndarray, l: Conv) -> tuple[np.ndarray, int, int]:
    """x (N, C, H, W) -> (N, OH, OW, C*kh*kw) zero-padded windows in weight order."""
    kh, kw = l.weights.shape[2:]
    sh, sw = l.stride
    pt, pl, pb, pr = l.pads
    x = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    OH, OW = l.out_shape[1:]
    v = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw][:, :, :OH, :OW]
    return v.transpose(0, 2, 3, 1, 4, 5).reshape(x.shape[0], OH, OW, -1), OH, OW


def _maxpool(l: MaxPool, x: np.ndarray) -> np.ndarray:
    pt, pl, pb, pr = l.pads
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(np.int64).min
    x = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=fill)
    OH, OW = l.out_shape[1:]
    v = np.lib.stride_tricks.sliding_window_view(x, tuple(l.kernel), axis=(2, 3))
    return v[:, :, ::l.stride[0], ::l.stride[1]][:, :, :OH, :OW].max(axis=(-2, -1))


def _affine(l: Affine, y: np.ndarray) -> np.ndarray:
    apply_step = float_chain.apply_step
    for op, v in l.steps:
        if op == "muladd":
            v = np.stack([_chan(v[0], y), _chan(v[1], y)])
        elif v is not None:
            v = _chan(v, y)
        y = apply_step(op, v, y)
    return y


def float_outputs(model: Model, x: np.ndarray) -> list[np.ndarray]:
    """float32 output of every layer of the float chain (what onnxruntime computes, up to the
    order of float32 sums), x float32 (N, *input_shape)."""
    outs, y = [], np.asarray(x, dtype=np.float32)
    with np.errstate(all="ignore"):
        for l in model.layers:
            if isinstance(l, Gemm):
                y = y.reshape(len(y), -1) @ l.weights.reshape(l.weights.shape[0], -1).T.astype(np.float32)
                if l.bias is not None:
                    y = (y + l.bias.astype(np.float32)).astype(np.float32)
            elif isinstance(l, Conv):
                p, OH, OW = _patches(y, l)
                y = (p @ l.weights.reshape(l.weights.shape[0], -1).T.astype(np.float32)).transpose(0, 3, 1, 2)
                if l.bias is not None:
                    y = (y + _chan(l.bias, y)).astype(np.float32)
            elif isinstance(l, Affine):
                y = _affine(l, y)
            elif isinstance(l, Relu):
                y = np.maximum(y, np.float32(0))
            elif isinstance(l, MaxPool):
                y = _maxpool(l, y)
            elif isinstance(l, Flatten):
                y = y.reshape(len(y), -1)
            elif isinstance(l, (Softmax, Identity)):
                pass
            else:
                raise UnsupportedModelError(f"layer '{l.name}': {l.kind} in a float model is not supported "
                                            "by post-training quantization")
            outs.append(np.ascontiguousarray(y, dtype=np.float32))
    return outs


# ---------------------------------------------------------------------------- the plan
@dataclass
class Segment:
    """One compute layer and the float ops up to the next one."""

    index: int                 # of the Gemm/Conv in the float chain
    name: str
    act_at: Optional[int]      # index of the op after which the QuantAct goes (None: last layer)
    signed: bool = False
    weight_bits: int = 8
    act_bits: Optional[int] = None
    act_scale: Optional[float] = None
    act_range: tuple = (0.0, 0.0)


def plan_segments(model: Model) -> list[Segment]:
    compute = [i for i, l in enumerate(model.layers) if isinstance(l, (Gemm, Conv))]
    if not compute:
        raise UnsupportedModelError("the network has no Gemm/MatMul/Conv layer")
    segs = []
    for k, i in enumerate(compute):
        end = compute[k + 1] if k + 1 < len(compute) else len(model.layers)
        if k + 1 == len(compute):
            segs.append(Segment(i, model.layers[i].name, None))
            continue
        at, signed = i, True
        for j in range(i + 1, end):
            l = model.layers[j]
            if isinstance(l, Relu):
                at, signed = j, False
            elif isinstance(l, Affine):
                at = j
                signed = not (l.steps and l.steps[-1][0] == "relu")
        segs.append(Segment(i, model.layers[i].name, at, signed))
    return segs


def _act_range(y: np.ndarray, percentile: Optional[float]) -> tuple[float, float, float]:
    """(min, max, magnitude used for the scale)."""
    lo, hi = float(y.min(initial=0)), float(y.max(initial=0))
    mag = max(abs(lo), abs(hi)) if percentile is None else float(np.percentile(np.abs(y), percentile))
    return lo, hi, mag


def _weight_quant(W: np.ndarray, bits: int, per_channel: bool) -> dict:
    qmax = (1 << (bits - 1)) - 1
    Wm = W.reshape(W.shape[0], -1).astype(np.float64)
    mx = np.abs(Wm).max(axis=1) if per_channel else np.full(W.shape[0], np.abs(Wm).max(initial=0))
    s = np.where(mx > 0, mx / qmax, 1.0).astype(np.float32)
    q = np.clip(np.round(Wm / s.astype(np.float64)[:, None]), -qmax, qmax).astype(np.int64)
    return {"q": q.reshape(W.shape), "row_scale": s, "bits": int(bits), "bipolar": False}


def quantize(model: Model, segs: list[Segment], warn) -> Model:
    """The float chain with ``wq`` on every Gemm/Conv, a ``QuantAct`` after every hidden layer
    and the last layer's bias rounded to whole score units. ``segs`` carry bits and scales."""
    layers = [replace(l) for l in model.layers]
    insert = {}
    in_scale = 1.0
    for s in segs:
        l = layers[s.index]
        last = s.act_at is None
        wq = _weight_quant(l.weights, s.weight_bits, per_channel=not last)
        l.wq = wq
        l.weights = (wq["q"] * wq["row_scale"].reshape((-1,) + (1,) * (l.weights.ndim - 1))).astype(np.float32)
        if last:
            a = wq["row_scale"].astype(np.float64) * np.float64(np.float32(in_scale))  # binarize's product
            nxt = layers[s.index + 1] if s.index + 1 < len(layers) else None
            if isinstance(nxt, Affine) and nxt.source_nodes == l.source_nodes and nxt.steps \
                    and nxt.steps[0][0] == "add":
                b = np.asarray(nxt.steps[0][1], dtype=np.float64)
                units = np.round(b / a)
                nxt.steps = [("add", (units * a).astype(np.float32))] + list(nxt.steps[1:])
            continue
        qs = QuantSpec(scale=np.float32(s.act_scale), zero_point=0.0, bits=s.act_bits, signed=s.signed,
                       narrow=False, rounding="ROUND")
        shape = layers[s.act_at].out_shape
        insert[s.act_at] = QuantAct(name=f"{s.name}_act", source_nodes=list(layers[s.act_at].source_nodes),
                                    in_shape=shape, out_shape=shape, spec=qs)
        in_scale = float(np.float32(s.act_scale))
    out = []
    for i, l in enumerate(layers):
        out.append(l)
        if i in insert:
            out.append(insert[i])
    m = model.copy()
    m.layers = out
    return m


def set_scales(segs: list[Segment], fouts: list[np.ndarray], percentile, warn) -> None:
    for s in segs:
        if s.act_at is None:
            continue
        y = fouts[s.act_at]
        lo, hi, mag = _act_range(y, percentile)
        s.act_range = (lo, hi)
        qmax = (1 << (s.act_bits - 1)) - 1 if s.signed else (1 << s.act_bits) - 1
        if not mag > 0:
            warn(f"layer '{s.name}': its activation is 0 on every calibration row (range zero); "
                 "quantized with scale 1, the hardware computes that quantized function exactly")
            s.act_scale = 1.0
        else:
            s.act_scale = float(np.float32(mag / qmax))


# ---------------------------------------------------------------------------- quantized simulation
class _Named:
    def __init__(self, name):
        self.name, self.source_nodes = name, []


def simulate(qmodel: Model, x: np.ndarray) -> tuple[np.ndarray, dict]:
    """Integer scores (N, classes) of the quantized chain, and the dequantized value of every
    QuantAct (by name), with the arithmetic the lowering reads its thresholds from."""
    eval_per_channel, fuse_dot = float_chain.eval_per_channel, float_chain.fuse_dot
    layers = qmodel.layers
    val = np.asarray(x, dtype=np.float64).astype(np.int64)  # integers (the first layer's input)
    scale = 1.0
    acts = {}
    i = 0
    with np.errstate(all="ignore"):
        while i < len(layers):
            l = layers[i]
            if isinstance(l, (Gemm, Conv)):
                q = l.wq["q"].reshape(l.wq["q"].shape[0], -1)
                if isinstance(l, Gemm):
                    acc = val.reshape(len(val), -1).astype(np.float64) @ q.T.astype(np.float64)
                    shp = None
                else:
                    p, OH, OW = _patches(val, l)
                    acc = p.reshape(-1, p.shape[-1]).astype(np.float64) @ q.T.astype(np.float64)
                    shp = (len(val), OH, OW)
                acc = acc.astype(np.int64)  # exact: |acc| < 2^53 for 8-bit operands
                a = l.wq["row_scale"].astype(np.float64) * np.float64(np.float32(scale))
                steps, same, j = [("dot", a)], [True], i + 1
                while j < len(layers) and isinstance(layers[j], (Affine, Relu)):
                    if isinstance(layers[j], Affine):
                        steps += layers[j].steps
                        same += [layers[j].source_nodes == l.source_nodes] * len(layers[j].steps)
                    else:
                        steps.append(("relu", None))
                        same.append(False)
                    j += 1
                if j < len(layers) and isinstance(layers[j], QuantAct):
                    y = eval_per_channel(fuse_dot(steps, same, _Named(l.name), 0, 0), acc)
                    qa = layers[j].spec.to_int(y)
                    if shp is not None:
                        qa = qa.reshape(shp + (-1,)).transpose(0, 3, 1, 2)
                    val, scale = qa, float(layers[j].spec.scale)
                    acts[layers[j].name] = layers[j].spec.dequant(qa)
                    i = j + 1
                    continue
                # the last layer: acc + bias in whole units
                bias = np.zeros(acc.shape[-1])
                for op, v in steps[1:]:
                    if op == "add":
                        bias = bias + np.round(np.asarray(v, dtype=np.float64) / a)
                val = acc + bias.astype(np.int64)
                if shp is not None:
                    val = val.reshape(shp + (-1,)).transpose(0, 3, 1, 2)
                i = j
                continue
            if isinstance(l, MaxPool):
                val = _maxpool(l, val)
            elif isinstance(l, Flatten):
                val = val.reshape(len(val), -1)
            i += 1
    return val.reshape(len(val), -1), acts


def _score_unit(qmodel: Model) -> float:
    """Float value of one score unit (the last layer's weight scale x its input scale)."""
    scale, unit = 1.0, 1.0
    for l in qmodel.layers:
        if isinstance(l, QuantAct):
            scale = float(l.spec.scale)
        elif isinstance(l, (Gemm, Conv)):
            unit = float(l.wq["row_scale"][0]) * float(np.float32(scale))
    return unit


# ---------------------------------------------------------------------------- driver
@dataclass
class PTQResult:
    model: Model                       # the quantized float-op chain (input of ``lower``)
    layers: list[dict] = field(default_factory=list)
    agreement: float = 0.0             # argmax agreement with the float model, calibration rows
    warnings: list[str] = field(default_factory=list)
    auto: bool = False
    calib_rows: int = 0
    percentile: Optional[float] = None
    min_agreement: float = 0.99
    tried: list = field(default_factory=list)
    calibration: Optional[np.ndarray] = None  # the checked rows, float32 (N, *input_shape)

    def precision(self) -> dict:
        """The chosen bits per layer, in ``--precision`` form."""
        return {r["name"]: ({"weight_bits": r["weight_bits"]} if r["act_bits"] is None else
                            {"weight_bits": r["weight_bits"], "act_bits": r["act_bits"]}) for r in self.layers}

    def summary(self) -> dict:
        return {"calibration_rows": self.calib_rows, "scale": "max" if self.percentile is None else
                f"percentile {self.percentile:g}", "calib_percentile": self.percentile, "act_bits_mode": "auto" if self.auto else "fixed",
                "min_agreement": self.min_agreement, "agreement_calibration": round(self.agreement, 6),
                "layers": self.layers, "precision": self.precision(), "warnings": self.warnings,
                **({"auto_tried": self.tried} if self.auto else {})}


def _agreement(scores: np.ndarray, ref: np.ndarray) -> float:
    return float((scores.argmax(axis=1) == ref.argmax(axis=1)).mean())


def run_ptq(model: Model, cfg: PTQConfig) -> PTQResult:
    """Quantize the float chain ``model`` (input format already set) with ``cfg``."""
    if cfg.calibration is None:
        raise BadOptionError(need_calibration_message(model.source_path or model.name))
    wb = _check_bits(cfg.weight_bits, "--weight-bits")
    auto = isinstance(cfg.act_bits, str) and cfg.act_bits.lower() == "auto"
    ab = 8 if auto else _check_bits(cfg.act_bits, "--act-bits")
    if cfg.calib_percentile is not None and not (isinstance(cfg.calib_percentile, (int, float))
                                                 and 50 <= float(cfg.calib_percentile) <= 100):
        raise BadOptionError(f"--calib-percentile must be a number in 50..100, got {cfg.calib_percentile!r}")
    if not (isinstance(cfg.min_agreement, (int, float)) and 0 <= float(cfg.min_agreement) <= 1):
        raise BadOptionError(f"--min-agreement must be a number in 0..1, got {cfg.min_agreement!r}")
    x = check_calibration(model, cfg.calibration, cfg.calibration_name)
    segs = plan_segments(model)
    prec = load_precision(cfg.precision, [s.name for s in segs], segs[-1].name)
    for s in segs:
        s.weight_bits = prec.get(s.name, {}).get("weight_bits", wb)
        if s.act_at is not None:
            s.act_bits = prec.get(s.name, {}).get("act_bits", ab)
    warnings: list[str] = []
    fouts = float_outputs(model, x)
    last = max(i for i, l in enumerate(model.layers) if not isinstance(l, (Softmax, Identity)))
    fscores = fouts[last].reshape(len(x), -1)  # the float scores before a final (Log)Softmax
    set_scales(segs, fouts, cfg.calib_percentile, warnings.append)

    def agreement_of() -> tuple[float, Model]:
        qm = quantize(model, segs, None)
        return _agreement(simulate(qm, x)[0], fscores), qm

    tried = []
    if auto:
        target = float(cfg.min_agreement)
        for s in segs:
            if s.act_at is None or "act_bits" in prec.get(s.name, {}):
                continue
            for b in range(BITS_RANGE[0], BITS_RANGE[1] + 1):
                s.act_bits = b
                set_scales([s], fouts, cfg.calib_percentile, lambda m: None)
                agr, _ = agreement_of()
                tried.append({"layer": s.name, "act_bits": b, "agreement": round(agr, 6)})
                if agr >= target:
                    break
        agr, qm = agreement_of()
        if agr < target:
            warnings.append(f"--act-bits auto: even 8-bit activations agree with the float model on only "
                            f"{agr:.4f} of the calibration rows (< --min-agreement {target:g}); "
                            "raise --weight-bits or check the calibration data")
    else:
        agr, qm = agreement_of()
    qm.source_path = model.source_path
    # measured quantization error per layer on the calibration rows
    sc, acts = simulate(qm, x)
    rows = []
    for s in segs:
        r = {"name": s.name, "weight_bits": s.weight_bits, "act_bits": s.act_bits,
             "act_signed": None if s.act_at is None else bool(s.signed)}
        if s.act_at is not None:
            yf = fouts[s.act_at]
            yq = acts[f"{s.name}_act"]
            rng = float(yf.max() - yf.min()) or 1.0
            r.update(act_scale=s.act_scale, act_range=[round(s.act_range[0], 6), round(s.act_range[1], 6)],
                     rms_error=float(np.sqrt(np.mean((yq.astype(np.float64) - yf) ** 2))))
            r["rel_error"] = r["rms_error"] / rng
        else:
            yq = sc.astype(np.float64) * _score_unit(qm)
            rng = float(fscores.max() - fscores.min()) or 1.0
            r.update(score_unit=_score_unit(qm),
                     rms_error=float(np.sqrt(np.mean((yq - fscores.astype(np.float64)) ** 2))))
            r["rel_error"] = r["rms_error"] / rng
        rows.append(r)
    return PTQResult(qm, rows, agr, warnings, auto, int(len(x)), cfg.calib_percentile,
                     float(cfg.min_agreement), tried, x)


# ---------------------------------------------------------------------------- reporting
def onnx_float_scores(path: str, x: np.ndarray) -> np.ndarray:
    """The float model's output (onnxruntime) on x (N, *input_shape), row by row when the graph
    fixes the batch."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = tuple(inp.shape)
    x = np.asarray(x, dtype=np.float32).reshape((len(x),) + tuple(int(d) for d in shape[1:]))
    if isinstance(shape[0], int):
        return np.concatenate([sess.run(None, {inp.name: x[i:i + shape[0]]})[0] for i in range(0, len(x), shape[0])])
    return sess.run(None, {inp.name: x})[0]


def inspect_lines(res: PTQResult) -> list[str]:
    """The PTQ table of ``inspect``: bits, scale and measured error per layer."""
    head = (f"post-training quantization: {res.calib_rows} calibration rows, activation scale from the "
            f"{'max' if res.percentile is None else f'{res.percentile:g}th percentile'}, act bits "
            f"{'auto (min agreement ' + format(res.min_agreement, 'g') + ')' if res.auto else 'fixed'}; "
            f"argmax agreement with the float model on the calibration rows {res.agreement:.4f}")
    hdr = f"{'layer':<24} {'w bits':>6} {'a bits':>6} {'scale':>11} {'float range':>19} {'rms err':>9} {'rel err':>8}"
    out = [head, hdr, "-" * len(hdr)]
    for r in res.layers:
        if r["act_bits"] is None:
            out.append(f"{r['name']:<24} {r['weight_bits']:>6} {'scores':>6} {r['score_unit']:>11.4g} "
                       f"{'':>19} {r['rms_error']:>9.4g} {r['rel_error']:>8.2%}")
        else:
            rng = f"{r['act_range'][0]:.3g}..{r['act_range'][1]:.3g}"
            a = f"{'s' if r['act_signed'] else 'u'}{r['act_bits']}"
            out.append(f"{r['name']:<24} {r['weight_bits']:>6} {a:>6} {r['act_scale']:>11.4g} {rng:>19} "
                       f"{r['rms_error']:>9.4g} {r['rel_error']:>8.2%}")
    out.append("(rms err: dequantized activation (or score x unit) vs the float model's, on the calibration "
               "rows; rel err: relative to the float range)")
    return out


def predict_comparison(path: str, net, x, scores: np.ndarray, y: np.ndarray) -> str:
    """predict --labels on a float model: quantized vs float (onnxruntime) accuracy, agreement."""
    f = onnx_float_scores(path, net.check_input(x).astype(np.float32))
    qa, fa = scores.argmax(axis=1), f.argmax(axis=1)
    return (f"; float model (onnxruntime) accuracy {float((fa == y).mean()):.4f}; argmax agreement "
            f"quantized vs float {float((qa == fa).mean()):.4f} ({int((qa == fa).sum())}/{len(y)})")


def options_from_args(a) -> dict:
    """The post-training quantization options of a parsed command line (inspect, predict,
    compile, sweep), as ``api.load``'s ``ptq`` argument."""
    return {"calibration": a.calibration, "weight_bits": a.weight_bits, "act_bits": a.act_bits,
            "precision": a.precision, "calib_percentile": a.calib_percentile, "min_agreement": a.min_agreement}
