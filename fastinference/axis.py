"""How inferences cross a core's AXI4-Stream ports: one format, shared by the HLS and the RTL
core so that they are interchangeable in a Vivado block design (AXI DMA on both sides).

Input: the network input of one inference, in ONNX flatten order (NCHW for an image), as
``in_elems`` values of ``in_bits`` bits (two's complement when signed), packed LSB-first,
``per_beat`` values per beat of ``in_stream_bits`` (a multiple of 8) bits: value ``i`` of the
inference travels in beat ``i // per_beat`` at bits ``[(i % per_beat) * in_bits +: in_bits]``.
A value never straddles two beats; the unused high bits of a beat, and of the last beat, are
zero (ignored by the core). TLAST marks the last beat of an inference.

Output: ``vector`` (default), one beat per inference holding every class score as 32-bit two's
complement, class 0 in the LSBs; or ``serial``, one 32-bit beat per class, class 0 first. (A
network whose score range needs more than 32 bits has 64-bit scores: HLS core only.)
TLAST marks the last beat of an inference (every beat in ``vector`` mode).

``in_stream_bits`` = None (the default) takes the whole input in one beat, rounded up to a
multiple of 8 bits: the widest and fastest form, as before. A narrower stream (8, 16, 32, 64,
... bits, what a DMA or a camera gives) needs ``in_beats`` cycles per inference at the input:
the pipeline's cycles per inference are then max(folding bound, in_beats, out_beats).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import BadOptionError

SCORE_BITS = 32
OUT_MODES = ("vector", "serial")


@dataclass(frozen=True)
class StreamFormat:
    in_elems: int
    in_bits: int
    in_signed: bool
    in_stream_bits: int
    classes: int
    out_mode: str = "vector"
    score_bits: int = SCORE_BITS  # 64 only where a score range needs it (HLS core)

    @property
    def per_beat(self) -> int:
        return min(self.in_elems, self.in_stream_bits // self.in_bits)

    @property
    def in_beats(self) -> int:
        return math.ceil(self.in_elems / self.per_beat)

    @property
    def out_stream_bits(self) -> int:
        return self.score_bits * (self.classes if self.out_mode == "vector" else 1)

    @property
    def out_beats(self) -> int:
        return 1 if self.out_mode == "vector" else self.classes

    @property
    def stream_cycles(self) -> int:
        """Cycles per inference the ports alone need (one beat a cycle)."""
        return max(self.in_beats, self.out_beats)

    def as_dict(self) -> dict:
        return {"in_stream_bits": self.in_stream_bits, "in_values_per_beat": self.per_beat,
                "in_beats": self.in_beats, "out_mode": self.out_mode,
                "out_stream_bits": self.out_stream_bits, "out_beats": self.out_beats,
                "score_bits": self.score_bits}


def stream_format(in_elems: int, in_bits: int, in_signed: bool, classes: int,
                  in_stream_bits: int | None = None, out_mode: str = "vector",
                  score_bits: int = SCORE_BITS) -> StreamFormat:
    """The port format, or exit 2 naming the option."""
    if out_mode not in OUT_MODES:
        raise BadOptionError(f"--out-stream {out_mode!r}: choose one of {', '.join(OUT_MODES)}")
    whole = 8 * math.ceil(in_elems * in_bits / 8)
    if in_stream_bits is None:
        in_stream_bits = whole
    elif (isinstance(in_stream_bits, bool) or not isinstance(in_stream_bits, int)
          or in_stream_bits % 8 or not in_bits <= in_stream_bits <= max(whole, 4096)):
        raise BadOptionError(
            f"--in-stream-bits {in_stream_bits!r}: give a multiple of 8 (8, 16, 32, 64, ...) at "
            f"least one {in_bits}-bit input value wide and at most {max(whole, 4096)}")
    return StreamFormat(int(in_elems), int(in_bits), bool(in_signed), int(in_stream_bits),
                        int(classes), out_mode, int(score_bits))
