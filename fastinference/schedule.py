"""The cycle schedule of a dataflow pipeline, and the FIFO depths it needs (backend-neutral).

Why. In a graph with a fork and a join, the two branches take different times: the join can
consume the short branch's beat only when the long branch's matching beat arrives, so the
short branch's FIFO must hold every beat the fork writes meanwhile. Too small, and the fork
blocks: the long branch starves and the pipeline stalls (cycles per inference > the bound) or,
when the long branch needs several beats before its first output (a conv's sliding window),
deadlocks. This module computes the depths from a cycle-level simulation, not by guessing.

Model. A pipeline is a list of ``Node``s (stages) connected by ``Edge``s (FIFOs: one writer,
one reader). Each node runs, per inference, a fixed ``program`` of steps, one step per cycle
at best (a ``PIPELINE II=1`` loop iteration, or a hardware block's clock cycle): a run-length
list of ``(count, reads, writes)`` segments, where ``reads``/``writes`` are the indices of the
node's inputs/outputs that move one beat in that step. A step fires at cycle ``t`` when every
input it reads holds a beat visible at ``t`` and every output it writes has room (occupancy,
beats in flight included, below the depth); otherwise the node stalls that cycle. A written
beat becomes visible ``latency`` cycles later (default 1); a read frees its slot for the
writer from the next cycle. The backend describes its stages with these programs (the HLS
writer derives them from its templates' loops; an RTL writer from its blocks' handshakes):
e.g. an MVAU with ``NF*SF`` steps per pixel reads at the first and writes at the last, a
fork reads one beat and writes it to both outputs in one step, a join reads one beat of each
input and writes one. The network input is a source node writing one beat per inference;
the output is drained every cycle.

Depths (``fifo_depths``). (1) Simulate with unbounded FIFOs and the input offered once every
``P`` cycles, ``P`` = the longest program (the steady-state interval: the slowest stage, the
folding bound of the slowest layer when the MVAUs dominate), for ``WARMUP + MEASURE``
inferences; each FIFO's depth is its largest occupancy (at least ``min_depth``). With those
depths no write ever finds a full FIFO, so the bounded pipeline runs exactly that schedule:
no stall, no deadlock, at that pace. (2) Check it: simulate the bounded pipeline with the
input always valid (stages may then run in another phase); while the measured interval
between outputs in steady state exceeds ``P``, the FIFO a writer most often found full gets
one more slot (a fork's outputs first: a full branch stops the fork and starves the other
branch; then a FIFO a slowest stage finds full: that stage has no cycle to spare; a fast
stage waiting in front of a slower one costs nothing). The result must run at ``P`` or
``fifo_depths`` raises.

``Schedule`` reports, per node, the cycle of its first step and the cycle its last step of
the first inference fires (``start``/``finish``), per edge the depth and the occupancy, and
the measured interval; ``simulate(nodes, edges, depths)`` runs any depths (a test shows that
an undersized FIFO stalls or deadlocks).
"""
from __future__ import annotations

from dataclasses import dataclass, field

WARMUP = 4  # inferences before measuring the steady state
MEASURE = 4  # inferences measured
MAX_RAISES = 256  # depth increments tried after the paced estimate


@dataclass
class Node:
    """A stage. ``inputs``/``outputs``: edge names; ``program``: per inference, a list of
    ``(count, reads, writes)`` segments (tuples of input/output indices)."""

    name: str
    inputs: list[str]
    outputs: list[str]
    program: list[tuple[int, tuple[int, ...], tuple[int, ...]]]
    latency: int = 1

    @property
    def steps(self) -> int:
        return sum(c for c, _, _ in self.program)


@dataclass
class Result:
    deadlock: bool
    cycles: int
    interval: int | None  # steady-state cycles between output beats (None: too few)
    max_occupancy: dict[str, int]
    start: dict[str, int]
    finish: dict[str, int]
    blocked: list[str] = field(default_factory=list)  # at a deadlock: what each stage waits for
    full_waits: dict[str, int] = field(default_factory=dict)  # edge -> cycles a writer found it full


@dataclass
class Schedule:
    interval: int  # P: the steady-state cycles per inference (the longest program)
    depths: dict[str, int]  # edge -> FIFO depth
    occupancy: dict[str, int]  # edge -> largest occupancy in the paced schedule
    start: dict[str, int]  # node -> cycle of its first step (first inference)
    finish: dict[str, int]  # node -> cycle its last step of the first inference fires
    measured: int  # the bounded pipeline's measured interval (== interval)


def _expand(program):
    """Segments -> flat list of (reads, writes) steps (compressed steps are small here)."""
    out = []
    for count, r, w in program:
        out.extend([(tuple(r), tuple(w))] * int(count))
    return out


def simulate(nodes: list[Node], source: str, sink: str, depths: dict[str, int | None],
             inferences: int = WARMUP + MEASURE, pace: int | None = None,
             max_cycles: int | None = None) -> Result:
    """Run the pipeline cycle by cycle. ``source``: the edge the network input arrives on
    (one beat per inference, every ``pace`` cycles, or whenever there is room if None);
    ``sink``: the output edge (drained every cycle). ``depths``: edge -> depth (None:
    unbounded). Stops after ``inferences`` outputs, or at a deadlock (no step can ever fire)."""
    progs = [_expand(n.program) for n in nodes]
    pos = [0] * len(nodes)  # step index within the current inference
    done = [0] * len(nodes)  # inferences completed
    edges = {e for n in nodes for e in n.inputs + n.outputs} | {source, sink}
    occ = {e: 0 for e in edges}  # beats written (in flight included) and not yet read
    vis: dict[str, list[int]] = {e: [] for e in edges}  # cycles at which beats become visible
    maxocc = {e: 0 for e in edges}
    start: dict[str, int] = {}
    finish: dict[str, int] = {}
    full_waits = {e: 0 for e in edges}
    sent = got = 0
    out_times: list[int] = []
    limit = max_cycles or (inferences + 4) * max(1, max(len(p) for p in progs)) * 4 + 10000
    t = 0
    idle = 0
    while got < inferences and t < limit:
        fired_any = False
        frees: list[str] = []
        pushes: list[tuple[str, int]] = []
        # the input: one beat per inference
        if sent < inferences and (pace is None or t >= sent * pace):
            d = depths.get(source)
            if d is None or occ[source] < d:
                pushes.append((source, t))
                sent += 1
                fired_any = True
        for k, n in enumerate(nodes):
            if done[k] >= inferences:
                continue
            reads, writes = progs[k][pos[k]]
            ok = all(vis[n.inputs[i]] and vis[n.inputs[i]][0] <= t for i in reads)
            if ok:
                for o in writes:
                    e = n.outputs[o]
                    if depths.get(e) is not None and occ[e] >= depths[e]:
                        full_waits[e] += 1
                        ok = False
            if not ok:
                continue
            fired_any = True
            if done[k] == 0 and pos[k] == 0:
                start[n.name] = t
            for i in reads:
                frees.append(n.inputs[i])
            for o in writes:
                pushes.append((n.outputs[o], t + n.latency))
            pos[k] += 1
            if pos[k] == len(progs[k]):
                if done[k] == 0:
                    finish[n.name] = t
                pos[k] = 0
                done[k] += 1
        # the output: drained every cycle
        if vis[sink] and vis[sink][0] <= t:
            frees.append(sink)
            out_times.append(t)
            got += 1
            fired_any = True
        for e in frees:  # a read frees its slot from the next cycle on
            vis[e].pop(0)
            occ[e] -= 1
        for e, when in pushes:
            vis[e].append(when)
            occ[e] += 1
            maxocc[e] = max(maxocc[e], occ[e])
        # a deadlock: nothing fired and nothing is in flight
        in_flight = any(v and v[-1] > t for v in vis.values())
        idle = 0 if (fired_any or in_flight or (pace is not None and sent < inferences)) else idle + 1
        if idle > 1:
            blocked = []
            for k, n in enumerate(nodes):
                if done[k] >= inferences:
                    continue
                reads, writes = progs[k][pos[k]]
                why = [f"reads empty '{n.inputs[i]}'" for i in reads if not vis[n.inputs[i]]]
                why += [f"writes full '{n.outputs[o]}' (depth {depths.get(n.outputs[o])})"
                        for o in writes if depths.get(n.outputs[o]) is not None
                        and occ[n.outputs[o]] >= depths[n.outputs[o]]]
                blocked.append(f"{n.name}: " + ", ".join(why))
            return Result(True, t, None, maxocc, start, finish, blocked)
        t += 1
    steady = out_times[WARMUP:] if len(out_times) > WARMUP + 1 else []
    interval = None
    if len(steady) >= 2:
        interval = -(-(steady[-1] - steady[0]) // (len(steady) - 1))
    return Result(got < inferences, t, interval, maxocc, start, finish, [], full_waits)


def fifo_depths(nodes: list[Node], source: str, sink: str, min_depth: int = 2) -> Schedule:
    """The depth of every internal edge (see the module docstring), checked by a bounded run."""
    P = max(n.steps for n in nodes)
    paced = simulate(nodes, source, sink, {}, pace=P)
    if paced.deadlock:
        raise RuntimeError("the pipeline does not run even with unbounded FIFOs: "
                           + "; ".join(paced.blocked))
    internal = {e for n in nodes for e in n.inputs + n.outputs} - {source, sink}
    depths = {e: max(min_depth, paced.max_occupancy[e]) for e in sorted(internal)}
    # the input always valid can put the stages in another phase than the paced run: where a
    # writer still finds its FIFO full and the interval exceeds P, one more slot, until none
    fork_edges = {e for n in nodes if len(n.outputs) > 1 for e in n.outputs}
    bottleneck_edges = {e for n in nodes if n.steps == P for e in n.outputs}
    for _ in range(MAX_RAISES):
        bounded = simulate(nodes, source, sink, depths)
        if not bounded.deadlock and bounded.interval is not None and bounded.interval <= P:
            break
        waits = {e: bounded.full_waits.get(e, 0) for e in sorted(depths)}
        # a branch out of a fork first (a full branch stops the fork, and with it the other
        # branch); a fast stage waiting in front of a slower one is harmless
        branch = {e: w for e, w in waits.items() if e in fork_edges and w}
        # then a FIFO a slowest stage waits on: each of its stalls is a cycle lost per
        # inference (a deep pipeline writing every few steps, e.g. an mvau of latency 12
        # writing every 4th step, keeps several beats in flight in its output FIFO)
        slow = {e: w for e, w in waits.items() if e in bottleneck_edges and w}
        pool = branch or slow or {e: w for e, w in waits.items() if w}
        if not pool:
            break
        worst = max(pool, key=lambda e: pool[e])
        depths[worst] += 1
    if bounded.deadlock or bounded.interval is None or bounded.interval > P:
        raise RuntimeError(f"FIFO depths {depths} give interval {bounded.interval} > {P} "
                           f"(deadlock: {bounded.deadlock})")
    return Schedule(P, depths, {e: paced.max_occupancy[e] for e in sorted(internal)},
                    paced.start, paced.finish, bounded.interval)
