"""Structure of clv_external_monthly: load each external source, then emit the asset clv_daily waits on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from python_tasks.orchestration.sources import external_sources
from python_tasks.settings import WAREHOUSE_POOL

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.dags["clv_external_monthly"]


def test_task_ids(dag):
    assert external_sources() == ["industry_indicators", "macro_indicators"]
    assert set(dag.task_ids) == {
        "ingest.industry_indicators",
        "ingest.macro_indicators",
        "emit_external_indicators",
    }


def test_ingest_tasks_write_in_the_warehouse_pool_and_fail_fast_on_a_broken_delivery(dag):
    from python_tasks.orchestration.retries import DeliveryRetryPolicy

    for source in external_sources():
        task = dag.task_dict[f"ingest.{source}"]
        assert task.pool == WAREHOUSE_POOL
        assert isinstance(task.retry_policy, DeliveryRetryPolicy)
        assert task.upstream_task_ids == set()


def test_the_asset_is_emitted_only_after_every_load_succeeded(dag):
    from python_tasks.orchestration.assets import EXTERNAL_INDICATORS

    emit = dag.task_dict["emit_external_indicators"]
    assert emit.upstream_task_ids == {f"ingest.{s}" for s in external_sources()}
    assert emit.trigger_rule == "all_success"
    assert emit.outlets == [EXTERNAL_INDICATORS]
    assert (EXTERNAL_INDICATORS.name, EXTERNAL_INDICATORS.uri) == (
        "clv_external_indicators",
        "clv://raw/external_indicators",
    )


def test_clv_daily_consumes_the_asset_this_dag_produces(dag, dagbag):
    produced = dag.task_dict["emit_external_indicators"].outlets
    assert dagbag.dags["clv_daily"].timetable.asset_condition in produced


def test_every_task_raises_an_alert_when_it_fails(dag):
    from python_tasks.orchestration.alerts import on_task_failure

    for task in dag.tasks:
        callbacks = task.on_failure_callback
        assert callbacks is on_task_failure or on_task_failure in (callbacks or []), task.task_id


def test_every_task_retries(dag):
    for task in dag.tasks:
        assert task.retries == 2, task.task_id
        assert task.retry_delay >= timedelta(minutes=1)


def test_dag_settings(dag):
    from airflow.sdk import CronTriggerTimetable

    assert dag.max_active_runs == 1
    assert dag.catchup is False
    assert dag.start_date == datetime(2021, 1, 1, tzinfo=UTC)
    assert dag.doc_md and "clv_external_monthly" in dag.doc_md
    assert {"clv", "monthly", "external"} <= set(dag.tags)
    assert isinstance(dag.timetable, CronTriggerTimetable)
    assert dag.timetable.expression == "0 5 1 * *"
    assert str(dag.timetable.timezone) == "Asia/Shanghai"


def test_the_monthly_run_loads_the_publication_of_the_first_of_the_month(dag):
    import pendulum
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    from python_tasks.orchestration.business_dates import publication_date

    restriction = TimeRestriction(earliest=pendulum.datetime(2026, 11, 20, tz="UTC"), latest=None, catchup=True)
    info = coerce_to_core_timetable(dag.timetable).next_dagrun_info(
        last_automated_data_interval=None, restriction=restriction
    )
    assert info.run_after == pendulum.datetime(2026, 12, 1, 5, tz="Asia/Shanghai")
    assert publication_date(info.logical_date, info.run_after).isoformat() == "2026-12-01"


def test_an_unchanged_delivery_announces_nothing():
    from python_tasks.orchestration.assets import sources_with_new_data

    loads = [
        {"source": "industry_indicators", "status": "unchanged"},
        {"source": "macro_indicators", "status": "duplicate"},
    ]
    assert sources_with_new_data(loads) == []
    loads[1]["status"] = "loaded"
    assert sources_with_new_data(loads) == ["macro_indicators"]
