"""Thin jobs the DAG tasks and the CLI call: land, validate and load one source for one business date."""

from __future__ import annotations

import logging
import time
from datetime import UTC, date, datetime

from python_tasks.contracts import load_contract
from python_tasks.ingest.landing import land_delivery
from python_tasks.ingest.load import load_delivery
from python_tasks.ingest.readers import DeliveryError
from python_tasks.io import warehouse
from python_tasks.settings import get_settings

log = logging.getLogger(__name__)


def ingest_source(
    source: str, as_of_date: str | date, run_id: str, *, force: bool = False, now: datetime | None = None
) -> dict:
    """Land the delivery of ``source`` for ``as_of_date`` and load it as that raw partition.

    Returns the counts (a small JSON-serialisable dict for XCom). A file that cannot be read raises
    :class:`~python_tasks.ingest.readers.DeliveryError` after the ledger has recorded the rejection; the
    partition then keeps its previous content. A daily delivery that is not there raises the same error
    (rule ``file:missing``, which the DAG retries) until its deadline (expectations/freshness.yml); once
    the deadline has passed (``now``, default the clock) it is recorded as ``missing`` and the freshness
    gate decides, by the source's policy, whether the run stops or goes on with the data last delivered.
    """
    day = date.fromisoformat(as_of_date) if isinstance(as_of_date, str) else as_of_date
    settings = get_settings()
    contract = load_contract(source)
    started = time.perf_counter()
    try:
        files = land_delivery(settings, contract, day)
    except DeliveryError as exc:
        if exc.rule != "file:missing" or contract.delivery.format == "api" or not _past_deadline(source, day, now):
            raise
        return _record_missing(settings, source, day, run_id, exc)
    log.info(
        "%s %s: landed %d file(s) in %.2f s: %s",
        source,
        day,
        len(files),
        time.perf_counter() - started,
        ", ".join(f.name for f in files),
    )
    work_dir = settings.landing_dir / ".work" / source
    with warehouse.connect(settings.warehouse_path) as con:
        result = load_delivery(con, contract, day, files, run_id, work_dir, force=force)
    log.info(
        "%s %s: %s — rows in %d, loaded %d, quarantined %d",
        source,
        day,
        result.status,
        result.rows_in,
        result.rows_loaded,
        result.rows_quarantined,
    )
    for outcome in result.files:
        if outcome.message and outcome.status != "unchanged":
            level = logging.INFO if outcome.message.startswith("header only") else logging.WARNING
            log.log(level, "%s: %s", outcome.file_name, outcome.message)
    return result.as_dict()


def _past_deadline(source: str, day: date, now: datetime | None) -> bool:
    from python_tasks.quality.freshness import deadline, deadline_passed, default_rules

    rules = default_rules()
    moment = now or datetime.now(UTC)
    if deadline_passed(rules, source, day, moment):
        return True
    log.info("%s %s: not delivered yet; due by %s", source, day, f"{deadline(rules, source, day):%Y-%m-%d %H:%M %Z}")
    return False


def _record_missing(settings, source: str, day: date, run_id: str, error: DeliveryError) -> dict:  # noqa: ANN001
    """Record in the ledger that D's delivery of ``source`` was not there by its deadline (nothing loaded,
    the partition untouched); the freshness gate reports it by the source's policy."""
    moment = datetime.now(UTC)
    with warehouse.connect(settings.warehouse_path) as con:
        con.execute("BEGIN TRANSACTION")
        # a rerun of the task in the same run records it once
        con.execute(
            "DELETE FROM audit.load_ledger WHERE run_id = $run AND source = $source AND as_of_date = $d "
            "AND status = 'missing'",
            {"run": run_id, "source": source, "d": day},
        )
        con.execute(
            "INSERT INTO audit.load_ledger VALUES ($run, $source, $d, NULL, NULL, NULL, NULL, 0, 0, 0, 'missing', "
            "$msg, $at, $at)",
            {"run": run_id, "source": source, "d": day, "msg": f"{error} (past its deadline)", "at": moment},
        )
        con.execute("COMMIT")
    log.warning("%s %s: missing past its deadline: %s; the freshness gate decides", source, day, error)
    return {"source": source, "as_of_date": day.isoformat(), "run_id": run_id, "status": "missing",
            "rows_in": 0, "rows_loaded": 0, "rows_quarantined": 0, "files": []}  # fmt: skip


def summarise_run(as_of_date: str | date, run_id: str) -> dict:
    """Counts per source of what this run loaded for the business date, from the load ledger.

    A load retried in the same run (a worker killed after its load committed) is a second attempt (its
    ledger rows share ``started_at``) that finds the files ``unchanged``: each source is reported once, as
    the attempt that loaded it (else the latest), the way the freshness gate counts it, with the number of
    attempts beside it."""
    day = date.fromisoformat(as_of_date) if isinstance(as_of_date, str) else as_of_date
    settings = get_settings()
    with warehouse.connect(settings.warehouse_path, read_only=True) as con:
        rows = con.execute(
            """
            WITH attempts AS (
                SELECT source, count(*) AS files, sum(rows_in) AS rows_in, sum(rows_loaded) AS rows_loaded,
                       sum(rows_quarantined) AS rows_quarantined,
                       string_agg(DISTINCT status, ',' ORDER BY status) AS status,
                       bool_or(status = 'loaded') AS loaded, bool_and(status = 'unchanged') AS unchanged,
                       max(finished_at) AS recorded_at
                FROM audit.load_ledger WHERE run_id = $run AND as_of_date = $d
                GROUP BY source, started_at
            )
            SELECT source, files, rows_in, rows_loaded, rows_quarantined, status,
                   count(*) OVER (PARTITION BY source) AS attempts
            FROM attempts
            QUALIFY row_number() OVER (PARTITION BY source ORDER BY loaded DESC, unchanged DESC, recorded_at DESC) = 1
            ORDER BY source
            """,
            {"run": run_id, "d": day},
        ).fetchall()
    from python_tasks.quality.data_docs import data_docs_index

    docs = data_docs_index(run_id, day)
    summary = {
        "as_of_date": day.isoformat(),
        "run_id": run_id,
        "warehouse": str(settings.warehouse_path),
        "data_docs": str(docs) if docs.exists() else None,
        "sources": [
            {"source": s, "files": f, "rows_in": i, "rows_loaded": lo, "rows_quarantined": qu, "status": st,
             "attempts": a}
            for s, f, i, lo, qu, st, a in rows
        ],
    }
    width = max((len(s["source"]) for s in summary["sources"]), default=6)
    lines = [f"{'source':<{width}}  files  rows_in  loaded  quarantined  status"]
    for s in summary["sources"]:
        retried = f" ({s['attempts']} attempts)" if s["attempts"] > 1 else ""
        lines.append(
            f"{s['source']:<{width}}  {s['files']:>5}  {s['rows_in']:>7}  {s['rows_loaded']:>6}  "
            f"{s['rows_quarantined']:>11}  {s['status']}{retried}"
        )
    if summary["data_docs"]:
        lines.append(f"data-quality results of every gate (GX Data Docs): file://{docs}")
    log.info("run %s for %s:\n%s", run_id, day, "\n".join(lines))
    return summary
