"""Airflow local settings of the CLV warehouse: preload what every gate task imports, once, in the processes
that start task processes.

Airflow 3 runs a task in a process forked from its executor's worker (LocalExecutor: the scheduler's worker
processes; CeleryExecutor: the Celery worker), without a new interpreter. A module that process has already
imported is there in every task process at no cost. Great Expectations costs about 6 s to import, and five
tasks of ``clv_daily`` (the raw, profile, CLV and segments gates) import it; preloaded, they pay nothing.
benchmarks/gates.py measures both ways.

Airflow imports this module (found on ``PYTHONPATH``: scripts/airflow_env.sh adds ``config/airflow``; a
production image must do the same) in every Airflow process at start-up; only the scheduler and the Celery worker preload,
so the API server, the DAG processor and the triggerer start as fast as before. ``CLV_PRELOAD_TASK_MODULES=0``
turns it off.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time

#: no cluster policies here: Airflow registers the names in ``__all__`` as policy functions
__all__: list[str] = []

#: imported by the gate tasks (python_tasks.quality.gx_engine) and the CLV and segments stages
PRELOADED_MODULES = ("great_expectations", "sqlalchemy", "duckdb", "pandas")
#: Airflow commands whose process forks the task processes
TASK_PARENT_COMMANDS = ("scheduler", "worker")

log = logging.getLogger(__name__)


def starts_task_processes(argv: list[str]) -> bool:
    """``airflow scheduler`` (LocalExecutor) and ``airflow celery worker``, not the other components."""
    words = [a for a in argv[1:4] if not a.startswith("-")]
    return any(w in TASK_PARENT_COMMANDS for w in words)


def preload(argv: list[str] | None = None) -> list[str]:
    """Import :data:`PRELOADED_MODULES` when this process starts task processes; the modules imported."""
    argv = sys.argv if argv is None else argv
    if os.environ.get("CLV_PRELOAD_TASK_MODULES", "1") == "0" or not starts_task_processes(argv):
        return []
    started = time.perf_counter()
    loaded = []
    for name in PRELOADED_MODULES:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except ImportError as exc:  # a component without the project's environment: nothing to preload
            log.warning("clv preload: %s not importable (%s)", name, exc)
    log.info("clv preload: %s in %.1f s", ", ".join(loaded), time.perf_counter() - started)
    return loaded


preload()
