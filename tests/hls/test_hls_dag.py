"""HLS backend, graphs with skip connections: C simulation == predict, bit for bit.

* the bundled residual examples (dense and conv) compiled with ``--backend hls``, in the
  sequential C simulation and in the dataflow one (``-DFI_CSIM_DATAFLOW``: one thread per
  function, every stream bounded at its depth);
* hand-built lowered graphs: shortcuts of 1 and 2 layers, with and without a projection,
  dense and conv, an AddJoin of bits + accumulator and of two accumulators, a ConcatJoin;
* the FIFO sizing is needed: an undersized short-branch FIFO deadlocks the dataflow C
  simulation (conv) or stalls the cycle schedule (dense), while the computed depths run at
  the schedule's rate.
"""
from __future__ import annotations

import numpy as np
import pytest

import fastinference as fi
from fastinference import cli, reference, schedule
from fastinference.backends.hls import plan, write_hls
from fastinference.errors import ToolError
from fastinference.testing.hls_models import fold, random_inputs, write_report
from fastinference.testing.dag_models import concat_model, conv_block, dense_block
from fastinference.verify.csim import run_csim

DATAFLOW = ["-DFI_CSIM_DATAFLOW"]


def check(model, folding, out_dir, x, flags=None, depths=None):
    write_report(model, folding, out_dir)
    write_hls(model, folding, out_dir / "hls", depths=depths)
    want = reference.run(model, x)
    got = run_csim(out_dir, x, extra_flags=flags)
    assert np.array_equal(got, want), "csim != reference"


@pytest.mark.parametrize("name,xfile", [("digits_res_mlp", "digits_test_x"),
                                        ("digits_res_cnn", "digits_test_x_img")])
def test_examples(tmp_path, name, xfile):
    out = tmp_path / name
    assert cli.main(["compile", f"examples/{name}.onnx", "--out", str(out), "--backend", "hls"]) == 0
    x = np.load(f"examples/{xfile}.npy")[:60]
    want = fi.load(f"examples/{name}.onnx").predict(x)
    for flags in (None, DATAFLOW):
        assert np.array_equal(run_csim(out, x, extra_flags=flags), want)
    cpp = (out / "hls" / f"{name}.cpp").read_text()
    assert "_FORK(" in cpp and "#pragma HLS STREAM" in cpp and "cycle schedule" in cpp


# ------------------------------------------------------------------------ hand-built graphs
@pytest.mark.parametrize("depth,proj", [(1, False), (2, False), (1, True), (2, True)])
def test_dense_shortcuts(tmp_path, depth, proj):
    rng = np.random.default_rng(10 * depth + proj)
    m = dense_block(rng, depth, proj)
    m.check_graph()
    # the main branch folded slowly (12 cycles per layer), the rest fast
    f = fold(**{l.name: (1, 12) if l.name.startswith("main") else (l.M, l.K) for l in m.compute_layers()})
    x = random_inputs(m, rng, 24)
    check(m, f, tmp_path, x)
    if depth == 2 and proj:  # the dataflow C simulation once (a build costs seconds)
        check(m, f, tmp_path / "df", x, DATAFLOW)


@pytest.mark.parametrize("depth", [1, 2])
def test_conv_shortcuts(tmp_path, depth):
    rng = np.random.default_rng(depth)
    m = conv_block(rng, depth)
    f = fold(first=(4, 9), head=(3, 16), **{f"main{k}": (2, 2) for k in range(depth)})
    x = random_inputs(m, rng, 12)
    check(m, f, tmp_path, x)
    check(m, f, tmp_path / "df", x, DATAFLOW)


def test_concat_join(tmp_path):
    rng = np.random.default_rng(5)
    m = concat_model(rng)
    x = random_inputs(m, rng, 16)
    f = fold(first=(10, 16), a=(1, 2), b=(7, 10), head=(4, 13))
    check(m, f, tmp_path, x)
    check(m, f, tmp_path / "df", x, DATAFLOW)


# ------------------------------------------------------------------- the sizing is needed
def test_undersized_fifo_deadlocks_dataflow_csim(tmp_path):
    """digits_res_cnn: the shortcut FIFO must hold the pixels the fork writes while the main
    branch's window fills; at 4 the dataflow C simulation deadlocks, at the schedule's depth
    it is exact."""
    net = fi.load("examples/digits_res_cnn.onnx")
    from fastinference.folding import resolve_folding
    f = resolve_folding(net.model)
    p = plan(net.model, f)
    short = next(s for s in p.depths if "_FORK_TO_" in s and s.endswith("_add"))
    assert p.depths[short] > 4 and p.schedule.measured == p.schedule.interval
    x = np.load("examples/digits_test_x_img.npy")[:5]
    check(net.model, f, tmp_path / "ok", x, DATAFLOW)
    with pytest.raises(ToolError, match="deadlock"):
        check(net.model, f, tmp_path / "small", x, DATAFLOW, depths={short: 4})


def test_undersized_fifo_stalls_dense_schedule():
    """A dense residual block whose main branch is slow: the schedule's depths keep one
    inference per P cycles; a depth of 1 on the shortcut stalls the pipeline (more cycles
    per inference)."""
    rng = np.random.default_rng(3)
    m = dense_block(rng, 2, False)
    f = fold(first=(12, 20), main0=(1, 12), main1=(1, 12), head=(5, 12))
    p = plan(m, f)
    sch = p.schedule
    assert sch.measured == sch.interval == 12  # ceil(12/12) * ceil(12/1) of the main layers
    short = next(s for s in p.depths if s.endswith("_TO_add"))
    ok = schedule.simulate(p.nodes, "x_in", "y_out", p.depths)
    assert not ok.deadlock and ok.interval == sch.interval
    small = schedule.simulate(p.nodes, "x_in", "y_out", {**p.depths, short: 1})
    assert small.deadlock or small.interval > sch.interval


def test_byte_identical(tmp_path):
    for k in (1, 2):
        assert cli.main(["compile", "examples/digits_res_cnn.onnx", "--out", str(tmp_path / str(k)),
                         "--backend", "hls"]) == 0
    for fname in ("digits_res_cnn.cpp", "weights.h", "digits_res_cnn.h"):
        assert (tmp_path / "1" / "hls" / fname).read_bytes() == (tmp_path / "2" / "hls" / fname).read_bytes()
