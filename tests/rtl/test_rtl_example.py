"""The bundled digits MLP (examples/digits_mlp.onnx) through compile_project -> RTL -> both
simulators, at several foldings including fully parallel (one inference per cycle)."""
from __future__ import annotations

import numpy as np
import pytest

from fastinference.project import compile_project
from fastinference.verify.rtl_sim import run_sim
from fastinference.testing.rtl_helpers import REPO, tool_env

EXAMPLE = REPO / "examples" / "digits_mlp.onnx"


def _fully_parallel(rep):
    return {l["name"]: {"pe": l["M"], "simd": l["K"]} for l in rep["layers"]}


def test_digits_mlp_icarus_few_rows(tmp_path):
    """Reduced default version of the test below: 5 rows, default folding, Icarus. (The same
    network in Verilator is tests/test_backends_on_nets.py's mlp_seed: a Verilator build of
    this MLP costs over a minute on the CI machine.)"""
    _check(tmp_path, "icarus", "default", rows=5)


@pytest.mark.slow
@pytest.mark.parametrize("sim", ["verilator", "icarus"])
@pytest.mark.parametrize("fold", ["default", "target8", "target16", "full"])
def test_digits_mlp(tmp_path, sim, fold):
    _check(tmp_path, sim, fold, rows=40)


def _check(tmp_path, sim, fold, rows):
    tool_env()
    x = np.load(REPO / "examples" / "digits_test_x.npy")[:rows]
    kw = {}
    if fold in ("target8", "target16"):
        kw["target_cycles"] = int(fold[6:])
    elif fold == "full":
        probe = compile_project(str(EXAMPLE), tmp_path / "probe", backend="rtl", vectors=x)
        kw["fold_config"] = _fully_parallel(probe)
    rep = compile_project(str(EXAMPLE), tmp_path / "p", backend="rtl", vectors=x, **kw)
    from fastinference import load
    want = load(str(EXAMPLE)).predict(x)
    got, stats = run_sim(tmp_path / "p", x, simulator=sim)
    assert np.array_equal(got, want)
    assert stats["cycles_per_inference"] == rep["bound_cycles"]
    if fold == "full":
        assert rep["bound_cycles"] == 1
