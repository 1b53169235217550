"""The pipeline without Airflow (python_tasks/orchestration/pipeline.py) runs exactly the DAG's tasks, in an
order the DAG's dependencies allow: the benchmark and the resilience tests run the same work as Airflow."""

from __future__ import annotations

import pytest

from python_tasks.orchestration.pipeline import step, steps

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.dags["clv_daily"]


def test_the_steps_are_the_dags_tasks_but_the_failure_path(dag):
    assert [s.name for s in steps()] and {s.name for s in steps()} == set(dag.task_ids) - {"audit_on_failure"}


def test_every_step_runs_after_all_of_its_upstream_tasks(dag):
    position = {s.name: i for i, s in enumerate(steps())}
    late = [
        (upstream, task_id)
        for task_id in position
        for upstream in dag.get_task(task_id).get_flat_relative_ids(upstream=True)
        if upstream in position and position[upstream] > position[task_id]
    ]
    assert late == []


def test_an_unknown_step_names_the_steps():
    with pytest.raises(SystemExit, match="unknown step 'clv.valu'.*clv.value"):
        step("clv.valu")
