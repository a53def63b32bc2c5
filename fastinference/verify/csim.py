"""C simulation of ``DIR/hls`` with g++: build once (cached by source hash), run on vectors.

``run_csim(project_dir, x)`` -> int64 scores ``(N, classes)``. The binary lives in
``DIR/hls/build/csim-<hash>/tb``; the hash covers every ``*.cpp``/``*.h`` in ``DIR/hls``, the
flags and the compiler, so an unchanged project is compiled once.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..errors import BadInputError, ToolError, VerificationError

CXX = "g++"
CXXFLAGS = ["-std=c++17", "-O2", "-Wall", "-Werror", "-Wno-unknown-pragmas",
            "-Wno-uninitialized", "-Wno-maybe-uninitialized"]
LOG_TAIL = 25

__all__ = ["run_csim", "build", "ap_types_dir"]


def ap_types_dir() -> Path:
    """The ap_types folder of the installed hls4ml package (ap_int.h, Apache-2.0)."""
    try:
        import hls4ml  # noqa: PLC0415 (imported lazily: it is heavy)
    except Exception as e:  # pragma: no cover - depends on the environment
        raise ToolError(f"hls4ml is not importable ({e}); it provides ap_int.h: "
                        "run `make setup` or `pip install hls4ml`") from None
    d = Path(hls4ml.__file__).resolve().parent / "templates" / "vivado" / "ap_types"
    if not (d / "ap_int.h").is_file():
        raise ToolError(f"ap_int.h not found in {d}; reinstall hls4ml")
    return d


def _tail(text: str, n: int = LOG_TAIL) -> str:
    lines = text.strip().splitlines()
    return "\n".join(lines[-n:])


def _compiler_id(cxx: str) -> str:
    path = shutil.which(cxx)
    if path is None:
        raise ToolError(f"{cxx} not found on PATH; C simulation needs a C++17 compiler "
                        "(Debian: apt-get install g++)")
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ToolError(f"{cxx} --version failed: {e}") from None
    return path + "\n" + out.stdout.splitlines()[0] if out.stdout else path


def _sources(hls_dir: Path) -> tuple[list[Path], list[Path]]:
    if not hls_dir.is_dir():
        raise ToolError(f"{hls_dir} does not exist; run `fastinference compile` first")
    cpps = sorted(hls_dir.glob("*.cpp"))
    hdrs = sorted(hls_dir.glob("*.h"))
    if not any(p.name == "tb.cpp" for p in cpps) or len(cpps) < 2:
        raise ToolError(f"{hls_dir} holds no HLS project (tb.cpp and the top .cpp); "
                        "run `fastinference compile --backend hls` first")
    return cpps, hdrs


PCH_ENV = "FI_CSIM_PCH_DIR"
PCH_HEADER = """// fastinference C simulation: precompiled ap_int.h and the C++ library headers
#include <ap_int.h>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>
"""


def _precompiled_header(cxx: str, flags: list[str], inc: Path, key: str) -> Path | None:
    """With ``$FI_CSIM_PCH_DIR`` set (the tests do), a precompiled ap_int.h shared by every
    build with the same compiler and flags: it saves about a second per translation unit.
    Returns the header to ``-include`` (g++ picks up its ``.gch``), or None."""
    root = os.environ.get(PCH_ENV)
    if not root:
        return None
    d = Path(root).resolve() / f"pch-{key}"
    hdr = d / "fi_pch.h"
    if (d / "fi_pch.h.gch").is_file():
        return hdr
    d.mkdir(parents=True, exist_ok=True)
    if not hdr.is_file() or hdr.read_text() != PCH_HEADER:
        tmp_h = d / f"fi_pch.h.{os.getpid()}.tmp"
        tmp_h.write_text(PCH_HEADER)
        os.replace(tmp_h, hdr)
    tmp = d / f"fi_pch.{os.getpid()}.gch.tmp"
    r = subprocess.run([cxx, *flags, "-isystem", str(inc), "-x", "c++-header", str(hdr),
                        "-o", str(tmp)], capture_output=True, text=True)
    if r.returncode != 0:
        tmp.unlink(missing_ok=True)
        return None  # the plain build still works
    os.replace(tmp, d / "fi_pch.h.gch")
    return hdr


def build(hls_dir, extra_flags: list[str] | None = None, cxx: str = CXX) -> Path:
    """Compile the project in ``hls_dir`` (= ``DIR/hls``) unless an identical build exists;
    returns the testbench binary. Translation units compile in parallel."""
    hls_dir = Path(hls_dir).resolve()
    cpps, hdrs = _sources(hls_dir)
    flags = CXXFLAGS + list(extra_flags or [])
    inc = ap_types_dir()
    h = hashlib.sha256()
    h.update(_compiler_id(cxx).encode())
    h.update("\0".join(flags).encode())
    h.update(str(inc).encode())
    tool_key = h.hexdigest()[:16]
    for p in cpps + hdrs:
        h.update(b"\0" + p.name.encode() + b"\0" + p.read_bytes())
    out_dir = hls_dir / "build" / f"csim-{h.hexdigest()[:16]}"
    exe = out_dir / "tb"
    if exe.is_file():
        return exe
    out_dir.mkdir(parents=True, exist_ok=True)
    # a model wider than 1024 bits sets AP_INT_MAX_W before ap_int.h: no precompiled header
    wide = any(b"#define AP_INT_MAX_W" in p.read_bytes() for p in hdrs)
    pch = None if wide else _precompiled_header(cxx, flags, inc, tool_key)
    pre = ["-include", str(pch)] if pch is not None else []
    tag = os.getpid()
    objs, procs, logs = [], [], [" ".join([cxx, *flags, "-isystem", str(inc), *pre])]
    try:
        for p in cpps:
            obj = out_dir / f"{p.stem}.{tag}.o"
            objs.append(obj)
            cmd = [cxx, *flags, "-isystem", str(inc), *pre, "-c", p.name, "-o", str(obj)]
            procs.append((p.name, subprocess.Popen(cmd, cwd=hls_dir, stdout=subprocess.PIPE,
                                                   stderr=subprocess.STDOUT, text=True)))
    except OSError as e:
        raise ToolError(f"cannot run {cxx}: {e}") from None
    failed = False
    for name, proc in procs:
        out, _ = proc.communicate()
        logs.append(f"--- {name} (exit {proc.returncode})\n{out}")
        failed |= proc.returncode != 0
    tmp = out_dir / f"tb.{tag}.tmp"
    if not failed:
        r = subprocess.run([cxx, *[str(o) for o in objs], "-o", str(tmp)],
                           capture_output=True, text=True)
        logs.append(f"--- link (exit {r.returncode})\n{r.stdout}{r.stderr}")
        failed = r.returncode != 0
    for o in objs:
        o.unlink(missing_ok=True)
    log = "\n".join(logs)
    (out_dir / "build.log").write_text(log)
    if failed:
        tmp.unlink(missing_ok=True)
        raise ToolError(f"g++ failed to build the C simulation of {hls_dir}; "
                        f"last lines of {out_dir / 'build.log'}:\n{_tail(log)}")
    os.replace(tmp, exe)  # atomic: parallel builds of the same project are safe
    return exe


def _input_spec(project_dir: Path):
    """(shape, bits, signed) from report.json, or None when there is none."""
    rep = project_dir / "report.json"
    if not rep.is_file():
        return None
    try:
        inp = json.loads(rep.read_text())["input"]
        return tuple(inp["shape"]), int(inp["bits"]), bool(inp["signed"])
    except (ValueError, KeyError, TypeError):
        return None


def _check_x(project_dir: Path, x) -> np.ndarray:
    spec = _input_spec(project_dir)
    if spec is None:
        x = np.asarray(x)
        if x.dtype.kind not in "iub":
            if x.dtype.kind != "f" or not np.all(x == np.round(x)):
                raise BadInputError("input values must be integers")
        x = x.astype(np.int64)
        return x.reshape(x.shape[0], int(np.prod(x.shape[1:]))) if x.ndim > 1 else x.reshape(1, -1)
    from ..ir import Model
    from ..reference import check_input

    shape, bits, signed = spec
    m = Model(name="csim", layers=[], input_shape=shape, input_bits=bits, input_signed=signed)
    x = check_input(m, x)
    return x.reshape(x.shape[0], int(np.prod(shape)))


def _out_values(hls_dir: Path) -> int:
    """Scores per inference, from the top header's FI_OUT_VALUES."""
    for h in sorted(hls_dir.glob("*.h")):
        m = re.search(r"FI_OUT_VALUES = (\d+);", h.read_text())
        if m:
            return int(m.group(1))
    raise ToolError(f"{hls_dir}: no header defines FI_OUT_VALUES; rerun `fastinference compile`")


def _write_rows(path: Path, rows: np.ndarray) -> None:
    with open(path, "w") as f:
        for r in rows:
            f.write(" ".join(str(int(v)) for v in r) + "\n")


def run_csim(project_dir, x, expected=None, extra_flags: list[str] | None = None,
             timeout: float | None = None) -> np.ndarray:
    """Run the C simulation of ``DIR/hls`` on ``x`` (N rows of the model's input).

    Returns int64 scores ``(N, classes)``. With ``expected`` (int array (N, classes)) the
    testbench compares too and a difference raises ``VerificationError`` naming the first
    differing row. Build or run failures raise ``ToolError``."""
    project_dir = Path(project_dir)
    hls_dir = project_dir / "hls"
    x = _check_x(project_dir, x)
    exe = build(hls_dir, extra_flags)
    if x.shape[0] == 0:
        return np.zeros((0, _out_values(hls_dir)), dtype=np.int64)
    with tempfile.TemporaryDirectory(prefix="csim-", dir=exe.parent) as td:
        td = Path(td)
        _write_rows(td / "input.txt", x)
        exp_arg = "-"
        if expected is not None:
            expected = np.asarray(expected, dtype=np.int64).reshape(x.shape[0], -1)
            _write_rows(td / "expected.txt", expected)
            exp_arg = str(td / "expected.txt")
        out = td / "output.txt"
        try:
            r = subprocess.run([str(exe), str(td / "input.txt"), exp_arg, str(out)],
                               capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ToolError(f"C simulation of {hls_dir} timed out after {timeout} s") from None
        log = r.stdout + r.stderr
        if r.returncode == 1:
            raise VerificationError(f"C simulation differs from the expected scores:\n{_tail(log)}")
        if r.returncode != 0:
            raise ToolError(f"C simulation of {hls_dir} failed (exit {r.returncode}); "
                            f"last lines:\n{_tail(log)}")
        text = out.read_text().split("\n")
    rows = [list(map(int, line.split())) for line in text if line.strip()]
    if len(rows) != x.shape[0] or len({len(r) for r in rows}) > 1:
        raise VerificationError(
            f"C simulation wrote {len(rows)} score rows for {x.shape[0]} inputs")
    return np.array(rows, dtype=np.int64).reshape(x.shape[0], -1)
