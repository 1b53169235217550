"""The DAG's last task: close a run for compliance, in one call.

``close_run(D, run_id, status)`` records the run audit row, emits the run's OpenLineage events and
builds its evidence bundle (applying the retention), in that order: the events carry the audit's status,
the bundle holds the audit row and the events. ``clv_daily`` calls it with ``success`` after publish and
with ``failed`` when a task failed for good (then the events end in FAIL and the bundle keeps the
alerts). A successful run also gets its dbt docs site (``<CLV_HOME>/dbt_docs/<D>/<run id>/index.html``,
self-contained). Each step replaces what an earlier call for the same run and date left, so a rerun is
safe.
"""

from __future__ import annotations

import logging
import time
from datetime import date
from pathlib import Path

log = logging.getLogger(__name__)


def close_run(as_of_date: str | date, run_id: str, status: str = "success") -> dict:
    """Run audit, lineage events and evidence bundle of run ``run_id`` for D; returns their figures."""
    from python_tasks.lineage.emit import emit_run_lineage
    from python_tasks.lineage.evidence import build_evidence_bundle
    from python_tasks.lineage.run_audit import record_run_audit

    day = date.fromisoformat(as_of_date) if isinstance(as_of_date, str) else as_of_date
    started = time.perf_counter()
    audit = record_run_audit(day, run_id, status)
    lineage = emit_run_lineage(day, run_id)
    evidence = build_evidence_bundle(day, run_id)
    docs = publish_dbt_docs(day, run_id) if status == "success" else None
    summary = {
        "as_of_date": day.isoformat(),
        "run_id": run_id,
        "status": status,
        "input_files": len(audit["input_files"]),
        "gates": {g: o["outcome"] for g, o in audit["gates"].items()},
        "lineage_events": lineage["events"],
        "lineage_jobs": lineage["jobs"],
        "lineage_file": lineage["path"],
        "lineage_http": lineage["http"],
        "evidence": evidence["path"],
        "evidence_files": evidence["files"],
        "evidence_bytes": evidence["bytes"],
        "evidence_deleted": evidence["deleted"],
        "dbt_docs": str(docs) if docs else None,
        "seconds": round(time.perf_counter() - started, 2),
    }
    log.info("run %s for %s closed: %s", run_id, day, summary)
    return summary


def dbt_docs_path(as_of_date: date, run_id: str) -> Path:
    """The dbt docs site of one run: ``<CLV_HOME>/dbt_docs/<D>/<run id>/index.html``."""
    from python_tasks.settings import get_settings, path_component

    return get_settings().home / "dbt_docs" / as_of_date.isoformat() / path_component(run_id) / "index.html"


def publish_dbt_docs(as_of_date: date, run_id: str) -> Path:
    """The dbt docs site of the models as this run built them (models, columns, tests, lineage graph, the
    catalog of the warehouse), one self-contained HTML file kept per run; generated in its own target
    folder so the build's manifest and run results (the evidence) stay as the build left them."""
    from python_tasks.io.files import copy_atomic
    from python_tasks.transform.dbt_job import generate_docs

    started = time.perf_counter()
    site = generate_docs(target="docs_target", static=True)
    path = copy_atomic(site, dbt_docs_path(as_of_date, run_id))
    log.info("dbt docs of run %s for %s: %s (%.1f s)", run_id, as_of_date, path, time.perf_counter() - started)
    return path
