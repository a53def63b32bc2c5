"""RTL backend: a lowered model (BNN or QNN, chain or graph) to SystemVerilog (``DIR/rtl``).

The generated top chains one hand-written ``mvau`` (matrix-vector-activation unit: any mix
of +-1 / W-bit weights on bits / integers, with binary, multi-threshold or score outputs) per
compute layer with ``stream_fifo`` s between them, behind an AXI4-Stream slave (one beat = one input
vector) and master (one beat = all class scores). Weights and thresholds go to
``$readmemh`` files next to the top (relative names: run simulators and Yosys from the
folder). The writer also copies the hand-written modules, the cocotb testbench and writes
``filelist.f``, ``Makefile`` (``make sim SIM=verilator|icarus``) and ``tb_config.json``.

The code: ``mvau.py`` (each compute layer's mvau, formatted from its ``hwplan.MvauPlan``, the
plan the HLS backend renders too), ``graph.py`` (the stage graph and FIFO depths),
``writer.py`` (the checks, the top and the project files); this package re-exports them.

Everything written is a pure function of (model, folding, top, part, clock_ns): no time
stamps, no absolute paths, so the output is byte-identical across runs.
"""
from .mvau import (acc_bound, acc_width, _check_score_range, column_perm, hardware_weights,
                   _mvau_info, MVAU_FILES, mvau_latency, mvau_mode, _mvau_stage, _plan, plan_thresh_words,
                   plan_weight_words, ready_copies, REG_EVERY, RTL_MODE, RtlLayer, s_affine, s_range,
                   SCORE_BITS, _signed_width, Stage, thresh_words, tree_regs, weight_rom_latency,
                   weight_words, wval_params)
from .writer import (check_supported, _env, _graph_input, _hex_lines, multibit_reason, SIM_DIR,
                     TB_FILES, TEMPLATES, _write, _write_project_files, write_rtl, write_rtl_graph)

__all__ = ["acc_bound", "acc_width", "_check_score_range", "column_perm", "hardware_weights",
           "_mvau_info", "MVAU_FILES", "mvau_latency", "mvau_mode", "_mvau_stage", "_plan", "plan_thresh_words",
           "plan_weight_words", "ready_copies", "REG_EVERY", "RTL_MODE", "RtlLayer", "s_affine", "s_range",
           "SCORE_BITS", "_signed_width", "Stage", "thresh_words", "tree_regs", "weight_rom_latency", "weight_words", "wval_params",
           "check_supported", "_env", "_graph_input", "_hex_lines", "multibit_reason", "SIM_DIR",
           "TB_FILES", "TEMPLATES", "_write", "_write_project_files", "write_rtl",
           "write_rtl_graph"]
