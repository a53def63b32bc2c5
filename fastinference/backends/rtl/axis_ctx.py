"""The AXI4-Stream port format of the RTL top (fastinference/axis.py): template context,
tb_config entries and the extra hand-written modules it needs."""
from __future__ import annotations

from ...axis import StreamFormat, stream_format
from ...errors import BadOptionError


def resolve(stream: StreamFormat | None, in_elems: int, in_bits: int, in_signed: bool,
            classes: int) -> StreamFormat:
    """``stream`` checked against what the hardware takes, or the default format."""
    if stream is None:
        return stream_format(in_elems, in_bits, in_signed, classes)
    if (stream.in_elems, stream.in_bits, bool(stream.in_signed), stream.classes) != (
            in_elems, in_bits, bool(in_signed), classes):
        raise BadOptionError(
            f"stream format for {stream.in_elems} x {stream.in_bits}-bit inputs and {stream.classes} "
            f"classes, but the RTL top takes {in_elems} x {in_bits}-bit inputs and gives {classes} scores")
    return stream


def context(fmt: StreamFormat) -> dict:
    """Template variables of top_graph.sv.j2."""
    return {"in_stream_bits": fmt.in_stream_bits, "per_beat": fmt.per_beat, "in_beats": fmt.in_beats,
            "out_mode": fmt.out_mode, "out_stream_bits": fmt.out_stream_bits,
            "out_beats": fmt.out_beats, "port_cycles": fmt.stream_cycles}


def modules(fmt: StreamFormat) -> set[str]:
    """Hand-written modules the top instantiates for the ports."""
    used = set()
    if fmt.in_beats > 1:
        used.add("axis_unpack")
    if fmt.out_mode == "serial":
        used.add("axis_serialize")
    return used


def config(fmt: StreamFormat) -> dict:
    """tb_config.json entries: the format (``stream``), as report.json has it."""
    return {"stream": fmt.as_dict()}
