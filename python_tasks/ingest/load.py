"""Validate a landed delivery and load it as partition D of ``raw.<source>``, in one transaction.

Rows that break a rule go to ``audit.quarantine`` with every rule they broke; every file gets a row in
``audit.load_ledger``. Rows in = rows loaded + rows quarantined, per file, or the load does not commit.
Rerunning D replaces D and nothing else; a file already loaded under another name or date is refused as a
duplicate delivery; a rerun with byte-identical files is recognised and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from python_tasks.codes.uscc import duckdb_macro_sql
from python_tasks.contracts.model import Contract
from python_tasks.contracts.render import quote_identifier as q
from python_tasks.contracts.render import raw_table_name
from python_tasks.ingest.landing import LandedFile
from python_tasks.ingest.readers import DeliveryError, stage_file
from python_tasks.ingest.rules import all_rules, check_query, sql_literal

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


def _duplicate_of(con: duckdb.DuckDBPyConnection, contract: Contract, as_of_date: date, lf: LandedFile) -> str | None:
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
    views: list[str] = []
    warnings: dict[str, list[str]] = {}
    for i, lf in enumerate(fresh):
        try:
            staged = stage_file(con, contract, lf.path, f"_stage_{i}", work_dir)
        except DeliveryError as exc:
            outcome = FileOutcome(lf.name, lf.sha256, lf.size_bytes, status="rejected", message=str(exc))
            _write_ledger(con, contract, as_of_date, run_id, landed, [*result.files, outcome], started)
            raise
        views.append(staged.table)
        warnings[lf.name] = staged.warnings

    query = check_query(contract, views)
    con.execute(query, {"as_of_date": as_of_date} if "$as_of_date" in query else {})
    counts = dict(
        (name, (total, bad))
        for name, total, bad in con.execute(
            "SELECT _source_file, count(*), count(*) FILTER (_is_bad) FROM _checked GROUP BY 1"
        ).fetchall()
    )
    for lf in fresh:
        total, bad = counts.get(lf.name, (0, 0))
        message = "; ".join(warnings[lf.name]) or None
        result.files.append(FileOutcome(lf.name, lf.sha256, lf.size_bytes, total, total - bad, bad, "loaded", message))

    column_of = " ".join(
        f"WHEN {sql_literal(r.name)} THEN {sql_literal(r.column)}" for r in all_rules(contract) if r.column
    )
    value_of = " ".join(f"WHEN {sql_literal(c)} THEN {q('_raw_' + c)}" for c in contract.column_names)
    raw_record = ", ".join(f"{sql_literal(c)}: {q('_raw_' + c)}" for c in contract.column_names)
    typed = ", ".join(q(c) for c in contract.column_names)
    params = {"d": as_of_date, "run": run_id, "at": started, "source": contract.name}
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM {raw_table_name(contract)} WHERE _as_of_date = $d", {"d": as_of_date})
        con.execute(
            "DELETE FROM audit.quarantine WHERE source = $s AND as_of_date = $d", {"s": contract.name, "d": as_of_date}
        )
        con.execute(
            f"INSERT INTO {raw_table_name(contract)} SELECT {typed}, $d, _source_file, _row_number, $run, $at "
            "FROM _checked WHERE NOT _is_bad ORDER BY _source_file, _row_number",
            {k: params[k] for k in ("d", "run", "at")},
        )
        con.execute(
            f"""
            INSERT INTO audit.quarantine
            SELECT $run, $source, $d, _source_file, _row_number, _failed_rules[1],
                   CASE _failed_rules[1] {column_of} END AS column_name,
                   CASE CASE _failed_rules[1] {column_of} END {value_of} END AS value,
                   _failed_rules, _reasons, to_json({{{raw_record}}}), $at
            FROM _checked WHERE _is_bad ORDER BY _source_file, _row_number
            """,
            params,
        )
        loaded = con.execute(
            f"SELECT count(*) FROM {raw_table_name(contract)} WHERE _as_of_date = $d", {"d": as_of_date}
        ).fetchone()[0]
        quarantined = con.execute(
            "SELECT count(*) FROM audit.quarantine WHERE source = $s AND as_of_date = $d",
            {"s": contract.name, "d": as_of_date},
        ).fetchone()[0]
        if (
            loaded != result.rows_loaded
            or quarantined != result.rows_quarantined
            or result.rows_in != loaded + quarantined
        ):
            raise RuntimeError(
                f"{contract.name} {as_of_date}: reconciliation failed: rows in {result.rows_in}, loaded {loaded}, "
                f"quarantined {quarantined}"
            )
        _write_ledger(con, contract, as_of_date, run_id, landed, result.files, started)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        _drop_temp(con, views)
    return result


def _drop_temp(con: duckdb.DuckDBPyConnection, views: list[str]) -> None:
    con.execute("DROP TABLE IF EXISTS _checked")
    for view in views:
        con.execute(f"DROP VIEW IF EXISTS {q(view)}")
        con.execute(f"DROP TABLE IF EXISTS {q(view + '_file')}")
