"""
### clv_daily: the daily corporate-lending CLV run for one business date D

**Business date.** A scheduled run fires at 06:00 Asia/Shanghai, when the deliveries of the previous
day are complete, and processes that day: D = the run's logical date (`ds`, 22:00 UTC of D).
`airflow dags test clv_daily 2026-11-20` processes 2026-11-20. A run triggered by a new external
delivery (the `clv_external_indicators` asset, emitted by `clv_external_monthly`) has no logical date;
it recomputes the business date of the latest scheduled run due at its `run_after` (the Shanghai day
before, or the day before that if it runs before 06:00). See `python_tasks.orchestration.business_dates`.

**Stages** (in run order):

1. `ingest`: one task per internal source (`ingest.<source>`), ordered by the contracts' foreign keys
   (`clients` before `facilities` before `repayments`, ...). Each lands the delivery for D, validates it
   against the source contract, quarantines bad rows and replaces raw partition D. A broken file (wrong
   schema, unreadable) fails the task at once with a message naming the file: retrying cannot fix it.
   A delivery that has not arrived yet, and any other error, is retried (twice, 5 minutes apart); once
   the source's deadline has passed (expectations/freshness.yml) a missing delivery is recorded as
   `missing` in the load ledger and the task succeeds, leaving the decision to the freshness gate.
   `freshness_gate`: every internal source delivered for D, the external data (macro monthly, industry
   quarterly) no older than its cadence allows; a source with policy `stop` stops the run, one with `warn`
   is recorded and the run goes on with the data last delivered.
2. `raw_gate`: validates every partition the run loaded with its Great Expectations suite (built from
   the contract plus `expectations/raw.yml`), records every result in `audit.dq_results`, and fails on an
   error-level check, naming the suite and the checks; the run stops there.
3. `dbt_build`: `dbt build --selector daily_build` in-process (seeds, staging models and their tests);
   every node's status, rows and time go to the task log and `audit.dbt_results`; a failed model or
   test stops the run.
   `profile_gate`: the GX suite of the client profile (expectations/profile.yml): industry and size of
   every client, plausible ratios, EAD not below drawn; every result in `audit.dq_results`; an error-level
   failure stops the run (docs/quality.md).
4. `clv`: the CLV engine (python_tasks/clv, docs/clv.md), split by client shard so that workers share it
   (python_tasks/clv/sharded.py): `clv.prepare` calibrates retention and the scorecard on the history and
   writes D's engine inputs split into `CLV_SHARDS` shards (a stable hash of the client id); `clv.value`,
   one mapped task per shard on the `compute` queue, values its clients under the baseline, adverse and
   severe scenarios and attributes their change since the previous run, without opening the warehouse (a
   failed shard is retried alone); `clv.merge` backtests earlier runs and replaces D's rows of the
   `valuation` tables in one transaction, the same rows as an unsharded run. A missing profile or macro outlook stops the run naming it.
   `clv_gate` (expectations/clv.yml): one row per client per scenario, finite values, components adding up
   to the CLV, PD and LGD in range, stress not raising the portfolio's value.
5. `segments`: segments and early warnings (python_tasks/segments, docs/segments.md): value and risk tiers,
   the value × risk strategy with its credit policy, lifecycle stage, usage pattern, behavioural clusters
   (stable ids across runs), next best offer, early-warning signals with their lifecycle and the watch
   list, migration matrices and segment summaries. Split like the CLV (python_tasks/segments/sharded.py):
   `segments.prepare` fits the value-tier thresholds and the clusters on the whole portfolio and writes
   the inputs by shard; `segments.value`, one mapped task per shard on the `compute` queue, segments its
   clients and raises their signals; `segments.merge` ranks the watch list, builds the summaries and the
   migration and replaces D's rows of the `segments` tables in one transaction. A missing profile or CLV
   for D stops the run naming it. `segments_gate`
   (expectations/segments.yml): every client segmented with allowed labels, no offer its rules forbid,
   signals in a consistent state. `drift_gate` (expectations/drift.yml): clients, rows, exposure, CLV,
   PD distribution and segment shares against the last good run; beyond the warn bound recorded, beyond
   the stop bound the run stops naming the metric, the old and new value and the bound.
   `reconciliation_gate` (python_tasks/quality/reconciliation.py): rows, distinct clients and money sums of
   every delivered file followed through the load ledger, quarantine, raw, staging, the marts and the
   valuation; every exclusion counted with its reason; a total that does not balance stops the run.
6. `publish` (docs/bi.md), only reached when every error-level gate passed: the BI tables (business names,
   personal data replaced by keyed HMAC-SHA256 pseudonyms) into a new serving DuckDB file in a storage
   format DuckDB 1.x drivers read, verified, then swapped atomically over `<CLV_HOME>/serving/clv_serving.duckdb`
   (a reader holding the old file is never blocked); Parquet per table and business date; optionally the
   same tables into PostgreSQL (`CLV_SERVING_POSTGRES_URL`, schema swap in one transaction). A failed run
   never gets here, so the last good serving state stays as it was.
   `report`: the run report (docs/report.md), one static HTML page under `<CLV_HOME>/reports/<D>/` with the
   CLV distribution, the strategy matrix, migration, early warnings, attribution and data quality.
7. `summarise`: logs the load ledger of this run (files, rows in / loaded / quarantined per source).
   It runs only if every ingest task succeeded, so a failed run is never reported as good.
8. `audit` closes the run (docs/lineage.md): the run audit row (`audit.run_audit`: code version,
   parameter hashes, input files with their sha256, rows per stage, each gate's outcome), the OpenLineage
   events of every task and dbt model (column-level lineage) and the evidence bundle under
   `<CLV_HOME>/evidence/<D>/<run id>/`. `audit_on_failure` does the same with status `failed` when any task
   failed for good (it is skipped otherwise).

**Alerts.** A task that fails for good (a failed gate or dbt test, a broken delivery, retries used up)
calls `python_tasks.orchestration.alerts.on_task_failure`: an alert naming the task, the business date,
the error and, for a gate, its failed checks is logged, written to `<CLV_HOME>/alerts/`, and sent to a
webhook and by email when configured by environment (docs/alerts.md).

**Rerun a day:** clear the run of D (or `airflow dags test clv_daily D`); every task replaces partition D
and nothing else. Every task that opens the DuckDB warehouse runs in the one-slot `duckdb_warehouse` pool
(DuckDB allows one writing process) and on the `warehouse` Celery queue (one worker, concurrency 1); the
shards (`clv.value`, `segments.value`) touch only files and run on the `compute` queue, several at a time.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, TaskGroup, TriggerRule, chain, dag, task

from python_tasks.orchestration.alerts import on_task_failure
from python_tasks.orchestration.assets import EXTERNAL_INDICATORS
from python_tasks.orchestration.business_dates import BUSINESS_TIMEZONE
from python_tasks.orchestration.retries import DeliveryRetryPolicy
from python_tasks.orchestration.sources import internal_sources, upstream_sources
from python_tasks.settings import COMPUTE_QUEUE, WAREHOUSE_POOL, WAREHOUSE_QUEUE


@task(pool=WAREHOUSE_POOL, retry_policy=DeliveryRetryPolicy())
def ingest(source: str) -> dict:
    """Land, validate and load the delivery of one internal source for business date D."""
    from datetime import date

    from airflow.sdk import get_current_context

    from python_tasks.ingest.job import ingest_source
    from python_tasks.orchestration.business_dates import business_date_of_run
    from python_tasks.orchestration.restatement import check_run_allowed

    context = get_current_context()
    day = date.fromisoformat(business_date_of_run(context["dag_run"]))
    # the CLI's refusals (docs/adr/0007-restatements.md), before anything of D is loaded: D before the date
    # after the last processed one, a past date whose delivery was corrected (clv_restatement's work), or
    # while a restatement is unfinished; each names the command that fixes it
    check_run_allowed(day)
    return ingest_source(source, as_of_date=day, run_id=context["run_id"])


@task(pool=WAREHOUSE_POOL, retry_policy=DeliveryRetryPolicy())
def freshness_gate() -> dict:
    """Every source delivered for D by its deadline, external data within its cadence; a `stop` source stops."""
    from airflow.sdk import get_current_context

    from python_tasks.orchestration.business_dates import business_date_of_run
    from python_tasks.quality.freshness_gate import run_freshness_gate

    context = get_current_context()
    return run_freshness_gate(as_of_date=business_date_of_run(context["dag_run"]), run_id=context["run_id"])


@task(pool=WAREHOUSE_POOL, retry_policy=DeliveryRetryPolicy())
def raw_gate() -> dict:
    """Validate every partition this run loaded with its GX suite; an error-level failure stops the run."""
    from airflow.sdk import get_current_context

    from python_tasks.orchestration.business_dates import business_date_of_run
    from python_tasks.quality.raw_gate import run_raw_gate

    context = get_current_context()
    return run_raw_gate(as_of_date=business_date_of_run(context["dag_run"]), run_id=context["run_id"])


@task(pool=WAREHOUSE_POOL, retry_policy=DeliveryRetryPolicy())
def stage_gate(gate: str) -> dict:
    """Validate a stage's outputs for D (expectations/<gate>.yml); an error-level failure stops the run."""
    from airflow.sdk import get_current_context

    from python_tasks.orchestration.business_dates import business_date_of_run
    from python_tasks.quality.stage_gates import run_stage_gate

    context = get_current_context()
    return run_stage_gate(gate, as_of_date=business_date_of_run(context["dag_run"]), run_id=context["run_id"])


@task(pool=WAREHOUSE_POOL, retry_policy=DeliveryRetryPolicy())
def drift_gate() -> dict:
    """D's portfolio against the last good run (expectations/drift.yml): warn, or stop beyond the hard bound."""
    from airflow.sdk import get_current_context

    from python_tasks.orchestration.business_dates import business_date_of_run
    from python_tasks.quality.stage_gates import run_drift_gate

    context = get_current_context()
    return run_drift_gate(as_of_date=business_date_of_run(context["dag_run"]), run_id=context["run_id"])


@task(pool=WAREHOUSE_POOL, retry_policy=DeliveryRetryPolicy())
def reconciliation_gate() -> dict:
    """Control totals from every delivered file to the valuation balance, exclusions counted (docs/quality.md)."""
    from airflow.sdk import get_current_context

    from python_tasks.orchestration.business_dates import business_date_of_run
    from python_tasks.quality.reconciliation import run_reconciliation

    context = get_current_context()
    return run_reconciliation(as_of_date=business_date_of_run(context["dag_run"]), run_id=context["run_id"],
                              published=False)  # fmt: skip


@task(pool=WAREHOUSE_POOL, retry_policy=DeliveryRetryPolicy())
def dbt_build() -> dict:
    """Build the reference seeds and the client-profile models with their tests (dbt, in-process)."""
    from airflow.sdk import get_current_context

    from python_tasks.orchestration.business_dates import business_date_of_run
    from python_tasks.transform.dbt_job import run_dbt_build

    context = get_current_context()
    return run_dbt_build(as_of_date=business_date_of_run(context["dag_run"]), run_id=context["run_id"])


@task(pool=WAREHOUSE_POOL)
def clv_prepare() -> list[int]:
    """Calibrate on the whole portfolio and write D's engine inputs split by client shard (CLV_SHARDS); the
    shard numbers, one mapped `clv.value` task each."""
    from airflow.sdk import get_current_context

    from python_tasks.clv.sharded import prepare_clv_shards
    from python_tasks.orchestration.business_dates import business_date_of_run

    context = get_current_context()
    return prepare_clv_shards(as_of_date=business_date_of_run(context["dag_run"]), run_id=context["run_id"])["shards"]


@task(queue=COMPUTE_QUEUE)
def clv_value(shard: int) -> dict:
    """Value one shard's clients under every scenario and attribute their change; no warehouse access."""
    from airflow.sdk import get_current_context

    from python_tasks.clv.sharded import value_clv_shard
    from python_tasks.orchestration.business_dates import business_date_of_run

    context = get_current_context()
    return value_clv_shard(as_of_date=business_date_of_run(context["dag_run"]), run_id=context["run_id"], shard=shard)


@task(pool=WAREHOUSE_POOL)
def clv_merge() -> dict:
    """Write every shard's results into D's valuation tables in one transaction, with the backtest."""
    from airflow.sdk import get_current_context

    from python_tasks.clv.sharded import merge_clv_shards
    from python_tasks.orchestration.business_dates import business_date_of_run

    context = get_current_context()
    return merge_clv_shards(as_of_date=business_date_of_run(context["dag_run"]), run_id=context["run_id"])


@task(pool=WAREHOUSE_POOL)
def segments_prepare() -> list[int]:
    """Fit the value-tier thresholds and the clusters on the whole portfolio; write D's inputs split by shard."""
    from airflow.sdk import get_current_context

    from python_tasks.orchestration.business_dates import business_date_of_run
    from python_tasks.segments.sharded import prepare_segment_shards

    context = get_current_context()
    return prepare_segment_shards(as_of_date=business_date_of_run(context["dag_run"]), run_id=context["run_id"])["shards"]


@task(queue=COMPUTE_QUEUE)
def segments_value(shard: int) -> dict:
    """Tiers, strategy, lifecycle, usage, offers and early warnings of one shard's clients; no warehouse access."""
    from airflow.sdk import get_current_context

    from python_tasks.orchestration.business_dates import business_date_of_run
    from python_tasks.segments.sharded import value_segment_shard

    context = get_current_context()
    return value_segment_shard(as_of_date=business_date_of_run(context["dag_run"]), run_id=context["run_id"], shard=shard)


@task(pool=WAREHOUSE_POOL)
def segments_merge() -> dict:
    """Watch list, summaries and migration from every shard's rows; D's segments tables in one transaction."""
    from airflow.sdk import get_current_context

    from python_tasks.orchestration.business_dates import business_date_of_run
    from python_tasks.segments.sharded import merge_segment_shards

    context = get_current_context()
    return merge_segment_shards(as_of_date=business_date_of_run(context["dag_run"]), run_id=context["run_id"])


@task(pool=WAREHOUSE_POOL)
def publish() -> dict:
    """Publish D for BI once every gate passed: serving DuckDB file (atomic swap), Parquet, optional PostgreSQL."""
    from airflow.sdk import get_current_context

    from python_tasks.orchestration.business_dates import business_date_of_run
    from python_tasks.serving.publish import run_publish

    context = get_current_context()
    return run_publish(as_of_date=business_date_of_run(context["dag_run"]), run_id=context["run_id"])


@task(pool=WAREHOUSE_POOL)
def report() -> str:
    """The run report: one static HTML page with the portfolio's charts, warnings and data quality."""
    from airflow.sdk import get_current_context

    from python_tasks.orchestration.business_dates import business_date_of_run
    from python_tasks.report.job import build_report

    context = get_current_context()
    return str(build_report(business_date_of_run(context["dag_run"]), context["run_id"]))


def _close_run(status: str) -> dict:
    from airflow.sdk import get_current_context

    from python_tasks.lineage.job import close_run
    from python_tasks.orchestration.business_dates import business_date_of_run

    context = get_current_context()
    return close_run(business_date_of_run(context["dag_run"]), context["run_id"], status)


@task(pool=WAREHOUSE_POOL)
def audit() -> dict:
    """Close the run: the run audit row, the OpenLineage events and the evidence bundle (docs/lineage.md)."""
    return _close_run("success")


@task(pool=WAREHOUSE_POOL, trigger_rule=TriggerRule.ONE_FAILED)
def audit_on_failure() -> dict:
    """When any task failed for good: the same record with status failed (skipped when all went well)."""
    return _close_run("failed")


@task(pool=WAREHOUSE_POOL)
def summarise() -> dict:
    """Log the load ledger of this run: what came in, what was loaded, what was quarantined."""
    from airflow.sdk import get_current_context

    from python_tasks.ingest.job import summarise_run
    from python_tasks.orchestration.business_dates import business_date_of_run

    context = get_current_context()
    return summarise_run(as_of_date=business_date_of_run(context["dag_run"]), run_id=context["run_id"])


@dag(
    dag_id="clv_daily",
    doc_md=__doc__,
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 6 * * *", timezone=BUSINESS_TIMEZONE),
        assets=EXTERNAL_INDICATORS,
    ),
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "data-engineering",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        # Celery: every task goes to the single-writer warehouse worker unless it says otherwise (the shards)
        "queue": WAREHOUSE_QUEUE,
        # a failure that ends the task (gate, dbt test, broken delivery, retries used up) raises an alert
        "on_failure_callback": on_task_failure,
    },
    tags=["clv", "daily", "ingest", "valuation", "segments"],
)
def clv_daily():
    with TaskGroup("ingest", tooltip="Land, validate and load each internal source for D") as ingest_stage:
        loads = {source: ingest.override(task_id=source)(source) for source in internal_sources()}
        for source, load in loads.items():
            for upstream in upstream_sources(source):
                if upstream in loads:
                    loads[upstream] >> load

    with TaskGroup("clv", tooltip="Value every client: prepare the shards, value each, merge") as clv_stage:
        prepared = clv_prepare.override(task_id="prepare")()
        prepared >> clv_value.override(task_id="value").expand(shard=prepared) >> clv_merge.override(
            task_id="merge"
        )()

    with TaskGroup("segments", tooltip="Segment every client: fit on the portfolio, segment each shard, merge") as seg_stage:
        fitted = segments_prepare.override(task_id="prepare")()
        fitted >> segments_value.override(task_id="value").expand(shard=fitted) >> segments_merge.override(
            task_id="merge"
        )()

    # The run's stages in order; later stages (output gates, publish) are added to this chain
    # where they belong in the run.
    stages = [
        ingest_stage,
        freshness_gate(),
        raw_gate(),
        dbt_build(),
        stage_gate.override(task_id="profile_gate")("profile"),
        clv_stage,
        stage_gate.override(task_id="clv_gate")("clv"),
        seg_stage,
        stage_gate.override(task_id="segments_gate")("segments"),
        drift_gate(),
        reconciliation_gate(),
        publish(),
        report(),
        summarise(),
    ]
    chain(*stages, audit())
    # a leaf beside `audit`, not after it: the run stays failed (its `audit` upstream_failed) while the
    # failure is recorded; when everything succeeded it is skipped
    stages >> audit_on_failure()


clv_daily()
