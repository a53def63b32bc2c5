"""Where the data folders shipped with fastinference are: the one place that knows.

The source tree keeps them at the top level (``hls_templates/``, ``rtl_templates/``, ``sim/``,
``constraints/``); ``setup.py`` maps each to the data package ``fastinference._data.<name>``, so
a wheel (or ``pip install .``) holds them under ``site-packages/fastinference/_data/``, found
with ``importlib.resources``. From the source tree (an editable install, or no install at all)
the top-level folder next to the package is used: setuptools' editable finder cannot import a
namespace package nested in a regular one, so ``fastinference._data`` is not importable there.
"""
from __future__ import annotations

import importlib.util
from importlib import resources
from pathlib import Path

from .errors import ToolError

#: the data folders, by their name in the source tree
DATA_DIRS = ("hls_templates", "rtl_templates", "sim", "constraints")
_PACKAGE = "fastinference._data"


def data_dir(name: str) -> Path:
    """The folder holding data set ``name`` (one of :data:`DATA_DIRS`) on the file system."""
    if name not in DATA_DIRS:
        raise ValueError(f"unknown data folder {name!r}; one of {', '.join(DATA_DIRS)}")
    pkg = f"{_PACKAGE}.{name}"
    for cand in _candidates(pkg):
        if cand.is_dir() and any(cand.iterdir()):
            return cand
    src = Path(__file__).resolve().parents[1] / name  # a source checkout, not installed
    if src.is_dir():
        return src
    raise ToolError(f"fastinference's {name}/ folder is missing from the installation "
                    f"(package {pkg}); reinstall fastinference")


def _candidates(pkg: str) -> list[Path]:
    try:
        ref = resources.files(pkg)
    except (ModuleNotFoundError, TypeError):
        return []
    if isinstance(ref, Path):  # a regular package on the file system
        return [ref]
    # a namespace package (the folders have no __init__.py): importlib.resources gives a
    # MultiplexedPath, which Python 3.11 cannot turn into one folder; take the spec's location
    spec = importlib.util.find_spec(pkg)
    return [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []


def hls_templates() -> Path:
    return data_dir("hls_templates")


def rtl_templates() -> Path:
    return data_dir("rtl_templates")


def sim_dir() -> Path:
    return data_dir("sim")


def constraints_dir() -> Path:
    return data_dir("constraints")
