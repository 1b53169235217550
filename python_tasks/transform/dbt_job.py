"""Run ``dbt build`` for a business date inside the task's own process and record every node's result.

In-process (dbt's ``dbtRunner``) rather than one Airflow task per model: DuckDB takes one writer, so
per-model tasks would run one after another anyway, each paying a process start and a dbt parse
(seconds). See docs/adr/0004-dbt-in-process-by-selector.md. Results go to ``audit.dbt_results`` and the
task log, so an operator sees status, rows and time per model and test.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from python_tasks.io import warehouse
from python_tasks.settings import DBT_PROJECT_DIR, get_settings

log = logging.getLogger(__name__)


class DbtBuildFailed(RuntimeError):
    """A model, seed or test failed; the message names each failed node and dbt's reason."""


@dataclass(frozen=True)
class NodeResult:
    unique_id: str
    resource_type: str
    status: str
    rows_affected: int | None
    execution_time_s: float
    message: str | None


def _node_results(run_result) -> list[NodeResult]:  # noqa: ANN001 - dbt's RunExecutionResult
    out = []
    for r in getattr(run_result, "results", None) or []:
        response = getattr(r, "adapter_response", None) or {}
        rows = response.get("rows_affected") if isinstance(response, dict) else None
        out.append(
            NodeResult(
                unique_id=r.node.unique_id,
                resource_type=str(r.node.resource_type),
                status=str(r.status),
                rows_affected=rows if isinstance(rows, int) and rows >= 0 else None,
                execution_time_s=round(float(r.execution_time or 0.0), 3),
                message=r.message if r.message else None,
            )
        )
    return out


def run_dbt_build(
    as_of_date: str | date,
    run_id: str,
    selector: str = "daily_build",
    build_from_date: str | date | None = None,
    full_refresh: bool = False,
    command: str = "build",
) -> dict:
    """``dbt build --selector <selector>`` on the warehouse for business date D; raise if anything failed.

    A daily run builds D alone. ``build_from_date`` builds every date from it to D in one pass (a
    backfill: the incremental facts replace exactly those dates); ``full_refresh`` also drops and
    recreates the incremental facts, so only the dates built remain. ``command="test"`` runs the tests of
    the selection only (the test suite runs the dbt unit tests this way: selector ``unit_tests``).
    """
    if command not in ("build", "test"):
        raise ValueError(f"unsupported dbt command {command!r}")
    from dbt.cli.main import dbtRunner

    day = _as_date(as_of_date)
    first = _as_date(build_from_date) if build_from_date is not None else day
    if first > day:
        raise ValueError(f"build_from_date {first} is after as_of_date {day}")
    dbt_vars = {"as_of_date": day.isoformat(), "run_id": run_id}
    if first != day:
        dbt_vars["build_from_date"] = first.isoformat()
    settings = get_settings()
    work = settings.home / "dbt"
    args = [
        "--no-use-colors",
        command,
        "--selector", selector,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(work / "target"),
        "--log-path", str(work / "logs"),
        "--vars", json.dumps(dbt_vars),
    ]  # fmt: skip
    if full_refresh:
        args.append("--full-refresh")
    started = datetime.now(UTC)
    with _warehouse_env(settings.warehouse_path):
        outcome = dbtRunner().invoke(args)
    nodes = _node_results(outcome.result)
    _record(run_id, day, selector, nodes, started)
    for n in nodes:
        rows = "" if n.rows_affected is None else f" rows={n.rows_affected}"
        log.info("dbt %-6s %-60s %.2f s%s", n.status, n.unique_id, n.execution_time_s, rows)
    failed = [n for n in nodes if n.status in ("error", "fail", "runtime error")]
    if not outcome.success:
        detail = "\n".join(f"{n.unique_id}: {n.status}: {n.message}" for n in failed) or str(outcome.exception)
        raise DbtBuildFailed(f"dbt {command} --selector {selector} failed for {day}:\n{detail}")
    return {
        "as_of_date": day.isoformat(),
        "build_from_date": first.isoformat(),
        "run_id": run_id,
        "selector": selector,
        "nodes": len(nodes),
        "by_status": {s: sum(n.status == s for n in nodes) for s in sorted({n.status for n in nodes})},
    }


def generate_docs(*, target: str = "target", static: bool = False) -> Path:
    """``dbt docs generate`` against the warehouse; returns the site's index.html (with ``static``: the one
    self-contained ``static_index.html`` that opens from a file, no server needed).

    The catalog reads the warehouse's tables, so this runs after a build, in the writer's slot. ``target``
    (a folder under ``<CLV_HOME>/dbt``) keeps the per-run docs from overwriting the build's run results.
    """
    from dbt.cli.main import dbtRunner

    settings = get_settings()
    work = settings.home / "dbt"
    args = [
        "--no-use-colors",
        "docs", "generate",
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(work / target),
        "--log-path", str(work / "logs"),
        *(["--static"] if static else []),
    ]  # fmt: skip
    with _warehouse_env(settings.warehouse_path):
        outcome = dbtRunner().invoke(args)
    if not outcome.success:
        raise DbtBuildFailed(f"dbt docs generate failed: {outcome.exception}")
    return work / target / ("static_index.html" if static else "index.html")


@contextmanager
def _warehouse_env(path: Path) -> Iterator[None]:
    """profiles.yml reads CLV_WAREHOUSE_PATH: point it at the warehouse, close dbt's handle, restore."""
    previous = os.environ.get("CLV_WAREHOUSE_PATH")
    os.environ["CLV_WAREHOUSE_PATH"] = str(path)
    try:
        yield
    finally:
        _close_dbt_duckdb()
        if previous is None:
            os.environ.pop("CLV_WAREHOUSE_PATH", None)
        else:
            os.environ["CLV_WAREHOUSE_PATH"] = previous


def _as_date(value: str | date) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _close_dbt_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb keeps open in this process after a run.

    DuckDB admits one configuration per file and process: while dbt's read-write handle lives, nothing
    else here (recording the results, a read-only reader in the same process) can open the warehouse.
    dbt-duckdb has no public call that closes it; a test fails if this stops working.
    """
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
        DuckDBConnectionManager.close_all_connections()


def _record(run_id: str, day: date, selector: str, nodes: list[NodeResult], started: datetime) -> None:
    """Every node's result in ``audit.dbt_results`` (a rerun of the same run replaces its rows)."""
    finished = datetime.now(UTC)
    with warehouse.connect() as con:
        con.execute("BEGIN TRANSACTION")
        con.execute(
            "DELETE FROM audit.dbt_results WHERE run_id = $r AND as_of_date = $d AND selector = $s",
            {"r": run_id, "d": day, "s": selector},
        )
        con.executemany(
            "INSERT INTO audit.dbt_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (run_id, day, selector, n.unique_id, n.resource_type, n.status, n.rows_affected,
                 n.execution_time_s, n.message, started, finished)
                for n in nodes
            ],
        )  # fmt: skip
        con.execute("COMMIT")
