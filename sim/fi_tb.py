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
   to reach steady state; ``cycles_per_inference`` is the interval between the last output beats
   of consecutive inferences measured over the second half, ``latency_cycles`` the clock edges
   from the first input beat's handshake to the last output beat's handshake of the first
   inference (one beat each way with the default stream format).

Stream format (tb_config ``stream``, fastinference/axis.py): an inference's values are sent in
``in_beats`` beats of ``in_values_per_beat`` values packed LSB-first, TLAST on the last beat; the
scores come back in one beat (``vector``) or one 32-bit beat per class (``serial``).

AXI4-Stream rules are checked on the DUT's master side in every cycle of both phases
(``AxisMasterChecker``): once m_axis_tvalid is high it stays high, with m_axis_tdata and
m_axis_tlast stable, until the handshake; TLAST is 1 exactly on the last beat of an inference;
no X/Z on a valid beat. A violation fails the test with the cycle and what changed.

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


class AxisViolation(AssertionError):
    """The DUT's master port broke an AXI4-Stream rule."""


class AxisMasterChecker:
    """Checks a master port sampled once a cycle (before the edge that commits the handshake):
    ``step(valid, data, last, ready)`` with the values of that cycle; returns the beat's data
    when it is a handshake, else None. ``beats``: beats per packet (TLAST on the last)."""

    def __init__(self, beats: int, name: str = "m_axis"):
        self.beats = beats
        self.name = name
        self.pending = None  # (data, last) of a valid beat not taken
        self.index = 0  # beat index within the current packet
        self.cycle = 0

    def step(self, valid: int, data, last: int, ready: int):
        self.cycle += 1
        n = self.name
        if self.pending is not None:
            pdata, plast = self.pending
            if not valid:
                raise AxisViolation(f"{n}: tvalid dropped in cycle {self.cycle} before the handshake "
                                    f"of beat {self.index} (tvalid must stay high until tready)")
            if data != pdata:
                raise AxisViolation(f"{n}: tdata changed in cycle {self.cycle} while tvalid was high "
                                    f"and tready low (beat {self.index}: {pdata:#x} -> {data:#x})")
            if last != plast:
                raise AxisViolation(f"{n}: tlast changed in cycle {self.cycle} while tvalid was high "
                                    f"and tready low (beat {self.index}: {plast} -> {last})")
        if not valid:
            self.pending = None
            return None
        want = int(self.index == self.beats - 1)
        if last != want:
            raise AxisViolation(f"{n}: tlast = {last} on beat {self.index} of {self.beats} of a packet "
                                f"(cycle {self.cycle}); it must be 1 on beat {self.beats - 1} only")
        if ready:
            self.pending = None
            self.index = (self.index + 1) % self.beats
            return data
        self.pending = (data, last)
        return None


def _value(sig, what: str) -> int:
    v = sig.value
    if not v.is_resolvable:
        raise AxisViolation(f"{what} has X/Z bits: {v}")
    return int(v)


def stream_cfg(cfg: dict) -> dict:
    """The stream format of tb_config (default: one beat each way, as before the option)."""
    st = cfg.get("stream")
    if st:
        return st
    return {"in_values_per_beat": cfg["in_elems"], "in_beats": 1, "out_mode": "vector", "out_beats": 1}


def in_beats_of(row: list[int], bits: int, st: dict) -> list[tuple[int, int]]:
    """(tdata, tlast) of each beat of one inference."""
    per, n = st["in_values_per_beat"], st["in_beats"]
    return [(pack(row[b * per:(b + 1) * per], bits), int(b == n - 1)) for b in range(n)]


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
        self.dut.s_axis_tlast.value = 0
        self.dut.m_axis_tready.value = 0
        self.dut.ap_rst_n.value = 0
        for _ in range(4):
            await RisingEdge(self.clk)
        self.dut.ap_rst_n.value = 1
        for _ in range(2):
            await RisingEdge(self.clk)

    async def run(self, rows: list[list[int]], p_valid: float, p_ready: float,
                  timeout: int) -> tuple[list[list[int]], list[int], list[int]]:
        """Send ``rows`` and collect as many outputs. Returns (outputs, in_cycles, out_cycles):
        per inference the cycle of its first input beat and of its last output beat."""
        dut, cfg = self.dut, self.cfg
        st = stream_cfg(cfg)
        bits, classes, sbits = cfg["in_bits"], cfg["classes"], cfg["score_bits"]
        serial = st["out_mode"] == "serial"
        beats = [b for r in rows for b in in_beats_of(r, bits, st)]
        per_inf = st["in_beats"]
        checker = AxisMasterChecker(st["out_beats"])
        outs, t_in, t_out, words = [], [], [], []
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
            if cur is None and nxt < len(beats) and self.rng.random() < p_valid:
                cur = nxt
                nxt += 1
                new_input = True
            valid = 0 if cur is None else 1
            ready = 1 if self.rng.random() < p_ready else 0
            if valid != drv_valid:
                dut.s_axis_tvalid.value = valid
                drv_valid = valid
            if new_input:
                dut.s_axis_tdata.value = beats[cur][0]
                dut.s_axis_tlast.value = beats[cur][1]
            if ready != drv_ready:
                dut.m_axis_tready.value = ready
                drv_ready = ready
            if valid and in_ready:
                if cur % per_inf == 0:
                    t_in.append(self.cycle)
                cur = None
            idle += 1
            data = last = 0
            if out_valid:
                data = _value(dut.m_axis_tdata, f"m_axis_tdata (output beat {len(words)})")
                last = _value(dut.m_axis_tlast, f"m_axis_tlast (output beat {len(words)})")
            got = checker.step(out_valid, data, last, ready)
            if got is not None:
                words.append(got)
                idle = 0
                if last:
                    if serial:
                        outs.append(unpack_signed(pack(words, sbits), classes, sbits))
                    else:
                        outs.append(unpack_signed(words[0], classes, sbits))
                    words = []
                    t_out.append(self.cycle)
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
    st = stream_cfg(cfg)
    timeout = (64 * int(cfg["bound_cycles"]) + 64 * int(cfg["layers"]) + 256
               + 4 * (st["in_beats"] + st["out_beats"]))

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
        "expected_cycles": cfg.get("expected_cycles", cfg["bound_cycles"]),
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
