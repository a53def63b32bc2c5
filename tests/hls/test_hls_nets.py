"""HLS backend on the trained test networks (fastinference/testing/nets.py): the C simulation of the default
folding equals the reference model on all test rows. The *_ties nets hit acc == T thousands of
times (>= vs >, <= vs <), cnn_poolfirst has AND-pooled channels; mlp_ties also has negative BN scales."""
from __future__ import annotations

import pytest

import fastinference
from fastinference.folding import resolve_folding
from test_hls_dense import csim_equals_reference


@pytest.mark.parametrize("name,exporter", [("mlp_ties", "legacy"), ("cnn_ties", "legacy"),
                                           ("cnn_poolfirst", "dynamo")])
def test_trained_net_csim_equals_reference(nets, tmp_path, name, exporter):
    case = nets.get(name, exporter)
    net = fastinference.load(str(case.path))
    folding = resolve_folding(net.model)
    got = csim_equals_reference(net.model, folding, tmp_path, case.X_test)
    assert got.shape == (len(case.X_test), 10)
    # the scores classify like the network (a sanity check, not the criterion)
    assert (got.argmax(1) == case.y_test).mean() > 0.8
