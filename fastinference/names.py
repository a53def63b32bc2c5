"""The one sanitizer for everything from the ONNX file that reaches generated code.

``safe_identifier`` gives a name legal in C++, SystemVerilog, Tcl and XDC, not a keyword of
any of them, unique within ``used``. ``safe_comment`` makes text safe inside a ``//`` or
``/* */`` comment and a Tcl ``#`` comment or double-quoted string.
"""
from __future__ import annotations

import re

_KEYWORDS = frozenset("""
alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t
char32_t class compl concept const consteval constexpr constinit const_cast continue co_await
co_return co_yield decltype default delete do double dynamic_cast else enum explicit export
extern false float for friend goto if inline int long mutable namespace new noexcept not not_eq
nullptr operator or or_eq private protected public register reinterpret_cast requires return
short signed sizeof static static_assert static_cast struct switch template this thread_local
throw true try typedef typeid typename union unsigned using virtual void volatile wchar_t while
xor xor_eq main
accept_on alias always always_comb always_ff always_latch assert assign assume automatic before
begin bind bins binsof bit buf bufif0 bufif1 byte casex casez cell chandle checker clocking cmos
config constraint context cover covergroup coverpoint cross deassign defparam design disable dist
edge end endcase endchecker endclass endclocking endconfig endfunction endgenerate endgroup
endinterface endmodule endpackage endprimitive endprogram endproperty endspecify endsequence
endtable endtask event eventually expect extends final first_match force foreach forever fork
forkjoin function generate genvar global highz0 highz1 iff ifnone ignore_bins illegal_bins
implements implies import incdir include initial inout input instance integer interconnect
interface intersect join join_any join_none large let liblist library local localparam logic
longint macromodule matches medium modport module nand negedge nettype nexttime nmos nor
noshowcancelled notif0 notif1 null output package packed parameter pmos posedge primitive
priority program property pulldown pullup pulsestyle_ondetect pulsestyle_onevent pure rand randc
randcase randsequence rcmos real realtime ref reg reject_on release repeat restrict rnmos rpmos
rtran rtranif0 rtranif1 s_always s_eventually s_nexttime s_until s_until_with scalared sequence
shortint shortreal showcancelled small soft solve specify specparam string strong strong0
strong1 sub supply0 supply1 sync_accept_on sync_reject_on table tagged task throughout time
timeprecision timeunit tran tranif0 tranif1 tri tri0 tri1 triand trior trireg type unique unique0
until until_with untyped use uwire var vectored virtual wait wait_order wand weak weak0 weak1
wildcard wire with within wor xnor
after append array binary break catch cd close concat continue dict else elseif eof error eval
exec exit expr file for foreach format gets glob global if incr info interp join lappend lindex
list llength load lrange lreplace lsearch lset lsort namespace open package proc puts pwd read
regexp regsub rename return scan seek set socket source split string subst switch tell time
trace unset update uplevel upvar variable vwait while
clk rst top
errno assert stdin stdout stderr offsetof setjmp va_arg va_start va_end isnan isinf signbit
fpclassify isfinite unix linux i386 x86_64
""".split())


def safe_identifier(raw: str, used: set[str] | None = None, prefix: str = "n") -> str:
    """Map any string to ``[a-z][a-z0-9_]*`` (lower case, no double or trailing underscore),
    not a keyword, unique within ``used`` (which it updates)."""
    name = re.sub(r"[^0-9a-zA-Z]+", "_", str(raw)).strip("_").lower()
    name = re.sub(r"_+", "_", name)
    if not name or not name[0].isalpha():
        name = f"{prefix}_{name}" if name else prefix
    if name in _KEYWORDS or name.startswith(("ap_", "xil_", "hls_")):
        name = f"{prefix}_{name}"
    name = name[:48].rstrip("_")
    if used is not None:
        base, i = name, 1
        while name in used:
            i += 1
            name = f"{base}_{i}"
        used.add(name)
    return name


# Names the generated projects give their own files and modules: a top called like one of
# them would overwrite it (tb.cpp, weights.h, mvtu.sv, ...).
RESERVED_TOP_NAMES = frozenset("""
tb weights fi_stream run_hls package_ip filelist fi_tb fi_runner x_in y_out
adder_tree binary_maxpool delay_line flop_copies maxpool mvau mvau_act mvau_pmquad mvau_pmsel mvau_popcount mvau_tree mvau_xnsel mvau_xnsub mvtu pixel_collector pixel_serializer sliding_window stream_fifo
stream_fork stream_join_add stream_join_concat threshold_unit axis_unpack axis_serialize weight_rom
""".split())  # tests/test_top_name.py checks that every rtl_templates/*.sv module is listed


def unique_top(raw: str, taken: set[str]) -> str:
    """A top name from ``raw`` (the model's file name): ``safe_identifier(raw)`` unless that is
    in ``taken`` (the layer names) or reserved, then with ``_top``, then ``_top_2``, ..."""
    avoid = set(taken) | RESERVED_TOP_NAMES
    name = safe_identifier(raw, prefix="net")
    if name not in avoid:
        return name
    base, i = name[:40].rstrip("_") + "_top", 1
    cand = base
    while cand in avoid or cand in _KEYWORDS:
        i += 1
        cand = f"{base}_{i}"
    return cand


def safe_comment(text: str, limit: int = 120) -> str:
    """Printable ASCII only, no comment terminators, brackets, quotes, dollars or backslashes."""
    text = "".join(c if 32 <= ord(c) < 127 else "?" for c in str(text))
    for bad in ("*/", "/*", "//"):
        text = text.replace(bad, "_")
    text = re.sub(r"[\[\]{}$\"\\;]", "_", text)
    return text[:limit]
