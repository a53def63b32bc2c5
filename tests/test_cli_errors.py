"""Bad input through the real command line: exit 2, one ``error:`` line, no traceback, and
nothing left in --out."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fastinference.testing.graphs import GraphBuilder, non_binary_hidden_net, pm1

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")
MLP = os.path.join(EXAMPLES, "digits_mlp.onnx")


def run_cli(*args, cwd=None):
    p = subprocess.run([sys.executable, "-m", "fastinference", *map(str, args)], capture_output=True,
                       text=True, cwd=cwd, timeout=300)
    return p.returncode, p.stdout, p.stderr


def assert_user_error(rc, err, *needles):
    assert rc == 2, err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.fixture
def small_net(tmp_path):
    rng = np.random.default_rng(0)
    g = GraphBuilder((6,))
    g.gemm(pm1(rng, 5, 6))
    g.bn(np.ones(5), np.zeros(5), np.full(5, 3.0), np.ones(5))
    g.sign()
    g.gemm(pm1(rng, 3, 5))
    g.logsoftmax()
    return g.save(tmp_path / "small.onnx")


def _with_op(tmp_path, op, **attrs):
    rng = np.random.default_rng(0)
    g = GraphBuilder((6,))
    g.gemm(pm1(rng, 5, 6))
    g.op(op, **attrs)
    g.gemm(pm1(rng, 3, 5))
    return g.save(tmp_path / f"{op}.onnx")


def test_missing_file(tmp_path):
    rc, _, err = run_cli("inspect", tmp_path / "nope.onnx")
    assert_user_error(rc, err, "no such file")


def test_non_onnx_file(tmp_path):
    p = tmp_path / "x.onnx"
    p.write_text("this is not a model\n" * 10)
    rc, _, err = run_cli("inspect", p)
    assert_user_error(rc, err, "x.onnx")


def test_truncated_file(tmp_path):
    data = open(MLP, "rb").read()
    p = tmp_path / "t.onnx"
    p.write_bytes(data[: len(data) // 2])
    rc, _, err = run_cli("predict", p, "--input", os.path.join(EXAMPLES, "digits_test_x.npy"),
                         "--output", tmp_path / "s.npy")
    assert_user_error(rc, err, "t.onnx")
    assert not (tmp_path / "s.npy").exists()


def test_empty_file(tmp_path):
    p = tmp_path / "e.onnx"
    p.write_bytes(b"")
    rc, _, err = run_cli("inspect", p)
    assert_user_error(rc, err, "empty")


@pytest.mark.parametrize("op", ["Sigmoid", "Tanh", "Softplus"])
def test_unsupported_op_names_node_and_op(tmp_path, op):
    rc, _, err = run_cli("inspect", _with_op(tmp_path, op))
    assert_user_error(rc, err, f"{op}_2", op, "supported")


def test_lstm_is_unsupported(tmp_path):
    from onnx import helper, TensorProto, numpy_helper
    import onnx
    W = numpy_helper.from_array(np.zeros((1, 8, 3), np.float32), "W")
    R = numpy_helper.from_array(np.zeros((1, 8, 2), np.float32), "R")
    n = helper.make_node("LSTM", ["x", "W", "R"], ["y"], name="my_lstm", hidden_size=2)
    g = helper.make_graph([n], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 1, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [W, R])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, tmp_path / "lstm.onnx")
    rc, _, err = run_cli("inspect", tmp_path / "lstm.onnx")
    assert rc == 2 and err.startswith("error: ") and "Traceback" not in err


def test_non_binary_hidden_layer(tmp_path):
    path = non_binary_hidden_net(tmp_path / "nb.onnx", np.random.default_rng(1))
    rc, _, err = run_cli("inspect", path)
    assert_user_error(rc, err, "Gemm_", "binary weights")


def test_non_integer_inputs(tmp_path, small_net):
    x = np.zeros((4, 6), np.float32)
    x[2, 3] = 0.5
    np.save(tmp_path / "x.npy", x)
    rc, _, err = run_cli("predict", small_net, "--input", tmp_path / "x.npy", "--output", tmp_path / "s.npy")
    assert_user_error(rc, err, "row 2, column 3", "not an integer")


def test_inputs_that_do_not_fit(tmp_path, small_net):
    x = np.zeros((4, 6), np.int64)
    x[1, 0] = 300
    np.save(tmp_path / "x.npy", x)
    rc, _, err = run_cli("predict", small_net, "--input", tmp_path / "x.npy", "--output", tmp_path / "s.npy")
    assert_user_error(rc, err, "row 1, column 0", "300", "8-bit")
    x[1, 0] = -1
    np.save(tmp_path / "x.npy", x)
    rc, _, err = run_cli("predict", small_net, "--input", tmp_path / "x.npy", "--output", tmp_path / "s.npy")
    assert_user_error(rc, err, "row 1, column 0", "-1")
    rc, _, err = run_cli("predict", small_net, "--input", tmp_path / "x.npy", "--output", tmp_path / "s.npy",
                         "--input-signed")
    assert rc == 0, err


def test_wrong_input_shape(tmp_path, small_net):
    np.save(tmp_path / "x.npy", np.zeros((4, 7)))
    rc, _, err = run_cli("predict", small_net, "--input", tmp_path / "x.npy", "--output", tmp_path / "s.npy")
    assert_user_error(rc, err, "(N, 6)")


def test_bad_option_values(tmp_path, small_net):
    rc, _, err = run_cli("predict", small_net, "--input", "x.npy", "--output", "s.npy", "--input-bits", "0")
    assert_user_error(rc, err, "--input-bits")
    rc, _, err = run_cli("compile", small_net, "--out", tmp_path / "o", "--target-cycles", "zero")
    assert_user_error(rc, err, "--target-cycles")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("cfg,needle", [
    ({"nope": {"pe": 1, "simd": 1}}, "unknown layer 'nope'"),
    ({"L0": {"pe": 6, "simd": 1}}, "pe=6"),
    ({"L0": {"pe": 0, "simd": 1}}, "pe=0"),
    ({"L0": {"pe": 1, "simd": 7}}, "simd=7"),
    ({"L0": {"pe": 1.5, "simd": 1}}, "pe=1.5"),
])
def test_bad_folding_leaves_nothing(tmp_path, small_net, cfg, needle):
    import fastinference as fi
    first = fi.load(small_net).layers[0].name
    cfg = {(first if k == "L0" else k): v for k, v in cfg.items()}
    (tmp_path / "f.json").write_text(json.dumps(cfg))
    rc, _, err = run_cli("compile", small_net, "--out", tmp_path / "o", "--fold-config", tmp_path / "f.json")
    assert_user_error(rc, err, needle.replace("L0", first))
    assert not (tmp_path / "o").exists()
    assert [p for p in os.listdir(tmp_path) if p.startswith(".o.")] == []


def test_target_cycles_too_small_for_conv(tmp_path):
    rc, _, err = run_cli("compile", os.path.join(EXAMPLES, "digits_cnn.onnx"), "--out", tmp_path / "o",
                         "--target-cycles", "2", "--backend", "hls")
    assert_user_error(rc, err, "output pixels", "--target-cycles")
    assert not (tmp_path / "o").exists()


def test_out_not_empty_needs_force(tmp_path, small_net):
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    rc, _, err = run_cli("compile", small_net, "--out", out)
    assert_user_error(rc, err, "--force")
    assert (out / "keep.txt").read_text() == "mine"


def test_help_explains_options():
    rc, out, _ = run_cli("compile", "--help")
    assert rc == 0
    for opt in ("--fold-config", "--target-cycles", "--input-bits", "--part", "--clock-ns", "Default"):
        assert opt in out


def test_closed_output_pipe_is_not_a_crash(tmp_path, small_net):
    # `fastinference compile ... | head -1`: the reader quits before the summary lines; one
    # line on stderr and the shell's SIGPIPE status, not an "internal error" with a crash file
    r, w = os.pipe()
    os.close(r)
    p = subprocess.run([sys.executable, "-m", "fastinference", "compile", str(small_net), "--out",
                        str(tmp_path / "o"), "--backend", "hls"], stdout=w, stderr=subprocess.PIPE, text=True)
    os.close(w)
    assert p.returncode == 141, p.stderr
    assert p.stderr.strip() == "error: output pipe closed before the command finished"
