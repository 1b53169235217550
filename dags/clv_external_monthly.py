"""
### clv_external_monthly: load the external indicators and announce them

Fires at 05:00 Asia/Shanghai on the first day of each month and loads the external sources (macro and
industry indicators, fetched from the vendor's API) published that day: D = the Shanghai date of the run
(the first of the month; `airflow dags test clv_external_monthly 2026-11-01` loads 2026-11-01). One task
per external source (`ingest.<source>`), each in the one-slot `duckdb_warehouse` pool because it writes
the warehouse.

When every load has succeeded, `emit_external_indicators` emits the `clv_external_indicators` asset with
`as_of_date`, the sources with new data and the rows loaded per source in the event's extra. `clv_daily`
is scheduled on that asset, so a new external delivery triggers a recomputation of the latest business
date. If nothing was new (a rerun, or the vendor re-sent the same files) the task is skipped and no event
is emitted.

A broken payload fails its task at once; a publication not there yet, an unreachable API and any other
error are retried (twice, 5 minutes apart).

**Rerun:** clear the run (or `airflow dags test clv_external_monthly D`); each load replaces partition D.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable, TaskGroup, chain, dag, task

from python_tasks.orchestration.alerts import on_task_failure
from python_tasks.orchestration.assets import EXTERNAL_INDICATORS
from python_tasks.orchestration.business_dates import BUSINESS_TIMEZONE
from python_tasks.orchestration.retries import DeliveryRetryPolicy
from python_tasks.orchestration.sources import external_sources, upstream_sources
from python_tasks.settings import WAREHOUSE_POOL, WAREHOUSE_QUEUE


@task(pool=WAREHOUSE_POOL, retry_policy=DeliveryRetryPolicy())
def ingest(source: str) -> dict:
    """Fetch, validate and load one external source for business date D."""
    from airflow.sdk import get_current_context

    from python_tasks.ingest.job import ingest_source
    from python_tasks.orchestration.business_dates import publication_date_of_run

    context = get_current_context()
    return ingest_source(source, as_of_date=publication_date_of_run(context["dag_run"]), run_id=context["run_id"])


@task(outlets=[EXTERNAL_INDICATORS])
def emit_external_indicators(loads: list[dict]) -> None:
    """Announce the new external delivery; consumers read ``as_of_date`` from the event's extra."""
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowSkipException

    from python_tasks.orchestration.assets import sources_with_new_data
    from python_tasks.orchestration.business_dates import publication_date_of_run

    context = get_current_context()
    as_of_date = publication_date_of_run(context["dag_run"])
    new = sources_with_new_data(loads)
    if not new:
        raise AirflowSkipException(f"no new external data for {as_of_date}; clv_daily is not triggered")
    context["outlet_events"][EXTERNAL_INDICATORS].extra = {
        "as_of_date": as_of_date,
        "run_id": context["run_id"],
        "sources": new,
        "rows_loaded": {load["source"]: load.get("rows_loaded") for load in loads},
    }


@dag(
    dag_id="clv_external_monthly",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("0 5 1 * *", timezone=BUSINESS_TIMEZONE),
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "data-engineering",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "on_failure_callback": on_task_failure,  # the vendor's data not loaded: an alert (docs/alerts.md)
        "queue": WAREHOUSE_QUEUE,  # Celery: the single-writer worker (it writes the warehouse)
    },
    tags=["clv", "monthly", "ingest", "external"],
)
def clv_external_monthly():
    with TaskGroup("ingest", tooltip="Fetch, validate and load each external source for D") as ingest_stage:
        loads = {source: ingest.override(task_id=source)(source) for source in external_sources()}
        for source, load in loads.items():
            for upstream in upstream_sources(source):
                if upstream in loads:
                    loads[upstream] >> load

    chain(ingest_stage, emit_external_indicators(list(loads.values())))


clv_external_monthly()
