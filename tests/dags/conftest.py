"""Airflow for the DAG tests: a throw-away AIRFLOW_HOME with its own SQLite metadata DB.

Airflow reads its configuration when it is first imported, so the environment is set here, at import of
this conftest (before any test module imports airflow), and every ``AIRFLOW__*`` variable of the
developer's shell is dropped: the tests must never touch the developer's ``airflow_home``. The metadata
DB (a few seconds to create) is made only for the tests that run DAGs, through the ``airflow_db``
fixture.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = PROJECT_ROOT / "dags"
WAREHOUSE_POOL = "duckdb_warehouse"  # python_tasks.settings.WAREHOUSE_POOL; asserted in the DAG tests

#: Airflow imported before this conftest (by another test module) keeps the configuration it read then;
#: ``airflow_db`` refuses to run DAGs in that case rather than touch a metadata DB that is not ours.
AIRFLOW_IMPORTED_EARLY = "airflow" in sys.modules

AIRFLOW_TEST_HOME = Path(tempfile.mkdtemp(prefix="clv_airflow_test_"))
atexit.register(shutil.rmtree, AIRFLOW_TEST_HOME, ignore_errors=True)

for _key in [key for key in os.environ if key.startswith("AIRFLOW__")]:
    del os.environ[_key]
os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_TEST_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_TEST_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__OPENLINEAGE__DISABLED": "True",
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "clv_warehouse_tests",
        "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
    }
)


@pytest.fixture(scope="session")
def dagbag():
    """The DAG folder parsed once, as the DAG processor parses it."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=DAGS_FOLDER)


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated metadata DB in the temporary AIRFLOW_HOME, with the warehouse pool (one slot)."""
    from airflow import settings
    from airflow.models.pool import Pool
    from airflow.utils.db import initdb

    if AIRFLOW_IMPORTED_EARLY or str(AIRFLOW_TEST_HOME) not in str(settings.engine.url):
        pytest.fail(
            f"Airflow is configured for {settings.engine.url}, not the test home {AIRFLOW_TEST_HOME}: "
            "a test module imported airflow before tests/dags/conftest.py; import it inside the tests"
        )
    initdb()
    Pool.create_or_update_pool(WAREHOUSE_POOL, slots=1, description="tests", include_deferred=False)
    return AIRFLOW_TEST_HOME


@pytest.fixture
def clv_home(tmp_path, monkeypatch):
    """A fresh CLV_HOME (inbox, landing, warehouse) for one test; nothing of the developer's is used."""
    for key in ("CLV_INBOX_DIR", "CLV_LANDING_DIR", "CLV_WAREHOUSE_PATH", "CLV_EXTERNAL_API_URL"):
        monkeypatch.delenv(key, raising=False)
    home = tmp_path / "clv_home"
    monkeypatch.setenv("CLV_HOME", str(home))
    return home
