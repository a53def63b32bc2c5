"""Shared fixtures: the trained and exported test networks (see fastinference/testing/nets.py).

`nets` (session scope) gives `nets.get(name, exporter)` -> NetCase with the ONNX path, the test
inputs in the model's input shape (`X_test` int64, `X_test_f32` float32, `X_flat` int64 (N, 64))
and `y_test`. A network is trained only when a test asks for it, once per test session: the
exports go to a folder shared by all pytest-xdist workers and a file lock makes the first worker
that needs a network train it while the others wait and then reuse the files.

Set FI_NETS_CACHE=/some/dir to keep the exports across sessions (the folder is keyed by a hash
of fastinference/testing/nets.py and the torch version, so a change to the recipe retrains).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from fastinference.testing import nets as _nets
from fastinference.testing.nets import CASES, EXPORTERS, NAMES, ort_pre_softmax  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class NetCase:
    name: str
    exporter: str
    path: Path
    X_test: np.ndarray      # int64, (N, *input_shape): what the ONNX takes, as integers
    X_test_f32: np.ndarray  # the same as float32
    X_flat: np.ndarray      # int64 (N, 64)
    y_test: np.ndarray      # int64 (N,)
    info: dict              # training stats (train_seconds, torch_test_acc, ...)

    @property
    def id(self) -> str:
        return f"{self.name}-{self.exporter}"


class NetStore:
    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        _, X_te, _, y_te = _nets.load_data()
        self.X_flat, self.y_test = X_te, y_te
        self._mem: dict = {}

    def _ensure(self, name: str) -> dict:
        if name not in _nets.NAMES:
            raise KeyError(f"unknown test network {name!r}; one of {_nets.NAMES}")
        info_path = self.root / f"{name}.json"
        if info_path.exists():
            return json.loads(info_path.read_text())
        with open(self.root / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if info_path.exists():
                    return json.loads(info_path.read_text())
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model, info = _nets.train(name)
                    for exp in _nets.EXPORTERS:
                        tmp = self.root / f".{name}_{exp}.{os.getpid()}.onnx"
                        _nets.export(_nets.to_export_model(model), name, exp, tmp)
                        os.replace(tmp, self.root / f"{name}_{exp}.onnx")
                tmp = info_path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(info))
                os.replace(tmp, info_path)
                return info
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def get(self, name: str, exporter: str) -> NetCase:
        key = (name, exporter)
        if key not in self._mem:
            if exporter not in _nets.EXPORTERS:
                raise KeyError(f"unknown exporter {exporter!r}; one of {_nets.EXPORTERS}")
            info = self._ensure(name)
            shape = _nets.input_shape(name)
            X = self.X_flat.reshape(-1, *shape).astype(np.int64)
            self._mem[key] = NetCase(name, exporter, self.root / f"{name}_{exporter}.onnx", X,
                                     X.astype(np.float32), self.X_flat, self.y_test, info)
        return self._mem[key]

    def __getitem__(self, key) -> NetCase:
        return self.get(*key)


def _cache_root(tmp_path_factory) -> Path:
    env = os.environ.get("FI_NETS_CACHE")
    if env:
        import torch
        h = hashlib.sha256(Path(_nets.__file__).read_bytes() + torch.__version__.encode())
        return Path(env) / h.hexdigest()[:16]
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by all workers of this session
    return base / "fi_nets"


@pytest.fixture(scope="session")
def nets(tmp_path_factory) -> NetStore:
    return NetStore(_cache_root(tmp_path_factory))


@pytest.fixture(scope="session")
def qnet_dir(tmp_path_factory):
    """Where the Brevitas test nets (fastinference.testing.brevitas_nets.make_qnn) are cached:
    one folder for all pytest-xdist workers (make_qnn writes atomically)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    d = root / "qnets"
    d.mkdir(exist_ok=True)
    return d
