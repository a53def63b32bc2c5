"""The cycle schedule's FIFO sizing (fastinference/schedule.py), on hand-built pipelines."""
from fastinference import schedule
from fastinference.schedule import Node


def _mvau(name, src, dst, beats, steps, latency):
    """An mvau as the RTL graph models it: per beat, read at the first step, write at the last."""
    one = [(1, (0,), ())] + ([(steps - 2, (), ())] if steps > 2 else []) + [(1, (), (0,))]
    return Node(name, [src], [dst], one * beats, latency)


def test_deep_slowest_stage_gets_room_for_its_beats_in_flight():
    """The slowest stage (an mvau writing every 4th step, latency 12: three beats in flight in
    its output FIFO) behind a fast producer: when the bounded run finds the mvau stalled on its
    output, the output FIFO is raised, not the input FIFO the fast producer waits on (which
    costs nothing and, raised alone, never restores the interval)."""
    nodes = [Node("src", ["x"], ["a"], [(1, (0,), (0,)), (15, (), (0,))], 2),
             _mvau("mv", "a", "b", 16, 4, 12),
             Node("pool", ["b"], ["y"], [(15, (0,), ()), (1, (0,), (0,))], 2)]
    sch = schedule.fifo_depths(nodes, "x", "y", min_depth=2)
    assert sch.interval == 64 and sch.measured == 64
    assert sch.depths["b"] >= 4
    assert sch.depths["a"] <= 16  # the fast producer's FIFO is not grown to no effect


def test_undersized_output_fifo_costs_cycles():
    nodes = [Node("src", ["x"], ["a"], [(1, (0,), (0,)), (15, (), (0,))], 2),
             _mvau("mv", "a", "b", 16, 4, 12),
             Node("pool", ["b"], ["y"], [(15, (0,), ()), (1, (0,), (0,))], 2)]
    sch = schedule.fifo_depths(nodes, "x", "y", min_depth=2)
    ok = schedule.simulate(nodes, "x", "y", sch.depths)
    small = schedule.simulate(nodes, "x", "y", {**sch.depths, "b": 2})
    assert ok.interval == 64 and small.interval > 64
