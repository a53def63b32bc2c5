"""RTL backend, the mvau: one compute layer as an instance of ``rtl_templates/mvau.sv``.

Everything about the layer comes from its ``hwplan.MvauPlan`` (the plan the HLS backend renders
too); this module formats it for the mvau: the instance's parameters and comments
(``_mvau_info``, ``_mvau_stage``), the ROM words of the weights (``plan_weight_words``: one word
of PE*SIMD lanes per (nf, sf) step) and of the thresholds in the mvau's S domain
(``plan_thresh_words``), the element order the hardware feeds (``column_perm``: windows in
(kh, kw, c) order, a pixel-fed dense layer in (h, w, c) order), and the mvau's timing
(``tree_regs``, ``mvau_latency``). ``weight_words`` / ``thresh_words`` / ``acc_width`` take a
layer (unit tests of the mvau alone).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...errors import UnsupportedModelError
from ...folding import LayerFold, layer_bound
from ...hwplan import MvauPlan, hwc_perm, mvau_plan, window_perm
from ...ir import BinaryConv, BinaryLayer, signed_bits
from ...names import safe_comment

_signed_width = signed_bits  # graph.py calls it through this module

SCORE_BITS = 32

#: the hand-written files (rtl_templates/) one mvau instance needs, leaves first
MVAU_FILES = ("delay_line.sv", "flop_copies.sv", "mvau_tree.sv", "mvau_popcount.sv", "mvau_act.sv", "weight_rom.sv",
              "mvau_xnsel.sv", "mvau_xnsub.sv", "mvau_pmsel.sv", "mvau_pmquad.sv", "mvau.sv")


#: adder levels between registers in the mvau's tree (mvau_tree RegEvery)
REG_EVERY = 2

#: mvau stall copies per copy of out_ready_i (mvau ReadyN): each ready copy drives about twice
#: this many LUTs (a copy's next stall and its out_valid copy), all placed near one another
READY_GROUP = 8


@dataclass
class RtlLayer:
    """What the top template needs about one layer (all plain values)."""

    name: str
    kind: str
    nodes: str
    K: int
    M: int
    PE: int
    SIMD: int
    bound: int
    w_bits: int
    bin_in: bool
    in_bits: int
    in_signed: bool
    scores: bool
    n_thr: int
    out_bits: int
    out_offset: int
    out_signed: bool
    acc_width: int
    latency: int
    latency_ecp5: int  # of the ECP5 timing flow's RTL (-DFI_ECP5, see tree_regs)
    ready_n: int  # copies of out_ready_i (mvau ReadyN, the output FIFO's ReadyN)
    weight_file: str
    thresh_file: str
    input_desc: str
    plan: MvauPlan | None = field(default=None, repr=False)  # the layer's hardware plan

    @property
    def in_width(self) -> int:
        return self.K * self.in_bits

    @property
    def elem_bits(self) -> int:
        return SCORE_BITS if self.scores else self.out_bits

    @property
    def out_width(self) -> int:
        return self.M * self.elem_bits


#: the plan's datapath names (hwplan.DATAPATHS) as mvau.sv calls them
RTL_MODE = {"xnor": "xnor", "pm_x": "pm1_int", "w_pm": "w_bin", "mul": "w_int"}


def _plan(layer: BinaryLayer, pe: int = 1, simd: int = 1) -> MvauPlan:
    """The layer's hardware plan, its columns in the order given (folded by pe, simd)."""
    return mvau_plan(layer, LayerFold(pe, simd))


def mvau_mode(layer: BinaryLayer) -> str:
    """Which sum the mvau accumulates (see rtl_templates/mvau.sv): ``xnor`` (+-1 x bits),
    ``pm1_int`` (+-1 x integers), ``w_bin`` (W-bit x bits), ``w_int`` (W-bit x integers)."""
    if layer.weight_bits == 1:
        return "xnor" if layer.input_kind == "binary" else "pm1_int"
    return "w_bin" if layer.input_kind == "binary" else "w_int"


def s_affine(layer: BinaryLayer) -> tuple[int, np.ndarray]:
    """(a, c): acc_j = a * S_j + c_j, S the sum the mvau accumulates (``MvauPlan.s_affine``)."""
    return _plan(layer).s_affine


def s_range(layer: BinaryLayer) -> tuple[int, int]:
    """Smallest and largest S over every input (``MvauPlan.s_range``)."""
    return _plan(layer).s_range


def acc_bound(layer: BinaryLayer) -> int:
    """Largest |acc| any input can reach (symmetric bound for the 32-bit score check)."""
    lo, hi = layer.acc_range()
    return max(abs(lo), abs(hi))


def acc_width(layer: BinaryLayer) -> int:
    """The mvau's accumulator width: every S and the clamped thresholds S_lo-1 .. S_hi+1."""
    return _plan(layer).s_acc_bits


def tree_regs(layer: BinaryLayer, simd: int, rom_lut: bool = False, steps: int = 2) -> int:
    """Registers of the mvau's adder tree. ``rom_lut``: the ECP5 flow's RTL (``-DFI_ECP5``,
    mvau WRomLut), where a +-1 x integers tree of 5+ levels through the weight ROM (PairQ,
    ``steps`` >= 2) registers every level from level 4 on (mvau.sv ``PairQTop``)."""
    mode = mvau_mode(layer)
    # XNOR bits 3:2 compressed; W-bit x integers: one partial product per weight bit and lane
    terms = (math.ceil(simd / 3) if mode == "xnor" else
             simd * layer.weight_bits if mode == "w_int" else simd)
    levels = (max(terms, 1) - 1).bit_length()
    if rom_lut and mode == "pm1_int" and steps >= 2 and REG_EVERY == 2 and levels >= 5:
        return levels - 2
    if mode == "w_int" and levels > 0:  # the partial products' pair sums are registered
        return 1 + (levels - 1) // REG_EVERY
    return levels // REG_EVERY


def weight_rom_latency(steps: int) -> int:
    """Read latency of rtl_templates/weight_rom.sv for ``steps`` words, the same in both of its
    styles: 3 cycles up to 1,024 words (an address register, flop to flop from the step counter,
    then the read), one more per further factor of 16."""
    addr_w = max((steps - 1).bit_length(), 1)
    return 3 + (addr_w - 7) // 4 if addr_w > 10 else 3


def mvau_latency(layer: BinaryLayer, pe: int, simd: int, rom_lut: bool = False) -> int:
    """Cycles from an input handshake to the output handshake of an idle mvau (``rom_lut``: of
    the ECP5 flow's RTL, see :func:`tree_regs`)."""
    steps = math.ceil(layer.K / simd) * math.ceil(layer.M / pe)
    # + 1 when steps > 1: the output buffer holds a vector a cycle before the output register
    return (steps + 4 + (steps > 1) + weight_rom_latency(steps)
            + tree_regs(layer, simd, rom_lut, steps)
            + act_regs(layer))


def ready_copies(pe: int, simd: int, in_bits: int) -> int:
    """Copies of the out_ready_i the mvau reads (its ReadyN; the output FIFO's ReadyN): one per
    READY_GROUP of its stall copies (mvau.sv EnN = 4 + PE + one per 32 bits of input slice)."""
    en_n = 4 + pe + math.ceil(simd * in_bits / 32)
    return math.ceil(en_n / READY_GROUP)


def act_regs(layer: BinaryLayer) -> int:
    """Registers of mvau_act's threshold count: more than 7 thresholds are counted by a tree
    registered every 2 levels (mvau.sv ActRegs)."""
    n = _plan(layer).n_thr
    return (n - 1).bit_length() // 2 if n > 7 else 0


def weight_words(layer: BinaryLayer, pe: int, simd: int) -> list[int]:
    """The ROM words of a layer whose weight columns are already in hardware order."""
    return plan_weight_words(_plan(layer, pe, simd))


def plan_weight_words(p: MvauPlan) -> list[int]:
    """ROM words: address nf*SF+sf, lane p*SIMD+s at [(p*SIMD+s)*WBits +: WBits] = weight of
    channel nf*PE+p for input sf*SIMD+s (1 bit: 1 = +1; else two's complement). Pad lanes
    contribute 0: weight 0, or +1 (on a zero input) for +-1 weights on integers (``s_pad``)."""
    pe, simd, wb = p.PE, p.SIMD, p.weight_bits
    w = p.lanes(p.s_pad)
    words = []
    for nf in range(p.NF):
        for sf in range(p.SF):
            block = w[nf * pe:(nf + 1) * pe, sf * simd:(sf + 1) * simd].reshape(-1)  # p*SIMD+s
            word = 0
            for i, v in enumerate(block.tolist()):
                word |= int(v) << (i * wb)
            words.append(word)
    return words


def thresh_words(layer: BinaryLayer, pe: int, accw: int) -> tuple[list[int], int]:
    """The threshold ROM of a layer folded by ``pe`` (``plan_thresh_words``)."""
    return plan_thresh_words(_plan(layer, pe), accw)


def plan_thresh_words(p: MvauPlan, accw: int) -> tuple[list[int], int]:
    """ROM words of NF entries, lane p at [p*LaneW +: LaneW]. Thresholds: {neg, U[N-1..0]} in
    the S domain (``MvauPlan.s_thresholds``: acc = a*S + c, ">= T" becomes S >= ceil((T-c)/a),
    "<= T" becomes ~S >= ~floor((T-c)/a), clamped to S_lo-1 .. S_hi+1). Scores: the 32-bit
    bias + c (score = a*S + bias + c)."""
    M, pe = p.M, p.PE
    if p.scores:
        lane_w = SCORE_BITS
        vals = [v & ((1 << lane_w) - 1) for v in p.s_bias()]
    else:
        n = p.n_thr
        lane_w = 1 + n * accw
        mask = (1 << accw) - 1
        vals = []
        for neg, us in p.s_thresholds():
            v = int(neg) << (n * accw)
            for i, u in enumerate(us):
                v |= (u & mask) << (i * accw)
            vals.append(v)
    vals += [0] * (p.NF * pe - M)
    words = []
    for nf in range(p.NF):
        word = 0
        for q in range(pe):
            word |= vals[nf * pe + q] << (q * lane_w)
        words.append(word)
    return words, pe * lane_w


def _check_score_range(layer: BinaryLayer) -> None:
    bias = layer.bias if layer.bias is not None else np.zeros(layer.M, dtype=np.int64)
    if acc_bound(layer) + int(np.abs(bias).max(initial=0)) > (1 << (SCORE_BITS - 1)) - 1:
        raise UnsupportedModelError(
            f"layer '{layer.name}': scores can exceed 32-bit two's complement")


def column_perm(layer: BinaryLayer, pixel_input: bool) -> np.ndarray | None:
    """The element order the hardware feeds the layer (``hwplan``): a conv sees windows in
    (kh, kw, c) order (sliding_window); a dense layer fed by a pixel stream sees its input in
    (h, w, c) order (pixel_collector) instead of ONNX's (c, h, w). None: ONNX order."""
    if isinstance(layer, BinaryConv):
        C, kh, kw = (int(v) for v in layer.weights.shape[1:])
        return window_perm(C, kh, kw)
    if pixel_input and len(layer.in_shape) == 3:
        return hwc_perm(*(int(v) for v in layer.in_shape))
    return None


def hardware_weights(layer: BinaryLayer, pixel_input: bool) -> np.ndarray:
    """(M, K) weights in the element order the hardware feeds the layer (``column_perm``)."""
    return mvau_plan(layer, LayerFold(1, 1), column_perm(layer, pixel_input)).weights


def _mvau_info(l: BinaryLayer, f: LayerFold, pixel_input: bool = False) -> RtlLayer:
    """What the top needs about one mvau, formatted from the layer's plan (its columns in
    the order of ``column_perm``)."""
    p = mvau_plan(l, f, column_perm(l, pixel_input))
    bin_in, in_bits, in_signed = p.binary_in, p.in_bits, p.in_signed
    kind = p.output
    desc = (f"{'+-1' if p.weight_bits == 1 else str(p.weight_bits) + '-bit'} weights on "
            + ("bits" if bin_in else f"{in_bits}-bit {'signed' if in_signed else 'unsigned'} integers")
            + f" ({RTL_MODE[p.datapath]})")
    return RtlLayer(
        name=l.name, kind=p.kind, nodes=safe_comment(", ".join(p.source_nodes) or "(none)"),
        K=p.K, M=p.M, PE=p.PE, SIMD=p.SIMD, bound=layer_bound(l, f.pe, f.simd),
        w_bits=p.weight_bits, bin_in=bin_in, in_bits=in_bits, in_signed=in_signed,
        scores=p.scores, n_thr=p.n_thr,
        out_bits=p.out_bits if kind == "int" else 1,
        out_offset=p.out_offset if kind == "int" else 0,
        out_signed=p.out_signed if kind == "int" else False,
        acc_width=p.s_acc_bits, latency=mvau_latency(l, f.pe, f.simd),
        latency_ecp5=mvau_latency(l, f.pe, f.simd, rom_lut=True),
        ready_n=ready_copies(p.PE, p.SIMD, in_bits),
        weight_file=f"{l.name}_w.mem", thresh_file=f"{l.name}_t.mem", input_desc=desc, plan=p)


@dataclass
class Stage:
    """One block of the generated top: a module instance with valid/ready on both sides."""

    name: str
    module: str
    params: list[tuple[str, str]]
    in_width: int
    out_width: int
    comments: list[str]
    image_cycles: int = 0  # cycles per image of a pixel-stream block (0: vector block)


def wval_params(p: MvauPlan) -> list[tuple[str, str]]:
    """A one-step (fully parallel) XNOR layer's weight word as mvau parameters too (``WValOn``,
    ``WVal``: each channel's popcount is sized at elaboration, mvau.sv ``XnSub``); else none."""
    if not (p.weight_bits == 1 and p.binary_in and p.SF * p.NF == 1):
        return []
    return [("WValOn", "1'b1"), ("WVal", f"{p.PE * p.SIMD}'h{plan_weight_words(p)[0]:x}")]


def _mvau_stage(r: RtlLayer) -> Stage:
    if r.scores:
        out_desc = "32-bit scores"
    elif r.n_thr == 1 and r.out_bits == 1:
        out_desc = "bits"
    else:
        out_desc = (f"{r.out_bits}-bit {'signed' if r.out_signed else 'unsigned'} integers "
                    f"({r.n_thr} thresholds, offset {r.out_offset})")
    return Stage(
        name=r.name, module="mvau",
        params=[("K", str(r.K)), ("M", str(r.M)), ("PE", str(r.PE)), ("SIMD", str(r.SIMD)),
                ("WBits", str(r.w_bits)), ("BinIn", f"1'b{int(r.bin_in)}"),
                ("InBits", str(r.in_bits)), ("InSigned", f"1'b{int(r.in_signed)}"),
                ("Scores", f"1'b{int(r.scores)}"), ("NThr", str(max(r.n_thr, 1))),
                ("OutBits", str(r.out_bits)), ("OutOffset", str(r.out_offset)),
                ("AccW", str(r.acc_width)), ("RegEvery", str(REG_EVERY)),
                ("ReadyN", str(r.ready_n)),
                ("WeightFile", f'"{r.weight_file}"'), ("ThreshFile", f'"{r.thresh_file}"'),
                *(wval_params(r.plan) if r.plan is not None else [])],
        in_width=r.in_width, out_width=r.out_width,
        comments=[f"{r.kind} from ONNX node(s): {r.nodes}",
                  f"K={r.K} M={r.M} PE={r.PE} SIMD={r.SIMD} bound={r.bound} cycles/inference, "
                  f"latency {r.latency} cycles" + (f" ({r.latency_ecp5} in the ECP5 timing flow)"
                                                   if r.latency_ecp5 != r.latency else ""),
                  f"input: {r.input_desc}; output: {out_desc}"])
