"""Structure of clv_daily: one ingest task per internal source, edges from the contracts' foreign keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from python_tasks.orchestration.sources import internal_sources, upstream_sources
from python_tasks.settings import WAREHOUSE_POOL

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.dags["clv_daily"]


def ingest_id(source: str) -> str:
    return f"ingest.{source}"


def test_task_ids(dag):
    assert set(dag.task_ids) == {ingest_id(s) for s in internal_sources()} | {
        "freshness_gate",
        "raw_gate",
        "dbt_build",
        "profile_gate",
        "clv.prepare",
        "clv.value",
        "clv.merge",
        "clv_gate",
        "segments.prepare",
        "segments.value",
        "segments.merge",
        "segments_gate",
        "drift_gate",
        "reconciliation_gate",
        "publish",
        "report",
        "summarise",
        "audit",
        "audit_on_failure",
    }
    assert dag.task_group_dict["ingest"].children.keys() == {ingest_id(s) for s in internal_sources()}


def test_ingest_edges_follow_the_foreign_keys(dag):
    for source in internal_sources():
        expected = {ingest_id(u) for u in upstream_sources(source) if u in internal_sources()}
        assert dag.task_dict[ingest_id(source)].upstream_task_ids == expected, source


@pytest.mark.parametrize(
    ("upstream", "downstream"),
    [
        ("clients", "facilities"),
        ("facilities", "repayments"),
        ("clients", "repayments"),
        ("facilities", "collateral"),
        ("clients", "ratings"),
        ("clients", "financial_statements"),
        ("clients", "product_holdings"),
        ("clients", "crm_interactions"),
        ("clients", "fee_income"),
    ],
)
def test_concrete_edges(dag, upstream, downstream):
    assert ingest_id(upstream) in dag.task_dict[ingest_id(downstream)].upstream_task_ids


def test_clients_load_first(dag):
    assert dag.task_dict["ingest.clients"].upstream_task_ids == set()


def test_summarise_runs_only_after_every_ingest_task_succeeded(dag):
    summarise = dag.task_dict["summarise"]
    assert summarise.trigger_rule == "all_success"
    assert summarise.get_flat_relative_ids(upstream=True) == {ingest_id(s) for s in internal_sources()} | {
        "freshness_gate",
        "raw_gate",
        "dbt_build",
        "profile_gate",
        "clv.prepare",
        "clv.value",
        "clv.merge",
        "clv_gate",
        "segments.prepare",
        "segments.value",
        "segments.merge",
        "segments_gate",
        "drift_gate",
        "reconciliation_gate",
        "publish",
        "report",
    }
    assert summarise.upstream_task_ids == {"report"}
    assert summarise.downstream_task_ids == {"audit", "audit_on_failure"}


def test_the_run_is_closed_by_audit_or_on_failure_by_audit_on_failure(dag):
    from python_tasks.lineage.python_stages import dag_task_ids

    audit, on_failure = dag.task_dict["audit"], dag.task_dict["audit_on_failure"]
    assert audit.upstream_task_ids == {"summarise"} and audit.trigger_rule == "all_success"
    assert on_failure.trigger_rule == "one_failed"
    ingest = {f"ingest.{s}" for s in internal_sources()}
    # a task group's last task stands for the group
    groups = ingest | {"clv.prepare", "clv.value", "segments.prepare", "segments.value"}
    assert set(dag.task_ids) - groups - {"audit_on_failure", "audit"} <= on_failure.upstream_task_ids  # each stage
    assert on_failure.get_flat_relative_ids(upstream=True) == set(dag.task_ids) - {"audit_on_failure", "audit"}
    assert audit.downstream_task_ids == on_failure.downstream_task_ids == set()  # both leaves: a failure stays failed
    # the lineage events describe exactly the tasks of a successful run
    assert set(dag.task_ids) - {"audit_on_failure"} == set(dag_task_ids(with_publish=True))


def test_dbt_build_follows_the_raw_gate(dag):
    build = dag.task_dict["dbt_build"]
    assert build.pool == "duckdb_warehouse" and build.upstream_task_ids == {"raw_gate"}


def test_clv_follows_the_profile_gate_sharded_on_the_compute_queue(dag):
    prepare, value, merge = (dag.task_dict[f"clv.{t}"] for t in ("prepare", "value", "merge"))
    assert prepare.pool == "duckdb_warehouse" and prepare.upstream_task_ids == {"profile_gate"}
    assert prepare.queue == merge.queue == "warehouse"
    # one mapped task per shard, on the scalable queue, outside the single-writer pool
    assert value.queue == "compute" and value.pool != WAREHOUSE_POOL and value.upstream_task_ids == {"clv.prepare"}
    assert type(value).__name__.endswith("MappedOperator") and value.retries == 2
    assert merge.pool == "duckdb_warehouse" and merge.upstream_task_ids == {"clv.value"}
    assert dag.task_group_dict["clv"].children.keys() == {"clv.prepare", "clv.value", "clv.merge"}


def test_segments_follow_the_clv_gate_sharded_on_the_compute_queue(dag):
    prepare, value, merge = (dag.task_dict[f"segments.{t}"] for t in ("prepare", "value", "merge"))
    assert prepare.pool == "duckdb_warehouse" and prepare.upstream_task_ids == {"clv_gate"}
    assert value.queue == "compute" and value.pool != WAREHOUSE_POOL and value.upstream_task_ids == {"segments.prepare"}
    assert type(value).__name__.endswith("MappedOperator") and value.retries == 2
    assert merge.pool == "duckdb_warehouse" and merge.queue == "warehouse"
    assert merge.upstream_task_ids == {"segments.value"}


def test_publish_follows_the_last_gate(dag):
    assert dag.task_dict["publish"].upstream_task_ids == {"reconciliation_gate"}
    assert dag.task_dict["report"].upstream_task_ids == {"publish"}


@pytest.mark.parametrize(("gate", "after"), [("profile_gate", "dbt_build"), ("clv_gate", "clv.merge"),
                                             ("segments_gate", "segments.merge"), ("drift_gate", "segments_gate"),
                                             ("reconciliation_gate", "drift_gate")])  # fmt: skip
def test_each_stage_is_followed_by_its_gate(dag, gate, after):
    task = dag.task_dict[gate]
    assert task.pool == "duckdb_warehouse" and task.upstream_task_ids == {after}


def test_the_freshness_gate_follows_every_ingest_task_and_precedes_the_raw_gate(dag):
    gate = dag.task_dict["freshness_gate"]
    assert gate.pool == "duckdb_warehouse" and gate.trigger_rule == "all_success"
    assert gate.get_flat_relative_ids(upstream=True) == {ingest_id(s) for s in internal_sources()}
    assert dag.task_dict["raw_gate"].upstream_task_ids == {"freshness_gate"}


def test_every_task_but_the_shards_runs_in_the_warehouse_pool_and_queue_with_retries(dag):
    for task in dag.tasks:
        if task.task_id in ("clv.value", "segments.value"):  # files only (python_tasks/*/sharded.py)
            assert task.retries == 2
            continue
        assert task.pool == WAREHOUSE_POOL == "duckdb_warehouse", task.task_id
        assert task.queue == "warehouse", task.task_id
        assert task.pool_slots == 1
        assert task.retries == 2, task.task_id
        assert task.retry_delay >= timedelta(minutes=1), task.task_id


def test_every_task_raises_an_alert_when_it_fails(dag):
    from python_tasks.orchestration.alerts import on_task_failure

    for task in dag.tasks:
        callbacks = task.on_failure_callback  # a list on an operator, the function itself on a mapped one
        assert on_task_failure in (callbacks if isinstance(callbacks, list) else [callbacks]), task.task_id


def test_ingest_tasks_fail_fast_on_a_broken_delivery(dag):
    from python_tasks.orchestration.retries import DeliveryRetryPolicy

    for source in internal_sources():
        assert isinstance(dag.task_dict[ingest_id(source)].retry_policy, DeliveryRetryPolicy)


def test_dag_settings(dag):
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable

    from python_tasks.orchestration.assets import EXTERNAL_INDICATORS

    assert dag.max_active_runs == 1
    assert dag.catchup is False
    assert dag.start_date == datetime(2021, 1, 1, tzinfo=UTC)
    assert dag.doc_md and "clv_daily" in dag.doc_md
    assert {"clv", "daily"} <= set(dag.tags)
    schedule = dag.timetable
    assert isinstance(schedule, AssetOrTimeSchedule)
    assert schedule.asset_condition == EXTERNAL_INDICATORS
    assert isinstance(schedule.timetable, CronTriggerTimetable)
    assert schedule.timetable.expression == "0 6 * * *"
    # The business-date rule for asset-triggered runs assumes the scheduled runs fire at the cutoff.
    from python_tasks.orchestration.business_dates import DAILY_CUTOFF

    assert schedule.timetable.expression == f"{DAILY_CUTOFF.minute} {DAILY_CUTOFF.hour} * * *"
    assert str(schedule.timetable.timezone) == "Asia/Shanghai"


def test_the_06_00_shanghai_run_processes_the_day_that_has_just_closed(dag):
    import pendulum
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    from python_tasks.orchestration.business_dates import business_date

    restriction = TimeRestriction(earliest=pendulum.datetime(2026, 11, 20, tz="UTC"), latest=None, catchup=True)
    info = coerce_to_core_timetable(dag.timetable).next_dagrun_info(
        last_automated_data_interval=None, restriction=restriction
    )
    assert info.run_after == pendulum.datetime(2026, 11, 21, 6, tz="Asia/Shanghai")
    assert business_date(info.logical_date, info.run_after).isoformat() == "2026-11-20"
    assert business_date(None, info.run_after).isoformat() == "2026-11-20"
