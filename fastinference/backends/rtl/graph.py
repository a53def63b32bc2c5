"""RTL backend, graphs with skip connections: the stage graph of a lowered DAG and its top.

Every tensor flows as one valid/ready stream: a vector (one beat = the whole tensor: the
network input, a dense layer's output, and a 3-D network input in HWC order) or a pixel
stream (one beat = one pixel's channels, raster order: conv, pool, and any join or
threshold on a 3-D tensor). A consumer that needs the other form gets a converter on its
edge (``pixel_serializer`` / ``pixel_collector``). A tensor read by n layers goes through
n - 1 ``stream_fork`` s; ``AddJoin`` is a ``stream_join_add``, ``ConcatJoin`` a
``stream_join_concat``, ``Threshold`` a ``threshold_unit``; convs are a ``sliding_window``
and an ``mvau``, pools ``binary_maxpool`` / ``maxpool``, dense layers an ``mvau``.

Every edge between two blocks is a ``stream_fifo`` whose depth comes from the cycle schedule
(``fastinference/schedule.py``): each block is described by its per-inference program of
handshakes (the ``Node.program`` of the schedule, derived from the block's documented
throughput and latency) and ``schedule.fifo_depths`` gives the depth of every FIFO that keeps
the pipeline at one inference per P cycles (P = the slowest block) without a stall or a
deadlock; the short branch of a fork/join pair gets the beats the fork writes while the
long branch works. The depth and where it comes from are written next to each FIFO.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ... import schedule
from ...errors import UnsupportedModelError
from ...hwplan import join_plan, pool_plan, threshold_plan, window_plan
from ...ir import (INPUT, AddJoin, BinaryConv, BinaryDense, BinaryLayer, BinaryMaxPool, ConcatJoin,
                   IntMaxPool, Model, Threshold)
from ...names import safe_comment

SCORE_BITS = 32
MIN_DEPTH = 2  # a stream_fifo of depth 2 passes one beat per cycle


@dataclass
class Tensor:
    """What flows on one wire: ``pix`` (beats = pixels) or not (one beat per inference),
    ``elems`` per beat of ``bits`` bits each, ``kind`` ``bits`` (+-1) or ``int``."""

    wire: str
    pix: bool
    elems: int
    bits: int
    kind: str
    signed: bool
    shape: tuple
    beats: int

    @property
    def width(self) -> int:
        return self.elems * self.bits


@dataclass
class GStage:
    name: str
    module: str
    params: list
    ports: list  # (prefix, wire, "in"|"out")
    comments: list
    program: list  # schedule program (count, reads, writes)
    latency: int  # cycles from the step's handshake to the beat being visible past the FIFO
    image_cycles: int = 0
    nodes: list = None  # schedule nodes replacing (program, latency) (window blocks)


@dataclass
class Wire:
    name: str
    width: int
    producer: str  # stage name, or "" for the network input
    consumer: str = ""
    depth: int = MIN_DEPTH
    note: str = ""
    ready_n: int = 1  # copies of the ready its producer reads (mvau ReadyN, stream_fifo ReadyN)


@dataclass
class GraphPlan:
    stages: list = field(default_factory=list)
    wires: dict = field(default_factory=dict)
    roms: list = field(default_factory=list)
    input_wire: str = ""
    output: Tensor = None
    schedule: object = None
    nodes: list = field(default_factory=list)


def _steps(pairs):
    """[(read?, write?)] per step -> run-length program segments."""
    prog = []
    for r, w in pairs:
        seg = ((0,) if r else (), (0,) if w else ())
        if prog and prog[-1][1:] == seg:
            prog[-1] = (prog[-1][0] + 1,) + seg
        else:
            prog.append((1,) + seg)
    return prog


def _window_nodes(name, src, dst, H, W, OH, OW, kh, sh, pt, latency):
    """A window block (sliding_window / maxpool) as two schedule nodes, as the block is built:
    a writer that takes one input pixel a step and a reader that sends one window a step,
    running independently (so the next image's first rows come in while the last windows of
    this one go out: max(H*W, OH*OW) cycles per image). Between them, one beat per input row
    that completes what an output row needs (row min(H-1, oy*StrideH + KH-1-PadT)); the
    reader takes it at the output row's first window, the cycle after the row was accepted.
    ``latency``: the window reaches the output FIFO through the bank read and window registers
    (sliding_window 3, maxpool 4 with its output register)."""
    need = [min(H - 1, oy * sh + kh - 1 - pt) for oy in range(OH)]
    rows = sorted(set(need))
    wr = [(True, (x == W - 1 and y in rows)) for y in range(H) for x in range(W)]
    rd, prev = [], None
    for oy in range(OH):
        for ox in range(OW):
            rd.append((ox == 0 and need[oy] != prev, True))
        prev = need[oy]
    line = f"{name}_rows"
    return [schedule.Node(f"{name}_wr", [src], [line], _steps(wr), 1),
            schedule.Node(f"{name}_rd", [line], [dst], _steps(rd), latency)]


def _mvau_program(steps, windows):
    one = [(True, steps == 1)] + [(False, False)] * max(0, steps - 2) + ([(False, True)] if steps > 1 else [])
    return _steps(one * windows)


def _stream_of(t: Tensor) -> str:
    if t.kind == "bits":
        return "bits"
    return f"{t.bits}-bit {'signed' if t.signed else 'unsigned'} integers"


class _Builder:
    def __init__(self, model: Model, folding, rtl):
        self.m = model
        self.f = folding
        self.rtl = rtl  # the backend module (mvau helpers), imported lazily to avoid a cycle
        self.p = GraphPlan()
        self.tensors: dict[str, Tensor] = {}
        self.pending: dict[str, list[Tensor]] = {}  # tensor -> copies not yet read (forks)

    # ------------------------------------------------------------------ wires and stages
    def wire(self, name, width, producer) -> str:
        self.p.wires[name] = Wire(name, width, producer)
        return name

    def stage(self, st: GStage) -> None:
        for prefix, w, d in st.ports:
            if d == "in":
                self.p.wires[w].consumer = st.name
        self.p.stages.append(st)

    def publish(self, name: str, t: Tensor, readers: int) -> None:
        """A tensor read by ``readers`` layers: forks into that many copies."""
        copies = [t]
        k = 0
        while len(copies) < readers:
            src = copies.pop(0)
            fn = f"{name}_fork{k}"
            w0 = self.wire(f"{fn}_o0", src.width, fn)
            w1 = self.wire(f"{fn}_o1", src.width, fn)
            self.stage(GStage(fn, "stream_fork", [("Width", str(src.width))],
                              [("in", src.wire, "in"), ("out0", w0, "out"), ("out1", w1, "out")],
                              [f"fork of {name} ({src.beats} beat(s) per inference)"],
                              [(src.beats, (0,), (0, 1))], 2, src.beats if src.pix else 0))
            copies += [_copy(src, w0), _copy(src, w1)]
            k += 1
        self.pending[name] = copies

    def take(self, name: str) -> Tensor:
        return self.pending[name].pop(0)

    def to_pixels(self, t: Tensor, name: str) -> Tensor:
        if t.pix:
            return t
        C, H, W = t.shape
        pw = C * t.bits
        w = self.wire(f"{name}_ser_o", pw, f"{name}_ser")
        self.stage(GStage(f"{name}_ser", "pixel_serializer", [("N", str(H * W)), ("PixW", str(pw))],
                          [("in", t.wire, "in"), ("out", w, "out")],
                          [f"image vector -> {H * W} pixels of {C} x {t.bits} bits for {name}"],
                          _steps([(True, True)] + [(False, True)] * (H * W - 1)), 2, H * W))
        return Tensor(w, True, C, t.bits, t.kind, t.signed, t.shape, H * W)

    def to_vector(self, t: Tensor, name: str) -> Tensor:
        if not t.pix:
            return t
        C, H, W = t.shape
        w = self.wire(f"{name}_col_o", t.width * H * W, f"{name}_col")
        self.stage(GStage(f"{name}_col", "pixel_collector",
                          [("C", str(C)), ("N", str(H * W)), ("BITS", str(t.bits))],
                          [("in", t.wire, "in"), ("out", w, "out")],
                          [f"{H * W} pixels -> one vector (HWC order) for {name}"],
                          _steps([(True, False)] * (H * W - 1) + [(True, True)]), 2, H * W))
        return Tensor(w, False, C * H * W, t.bits, t.kind, t.signed, t.shape, 1)

    # ------------------------------------------------------------------ layers
    def check_input(self, l: BinaryLayer, t: Tensor) -> None:
        if l.input_kind == "binary":
            ok = t.kind == "bits"
            want = "bits"
        else:
            ok = t.kind == "int" and t.bits == int(l.input_bits) and t.signed == bool(l.input_signed)
            want = f"{l.input_bits}-bit {'signed' if l.input_signed else 'unsigned'} integers"
        if not ok:
            raise UnsupportedModelError(f"layer '{l.name}' takes {want} but its input carries "
                                        f"{_stream_of(t)}: not supported by the RTL backend")

    def mvau(self, l: BinaryLayer, t: Tensor, pix_in: bool, windows: int) -> Tensor:
        rtl = self.rtl
        r = rtl._mvau_info(l, self.f[l.name], pix_in)
        st = rtl._mvau_stage(r)
        out_bits = r.elem_bits
        w = self.wire(f"{l.name}_o", r.out_width, l.name)
        self.p.wires[w].ready_n = r.ready_n
        steps = r.plan.NF * r.plan.SF
        self.stage(GStage(l.name, "mvau", st.params, [("in", t.wire, "in"), ("out", w, "out")],
                          st.comments, _mvau_program(steps, windows),
                          # FIFO depths hold for both flows' RTL (the ECP5 one may be a cycle longer)
                          max(r.latency, r.latency_ecp5) - steps + 2, 0))
        self.p.roms.append((l, r, r.plan.weights))
        kind = "bits" if (not r.scores and r.n_thr == 1 and r.out_bits == 1) else "int"
        signed = True if r.scores else (False if kind == "bits" else r.out_signed)
        if isinstance(l, BinaryConv):
            OH, OW = l.out_shape[1:]
            return Tensor(w, True, r.M, out_bits, kind, signed, tuple(l.out_shape), OH * OW)
        return Tensor(w, False, r.M, out_bits, kind, signed, tuple(l.out_shape), 1)

    def layer(self, l) -> Tensor:
        name = l.name
        nodes = safe_comment(", ".join(l.source_nodes) or "(none)")
        if isinstance(l, BinaryConv):
            t = self.to_pixels(self.take(self.ins[0]), name)
            self.check_input(l, t)
            wp = window_plan(l)
            if max(wp.PT, wp.PB) >= wp.KH or max(wp.PL, wp.PR) >= wp.KW:
                raise UnsupportedModelError(f"layer '{name}': padding as large as the kernel is not supported in RTL")
            w = self.wire(f"{name}_win_o", wp.window_bits, f"{name}_win")
            self.stage(GStage(
                f"{name}_win", "sliding_window",
                [("C", str(wp.C)), ("H", str(wp.H)), ("W", str(wp.W)), ("BITS", str(wp.bits)),
                 ("KH", str(wp.KH)), ("KW", str(wp.KW)), ("StrideH", str(wp.SH)),
                 ("StrideW", str(wp.SW)), ("PadT", str(wp.PT)), ("PadL", str(wp.PL)),
                 ("PadB", str(wp.PB)), ("PadR", str(wp.PR))],
                [("in", t.wire, "in"), ("out", w, "out")],
                [f"windows {wp.KH}x{wp.KW}, stride {wp.SH}x{wp.SW}, pads {wp.PT},{wp.PL},{wp.PB},{wp.PR} "
                 f"of {wp.C}x{wp.H}x{wp.W} for {name}"],
                [], 0, max(wp.H * wp.W, wp.OH * wp.OW),
                _window_nodes(f"{name}_win", t.wire, w, wp.H, wp.W, wp.OH, wp.OW, wp.KH, wp.SH, wp.PT, 3)))
            win = Tensor(w, False, wp.K, wp.bits, t.kind, t.signed, (), wp.OH * wp.OW)
            return self.mvau(l, win, True, wp.OH * wp.OW)
        if isinstance(l, (BinaryMaxPool, IntMaxPool)):
            t = self.to_pixels(self.take(self.ins[0]), name)
            pp = pool_plan(l, t.bits, t.signed and t.kind == "int")
            C, H, W, OH, OW = pp.C, pp.H, pp.W, pp.OH, pp.OW
            k, s = (pp.KH, pp.KW), (pp.SH, pp.SW)
            mask = f"{C}'h{pp.and_mask:x}"
            head = f"{l.kind} {k[0]}x{k[1]}, stride {s[0]}x{s[1]} of {C}x{H}x{W} from ONNX node(s): {nodes}"
            w = self.wire(f"{name}_o", pp.pixel_bits, name)
            if pp.bits == 1 and k[0] == k[1] and s == k:
                pairs = [(True, (y % k[0] == k[0] - 1 and x % k[0] == k[0] - 1
                                 and y < OH * k[0] and x < OW * k[0]))
                         for y in range(H) for x in range(W)]
                self.stage(GStage(name, "binary_maxpool",
                                  [("C", str(C)), ("H", str(H)), ("W", str(W)), ("K", str(k[0])),
                                   ("Stride", str(s[0])), ("AndMask", mask)],
                                  [("in", t.wire, "in"), ("out", w, "out")], [head],
                                  _steps(pairs), 2, H * W))
            else:
                self.stage(GStage(name, "maxpool",
                                  [("C", str(C)), ("H", str(H)), ("W", str(W)), ("Bits", str(pp.bits)),
                                   ("Signed", f"1'b{int(pp.signed)}"),
                                   ("KH", str(k[0])), ("KW", str(k[1])),
                                   ("StrideH", str(s[0])), ("StrideW", str(s[1])),
                                   ("AndMask", mask)],
                                  [("in", t.wire, "in"), ("out", w, "out")], [head],
                                  [], 0, max(H * W, OH * OW),
                                  _window_nodes(name, t.wire, w, H, W, OH, OW, k[0], s[0], 0, 4)))
            return Tensor(w, True, C, t.bits, t.kind, t.signed, tuple(l.out_shape), OH * OW)
        if isinstance(l, BinaryDense):
            t = self.to_vector(self.take(self.ins[0]), name)
            self.check_input(l, t)
            return self.mvau(l, t, len(l.in_shape) == 3, 1)
        if isinstance(l, (AddJoin, ConcatJoin)):
            a, b = self.take(self.ins[0]), self.take(self.ins[1])
            if len(l.out_shape) == 3:
                a, b = self.to_pixels(a, name), self.to_pixels(b, name)
            elif a.pix or b.pix:
                raise UnsupportedModelError(f"layer '{name}': a join of pixel streams into a vector is not supported in RTL")
            jp = join_plan(l, (a.elems, b.elems), tuple(t.shape[1:] if t.pix else None for t in (a, b)))
            beats = jp.beats
            if jp.op == "add":
                lo, hi = jp.lo, jp.hi
                wo = jp.sum_bits
                w = self.wire(f"{name}_o", jp.elems * wo, name)
                self.stage(GStage(name, "stream_join_add",
                                  [("E", str(jp.elems)), ("WA", str(a.bits)), ("BitsA", f"1'b{int(a.kind == 'bits')}"),
                                   ("SignedA", f"1'b{int(a.signed)}"), ("WB", str(b.bits)),
                                   ("BitsB", f"1'b{int(b.kind == 'bits')}"), ("SignedB", f"1'b{int(b.signed)}"),
                                   ("WO", str(wo))],
                                  [("a", a.wire, "in"), ("b", b.wire, "in"), ("out", w, "out")],
                                  [f"add from ONNX node(s): {nodes}",
                                   f"{_stream_of(a)} + {_stream_of(b)} -> {wo}-bit signed sums ({lo}..{hi})"],
                                  [(beats, (0, 1), (0,))], 2, beats if a.pix else 0))
                return Tensor(w, a.pix, jp.elems, wo, "int", True, tuple(l.out_shape), beats)
            if a.kind != b.kind:
                raise UnsupportedModelError(f"layer '{name}': a concat of bits and integers is not supported in RTL")
            # the inputs as this backend's streams carry them, sign-extended to a common width
            if a.kind == "bits":
                wo, signed = 1, False
            else:
                signed = a.signed or b.signed
                wo = max(a.bits + (signed and not a.signed), b.bits + (signed and not b.signed))
            ea, eb = jp.in_elems
            w = self.wire(f"{name}_o", jp.elems * wo, name)
            self.stage(GStage(name, "stream_join_concat",
                              [("EA", str(ea)), ("WA", str(a.bits)), ("SignedA", f"1'b{int(a.signed and a.kind == 'int')}"),
                               ("EB", str(eb)), ("WB", str(b.bits)), ("SignedB", f"1'b{int(b.signed and b.kind == 'int')}"),
                               ("WO", str(wo))],
                              [("a", a.wire, "in"), ("b", b.wire, "in"), ("out", w, "out")],
                              [f"concat from ONNX node(s): {nodes}: {ea} + {eb} elements of {_stream_of(a)}"],
                              [(beats, (0, 1), (0,))], 2, beats if a.pix else 0))
            return Tensor(w, a.pix, jp.elems, wo, a.kind, signed, tuple(l.out_shape), beats)
        if isinstance(l, Threshold):
            t = self.take(self.ins[0])
            if len(l.out_shape) == 3:
                t = self.to_pixels(t, name)
            if t.kind != "int":
                raise UnsupportedModelError(f"layer '{name}': a threshold on bits is not supported in RTL")
            return self.threshold(l, t, nodes)
        raise UnsupportedModelError(f"layer '{name}' ({l.kind}) is not supported by the RTL backend")

    def threshold(self, l: Threshold, t: Tensor, nodes: str) -> Tensor:
        name = l.name
        C = int(l.out_shape[0])
        tp = threshold_plan(l, C, t.bits, t.signed)  # thresholds clamped to the input's range
        T, n, cmpw = tp.clamped_thresholds, tp.n_thr, tp.thr_bits
        mask = (1 << cmpw) - 1
        thr = neg = 0
        for e in range(t.elems):
            c = e % C
            if int(tp.directions[c]) < 0:
                neg |= 1 << e
            for i in range(n):
                thr |= (int(T[c, i]) & mask) << ((e * n + i) * cmpw)
        bits_out = tp.output == "bits"
        ob = tp.out_bits
        w = self.wire(f"{name}_o", t.elems * ob, name)
        self.stage(GStage(name, "threshold_unit",
                          [("E", str(t.elems)), ("InW", str(t.bits)),
                           ("InSigned", f"1'b{int(t.signed and t.kind == 'int')}"), ("NThr", str(n)), ("CmpW", str(cmpw)),
                           ("OutBits", str(ob)), ("OutOffset", str(tp.out_offset)),
                           ("Thr", f"{t.elems * n * cmpw}'h{thr:x}"), ("Neg", f"{t.elems}'h{neg:x}")],
                          [("in", t.wire, "in"), ("out", w, "out")],
                          [f"threshold from ONNX node(s): {nodes}: {n} threshold(s) per channel on "
                           f"{_stream_of(t)} -> {'bits' if bits_out else str(ob) + '-bit integers'}"],
                          [(t.beats, (0,), (0,))], 2, t.beats if t.pix else 0))
        kind = "bits" if bits_out else "int"
        return Tensor(w, t.pix, t.elems, ob, kind, tp.out_signed,
                      tuple(l.out_shape), t.beats)

    # ------------------------------------------------------------------ the whole graph
    def build(self, in_tensor: Tensor) -> GraphPlan:
        m = self.m
        cons = m.consumers()
        self.p.input_wire = in_tensor.wire
        self.p.wires[in_tensor.wire] = Wire(in_tensor.wire, in_tensor.width, "")
        self.publish(INPUT, in_tensor, len(cons[INPUT]))
        out = None
        for i, l in enumerate(m.layers):
            self.ins = m.inputs_of(i)
            t = self.layer(l)
            last = i == len(m.layers) - 1
            if last:
                out = t
            else:
                self.publish(l.name, t, len(cons[l.name]))
        if out.pix:
            raise UnsupportedModelError(f"layer '{m.layers[-1].name}': the network must end with a vector "
                                        "(a dense layer), not a pixel stream")
        self.p.output = out
        return self.p


def _copy(t: Tensor, wire: str) -> Tensor:
    return Tensor(wire, t.pix, t.elems, t.bits, t.kind, t.signed, t.shape, t.beats)


def input_tensor(model: Model, in_bits: int, in_signed: bool, binary: bool) -> Tensor:
    shape = tuple(model.input_shape)
    n = int(np.prod(shape))
    kind = "bits" if binary else "int"
    return Tensor("x_in", False, n, in_bits, kind, in_signed and not binary, shape, 1)


def plan_graph(model: Model, folding, rtl, in_tensor: Tensor, depths: dict | None = None) -> GraphPlan:
    """The stage graph and the FIFO depths (``depths``: wire -> depth, replacing the
    schedule's: tests of undersized FIFOs)."""
    p = _Builder(model, folding, rtl).build(in_tensor)
    nodes = []
    for st in p.stages:
        if st.nodes:
            nodes += st.nodes
            continue
        ins = [w for _, w, d in st.ports if d == "in"]
        outs = [w for _, w, d in st.ports if d == "out"]
        nodes.append(schedule.Node(st.name, ins, outs, st.program, st.latency))
    p.nodes = nodes
    sch = schedule.fifo_depths(nodes, p.input_wire, p.output.wire, min_depth=MIN_DEPTH)
    p.schedule = sch
    for name, w in p.wires.items():
        if name in sch.depths:
            w.depth = sch.depths[name]
            w.note = (f"depth {w.depth}: cycle schedule (fastinference/schedule.py) at {sch.interval} "
                      f"cycles per inference, largest occupancy {sch.occupancy[name]}")
    for name, d in (depths or {}).items():
        if name not in p.wires or name not in sch.depths:
            raise KeyError(f"no FIFO named {name!r}; FIFOs: {', '.join(sorted(sch.depths))}")
        p.wires[name].depth = int(d)
        p.wires[name].note = f"depth {int(d)}: set by hand (not the schedule's)"
    return p
