"""cocotb side of tests/rtl/test_rtl_axis.py: drives a hand-written AXI4-Stream master
(``axis_bad_master``) with random back-pressure and checks it with the generated testbench's
checker (sim/fi_tb.py ``AxisMasterChecker``), exactly as the testbench checks a core.

Environment: ``AXIS_BEATS`` beats per packet, ``AXIS_CYCLES`` cycles to run, ``AXIS_RESULT``
a file that receives ``ok`` or the checker's message."""
from __future__ import annotations

import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

from fi_tb import AxisMasterChecker, AxisViolation, _value


@cocotb.test()
async def check_master(dut):
    beats, cycles = int(os.environ["AXIS_BEATS"]), int(os.environ["AXIS_CYCLES"])
    rng = random.Random(3)
    Clock(dut.ap_clk, 10, unit="ns").start()
    dut.m_axis_tready.value = 0
    dut.ap_rst_n.value = 0
    for _ in range(3):
        await RisingEdge(dut.ap_clk)
    dut.ap_rst_n.value = 1
    checker = AxisMasterChecker(beats)
    taken = 0
    result = "ok"
    try:
        for _ in range(cycles):
            await FallingEdge(dut.ap_clk)
            valid = int(dut.m_axis_tvalid.value)
            data = _value(dut.m_axis_tdata, "m_axis_tdata") if valid else 0
            last = _value(dut.m_axis_tlast, "m_axis_tlast") if valid else 0
            ready = int(rng.random() < 0.5)
            dut.m_axis_tready.value = ready
            if checker.step(valid, data, last, ready) is not None:
                taken += 1
        assert taken > 2 * beats, f"only {taken} beats in {cycles} cycles"
    except AxisViolation as e:
        result = str(e)
    with open(os.environ["AXIS_RESULT"], "w") as f:
        f.write(result)
    assert result == "ok", result
