"""The HLS backend: a lowered model -> a Vitis HLS C++ project (``DIR/hls``).

``write_hls(model, folding, out_dir, top, part, clock_ns)`` fills ``out_dir`` with:

* ``<top>.h`` / ``<top>.cpp``: the DATAFLOW top with AXI4-Stream ports (``hls::axis`` with
  TLAST, the format of ``fastinference.axis``; ``axis_ctx.py``) and no block control
  (ap_ctrl_none); one function per layer connected by ``hls::stream``;
* ``fi_axis.h``: a minimal ``hls::axis`` for C simulation without ``ap_axi_sdata.h``;
* ``weights.h``: the packed weights, thresholds, directions and biases;
* ``fi_stream.h``: our FIFO with the ``hls::stream`` API, used by C simulation when the
  Xilinx header is not available;
* ``tb.cpp``, ``Makefile`` (``make csim``) and ``run_hls.tcl`` (Vitis HLS).

Streams. The top input carries one beat per inference: the ``F`` inputs of ``B`` bits, value
``i`` at bits ``[i*B, i*B+B)`` in ONNX flatten order. The output carries one beat per
inference: the scores as ``E``-bit two's complement (``E`` = 32, or 64 when 32 does not hold
the score range), score ``j`` at bits ``[j*E, j*E+E)``. Inside, a dense layer takes and gives
one vector per inference; convolutions and pools take and give one pixel (all channels) per
beat in raster order. A dense layer after a conv/pool gets the pixels gathered in (H, W, C)
order, so its weight columns are permuted from ONNX's (C, H, W) order. Every value inside is
a ``B``-bit integer, two's complement if signed (a 1-bit unsigned value doubles as a +-1 bit,
1 = +1): a compute layer's multi-threshold output packs ``out_bits`` per value and the next
layer must take exactly that format (checked).

Compute layers (MVAU, ``mvtu.cpp.j2``): W-bit weights (1: +-1) times A-bit inputs (or +-1
bits), folded by PE and SIMD, one flat ``PIPELINE II=1`` loop; the accumulator is as wide as
the exact reachable range (``acc_range()``), thresholds one bit wider where clamping needs it.

Graphs (skip connections): a tensor read by several layers goes through a fork stage (one
stream in, one per reader out, ``fork.cpp.j2``); ``AddJoin``/``ConcatJoin`` are join stages
(``join.cpp.j2``), ``Threshold`` the activation alone (``threshold.cpp.j2``); a score layer
feeding a join emits its scores as the narrowest two's complement of their range. In a graph
every stream's depth comes from the cycle schedule of the stages (``schedule.fifo_depths`` on
the loop structure of each template, ``_program``), written as the STREAM pragma's depth with
a comment, and passed to ``fi_stream.h`` (``FI_STREAM_DEPTH``) for the dataflow C simulation
(``-DFI_CSIM_DATAFLOW``); a chain keeps depth 2.

All C++ lives in the Jinja templates in ``hls_templates/``. ``stages.py`` decides what goes in
their holes (``plan``: the stages and streams; a compute layer formats its ``hwplan.MvauPlan``,
the plan both backends share), ``writer.py`` renders and writes the files (``render``,
``write_hls``); this package only re-exports them. The output depends only on the arguments
(byte-identical across runs).
"""
from .stages import Plan, Stage, plan
from .writer import (CXXFLAGS, DEFAULT_CLOCK_NS, DEFAULT_PART, MAX_AP_WIDTH,
                     STATIC_FILES, TEMPLATE_DIR, render, write_hls)

__all__ = ["write_hls", "render", "plan", "Plan", "Stage", "TEMPLATE_DIR", "CXXFLAGS",
           "DEFAULT_PART", "DEFAULT_CLOCK_NS", "MAX_AP_WIDTH", "STATIC_FILES"]
