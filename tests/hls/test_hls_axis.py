"""The HLS core's AXI4-Stream ports (fastinference/axis.py, backends/hls/axis_ctx.py):
``hls::axis`` beats with TLAST, ``ap_ctrl_none``, any input stream width and both output modes,
C simulation exact against ``reference.run``; the testbench rejects a misplaced TLAST."""
from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from fastinference import reference
from fastinference.axis import stream_format
from fastinference.backends.hls import render, write_hls
from fastinference.errors import VerificationError
from fastinference.ir import Model
from fastinference.testing.dag_models import dense_block
from fastinference.testing.hls_models import conv, dense, fold, maxpool, random_inputs, write_report
from fastinference.verify.csim import run_csim


def tiny_mlp(seed=1):
    """13 signed 5-bit inputs (65 bits: no stream width divides them), 3 classes."""
    rng = np.random.default_rng(seed)
    l0 = dense("dense_0", 13, 7, rng, input_kind="int", bits=5, signed=True)
    l1 = dense("dense_1", 7, 3, rng, scores=True)
    return Model("tiny_mlp", [l0, l1], (13,), input_bits=5, input_signed=True), \
        fold(dense_0=(7, 5), dense_1=(3, 7)), rng


def tiny_cnn(seed=3):
    """A 1x6x6 8-bit image (36 bytes), conv, pool, two dense layers, 3 classes."""
    rng = np.random.default_rng(seed)
    c0 = conv("conv_0", 1, 6, 6, 4, (3, 3), rng, pads=(1, 1, 1, 1), input_kind="int", bits=8)
    p0 = maxpool("pool_0", 4, 6, 6)
    d0 = dense("dense_0", 36, 12, rng, in_shape=(4, 3, 3))
    d1 = dense("dense_1", 12, 3, rng, scores=True)
    return Model("tiny_cnn", [c0, p0, d0, d1], (1, 6, 6), input_bits=8), \
        fold(conv_0=(2, 3), dense_0=(5, 8), dense_1=(3, 12)), rng


MODELS = {"mlp": tiny_mlp, "cnn": tiny_cnn}


def fmt_of(model, in_stream_bits, out_mode, classes=3, score_bits=32):
    return stream_format(int(np.prod(model.input_shape)), model.input_bits, model.input_signed,
                         classes, in_stream_bits, out_mode, score_bits)


def csim_exact(model, folding, out, x, fmt, flags=None):
    write_report(model, folding, out)
    write_hls(model, folding, out / "hls", stream=fmt)
    got = run_csim(out, x, extra_flags=flags)
    want = reference.run(model, x)
    assert got.shape == want.shape and np.array_equal(got, want), "csim != reference"


# every model meets every stream width and both output modes; the rest of the cross is slow
FAST = [("mlp", None, "vector"), ("mlp", 8, "serial"), ("cnn", 8, "vector"), ("cnn", 32, "serial")]
SLOW = [(m, w, o) for m in MODELS for w in (None, 8, 32) for o in ("vector", "serial")
        if (m, w, o) not in FAST]


@pytest.mark.parametrize("name,in_stream_bits,out_mode",
                         FAST + [pytest.param(*c, marks=pytest.mark.slow) for c in SLOW])
def test_csim_exact(tmp_path, name, in_stream_bits, out_mode):
    model, folding, rng = MODELS[name]()
    fmt = fmt_of(model, in_stream_bits, out_mode)
    x = random_inputs(model, rng, 24)
    csim_exact(model, folding, tmp_path, x, fmt)
    h = (tmp_path / "hls" / "fi_top.h").read_text()
    assert f"static const int FI_IN_BEATS = {fmt.in_beats};" in h
    assert f"static const int FI_OUT_BEATS = {fmt.out_beats};" in h
    assert f"typedef hls::axis<ap_uint<{fmt.in_stream_bits}>, 0, 0, 0> InBeat;" in h
    assert f"typedef hls::axis<ap_uint<{fmt.out_stream_bits}>, 0, 0, 0> OutBeat;" in h


def test_graph_dataflow_csim_narrow_stream(tmp_path):
    """A residual block (the input vector feeds a fork) with 8-bit beats, serial output, in the
    threaded dataflow C simulation with bounded FIFOs (fi_stream.h, fi_axis.h)."""
    rng = np.random.default_rng(12)
    m = dense_block(rng, 2, True)
    f = fold(**{l.name: (l.M, l.K) for l in m.compute_layers()})
    x = random_inputs(m, rng, 16)
    fmt = stream_format(20, 4, False, 5, 8, "serial")
    assert (fmt.per_beat, fmt.in_beats) == (2, 10)
    csim_exact(m, f, tmp_path, x, fmt, flags=["-DFI_CSIM_DATAFLOW"])


def test_64_bit_scores_serial(tmp_path):
    """Scores that need 64 bits travel as 64-bit lanes (one per beat in serial mode)."""
    rng = np.random.default_rng(28)
    l0 = dense("dense_0", 10, 8, rng, input_kind="int", bits=3)
    l1 = dense("dense_1", 8, 4, rng, scores=True)
    l1.bias = rng.integers(-2**40, 2**40, size=4).astype(np.int64)
    model = Model("wide_scores", [l0, l1], (10,), input_bits=3)
    csim_exact(model, fold(dense_0=(8, 10), dense_1=(4, 8)), tmp_path,
               random_inputs(model, rng, 12), fmt_of(model, 16, "serial", classes=4, score_bits=64))
    assert "typedef hls::axis<ap_uint<64>, 0, 0, 0> OutBeat;" in (
        tmp_path / "hls" / "fi_top.h").read_text()


def test_top_is_free_running_with_tlast():
    model, folding, _ = tiny_cnn()
    files = render(model, folding, "net", stream=fmt_of(model, 32, "serial"))
    cpp, h, tb = files["net.cpp"], files["net.h"], files["tb.cpp"]
    top = cpp[cpp.index("void net("):]
    for line in ("#pragma HLS INTERFACE axis port=x_in", "#pragma HLS INTERFACE axis port=y_out",
                 "#pragma HLS INTERFACE ap_ctrl_none port=return", "#pragma HLS DATAFLOW"):
        assert line in top
    assert "s_axilite" not in cpp and "ap_ctrl_chain" not in cpp and "ap_ctrl_hs" not in cpp
    assert "void net(hls::stream<InBeat>& x_in, hls::stream<OutBeat>& y_out);" in h
    assert "typedef hls::axis<ap_uint<32>, 0, 0, 0> InBeat;" in h
    # Xilinx's header under synthesis, the shim otherwise; the shim has the same field names
    assert re.search(r"#if defined\(__SYNTHESIS__\)\n#include <ap_axi_sdata.h>", h)
    assert '#include "fi_axis.h"' in h and "fi_axis.h" in files
    for field in ("data;", "keep;", "strb;", "last;"):
        assert field in files["fi_axis.h"]
    assert "beat.last = j == 2;" in cpp  # TLAST on the third (last) score beat
    assert "beat.last = b == FI_IN_BEATS - 1;" in tb and "TLAST MISMATCH" in tb
    # the default: the whole input in one beat, rounded up to bytes; one output beat, TLAST set
    files = render(model, folding, "net")
    assert "typedef hls::axis<ap_uint<288>, 0, 0, 0> InBeat;" in files["net.h"]
    assert "typedef hls::axis<ap_uint<96>, 0, 0, 0> OutBeat;" in files["net.h"]
    assert "beat.last = 1;" in files["net.cpp"]
    m2, f2, _ = tiny_mlp()
    assert "typedef hls::axis<ap_uint<72>, 0, 0, 0> InBeat;" in render(m2, f2, "net")["net.h"]


@pytest.mark.parametrize("out_mode,good,bad", [("serial", "beat.last = j == 2;", "beat.last = j == 1;"),
                                               ("vector", "beat.last = 1;", "beat.last = 0;")])
def test_tb_rejects_wrong_tlast(tmp_path, out_mode, good, bad):
    model, folding, rng = tiny_mlp()
    write_report(model, folding, tmp_path)
    write_hls(model, folding, tmp_path / "hls", stream=fmt_of(model, 8, out_mode))
    top = tmp_path / "hls" / "fi_top.cpp"
    text = top.read_text()
    assert text.count(good) == 1
    top.write_text(text.replace(good, bad))
    x = random_inputs(model, rng, 4)
    with pytest.raises(VerificationError, match="TLAST MISMATCH at row 0"):
        run_csim(tmp_path, x)
    # the binary itself: exit 1 and the message
    exe = next((tmp_path / "hls" / "build").glob("csim-*/tb"))
    (tmp_path / "in.txt").write_text(" ".join(map(str, x[0])) + "\n")
    r = subprocess.run([str(exe), str(tmp_path / "in.txt"), "-"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1 and "TLAST MISMATCH at row 0" in r.stdout


def test_format_must_match_model():
    model, folding, _ = tiny_mlp()
    with pytest.raises(ValueError, match="13 values"):
        render(model, folding, "net", stream=stream_format(12, 5, True, 3))
