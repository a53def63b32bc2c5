"""Unit tests of the frontend and each pass on hand-built ONNX graphs, checked against
onnxruntime (graph optimizations off) bit for bit."""
from __future__ import annotations

import math

import numpy as np
import pytest

import fastinference as fi
from fastinference.errors import UnsupportedModelError
from fastinference.frontend.onnx_reader import read_model
from fastinference.ir import BinaryDense, BinaryMaxPool
from fastinference.passes import cleanup, thresholds
from fastinference.passes.thresholds import closed_form_threshold

from fastinference.testing.graphs import GraphBuilder, non_binary_hidden_net, ort_run, pm1


def _mlp(tmp_path, W1, bn, W2, sign="where", name="m.onnx", softmax=True):
    g = GraphBuilder((W1.shape[1],))
    g.gemm(W1)
    if bn is not None:
        g.bn(*bn)
    g.sign(sign)
    g.gemm(W2)
    pre = g.cur
    if softmax:
        g.logsoftmax()
    return g.save(tmp_path / name), pre


def _check_vs_ort(path, pre, x):
    net = fi.load(path)
    want = ort_run(path, x, pre)
    assert np.all(want == np.round(want))
    got = net.predict(x)
    assert np.array_equal(got, want.astype(np.int64))
    assert np.array_equal(got.argmax(1), ort_run(path, x).argmax(1))
    return net


def test_tie_exactly_at_threshold_is_minus_one(tmp_path):
    # h = x0+x1+x2+x3, mu = 10: h == 10 gives y == 0 exactly, and x > 0 is false there.
    W1 = np.ones((1, 4), np.float32)
    bn = ([1.0], [0.0], [10.0], [1.0])
    W2 = np.ones((1, 1), np.float32)
    path, pre = _mlp(tmp_path, W1, bn, W2, softmax=False)
    net = fi.load(path)
    layer = net.layers[0]
    assert (layer.thresholds[0], layer.directions[0]) == (11, 1)
    x = np.array([[10, 0, 0, 0], [5, 5, 0, 0], [11, 0, 0, 0], [9, 0, 0, 0]])
    assert net.predict(x)[:, 0].tolist() == [-1, -1, 1, -1]
    _check_vs_ort(path, pre, x)


def test_negative_gamma_flips_direction(tmp_path):
    W1 = np.ones((1, 4), np.float32)
    bn = ([-2.0], [0.0], [10.0], [1.0])
    path, pre = _mlp(tmp_path, W1, bn, np.ones((1, 1), np.float32), softmax=False)
    net = fi.load(path)
    # h <= 9 becomes -h >= -9: the sign moves into the weights (canonical form, as FINN)
    assert (net.layers[0].thresholds[0], net.layers[0].directions[0]) == (-9, 1)
    assert net.layers[0].weights.tolist() == [[-1, -1, -1, -1]]
    x = np.array([[10, 0, 0, 0], [9, 0, 0, 0], [0, 0, 0, 0], [255, 255, 255, 255]])
    assert net.predict(x)[:, 0].tolist() == [-1, 1, 1, -1]
    _check_vs_ort(path, pre, x)


@pytest.mark.parametrize("beta,expected", [(0.5, 1), (-0.5, -1), (0.0, -1)])
def test_zero_gamma_is_constant(tmp_path, beta, expected):
    W1 = np.ones((1, 4), np.float32)
    path, pre = _mlp(tmp_path, W1, ([0.0], [beta], [3.0], [1.0]), np.ones((1, 1), np.float32), softmax=False)
    x = np.random.default_rng(0).integers(0, 256, (50, 4))
    net = _check_vs_ort(path, pre, x)
    assert set(net.predict(x)[:, 0].tolist()) == {expected}


def test_scaled_rows_with_mixed_signs_equal_batchnorm(tmp_path):
    """What BatchNorm folding leaves: rows s_j * (+-1) (s_j of either sign) with a float bias."""
    rng = np.random.default_rng(1)
    K, M = 23, 17
    signs = pm1(rng, M, K)
    s = rng.uniform(0.05, 3, M).astype(np.float32) * rng.choice([-1, 1], M).astype(np.float32)
    b = rng.normal(0, 20, M).astype(np.float32)
    W2 = pm1(rng, 10, M)
    g = GraphBuilder((K,))
    g.gemm(signs * s[:, None], b)
    g.sign("initializers")
    g.gemm(W2)
    pre = g.cur
    g.logsoftmax()
    path = g.save(tmp_path / "scaled.onnx")
    x = rng.integers(0, 256, (300, K))
    net = _check_vs_ort(path, pre, x)
    assert isinstance(net.layers[0], BinaryDense)
    assert set(np.unique(net.layers[0].weights)) <= {-1, 1}


def test_matmul_add_and_gemm_attributes(tmp_path):
    rng = np.random.default_rng(2)
    K, M = 12, 9
    g = GraphBuilder((K,))
    g.matmul(pm1(rng, M, K), rng.normal(0, 3, M).astype(np.float32))
    g.bn(rng.uniform(-1, 1, M), rng.normal(0, 1, M), rng.normal(0, 5, M), rng.uniform(0.5, 2, M))
    g.sign()
    g.gemm(pm1(rng, 5, M), np.arange(5, dtype=np.float32), transB=0, alpha=1.0, beta=2.0)
    pre = g.cur
    path = g.save(tmp_path / "mm.onnx")
    _check_vs_ort(path, pre, rng.integers(0, 256, (200, K)))
    assert fi.load(path).layers[-1].bias.tolist() == [0, 2, 4, 6, 8]


def test_closed_form_agrees_with_exhaustive_evaluation(tmp_path):
    rng = np.random.default_rng(3)
    K, M = 16, 40
    gamma = rng.normal(0, 1, M)
    beta, mean, var = rng.normal(0, 1, M), rng.normal(0, 8, M), rng.uniform(0.2, 3, M)
    W1 = pm1(rng, M, K)
    path, _ = _mlp(tmp_path, W1, (gamma, beta, mean, var), pm1(rng, 3, M))
    layer = fi.load(path).layers[0]
    checked = 0
    for j in range(M):
        T, d = closed_form_threshold(gamma[j], beta[j], mean[j], var[j], 1e-5)
        tau = mean[j] - beta[j] * math.sqrt(var[j] + 1e-5) / gamma[j]
        if abs(tau - round(tau)) < 1e-3:
            continue  # within float rounding of an integer: only the exhaustive table is exact
        if d < 0:  # canonical form: negated weight row, direction +1
            T, d = -T, 1
            assert np.array_equal(layer.weights[j], -np.sign(W1[j]).astype(np.int8))
        assert (layer.thresholds[j], layer.directions[j]) == (T, d)
        checked += 1
    assert checked > 30


def test_sign_op_with_reachable_zero_is_rejected(tmp_path):
    W1 = np.ones((1, 2), np.float32)
    path, _ = _mlp(tmp_path, W1, ([1.0], [0.0], [4.0], [1.0]), np.ones((1, 1), np.float32), sign="sign")
    with pytest.raises(UnsupportedModelError, match="Sign gives 0"):
        fi.load(path)


def test_sign_op_without_zero_is_binary(tmp_path):
    W1 = np.ones((1, 2), np.float32)
    path, pre = _mlp(tmp_path, W1, ([1.0], [0.0], [4.5], [1.0]), np.ones((1, 1), np.float32), sign="sign",
                     softmax=False)
    _check_vs_ort(path, pre, np.random.default_rng(0).integers(0, 256, (40, 2)))


def test_maxpool_before_sign_with_negative_scales(tmp_path):
    rng = np.random.default_rng(4)
    C = 6
    g = GraphBuilder((1, 8, 8))
    g.conv(pm1(rng, C, 1, 3, 3), pad=1)
    g.maxpool(2)
    gamma = rng.uniform(0.5, 2, C) * np.array([1, -1] * (C // 2))
    g.bn(gamma, rng.normal(0, 1, C), rng.normal(0, 10, C), rng.uniform(0.5, 2, C))
    g.sign()
    g.flatten()
    g.gemm(pm1(rng, 10, C * 16))
    pre = g.cur
    path = g.save(tmp_path / "poolfirst.onnx")
    net = _check_vs_ort(path, pre, rng.integers(0, 17, (300, 1, 8, 8)))
    pool = next(l for l in net.layers if isinstance(l, BinaryMaxPool))
    assert pool.and_channels is not None and pool.and_channels.tolist() == [False, True] * (C // 2)


def test_cnn_sign_then_pool_then_binary_conv(tmp_path):
    rng = np.random.default_rng(5)
    g = GraphBuilder((1, 8, 8))
    g.conv(pm1(rng, 8, 1, 3, 3), pad=1)
    g.bn(rng.uniform(-2, 2, 8), rng.normal(0, 1, 8), rng.normal(0, 10, 8), rng.uniform(0.5, 2, 8))
    g.sign()
    g.maxpool(2)
    g.conv(pm1(rng, 12, 8, 3, 3), stride=1)
    g.bn(rng.uniform(-2, 2, 12), rng.normal(0, 1, 12), rng.normal(0, 3, 12), rng.uniform(0.5, 2, 12))
    g.sign()
    g.flatten()
    g.gemm(pm1(rng, 10, 48))
    pre = g.cur
    g.logsoftmax()
    path = g.save(tmp_path / "cnn.onnx")
    net = _check_vs_ort(path, pre, rng.integers(0, 17, (300, 1, 8, 8)))
    assert [l.kind for l in net.layers] == ["binary_conv", "binary_maxpool", "binary_conv", "binary_dense"]
    assert net.layers[-1].in_shape == (12, 2, 2)  # the dense layer keeps the NCHW shape it reads


def test_identity_dropout_and_softmax_are_removed(tmp_path):
    rng = np.random.default_rng(6)
    g = GraphBuilder((5,))
    g.op("Identity")
    g.gemm(pm1(rng, 4, 5))
    g.op("Dropout")
    g.bn(*(np.ones(4), np.zeros(4), np.zeros(4), np.ones(4)))
    g.sign()
    g.gemm(pm1(rng, 3, 4))
    pre = g.cur
    g.op("Softmax", axis=1)
    path = g.save(tmp_path / "id.onnx")
    m = read_model(path)
    kinds = [l.kind for l in m.layers]
    assert "identity" in kinds and kinds[-1] == "softmax"
    m2, changed = cleanup.remove_identity(m)
    assert changed and "identity" not in [l.kind for l in m2.layers]
    m3, changed = cleanup.remove_final_softmax(m2)
    assert changed and m3.layers[-1].kind == "gemm"
    _check_vs_ort(path, pre, rng.integers(0, 256, (50, 5)))


def test_canonical_form_is_the_same_for_folded_and_unfolded_batchnorm(tmp_path):
    """Legacy (BN node, negative gamma) and dynamo (BN folded: rows -s * (+-1)) forms of one
    layer compile to identical weights and thresholds."""
    rng = np.random.default_rng(11)
    K, M = 9, 6
    W = pm1(rng, M, K)
    gamma = np.array([1.5, -0.5, 2.0, -1.0, 0.7, -2.2], np.float32)
    beta, mean, var = rng.normal(0, 1, M).astype(np.float32), rng.normal(0, 3, M).astype(np.float32), \
        rng.uniform(0.5, 2, M).astype(np.float32)
    W2 = pm1(rng, 3, M)
    g1 = GraphBuilder((K,))
    g1.gemm(W)
    g1.bn(gamma, beta, mean, var)
    g1.sign()
    g1.gemm(W2)
    a = fi.load(g1.save(tmp_path / "bn.onnx"))
    s = (gamma / np.sqrt(var + np.float32(1e-5))).astype(np.float32)
    g2 = GraphBuilder((K,))
    g2.gemm(W * s[:, None], (beta - mean * s).astype(np.float32))
    g2.sign()
    g2.gemm(W2)
    b = fi.load(g2.save(tmp_path / "folded.onnx"))
    for la, lb in zip(a.layers, b.layers):
        assert np.array_equal(la.weights, lb.weights)
        if la.thresholds is not None:
            assert np.array_equal(la.thresholds, lb.thresholds) and set(la.directions) == {1}


def test_eval_steps_is_float32_in_order():
    acc = np.arange(-3, 4)
    y = thresholds.eval_steps([("mul", np.array([0.1], np.float32)), ("add", np.array([0.3], np.float32))], acc, 1)
    want = (acc.astype(np.float32) * np.float32(0.1)).astype(np.float32) + np.float32(0.3)
    assert y.dtype == np.float32 and np.array_equal(y[0], want.astype(np.float32))


def test_last_layer_with_float_bias_is_rejected(tmp_path):
    rng = np.random.default_rng(7)
    g = GraphBuilder((6,))
    g.gemm(pm1(rng, 4, 6))
    g.bn(np.ones(4), np.zeros(4), np.zeros(4), np.ones(4))
    g.sign()
    g.gemm(pm1(rng, 3, 4), np.array([0.5, 0, 0], np.float32))
    path = g.save(tmp_path / "fb.onnx")
    with pytest.raises(UnsupportedModelError, match="not integers"):
        fi.load(path)


def test_non_binary_hidden_layer_is_rejected_with_node_name(tmp_path):
    path = non_binary_hidden_net(tmp_path / "nb.onnx", np.random.default_rng(8), width=4)
    with pytest.raises(UnsupportedModelError, match=r"Gemm_\d+.*binary weights"):
        fi.load(path)
