"""
### clv_restatement: recompute past business dates after a late correction

A bank system re-sends the delivery of a past date D_past (a corrected file in
`<inbox>/<source>/<D_past>/`). A plain rerun of D_past would rebuild that date alone and leave every later
date built on the old data, so the daily run refuses it outside Airflow; this DAG does the restatement:
one task, `restate`, in the one-slot `duckdb_warehouse` pool, calls
`python_tasks.orchestration.restatement.restate`:

1. finds every processed date whose inbox delivery differs from what the load ledger loaded (sha256), from
   `from_date` on (default: every processed date), and any restatement that stopped part-way;
2. rolls the SCD2 snapshots back to their state before the earliest such date;
3. replays the daily run (ingest, gates, dbt, CLV, segments, publish, report, audit) of every date from it
   to the latest processed date, in order: the corrected partitions are reloaded, the others come back
   `unchanged`; dates before it are not touched;
4. records one row per corrected source in `audit.restatements` (old and new sha256, dates and run ids
   recomputed, clients whose CLV moved).

Trigger it by hand or through the REST API with `{"from_date": "2026-11-21"}` (and `"dry_run": true` to see
the corrections and the dates it would recompute, changing nothing). A failed restatement (a gate fails on
the corrected data) is recorded as failed; fix the cause and trigger again: it resumes from the same date.
While it runs it holds the pool slot, so `clv_daily`'s warehouse tasks wait for it. Decisions:
docs/adr/0007-restatements.md.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from python_tasks.orchestration.alerts import on_task_failure
from python_tasks.orchestration.retries import DeliveryRetryPolicy
from python_tasks.settings import WAREHOUSE_POOL, WAREHOUSE_QUEUE


@task(pool=WAREHOUSE_POOL, retry_policy=DeliveryRetryPolicy())
def restate() -> dict:
    """Recompute every processed date from the earliest corrected delivery; record the restatement."""
    from datetime import date

    from airflow.sdk import get_current_context

    from python_tasks.orchestration.restatement import restate as run_restatement

    params = get_current_context()["params"]
    first = date.fromisoformat(params["from_date"]) if params.get("from_date") else None
    return run_restatement(first, dry_run=bool(params.get("dry_run")))


@dag(
    dag_id="clv_restatement",
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={
        "from_date": Param(None, type=["null", "string"], description="look for corrections from this date on"),
        "dry_run": Param(False, type="boolean", description="only report the corrections and the dates"),
    },
    default_args={
        "owner": "data-engineering",
        "retries": 1,
        "retry_delay": timedelta(minutes=5),
        "queue": WAREHOUSE_QUEUE,  # Celery: the single-writer warehouse worker
        "on_failure_callback": on_task_failure,
    },
    tags=["clv", "restatement", "backfill"],
)
def clv_restatement():
    restate()


clv_restatement()
