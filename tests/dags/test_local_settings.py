"""airflow_local_settings: the scheduler and the Celery worker preload Great Expectations for the task
processes they fork; the other Airflow components and `airflow dags test` do not; it can be turned off."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_DIR = ROOT / "config" / "airflow"


def _preloaded(argv: list[str], **env: str) -> bool:
    code = (
        f"import sys; sys.argv = {argv!r}; sys.path.insert(0, {str(SETTINGS_DIR)!r}); "
        "import airflow_local_settings; print('great_expectations' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ, **env}
    )
    return result.stdout.strip() == "True"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["airflow", "scheduler"], True),
        (["airflow", "celery", "worker", "--queues", "warehouse"], True),
        (["airflow", "api-server"], False),
        (["airflow", "dag-processor"], False),
        (["airflow", "dags", "test", "clv_daily", "2026-11-20"], False),
    ],
)
def test_only_the_processes_that_fork_tasks_preload(argv, expected):
    assert _preloaded(argv) is expected


def test_preloading_can_be_turned_off():
    assert _preloaded(["airflow", "scheduler"], CLV_PRELOAD_TASK_MODULES="0") is False


def test_the_module_declares_no_cluster_policy():
    sys.path.insert(0, str(SETTINGS_DIR))
    try:
        import airflow_local_settings  # noqa: PLC0415 - imported from its folder on purpose

        assert airflow_local_settings.__all__ == []
    finally:
        sys.path.remove(str(SETTINGS_DIR))


def test_the_airflow_environment_puts_it_on_the_path():
    env = subprocess.run(
        ["bash", "-c", "source scripts/airflow_env.sh && echo $PYTHONPATH"], cwd=ROOT, capture_output=True,
        text=True, check=True, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    ).stdout  # fmt: skip
    assert str(SETTINGS_DIR) in env.strip().split(":")
