"""The DAG's last task: close a run for compliance, in one call.

``close_run(D, run_id, status)`` records the run audit row, emits the run's OpenLineage events and
builds its evidence bundle (applying the retention), in that order: the events carry the audit's status,
the bundle holds the audit row and the events. ``clv_daily`` calls it with ``success`` after publish and
with ``failed`` when a task failed for good (then the events end in FAIL and the bundle keeps the
alerts). Each step replaces what an earlier call for the same run and date left, so a rerun is safe.
"""

from __future__ import annotations

import logging
import time
from datetime import date

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
        "seconds": round(time.perf_counter() - started, 2),
    }
    log.info("run %s for %s closed: %s", run_id, day, summary)
    return summary
