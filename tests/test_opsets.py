"""The frontend across exporter opsets: legacy 11, 13, 17, 20 and dynamo 18, 20 of one MLP and
one CNN, each equal to onnxruntime's pre-softmax scores and lowered to the same hardware."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastinference as fi
from fastinference.testing import nets as _nets
from test_backends_on_nets import hardware_signature

VARIANTS = [("legacy", 11), ("legacy", 13), ("legacy", 17), ("legacy", 20), ("dynamo", 18), ("dynamo", 20)]


@pytest.fixture(scope="module", params=["mlp_odd", "cnn"])
def trained(request):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, _ = _nets.train(request.param)
    return request.param, _nets.to_export_model(model)


def test_every_opset_compiles_to_the_same_exact_network(trained, tmp_path):
    name, model_e = trained
    _, X, _, _ = _nets.load_data()
    x = X.reshape(-1, *_nets.input_shape(name)).astype(np.int64)
    sigs = []
    for exporter, opset in VARIANTS:
        path = tmp_path / f"{name}_{exporter}{opset}.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _nets.export(model_e, name, exporter, path, opset=opset)
        net = fi.load(str(path))
        want = _nets.ort_pre_softmax(path, x.astype(np.float32))
        assert np.all(want == np.round(want))
        assert np.array_equal(net.predict(x), want.astype(np.int64)), (exporter, opset)
        sigs.append(hardware_signature(net))
    assert all(s == sigs[0] for s in sigs[1:])
