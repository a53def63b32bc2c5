"""Numpy models and cocotb tests for the conv-net stream blocks of the RTL backend.

Blocks (``rtl_templates/``): ``sliding_window``, ``binary_maxpool``, ``pixel_collector``.

This module is imported twice: by pytest (``tests/rtl/test_conv_blocks.py``, for the models and
the cycle formulas) and by cocotb inside the simulator (``test_module="conv_models"``), where the
two ``@cocotb.test`` coroutines read their configuration from the environment:

* ``CONV_CFG``: JSON ``{"block": ..., "params": {...}, "images": n, "steady_images": m, "seed": s}``
* ``CONV_RESULT``: path of a JSON file the tests write (measured cycles, beat counts).

Stream conventions (all three blocks): a beat moves when valid && ready; images are streamed one
pixel per beat in raster order, channel 0 in the LSBs, images back to back.
"""
from __future__ import annotations

import json
import os
import random

import numpy as np


# =========================================================================== shapes / formulas
def sw_out_shape(p: dict) -> tuple[int, int]:
    """(OH, OW) of a sliding_window parameter set (floor mode)."""
    oh = (p["H"] + p["PadT"] + p["PadB"] - p["KH"]) // p["StrideH"] + 1
    ow = (p["W"] + p["PadL"] + p["PadR"] - p["KW"]) // p["StrideW"] + 1
    return oh, ow


def pool_out_shape(p: dict) -> tuple[int, int]:
    if "KH" in p:  # maxpool: any kernel and stride
        return (p["H"] - p["KH"]) // p["StrideH"] + 1, (p["W"] - p["KW"]) // p["StrideW"] + 1
    return p["H"] // p["K"], p["W"] // p["K"]


def steady_cycles(block: str, p: dict) -> int:
    """Documented steady-state cycles per image (input always valid, output always ready)."""
    if block == "sliding_window":
        oh, ow = sw_out_shape(p)
        return max(p["H"] * p["W"], oh * ow)
    if block == "binary_maxpool":
        return p["H"] * p["W"]
    if block == "maxpool":
        oh, ow = pool_out_shape(p)
        return max(p["H"] * p["W"], oh * ow)
    if block == "pixel_collector":
        return p["N"]
    raise ValueError(block)


def first_output_after(block: str, p: dict) -> int:
    """Index of the input beat after whose acceptance the first output beat of an image becomes
    valid (documented latency: valid the next cycle)."""
    if block == "sliding_window":
        hi0 = min(p["H"] - 1, p["KH"] - 1 - p["PadT"])
        return (hi0 + 1) * p["W"] - 1
    if block == "binary_maxpool":
        return (p["K"] - 1) * p["W"] + p["K"] - 1
    if block == "maxpool":  # as its sliding_window; the output comes one cycle later
        return p["KH"] * p["W"] - 1
    if block == "pixel_collector":
        return p["N"] - 1
    raise ValueError(block)


def sw_row_counter_period(p: dict) -> int:
    """Rows after which sliding_window's modular row counters wrap (mirrors its localparams)."""
    rows = p["KH"] * -(-(2 * p["KH"] + p["StrideH"]) // p["KH"])  # KH * RB
    cnt_w = (p["H"] + rows).bit_length() + 2  # $clog2(H + Rows + 1) + 2
    return 1 << cnt_w


def beats_per_image(block: str, p: dict) -> tuple[int, int]:
    """(input beats, output beats) per image."""
    if block == "sliding_window":
        oh, ow = sw_out_shape(p)
        return p["H"] * p["W"], oh * ow
    if block in ("binary_maxpool", "maxpool"):
        oh, ow = pool_out_shape(p)
        return p["H"] * p["W"], oh * ow
    if block == "pixel_collector":
        return p["N"], 1
    raise ValueError(block)


# =========================================================================== packing
def pack(values: np.ndarray, bits: int) -> int:
    """Element i of a 1-D array of unsigned values goes to bits [i*bits +: bits]."""
    word = 0
    for i, v in enumerate(np.asarray(values).reshape(-1).tolist()):
        assert 0 <= v < (1 << bits)
        word |= int(v) << (i * bits)
    return word


# =========================================================================== models
def sliding_window_model(imgs: np.ndarray, p: dict) -> np.ndarray:
    """imgs (N, H, W, C) unsigned ints -> windows (N, OH, OW, KH, KW, C), zero padding."""
    kh, kw, sh, sw = p["KH"], p["KW"], p["StrideH"], p["StrideW"]
    x = np.pad(imgs, ((0, 0), (p["PadT"], p["PadB"]), (p["PadL"], p["PadR"]), (0, 0)))
    oh, ow = sw_out_shape(p)
    out = np.zeros((imgs.shape[0], oh, ow, kh, kw, imgs.shape[3]), dtype=imgs.dtype)
    for y in range(oh):
        for x0 in range(ow):
            out[:, y, x0] = x[:, y * sh:y * sh + kh, x0 * sw:x0 * sw + kw, :]
    return out


def maxpool_model(bits: np.ndarray, p: dict) -> np.ndarray:
    """bits (N, H, W, C) 0/1 -> (N, OH, OW, C): AND over the window where AndMask bit c is set,
    OR elsewhere (floor mode, stride == kernel)."""
    k = p["K"]
    oh, ow = pool_out_shape(p)
    n, _, _, c = bits.shape
    v = bits[:, :oh * k, :ow * k, :].reshape(n, oh, k, ow, k, c)
    any_ = v.max(axis=(2, 4))
    all_ = v.min(axis=(2, 4))
    mask = np.array([(p["AndMask"] >> i) & 1 for i in range(c)], dtype=bool)
    return np.where(mask[None, None, None, :], all_, any_).astype(bits.dtype)


def general_maxpool_model(raw: np.ndarray, p: dict) -> np.ndarray:
    """raw (N, H, W, C) Bits-bit words -> (N, OH, OW, C) words: per channel the max over the
    KHxKW window (stride StrideH x StrideW, floor mode) of the values (two's complement if
    Signed), the min where AndMask bit c is set."""
    bits, c = p["Bits"], raw.shape[3]
    v = raw.astype(np.int64)
    if p["Signed"]:
        v = np.where(v >= 1 << (bits - 1), v - (1 << bits), v)
    oh, ow = pool_out_shape(p)
    w = np.lib.stride_tricks.sliding_window_view(v, (p["KH"], p["KW"]), axis=(1, 2))
    w = w[:, ::p["StrideH"], ::p["StrideW"]][:, :oh, :ow]  # N, OH, OW, C, KH, KW
    mask = np.array([(p["AndMask"] >> i) & 1 for i in range(c)], dtype=bool)
    out = np.where(mask[None, None, None, :], w.min(axis=(-2, -1)), w.max(axis=(-2, -1)))
    return out & ((1 << bits) - 1)


def make_case(block: str, p: dict, n_images: int, rng: np.random.Generator):
    """Random images -> (input beats, expected output beats) as Python ints."""
    if block == "sliding_window":
        imgs = rng.integers(0, 1 << p["BITS"], size=(n_images, p["H"], p["W"], p["C"]))
        wins = sliding_window_model(imgs, p)
        ins = [pack(px, p["BITS"]) for px in imgs.reshape(-1, p["C"])]
        outs = [pack(w, p["BITS"]) for w in wins.reshape(-1, p["KH"] * p["KW"] * p["C"])]
        return ins, outs
    if block == "binary_maxpool":
        bits = rng.integers(0, 2, size=(n_images, p["H"], p["W"], p["C"]))
        # bias some images towards all-ones / all-zeros so AND and OR both see both outcomes
        for i in range(n_images):
            if i % 3 == 1:
                bits[i] |= (rng.random(bits[i].shape) < 0.7).astype(bits.dtype)
            elif i % 3 == 2:
                bits[i] &= (rng.random(bits[i].shape) < 0.3).astype(bits.dtype)
        pooled = maxpool_model(bits, p)
        ins = [pack(px, 1) for px in bits.reshape(-1, p["C"])]
        outs = [pack(px, 1) for px in pooled.reshape(-1, p["C"])]
        return ins, outs
    if block == "maxpool":
        raw = rng.integers(0, 1 << p["Bits"], size=(n_images, p["H"], p["W"], p["C"]))
        if p["Bits"] == 1:  # bias images towards all-ones / all-zeros, as for binary_maxpool
            raw[1::3] |= (rng.random(raw[1::3].shape) < 0.7).astype(raw.dtype)
            raw[2::3] &= (rng.random(raw[2::3].shape) < 0.3).astype(raw.dtype)
        pooled = general_maxpool_model(raw, p)
        ins = [pack(px, p["Bits"]) for px in raw.reshape(-1, p["C"])]
        outs = [pack(px, p["Bits"]) for px in pooled.reshape(-1, p["C"])]
        return ins, outs
    if block == "pixel_collector":
        pix = rng.integers(0, 1 << p["BITS"], size=(n_images, p["N"], p["C"]))
        ins = [pack(px, p["BITS"]) for px in pix.reshape(-1, p["C"])]
        outs = [pack(v, p["BITS"]) for v in pix.reshape(n_images, -1)]
        return ins, outs
    raise ValueError(block)


# =========================================================================== cocotb side
try:  # cocotb is only needed inside the simulator
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
except ImportError:  # pragma: no cover - the dev extras install cocotb
    cocotb = None


def _cfg() -> dict:
    return json.loads(os.environ["CONV_CFG"])


class _Ports:
    """The block under test inside a test wrapper: its ports are top-level ports named
    ``<prefix><port>`` (``clk_i`` and ``rst_ni`` are shared)."""

    def __init__(self, dut, prefix: str):
        self._dut = dut
        self._prefix = prefix

    def __getattr__(self, name):
        if name in ("clk_i", "rst_ni", "_log"):
            return getattr(self._dut, name)
        return getattr(self._dut, self._prefix + name)


def _dut_ports(dut, cfg: dict):
    return _Ports(dut, cfg["prefix"]) if cfg.get("prefix") else dut


def wrapper_source(top: str, cases: list[tuple[str, str, dict]]) -> str:
    """SystemVerilog of a test wrapper holding one instance per case (prefix, block, params),
    so one simulator build serves many parameter sets. Ports: clk_i, rst_ni and, per case,
    <prefix>in_valid_i ... <prefix>out_data_o."""
    ports = ["  input  logic clk_i", "  input  logic rst_ni"]
    body = []
    for prefix, block, p in cases:
        if block == "sliding_window":
            w_in = p["C"] * p["BITS"]
            w_out = p["KH"] * p["KW"] * w_in
        elif block == "binary_maxpool":
            w_in = w_out = p["C"]
        elif block == "maxpool":
            w_in = w_out = p["C"] * p["Bits"]
        else:
            w_in = p["C"] * p["BITS"]
            w_out = p["N"] * w_in
        ports += [f"  input  logic {prefix}in_valid_i",
                  f"  output logic {prefix}in_ready_o",
                  f"  input  logic [{w_in - 1}:0] {prefix}in_data_i",
                  f"  output logic {prefix}out_valid_o",
                  f"  input  logic {prefix}out_ready_i",
                  f"  output logic [{w_out - 1}:0] {prefix}out_data_o"]
        params = ", ".join(
            f".{k}({p['C']}'h{v:x})" if k == "AndMask" else f".{k}({v})" for k, v in p.items())
        body.append(
            f"  {block} #({params}) u_{prefix.rstrip('_')} (\n"
            f"    .clk_i, .rst_ni,\n"
            f"    .in_valid_i({prefix}in_valid_i), .in_ready_o({prefix}in_ready_o),"
            f" .in_data_i({prefix}in_data_i),\n"
            f"    .out_valid_o({prefix}out_valid_o), .out_ready_i({prefix}out_ready_i),"
            f" .out_data_o({prefix}out_data_o)\n  );")
    return (f"// generated by fastinference/testing/conv_models.py: test wrapper, one instance per case\n"
            f"module {top} (\n" + ",\n".join(ports) + "\n);\n" + "\n".join(body)
            + "\nendmodule\n")


def _write_result(key: str, value) -> None:
    path = os.environ.get("CONV_RESULT")
    if not path:
        return
    data = {}
    if os.path.exists(path):
        with open(path) as f:
            data = json.load(f)
    data[key] = value
    with open(path, "w") as f:
        json.dump(data, f, indent=1)


async def _reset(dut) -> None:
    Clock(dut.clk_i, 10, unit="ns").start()
    dut.rst_ni.value = 0
    dut.in_valid_i.value = 0
    dut.in_data_i.value = 0
    dut.out_ready_i.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk_i)
    dut.rst_ni.value = 1
    await RisingEdge(dut.clk_i)


async def _stream(dut, ins, n_out, in_per_img, out_per_img, gap_probs, stall_probs, rng,
                  in_width, max_cycles):
    """Drive `ins`, collect `n_out` output beats. Inputs are set at the falling edge, handshakes
    are sampled in ReadOnly of the same half cycle (they complete at the next rising edge).
    Returns (output beats, cycle of each output beat, cycle of each input beat)."""
    outs, out_cycles, in_cycles = [], [], []
    idx = 0
    cycle = 0
    held = None  # (data) of an output beat that was valid but not taken
    burst_img, burst_left = -1, 0
    while len(outs) < n_out:
        assert cycle < max_cycles, (
            f"timeout after {cycle} cycles: {idx}/{len(ins)} inputs, {len(outs)}/{n_out} outputs")
        await FallingEdge(dut.clk_i)
        img_in = min(idx // in_per_img, len(gap_probs) - 1)
        img_out = min(len(outs) // out_per_img, len(stall_probs) - 1)
        valid = idx < len(ins) and rng.random() >= gap_probs[img_in]
        stall = stall_probs[img_out]
        if stall < 0 and burst_img != len(outs) // out_per_img:
            # a burst: hold the image's first output beat off long enough for the input side
            # to fill every buffer behind it
            burst_img, burst_left = len(outs) // out_per_img, 2 * in_per_img + 4
        ready = burst_left == 0 and rng.random() >= abs(stall)
        burst_left = max(0, burst_left - 1)
        dut.in_valid_i.value = int(valid)
        # garbage on the data lines when not valid: the block must ignore it
        dut.in_data_i.value = ins[idx] if valid else rng.getrandbits(in_width)
        dut.out_ready_i.value = int(ready)
        await ReadOnly()
        in_ready = int(dut.in_ready_o.value)
        out_valid = int(dut.out_valid_o.value)
        if held is not None:
            assert out_valid, f"cycle {cycle}: out_valid_o dropped before the beat was taken"
        if out_valid:
            val = dut.out_data_o.value
            assert val.is_resolvable, f"cycle {cycle}: out_data_o has X/Z bits: {val}"
            data = int(val)
            if held is not None:
                assert data == held, f"cycle {cycle}: out_data_o changed while stalled"
            if ready:
                outs.append(data)
                out_cycles.append(cycle)
                held = None
            else:
                held = data
        if valid and in_ready:
            in_cycles.append(cycle)
            idx += 1
        cycle += 1
    return outs, out_cycles, in_cycles


def _compare(got, exp, out_per_img) -> None:
    for i, (g, e) in enumerate(zip(got, exp)):
        assert g == e, (f"output beat {i} (image {i // out_per_img}, beat {i % out_per_img}): "
                        f"got {g:#x}, expected {e:#x}")
    assert len(got) == len(exp)


def _widths(block: str, p: dict) -> int:
    if block == "sliding_window":
        return p["C"] * p["BITS"]
    if block == "binary_maxpool":
        return p["C"]
    if block == "maxpool":
        return p["C"] * p["Bits"]
    return p["C"] * p["BITS"]


if cocotb is not None:

    @cocotb.test()
    async def random_traffic(dut):
        """Several images back to back, random input gaps and random output back-pressure,
        compared beat by beat against the numpy model."""
        cfg = _cfg()
        dut = _dut_ports(dut, cfg)
        block, p = cfg["block"], cfg["params"]
        n_img = cfg["images"]
        rng = random.Random(cfg["seed"])
        ins, exp = make_case(block, p, n_img, np.random.default_rng(cfg["seed"]))
        in_per, out_per = beats_per_image(block, p)
        # per image: a mix of no pressure, light and heavy gaps / stalls
        # (a negative stall level: a long burst of back-pressure, then that probability)
        levels = [0.0, 0.2, 0.5, 0.85]
        gaps = [levels[(i * 3 + 1) % 4] if i else 0.0 for i in range(n_img)]
        stalls = [[0.5, -0.2, 0.0, 0.85, -0.5][i % 5] for i in range(n_img)]
        await _reset(dut)
        got, _, _ = await _stream(dut, ins, len(exp), in_per, out_per, gaps, stalls, rng,
                                  _widths(block, p), max_cycles=50 * len(ins) + 1000)
        _compare(got, exp, out_per)
        # nothing more comes out once every image is done
        for _ in range(3 * in_per + 10):
            await FallingEdge(dut.clk_i)
            dut.in_valid_i.value = 0
            dut.out_ready_i.value = 1
            await ReadOnly()
            assert not int(dut.out_valid_o.value), "extra output beat after the last image"
        _write_result("random_beats", len(got))

    @cocotb.test()
    async def steady_state(dut):
        """Input always valid, output always ready: measure cycles per image (distance between
        the last output beats of consecutive images, after a warm-up) and check the outputs."""
        cfg = _cfg()
        dut = _dut_ports(dut, cfg)
        block, p = cfg["block"], cfg["params"]
        n_img = cfg["steady_images"]
        rng = random.Random(cfg["seed"] + 1)
        ins, exp = make_case(block, p, n_img, np.random.default_rng(cfg["seed"] + 1))
        in_per, out_per = beats_per_image(block, p)
        await _reset(dut)
        got, out_cycles, in_cycles = await _stream(
            dut, ins, len(exp), in_per, out_per, [0.0], [0.0], rng, _widths(block, p),
            max_cycles=10 * len(ins) + 1000)
        _compare(got, exp, out_per)
        done = [out_cycles[(i + 1) * out_per - 1] for i in range(n_img)]
        first_in = in_cycles[0]
        period = [b - a for a, b in zip(done, done[1:])]
        dut._log.info("cycles per image (image i-1 -> i): %s; formula %d", period,
                      steady_cycles(block, p))
        _write_result("done_cycles", done)
        _write_result("first_out_cycle", out_cycles[0])
        _write_result("in_cycles_first_image", in_cycles[:in_per])
        _write_result("periods", period)
        _write_result("latency_first_image", done[0] - first_in + 1)
