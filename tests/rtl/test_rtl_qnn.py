"""Quantized (QONNX, Brevitas) networks through the RTL backend: `compile_project(...,
backend="rtl")`, then Verilator == Icarus == `predict` on 20 test rows, and the measured cycles
per inference equal to the folding bound (for a conv net: the pipeline's cycles, the larger of
the layer bound and the pixel-stream stages), exactly.

MLPs W4A4, W2A2, W8A8, W1A2, W1A1 and CNNs W2A2, W4A4 (quantized conv -> integer or binary max
pool -> conv -> dense). A few in the default suite (Icarus; one Verilator build), the rest `-m slow`.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from fastinference import folding, load
from fastinference.project import compile_project
from fastinference.testing import nets
from fastinference.testing.brevitas_nets import QSpec, make_qnn, qnn_input
from fastinference.testing.rtl_helpers import tool_env
from fastinference.verify.rtl_sim import run_sim

ROWS = 20
SLOW = pytest.mark.slow

# (arch, wbits, abits, simulator, slow)
CASES = [
    ("mlp", 4, 4, "icarus", False),
    ("mlp", 4, 4, "verilator", False),
    ("mlp", 1, 1, "icarus", False),
    ("cnn", 2, 2, "icarus", False),
    ("mlp", 2, 2, "icarus", True),
    ("mlp", 8, 8, "icarus", True),
    ("mlp", 1, 2, "icarus", True),
    ("cnn", 4, 4, "icarus", True),
    ("mlp", 2, 2, "verilator", True),
    ("mlp", 8, 8, "verilator", True),
    ("mlp", 1, 2, "verilator", True),
    ("mlp", 1, 1, "verilator", True),
    ("cnn", 2, 2, "verilator", True),
    ("cnn", 4, 4, "verilator", True),
]

_projects: dict = {}


def _project(qnet_dir, root, arch, wbits, abits):
    """Compile each spec once per session (both simulators use the same project)."""
    key = (arch, wbits, abits)
    if key not in _projects:
        spec = QSpec(arch=arch, wbits=wbits, abits=abits)
        path = make_qnn(spec, qnet_dir)
        _, X_te, _, _ = nets.load_data()
        xf = qnn_input(spec, X_te[:ROWS])
        net = load(str(path))
        out = root / f"{arch}_w{wbits}a{abits}"
        compile_project(str(path), out, backend="rtl", vectors=xf)
        _projects[key] = (net, out, net.check_input(xf), net.predict(xf))
    return _projects[key]


@pytest.fixture(scope="module")
def proj_root(tmp_path_factory):
    return tmp_path_factory.mktemp("rtl_qnn")


@pytest.mark.parametrize("arch,wbits,abits,sim", [
    pytest.param(a, w, b, s, marks=[SLOW] if slow else [], id=f"{a}_w{w}a{b}_{s}")
    for a, w, b, s, slow in CASES])
def test_qonnx_rtl_equals_predict_at_bound(qnet_dir, proj_root, arch, wbits, abits, sim):
    tool_env()
    net, out, x, want = _project(qnet_dir, proj_root, arch, wbits, abits)
    model = net.model
    assert {l.weight_bits for l in model.compute_layers()} == {wbits}
    assert len(np.unique(want, axis=0)) > 5
    got, stats = run_sim(out, x, simulator=sim)
    assert np.array_equal(got, want)
    cfg = json.loads((out / "rtl" / "tb_config.json").read_text())
    f = folding.resolve_folding(model)
    assert cfg["bound_cycles"] == folding.pipeline_bound(model, f)
    assert stats["cycles_per_inference"] == cfg["expected_cycles"] == max(cfg["bound_cycles"],
                                                                           cfg["stream_cycles"])
    if arch == "mlp":
        assert stats["cycles_per_inference"] == cfg["bound_cycles"]
    assert stats["steady_state_intervals"] == [stats["cycles_per_inference"]]
