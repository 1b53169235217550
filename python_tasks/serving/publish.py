"""Publish the BI tables for business date D, after every error-level gate of D has passed.

One publish = a complete new serving state, swapped in atomically:

1. build a NEW DuckDB file ``<serving>/.clv_serving.<run>.duckdb.tmp`` in storage version v1.4.0 (DuckDB
   1.x drivers read it) with every ``bi`` table, from the warehouse opened read-only; checkpoint, close.
   *Incremental* (the usual daily case): the new file starts as a copy of the current one, and only the
   business dates that changed (D, a date that became publishable, a date held back since) are deleted and
   rebuilt in the tables partitioned by date, while the snapshot and metadata tables are rebuilt whole; so
   a daily publish costs one date's rows and a file copy, not the whole history. *Full* (every table from
   the warehouse) when there is no current file, it was built by other BI definitions or publish code
   (``bi_schema_version``) or under another PII key, it no longer holds the rows its publication recorded,
   or ``CLV_SERVING_FULL_REBUILD`` is set. Both give the same rows; ``bi.publications`` says which it was;
2. verify it: opened read-only, the expected tables with their declared columns and row counts, hashes
   where personal data was, no ``.wal`` beside it;
3. stage the Parquet partitions that change under ``<serving>/.staging/`` and check their row counts;
4. optionally COPY the tables into a new PostgreSQL schema;
5. commit: swap the PostgreSQL schema (one transaction), rename the Parquet partitions into place, remove a
   stale ``.wal`` beside the serving file (logged), fsync and ``os.replace`` the new file over
   ``clv_serving.duckdb``, fsync the folder.

Anything that fails before step 5 leaves the previous serving file, Parquet and PostgreSQL schema as they
were; the Parquet renames are undone if the file swap fails. A reader that holds the old file open keeps
reading the old, complete snapshot (the rename does not touch its open file) and is never blocked; a reader
that reconnects sees the new run. The serving file is never opened read-write.

The serving file holds every published business date (segmented, and no gate's latest evaluation failed
at error level), so a day whose run failed its gates never reaches BI, not even through a later publish.
A rerun of D gives the same tables and replaces D's Parquet partitions and D's row in ``publications``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from time import perf_counter

import duckdb
import pandas as pd

from python_tasks.io import warehouse
from python_tasks.serving import exports, postgres
from python_tasks.serving.bi_schema import (
    BI_SCHEMA,
    PARTITION_BY_DATE,
    PUBLICATIONS,
    BiTable,
    bi_schema_version,
    bi_tables,
)
from python_tasks.serving.database import STORAGE_VERSION, ServingPaths, open_serving, serving_paths, wal_path
from python_tasks.serving.pii import PiiKey, load_pii_key, personal_columns, pseudonymised_clients
from python_tasks.settings import PROJECT_ROOT, Settings, get_settings

log = logging.getLogger(__name__)

_BUILD_CATALOG = "bi_build"
#: DuckDB's spelling of the declared types, as duckdb_columns() reports them
_REPORTED_TYPE = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}


class PublishRefused(RuntimeError):
    """D may not be published (not segmented, or a gate failed); the message says why."""


@dataclass(frozen=True)
class BuiltServing:
    published: list[date]
    #: rows per table, and per table per business date (None: a snapshot table)
    row_counts: dict[str, int]
    date_counts: dict[str, dict[date | None, int]]
    publication: dict


@dataclass(frozen=True)
class CarriedOver:
    """The current serving file as the next publish may start from it: the business dates it publishes and
    its rows per table and date."""

    path: Path
    published: frozenset[date]
    date_counts: dict[str, dict[date | None, int]]


#: set to 1 to rebuild every table from the warehouse instead of carrying the current file's dates over
FULL_REBUILD_VARIABLE = "CLV_SERVING_FULL_REBUILD"


def _day(value: str | date) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _safe_tag(run_id: str) -> str:
    return re.sub(r"[^0-9A-Za-z_.-]+", "_", run_id)[:80] + f".{os.getpid()}"


def code_version() -> str | None:
    """The git commit of the pipeline code, or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def publishable_dates(con: duckdb.DuckDBPyConnection, day: date) -> list[date]:
    """Every business date BI may see: segmented, and no gate's latest evaluation has a failed
    error-level check (the drift gate's notion of a good run). Refuses when D itself is not one."""
    if not warehouse.table_exists(con, "segments", "runs"):
        raise PublishRefused(f"nothing to publish for {day}: no business date has been segmented yet")
    rows = con.execute(
        """
        WITH latest AS (
            SELECT as_of_date, gate, arg_max(run_id, evaluated_at) AS run_id FROM audit.dq_results GROUP BY ALL
        ), failed AS (
            SELECT q.as_of_date, q.gate, any_value(q.run_id) AS run_id, count(*) AS checks
            FROM audit.dq_results AS q
            JOIN latest AS l ON l.as_of_date = q.as_of_date AND l.gate = q.gate AND l.run_id = q.run_id
            WHERE q.severity = 'error' AND NOT q.success
            GROUP BY ALL
        )
        SELECT r.as_of_date, list(f.gate || ' (run ' || f.run_id || ', ' || f.checks || ' failed checks)'
                                  ORDER BY f.gate) FILTER (WHERE f.gate IS NOT NULL)
        FROM segments.runs AS r LEFT JOIN failed AS f ON f.as_of_date = r.as_of_date
        GROUP BY r.as_of_date ORDER BY r.as_of_date
        """
    ).fetchall()
    failures = {d: gates for d, gates in rows if gates}
    if day not in {d for d, _ in rows}:
        raise PublishRefused(f"{day} has not been segmented: run the clv and segments stages (and their gates) first")
    if day in failures:
        raise PublishRefused(
            f"{day} failed its data-quality gates, so it is not published: {'; '.join(failures[day])}. "
            "Fix the data and rerun the day; the serving database keeps the last good state."
        )
    if failures:
        log.info("business dates held back from BI by failed gates: %s", sorted(failures))
    return [d for d, _ in rows if d not in failures]


def segment_label_frames(con: duckdb.DuckDBPyConnection, dates: list[date]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Names of segments and the value × risk matrix per business date, from the segmentation rules each
    run stored with its results (segments.runs.params_json): what was in force on that date."""
    labels, grid = [], []
    for day, text in con.execute(
        "SELECT as_of_date, params_json FROM segments.runs WHERE list_contains($d::DATE[], as_of_date)", {"d": dates}
    ).fetchall():
        params = json.loads(text)
        names = params["labels"]
        for dimension in ("value_tier", "risk_tier", "lifecycle_stage", "usage_pattern"):
            labels += [(day, dimension, code, n["en"], n["zh"]) for code, n in names.get(dimension, {}).items()]
        policies = {code: policy["label"] for code, policy in params["policies"].items()}
        labels += [(day, "strategy", code, n["en"], n["zh"]) for code, n in policies.items()]
        values, risks = names["value_tier"], names["risk_tier"]
        for value, row in params["strategy_matrix"].items():
            for risk, strategy in row.items():
                # the segments stage names a cell "<value> value × <risk> risk" (segments/portfolio.py)
                labels.append((day, "strategy_cell", f"{value} value × {risk} risk",
                               f"{values[value]['en']} × {risks[risk]['en']}",
                               f"{values[value]['zh']} × {risks[risk]['zh']}"))  # fmt: skip
                grid.append((day, value, values[value]["zh"], risk, risks[risk]["zh"], strategy,
                             policies[strategy]["zh"]))  # fmt: skip
    return (
        pd.DataFrame(labels, columns=["as_of_date", "dimension", "segment", "name_en", "name_zh"]),
        pd.DataFrame(
            grid,
            columns=[
                "as_of_date",
                "value_tier",
                "value_tier_zh",
                "risk_tier",
                "risk_tier_zh",
                "strategy",
                "strategy_zh",
            ],
        ),
    )


def _quoted(path: Path) -> str:
    return "'" + path.as_posix().replace("'", "''") + "'"


def _memory_settings(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    con.execute(f"SET memory_limit = '{warehouse.memory_limit()}'")
    con.execute(f"SET temp_directory = {_quoted(warehouse.spill_directory(path))}")


def _insert(con: duckdb.DuckDBPyConnection, table: BiTable, source: str) -> None:
    """Rows of ``source`` (a query or a registered frame) into the new file's table, cast to the declared
    types, in key order (zone maps then skip dates a query filters out)."""
    casts = ", ".join(f"CAST(q.{c.name} AS {c.type}) AS {c.name}" for c in table.columns)
    order = ", ".join(table.key)
    con.execute(
        f"INSERT INTO {_BUILD_CATALOG}.{BI_SCHEMA}.{table.name} SELECT {casts} FROM ({source}) AS q ORDER BY {order}"
    )


def _date_counts(con: duckdb.DuckDBPyConnection, table: BiTable, catalog: str | None) -> dict[date | None, int]:
    name = f"{catalog + '.' if catalog else ''}{BI_SCHEMA}.{table.name}"
    if table.partition != PARTITION_BY_DATE:
        return {None: int(con.execute(f"SELECT count(*) FROM {name}").fetchone()[0])}
    return {d: int(n) for d, n in con.execute(f"SELECT as_of_date, count(*) FROM {name} GROUP BY ALL").fetchall()}


def _declared(table: BiTable) -> list[tuple[str, str]]:
    """(column, type) of a BI table as duckdb_columns() reports them."""
    return [(c.name, _REPORTED_TYPE.get(c.type, c.type)) for c in table.columns]


def _file_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    columns: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in con.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE schema_name = $s "
        "ORDER BY table_name, column_index",
        {"s": BI_SCHEMA},
    ).fetchall():
        columns.setdefault(table, []).append((column, data_type))
    return columns


def _rebuilt_by_date(table: BiTable) -> bool:
    """Whether an incremental publish replaces this table date by date (the value, segment and warning
    history: a date's rows come from that date's warehouse rows only) rather than whole."""
    return table.partition == PARTITION_BY_DATE and table.published_dates_only


def carried_over(paths: ServingPaths, key: PiiKey) -> tuple[CarriedOver | None, str]:
    """The current serving file if the next publish may start from a copy of it; else None and why.

    It may when it was built by the same BI definitions and publish code (``bi_schema_version``) under the
    same PII key and storage version, its tables have the declared columns, and it still holds exactly the
    rows its last publication recorded (a file changed behind the publish's back, by a tool that opened it
    read-write, is rebuilt rather than carried over)."""
    if os.environ.get(FULL_REBUILD_VARIABLE, "").strip().lower() in ("1", "true", "yes"):
        return None, f"{FULL_REBUILD_VARIABLE} is set"
    if not paths.database.exists():
        return None, "there is no serving file yet"
    try:
        with open_serving(paths.database) as con:
            columns = _file_columns(con)
            for table in bi_tables():
                if columns.get(table.name) != _declared(table):
                    return None, f"bi.{table.name} in the current file has other columns than this code declares"
            row = con.execute(
                f"SELECT bi_schema_version, pii_key_id, storage_version, table_row_counts "
                f"FROM {BI_SCHEMA}.{PUBLICATIONS.name} ORDER BY published_at DESC LIMIT 1"
            ).fetchone()
            if row is None:
                return None, "the current file records no publication"
            version, key_id, storage, recorded = row
            if version != bi_schema_version():
                return None, f"the current file was built by other BI definitions or publish code ({version})"
            if key_id != key.key_id:
                return None, "the current file was built under another PII key"
            if storage != STORAGE_VERSION:
                return None, f"the current file has storage version {storage}, not {STORAGE_VERSION}"
            counts = {t.name: _date_counts(con, t, None) for t in bi_tables()}
            for name, rows in json.loads(recorded).items():
                held = sum(counts.get(name, {}).values())
                if held != rows:
                    return None, (f"bi.{name} holds {held} rows where its publication recorded {rows}: the file "
                                  "was changed after it was published")  # fmt: skip
            published = frozenset(
                d for (d,) in con.execute(f"SELECT as_of_date FROM {BI_SCHEMA}.run_history WHERE is_published").fetchall()
            )
    except (duckdb.Error, OSError, RuntimeError, ValueError) as exc:
        return None, f"the current file could not be read ({type(exc).__name__}: {exc})"
    return CarriedOver(paths.database, published, counts), ""


def _set_published_dates(con: duckdb.DuckDBPyConnection, dates: list[date]) -> None:
    con.execute("CREATE OR REPLACE TEMP TABLE published_dates AS SELECT unnest($d::DATE[]) AS as_of_date", {"d": dates})


def _previous_publications(paths: ServingPaths) -> pd.DataFrame | None:
    """The publications table of the current serving file, to carry the history over (None if unreadable)."""
    if not paths.database.exists():
        return None
    try:
        with open_serving(paths.database) as con:
            frame = con.execute(f"SELECT * FROM {BI_SCHEMA}.{PUBLICATIONS.name}").df()
    except (duckdb.Error, OSError, RuntimeError) as exc:
        log.warning("could not read the publication history of %s (%s); starting a new history", paths.database, exc)
        return None
    return frame.reindex(columns=PUBLICATIONS.column_names)


def build_serving_file(
    path: Path,
    day: date,
    run_id: str,
    key: PiiKey,
    *,
    settings: Settings,
    published_at: datetime,
    previous: pd.DataFrame | None,
    postgres_schema: str | None,
    carry: CarriedOver | None = None,
    full_reason: str = "",
) -> BuiltServing:
    """Create the serving file at ``path`` (which must not exist) from the warehouse, read-only: from a copy
    of the current file ``carry`` with only the changed dates rebuilt (incremental), or every table (full)."""
    tables = [t for t in bi_tables() if t is not PUBLICATIONS]
    with warehouse.connect(settings.warehouse_path, read_only=True) as con:
        _memory_settings(con, settings.warehouse_path)
        published = publishable_dates(con, day)
        con.execute(
            "CREATE TEMP TABLE personal_columns AS SELECT unnest($c::VARCHAR[]) AS column_name",
            {"c": sorted({p.column for p in personal_columns()})},
        )
        (known,) = con.execute("SELECT max(known_as_of_date) FROM marts.dim_client").fetchone()
        con.register("pseudonyms", pseudonymised_clients(con, max(known or day, day), key))
        labels, grid = segment_label_frames(con, published)
        con.register("segment_labels", labels)
        con.register("strategy_grid", grid)
        if carry is not None:
            rebuilt = sorted({day} | (set(published) - carry.published))
            removed = sorted(carry.published - set(published))
            note = (f"rebuilt {', '.join(map(str, rebuilt))}"
                    + (f"; removed {', '.join(map(str, removed))}" if removed else "")
                    + f"; carried over {len(carry.published - set(rebuilt) - set(removed))} business dates")  # fmt: skip
            shutil.copyfile(carry.path, path)
            con.execute(f"ATTACH {_quoted(path)} AS {_BUILD_CATALOG} (READ_WRITE)")
        else:
            note = full_reason or "full build"
            con.execute(f"ATTACH {_quoted(path)} AS {_BUILD_CATALOG} (READ_WRITE, STORAGE_VERSION '{STORAGE_VERSION}')")
        try:
            (tags,) = con.execute("SELECT tags FROM duckdb_databases() WHERE database_name = $n",
                                  {"n": _BUILD_CATALOG}).fetchone()  # fmt: skip
            if not str((tags or {}).get("storage_version", "")).startswith(STORAGE_VERSION):
                raise RuntimeError(f"{path} has storage version {tags}, not {STORAGE_VERSION}: DuckDB 1.x could not read it")
            date_counts: dict[str, dict[date | None, int]] = {}
            if carry is None:
                con.execute(f"CREATE SCHEMA {_BUILD_CATALOG}.{BI_SCHEMA}")
                _set_published_dates(con, published)
                for table in tables:
                    date_counts[table.name] = _rebuild_table(con, table, replace=False)
            else:
                # the history tables date by date first (their queries see only the dates to rebuild) ...
                _set_published_dates(con, rebuilt)
                for table in (t for t in tables if _rebuilt_by_date(t)):
                    date_counts[table.name] = _rebuild_dates(con, table, rebuilt, removed, carry)
                # ... then the snapshot and metadata tables whole, over every published date
                _set_published_dates(con, published)
                for table in (t for t in tables if not _rebuilt_by_date(t)):
                    date_counts[table.name] = _rebuild_table(con, table, replace=True)
                con.execute(f"DROP TABLE {_BUILD_CATALOG}.{BI_SCHEMA}.{PUBLICATIONS.name}")
            row_counts = {name: sum(c.values()) for name, c in date_counts.items()}
            publication = {
                "as_of_date": day, "run_id": run_id, "published_at": published_at, "code_version": code_version(),
                "storage_version": STORAGE_VERSION, "pii_key_id": key.key_id, "business_dates": len(published),
                "first_business_date": min(published), "last_business_date": max(published),
                "table_row_counts": json.dumps(row_counts, sort_keys=True), "postgres_schema": postgres_schema,
                "bi_schema_version": bi_schema_version(), "build_mode": "full" if carry is None else "incremental",
                "build_note": note,
            }  # fmt: skip
            history = pd.DataFrame([publication], columns=PUBLICATIONS.column_names)
            if previous is not None and not previous.empty:
                earlier = previous[
                    ~((pd.to_datetime(previous["as_of_date"]).dt.date == day) & (previous["run_id"] == run_id))
                ]
                history = pd.concat([earlier.astype(object), history.astype(object)], ignore_index=True)
            con.execute(PUBLICATIONS.ddl(_BUILD_CATALOG))
            con.register("publication_rows", history)
            _insert(con, PUBLICATIONS, "SELECT * FROM publication_rows")
            date_counts[PUBLICATIONS.name] = _date_counts(con, PUBLICATIONS, _BUILD_CATALOG)
            row_counts[PUBLICATIONS.name] = sum(date_counts[PUBLICATIONS.name].values())
            con.execute(f"CHECKPOINT {_BUILD_CATALOG}")
        finally:
            con.execute(f"DETACH {_BUILD_CATALOG}")
    log.info("serving file built (%s): %s", publication["build_mode"], note)
    return BuiltServing(published, row_counts, date_counts, publication)


def _rebuild_table(con: duckdb.DuckDBPyConnection, table: BiTable, *, replace: bool) -> dict[date | None, int]:
    """Create ``table`` in the new file (dropping the carried copy first) and fill it; its rows per date."""
    started = perf_counter()
    if replace:
        con.execute(f"DROP TABLE {_BUILD_CATALOG}.{BI_SCHEMA}.{table.name}")
    con.execute(table.ddl(_BUILD_CATALOG))
    _insert(con, table, table.query)
    counts = _date_counts(con, table, _BUILD_CATALOG)
    log.info("bi.%s: %d rows (%.2f s)", table.name, sum(counts.values()), perf_counter() - started)
    return counts


def _rebuild_dates(
    con: duckdb.DuckDBPyConnection, table: BiTable, rebuilt: list[date], removed: list[date], carry: CarriedOver
) -> dict[date | None, int]:
    """Replace the rows of the ``rebuilt`` dates and drop those of the ``removed`` ones in a carried table;
    its rows per date, checked: every other date holds what the current file held."""
    started = perf_counter()
    name = f"{_BUILD_CATALOG}.{BI_SCHEMA}.{table.name}"
    con.execute(f"DELETE FROM {name} WHERE list_contains($d::DATE[], as_of_date)", {"d": rebuilt + removed})
    _insert(con, table, table.query)
    counts = _date_counts(con, table, _BUILD_CATALOG)
    kept = {d: n for d, n in carry.date_counts[table.name].items() if d not in rebuilt and d not in removed}
    if {d: n for d, n in counts.items() if d not in rebuilt} != kept:
        raise RuntimeError(f"bi.{table.name}: the carried-over dates changed while only {rebuilt} were rebuilt")
    log.info("bi.%s: %d rows, %d of them rebuilt for %d dates (%.2f s)", table.name, sum(counts.values()),
             sum(n for d, n in counts.items() if d in rebuilt), len(rebuilt), perf_counter() - started)  # fmt: skip
    return counts


def verify_serving_file(con: duckdb.DuckDBPyConnection, path: Path, built: BuiltServing) -> None:
    """The new file, opened read-only: every table with its declared columns and types and the rows written,
    no personal column, pseudonyms that look like HMAC-SHA256 hex, no write-ahead log left beside it."""
    if wal_path(path).exists():
        raise RuntimeError(f"{wal_path(path)} exists after the checkpoint: the new serving file is not self-contained")
    problems = []
    actual = _file_columns(con)
    personal = {p.column for p in personal_columns()}
    for table in bi_tables():
        if actual.pop(table.name, None) != _declared(table):
            problems.append(f"bi.{table.name}: columns differ from the BI schema")
            continue
        if personal & set(table.column_names):
            problems.append(f"bi.{table.name}: personal column(s) {sorted(personal & set(table.column_names))}")
        counts = _date_counts(con, table, None)
        if counts != built.date_counts[table.name]:
            problems.append(f"bi.{table.name}: rows per date {counts} differ from those written")
    if actual:
        problems.append(f"unexpected tables {sorted(actual)}")
    for column in (p.hash_column for p in personal_columns("clients")):
        (bad,) = con.execute(
            f"SELECT count(*) FROM {BI_SCHEMA}.clients WHERE NOT regexp_full_match({column}, '[0-9a-f]{{64}}')"
        ).fetchone()
        if bad:
            problems.append(f"bi.clients.{column}: {bad} values are not HMAC-SHA256 hex")
    if problems:
        raise RuntimeError(f"the new serving file {path} failed verification: " + "; ".join(problems))


def _remove_stale_wal(paths: ServingPaths) -> bool:
    if not paths.wal.exists():
        return False
    log.warning(
        "removing stale %s: something opened the serving database read-write since the last publish "
        "(BI tools must open it read-only); its changes are discarded", paths.wal,
    )  # fmt: skip
    paths.wal.unlink()
    return True


def _remove_leftovers(paths: ServingPaths) -> None:
    """Temporary files and folders of a publish that crashed (publishes are serialised by the lock)."""
    for leftover in paths.root.glob(".clv_serving.*.duckdb.tmp*"):
        log.warning("removing %s left by an interrupted publish", leftover)
        leftover.unlink(missing_ok=True)
    if paths.staging.exists():
        shutil.rmtree(paths.staging)


def _fsync(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_file(new: Path, target: Path) -> None:
    _fsync(new)
    os.replace(new, target)
    _fsync(target.parent, directory=True)


@contextmanager
def _publish_lock(paths: ServingPaths) -> Iterator[None]:
    paths.root.mkdir(parents=True, exist_ok=True)
    with paths.lock.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def run_publish(as_of_date: str | date, run_id: str) -> dict:
    """Publish the serving database, Parquet and (if configured) PostgreSQL for D; return a summary.

    Call only after every error-level gate of D passed (the DAG runs it after ``drift_gate``); it refuses a
    date that is not segmented or whose latest gate evaluation failed, and refuses in production mode
    without a PII key, before touching anything.
    """
    day = _day(as_of_date)
    settings = get_settings()
    key = load_pii_key(settings)
    paths = serving_paths(settings)
    pg_url = postgres.postgres_url()
    started = perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = perf_counter()
        timings[name] = round(now - since, 3)
        return now

    with _publish_lock(paths):
        _remove_leftovers(paths)
        stale_wal = _remove_stale_wal(paths)
        published_at = datetime.now(UTC)
        tag = _safe_tag(run_id)
        tmp = paths.temp_database(tag)
        staging = paths.staging / tag
        suffix = postgres.schema_suffix(run_id, published_at.strftime("%Y%m%d%H%M%S"))
        loaded: postgres.LoadedSchema | None = None
        swapped_postgres = False
        try:
            t = perf_counter()
            previous = _previous_publications(paths)
            carry, full_reason = carried_over(paths, key)
            t = lap("carry_check", t)
            built = build_serving_file(
                tmp, day, run_id, key, settings=settings, published_at=published_at, previous=previous,
                postgres_schema=BI_SCHEMA if pg_url else None, carry=carry, full_reason=full_reason,
            )  # fmt: skip
            t = lap("build", t)
            con = duckdb.connect(str(tmp), read_only=True)
            try:
                verify_serving_file(con, tmp, built)
                t = lap("verify", t)
                plan = exports.stage_partitions(
                    con, list(bi_tables()), day, built.published, staging / "parquet", paths.parquet, built.date_counts
                )
                t = lap("parquet", t)
                if pg_url:
                    postgres.drop_leftover_schemas(pg_url)
                    loaded = postgres.load_schema(pg_url, con, list(bi_tables()), suffix, staging / "postgres")
                    if loaded.rows != built.row_counts:
                        raise RuntimeError(
                            f"PostgreSQL rows {loaded.rows} differ from the serving file's {built.row_counts}"
                        )
                    t = lap("postgres_load", t)
            finally:
                con.close()
            # commit: PostgreSQL first (the step most likely to fail), then the local renames
            if loaded is not None:
                postgres.swap_schema(loaded, suffix)
                loaded, swapped_postgres = None, True
            swap = exports.PartitionSwap(plan, staging / "trash")
            swap.apply()
            try:
                stale_wal = _remove_stale_wal(paths) or stale_wal
                _replace_file(tmp, paths.database)
            except BaseException:
                swap.undo()
                raise
            swap.discard_old()
            lap("swap", t)
        except BaseException:
            if pg_url and not swapped_postgres:  # the work schema, loaded or partly loaded
                postgres.drop_schema(pg_url, postgres.work_schema(suffix))
            for leftover in (tmp, wal_path(tmp)):
                leftover.unlink(missing_ok=True)
            log.error(
                "publish of %s (run %s) failed; the serving file and Parquet are unchanged%s", day, run_id,
                " (PostgreSQL bi already holds this run)" if swapped_postgres else "",
            )  # fmt: skip
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            with contextlib.suppress(OSError):
                paths.staging.rmdir()  # only when empty

    summary = {
        "as_of_date": day.isoformat(),
        "run_id": run_id,
        "serving_file": str(paths.database),
        "serving_file_bytes": paths.database.stat().st_size,
        "storage_version": STORAGE_VERSION,
        "published_dates": [d.isoformat() for d in built.published],
        "tables": built.row_counts,
        "parquet_partitions": len(plan.partitions),
        "parquet_rows": plan.rows,
        "parquet_partitions_removed": len(plan.stale),
        "postgres_schema": BI_SCHEMA if pg_url else None,
        "code_version": built.publication["code_version"],
        "pii_key_id": key.key_id,
        "stale_wal_removed": stale_wal,
        "build": built.publication["build_mode"],
        "build_note": built.publication["build_note"],
        "seconds": round(perf_counter() - started, 3),
        "timings": timings,
    }
    log.info("published %s: %s", day, summary)
    return summary
