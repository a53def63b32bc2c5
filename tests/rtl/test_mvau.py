"""Block tests of the hand-written mvau (rtl_templates/mvau.sv, mvau_tree.sv,
mvau_popcount.sv, mvau_act.sv) and
stream_fifo against the numpy reference (fastinference.reference.run_layer): every configuration
is one instance of one generated wrapper, so each simulator builds once per group.

Covers every datapath mode (+-1 x bits = XNOR-popcount, +-1 x integers, W-bit x bits, W-bit x
integers, 1..8 bits, signed and unsigned inputs), every output kind (bits, multi-threshold
integers with an offset, 32-bit scores), thresholds in both directions hit exactly and out of
range, K not a multiple of SIMD, M not a multiple of PE, PE = SIMD = 1, fully parallel, a deep
registered tree (SIMD 128), popcount trees of several sizes, deep folds (the shifting
input buffer), a block-RAM weight ROM, the banked LUT weight ROM of the ECP5 flow (weight_rom
Lut = 1), ROMs deeper than 1,024 words (one more cycle of latency, both styles), under random
valid gaps and back-pressure, and the exact
steady-state throughput (SF*NF cycles per vector) and latency (mvau_latency) of every instance.
The default group is one build per simulator; `-m slow` adds a group of random configurations
and the variants in EXTRA_CASES, and the deep-ROM group in Verilator.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import jinja2
import numpy as np
import pytest

from fastinference.backends.rtl import (MVAU_FILES, REG_EVERY, _hex_lines, _plan, _signed_width, acc_width,
                                        mvau_latency, ready_copies, thresh_words, weight_words, wval_params)
from fastinference.ir import BinaryDense
from fastinference.reference import run_layer
from fastinference.testing.rtl_helpers import SIMULATORS, TEMPLATES, run_cocotb

HERE = Path(__file__).resolve().parent

# name, K, M, PE, SIMD, weight bits, input kind, input bits, input signed, output, thresholds
DEFAULT_CASES = [
    ("xnor_tails", 13, 7, 3, 4, 1, "binary", 1, False, "bits", 1),
    ("xnor_pe1_simd1", 5, 3, 1, 1, 1, "binary", 1, False, "bits", 1),
    ("xnor_full_int3", 16, 8, 8, 16, 1, "binary", 1, False, "int", 3),
    ("xnor_scores", 11, 6, 4, 5, 1, "binary", 1, False, "scores", 0),
    ("xnor_simd128", 300, 6, 4, 128, 1, "binary", 1, False, "bits", 1),
    ("pm1_u8_bits", 10, 5, 2, 3, 1, "int", 8, False, "bits", 1),
    ("pm1_s4_scores", 9, 4, 4, 2, 1, "int", 4, True, "scores", 0),
    ("pm1_u2_int3", 14, 5, 2, 7, 1, "int", 2, False, "int", 3),
    ("w4a4_int15", 20, 6, 2, 5, 4, "int", 4, False, "int", 15),
    ("w2a2s_int3_tails", 11, 5, 2, 4, 2, "int", 2, True, "int", 3),
    ("w8s8_bits", 9, 4, 2, 3, 8, "int", 8, True, "bits", 1),
    ("w3_bin_int3", 12, 5, 5, 3, 3, "binary", 1, False, "int", 3),
    ("w2_u1_bits_m1", 6, 1, 1, 2, 2, "int", 1, False, "bits", 1),
    ("w4a8_simd32_int7", 64, 6, 3, 32, 4, "int", 8, False, "int", 7),
    # 255 thresholds (an 8-bit activation): the pipelined count tree of mvau_act
    ("w3a5s_int255", 10, 3, 3, 5, 3, "int", 5, True, "int", 255),
    # deep folds (SF > 8: the shifting input buffer), block-RAM weight ROM (>= 32 words and
    # 4 kbit), popcount trees of 5, 7, 9 and 22 operands
    ("xnor_sf34", 100, 5, 2, 3, 1, "binary", 1, False, "bits", 1),
    ("xnor_t7_bram", 84, 64, 2, 21, 1, "binary", 1, False, "bits", 1),
    ("xnor_t9_int7", 54, 4, 2, 27, 1, "binary", 1, False, "int", 7),
    ("xnor_t5_scores", 26, 3, 3, 13, 1, "binary", 1, False, "scores", 0),
    ("xnor_t22", 64, 4, 4, 64, 1, "binary", 1, False, "bits", 1),
    # +-1 on integers with <= 16 steps: pair mode (shared x_a +- x_b, weights of the step)
    ("pm1_u8_pairs_t16", 64, 32, 2, 64, 1, "int", 8, False, "bits", 1),
    ("pm1_s5_pairs_odd", 21, 6, 3, 7, 1, "int", 5, True, "int", 3),
    # 5 pairs (the last one with a pad lane): two mvau_pmquad quads and an odd pair alone
    ("pm1_u8_pairs_q5", 17, 5, 2, 9, 1, "int", 8, False, "bits", 1),
    # XNOR with 2..16 steps: the weights as functions of the step (16: split on the top bit)
    ("xnor_t16_tail_scores", 40, 15, 3, 20, 1, "binary", 1, False, "scores", 0),
    # one step (fully parallel): constant weights in the mvau (no weight_rom); XNOR: the shared
    # 3:2 counts of every inversion pattern (pad lanes in the last triple), +-1 x integers:
    # pair mode with the constant word
    ("xnor_full_pad_scores", 20, 5, 5, 20, 1, "binary", 1, False, "scores", 0),
    ("xnor_full_scores_nowval", 22, 4, 4, 22, 1, "binary", 1, False, "scores", 0),
    ("pm1_s6_full", 12, 4, 4, 12, 1, "int", 6, True, "int", 3),
    ("pm1_u8_full_odd", 9, 3, 3, 9, 1, "int", 8, False, "bits", 1),
    # the banked LUT weight ROM (weight_rom Lut = 1, the ECP5 flow's -DFI_ECP5): 128 words in 2
    # banks and a 16:1 select level, 12 words (a 16-word bank; W-bit weights: +-1 weights of at
    # most 16 words are step constants, no weight_rom); EXTRA_CASES adds 102 words (a
    # partial bank), 4 words of 384 bits and 6 of 1,024 (one address copy per 8 word bits)
    ("xnor_t7_lut", 84, 64, 2, 21, 1, "binary", 1, False, "bits", 1, 1),
    ("w2_u8_bits_lut", 10, 5, 2, 3, 2, "int", 8, False, "bits", 1, 1),
    # 7 thresholds x 2 lanes: the threshold ROM's fold counter in several copies (LUT style)
    ("w2a3_int7_lut", 12, 6, 2, 4, 2, "int", 3, False, "int", 7, 1),
    # +-1 on integers through the weight ROM (the ECP5 flow's LUT ROM at <= 16 steps, any ROM
    # above): registered pair sums, the tree's root the sum register for 5 levels (in the ECP5
    # flow also levels 4 and 5 registers, PairQTop), not for 2
    ("pm1_u8_rom_t5_lut", 40, 4, 2, 20, 1, "int", 8, False, "bits", 1, 1),
    # the same with 6 levels (the digits MLP's layer 0 at target 16 / 64 in the ECP5 flow):
    # levels 4..6 each a register (PairQTop), the root the sum register
    ("pm1_u8_rom_t6_lut", 128, 4, 2, 64, 1, "int", 8, False, "bits", 1, 1),
    # XNOR with a 10-word LUT ROM (no step-constant mode in the ECP5 flow): registered products
    ("xnor_t10_lut_scores", 20, 10, 2, 10, 1, "binary", 1, False, "scores", 0, 1),
    ("pm1_s4_rom_t2", 16, 10, 2, 4, 1, "int", 4, True, "int", 3),
]
# in the slow group only: variants of default cases (the same datapath in the other ROM style,
# a longer fold, a wider unit) that cost build time more than they add coverage
EXTRA_CASES = [
    ("w8a8_scores_full", 7, 3, 3, 7, 8, "int", 8, False, "scores", 0),
    ("pm1_s3_sf20_scores", 40, 3, 3, 2, 1, "int", 3, True, "scores", 0),
    ("xnor_sf34_lut", 100, 5, 2, 3, 1, "binary", 1, False, "bits", 1, 1),
    ("w4a8_simd32_lut", 64, 6, 3, 32, 4, "int", 8, False, "int", 7, 1),
    ("w2_bin_simd128_lut", 300, 6, 4, 128, 2, "binary", 1, False, "bits", 1, 1),
    ("xnor_full_lut", 16, 8, 8, 16, 1, "binary", 1, False, "int", 3, 1),
    # the digits CNN's first conv at target 64: 16 channels, 4 copies of the slice register
    # (default: w3_bin_int3's 5 channels, 2 copies)
    ("pm1_u8_pe16", 9, 16, 16, 9, 1, "int", 8, False, "bits", 1),
    # 16 steps on 128 lanes (default: xnor_t16_tail_scores, 10 steps on 20 lanes)
    ("xnor_t16_step", 128, 32, 2, 128, 1, "binary", 1, False, "bits", 1),
]
# weight ROMs deeper than 1,024 words (read latency 4 in both styles; LUT style: 18 and 19
# banks, two select levels, a partial last group), few vectors (1,089 and 1,200 steps each)
DEEP_CASES = [
    ("deep_xnor_blk", 33, 33, 1, 1, 1, "binary", 1, False, "bits", 1, 0),
    ("deep_xnor_lut", 33, 33, 1, 1, 1, "binary", 1, False, "bits", 1, 1),
    ("deep_w4_lut", 40, 30, 1, 1, 4, "int", 3, True, "int", 3, 1),
]
# name, width, depth, copies of in_ready_o (ReadyN)
FIFO_CASES = [("fifo_d1", 5, 1, 1), ("fifo_d2", 7, 2, 1), ("fifo_d3", 3, 3, 1),
              ("fifo_d1_r2", 4, 1, 2), ("fifo_d2_r3", 6, 2, 3)]
N_VECTORS = 24


def random_cases(n: int, seed: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        K, M = int(rng.integers(1, 70)), int(rng.integers(1, 12))
        PE, SIMD = int(rng.integers(1, M + 1)), int(rng.integers(1, K + 1))
        wb = int(rng.choice([1, 1, 2, 3, 4, 8]))
        kind = "binary" if rng.random() < 0.3 else "int"
        bits = 1 if kind == "binary" else int(rng.integers(1, 9))
        signed = kind == "int" and bits > 1 and bool(rng.random() < 0.5)
        out = str(rng.choice(["bits", "int", "scores"]))
        nthr = {"bits": 1, "scores": 0}.get(out, int(rng.choice([1, 3, 7, 15])))
        cases.append((f"r{i}_{'w' + str(wb)}_{kind}{bits}_{out}", K, M, PE, SIMD, wb, kind, bits,
                      signed, out, nthr))
    return cases


GROUPS = {"default": DEFAULT_CASES, "deep": DEEP_CASES, "slow": EXTRA_CASES + random_cases(24, 99)}


def make_layer(rng, K, M, wb, kind, bits, signed, out, nthr, x) -> BinaryDense:
    if wb == 1:
        w = rng.choice(np.array([-1, 1], dtype=np.int64), size=(M, K))
    else:  # the full two's complement range, -2^(wb-1) included
        w = rng.integers(-(1 << (wb - 1)), 1 << (wb - 1), size=(M, K))
        w[0, 0] = -(1 << (wb - 1))
    kw = dict(name="l", source_nodes=[], in_shape=(K,), out_shape=(M,), weights=w,
              weight_bits=wb, input_kind=kind, input_bits=bits, input_signed=signed)
    if out == "scores":
        return BinaryDense(**kw, bias=rng.integers(-1000, 1000, size=M).astype(np.int64))
    probe = BinaryDense(**kw, bias=np.zeros(M, dtype=np.int64))
    acc = run_layer(probe, x)  # (N, M) accumulators
    lo, hi = probe.acc_range()
    d = rng.choice(np.array([-1, 1], dtype=np.int8), size=M)
    if out == "bits":
        t = rng.integers(lo - 2, hi + 3, size=M).astype(np.int64)
        hit = rng.random(M) < 0.6  # exactly the accumulator of some vector: tests >= / <=
        t[hit] = acc[rng.integers(0, len(x), size=M), np.arange(M)][hit]
        t[rng.random(M) < 0.15] = 10 ** 6   # unreachable: constant channels
        t[rng.random(M) < 0.15] = -10 ** 6
        return BinaryDense(**kw, thresholds=t, directions=d)
    T = rng.integers(lo - 2, hi + 3, size=(M, nthr)).astype(np.int64)
    hit = rng.random((M, nthr)) < 0.5
    T[hit] = acc[rng.integers(0, len(x), size=(M, nthr)), np.arange(M)[:, None]][hit]
    T[rng.random((M, nthr)) < 0.1] = 10 ** 6
    T[rng.random((M, nthr)) < 0.1] = -10 ** 6
    T = np.sort(T, axis=1)
    T[d < 0] = T[d < 0][:, ::-1]
    offset = int(rng.choice([0, -(nthr // 2) - 1, 2]))
    out_signed = offset < 0
    out_bits = (_signed_width(offset, offset + nthr) if out_signed
                else max(1, (offset + nthr).bit_length()))
    return BinaryDense(**kw, thresholds=T, directions=d, out_bits=out_bits,
                       out_signed=out_signed, out_offset=offset)


def pack(rows, bits) -> list[int]:
    mask = (1 << bits) - 1
    return [sum((int(v) & mask) << (i * bits) for i, v in enumerate(r)) for r in rows]


def build_cases(work: Path, cases, n_vectors: int = N_VECTORS) -> list[dict]:
    rng = np.random.default_rng(2024)
    cfgs = []
    for case in cases:
        name, K, M, PE, SIMD, wb, kind, bits, signed, out, nthr = case[:11]
        rom_lut = case[11] if len(case) > 11 else 0   # weight_rom style
        if kind == "binary":
            x = rng.integers(0, 2, size=(n_vectors, K))
            x[0], x[1] = 0, 1
        else:
            lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
            x = rng.integers(lo, hi + 1, size=(n_vectors, K))
            x[0], x[1] = lo, hi
        layer = make_layer(rng, K, M, wb, kind, bits, signed, out, nthr, x)
        y = run_layer(layer, x)
        accw = acc_width(layer)
        (work / f"{name}_w.mem").write_text(_hex_lines(weight_words(layer, PE, SIMD), PE * SIMD * wb))
        words, tbits = thresh_words(layer, PE, accw)
        (work / f"{name}_t.mem").write_text(_hex_lines(words, tbits))
        steps = math.ceil(K / SIMD) * math.ceil(M / PE)
        elem = 32 if out == "scores" else (layer.out_bits if out == "int" else 1)
        cfgs.append(dict(
            kind="mvau", name=name, K=K, M=M, PE=PE, SIMD=SIMD, w_bits=wb,
            bin_in=int(kind == "binary"), in_bits=bits, in_signed=int(signed),
            scores=int(out == "scores"), n_thr=max(nthr, 1), out_bits=elem if out != "scores" else 1,
            out_offset=int(layer.out_offset) if out == "int" else 0, acc_width=accw,
            reg_every=REG_EVERY, rom_lut=rom_lut, in_width=K * bits, out_width=M * elem,
            ready_n=ready_copies(PE, SIMD, bits),   # as the generated top sets it
            # one-step XNOR: the weight word as a parameter too, as the writer passes it (a
            # case named *_nowval: without, the shared 3:2 counts of the file's word)
            wval="".join(f", .{k}({v})" for k, v in
                         ([] if name.endswith("_nowval") else wval_params(_plan(layer, PE, SIMD)))),
            in_words=pack(x, bits), expected=pack(y, elem),
            interval=steps, latency=mvau_latency(layer, PE, SIMD, bool(rom_lut))))
    for name, width, depth, ready_n in FIFO_CASES:
        words = [int(v) for v in rng.integers(0, 1 << width, size=N_VECTORS)]
        cfgs.append(dict(kind="fifo", name=name, depth=depth, ready_n=ready_n, in_width=width, out_width=width,
                         in_words=words, expected=words, interval=1 if depth > 1 else 2,
                         latency=1))
    return cfgs


def run_group(sim, work: Path, cases, n_vectors: int = N_VECTORS):
    cfgs = build_cases(work, cases, n_vectors)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE)), trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    (work / "blocks_tb.sv").write_text(env.get_template("blocks_tb.sv.j2").render(cfgs=cfgs))
    (work / "blocks.json").write_text(json.dumps(cfgs))
    sources = [TEMPLATES / f for f in ("stream_fifo.sv", *MVAU_FILES)] + [work / "blocks_tb.sv"]
    run_cocotb(sim, sources, "blocks_tb", "blocks_cocotb", work,
               {"FI_BLOCKS": str(work / "blocks.json")})


@pytest.mark.parametrize("sim", SIMULATORS)
def test_blocks_against_reference(sim, tmp_path):
    run_group(sim, tmp_path, GROUPS["default"])


@pytest.mark.parametrize("sim", [pytest.param(s, marks=[pytest.mark.slow] if s == "verilator" else [])
                                 for s in SIMULATORS])
def test_blocks_deep_weight_rom(sim, tmp_path):
    # Icarus by default (no build step: 14 s against Verilator's 40 s), both with -m slow
    run_group(sim, tmp_path, GROUPS["deep"], n_vectors=3)


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMULATORS)
def test_blocks_random_configs(sim, tmp_path):
    run_group(sim, tmp_path, GROUPS["slow"])


def test_weight_rom_layout():
    """Word nf*SF+sf, lane p*SIMD+s = weight of channel nf*PE+p, input sf*SIMD+s; pads 0 (or
    +1 for +-1 weights on integers)."""
    w = np.array([[1, -1, 1], [-1, -1, 1]], dtype=np.int8)  # M=2, K=3
    layer = BinaryDense(name="l", source_nodes=[], in_shape=(3,), out_shape=(2,), weights=w,
                        bias=np.zeros(2, dtype=np.int64))
    # PE=1, SIMD=2: SF=2, NF=2 -> words (n0: k0,k1) (n0: k2,pad) (n1: k0,k1) (n1: k2,pad)
    assert weight_words(layer, 1, 2) == [0b01, 0b01, 0b00, 0b01]
    # PE=2, SIMD=3: one word, neuron 1 in bits 3..5
    assert weight_words(layer, 2, 3) == [0b100_101]
    ints = BinaryDense(name="l", source_nodes=[], in_shape=(3,), out_shape=(2,), weights=w,
                       input_kind="int", input_bits=4, bias=np.zeros(2, dtype=np.int64))
    assert weight_words(ints, 1, 2) == [0b01, 0b11, 0b00, 0b11]
    w4 = np.array([[-8, 7, -1]], dtype=np.int64)
    l4 = BinaryDense(name="l", source_nodes=[], in_shape=(3,), out_shape=(1,), weights=w4,
                     weight_bits=4, input_kind="int", input_bits=4, bias=np.zeros(1, dtype=np.int64))
    assert weight_words(l4, 1, 2) == [0x78, 0x0F]


def test_thresholds_in_popcount_domain():
    """XNOR layer (acc = 2S - K): '>= T' -> S >= ceil((T+K)/2); '<= T' -> ~S >= ~floor((T+K)/2);
    out-of-range thresholds clamp to -1..K+1."""
    w = np.ones((4, 4), dtype=np.int8)
    layer = BinaryDense(name="l", source_nodes=[], in_shape=(4,), out_shape=(4,), weights=w,
                        thresholds=np.array([1, 1, 10 ** 9, -10 ** 9]),
                        directions=np.array([1, -1, 1, -1]))
    accw = acc_width(layer)  # S in 0..4 plus -1, 5
    assert accw == 4
    words, bits = thresh_words(layer, 4, accw)
    assert bits == 4 * (1 + accw)
    lanes = [(words[0] >> (p * 5)) & 0x1F for p in range(4)]
    assert lanes[0] == 3                       # S >= ceil(5/2) = 3
    assert lanes[1] == 0x10 | (~2 & 0xF)       # S <= floor(5/2) = 2
    assert lanes[2] == 5                       # never
    assert lanes[3] == 0x10 | (~(-1) & 0xF)    # S <= -1: never
