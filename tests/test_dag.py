"""Skip connections: graphs with forks and joins through the frontend, the passes and the
reference model.

* residual BNNs trained here (``testing/res_nets.py``: shortcuts of 1 and 2 layers, with and
  without a projection layer, dense and conv, the network input as shortcut, a Concat),
  exported with both torch exporters: predict == onnxruntime's pre-softmax scores exactly, and
  both exports lower to the same hardware;
* hand-built graphs (GraphBuilder) of many fork/join shapes with random BatchNorms: predict ==
  onnxruntime exactly on random integer inputs;
* graphs the hardware cannot stream: exit 2, one line naming the node;
* the IR's graph helpers, report.json's "inputs", and that both backends take graphs.
"""
from __future__ import annotations

import collections
import json

import numpy as np
import onnx
import pytest
from onnx import helper

import fastinference as fi
from fastinference import cli
from fastinference.folding import folding_report, resolve_folding
from fastinference.ir import INPUT, AddJoin, BinaryDense, ConcatJoin, Threshold
from fastinference.testing import res_nets
from fastinference.testing.graphs import GraphBuilder, ort_run, pm1
from fastinference.testing.nets import load_data, ort_pre_softmax

EPOCHS = 3  # exactness does not need accuracy: a short training keeps the suite fast


# ----------------------------------------------------------------------------- trained nets
FAST_DYNAMO = ("res_mlp1", "res_mlp2_proj", "res_cnn2_proj")  # the other dynamo exports: -m slow


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """``trained(name, exporter)`` -> the ONNX path; each net trained and exported once, on
    first use (a dynamo export takes seconds)."""
    out = tmp_path_factory.mktemp("res_nets")
    models, paths = {}, {}

    def get(name, exporter):
        if (name, exporter) not in paths:
            if name not in models:
                models[name], _ = res_nets.train(name, epochs=EPOCHS)
            paths[name, exporter] = res_nets.train_and_export(name, out, (exporter,), model=models[name])[0][exporter]
        return paths[name, exporter]
    return get


def hardware(net) -> list:
    """The lowered network without names: kinds, arrays and the graph by position."""
    m = net.model
    pos = {l.name: i for i, l in enumerate(m.layers)}
    pos[INPUT] = -1
    rows = []
    for i, l in enumerate(m.layers):
        d = {k: v for k, v in vars(l).items() if k not in ("name", "source_nodes", "inputs")}
        d = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in d.items()}
        rows.append((l.kind, [pos[p] for p in m.inputs_of(i)], repr(sorted(d.items()))))
    return rows


CASES = [pytest.param(n, e, id=f"{n}-{e}", marks=() if e == "legacy" or n in FAST_DYNAMO else pytest.mark.slow)
         for n in res_nets.NAMES for e in ("legacy", "dynamo")]


@pytest.mark.parametrize("name, exporter", CASES)
def test_residual_net_exact_both_exporters(trained, name, exporter):
    _, X, _, y = load_data()
    path = trained(name, exporter)
    net = fi.load(str(path))
    assert not net.model.is_chain
    assert any(isinstance(l, (AddJoin, ConcatJoin)) for l in net.layers)
    got = net.predict(X)
    want = ort_pre_softmax(path, X)
    assert np.array_equal(got, want.astype(np.int64)), f"{name} {exporter}: predict differs from onnxruntime"
    if exporter == "dynamo":
        legacy = fi.load(str(trained(name, "legacy")))
        assert hardware(net) == hardware(legacy), f"{name}: the two exports lower to different hardware"


# ------------------------------------------------------------------------- hand-built graphs
def _bn(g, rng, n, neg=False):
    gamma = rng.normal(size=n)
    if neg:
        gamma = -np.abs(gamma)
    return g.bn(gamma, rng.normal(size=n) * 2, rng.normal(size=n) * 3, rng.uniform(0.3, 3, size=n))


def _layer(g, rng, src, m, conv, k=1):
    """A +-1 Gemm (or a kxk conv, no padding) on tensor ``src``: -> its accumulator."""
    g.cur = src
    c = g._chan[src]
    if conv:
        out = g.conv(pm1(rng, m, c, k, k))
    else:
        out = g.gemm(pm1(rng, m, c))
    g._chan[out] = m
    return out


def _act(g, rng, src, neg=False):
    g.cur = src
    _bn(g, rng, g._chan[src], neg)
    out = g.sign()
    g._chan[out] = g._chan[src]
    return out


def _join(g, op, a, b):
    if op == "Add":
        out = g.node("Add", [a, b])
        g._chan[out] = g._chan[a]
    else:
        out = g.node("Concat", [a, b], axis=1)
        g._chan[out] = g._chan[a] + g._chan[b]
    return out


PATTERNS = ("bits", "bits_first", "proj", "two", "two_proj", "bitsbits", "self", "concat", "nested",
            "negbn", "input", "pool")


def block_graph(rng, pattern, conv):
    """A first layer, one fork/join block of ``pattern``, an activation and a score layer."""
    F = int(rng.integers(3, 9))
    shape = (2, 5, 5) if conv else (F,)
    g = GraphBuilder(shape)
    g._chan = {"x": shape[0]}
    w = int(rng.integers(2, 7))
    if pattern == "input":  # the shortcut is the network input
        w = shape[0]
        a = "x"
    else:
        g.cur = "x"
        if conv:
            first = g.conv(pm1(rng, w, shape[0], 3, 3), pad=1)
        else:
            first = g.gemm(pm1(rng, w, F))
        g._chan[first] = w
        a = _act(g, rng, first)
    m = w if pattern not in ("proj", "two_proj") else int(rng.integers(2, 7))
    if pattern in ("bits", "negbn", "input", "pool"):
        s = _join(g, "Add", _layer(g, rng, a, m, conv), a)
    elif pattern == "bits_first":
        s = _join(g, "Add", a, _layer(g, rng, a, m, conv))
    elif pattern == "proj":
        s = _join(g, "Add", _layer(g, rng, a, m, conv), _layer(g, rng, a, m, conv))
    elif pattern == "two":
        s = _join(g, "Add", _layer(g, rng, _act(g, rng, _layer(g, rng, a, w, conv)), m, conv), a)
    elif pattern == "two_proj":
        s = _join(g, "Add", _layer(g, rng, _act(g, rng, _layer(g, rng, a, w, conv)), m, conv),
                  _layer(g, rng, a, m, conv))
    elif pattern == "bitsbits":
        s = _join(g, "Add", _act(g, rng, _layer(g, rng, a, m, conv)), a)
    elif pattern == "self":
        s = _join(g, "Add", a, a)
    elif pattern == "concat":
        s = _join(g, "Concat", a, _act(g, rng, _layer(g, rng, a, int(rng.integers(1, 5)), conv)))
    elif pattern == "nested":
        s1 = _act(g, rng, _join(g, "Add", _layer(g, rng, a, m, conv), a))
        s = _join(g, "Add", _layer(g, rng, s1, m, conv), _join(g, "Add", s1, a))
    if pattern == "pool" and conv:
        g.cur = s
        _bn(g, rng, g._chan[s], neg=bool(rng.integers(0, 2)))
        g.maxpool(2)
        out = g.sign()
        g._chan[out] = g._chan[s]
    elif pattern != "concat":
        out = _act(g, rng, s, neg=pattern == "negbn")
    else:
        out = s
    g.cur = out
    if conv:
        g.flatten()
        g.gemm(pm1(rng, 3, g._chan[out] * (4 if pattern == "pool" else 25)))
    else:
        g.gemm(pm1(rng, 3, g._chan[out]))
    return g


@pytest.mark.parametrize("conv", [False, True], ids=["dense", "conv"])
@pytest.mark.parametrize("pattern", PATTERNS)
def test_hand_built_graph_exact(tmp_path, pattern, conv):
    for seed in range(3):
        rng = np.random.default_rng([seed, PATTERNS.index(pattern), conv])
        g = block_graph(rng, pattern, conv)
        p = g.save(tmp_path / f"{pattern}_{seed}.onnx")
        net = fi.load(p)
        assert not net.model.is_chain
        net.model.check_graph()
        shape = tuple(d.dim_value for d in g.input.type.tensor_type.shape.dim[1:])
        x = rng.integers(0, 256, size=(300,) + shape)
        want = ort_run(p, x)
        assert np.array_equal(net.predict(x), want.astype(np.int64)), f"{pattern} seed {seed}"


def test_hand_built_join_kinds(tmp_path):
    rng = np.random.default_rng(5)
    net = fi.load(block_graph(rng, "two_proj", False).save(tmp_path / "m.onnx"))
    kinds = [l.kind for l in net.layers]
    assert kinds.count("add_join") == 1 and kinds.count("threshold") == 1
    j = next(l for l in net.layers if isinstance(l, AddJoin))
    assert [s.kind for s in j.in_streams] == ["int", "int"]
    t = next(l for l in net.layers if isinstance(l, Threshold))
    assert net.model.producers()[t.name] == [j.name]
    lo, hi = j.out_range
    assert lo == j.in_streams[0].lo + j.in_streams[1].lo and t.in_stream.hi == hi
    net = fi.load(block_graph(rng, "concat", False).save(tmp_path / "c.onnx"))
    c = next(l for l in net.layers if isinstance(l, ConcatJoin))
    assert c.out_stream.kind == "bits"


# --------------------------------------------------------------------------- bad graphs
def _base(rng, F=5, w=4):
    g = GraphBuilder((F,))
    g._chan = collections.defaultdict(lambda: w, x=F)
    first = g.gemm(pm1(rng, w, F))
    g._chan[first] = w
    return g, _act(g, rng, first)


def _finish(g, rng, s, n):
    g.cur = s
    g.gemm(pm1(rng, 3, n))
    return g.model()


def bad_join_shapes(rng):
    g, a = _base(rng)
    acc = _layer(g, rng, a, 1, False)  # (N, 1) + (N, 4): valid ONNX broadcasting, not a stream join
    s = g.node("Add", [acc, a])
    return _finish(g, rng, s, 4), ("Add_", "different shapes")


def bad_concat_axis(rng):
    g, a = _base(rng)
    b = _act(g, rng, _layer(g, rng, a, 4, False))
    s = g.node("Concat", [a, b], axis=0)
    return _finish(g, rng, s, 4), ("Concat_", "channel axis")


def bad_mul_join(rng):
    g, a = _base(rng)
    acc = _layer(g, rng, a, 4, False)
    s = g.node("Mul", [acc, a])
    return _finish(g, rng, s, 4), ("Mul_", "only Add and Concat")


def bad_output_middle(rng):
    g, a = _base(rng)
    s = _act(g, rng, g.node("Add", [_layer(g, rng, a, 4, False), a]))
    g.cur = s
    g.gemm(pm1(rng, 3, 4))
    m = g.model()
    m.graph.output[0].name = a
    return m, (a, "not at the end")


def bad_cycle(rng):
    g, a = _base(rng)
    acc = _layer(g, rng, a, 4, False)
    s = g.node("Add", [acc, "loop"])
    t = _act(g, rng, s)
    g.nodes.append(helper.make_node("Identity", [t], ["loop"], name="back_edge"))
    g._chan["loop"] = 4
    return _finish(g, rng, t, 4), ("Add_", "topological order")


def bad_two_inputs(rng):
    g, a = _base(rng)
    s = g.node("Add", [_layer(g, rng, a, 4, False), "x2"])
    m = _finish(g, rng, _act(g, rng, s), 4)
    m.graph.input.append(helper.make_tensor_value_info("x2", onnx.TensorProto.FLOAT, ["N", 4]))
    return m, ("2 data inputs", "'x2'")


def bad_float_branch(rng):
    g, a = _base(rng)
    acc = _layer(g, rng, a, 4, False)
    g.cur = acc
    bnd = _bn(g, rng, 4)  # a BatchNorm on the branch before the Add: the sum is not an integer sum
    s = _act(g, rng, g.node("Add", [bnd, a]))
    g._chan[s] = 4
    return _finish(g, rng, s, 4), ("Add_", "put the BatchNorm after the Add")


def bad_scaled_branch(rng):
    g, a = _base(rng)
    g.cur = a
    W = pm1(rng, 4, 4) * np.array([[0.5], [0.25], [1.0], [2.0]], np.float32)  # rows s*(+-1), several s
    acc = g.gemm(W)
    s = _act(g, rng, g.node("Add", [acc, a]))
    g._chan[s] = 4
    return _finish(g, rng, s, 4), ("Add_", "scale per channel")


def bad_concat_mixed(rng):
    g, a = _base(rng)
    acc = _layer(g, rng, a, 4, False)
    s = g.node("Concat", [a, acc], axis=1)
    return _finish(g, rng, s, 8), ("Concat_", "+-1 activations and an accumulator")


BAD = {f.__name__[4:]: f for f in (bad_join_shapes, bad_concat_axis, bad_mul_join, bad_output_middle, bad_cycle,
                                   bad_two_inputs, bad_float_branch, bad_scaled_branch, bad_concat_mixed)}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_graph_is_exit_2_naming_the_node(tmp_path, capsys, monkeypatch, case):
    m, needles = BAD[case](np.random.default_rng(1))
    m.ir_version = 8
    onnx.save(m, str(tmp_path / "bad.onnx"))
    monkeypatch.chdir(tmp_path)
    rc = cli.main(["inspect", "bad.onnx"])
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert "internal error" not in err
    for n in needles:
        assert n in lines[0], lines[0]


# --------------------------------------------------------------------- IR, report, backends
def test_chain_stays_a_chain():
    net = fi.load("examples/digits_mlp.onnx")
    assert net.model.is_chain and all(l.inputs is None for l in net.layers)
    m = net.model
    assert [l.inputs for l in m.explicit().compact().layers] == [None] * len(m.layers)
    cons = m.consumers()
    assert cons[INPUT] == [m.layers[0].name] and cons[m.layers[-1].name] == []


def test_graph_helpers(tmp_path):
    rng = np.random.default_rng(2)
    net = fi.load(block_graph(rng, "proj", False).save(tmp_path / "m.onnx"))
    m = net.model
    prod, cons = m.producers(), m.consumers()
    for l in m.layers:
        for p in prod[l.name]:
            assert l.name in cons[p]
    e = m.explicit()
    assert all(l.inputs is not None for l in e.layers) and e.producers() == prod
    assert [l.inputs for l in e.compact().layers] == [l.inputs for l in m.layers]
    bad = m.copy()
    bad.layers = bad.layers[::-1]
    with pytest.raises(ValueError):
        bad.check_graph()
    dangling = m.explicit()
    dangling.layers.insert(1, BinaryDense(name="extra", source_nodes=[], in_shape=(4,), out_shape=(2,),
                                          inputs=[INPUT], weights=np.ones((2, 4), np.int8)))
    with pytest.raises(ValueError, match="extra"):
        dangling.check_graph()


def test_report_lists_inputs(tmp_path, trained):
    from fastinference.project import build_report
    net = fi.load(str(trained("res_mlp1_proj", "legacy")))
    folding = resolve_folding(net.model)
    rows = folding_report(net.model, folding)
    names = {l.name for l in net.layers} | {INPUT}
    assert all(set(r["inputs"]) <= names for r in rows)
    rep = build_report(net, folding, "top", "hls", "xc7z020clg400-1", 10.0, "m.onnx", "default")
    json.dumps(rep)
    graph = {r["name"]: r for r in rep["graph"]}
    j = next(l for l in net.layers if isinstance(l, AddJoin))
    assert graph[j.name]["inputs"] == net.model.producers()[j.name] and len(graph[j.name]["inputs"]) == 2
    chain = fi.load("examples/digits_mlp.onnx")
    assert "inputs" not in folding_report(chain.model, resolve_folding(chain.model))[0]


def test_backends_take_graphs():
    """Both backends stream graphs now (tests/hls/test_hls_dag.py, the RTL graph tests): the
    one place that would refuse a graph lets every backend through."""
    from fastinference.project import GRAPH_BACKENDS, check_backend_graph
    assert set(GRAPH_BACKENDS) == {"hls", "rtl"}
    m = fi.load("examples/digits_res_mlp.onnx").model
    for backend in ("hls", "rtl", "all"):
        check_backend_graph(m, backend)


def test_chain_pool_after_negative_batchnorm(tmp_path):
    """Conv -> BatchNorm (negative scales, not folded) -> MaxPool -> sign: the pool sits after
    the decreasing op, so it is an OR of the bits (a max of the BN outputs), not an AND (found
    by the graph tests above; the chain lowering shares the rule)."""
    for seed in range(4):
        rng = np.random.default_rng(seed)
        g = GraphBuilder((1, 6, 6))
        g.conv(pm1(rng, 4, 1, 3, 3), pad=1)
        g.bn(-np.abs(rng.normal(size=4)) * np.array([1, -1, 1, -1]), rng.normal(size=4) * 2,
             rng.normal(size=4) * 3, rng.uniform(0.3, 3, size=4))
        g.maxpool(2)
        g.sign()
        g.flatten()
        g.gemm(pm1(rng, 3, 36))
        p = g.save(tmp_path / f"m{seed}.onnx")
        net = fi.load(p)
        assert net.model.is_chain
        x = rng.integers(0, 256, size=(300, 1, 6, 6))
        assert np.array_equal(net.predict(x), ort_run(p, x).astype(np.int64))


@pytest.mark.parametrize("fname, xname", [("digits_res_mlp.onnx", "digits_test_x.npy"),
                                          ("digits_res_cnn.onnx", "digits_test_x_img.npy")])
def test_bundled_residual_examples(fname, xname):
    x = np.load(f"examples/{xname}")
    y = np.load("examples/digits_test_y.npy")
    net = fi.load(f"examples/{fname}")
    assert not net.model.is_chain
    s = net.predict(x)
    assert np.array_equal(s, ort_pre_softmax(f"examples/{fname}", x).astype(np.int64))
    assert (s.argmax(1) == y).mean() >= 0.9
