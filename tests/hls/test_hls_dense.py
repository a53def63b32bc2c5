"""HLS backend, dense layers: generated C++ (g++ C simulation) == fastinference.reference.run.

Binary layers: XNOR-popcount over SIMD lanes with the tail of K masked, PE padding of M,
thresholds with both directions, integer first layers (signed and unsigned), score layers.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from fastinference import reference
from fastinference.backends.hls import write_hls
from fastinference.folding import LayerFold
from fastinference.ir import Model
from fastinference.verify.csim import run_csim
from fastinference.testing.hls_models import dense, fold, random_inputs, write_report


def csim_equals_reference(model, folding, out_dir, x, top="fi_top", extra_flags=None):
    write_report(model, folding, out_dir)
    write_hls(model, folding, out_dir / "hls", top=top)
    want = reference.run(model, x)
    got = run_csim(out_dir, x, extra_flags=extra_flags)
    assert got.dtype == np.int64 and got.shape == want.shape
    if not np.array_equal(got, want):
        row = int(np.argwhere((got != want).any(axis=1))[0, 0])
        pytest.fail(f"row {row}: csim {got[row].tolist()} != reference {want[row].tolist()}")
    return got


@st.composite
def dense_chains(draw, inputs):
    """A chain of 0..2 thresholded dense layers and a score layer, with random folding.
    ``inputs``: "binary", "unsigned" or "signed" (the first layer's input)."""
    seed = draw(st.integers(0, 2**32 - 1))
    int_input = inputs != "binary"
    signed = inputs == "signed"
    bits = draw(st.integers(2 if signed else 1, 8)) if int_input else 1
    sizes = [draw(st.integers(1, 130))]
    for _ in range(draw(st.integers(0, 2))):
        sizes.append(draw(st.integers(1, 40)))
    sizes.append(draw(st.integers(1, 40)))
    folds = []
    for K, M in zip(sizes[:-1], sizes[1:]):
        folds.append((draw(st.integers(1, M)), draw(st.integers(1, K))))
    return seed, int_input, bits, signed, sizes, folds


def build_chain(seed, int_input, bits, signed, sizes, folds):
    rng = np.random.default_rng(seed)
    layers, folding = [], {}
    n = len(sizes) - 1
    for i, (K, M) in enumerate(zip(sizes[:-1], sizes[1:])):
        first = i == 0
        kind = "int" if first and int_input else "binary"
        layer = dense(f"dense_{i}", K, M, rng, input_kind=kind, bits=bits if first else 1,
                      signed=signed and first, scores=i == n - 1)
        layers.append(layer)
        folding[layer.name] = LayerFold(*folds[i])
    model = Model("chain", layers, (sizes[0],), input_bits=bits, input_signed=signed)
    return model, folding, rng


def _property(inputs, examples=5, shard_seed=4):
    # 3 shards x 5 examples: each example is one g++ build, so the shards let pytest-xdist
    # spread the cost
    @seed(["binary", "unsigned", "signed"].index(inputs) + shard_seed)  # reproducible shards
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(chain=dense_chains(inputs))
    def check(out_root, chain):
        model, folding, rng = build_chain(*chain)
        x = random_inputs(model, rng, 40)
        out = out_root / f"chain{len(list(out_root.iterdir()))}"
        csim_equals_reference(model, folding, out, x)
    return check


@pytest.mark.parametrize("inputs", ["binary", "unsigned", "signed"])
def test_random_dense_chains_equal_reference(tmp_path, inputs):
    """Property: for random chains (K 1..130, M 1..40, any PE/SIMD, random thresholds and
    directions, a score layer last), the C simulation equals the reference exactly."""
    _property(inputs)(tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("inputs", ["binary", "unsigned", "signed"])
def test_random_dense_chains_many(tmp_path, inputs):
    """The same property on 30 more examples per input kind (-m slow)."""
    _property(inputs, examples=30, shard_seed=100)(tmp_path)


def _tie_thresholds(layer, acc_row):
    """Thresholds equal to the accumulators of one input row: every neuron sees acc == T."""
    layer.thresholds = np.asarray(acc_row, dtype=np.int64)


def test_tail_masking_k40_k10_pe_not_dividing_m(tmp_path):
    """K=40 with SIMD=16 (tail of 8 lanes), K=10 with SIMD=4 and 3, PE=3 for M=10 and PE=4
    for M=7. All-zero inputs against all -1 weights: pad lanes would XNOR to 1 if unmasked.
    Thresholds equal to reachable accumulators check >= / <= (not > / <)."""
    rng = np.random.default_rng(40)
    l0 = dense("dense_0", 40, 10, rng)
    l0.weights[0] = -1  # all weight bits 0
    l0.weights[1] = 1
    l1 = dense("dense_1", 10, 10, rng)
    l1.weights[2] = -1
    l2 = dense("dense_2", 10, 7, rng, scores=True)
    l2.weights[3] = -1
    model = Model("tails", [l0, l1, l2], (40,), input_bits=1)
    folding = fold(dense_0=(3, 16), dense_1=(4, 3), dense_2=(4, 4))
    x = random_inputs(model, rng, 64)
    x[2] = 0
    x[3, ::2] = 1
    x[3, 1::2] = 0
    # ties at row 4 for both thresholded layers, both directions
    outs = reference.run_layers(model, x)
    acc0 = (2 * x[4] - 1) @ l0.weights.T.astype(np.int64)
    _tie_thresholds(l0, acc0)
    bits0 = reference.run_layers(model, x)[0][4]
    acc1 = (2 * bits0.astype(np.int64) - 1) @ l1.weights.T.astype(np.int64)
    _tie_thresholds(l1, acc1)
    del outs
    got = csim_equals_reference(model, folding, tmp_path, x)
    # the all-zero row's first neuron matches all 40 inputs: acc = +40 reaches the next layer
    assert got.shape == (64, 7)


def test_int_first_layer_signed_k10_and_wide_simd(tmp_path):
    """Signed 8-bit inputs, K=10 with SIMD=10 (one word); then K=70 with SIMD=70 (> 64 lanes,
    weights as ap_uint string constants) and PE=M; bias on the score layer."""
    rng = np.random.default_rng(10)
    l0 = dense("dense_0", 10, 70, rng, input_kind="int", bits=8, signed=True)
    l1 = dense("dense_1", 70, 33, rng)
    l2 = dense("dense_2", 33, 5, rng, scores=True, bias_scale=1000)
    model = Model("signed", [l0, l1, l2], (10,), input_bits=8, input_signed=True)
    folding = fold(dense_0=(7, 10), dense_1=(33, 70), dense_2=(2, 33))
    x = random_inputs(model, rng, 64)
    csim_equals_reference(model, folding, tmp_path, x)


def test_wide_input_and_64_bit_scores(tmp_path):
    """A 1x28x28 8-bit input (6272 bits per beat: AP_INT_MAX_W raised) and biases near 2^40
    (64-bit scores); zero rows give an empty (0, classes) array."""
    rng = np.random.default_rng(28)
    l0 = dense("dense_0", 784, 24, rng, input_kind="int", bits=8, in_shape=(1, 28, 28))
    l1 = dense("dense_1", 24, 10, rng, scores=True)
    l1.bias = rng.integers(-2**40, 2**40, size=10).astype(np.int64)
    model = Model("wide", [l0, l1], (1, 28, 28), input_bits=8)
    folding = fold(dense_0=(4, 98), dense_1=(10, 24))
    x = random_inputs(model, rng, 16)
    csim_equals_reference(model, folding, tmp_path, x)
    assert "#define AP_INT_MAX_W 7168" in (tmp_path / "hls" / "fi_top.h").read_text()
    assert "typedef ap_uint<640> OutWord;" in (tmp_path / "hls" / "fi_top.h").read_text()
    empty = run_csim(tmp_path, np.zeros((0, 1, 28, 28), np.int64))
    assert empty.shape == (0, 10) and empty.dtype == np.int64
