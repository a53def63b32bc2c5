"""Folding: how many output neurons (PE) and inputs per neuron (SIMD) each compute layer
handles per cycle, its validity, and the cycle bound shared by every backend.

The bound of a layer is ``ceil(K/SIMD) * ceil(M/PE) * V`` cycles per inference; the
pipeline's bound is the largest layer bound (the layers run concurrently as a dataflow).

Default folding (no option given): ``--target-cycles`` equal to
``max(DEFAULT_TARGET_CYCLES, largest V)``, i.e. every layer gets the cheapest PE x SIMD that
reaches 64 cycles per inference (or one output pixel per cycle for a conv with more pixels).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

from .errors import BadOptionError
from .ir import BinaryLayer, Model, signed_bits  # noqa: F401  (signed_bits: re-exported)

DEFAULT_TARGET_CYCLES = 64


@dataclass(frozen=True)
class LayerFold:
    pe: int
    simd: int


def layer_bound(layer: BinaryLayer, pe: int, simd: int) -> int:
    return math.ceil(layer.K / simd) * math.ceil(layer.M / pe) * layer.V


def pipeline_bound(model: Model, folding: dict[str, LayerFold]) -> int:
    return max(layer_bound(l, folding[l.name].pe, folding[l.name].simd) for l in model.compute_layers())


def cheapest_fold(layer: BinaryLayer, target: int) -> LayerFold:
    """The smallest PE*SIMD whose bound is at most ``target``; ties prefer no wasted lanes
    (PE divides M, SIMD divides K), then fewer PEs. Raises if even PE=M, SIMD=K is too slow."""
    K, M, V = layer.K, layer.M, layer.V
    if V > target:
        raise BadOptionError(
            f"--target-cycles {target}: layer '{layer.name}' has {V} output pixels and needs at "
            f"least {V} cycles; use --target-cycles {V} or more"
        )
    best = None
    for pe in range(1, M + 1):
        folds = math.ceil(M / pe)
        q = target // (V * folds)  # allowed steps over K
        if q < 1:
            continue
        simd = math.ceil(K / q)
        waste = (M % pe != 0) + (K % simd != 0)
        key = (pe * simd, waste, pe)
        if best is None or key < best[0]:
            best = (key, LayerFold(pe, simd))
    assert best is not None  # pe = M gives folds = 1, q >= 1 since V <= target
    return best[1]


def default_target(model: Model) -> int:
    return max([DEFAULT_TARGET_CYCLES] + [l.V for l in model.compute_layers()])


def fold_for_target(model: Model, target: int) -> dict[str, LayerFold]:
    if not isinstance(target, int) or isinstance(target, bool) or target < 1:
        raise BadOptionError(f"--target-cycles must be a positive integer, got {target!r}")
    return {l.name: cheapest_fold(l, target) for l in model.compute_layers()}


def _check_factor(layer: BinaryLayer, key: str, value, limit: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
        raise BadOptionError(
            f"fold config: layer '{layer.name}' {key}={value!r} is invalid; "
            f"{key} must be an integer in 1..{limit}"
        )
    return value


def fold_from_config(model: Model, config: dict) -> dict[str, LayerFold]:
    """Validate a ``{layer_name: {"pe": P, "simd": S}}`` mapping. Layers it leaves out get the
    default folding."""
    if not isinstance(config, dict):
        raise BadOptionError("fold config must be a JSON object mapping layer names to {\"pe\", \"simd\"}")
    layers = {l.name: l for l in model.compute_layers()}
    for name in config:
        if name not in layers:
            raise BadOptionError(
                f"fold config: unknown layer '{name}'; compute layers are: {', '.join(layers)}"
            )
    folding = fold_for_target(model, default_target(model))
    for name, entry in config.items():
        layer = layers[name]
        if not isinstance(entry, dict) or set(entry) - {"pe", "simd"}:
            raise BadOptionError(
                f"fold config: layer '{name}' needs an object with keys \"pe\" and \"simd\", got {entry!r}"
            )
        pe = _check_factor(layer, "pe", entry.get("pe", folding[name].pe), layer.M)
        simd = _check_factor(layer, "simd", entry.get("simd", folding[name].simd), layer.K)
        folding[name] = LayerFold(pe, simd)
    return folding


def load_fold_config(model: Model, path: str) -> dict[str, LayerFold]:
    try:
        with open(path) as f:
            config = json.load(f)
    except OSError as e:
        raise BadOptionError(f"--fold-config {path}: cannot read ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise BadOptionError(f"--fold-config {path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    return fold_from_config(model, config)


def resolve_folding(model: Model, fold_config: str | dict | None = None,
                    target_cycles: int | None = None) -> dict[str, LayerFold]:
    """The one entry point: a config file/dict, a target, or the default."""
    if fold_config is not None and target_cycles is not None:
        raise BadOptionError("give either --fold-config or --target-cycles, not both")
    if fold_config is not None:
        if isinstance(fold_config, dict):
            return fold_from_config(model, fold_config)
        return load_fold_config(model, fold_config)
    if target_cycles is not None:
        return fold_for_target(model, target_cycles)
    return fold_for_target(model, default_target(model))


def folding_report(model: Model, folding: dict[str, LayerFold]) -> list[dict]:
    """Per compute layer: what report.json records."""
    rows = []
    graph = not model.is_chain
    producers = model.producers() if graph else {}
    for l in model.compute_layers():
        f = folding[l.name]
        rows.append({
            "name": l.name, "kind": l.kind, "source_nodes": list(l.source_nodes),
            **({"inputs": producers[l.name]} if graph else {}),
            "K": l.K, "M": l.M, "V": l.V, "PE": f.pe, "SIMD": f.simd,
            "bound_cycles": layer_bound(l, f.pe, f.simd), **layer_bits(l),
        })
    return rows


def graph_report(model: Model) -> list[dict]:
    """A graph with skip connections: every layer (compute or not) with its kind, its
    "inputs" by layer name (``ir.INPUT`` for the network input) and its output shape."""
    producers = model.producers()
    return [{"name": l.name, "kind": l.kind, "inputs": producers[l.name], "out_shape": list(l.out_shape)}
            for l in model.layers]


def layer_bits(l) -> dict:
    """The bit widths of a compute layer, as report.json and inspect state them: weights (1 =
    +-1), inputs (1 = +-1 bits), outputs (1 = bits; scores: the accumulator plus bias) and the
    accumulator (exact reachable range)."""
    lo, hi = l.acc_range()
    acc_bits = signed_bits(lo, hi)
    kind = l.output_kind
    if kind == "scores":
        b = l.bias if l.bias is not None else [0]
        out_bits = signed_bits(lo + int(min(b)), hi + int(max(b)))
    else:
        out_bits = int(l.out_bits) if kind == "int" else 1
    return {"weight_bits": int(l.weight_bits),
            "input_bits": int(l.input_bits) if l.input_kind == "int" else 1,
            "input_signed": bool(l.input_signed) if l.input_kind == "int" else True,
            "output_bits": out_bits, "output": kind, "acc_bits": acc_bits}
