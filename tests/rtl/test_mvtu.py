"""Per-module tests of the hand-written dense blocks (mvtu, stream_fifo) against the numpy
reference: every configuration is one instance of one wrapper, so each simulator builds once.

Covers K not a multiple of SIMD, M not a multiple of PE, PE=SIMD=1, fully parallel (PE=M,
SIMD=K), binary inputs, signed and unsigned integer inputs, thresholds in both directions
(hit exactly and out of range), score outputs with bias, and exact steady-state throughput
(SF*NF cycles per vector, no bubble) and latency (SF*NF + 2) under back-pressure-free streams.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import jinja2
import numpy as np
import pytest

from fastinference.backends.rtl import acc_width, thresh_words, weight_words, _hex_lines
from fastinference.ir import BinaryDense
from fastinference.reference import run_layer
from fastinference.testing.rtl_helpers import SIMULATORS, TEMPLATES, run_cocotb

HERE = Path(__file__).resolve().parent

# name, K, M, PE, SIMD, input kind, input bits, signed, scores
MVTU_CASES = [
    ("bin_tails", 13, 7, 3, 4, "binary", 1, False, False),
    ("bin_pe1_simd1", 5, 3, 1, 1, "binary", 1, False, False),
    ("bin_full", 16, 8, 8, 16, "binary", 1, False, False),
    ("bin_k1", 1, 2, 1, 1, "binary", 1, False, False),
    ("int_u8", 10, 5, 2, 3, "int", 8, False, False),
    ("int_s4", 9, 4, 4, 2, "int", 4, True, False),
    ("bin_scores", 11, 6, 4, 5, "binary", 1, False, True),
    ("int_s8_scores_full", 7, 3, 3, 7, "int", 8, True, True),
    ("int_u3_scores", 6, 5, 2, 4, "int", 3, False, True),
    ("int_u1_scores_full_m1", 4, 1, 1, 4, "int", 1, False, True),
]
FIFO_CASES = [("fifo_d1", 5, 1), ("fifo_d2", 7, 2), ("fifo_d3", 3, 3)]
N_VECTORS = 24


def make_layer(K, M, kind, bits, signed, scores, rng, x) -> BinaryDense:
    w = rng.choice(np.array([-1, 1], dtype=np.int8), size=(M, K))
    kw = dict(name="l", source_nodes=[], in_shape=(K,), out_shape=(M,), weights=w,
              input_kind=kind, input_bits=bits, input_signed=signed)
    if scores:
        return BinaryDense(**kw, bias=rng.integers(-1000, 1000, size=M).astype(np.int64))
    probe = BinaryDense(**kw, bias=np.zeros(M, dtype=np.int64))
    acc = run_layer(probe, x)  # (N, M) accumulators
    lo, hi = probe.acc_range()
    t = rng.integers(lo - 2, hi + 3, size=M).astype(np.int64)
    hit = rng.random(M) < 0.6  # exactly the accumulator of some vector: tests >= / <=
    t[hit] = acc[rng.integers(0, len(x), size=M), np.arange(M)][hit]
    t[rng.random(M) < 0.15] = 10 ** 6   # unreachable: constant channels
    t[rng.random(M) < 0.15] = -10 ** 6
    d = rng.choice(np.array([-1, 1], dtype=np.int8), size=M)
    return BinaryDense(**kw, thresholds=t, directions=d)


def pack(rows, bits) -> list[int]:
    mask = (1 << bits) - 1
    return [sum((int(v) & mask) << (i * bits) for i, v in enumerate(r)) for r in rows]


def build_cases(work: Path) -> list[dict]:
    rng = np.random.default_rng(2024)
    cfgs = []
    for name, K, M, PE, SIMD, kind, bits, signed, scores in MVTU_CASES:
        if kind == "binary":
            x = rng.integers(0, 2, size=(N_VECTORS, K))
        else:
            lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
            x = rng.integers(lo, hi + 1, size=(N_VECTORS, K))
            x[0], x[1] = lo, hi
        layer = make_layer(K, M, kind, bits, signed, scores, rng, x)
        y = run_layer(layer, x)
        accw = acc_width(layer)
        (work / f"{name}_w.mem").write_text(_hex_lines(weight_words(layer, PE, SIMD), PE * SIMD))
        words, tbits = thresh_words(layer, PE, accw)
        (work / f"{name}_t.mem").write_text(_hex_lines(words, tbits))
        steps = math.ceil(K / SIMD) * math.ceil(M / PE)
        cfgs.append(dict(
            kind="mvtu", name=name, K=K, M=M, PE=PE, SIMD=SIMD, binary=int(kind == "binary"),
            in_bits=bits, in_signed=int(signed), scores=int(scores), acc_width=accw,
            in_width=K * bits, out_width=M * (32 if scores else 1),
            in_words=pack(x, bits), expected=pack(y, 32 if scores else 1),
            interval=steps, latency=steps + 2))
    for name, width, depth in FIFO_CASES:
        words = [int(v) for v in rng.integers(0, 1 << width, size=N_VECTORS)]
        cfgs.append(dict(kind="fifo", name=name, depth=depth, in_width=width, out_width=width,
                         in_words=words, expected=words, interval=1 if depth > 1 else 2,
                         latency=1))
    return cfgs


@pytest.mark.parametrize("sim", SIMULATORS)
def test_blocks_against_reference(sim, tmp_path):
    cfgs = build_cases(tmp_path)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE)), trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    (tmp_path / "blocks_tb.sv").write_text(env.get_template("blocks_tb.sv.j2").render(cfgs=cfgs))
    (tmp_path / "blocks.json").write_text(json.dumps(cfgs))
    sources = [TEMPLATES / "stream_fifo.sv", TEMPLATES / "adder_tree.sv", TEMPLATES / "mvtu.sv",
               tmp_path / "blocks_tb.sv"]
    run_cocotb(sim, sources, "blocks_tb", "blocks_cocotb", tmp_path,
               {"FI_BLOCKS": str(tmp_path / "blocks.json")})


def test_weight_rom_layout():
    """Word nf*SF+sf, bit p*SIMD+s = weight of neuron nf*PE+p, input sf*SIMD+s; pads 0."""
    w = np.array([[1, -1, 1], [-1, -1, 1]], dtype=np.int8)  # M=2, K=3
    layer = BinaryDense(name="l", source_nodes=[], in_shape=(3,), out_shape=(2,), weights=w,
                        bias=np.zeros(2, dtype=np.int64))
    # PE=1, SIMD=2: SF=2, NF=2 -> words (n0: k0,k1) (n0: k2,pad) (n1: k0,k1) (n1: k2,pad)
    assert weight_words(layer, 1, 2) == [0b01, 0b01, 0b00, 0b01]
    # PE=2, SIMD=3: one word, neuron 1 in bits 3..5
    assert weight_words(layer, 2, 3) == [0b100_101]


def test_thresholds_clamped():
    w = np.ones((2, 4), dtype=np.int8)
    layer = BinaryDense(name="l", source_nodes=[], in_shape=(4,), out_shape=(2,), weights=w,
                        thresholds=np.array([10 ** 9, -10 ** 9]), directions=np.array([1, -1]))
    accw = acc_width(layer)  # holds +-5
    words, bits = thresh_words(layer, 2, accw)
    assert bits == 2 * (accw + 1)
    mask = (1 << accw) - 1
    lane0, lane1 = words[0] & ((1 << (accw + 1)) - 1), words[0] >> (accw + 1)
    assert lane0 >> accw == 1 and (lane0 & mask) == 5
    assert lane1 >> accw == 0 and (lane1 & mask) == (-5) & mask
