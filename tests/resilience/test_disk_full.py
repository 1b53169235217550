"""Disk full during a load: the task fails with a clear message, the previous state (warehouse content, serving
file) stays intact and reopenable, and once space is freed a rerun gives the clean run's tables.

The full disk is real: a folder of a copied deployment is moved onto its own small tmpfs (``mount -t tmpfs``,
root only) holding its content and little more, so DuckDB, the landing copy or the publish meet ENOSPC from the
kernel, at whatever write comes first. Freeing space is a remount with a larger size. Without the right to
mount (not root, no CAP_SYS_ADMIN) the tests skip: limiting the file size with RLIMIT_FSIZE would raise a
different error (EFBIG, SIGXFSZ) on a different call than a full disk does, so it would not test the same thing.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from crash_support import (
    D1,
    PARTS,
    RUN_D1,
    assert_recovered,
    clean_reference,
    parquet_fingerprint,
    serving_fingerprint,
)
from harness import differences, fingerprint

MiB = 1024 * 1024


def _mount(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def can_mount(tmp_path_factory) -> None:
    probe = tmp_path_factory.mktemp("tmpfs_probe")
    done = _mount(["-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)])
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip()}): the disk-full tests need root")
    subprocess.run(["umount", str(probe)], check=True)


@pytest.fixture(scope="module")
def ref(tmp_path_factory, can_mount):
    return clean_reference(tmp_path_factory)


def _used(folder: Path) -> int:
    return shutil.disk_usage(folder).used


@contextmanager
def small_filesystem(folder: Path, free: int) -> Iterator[callable]:
    """``folder`` on its own tmpfs with its content and about ``free`` bytes to spare; yields ``free_space()``,
    which grows the filesystem (what an operator does by deleting files or growing the volume)."""
    content = folder.with_name(folder.name + ".content")
    folder.rename(content)
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512m", "tmpfs", str(folder)], check=True)
    try:
        shutil.copytree(content, folder, dirs_exist_ok=True, symlinks=True)
        shutil.rmtree(content)
        subprocess.run(["mount", "-o", f"remount,size={_used(folder) + free}", str(folder)], check=True)

        def free_space() -> None:
            subprocess.run(["mount", "-o", "remount,size=512m", str(folder)], check=True)

        yield free_space
    finally:
        kept = folder.with_name(folder.name + ".kept")
        shutil.copytree(folder, kept, symlinks=True)
        if subprocess.run(["umount", str(folder)]).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], check=True)
        shutil.rmtree(folder)
        kept.rename(folder)


def _assert_clean_failure(proc: subprocess.CompletedProcess) -> str:
    """Failed as a Python error naming the full disk (not a crash by signal, not a hang)."""
    assert proc.returncode == 1, f"exit {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    tail = proc.stderr[-6000:]
    assert "No space left on device" in tail, tail
    return tail.strip().splitlines()[-1]


def _assert_previous_state(dep, ref, state: str = "d0") -> None:
    """The warehouse opens read-only and holds what it held before the run; the serving file and Parquet too."""
    assert differences(ref.states[state].warehouse, fingerprint(dep.warehouse)) == {}
    assert serving_fingerprint(dep.serving) == ref.states[state].serving
    assert parquet_fingerprint(dep.serving.parent / "parquet") == ref.states[state].parquet


def test_disk_full_during_a_raw_load_fails_cleanly_and_a_rerun_recovers(ref, tmp_path):
    dep = ref.copy("d0", tmp_path / "home")
    with small_filesystem(dep.warehouse.parent, free=0) as free_space:
        proc = dep.run(D1, run_id=RUN_D1, steps=PARTS["ingest"], check=False)
        last = _assert_clean_failure(proc)
        print("error:", last)
        _assert_previous_state(dep, ref)
        free_space()
        dep.run(D1, run_id=RUN_D1, steps=PARTS["ingest"])
        assert_recovered(dep, ref, "ingest")


#: (folder on the small filesystem, bytes to spare, the part of D1 that runs into it)
SLOW = [
    ("warehouse", 256 * 1024, "ingest"),
    ("warehouse", 2 * MiB, "ingest"),
    ("landing", 0, "ingest"),
    ("serving", 0, "d1"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("folder", "free", "part"), SLOW, ids=[f"{f}-{n // 1024}k" for f, n, _ in SLOW])
def test_disk_full_then_the_whole_date_again(ref, tmp_path, folder, free, part):
    before = {"ingest": "d0", "d1": "merge"}[part]
    dep = ref.copy(before, tmp_path / "home")
    steps = [s for p in list(PARTS)[list(PARTS).index(part) :] for s in PARTS[p]]
    with small_filesystem(dep.home / folder, free=free) as free_space:
        proc = dep.run(D1, run_id=RUN_D1, steps=steps, check=False)
        print("error:", _assert_clean_failure(proc))
        assert serving_fingerprint(dep.serving) == ref.states[before].serving
        assert fingerprint(dep.warehouse), "the warehouse does not reopen"
        free_space()
        dep.run(D1, run_id=RUN_D1, steps=steps)
        assert_recovered(dep, ref)
