"""cocotb testbench for a fastinference RTL top (AXI4-Stream in, AXI4-Stream out).

Configuration comes from environment variables (set by ``fi_runner.py``):

* ``FI_CONFIG``   tb_config.json of the design (input elements/bits/signedness, classes)
* ``FI_INPUT``    vectors, one inference per line, space-separated integers
* ``FI_EXPECTED`` (optional) expected scores, one inference per line: the scoreboard
* ``FI_OUTPUT``   (optional) where to write the scores read back, one line per inference
* ``FI_STATS``    (optional) where to write the measured statistics (JSON)
* ``FI_SEED``     (optional) seed of the random valid gaps and back-pressure

Two phases, one build:

1. functional: every vector, driver with random valid gaps, monitor with random
   back-pressure, scoreboard against the expected scores (if given);
2. throughput: ``input always valid, output always ready`` on an idle pipeline, enough vectors
   to reach steady state; ``cycles_per_inference`` is the output beat interval measured over the
   second half, ``latency_cycles`` the clock edges from the first input handshake to the first
   output handshake (one inference = one input beat and one output beat).

Once a cycle, at the falling edge, the testbench reads the DUT's tready/tvalid (they must not
depend combinationally on the testbench's tvalid/tready, as AXI4-Stream allows and the generated
top guarantees), decides its own tvalid/tready and records the handshakes that the next rising
edge commits: the same in every simulator, one trigger a cycle.
"""
from __future__ import annotations

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge


def read_rows(path: str) -> list[list[int]]:
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append([int(v) for v in line.split()])
    return rows


def pack(values: list[int], bits: int) -> int:
    mask = (1 << bits) - 1
    word = 0
    for i, v in enumerate(values):
        word |= (int(v) & mask) << (i * bits)
    return word


def unpack_signed(word: int, count: int, bits: int) -> list[int]:
    mask = (1 << bits) - 1
    out = []
    for i in range(count):
        v = (word >> (i * bits)) & mask
        out.append(v - (1 << bits) if v >> (bits - 1) else v)
    return out


class Harness:
    """Drives s_axis and m_axis_tready once a cycle; records handshakes with their cycle."""

    def __init__(self, dut, cfg: dict, rng: random.Random):
        self.dut = dut
        self.cfg = cfg
        self.rng = rng
        self.cycle = 0
        self.clk = dut.ap_clk

    async def start(self) -> None:
        Clock(self.clk, 10, unit="ns").start()
        self.dut.s_axis_tvalid.value = 0
        self.dut.s_axis_tdata.value = 0
        self.dut.m_axis_tready.value = 0
        self.dut.ap_rst_n.value = 0
        for _ in range(4):
            await RisingEdge(self.clk)
        self.dut.ap_rst_n.value = 1
        for _ in range(2):
            await RisingEdge(self.clk)

    async def run(self, rows: list[list[int]], p_valid: float, p_ready: float,
                  timeout: int) -> tuple[list[list[int]], list[int], list[int]]:
        """Send ``rows`` and collect as many outputs. Returns (outputs, in_cycles, out_cycles)."""
        dut, cfg = self.dut, self.cfg
        bits, classes, sbits = cfg["in_bits"], cfg["classes"], cfg["score_bits"]
        outs, t_in, t_out = [], [], []
        nxt, cur = 0, None
        idle = 0
        drv_valid, drv_ready = None, None
        while len(outs) < len(rows):
            await FallingEdge(self.clk)
            self.cycle += 1
            # DUT outputs are registered (or depend on registers only): stable until the
            # next rising edge, which commits the handshakes decided here
            in_ready = int(dut.s_axis_tready.value)
            out_valid = int(dut.m_axis_tvalid.value)
            new_input = False
            if cur is None and nxt < len(rows) and self.rng.random() < p_valid:
                cur = nxt
                nxt += 1
                new_input = True
            valid = 0 if cur is None else 1
            ready = 1 if self.rng.random() < p_ready else 0
            if valid != drv_valid:
                dut.s_axis_tvalid.value = valid
                drv_valid = valid
            if new_input:
                dut.s_axis_tdata.value = pack(rows[cur], bits)
            if ready != drv_ready:
                dut.m_axis_tready.value = ready
                drv_ready = ready
            if valid and in_ready:
                t_in.append(self.cycle)
                cur = None
            idle += 1
            if ready and out_valid:
                v = dut.m_axis_tdata.value
                assert v.is_resolvable, f"output beat {len(outs)} has X/Z bits: {v}"
                assert int(dut.m_axis_tlast.value) == 1, "m_axis_tlast must be 1 on every beat"
                outs.append(unpack_signed(int(v), classes, sbits))
                t_out.append(self.cycle)
                idle = 0
            assert idle < timeout, f"no output beat for {timeout} cycles (after {len(outs)} outputs)"
        await FallingEdge(self.clk)
        dut.s_axis_tvalid.value = 0
        dut.m_axis_tready.value = 0
        return outs, t_in, t_out


@cocotb.test()
async def run_vectors(dut):
    with open(os.environ["FI_CONFIG"]) as f:
        cfg = json.load(f)
    rows = read_rows(os.environ["FI_INPUT"])
    assert rows, "no input vectors"
    for i, r in enumerate(rows):
        assert len(r) == cfg["in_elems"], \
            f"input row {i} has {len(r)} values, the design takes {cfg['in_elems']}"
    expected = read_rows(os.environ["FI_EXPECTED"]) if os.environ.get("FI_EXPECTED") else None
    rng = random.Random(int(os.environ.get("FI_SEED", "1")))
    timeout = 64 * int(cfg["bound_cycles"]) + 64 * int(cfg["layers"]) + 256

    h = Harness(dut, cfg, rng)
    await h.start()

    # phase 1: functional, random valid gaps and back-pressure
    outs, _, _ = await h.run(rows, p_valid=0.6, p_ready=0.6, timeout=timeout)
    for _ in range(8):
        await RisingEdge(h.clk)

    # phase 2: throughput on an idle pipeline, input always valid, output always ready
    n_t = max(8, 4 * int(cfg["layers"]) + 8)
    t_rows = [rows[i % len(rows)] for i in range(n_t)]
    t_outs, t_in, t_out = await h.run(t_rows, p_valid=1.0, p_ready=1.0, timeout=timeout)
    half = n_t // 2
    span = t_out[-1] - t_out[half]
    gaps = sorted({b - a for a, b in zip(t_out[half:], t_out[half + 1:])})
    cpi = span / (n_t - 1 - half)
    stats = {
        "vectors": len(rows),
        "cycles_per_inference": int(cpi) if cpi == int(cpi) else cpi,
        "steady_state_intervals": gaps,
        "latency_cycles": t_out[0] - t_in[0],
        "throughput_vectors": n_t,
        "bound_cycles": cfg["bound_cycles"],
    }

    mismatches, first_bad = 0, None
    if expected is not None:
        assert len(expected) >= len(rows), "fewer expected rows than input rows"
        for i, o in enumerate(outs):
            if o != expected[i]:
                mismatches += 1
                if first_bad is None:
                    first_bad = f"row {i}: got {' '.join(map(str, o))}, expected {' '.join(map(str, expected[i]))}"
    for i, o in enumerate(t_outs):
        if o != outs[i % len(rows)]:
            mismatches += 1
            if first_bad is None:
                first_bad = (f"throughput phase, row {i % len(rows)}: got {' '.join(map(str, o))}, "
                             f"functional phase gave {' '.join(map(str, outs[i % len(rows)]))}")
    stats["mismatches"] = mismatches
    stats["first_mismatch"] = first_bad
    if first_bad:
        dut._log.error(first_bad)

    if os.environ.get("FI_OUTPUT"):
        with open(os.environ["FI_OUTPUT"], "w") as f:
            f.write("".join(" ".join(str(v) for v in o) + "\n" for o in outs))
    if os.environ.get("FI_STATS"):
        with open(os.environ["FI_STATS"], "w") as f:
            json.dump(stats, f, indent=2)
    dut._log.info(f"{len(rows)} vectors, {mismatches} mismatches, cycles/inference "
                  f"{stats['cycles_per_inference']} (bound {cfg['bound_cycles']}), "
                  f"latency {stats['latency_cycles']}")
    assert mismatches == 0, f"{mismatches} mismatching outputs, first at {first_bad}"
