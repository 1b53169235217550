"""Files a reader may open at any moment (reports, alerts, Data Docs, evidence, dbt docs): written so that
the reader sees the old version or the new one, never half of one. Standard library only."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file beside it and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
    return path


def copy_atomic(source: Path, path: Path) -> Path:
    """Copy ``source`` to ``path`` through a temporary file beside it and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    shutil.copyfile(source, partial)
    os.replace(partial, path)
    return path


def replace_dir(new: Path, old: Path) -> None:
    """Put the folder ``new`` where ``old`` is: a reader sees the old folder or the new one (for a moment
    neither), never a mix of both."""
    if old.exists():
        retired = old.with_name(f".{old.name}-retired-{os.getpid()}")
        shutil.rmtree(retired, ignore_errors=True)
        old.rename(retired)
        new.rename(old)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        new.rename(old)
