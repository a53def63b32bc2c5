"""HLS tests: share one precompiled ap_int.h between all C simulation builds of the session
(all pytest-xdist workers), which saves about a second per compiled file."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _shared_pch(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    old = os.environ.get("FI_CSIM_PCH_DIR")
    os.environ["FI_CSIM_PCH_DIR"] = str(root / "hls-pch")
    yield
    if old is None:
        os.environ.pop("FI_CSIM_PCH_DIR", None)
    else:
        os.environ["FI_CSIM_PCH_DIR"] = old
