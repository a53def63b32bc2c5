"""AXI4-Stream ports as IP integrators expect (fastinference/axis.py): ``compile
--in-stream-bits B --out-stream vector|serial`` on a tiny MLP and a tiny CNN, simulated in
Icarus (and Verilator) exactly, at max(bound, pixel-stream cycles, input beats, output beats)
cycles per inference; the testbench's AXI4-Stream checker fails on a master that breaks the
rules; a bad width is one ``error:`` line, exit 2, nothing written."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from fastinference.axis import stream_format
from fastinference.backends.rtl import SIM_DIR
from fastinference.cli import main
from fastinference.project import load_project_network
from fastinference.testing.fuzz import _seed_cnn_poolfirst, _seed_mlp
from fastinference.testing.rtl_helpers import tool_env
from fastinference.verify.rtl_sim import run_sim

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("axis_models")
    rng = np.random.default_rng(0)
    mlp, cnn = d / "mlp.onnx", d / "cnn.onnx"
    onnx.save(_seed_mlp(rng), mlp)  # 12 inputs -> 9 -> 7 -> 4 classes
    onnx.save(_seed_cnn_poolfirst(rng), cnn)  # 2x4x4 image (NCHW order matters) -> 4 classes
    return {"mlp": mlp, "cnn": cnn}


def compile_and_sim(models, tmp_path, model, bits, out, target, sim):
    tool_env()
    d = tmp_path / f"{model}_{bits}_{out}"
    args = ["compile", str(models[model]), "--out", str(d), "--backend", "rtl", "--target-cycles",
            str(target), "--out-stream", out] + ([] if bits is None else ["--in-stream-bits", str(bits)])
    assert main(args) == 0
    rep = json.loads((d / "report.json").read_text())
    cfg = json.loads((d / "rtl" / "tb_config.json").read_text())
    net, _ = load_project_network(d)
    x = np.loadtxt(d / "vectors" / "input.txt", dtype=np.int64, ndmin=2)
    x = x.reshape((-1,) + tuple(net.model.input_shape))[:12]
    fmt = stream_format(int(np.prod(net.model.input_shape)), cfg["in_bits"], cfg["in_signed"],
                        net.model.num_classes, bits, out)
    assert rep["stream"] == cfg["stream"] == fmt.as_dict()
    want_cycles = max(rep["bound_cycles"], cfg["stream_cycles"], fmt.in_beats, fmt.out_beats)
    assert cfg["expected_cycles"] == want_cycles
    scores, stats = run_sim(d, x, simulator=sim)
    assert np.array_equal(scores, net.predict(x))
    assert stats["cycles_per_inference"] == want_cycles, stats
    return d, fmt, stats


# (model, --in-stream-bits, --out-stream, --target-cycles): the port beats dominate in some
CASES = [
    ("mlp", 8, "serial", 2),      # 12 beats in, 4 out: 12 cycles (bound 2)
    ("mlp", 32, "vector", 1),     # 3 beats in: 3 cycles
    ("mlp", None, "serial", 1),   # one 96-bit beat in, 4 beats out: 4 cycles
    ("cnn", 8, "vector", 16),     # 32 beats in: 32 cycles (pixel stream 16)
    ("cnn", 32, "serial", 16),    # 8 beats in, 4 out: the pixel stream's 16
    ("cnn", None, "vector", 16),  # one 256-bit beat, as before the options
]


@pytest.mark.parametrize("model,bits,out,target", CASES, ids=[f"{c[0]}-{c[1] or 'whole'}-{c[2]}" for c in CASES])
def test_icarus_exact_at_expected_cycles(models, tmp_path, model, bits, out, target):
    d, fmt, stats = compile_and_sim(models, tmp_path, model, bits, out, target, "icarus")
    sv = next((d / "rtl").glob("*.sv"), None)
    top = (d / "rtl" / f"{json.loads((d / 'report.json').read_text())['top']}.sv").read_text()
    assert sv is not None and f"[{fmt.in_stream_bits - 1}:0] s_axis_tdata" in top
    assert "s_axis_tlast" in top and f"[{fmt.out_stream_bits - 1}:0] m_axis_tdata" in top
    assert ("axis_unpack" in top) == (fmt.in_beats > 1)
    assert ("axis_serialize" in top) == (out == "serial")


def test_verilator_exact_narrow_serial(models, tmp_path):
    compile_and_sim(models, tmp_path, "mlp", 8, "serial", 2, "verilator")


@pytest.mark.slow
def test_verilator_exact_cnn_narrow(models, tmp_path):
    compile_and_sim(models, tmp_path, "cnn", 8, "serial", 16, "verilator")  # 32 beats in: 32 cycles


def test_bad_in_stream_bits_exit_2_nothing_written(models, tmp_path, capsys):
    out = tmp_path / "bad"
    assert main(["compile", str(models["mlp"]), "--out", str(out), "--in-stream-bits", "12"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --in-stream-bits 12") and "multiple of 8" in err[0]
    assert not out.exists()
    with pytest.raises(SystemExit) as e:  # argparse choices: one error line, exit 2
        main(["compile", str(models["mlp"]), "--out", str(out), "--out-stream", "bytes"])
    assert e.value.code == 2 and not out.exists()
    assert capsys.readouterr().err.startswith("error: argument --out-stream: invalid choice")


BAD_MASTER = """
// axis_bad_master: an AXI4-Stream master for the checker test. Bug 0: correct (packets of
// Beats beats, counting data, holds while not ready); 1: drops TVALID before the handshake;
// 2: changes TDATA while waiting; 3: TLAST on every beat.
module axis_bad_master #(
  parameter int Bug   = 0,
  parameter int Beats = 3
) (
  input  logic        ap_clk,
  input  logic        ap_rst_n,
  output logic [31:0] m_axis_tdata,
  output logic        m_axis_tvalid,
  input  logic        m_axis_tready,
  output logic        m_axis_tlast
);
  logic [31:0] data_q, cnt_q;
  logic [7:0]  beat_q;
  logic        valid_q;
  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      data_q <= '0; cnt_q <= '0; beat_q <= '0; valid_q <= 1'b0;
    end else begin
      cnt_q <= cnt_q + 1;
      if (valid_q && m_axis_tready) begin
        data_q  <= data_q + 1;
        beat_q  <= (beat_q == 8'(Beats - 1)) ? '0 : beat_q + 1'b1;
        valid_q <= cnt_q[0];
      end else if (!valid_q) begin
        valid_q <= 1'b1;
      end else if (Bug == 1 && cnt_q[2:0] == 3'd5) begin
        valid_q <= 1'b0;
      end
      if (Bug == 2 && valid_q && !m_axis_tready && cnt_q[2:0] == 3'd6) data_q <= data_q + 7;
    end
  end
  assign m_axis_tvalid = valid_q;
  assign m_axis_tdata  = data_q;
  assign m_axis_tlast  = (Bug == 3) ? 1'b1 : (beat_q == 8'(Beats - 1));
endmodule
"""


@pytest.mark.parametrize("bug,message", [(0, None), (1, "tvalid dropped"), (2, "tdata changed"),
                                         (3, "tlast = 1 on beat 0")])
def test_checker_fails_on_a_bad_master(tmp_path, bug, message):
    from cocotb_tools.runner import get_runner

    tool_env()
    src = tmp_path / "axis_bad_master.sv"
    src.write_text(BAD_MASTER)
    runner = get_runner("icarus")
    runner.build(sources=[src], hdl_toplevel="axis_bad_master", build_dir=tmp_path / "build",
                 parameters={"Bug": bug, "Beats": 3}, timescale=("1ns", "1ps"),
                 log_file=tmp_path / "build.log")
    result = tmp_path / "result.txt"
    for p in (str(HERE), str(SIM_DIR)):
        if p not in sys.path:
            sys.path.insert(0, p)
    try:
        runner.test(test_module="axis_check_cocotb", hdl_toplevel="axis_bad_master",
                    build_dir=tmp_path / "build", test_dir=tmp_path, results_xml=str(tmp_path / "r.xml"),
                    extra_env={"AXIS_BEATS": "3", "AXIS_CYCLES": "400", "AXIS_RESULT": str(result)},
                    log_file=tmp_path / "sim.log")
    except SystemExit:
        pass
    text = result.read_text()
    if message is None:
        assert text == "ok"
    else:
        assert message in text and "m_axis" in text, text


def test_sweep_checks_the_stream_options_before_any_point(models, tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["sweep", str(models["mlp"]), "--out", str(out), "--in-stream-bits", "12", "--pnr", "none",
                 "--target-cycles", "4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --in-stream-bits 12")
    assert not (out / "points").exists()
