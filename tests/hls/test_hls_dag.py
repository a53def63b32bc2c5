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
from fastinference.ir import AddJoin, ConcatJoin, Model, Stream, Threshold
from fastinference.testing.hls_models import conv, dense, fold, random_inputs, write_report
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
def score_stream(layer):
    lo, hi = layer.acc_range()
    b = layer.bias
    return Stream("int", lo + int(b.min()), hi + int(b.max()))


def threshold_after(name, join, rng):
    st = join.out_stream
    M = join.out_shape[0]
    T = rng.integers(st.lo - 1, st.hi + 2, size=M).astype(np.int64)
    D = np.where(rng.random(M) < 0.5, -1, 1).astype(np.int8)
    return Threshold(name=name, source_nodes=[f"/{name}/Greater"], in_shape=join.out_shape,
                     out_shape=join.out_shape, in_stream=st, thresholds=T, directions=D)


def dense_block(rng, depth, proj):
    """input -> first (bits) -> [main: depth layers, the last scores] + [shortcut: bits, or a
    projection's scores] -> add -> threshold -> head scores."""
    layers = [dense("first", 20, 12, rng, input_kind="int", bits=4)]
    prev = "first"
    for k in range(depth):
        last = k == depth - 1
        l = dense(f"main{k}", 12, 12, rng, scores=last)
        l.inputs = [prev]
        layers.append(l)
        prev = l.name
    if proj:
        p = dense("proj", 12, 12, rng, scores=True)
        p.inputs = ["first"]
        layers.append(p)
        short, s_stream = "proj", score_stream(p)
    else:
        short, s_stream = "first", Stream("bits", -1, 1)
    j = AddJoin(name="add", source_nodes=["/add/Add"], in_shape=(12,), out_shape=(12,),
                inputs=[prev, short], in_streams=(score_stream(layers[depth]), s_stream))
    layers += [j, threshold_after("post", j, rng)]
    layers.append(dense("head", 12, 5, rng, scores=True))
    return Model(name="dense_block", layers=layers, input_shape=(20,), input_bits=4)


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


def conv_block(rng, depth):
    """int input -> 3x3 conv (bits, 4 channels) -> [1x1 convs] + shortcut bits -> add ->
    threshold -> dense head over the 6x6 map."""
    first = conv("first", 1, 6, 6, 4, (3, 3), rng, pads=(1, 1, 1, 1), input_kind="int", bits=3)
    layers, prev = [first], "first"
    for k in range(depth):
        l = conv(f"main{k}", 4, 6, 6, 4, (1, 1), rng, scores=k == depth - 1)
        l.inputs = [prev]
        layers.append(l)
        prev = l.name
    j = AddJoin(name="add", source_nodes=["/add/Add"], in_shape=(4, 6, 6), out_shape=(4, 6, 6),
                inputs=[prev, "first"], in_streams=(score_stream(layers[depth]), Stream("bits", -1, 1)))
    layers += [j, threshold_after("post", j, rng)]
    layers.append(dense("head", 144, 3, rng, scores=True, in_shape=(4, 6, 6)))
    return Model(name="conv_block", layers=layers, input_shape=(1, 6, 6), input_bits=3)


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
    first = dense("first", 16, 10, rng, input_kind="int", bits=3, signed=True)
    a = dense("a", 10, 6, rng)
    a.inputs = ["first"]
    b = dense("b", 10, 7, rng)
    b.inputs = ["first"]
    cat = ConcatJoin(name="cat", source_nodes=["/cat/Concat"], in_shape=(6,), out_shape=(13,),
                     inputs=["a", "b"], in_streams=(Stream("bits", -1, 1), Stream("bits", -1, 1)))
    head = dense("head", 13, 4, rng, scores=True)
    m = Model(name="cat", layers=[first, a, b, cat, head], input_shape=(16,), input_bits=3,
              input_signed=True)
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
