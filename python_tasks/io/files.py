"""Files a reader may open at any moment (reports, alerts, Data Docs, evidence, dbt docs): written so that
the reader sees the old version or the new one, never half of one. Standard library only.

A writer killed before its rename (kill -9 of the worker) leaves its temporary file or folder behind, named
after its process. Each path has one writer at a time (the task that owns it), so the next writer of the path
removes what writers no longer running left there (:func:`partial_path`, :func:`replace_dir`).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
from pathlib import Path


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_work_of_dead_writers(folder: Path, pattern: str) -> None:
    """Remove the entries of ``folder`` matching ``pattern`` (work names ending in their writer's process id,
    ``.<name>.<pid>.partial`` or ``.<name>-retired-<pid>``) whose process is no longer running."""
    for stale in folder.glob(pattern):
        pid = re.search(r"[.-](\d+)(?:\.partial)?$", stale.name)
        if pid is None or _running(int(pid.group(1))):
            continue
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


def partial_path(path: Path) -> Path:
    """The temporary name this process writes ``path`` under before renaming it into place
    (``.<name>.<pid>.partial`` beside it), after removing those of earlier writers that died."""
    remove_work_of_dead_writers(path.parent, f".{glob.escape(path.name)}.*.partial")
    return path.with_name(f".{path.name}.{os.getpid()}.partial")


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file beside it and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(path)
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
    return path


def copy_atomic(source: Path, path: Path) -> Path:
    """Copy ``source`` to ``path`` through a temporary file beside it and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(path)
    shutil.copyfile(source, partial)
    os.replace(partial, path)
    return path


def replace_dir(new: Path, old: Path) -> None:
    """Put the folder ``new`` where ``old`` is: a reader sees the old folder or the new one (for a moment
    neither), never a mix of both."""
    remove_work_of_dead_writers(old.parent, f".{glob.escape(old.name)}-retired-*")
    if old.exists():
        retired = old.with_name(f".{old.name}-retired-{os.getpid()}")
        shutil.rmtree(retired, ignore_errors=True)
        old.rename(retired)
        new.rename(old)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        new.rename(old)
