"""The snapshot folder of a sharded stage (python_tasks/clv/sharded.py, python_tasks/segments/sharded.py):
``<CLV_HOME>/shards/<stage>/<D>/<run>/`` with a manifest, each shard's inputs and each shard's results.

Every folder is written beside its place and swapped in (``io/files.replace_dir``), so a reader sees a whole
snapshot or a whole shard result, never half of one. A shard's result carries the snapshot id it was made
from; the merge takes only results of the current snapshot (docs/adr/0006).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from datetime import date
from pathlib import Path

import pandas as pd

from python_tasks.io.files import partial_path, remove_work_of_dead_writers, replace_dir, write_text_atomic
from python_tasks.settings import get_settings, path_component

log = logging.getLogger(__name__)


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)


def concat_parquet(paths: list[Path]) -> pd.DataFrame:
    """The files' rows one after another (empty parts left out, so their column types do not widen others)."""
    parts = [pd.read_parquet(p) for p in paths]
    kept = [p for p in parts if len(p)] or parts[:1]
    return pd.concat(kept, ignore_index=True)


def _partial(path: Path) -> Path:
    """An empty work folder for ``path`` (work folders of killed writers of ``path`` removed)."""
    partial = partial_path(path)
    shutil.rmtree(partial, ignore_errors=True)
    return partial


class Snapshot:
    """One run's snapshot of a sharded stage for business date D.

    ``stage`` names the folder and the tasks (``clv`` → ``clv.prepare``, ``clv.value``); ``label`` starts the
    messages; ``error`` is the stage's error class; ``verb`` says what a shard did (``valued``)."""

    def __init__(self, stage: str, label: str, day: date, run_id: str, error: type[Exception], verb: str) -> None:
        self.stage, self.label, self.error, self.verb = stage, label, error, verb
        self.folder = get_settings().shards_dir / stage / day.isoformat() / path_component(run_id)

    @staticmethod
    def shard_name(shard: int) -> str:
        return f"shard-{shard:04d}"

    def inputs(self, shard: int, root: Path | None = None) -> Path:
        return (root or self.folder) / "inputs" / self.shard_name(shard)

    def outputs(self, shard: int) -> Path:
        return self.folder / "outputs" / self.shard_name(shard)

    def start(self) -> Path:
        """An empty work folder beside the snapshot's place, for ``publish``."""
        return _partial(self.folder)

    def publish(self, partial: Path, manifest: dict) -> None:
        """Write the manifest, swap the work folder in, and remove snapshots of superseded runs of D (a failed
        run rerun as a new one): the only writer of D runs one run at a time."""
        write_text_atomic(partial / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1))
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        replace_dir(partial, self.folder)
        remove_work_of_dead_writers(self.folder.parent, ".*.partial")  # of any run of D, killed while preparing
        for other in self.folder.parent.iterdir():
            if other.is_dir() and other != self.folder and not other.name.startswith("."):
                log.info("%s: removing the snapshot of an earlier run, %s", self.label, other)
                shutil.rmtree(other, ignore_errors=True)

    def manifest(self, shard: int | None = None) -> dict:
        """The manifest; an error naming the prepare task when there is none, or when ``shard`` is not one of
        its shards."""
        path = self.folder / "manifest.json"
        if not path.exists():
            raise self.error(
                f"no {self.label} shard snapshot at {self.folder}: run the prepare step of this run first "
                f"(task {self.stage}.prepare)"
            )
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if shard is not None and not 0 <= shard < manifest["shards"]:
            raise self.error(f"shard {shard} is not one of the snapshot's {manifest['shards']} shards ({self.folder})")
        return manifest

    def write_result(self, shard: int, manifest: dict, frames: dict[str, pd.DataFrame], record: dict) -> dict:
        """Swap in one shard's result files with ``done.json`` (the record and the snapshot id)."""
        target = self.outputs(shard)
        partial = _partial(target)
        for name, frame in frames.items():
            write_parquet(frame, partial / f"{name}.parquet")
        done = {"snapshot_id": manifest["snapshot_id"], "shard": shard, **record}
        write_text_atomic(partial / "done.json", json.dumps(done))
        replace_dir(partial, target)
        return done

    def finished(self, manifest: dict) -> list[Path]:
        """Every shard's result folder, after checking each finished on this snapshot."""
        missing, stale, found = [], [], []
        for shard in range(manifest["shards"]):
            target = self.outputs(shard)
            done = target / "done.json"
            if not done.exists():
                missing.append(shard)
            elif json.loads(done.read_text(encoding="utf-8"))["snapshot_id"] != manifest["snapshot_id"]:
                stale.append(shard)
            else:
                found.append(target)
        if missing or stale:
            problems = [f"shard(s) {missing} have no results"] if missing else []
            problems += [f"shard(s) {stale} were {self.verb} on an earlier snapshot"] if stale else []
            raise self.error(
                f"{self.label} {manifest['as_of_date']}: {' and '.join(problems)} (snapshot "
                f"{manifest['snapshot_id']}, {self.folder}): run the value step of those shards "
                f"(task {self.stage}.value) before merging"
            )
        return found

    def remove(self) -> None:
        """The snapshot, and the date's folder once no other run's snapshot is in it."""
        shutil.rmtree(self.folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.folder.parent.rmdir()
