"""Structure of clv_restatement: one task in the warehouse pool that restates from the given date."""

from __future__ import annotations

import pytest

from python_tasks.settings import WAREHOUSE_POOL, WAREHOUSE_QUEUE

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.dags["clv_restatement"]


def test_one_restate_task_that_holds_the_warehouse_pool(dag):
    from python_tasks.orchestration.retries import DeliveryRetryPolicy

    assert dag.task_ids == ["restate"]
    task = dag.task_dict["restate"]
    assert task.pool == WAREHOUSE_POOL and task.queue == WAREHOUSE_QUEUE
    assert isinstance(task.retry_policy, DeliveryRetryPolicy) and task.retries >= 1


def test_triggered_on_demand_one_at_a_time_with_a_date_and_a_dry_run(dag):
    assert type(dag.timetable).__name__ == "NullTimetable"  # schedule=None: triggered only
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert dag.params["from_date"] is None and dag.params["dry_run"] is False
    assert dag.doc_md and "restatement" in dag.tags
