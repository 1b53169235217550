"""Emit the OpenLineage events of one run after it, from what the run recorded.

``emit_run_lineage(D, run_id)`` reads the audit tables and the dbt artefacts, builds every event
(python_tasks/lineage/events.py), validates each against the schemas in ``contracts/openlineage`` and
writes them with openlineage-python's file transport to ``<CLV_HOME>/lineage/<D>/<run id>.ndjson`` (one
event per line; a rerun replaces the file whole). When ``CLV_OPENLINEAGE_URL`` is set (Marquez, or any
OpenLineage HTTP backend) the same events are also POSTed there with the HTTP transport
(``CLV_OPENLINEAGE_ENDPOINT``, default ``api/v1/lineage``; ``CLV_OPENLINEAGE_API_KEY`` as a bearer token;
``CLV_OPENLINEAGE_TIMEOUT`` seconds, default 10; ``CLV_OPENLINEAGE_RETRIES``, default 3).
The file is the record: a backend that is down is logged and reported, and the run is not failed for it
unless ``CLV_OPENLINEAGE_REQUIRED=1``. Run ids are derived from the Airflow run id, so sending a run's
events again updates the same runs in the backend.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, date, datetime
from pathlib import Path

from python_tasks.io import warehouse
from python_tasks.lineage import naming
from python_tasks.lineage.dbt_lineage import load_artifact, node_lineage
from python_tasks.lineage.events import EventBuilder, PublishedTable, suite_tables, to_dicts
from python_tasks.lineage.recorded import RunRecord, aggregate_functions, read_run, sql_parser
from python_tasks.lineage.run_audit import code_version, read_run_audit
from python_tasks.lineage.validate import validate_events
from python_tasks.settings import get_settings

log = logging.getLogger(__name__)


class LineageBackendError(RuntimeError):
    """The HTTP backend refused or could not be reached and ``CLV_OPENLINEAGE_REQUIRED`` is set."""


def published_tables() -> tuple[list[PublishedTable], str | None]:
    """The BI tables the publish task writes (python_tasks.serving.bi_schema.PUBLISHED_TABLES) with the
    query that builds each when the module defines it, and the serving file's namespace; nothing while
    the serving module is absent."""
    try:
        from python_tasks.serving import bi_schema
    except ImportError:
        return [], None
    queries: dict[str, tuple[str, list[str]]] = {}
    try:
        for table in bi_schema.bi_tables():
            queries[f"{bi_schema.BI_SCHEMA}.{table.name}"] = (table.query, list(table.column_names))
    except Exception as exc:  # noqa: BLE001 - the BI definitions are another module's; tables without queries still count
        log.warning("BI table definitions not readable (%s): published tables without column lineage", exc)
    tables = [
        PublishedTable(name, text, *queries.get(name, ("", [])))
        for name, text in (getattr(bi_schema, "PUBLISHED_TABLES", {}) or {}).items()
    ]
    try:
        from python_tasks.serving.database import serving_paths

        namespace = naming.warehouse_namespace(serving_paths().database)
    except Exception:  # noqa: BLE001 - no serving paths yet: the warehouse's namespace
        namespace = None
    return tables, namespace


def _status(record: RunRecord, audit_row: dict | None) -> str:
    if audit_row is not None:
        return audit_row["status"]
    failed = record.alerts or record.dbt_failed() or any(o.failed_errors for o in record.gates().values())
    return "failed" if failed else "success"


def build_run_events(as_of_date: date, run_id: str) -> tuple[list, dict]:
    """The run's events (openlineage-python objects) and figures about them; opens the warehouse read-only."""
    settings = get_settings()
    manifest = load_artifact("manifest.json")
    run_results = load_artifact("run_results.json")
    published, serving_namespace = published_tables()
    with warehouse.connect(settings.warehouse_path, read_only=True) as con:
        record = read_run(con, as_of_date, run_id, home=settings.home, manifest=manifest)
        parse = sql_parser(con)
        built = [r["unique_id"] for r in record.dbt_nodes("model", "seed", "snapshot")]
        aggregates = aggregate_functions(con)
        lineage = node_lineage(manifest or {}, record.catalog, parse, aggregates, only=built)
        tables = suite_tables(record, parse)
        audit_row = read_run_audit(con, as_of_date, run_id)
        status = _status(record, audit_row)
        recorded_at = datetime.fromisoformat(audit_row["recorded_at"]) if audit_row else datetime.now(UTC)
        builder = EventBuilder(
            record, status=status, dbt_lineage=lineage, manifest=manifest, run_results=run_results,
            code_version=code_version(), warehouse_path=settings.warehouse_path, recorded_at=recorded_at,
            published=published, serving_namespace=serving_namespace, parse=parse,
            aggregates=aggregates,
        )  # fmt: skip
        events = builder.build(tables)
    unresolved = {uid: n.unresolved for uid, n in lineage.items() if n.unresolved}
    if unresolved:
        log.warning("column lineage: names not resolved in %s", unresolved)
    figures = {
        "status": status,
        "jobs": len({e.job.name for e in events}),
        "dbt_nodes": len(lineage),
        "columns_with_lineage": sum(1 for n in lineage.values() for v in n.columns.values() if v),
        "unresolved": {k: list(v) for k, v in unresolved.items()},
    }
    return events, figures


def _transports(target: Path) -> list[tuple[str, object]]:
    from openlineage.client.transport.file import FileConfig, FileTransport

    transports: list[tuple[str, object]] = [("file", FileTransport(FileConfig(log_file_path=str(target), append=True)))]
    url = os.environ.get("CLV_OPENLINEAGE_URL")
    if url:
        from openlineage.client.transport.http import HttpConfig, HttpTransport

        config: dict = {"url": url, "endpoint": os.environ.get("CLV_OPENLINEAGE_ENDPOINT", "api/v1/lineage"),
                        "timeout": float(os.environ.get("CLV_OPENLINEAGE_TIMEOUT", "10"))}  # fmt: skip
        retries = int(os.environ.get("CLV_OPENLINEAGE_RETRIES", "3"))
        config["retry"] = {"total": retries, "read": retries, "connect": retries, "backoff_factor": 0.3,
                           "status_forcelist": [500, 502, 503, 504], "allowed_methods": ["HEAD", "POST"]}  # fmt: skip
        if os.environ.get("CLV_OPENLINEAGE_API_KEY"):
            config["auth"] = {"type": "api_key", "apiKey": os.environ["CLV_OPENLINEAGE_API_KEY"]}
        transports.append(("http", HttpTransport(HttpConfig.from_dict(config))))
    return transports


def emit_run_lineage(as_of_date: str | date, run_id: str) -> dict:
    """Emit every event of run ``run_id`` for D: validated, written to the run's ndjson file (replacing
    it), and sent to the HTTP backend when configured. Returns figures (events, jobs, file, bytes)."""
    day = date.fromisoformat(as_of_date) if isinstance(as_of_date, str) else as_of_date
    started = time.perf_counter()
    events, figures = build_run_events(day, run_id)
    checked = validate_events(to_dicts(events))
    path = naming.lineage_file(day, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    outcome = {"file": "written"}
    http_sent, http_error = 0, None
    for kind, transport in _transports(partial):
        for event in events:
            if kind == "file":
                transport.emit(event)
                continue
            try:
                transport.emit(event)
                http_sent += 1
            except Exception as exc:  # noqa: BLE001 - any transport failure: the file still holds the events
                http_error = f"{type(exc).__name__}: {exc}"
                break
    os.replace(partial, path)
    if os.environ.get("CLV_OPENLINEAGE_URL"):
        outcome["http"] = f"sent {http_sent} of {len(events)}" + (f"; stopped: {http_error}" if http_error else "")
        if http_error:
            log.error("lineage backend %s: %s (events kept in %s)", os.environ["CLV_OPENLINEAGE_URL"], http_error, path)
            if os.environ.get("CLV_OPENLINEAGE_REQUIRED", "").lower() in ("1", "true", "yes"):
                raise LineageBackendError(f"lineage backend refused the events of {run_id} for {day}: {http_error}")
    else:
        outcome["http"] = "off (CLV_OPENLINEAGE_URL not set)"
    summary = {
        "as_of_date": day.isoformat(), "run_id": run_id, "events": len(events), "validated": checked,
        "path": str(path), "bytes": path.stat().st_size, **figures, **outcome,
        "seconds": round(time.perf_counter() - started, 2),
    }  # fmt: skip
    log.info("lineage %s %s: %d events of %d jobs in %s (%s)", run_id, day, len(events), figures["jobs"], path,
             outcome["http"])  # fmt: skip
    return summary
