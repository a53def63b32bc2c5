"""Fuzzing the ONNX frontend (GitHub issue 7, item 5).

Hypothesis picks a seed BNN (GraphBuilder MLPs and CNNs, examples/digits_*.onnx) and 1-3
mutations from ``fastinference.testing.fuzz`` (``bench/fuzz_frontend.py``) (bytes flipped/truncated/inserted/deleted,
attributes, the input's shape, initializer values/dims/dtypes, Constant values, node order,
op types, nodes deleted/bypassed/inserted, node inputs, opset, graph output). Every outcome
must be either

(a) a successful ``fastinference.load`` whose ``predict`` equals onnxruntime's pre-softmax
    output exactly (integers) wherever onnxruntime accepts the model, or
(b) a ``FastInferenceError`` with exit code 2 and a one-line message;

never another exception, never more than the per-example time limit. The only accepted
difference from onnxruntime is a proven float32 near-tie (``fz.ambiguous_rows``: a layer with
weights ``s * (+-1)``, s not an integer, whose accumulator lies within the float32 summation
error bound of the threshold; integer-weight layers must match exactly, ties included).

The default run is derandomized (the same examples every time) and takes well under a
minute; ``-m slow`` runs many more.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent


from fastinference.testing import fuzz as fz  # noqa: E402

SEEDS = fz.seed_models()
NAMES = sorted(SEEDS)
TIME_LIMIT = 20.0

COMMON = dict(deadline=None, derandomize=True, database=None, print_blob=False,
              suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("fuzz"))


def _check(workdir, name, rnd, n, semantic=False):
    data, log = fz.mutate(SEEDS[name], rnd, n, semantic)
    fmt = rnd.choice(fz.FORMATS)  # --input-bits / --input-signed of the case
    out = fz.check_model_bytes(data, workdir, rng_seed=n, time_limit=TIME_LIMIT, input_format=fmt)
    assert out.ok, f"{name} + {log} + input {fmt}: {out.kind}: {out.detail}"
    event(out.kind)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_seed_models_compile_and_equal_onnxruntime(workdir, name):
    """The oracle's starting point: every unmutated seed compiles and matches exactly."""
    out = fz.check_model_bytes(SEEDS[name], workdir, time_limit=TIME_LIMIT)
    assert out.kind == "equal", out.detail


@pytest.mark.parametrize("fmt", sorted(set(fz.FORMATS)))
@pytest.mark.parametrize("name", ["int_pool", "int_pool_dense", "cnn", "mlp"])
def test_seed_models_equal_onnxruntime_for_every_input_format(workdir, name, fmt):
    """Signed and wide inputs too: the integer max pool on the input is a max over integers
    (a pool of bits was right only by accident for unsigned 8-bit inputs)."""
    out = fz.check_model_bytes(SEEDS[name], workdir, time_limit=TIME_LIMIT, input_format=fmt)
    assert out.kind == "equal", out.detail


def test_oracle_catches_a_wrong_pool_window(workdir, monkeypatch):
    """The oracle notices a wrongly lowered pool: a 2x2 window where the model pools 3x2 (the
    output shape is the same, only the values differ)."""
    import dataclasses

    import fastinference.passes.layout as layout
    from fastinference.ir import IntMaxPool

    real = layout.maxpool_to_binary

    def short_window(model):
        model, changed = real(model)
        model.layers = [dataclasses.replace(l, kernel=(2, 2)) if isinstance(l, IntMaxPool) else l
                        for l in model.layers]
        return model, changed

    import fastinference.passes as passes
    monkeypatch.setattr(passes, "PIPELINE", tuple(short_window if p is real else p for p in passes.PIPELINE))
    out = fz.check_model_bytes(SEEDS["int_pool"], workdir, time_limit=TIME_LIMIT, input_format=(8, True))
    assert out.kind == "mismatch", out.detail


def test_oracle_catches_a_wrong_score(workdir, monkeypatch):
    """The comparison is not vacuous: a reference that is off by one is reported."""
    import fastinference.api
    real = fastinference.api.reference.run
    monkeypatch.setattr(fastinference.api.reference, "run", lambda m, x: real(m, x) + 1)
    out = fz.check_model_bytes(SEEDS["mlp"], workdir, time_limit=TIME_LIMIT)
    assert out.kind == "mismatch"


def test_integer_weight_layers_are_never_near_ties():
    """A layer with +-1 weights gets no float32 excuse: its ties must match exactly."""
    import fastinference as fi
    import onnx
    m = onnx.load_from_string(SEEDS["mlp"])
    import tempfile, os
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "m.onnx")
        onnx.save(m, p)
        net = fi.load(p)
    x = np.random.default_rng(0).integers(0, 256, (200, 12))
    assert not fz.ambiguous_rows(net.source, x).any()


@settings(max_examples=1000, **COMMON)
@given(name=st.sampled_from(NAMES), rnd=st.randoms(use_true_random=False), n=st.integers(1, 3))
def test_mutated_models_compile_exactly_or_fail_cleanly(workdir, name, rnd, n):
    _check(workdir, name, rnd, n)


@settings(max_examples=400, **COMMON)
@given(name=st.sampled_from(NAMES), rnd=st.randoms(use_true_random=False), n=st.integers(1, 3))
def test_mostly_valid_mutations_compile_exactly(workdir, name, rnd, n):
    """Inserted ops, ties, BatchNorm values, alpha/beta/epsilon: most of these compile, so this
    is where the exact comparison with onnxruntime does its work."""
    _check(workdir, name, rnd, n, semantic=True)


@settings(max_examples=60, **COMMON)
@given(name=st.sampled_from(NAMES), cut=st.floats(0, 1), junk=st.binary(min_size=0, max_size=64),
       pos=st.floats(0, 1))
def test_truncated_or_spliced_files_fail_cleanly(workdir, name, cut, junk, pos):
    """Byte-level: cut the file somewhere and splice random bytes in somewhere."""
    data = SEEDS[name]
    data = data[: int(len(data) * (0.05 + 0.95 * cut))]
    i = int(len(data) * pos)
    data = data[:i] + junk + data[i:]
    out = fz.check_model_bytes(data, workdir, time_limit=TIME_LIMIT)
    assert out.ok, f"{out.kind}: {out.detail}"


@pytest.mark.slow
@settings(max_examples=20000, **{**COMMON, "derandomize": False})
@given(name=st.sampled_from(NAMES), rnd=st.randoms(use_true_random=False), n=st.integers(1, 4),
       semantic=st.booleans())
def test_mutated_models_many(workdir, name, rnd, n, semantic):
    _check(workdir, name, rnd, n, semantic)


@settings(max_examples=150, **COMMON)
@given(seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(["int", "binary"]), mode=st.sampled_from(["gt", "ge"]),
       K=st.integers(1, 40), M=st.integers(1, 6))
def test_threshold_search_equals_exhaustive_table(seed, kind, mode, K, M):
    """Wide accumulator ranges (many --input-bits) are searched, not tabulated: the two must
    give the same thresholds, ties and constant channels included."""
    from fastinference.ir import BinaryDense
    from fastinference.passes import thresholds as th
    g = np.random.default_rng(seed)
    layer = BinaryDense(name="l", source_nodes=["n"], in_shape=(K,), out_shape=(M,),
                        weights=g.choice([-1, 1], (M, K)).astype(np.int8), input_kind=kind,
                        input_bits=8 if kind == "int" else 1)
    gamma = g.choice([1.0, -1.0, 0.0, 0.37, -2.5], M).astype(np.float32)
    mean = g.integers(-20, 21, M).astype(np.float32) + g.choice([0, 0, 0.5, 1e-3], M).astype(np.float32)
    beta = g.choice([0.0, 0.0, 1.0, -0.3], M).astype(np.float32)
    inv = (np.float32(1) / np.sqrt(g.choice([1.0, 0.5, 3.0], M).astype(np.float32) + np.float32(1e-5))).astype(np.float32)
    scale = (inv * gamma).astype(np.float32)
    steps = [("mul", scale), ("add", (beta - mean * scale).astype(np.float32))]
    if g.random() < 0.3:
        steps.append(("relu", None))
    lo, hi = layer.acc_range()
    acc, bits, _ = th.bits_from_steps(steps, mode, M, lo, hi)
    T1, D1 = th.thresholds_from_bits(acc, bits, layer)
    T2, D2 = th.thresholds_by_search(steps, mode, layer, lo, hi)
    assert T1.tolist() == T2.tolist() and D1.tolist() == D2.tolist()


@pytest.mark.parametrize("bits", [12, 16, 24, 32])
def test_many_input_bits_compile_without_a_huge_table(bits):
    """--input-bits 16 used to tabulate 128 x 6e6 floats (MemoryError); now it searches."""
    import fastinference as fi
    net8 = fi.load(ROOT / "examples" / "digits_mlp.onnx")
    net = fi.load(ROOT / "examples" / "digits_mlp.onnx", input_bits=bits)
    # the first layer's thresholds do not depend on the input width (the same float chain)
    assert net.layers[0].thresholds.tolist() == net8.layers[0].thresholds.tolist()
    x = np.load(ROOT / "examples" / "digits_test_x.npy")[:50]
    assert np.array_equal(net.predict(x), net8.predict(x))


@pytest.mark.parametrize("c1,c2", [(1e30, 1e30), (3e38, -1.0), (1e-45, 1e-45), (-3e38, 3e38)])
def test_extreme_constants_before_the_sign_compile_quietly_and_exactly(workdir, c1, c2):
    """float32 overflow/underflow before a sign: onnxruntime's inf/0 are mirrored, and no numpy
    RuntimeWarning reaches stderr (the check_model_bytes oracle fails on any warning)."""
    from fastinference.testing.graphs import GraphBuilder, pm1
    rng = np.random.default_rng(0)
    g = GraphBuilder((6,))
    g.gemm(pm1(rng, 5, 6))
    g.op("Mul", g.init(np.full(5, c1, np.float32)))
    g.op("Mul", g.init(np.full(5, c2, np.float32)))
    g.sign()
    g.gemm(pm1(rng, 3, 5))
    out = fz.check_model_bytes(g.model().SerializeToString(), workdir, time_limit=TIME_LIMIT)
    assert out.kind == "equal", f"{out.kind}: {out.detail}"


def test_gemm_alpha_with_bias_is_a_fused_multiply_add(tmp_path):
    """onnxruntime computes Gemm's alpha * (A.B) + beta * C with one rounding (MLAS ends in an
    FMA). alpha = 0.1, C = -0.7: at A.B = 7 two roundings give exactly 0 (sign -1), the fused
    result is +2.2e-8 (sign +1). The threshold must follow the fused arithmetic."""
    from fastinference.testing.graphs import GraphBuilder, ort_run
    import fastinference as fi
    rng = np.random.default_rng(5)
    for alpha, c in [(0.1, -0.7), (0.7, -2.1), (1 / 3, -2.0), (-0.3, 0.9)]:
        g = GraphBuilder((4,))
        g.gemm(np.ones((1, 4), np.float32), b=np.array([c], np.float32), alpha=alpha)
        g.sign("initializers")
        g.gemm(np.ones((1, 1), np.float32))
        p = g.save(tmp_path / "alpha.onnx")
        x = np.concatenate([np.array([[i, 0, 0, 0] for i in range(30)]), rng.integers(0, 9, (100, 4))])
        assert np.array_equal(fi.load(p).predict(x), ort_run(p, x).astype(np.int64)), (alpha, c)


def test_fma_f32_is_correctly_rounded():
    from fractions import Fraction
    from fastinference.passes.float_chain import fma_f32
    g = np.random.default_rng(1)
    y = g.integers(-5000, 5000, 4000).astype(np.float32)
    a = g.normal(0, 1, 4000).astype(np.float32)
    b = (-(y * a) + g.normal(0, 1e-6, 4000)).astype(np.float32)
    got = fma_f32(y, a, b)
    for i in range(0, 4000, 7):
        exact = Fraction(float(y[i])) * Fraction(float(a[i])) + Fraction(float(b[i]))
        lo = np.float32(float(exact))
        cands = [np.nextafter(lo, np.float32(-np.inf)), lo, np.nextafter(lo, np.float32(np.inf))]
        best = min(cands, key=lambda c: (abs(Fraction(float(c)) - exact),
                                         int(np.array(c, np.float32).view(np.int32)) & 1))
        assert got[i] == best, (y[i], a[i], b[i])


def test_weights_that_overflow_the_dot_product_are_rejected(tmp_path):
    """s * (+-1) rows with s = 3e38: onnxruntime's float32 sum overflows to inf; no integer
    threshold follows that, so the layer is refused (the fuzzer found it)."""
    from fastinference.testing.graphs import GraphBuilder, pm1
    import fastinference as fi
    from fastinference.errors import UnsupportedModelError
    rng = np.random.default_rng(0)
    g = GraphBuilder((6,))
    g.gemm(pm1(rng, 5, 6))
    g.bn(np.ones(5), np.zeros(5), np.zeros(5), np.ones(5))
    g.sign()
    g.gemm(pm1(rng, 4, 5) * np.float32(3e38))
    g.bn(np.ones(4), np.zeros(4), np.zeros(4), np.ones(4))
    g.sign()
    g.gemm(pm1(rng, 3, 4))
    with pytest.raises(UnsupportedModelError, match=r"Gemm_\d+.*overflow float32"):
        fi.load(g.save(tmp_path / "ovf.onnx"))
