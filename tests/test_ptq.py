"""Float models through post-training quantization (fastinference/ptq.py): agreement with the
float model (onnxruntime) at 8 bits for both exporters' MLP and ConvNet, the PTQ simulation ==
the lowered reference == csim, the bad-input errors, --precision and --act-bits auto."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastinference as fi
from fastinference.ptq import onnx_float_scores, simulate
from fastinference.testing.graphs import GraphBuilder
from fastinference.testing.nets import load_data

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
MLP = EXAMPLES / "digits_float_mlp.onnx"
CNN = EXAMPLES / "digits_float_cnn.onnx"
CALIB = EXAMPLES / "digits_calib_x.npy"


def run_cli(*args, cwd=None):
    p = subprocess.run([sys.executable, "-m", "fastinference", *map(str, args)], capture_output=True,
                       text=True, cwd=cwd, timeout=600)
    return p.returncode, p.stdout, p.stderr


def assert_user_error(rc, err, *needles):
    assert rc == 2, err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.fixture(scope="module")
def data():
    return load_data()


@pytest.fixture(scope="module")
def float_exports(tmp_path_factory):
    """Small float MLP and CNN trained in this session, exported with both exporters."""
    import warnings
    warnings.filterwarnings("ignore")
    from fastinference.testing import float_nets
    d = tmp_path_factory.mktemp("float_nets")
    out = {}
    for name in float_nets.FLOAT_NETS:
        model = float_nets.train(name, epochs=25)
        for exporter in ("legacy", "dynamo"):
            out[name, exporter] = float_nets.export_float(model, name, exporter, d / f"{name}_{exporter}.onnx")
    return out


@pytest.mark.parametrize("name", ["mlp", "cnn"])
@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
def test_agreement_8bit(float_exports, data, name, exporter):
    X_tr, X_te, _, y_te = data
    path = float_exports[name, exporter]
    net = fi.load(str(path), ptq={"calibration": X_tr})
    x = X_te.reshape((-1,) + net.model.input_shape)
    s = net.predict(x)
    f = onnx_float_scores(str(path), x)
    agree = float((s.argmax(1) == f.argmax(1)).mean())
    assert agree >= 0.99, agree
    assert (s.argmax(1) == y_te).mean() >= 0.9
    # the PTQ simulation (what auto and the error report use) is the lowered reference, exactly
    np.testing.assert_array_equal(simulate(net.source, x.astype(np.float32))[0], s)
    # every compute layer is an MVAU with 8-bit weights; hidden ones emit 8-bit unsigned ints
    layers = net.model.compute_layers()
    assert [l.weight_bits for l in layers] == [8] * len(layers)
    assert all(l.out_bits == 8 and not l.out_signed for l in layers[:-1])
    # the integer scores are the float scores in units of output_scale (one unit for all classes)
    assert np.unique(np.asarray(net.model.output_scale)).size == 1
    err = np.abs(s * float(np.asarray(net.model.output_scale).reshape(-1)[0]) - f_pre(path, x))
    assert err.max() < 0.1 * np.abs(f_pre(path, x)).max()


def f_pre(path, x):
    from fastinference.testing.nets import ort_pre_softmax
    return ort_pre_softmax(str(path), np.asarray(x, dtype=np.float32))


@pytest.mark.parametrize("model", [pytest.param(MLP, marks=pytest.mark.slow), CNN], ids=["mlp", "cnn"])
def test_csim_equals_predict(tmp_path, data, model):
    """compile --backend hls, then csim (through the CLI, which rebuilds the quantized network
    from the project's saved calibration rows) is bit-exact with predict."""
    from fastinference.verify.csim import run_csim
    _, X_te, _, _ = data
    x = X_te[:40]
    np.save(tmp_path / "x.npy", x)
    rc, out, err = run_cli("compile", model, "--calibration", CALIB, "--out", tmp_path / "p", "--backend", "hls")
    assert rc == 0, err
    rep = json.loads((tmp_path / "p" / "report.json").read_text())
    assert rep["ptq"]["precision"] and (tmp_path / "p" / "source" / "calibration.npy").is_file()
    net = fi.load(str(model), ptq={"calibration": str(CALIB)})
    want = net.predict(x.reshape((-1,) + net.model.input_shape))
    got = run_csim(tmp_path / "p", x.reshape((-1,) + net.model.input_shape))
    np.testing.assert_array_equal(got, want)
    rc, out, err = run_cli("predict", model, "--calibration", CALIB, "--input", tmp_path / "x.npy",
                           "--output", tmp_path / "s.npy")
    assert rc == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), want)


def test_predict_labels_compares_with_float(tmp_path, data):
    _, X_te, _, y_te = data
    np.save(tmp_path / "x.npy", X_te)
    np.save(tmp_path / "y.npy", y_te)
    rc, out, err = run_cli("predict", MLP, "--calibration", CALIB, "--input", tmp_path / "x.npy",
                           "--output", tmp_path / "s.npy", "--labels", tmp_path / "y.npy")
    assert rc == 0, err
    assert "accuracy" in out and "float model (onnxruntime) accuracy" in out and "argmax agreement" in out


def test_inspect_shows_bits_and_error():
    rc, out, err = run_cli("inspect", CNN, "--calibration", CALIB)
    assert rc == 0, err
    assert "post-training quantization" in out and "rms err" in out
    rc, out, err = run_cli("inspect", CNN, "--calibration", CALIB, "--json")
    p = json.loads(out)["ptq"]
    assert [r["act_bits"] for r in p["layers"]] == [8, 8, None]
    assert all(0 <= r["rel_error"] < 0.05 for r in p["layers"])
    assert p["agreement_calibration"] >= 0.99


def test_calib_percentile_clips_the_range():
    X = np.load(CALIB)
    full = fi.load(str(MLP), ptq={"calibration": X}).ptq
    pct = fi.load(str(MLP), ptq={"calibration": X, "calib_percentile": 99.0}).ptq
    assert pct.summary()["scale"] == "percentile 99" and full.summary()["scale"] == "max"
    for a, b in zip(full.layers[:-1], pct.layers[:-1]):
        assert b["act_scale"] < a["act_scale"]


def test_precision_file(tmp_path):
    names = [r["name"] for r in json.loads(run_cli("inspect", MLP, "--calibration", CALIB, "--json")[1])["ptq"]["layers"]]
    prec = {names[0]: {"weight_bits": 4, "act_bits": 3}, names[2]: {"weight_bits": 6}}
    (tmp_path / "p.json").write_text(json.dumps(prec))
    rc, out, err = run_cli("compile", MLP, "--calibration", CALIB, "--precision", tmp_path / "p.json",
                           "--out", tmp_path / "o", "--backend", "hls")
    assert rc == 0, err
    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    assert rep["ptq"]["precision"] == {names[0]: {"weight_bits": 4, "act_bits": 3},
                                       names[1]: {"weight_bits": 8, "act_bits": 8}, names[2]: {"weight_bits": 6}}
    layers = {l["name"]: l for l in rep["layers"]}
    assert layers[names[0]]["weight_bits"] == 4 and layers[names[0]]["output_bits"] == 3
    assert layers[names[1]]["input_bits"] == 3 and layers[names[2]]["weight_bits"] == 6


def test_act_bits_auto(tmp_path, data):
    rc, out, err = run_cli("compile", CNN, "--calibration", CALIB, "--act-bits", "auto", "--out", tmp_path / "o",
                           "--backend", "hls")
    assert rc == 0, err
    p = json.loads((tmp_path / "o" / "report.json").read_text())["ptq"]
    assert p["act_bits_mode"] == "auto" and p["agreement_calibration"] >= 0.99
    bits = [r["act_bits"] for r in p["layers"][:-1]]
    assert all(2 <= b <= 8 for b in bits) and min(bits) < 8  # it found fewer than 8 bits somewhere
    # greedy: one bit less on the first searched layer (the rest as chosen) falls below the target
    tried = [t for t in p["auto_tried"] if t["layer"] == p["layers"][0]["name"]]
    assert tried[-1]["act_bits"] == bits[0] and all(t["agreement"] < 0.99 for t in tried[:-1])
    # the reference agrees as well as the simulation said
    X_tr = np.load(CALIB)
    net = fi.load(str(CNN), ptq={"calibration": X_tr, "precision": p["precision"]})
    f = onnx_float_scores(str(CNN), X_tr)
    assert float((net.predict(X_tr.reshape(-1, 1, 8, 8)).argmax(1) == f.argmax(1)).mean()) >= 0.99


# ------------------------------------------------------------------------------------ bad input
def test_float_model_without_calibration(tmp_path):
    for cmd in (["inspect", MLP], ["predict", MLP, "--input", CALIB, "--output", tmp_path / "s.npy"],
                ["compile", MLP, "--out", tmp_path / "o"]):
        rc, out, err = run_cli(*cmd)
        assert_user_error(rc, err, "float model", "--calibration")
    assert not (tmp_path / "o").exists() and not (tmp_path / "s.npy").exists()


@pytest.mark.parametrize("bad, needle", [
    (np.zeros((20, 63)), "shape"),
    (np.zeros((20, 64), dtype=bool), "dtype"),
    (np.full((20, 64), np.nan), "finite"),
    (np.zeros((5, 64)), "at least 8"),
    (np.full((20, 64), 0.5), "not an integer"),
    (np.full((20, 64), 300), "does not fit"),
], ids=["shape", "dtype", "nan", "few_rows", "fraction", "range"])
def test_bad_calibration(tmp_path, bad, needle):
    np.save(tmp_path / "c.npy", bad)
    rc, out, err = run_cli("compile", MLP, "--calibration", tmp_path / "c.npy", "--out", tmp_path / "o")
    assert_user_error(rc, err, "--calibration", needle)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("opts, needle", [
    (["--weight-bits", "9"], "--weight-bits"),
    (["--act-bits", "1"], "--act-bits"),
    (["--act-bits", "many"], "--act-bits"),
    (["--calib-percentile", "120"], "--calib-percentile"),
    (["--precision", "PREC"], "no layer 'nope'"),
], ids=["wbits", "abits", "abits_word", "percentile", "precision_name"])
def test_bad_options(tmp_path, opts, needle):
    (tmp_path / "p.json").write_text(json.dumps({"nope": {"weight_bits": 4}}))
    opts = [str(tmp_path / "p.json") if o == "PREC" else o for o in opts]
    rc, out, err = run_cli("inspect", MLP, "--calibration", CALIB, *opts)
    assert_user_error(rc, err, needle)


def _dead_layer_model(path):
    """A float MLP whose first hidden layer is 0 after its ReLU on small inputs (bias -50),
    yet positive for inputs near 255."""
    rng = np.random.default_rng(1)
    g = GraphBuilder((6,))
    g.gemm(rng.uniform(0.05, 0.3, (5, 6)).astype(np.float32), np.full(5, -50.0, np.float32))
    g.op("Relu")
    g.gemm(rng.normal(0, 1, (3, 5)).astype(np.float32), np.zeros(3, np.float32))
    return g.save(path)


def test_zero_range_layer_warns_and_stays_exact(tmp_path):
    from fastinference.verify.csim import run_csim
    path = _dead_layer_model(tmp_path / "dead.onnx")
    np.save(tmp_path / "c.npy", np.random.default_rng(0).integers(0, 16, (32, 6)))
    rc, out, err = run_cli("compile", path, "--calibration", tmp_path / "c.npy", "--out", tmp_path / "o",
                           "--backend", "hls")
    assert rc == 0, err
    assert "warning:" in err and "range zero" in err and "gemm" in err
    # large inputs reach the dead layer's nonzero levels: reference == PTQ simulation == csim
    net = fi.load(str(path), ptq={"calibration": str(tmp_path / "c.npy")})
    x = np.random.default_rng(2).integers(0, 256, (64, 6))
    want = net.predict(x)
    np.testing.assert_array_equal(simulate(net.source, x.astype(np.float32))[0], want)
    assert np.ptp(want) > 0
    np.testing.assert_array_equal(run_csim(tmp_path / "o", x), want)


@pytest.mark.slow
@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
@pytest.mark.parametrize("model", [MLP, CNN], ids=["mlp", "cnn"])
def test_rtl_sim_equals_predict(tmp_path, data, model, simulator):
    """The float models through the RTL backend: sim == predict, cycles = bound."""
    _, X_te, _, _ = data
    np.save(tmp_path / "x.npy", X_te[:8])
    rc, out, err = run_cli("compile", model, "--calibration", CALIB, "--out", tmp_path / "p", "--backend", "rtl")
    assert rc == 0, err
    rc, out, err = run_cli("sim", tmp_path / "p", "--input", tmp_path / "x.npy", "--output", tmp_path / "s.npy",
                           "--simulator", simulator, "--report", tmp_path / "r.json")
    assert rc == 0, err + out
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["mismatches"] == 0 and r["cycles_per_inference"] == r["bound_cycles"]
