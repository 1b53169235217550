"""Parquet exports of the BI tables, one folder per table and business date:
``<serving>/parquet/<table>/as_of_date=YYYY-MM-DD/part-0.parquet`` (Hive partitioning; the partition
column lives in the path, not in the file).

A table partitioned by date gets one partition per business date it covers; a snapshot table (``clients``,
``current_client_value``) gets the whole table as published by the run of D in D's partition. Partitions
are written under the publish's staging folder, checked, and only then renamed into place, so a reader
listing ``parquet/<table>/`` never meets a half-written file and a failed publish changes nothing. A rerun
of D replaces D's partitions (and fills any partition a table lacks, e.g. after the exports were added).
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from python_tasks.serving.bi_schema import BI_SCHEMA, PARTITION_BY_DATE, BiTable

log = logging.getLogger(__name__)

PART_FILE = "part-0.parquet"


@dataclass(frozen=True)
class Partition:
    table: str
    as_of_date: date
    rows: int
    staged: Path
    target: Path


@dataclass
class ParquetPlan:
    """Partitions staged for this publish, and partitions of dates BI no longer covers (to be removed)."""

    partitions: list[Partition] = field(default_factory=list)
    stale: list[Path] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.partitions)


def partition_dir(root: Path, table: str, day: date) -> Path:
    return root / table / f"as_of_date={day.isoformat()}"


def _existing_dates(root: Path, table: str) -> set[date]:
    folder = root / table
    if not folder.is_dir():
        return set()
    dates = set()
    for child in folder.iterdir():
        if child.is_dir() and child.name.startswith("as_of_date="):
            try:
                dates.add(date.fromisoformat(child.name.removeprefix("as_of_date=")))
            except ValueError:
                log.warning("ignoring unexpected folder %s", child)
    return dates


def _quoted(path: Path) -> str:
    return "'" + path.as_posix().replace("'", "''") + "'"


def _write(con: duckdb.DuckDBPyConnection, table: BiTable, day: date | None, path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    order = ", ".join(k for k in table.key if k != "as_of_date") or "ALL"
    if day is None:
        select = f"SELECT * FROM {BI_SCHEMA}.{table.name} ORDER BY {order}"
    else:  # the date comes from a date object; COPY takes no parameters
        select = (
            f"SELECT * EXCLUDE (as_of_date) FROM {BI_SCHEMA}.{table.name} "
            f"WHERE as_of_date = DATE '{day.isoformat()}' ORDER BY {order}"
        )
    con.execute(f"COPY ({select}) TO {_quoted(path)} (FORMAT parquet, COMPRESSION zstd)")
    (rows,) = con.execute(f"SELECT count(*) FROM read_parquet({_quoted(path)})").fetchone()
    return int(rows)


def stage_partitions(
    con: duckdb.DuckDBPyConnection,
    tables: list[BiTable],
    day: date,
    published: list[date],
    staging: Path,
    root: Path,
    expected_rows: dict[str, dict[date | None, int]],
) -> ParquetPlan:
    """Write every partition this publish changes under ``staging`` and check its row count.

    ``con`` reads the new serving file; ``expected_rows`` holds each table's rows per date (``None`` for a
    snapshot), counted in it.
    """
    plan = ParquetPlan()
    for table in tables:
        if table.partition != PARTITION_BY_DATE:
            dates: list[date | None] = [None]
        else:
            covered = (
                set(published)
                if table.published_dates_only
                else {d for d in expected_rows[table.name] if d is not None}
            )
            covered.add(day)
            existing = _existing_dates(root, table.name)
            dates = sorted((covered - existing) | {day})
            plan.stale += [partition_dir(root, table.name, d) for d in sorted(existing - covered)]
        for d in dates:
            part_day = day if d is None else d
            staged = partition_dir(staging, table.name, part_day)
            rows = _write(con, table, d, staged / PART_FILE)
            want = expected_rows[table.name].get(d, 0)
            if rows != want:
                raise RuntimeError(
                    f"Parquet export of bi.{table.name} for {part_day}: {rows} rows written, {want} expected"
                )
            _fsync_file(staged / PART_FILE)
            plan.partitions.append(
                Partition(table.name, part_day, rows, staged, partition_dir(root, table.name, part_day))
            )
    if plan.stale:
        log.warning("Parquet partitions of dates no longer published will be removed: %s", [str(p) for p in plan.stale])
    return plan


class PartitionSwap:
    """Rename staged partitions into place (and stale ones away); undo on failure; clean up after commit."""

    def __init__(self, plan: ParquetPlan, trash: Path) -> None:
        self.plan = plan
        self.trash = trash
        self._log: list[tuple[str, Path, Path | None]] = []  # (action, target, where the old one went)

    def apply(self) -> None:
        self.trash.mkdir(parents=True, exist_ok=True)
        touched: set[Path] = set()
        try:
            for n, stale in enumerate(self.plan.stale):
                away = self.trash / f"stale-{n}"
                os.rename(stale, away)
                self._log.append(("moved_away", stale, away))
                touched.add(stale.parent)
            for n, part in enumerate(self.plan.partitions):
                part.target.parent.mkdir(parents=True, exist_ok=True)
                if part.target.exists():
                    old = self.trash / f"old-{n}"
                    os.rename(part.target, old)
                    self._log.append(("moved_away", part.target, old))
                os.rename(part.staged, part.target)
                self._log.append(("placed", part.target, None))
                touched.add(part.target.parent)
        except BaseException:
            self.undo()
            raise
        for folder in touched | {p.parent for p in touched}:
            _fsync_dir(folder)

    def undo(self) -> None:
        """Take the new partitions out and put every replaced or removed one back (reverse order)."""
        for action, target, old in reversed(self._log):
            try:
                if action == "placed":
                    shutil.rmtree(target)
                elif old is not None:
                    os.rename(old, target)
            except OSError:
                log.exception("could not restore Parquet partition %s", target)
        self._log.clear()

    def discard_old(self) -> None:
        shutil.rmtree(self.trash, ignore_errors=True)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
