"""Where the serving state lives, and the one way to read the serving database.

``<CLV_HOME>/serving/clv_serving.duckdb`` is written only by the publish job, as a new file renamed over
the old one; nothing ever opens it read-write. A ``.wal`` beside it can therefore only be left by someone
who did (a BI tool configured read-write, a hand-run ``duckdb`` CLI): DuckDB 1.5 would replay it silently
into whatever file now has that name, 2.0 refuses to open. Readers here refuse it; the next publish
removes it with a warning.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from python_tasks.settings import Settings, get_settings

SERVING_FILE = "clv_serving.duckdb"
#: the on-disk format of the serving file: DuckDB 1.4 and later read it (BI tools embed 1.x drivers)
STORAGE_VERSION = "v1.4.0"


class StaleWalError(RuntimeError):
    """A write-ahead log lies beside the serving database: someone opened it read-write."""


@dataclass(frozen=True)
class ServingPaths:
    root: Path

    @property
    def database(self) -> Path:
        return self.root / SERVING_FILE

    @property
    def wal(self) -> Path:
        return wal_path(self.database)

    @property
    def parquet(self) -> Path:
        """``parquet/<table>/as_of_date=YYYY-MM-DD/part-0.parquet``"""
        return self.root / "parquet"

    @property
    def staging(self) -> Path:
        """Work folder of a publish in progress (never read by BI; removed by the next publish)."""
        return self.root / ".staging"

    @property
    def lock(self) -> Path:
        return self.root / ".publish.lock"

    def temp_database(self, tag: str) -> Path:
        return self.root / f".clv_serving.{tag}.duckdb.tmp"


def serving_paths(settings: Settings | None = None) -> ServingPaths:
    return ServingPaths((settings or get_settings()).home / "serving")


def wal_path(database: Path) -> Path:
    return database.with_name(database.name + ".wal")


@contextmanager
def open_serving(path: Path | None = None, *, read_only: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the serving database (default: this deployment's).

    Refuses read-write (the file is replaced, never modified) and refuses a file with a stale ``.wal``.
    DuckDB shares one database instance per file within a process: close every connection to the old
    file before reconnecting to see a newer publish.
    """
    if not read_only:
        raise ValueError(
            "the serving database is never opened read-write: it is replaced as a whole by the publish job "
            "(python_tasks.serving.publish.run_publish); open it read-only"
        )
    path = path or serving_paths().database
    if not path.exists():
        raise FileNotFoundError(f"no serving database at {path}: nothing has been published yet")
    wal = wal_path(path)
    if wal.exists():
        raise StaleWalError(
            f"{wal} lies beside the serving database: something opened it read-write. Refusing to read it "
            "(DuckDB 1.5 would replay the log silently, 2.0 refuses); the next publish removes the log, or "
            "remove it by hand after stopping whatever wrote it. BI tools must open the file read-only."
        )
    con = duckdb.connect(str(path), read_only=True)
    try:
        yield con
    finally:
        con.close()
