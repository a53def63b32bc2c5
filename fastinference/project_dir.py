"""A compiled project's folder: written atomically, read back by its report and filelist.

``compile`` writes the folder, ``csim``/``sim``/``synth``/``sweep`` read it: this module is
what they share, so that none of them imports another's command module.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from .errors import BadOptionError


def check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise BadOptionError(f"--out {out} exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not force:
        raise BadOptionError(f"--out {out} exists and is not empty; pass --force to replace it")


class AtomicFolder:
    """``with AtomicFolder(out, force) as tmp:`` write into ``tmp``; on success it becomes
    ``out`` (replacing it), on any exception (Ctrl-C included) ``out`` is untouched."""

    def __init__(self, out: Path, force: bool):
        self.out = Path(out)
        self.force = force

    def __enter__(self) -> Path:
        check_out(self.out, self.force)
        parent = self.out.resolve().parent
        parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.tmp-", dir=parent))
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        old = None
        if self.out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.old-", dir=self.tmp.parent))
            os.replace(self.out, old / "x")
        os.replace(self.tmp, self.out)
        os.chmod(self.out, 0o755)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return False


def load_report(project: str | Path) -> dict:
    p = Path(project) / "report.json"
    if not p.is_file():
        raise BadOptionError(f"{project}: no report.json; is this a folder written by 'fastinference compile'?")
    with open(p) as f:
        return json.load(f)


def read_filelist(rtl: Path) -> list[str]:
    fl = rtl / "filelist.f"
    if not fl.is_file():
        raise BadOptionError(f"{rtl}: no filelist.f; compile with --backend rtl or all first")
    files = [l.strip() for l in fl.read_text().splitlines() if l.strip() and not l.startswith(("#", "//", "+", "-"))]
    return [f for f in files if f.endswith((".sv", ".v"))]
