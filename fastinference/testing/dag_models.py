"""Hand-built graphs with skip connections (IR models), shared by the HLS and RTL tests.

``dense_block`` and ``conv_block``: a first layer, a main branch of ``depth`` layers ending in
scores, a shortcut (the first layer's bits, or a projection's scores), an ``AddJoin``, a random
``Threshold`` and a dense score head; ``concat_model``: two branches concatenated.
"""
from __future__ import annotations

import numpy as np

from ..ir import AddJoin, ConcatJoin, Model, Stream, Threshold
from .hls_models import conv, dense


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


def concat_model(rng):
    """int input -> first (bits) -> [a: 6 bits] + [b: 7 bits] -> concat -> head scores."""
    first = dense("first", 16, 10, rng, input_kind="int", bits=3, signed=True)
    a = dense("a", 10, 6, rng)
    a.inputs = ["first"]
    b = dense("b", 10, 7, rng)
    b.inputs = ["first"]
    cat = ConcatJoin(name="cat", source_nodes=["/cat/Concat"], in_shape=(6,), out_shape=(13,),
                     inputs=["a", "b"], in_streams=(Stream("bits", -1, 1), Stream("bits", -1, 1)))
    head = dense("head", 13, 4, rng, scores=True)
    return Model(name="cat", layers=[first, a, b, cat, head], input_shape=(16,), input_bits=3,
                 input_signed=True)
