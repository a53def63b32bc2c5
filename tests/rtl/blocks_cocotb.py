"""cocotb test of the wrapper `blocks_tb` (see test_mvau.py): every instance at once.

FI_BLOCKS (JSON): per instance name, in_words, expected out_words (packed integers),
interval (cycles per vector in steady state) and latency (input handshake to output
handshake, idle unit). Phase 1: random valid gaps and back-pressure, scoreboard. Phase 2: input
always valid, output always ready: every output interval must equal `interval` exactly and the
first output must come `latency` cycles after the first input.
"""
from __future__ import annotations

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge


class Port:
    def __init__(self, dut, c, rng, p_valid, p_ready):
        self.c, self.rng, self.p_valid, self.p_ready = c, rng, p_valid, p_ready
        n = c["name"]
        self.iv = getattr(dut, f"{n}_in_valid")
        self.ir = getattr(dut, f"{n}_in_ready")
        self.id = getattr(dut, f"{n}_in_data")
        self.ov = getattr(dut, f"{n}_out_valid")
        self.orr = getattr(dut, f"{n}_out_ready")
        self.od = getattr(dut, f"{n}_out_data")
        self.words = c["in_words"]
        self.nxt, self.cur = 0, None
        self.outs, self.t_in, self.t_out = [], [], []

    @property
    def done(self):
        return len(self.outs) >= len(self.words)

    def step(self, cycle):
        in_ready, out_valid = int(self.ir.value), int(self.ov.value)
        if self.cur is None and self.nxt < len(self.words) and self.rng.random() < self.p_valid:
            self.cur = self.nxt
            self.nxt += 1
            self.id.value = self.words[self.cur]
        valid = 0 if self.cur is None else 1
        ready = 1 if self.rng.random() < self.p_ready else 0
        self.iv.value = valid
        self.orr.value = ready
        if valid and in_ready:
            self.t_in.append(cycle)
            self.cur = None
        if ready and out_valid:
            v = self.od.value
            assert v.is_resolvable, f"{self.c['name']}: output {len(self.outs)} has X/Z: {v}"
            self.outs.append(int(v))
            self.t_out.append(cycle)


async def run_phase(dut, cfgs, rng, p_valid, p_ready):
    ports = [Port(dut, c, rng, p_valid, p_ready) for c in cfgs]
    cycle, limit = 0, 200 + sum(c["interval"] * len(c["in_words"]) * 4 + c["latency"] for c in cfgs)
    while not all(p.done for p in ports):
        await FallingEdge(dut.clk_i)
        cycle += 1
        assert cycle < limit, "timeout: " + ", ".join(
            f"{p.c['name']} {len(p.outs)}/{len(p.words)}" for p in ports if not p.done)
        for p in ports:
            if p.done:
                p.iv.value = 0
                p.orr.value = 0
            else:
                p.step(cycle)
    return ports


@cocotb.test()
async def blocks(dut):
    with open(os.environ["FI_BLOCKS"]) as f:
        cfgs = json.load(f)
    rng = random.Random(int(os.environ.get("FI_SEED", "7")))
    Clock(dut.clk_i, 10, unit="ns").start()
    dut.rst_ni.value = 0
    for c in cfgs:
        getattr(dut, f"{c['name']}_in_valid").value = 0
        getattr(dut, f"{c['name']}_out_ready").value = 0
    for _ in range(3):
        await RisingEdge(dut.clk_i)
    dut.rst_ni.value = 1
    await RisingEdge(dut.clk_i)

    errors = []
    ports = await run_phase(dut, cfgs, rng, 0.5, 0.5)
    for p in ports:
        for i, (got, exp) in enumerate(zip(p.outs, p.c["expected"])):
            if got != exp:
                errors.append(f"{p.c['name']} vector {i}: got {got:#x}, expected {exp:#x}")
                break
    for _ in range(5):
        await RisingEdge(dut.clk_i)

    ports = await run_phase(dut, cfgs, rng, 1.0, 1.0)
    for p in ports:
        c = p.c
        gaps = sorted({b - a for a, b in zip(p.t_out, p.t_out[1:])})
        lat = p.t_out[0] - p.t_in[0]
        if gaps != [c["interval"]]:
            errors.append(f"{c['name']}: output intervals {gaps}, expected exactly {c['interval']}")
        if lat != c["latency"]:
            errors.append(f"{c['name']}: latency {lat}, expected {c['latency']}")
        if p.outs != c["expected"]:
            errors.append(f"{c['name']}: wrong outputs in the throughput phase")
        dut._log.info(f"{c['name']}: interval {gaps} latency {lat}")
    assert not errors, "\n".join(errors)
