"""Validate a landed delivery and load it as partition D of ``raw.<source>``, in one transaction.

Rows that break a rule go to ``audit.quarantine`` with every rule they broke; every file gets a row in
``audit.load_ledger``. Rows in = rows loaded + rows quarantined, per file, or the load does not commit.
Rerunning D replaces D and nothing else; a file already loaded under another name or date is refused as a
duplicate delivery; a rerun with byte-identical files is recognised and changes nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from python_tasks.codes.uscc import duckdb_macro_sql
from python_tasks.contracts.model import Contract
from python_tasks.contracts.render import quote_identifier as q
from python_tasks.contracts.render import raw_table_name
from python_tasks.ingest.landing import LandedFile
from python_tasks.ingest.readers import DeliveryError, StagedFile, file_error, names_file, stage_file
from python_tasks.ingest.rules import (
    all_rules,
    check_query,
    key_statements,
    load_statement,
    sql_literal,
    suspect_rows_statement,
    suspects_query,
    typed_statement,
)

log = logging.getLogger(__name__)


@dataclass
class FileOutcome:
    file_name: str
    sha256: str
    size_bytes: int
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    status: str = "loaded"
    message: str | None = None


@dataclass
class LoadResult:
    source: str
    as_of_date: str
    run_id: str
    status: str
    files: list[FileOutcome] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        return sum(f.rows_in for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "as_of_date": self.as_of_date,
            "run_id": self.run_id,
            "status": self.status,
            "rows_in": self.rows_in,
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
            "files": [asdict(f) for f in self.files],
        }


def _write_ledger(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    as_of_date: date,
    run_id: str,
    landed: dict[str, LandedFile],
    outcomes: list[FileOutcome],
    started_at: datetime,
) -> None:
    finished = datetime.now(UTC)
    for o in outcomes:
        lf = landed.get(o.file_name)
        con.execute(
            "INSERT INTO audit.load_ledger VALUES ($run, $source, $d, $file, $path, $sha, $size, $rin, $rload, $rq, "
            "$status, $msg, $start, $end)",
            {
                "run": run_id,
                "source": contract.name,
                "d": as_of_date,
                "file": o.file_name,
                "path": str(lf.path) if lf else None,
                "sha": o.sha256,
                "size": o.size_bytes,
                "rin": o.rows_in,
                "rload": o.rows_loaded,
                "rq": o.rows_quarantined,
                "status": o.status,
                "msg": o.message,
                "start": started_at,
                "end": finished,
            },
        )


def has_no_rows(lf: LandedFile) -> bool:
    """An empty delivery (header only, no records): identical bytes on two dates are not a re-delivery."""
    if lf.path.suffix == ".csv":
        with lf.path.open("rb") as fh:
            fh.readline()
            return not fh.readline().strip()
    if lf.path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(lf.path).metadata.num_rows == 0
        except Exception:  # noqa: BLE001 - an unreadable file is judged by the reader, not here
            return False
    return False


def _duplicate_of(con: duckdb.DuckDBPyConnection, contract: Contract, as_of_date: date, lf: LandedFile) -> str | None:
    if has_no_rows(lf):
        return None
    row = con.execute(
        "SELECT file_name, as_of_date, run_id FROM audit.load_ledger WHERE source = $s AND sha256 = $sha "
        "AND status IN ('loaded', 'unchanged') AND (as_of_date <> $d OR file_name <> $f) ORDER BY finished_at LIMIT 1",
        {"s": contract.name, "sha": lf.sha256, "d": as_of_date, "f": lf.name},
    ).fetchone()
    if row is None:
        return None
    return f"identical to {row[0]} already loaded for {row[1]} (run {row[2]})"


def _is_unchanged(
    con: duckdb.DuckDBPyConnection, contract: Contract, as_of_date: date, files: list[LandedFile]
) -> bool:
    """True when D was loaded from exactly these bytes and the partition still holds what was loaded."""
    last = con.execute(
        "SELECT run_id FROM audit.load_ledger WHERE source = $s AND as_of_date = $d AND status IN ('loaded', 'unchanged') "
        "ORDER BY finished_at DESC LIMIT 1",
        {"s": contract.name, "d": as_of_date},
    ).fetchone()
    if last is None:
        return False
    rows = con.execute(
        "SELECT file_name, sha256, rows_loaded FROM audit.load_ledger WHERE source = $s AND as_of_date = $d "
        "AND run_id = $r AND status IN ('loaded', 'unchanged')",
        {"s": contract.name, "d": as_of_date, "r": last[0]},
    ).fetchall()
    if {(r[0], r[1]) for r in rows} != {(f.name, f.sha256) for f in files}:
        return False
    count = con.execute(
        f"SELECT count(*) FROM {raw_table_name(contract)} WHERE _as_of_date = $d", {"d": as_of_date}
    ).fetchone()[0]
    return count == sum(r[2] for r in rows)


def load_delivery(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    as_of_date: date,
    files: list[LandedFile],
    run_id: str,
    work_dir: Path,
    *,
    force: bool = False,
) -> LoadResult:
    """Validate and load ``files`` as partition ``as_of_date`` of the source; raise on a file-level error."""
    started = datetime.now(UTC)
    result = LoadResult(contract.name, as_of_date.isoformat(), run_id, status="loaded")
    landed = {f.name: f for f in files}
    fresh: list[LandedFile] = []
    for lf in files:
        duplicate = _duplicate_of(con, contract, as_of_date, lf)
        if duplicate:
            log.warning("%s: duplicate delivery, not loaded again: %s", lf.path, duplicate)
            result.files.append(
                FileOutcome(
                    lf.name, lf.sha256, lf.size_bytes, status="duplicate", message=f"duplicate delivery: {duplicate}"
                )
            )
        else:
            fresh.append(lf)
    if not fresh:
        result.status = "duplicate"
        _write_ledger(con, contract, as_of_date, run_id, landed, result.files, started)
        return result
    if not force and not result.files and _is_unchanged(con, contract, as_of_date, fresh):
        log.info("%s %s: delivery unchanged since the last load; partition kept", contract.name, as_of_date)
        result.status = "unchanged"
        for lf in fresh:
            prior = con.execute(
                "SELECT rows_in, rows_loaded, rows_quarantined FROM audit.load_ledger WHERE source = $s AND as_of_date = $d "
                "AND file_name = $f AND sha256 = $sha ORDER BY finished_at DESC LIMIT 1",
                {"s": contract.name, "d": as_of_date, "f": lf.name, "sha": lf.sha256},
            ).fetchone()
            result.files.append(
                FileOutcome(
                    lf.name,
                    lf.sha256,
                    lf.size_bytes,
                    *prior,
                    status="unchanged",
                    message="identical to the loaded delivery",
                )
            )
        _write_ledger(con, contract, as_of_date, run_id, landed, result.files, started)
        return result

    con.execute(duckdb_macro_sql())
    staged_files: list[StagedFile] = []
    params = {"as_of_date": as_of_date, "run_id": run_id, "loaded_at": started}
    try:
        for i, lf in enumerate(fresh):
            try:
                staged_files.append(stage_file(con, contract, lf.path, f"_stage_{i}", work_dir))
            except DeliveryError as exc:
                _reject(con, contract, as_of_date, run_id, landed, result, lf, exc, started)
                raise
        views = [s.view for s in staged_files]
        con.execute("BEGIN TRANSACTION")
        try:
            delivered = _validate_and_load(con, contract, views, params, staged_files)
            _count_outcomes(con, contract, as_of_date, result, staged_files, landed, delivered)
            _write_ledger(con, contract, as_of_date, run_id, landed, result.files, started)
            commit_clock = _Clock(contract.name)
            con.execute("COMMIT")
            commit_clock.lap("committed")
        except BaseException as exc:
            con.execute("ROLLBACK")
            culprit = (
                next((s for s in staged_files if names_file(s, exc)), None) if isinstance(exc, duckdb.Error) else None
            )
            if culprit is None:
                raise
            error = file_error(culprit, exc)
            _reject(con, contract, as_of_date, run_id, landed, result, landed[culprit.path.name], error, started)
            raise error from None
    finally:
        for staged in staged_files:
            staged.cleanup()
        _drop_temp(con, [s.view for s in staged_files])
    return result


def _validate_and_load(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    views: list[str],
    params: dict,
    staged_files: list[StagedFile],
) -> dict[str, int]:
    """Replace partition D with the delivery's good rows; put the others in quarantine.

    Returns the rows delivered per file (every delivered row is typed in the first pass).
    """
    d = {"as_of_date": params["as_of_date"]}
    clock = _Clock(contract.name)
    con.execute(typed_statement(contract, views))
    delivered = dict(con.execute("SELECT _source_file, count(*) FROM _typed GROUP BY 1").fetchall())
    clock.lap(f"read and typed {sum(delivered.values()):,} rows")
    con.execute(f"DELETE FROM {raw_table_name(contract)} WHERE _as_of_date = $as_of_date", d)
    con.execute(
        "DELETE FROM audit.quarantine WHERE source = $s AND as_of_date = $as_of_date", {**d, "s": contract.name}
    )
    for statement in key_statements(contract):
        con.execute(statement, d if "$as_of_date" in statement else {})
    clock.lap("checked keys")
    suspects_sql = suspects_query(contract)
    con.execute(suspects_sql, d if "$as_of_date" in suspects_sql else {})
    suspects = con.execute("SELECT count(*) FROM _suspects").fetchone()[0]
    clock.lap(f"checked {len(all_rules(contract))} rules on the typed rows: {suspects:,} suspect rows")
    if suspects:
        con.execute(suspect_rows_statement(contract))
        check = check_query(contract)
        con.execute(check, d if "$as_of_date" in check else {})
    else:  # nothing to judge: skip reading the delivery again
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _bad (_source_file VARCHAR, _row_number BIGINT, _failed_rules VARCHAR[], "
            "_reasons VARCHAR[], _raw_record JSON)"
        )
    unjudged = con.execute(
        "SELECT count(*) FROM _typed AS t ANTI JOIN _bad AS b ON t._source_file = b._source_file "
        "AND -t._row_number = b._row_number WHERE t._row_number < 0"
    ).fetchone()[0]
    if unjudged:
        raise RuntimeError(f"{contract.name}: {unjudged} rows with a failed cast were not judged bad; refusing to load")
    clock.lap("judged the suspects on the delivered text")
    con.execute(load_statement(contract), params)
    clock.lap("wrote the good rows")
    column_of = " ".join(
        f"WHEN {sql_literal(r.name)} THEN {sql_literal(r.column)}" for r in all_rules(contract) if r.column
    )
    con.execute(
        f"""
        INSERT INTO audit.quarantine
        SELECT $run_id, $source, $as_of_date, _source_file, _row_number, _failed_rules[1], column_name,
               _raw_record ->> column_name, _failed_rules, _reasons, _raw_record, $loaded_at
        FROM (SELECT *, CASE _failed_rules[1] {column_of} END AS column_name FROM _bad)
        ORDER BY _source_file, _row_number
        """,
        {**params, "source": contract.name},
    )
    return delivered


class _Clock:
    """Logs how long each step of a load took, so a slow delivery shows where the time goes."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.last = time.perf_counter()

    def lap(self, what: str) -> None:
        now = time.perf_counter()
        log.info("%s: %s in %.2f s", self.source, what, now - self.last)
        self.last = now


def _count_outcomes(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    as_of_date: date,
    result: LoadResult,
    staged_files: list[StagedFile],
    landed: dict[str, LandedFile],
    delivered: dict[str, int],
) -> None:
    """Per-file counts from the tables themselves; rows in must equal rows loaded plus rows quarantined."""
    loaded = dict(
        con.execute(
            f"SELECT _source_file, count(*) FROM {raw_table_name(contract)} WHERE _as_of_date = $d GROUP BY 1",
            {"d": as_of_date},
        ).fetchall()
    )
    quarantined = dict(con.execute("SELECT _source_file, count(*) FROM _bad GROUP BY 1").fetchall())
    for staged in staged_files:
        lf = landed[staged.path.name]
        rows_in, ok, bad = delivered.get(lf.name, 0), loaded.get(lf.name, 0), quarantined.get(lf.name, 0)
        if rows_in != ok + bad:
            raise RuntimeError(
                f"{contract.name} {as_of_date} {lf.name}: reconciliation failed: rows in {rows_in}, loaded {ok}, "
                f"quarantined {bad}"
            )
        notes = staged.warnings + (["header only: the file has no data rows"] if rows_in == 0 else [])
        result.files.append(
            FileOutcome(lf.name, lf.sha256, lf.size_bytes, rows_in, ok, bad, "loaded", "; ".join(notes) or None)
        )


def _reject(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    as_of_date: date,
    run_id: str,
    landed: dict[str, LandedFile],
    result: LoadResult,
    lf: LandedFile,
    error: DeliveryError,
    started: datetime,
) -> None:
    """Record a file-level rejection in the ledger (the caller raises; partition D is not touched)."""
    outcome = FileOutcome(lf.name, lf.sha256, lf.size_bytes, status="rejected", message=str(error))
    _write_ledger(con, contract, as_of_date, run_id, landed, [*result.files, outcome], started)


def _drop_temp(con: duckdb.DuckDBPyConnection, views: list[str]) -> None:
    for table in ("_typed", "_bad", "_dups", "_prev", "_suspects", "_suspect_rows"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    for view in views:
        con.execute(f"DROP VIEW IF EXISTS {q(view)}")
        con.execute(f"DROP TABLE IF EXISTS {q(view + '_records')}")
