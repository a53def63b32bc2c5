"""An unexpected exception is a bug: exit 4 (3 is for failing external tools), one line on
stderr that says so, and the full traceback in a file named on that line."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

import fastinference.api
from fastinference import cli

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_internal_error_exits_4_with_one_line_and_a_traceback_file(monkeypatch, tmp_path, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("deliberate failure\nsecond line")

    monkeypatch.setattr(fastinference.api, "load", broken)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    rc = cli.main(["inspect", str(EXAMPLES / "digits_mlp.onnx")])
    err = capsys.readouterr().err
    assert rc == 4
    assert err.endswith("\n") and err.count("\n") == 1, err
    m = re.fullmatch(r"error: internal error \(a bug in fastinference\): "
                     r"RuntimeError: deliberate failure second line; full traceback in (\S+)\n", err)
    assert m, err
    trace = Path(m.group(1))
    assert trace.parent == tmp_path and trace.name.startswith("fastinference-crash-")
    text = trace.read_text()
    assert "Traceback (most recent call last)" in text and "in broken" in text
    assert "RuntimeError: deliberate failure" in text and "inspect" in text


def test_tool_errors_keep_exit_3(monkeypatch, capsys):
    from fastinference.errors import ToolError

    def missing(*args, **kwargs):
        raise ToolError("g++ not found on PATH")

    monkeypatch.setattr(fastinference.api, "load", missing)
    assert cli.main(["inspect", str(EXAMPLES / "digits_mlp.onnx")]) == 3
    assert capsys.readouterr().err == "error: g++ not found on PATH\n"
