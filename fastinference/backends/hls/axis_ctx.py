"""The HLS core's AXI4-Stream ports (``fastinference.axis``): what the templates need to put an
unpack stage in front of the dataflow and a pack stage behind it.

The plan (``plan()``) connects the stages with ``in_port``/``out_port`` as if the top's ports
carried one input vector and one score vector per inference. ``apply`` renames those two
streams to internal ones (``AXIS_IN_VECTOR``, ``AXIS_OUT_VECTOR``: upper case, so no layer name
can collide) and adds two stages:

* ``AXIS_UNPACK``: ``in_beats`` beats of ``hls::axis<ap_uint<in_stream_bits>, 0, 0, 0>`` ->
  one input vector (value ``i`` at bits ``[i*B, i*B+B)``), through a shift register (constant
  shifts only: no mux); TLAST is not checked (the core counts beats);
* ``AXIS_PACK``: the score vector -> ``out_beats`` beats with TLAST on the last one, TKEEP and
  TSTRB all ones.

Scores travel as ``E``-bit lanes, ``E`` = the top's score width (32; 64 only when a score layer's
range needs it: ``StreamFormat.score_bits``).
"""
from __future__ import annotations

from ...axis import StreamFormat, stream_format

IN_VECTOR = "AXIS_IN_VECTOR"
OUT_VECTOR = "AXIS_OUT_VECTOR"
UNPACK = "AXIS_UNPACK"
PACK = "AXIS_PACK"

__all__ = ["apply", "IN_VECTOR", "OUT_VECTOR", "UNPACK", "PACK"]


def _rename(args: list[str], old: str, new: str) -> list[str]:
    return [new if a == old else a for a in args]


def apply(p, fmt: StreamFormat | None, in_port: str, out_port: str, calls: list[dict],
          streams: list[dict]) -> dict:
    """Rewire ``calls``/``streams`` (the top's function calls and local streams, changed in
    place) through the unpack and pack stages; returns the ``axis`` context of the templates."""
    if fmt is None:
        fmt = stream_format(p.in_values, p.in_bits, p.in_signed, p.out_values, score_bits=p.out_bits)
    if (fmt.in_elems, fmt.in_bits, fmt.classes, fmt.score_bits) != (p.in_values, p.in_bits, p.out_values,
                                                                    p.out_bits):
        raise ValueError(
            f"stream format for {fmt.in_elems} values of {fmt.in_bits} bits and {fmt.classes} "
            f"classes of {fmt.score_bits} bits, but the model takes {p.in_values} values of "
            f"{p.in_bits} bits and gives {p.out_values} scores of {p.out_bits} bits")
    lane = int(p.out_bits)
    in_total = p.in_values * p.in_bits
    out_total = p.out_values * lane
    chunk = fmt.per_beat * fmt.in_bits
    sr_w = fmt.in_beats * chunk
    out_stream_bits = out_total if fmt.out_mode == "vector" else lane
    for c in calls:
        c["args"] = _rename(_rename(c["args"], in_port, IN_VECTOR), out_port, OUT_VECTOR)
    calls.insert(0, {"fn": UNPACK, "args": [in_port, IN_VECTOR]})
    calls.append({"fn": PACK, "args": [OUT_VECTOR, out_port]})
    streams.insert(0, {"name": IN_VECTOR, "width": in_total, "depth": 2,
                       "note": f"depth 2: the input vector {UNPACK} assembles from "
                               f"{fmt.in_beats} beat(s) of {in_port}"})
    streams.append({"name": OUT_VECTOR, "width": out_total, "depth": 2,
                     "note": f"depth 2: the scores {PACK} sends as {fmt.out_beats} beat(s) "
                             f"of {out_port}"})
    widest = max(fmt.in_stream_bits, sr_w, out_stream_bits)
    return {
        "in_stream_bits": fmt.in_stream_bits, "per_beat": fmt.per_beat,
        "in_beats": fmt.in_beats, "chunk": chunk, "sr_w": sr_w, "in_total": in_total,
        "out_mode": fmt.out_mode, "lane": lane, "out_stream_bits": out_stream_bits,
        "out_beats": fmt.out_beats, "out_total": out_total,
        "in_vector": IN_VECTOR, "out_vector": OUT_VECTOR, "unpack": UNPACK, "pack": PACK,
        "ap_max": 0 if widest <= 1024 else -(-widest // 1024) * 1024,
    }
