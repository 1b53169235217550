"""What one run of business date D recorded, read back from the warehouse's audit tables and the stage
run tables: the files it loaded, the dbt nodes it built, the gates' outcomes, the CLV and segment runs,
the tables it wrote with their rows for D. The run audit, the lineage events, the evidence bundle and the
trace are all built from this one read, so they cannot disagree.

Takes an open (read-only is enough) warehouse connection; opens nothing itself.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from python_tasks.io.warehouse import table_exists

log = logging.getLogger(__name__)

#: gates in run order (python_tasks/quality); each gate's suites are in audit.dq_results
GATES = ("freshness", "raw", "profile", "clv", "segments", "drift", "reconciliation")
#: Airflow task id of each gate
GATE_TASKS = {
    "freshness": "freshness_gate", "raw": "raw_gate", "profile": "profile_gate", "clv": "clv_gate",
    "segments": "segments_gate", "drift": "drift_gate", "reconciliation": "reconciliation_gate",
}  # fmt: skip
FAILED_DBT = ("error", "fail", "runtime error")


def _rows(con, sql: str, **params: object) -> list[dict[str, Any]]:  # noqa: ANN001 - a DuckDB connection
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def jsonable(value: object) -> object:
    """Dates and timestamps as ISO text, JSON columns parsed, for the audit row, events and bundle."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


@dataclass
class GateOutcome:
    gate: str
    suites: dict[str, dict[str, int]]
    checks: int
    passed: int
    failed_errors: int
    failed_warnings: int
    first_at: datetime | None
    last_at: datetime | None

    @property
    def outcome(self) -> str:
        if self.failed_errors:
            return "failed"
        return "passed with warnings" if self.failed_warnings else "passed"

    def as_dict(self) -> dict:
        return {
            "outcome": self.outcome, "checks": self.checks, "passed": self.passed,
            "failed_errors": self.failed_errors, "failed_warnings": self.failed_warnings, "suites": self.suites,
            "evaluated_at": jsonable(self.last_at),
        }  # fmt: skip


@dataclass
class RunRecord:
    """Everything the warehouse recorded about run ``run_id`` for D."""

    run_id: str
    as_of_date: date
    ledger: list[dict] = field(default_factory=list)
    #: the external deliveries in force at D (their own DAG loads them; the profile reads them)
    external_ledger: list[dict] = field(default_factory=list)
    dbt_results: list[dict] = field(default_factory=list)
    dq_results: list[dict] = field(default_factory=list)
    clv_run: dict | None = None
    segments_run: dict | None = None
    #: "schema.table" → rows of D in it (tables the run wrote)
    table_rows: dict[str, int] = field(default_factory=dict)
    #: (schema, table) → columns in order, for every table and view of the warehouse
    catalog: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    #: (schema, table) → column types
    column_types: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    #: dbt unique id → "schema.table" of every node the run built (from the manifest)
    dbt_relations: dict[str, str] = field(default_factory=dict)
    #: failure alerts of the run (<CLV_HOME>/alerts), when a task failed for good
    alerts: list[dict] = field(default_factory=list)

    @property
    def input_files(self) -> list[dict]:
        """The ledger rows of this run that name a landed file."""
        return [r for r in self.ledger if r.get("landed_path")]

    def gates(self) -> dict[str, GateOutcome]:
        out: dict[str, GateOutcome] = {}
        for gate in GATES:
            rows = [r for r in self.dq_results if r["gate"] == gate]
            if not rows:
                continue
            suites: dict[str, dict[str, int]] = {}
            for r in rows:
                s = suites.setdefault(r["suite"], {"checks": 0, "passed": 0, "failed_errors": 0, "failed_warnings": 0})
                s["checks"] += 1
                if r["success"]:
                    s["passed"] += 1
                elif r["severity"] == "error":
                    s["failed_errors"] += 1
                else:
                    s["failed_warnings"] += 1
            times = [r["evaluated_at"] for r in rows if r.get("evaluated_at")]
            out[gate] = GateOutcome(
                gate, suites, len(rows), sum(s["passed"] for s in suites.values()),
                sum(s["failed_errors"] for s in suites.values()), sum(s["failed_warnings"] for s in suites.values()),
                min(times) if times else None, max(times) if times else None,
            )  # fmt: skip
        return out

    def dbt_nodes(self, *types: str) -> list[dict]:
        return [r for r in self.dbt_results if not types or r["resource_type"] in types]

    def dbt_failed(self) -> list[dict]:
        return [r for r in self.dbt_results if r["status"] in FAILED_DBT]

    def times(self) -> list[datetime]:
        """Every timestamp the run recorded (for its start and end)."""
        found: list[datetime] = []
        for r in self.ledger:
            found += [r["started_at"], r["finished_at"]]
        for r in self.dbt_results:
            found += [r["started_at"], r["finished_at"]]
        found += [r["evaluated_at"] for r in self.dq_results]
        for run in (self.clv_run, self.segments_run):
            if run:
                found += [run["started_at"], run["finished_at"]]
        return [t for t in found if isinstance(t, datetime)]


def warehouse_catalog(con) -> tuple[dict[tuple[str, str], list[str]], dict[tuple[str, str], dict[str, str]]]:  # noqa: ANN001
    """Columns (in order) and their types of every table and view in the warehouse."""
    columns: dict[tuple[str, str], list[str]] = {}
    types: dict[tuple[str, str], dict[str, str]] = {}
    for schema, table, column, data_type in con.execute(
        "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = current_database() ORDER BY table_schema, table_name, ordinal_position"
    ).fetchall():
        columns.setdefault((schema, table), []).append(column)
        types.setdefault((schema, table), {})[column] = data_type
    return columns, types


def aggregate_functions(con) -> frozenset[str]:  # noqa: ANN001
    return frozenset(
        r[0]
        for r in con.execute(
            "SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_type = 'aggregate'"
        ).fetchall()
    )


def sql_parser(con):  # noqa: ANN001, ANN201 - a DuckDB connection → parse(sql) -> JSON text
    """DuckDB's parser as a function (``json_serialize_sql``), for :mod:`python_tasks.lineage.sql_lineage`."""

    def parse(sql: str) -> str:
        return con.execute("SELECT json_serialize_sql($sql)", {"sql": sql}).fetchone()[0]

    return parse


def rows_for_date(con, schema: str, table: str, day: date, columns: list[str]) -> int:  # noqa: ANN001
    """Rows of D in a table: by ``as_of_date`` (outputs) or ``_as_of_date`` (raw), else all rows.

    ``schema`` and ``table`` come from the warehouse's own catalogue, never from input data."""
    name = f'"{schema}"."{table}"'
    if "as_of_date" in columns:
        return con.execute(f"SELECT count(*) FROM {name} WHERE as_of_date = $d", {"d": day}).fetchone()[0]
    if "_as_of_date" in columns:
        return con.execute(f"SELECT count(*) FROM {name} WHERE _as_of_date = $d", {"d": day}).fetchone()[0]
    return con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]


def read_alerts(home: Path, day: date, run_id: str) -> list[dict]:
    """The failure alerts the run's tasks wrote (python_tasks/orchestration/alerts.py)."""
    from python_tasks.orchestration.alerts import alert_file_name

    folder = home / "alerts"
    if not folder.is_dir():
        return []
    prefix = alert_file_name(day.isoformat(), run_id, "x")[: -len("x.json")]
    out = []
    for path in sorted(folder.glob(f"{prefix}*.json")):
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if payload.get("run_id") not in (None, run_id):  # another run whose id shares the file-name prefix
            continue
        out.append({"file": path.name, **{k: payload.get(k) for k in ("task_id", "gate", "exception_type", "subject")},
                    "message": str(payload.get("exception_message") or payload.get("text") or "")[:2000]})  # fmt: skip
    return out


def read_run(con, day: date, run_id: str, *, home: Path | None = None, manifest: dict | None = None) -> RunRecord:  # noqa: ANN001
    """What the warehouse recorded about ``run_id`` for D (``manifest``: dbt's, to name the relations of
    the nodes it built), with the rows of D in every table the run's stages write."""
    from python_tasks.settings import get_settings

    record = RunRecord(run_id, day)
    params = {"r": run_id, "d": day}
    record.ledger = _rows(con, "SELECT * FROM audit.load_ledger WHERE run_id = $r AND as_of_date = $d "
                               "ORDER BY source, file_name", **params)  # fmt: skip
    record.external_ledger = _external_in_force(con, day)
    record.dbt_results = _rows(con, "SELECT * FROM audit.dbt_results WHERE run_id = $r AND as_of_date = $d "
                                    "ORDER BY resource_type, unique_id", **params)  # fmt: skip
    record.dq_results = _rows(con, "SELECT * FROM audit.dq_results WHERE run_id = $r AND as_of_date = $d "
                                   "ORDER BY gate, suite, expectation_type, column_name", **params)  # fmt: skip
    for attr, schema in (("clv_run", "valuation"), ("segments_run", "segments")):
        if table_exists(con, schema, "runs"):
            found = _rows(con, f"SELECT * EXCLUDE (params_json) FROM {schema}.runs WHERE run_id = $r AND as_of_date = $d",
                          **params)  # fmt: skip
            setattr(record, attr, found[0] if found else None)
    record.catalog, record.column_types = warehouse_catalog(con)
    for name in stage_tables(record, manifest or {}):
        schema, table = name.split(".", 1)
        if (schema, table) in record.catalog:
            record.table_rows[name] = rows_for_date(con, schema, table, day, record.catalog[(schema, table)])
    record.alerts = read_alerts(home or get_settings().home, day, run_id)
    return record


def _external_in_force(con, day: date) -> list[dict]:  # noqa: ANN001
    """Per external source, the latest delivery loaded on or before D (its own monthly DAG loads it)."""
    from python_tasks.orchestration.sources import external_sources

    sources = list(external_sources())
    if not sources:
        return []
    return _rows(
        con,
        """
        SELECT * FROM audit.load_ledger
        WHERE source IN (SELECT unnest($s)) AND as_of_date <= $d AND status = 'loaded' AND landed_path IS NOT NULL
        QUALIFY as_of_date = max(as_of_date) OVER (PARTITION BY source)
        ORDER BY source, file_name
        """,
        s=sources,
        d=day,
    )


def stage_tables(record: RunRecord, manifest: dict) -> list[str]:
    """The tables a run of D writes: raw partitions of its sources, dbt relations, valuation, segments."""
    from python_tasks.lineage.dbt_lineage import nodes
    from python_tasks.lineage.python_stages import clv_outputs, segment_outputs

    dbt_nodes = nodes(manifest)
    names = [f"raw.{s}" for s in dict.fromkeys(r["source"] for r in record.ledger)]
    for r in record.dbt_nodes("model", "seed", "snapshot"):
        node = dbt_nodes.get(r["unique_id"])
        if node is not None:
            record.dbt_relations[r["unique_id"]] = f"{node.schema}.{node.table}"
            names.append(f"{node.schema}.{node.table}")
    names += list(clv_outputs()) + list(segment_outputs())
    return list(dict.fromkeys(names))
