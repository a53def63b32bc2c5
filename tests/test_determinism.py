"""Two compiles of the same model with the same options give byte-identical trees, for every
backend, wherever they are written (no timestamps, absolute paths or dict-order effects)."""
from __future__ import annotations

from pathlib import Path

import pytest

from fastinference.project import compile_project

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("model", ["digits_mlp", "digits_cnn"])
@pytest.mark.parametrize("backend", ["hls", "rtl"])
def test_compile_is_byte_identical(tmp_path, model, backend):
    src = EXAMPLES / f"{model}.onnx"
    a, b = tmp_path / "a" / "x", tmp_path / "deeper" / "b" / "x"
    compile_project(str(src), a, backend=backend, target_cycles=128)
    compile_project(str(src), b, backend=backend, target_cycles=128)
    ta, tb = tree(a), tree(b)
    assert ta.keys() == tb.keys()
    for k in ta:
        assert ta[k] == tb[k], k
    for k, v in ta.items():
        assert str(tmp_path).encode() not in v, f"{k} contains an absolute path"
