"""Fixtures for the serving tests: one generated warehouse (300 clients, one business date profiled, valued
and segmented) built once per session; each test publishes from its own copy under its own CLV_HOME."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from generated import generated_home
from serving_support import D0, record_gate

#: environment that would point a test at another deployment, key, mode or PostgreSQL
_ISOLATED = (
    "CLV_INBOX_DIR", "CLV_LANDING_DIR", "CLV_EXTERNAL_API_URL", "CLV_PARAMS_FILE", "CLV_SEGMENT_RULES_FILE",
    "CLV_PII_KEY", "CLV_PII_KEY_FILE", "CLV_SERVING_POSTGRES_URL", "CLV_SERVING_POSTGRES_READERS",
)  # fmt: skip


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from python_tasks.clv.job import run_clv
    from python_tasks.segments.job import run_segments
    from python_tasks.transform.dbt_job import run_dbt_build

    root = tmp_path_factory.mktemp("serving_source")
    with generated_home(root, clients=300, first=D0, days=0):
        run_dbt_build(D0, "run-d0")
        run_clv(D0, "run-d0")
        run_segments(D0, "run-d0")
    path = root / "warehouse" / "clv.duckdb"

    def sql(statement: str, params: dict | None = None) -> list[tuple]:
        with duckdb.connect(str(path)) as con:
            con.execute(statement, params or {})
        return []

    # passing gate results, as the DAG's gates record them (the GX gates themselves are tested elsewhere)
    for gate, column in (("raw", "legal_rep_phone"), ("profile", None), ("clv", None), ("segments", None)):
        record_gate(sql, D0, gate, "run-d0", success=True, column=column, at="2026-11-20 08:00:00+00")
    return path


@pytest.fixture
def serving_home(built_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """CLV_HOME for one test, in demo mode, with a copy of the built warehouse."""
    home = tmp_path / "home"
    (home / "warehouse").mkdir(parents=True)
    shutil.copy(built_warehouse, home / "warehouse" / "clv.duckdb")
    monkeypatch.setenv("CLV_HOME", str(home))
    monkeypatch.setenv("CLV_WAREHOUSE_PATH", str(home / "warehouse" / "clv.duckdb"))
    monkeypatch.setenv("CLV_MODE", "demo")
    for var in _ISOLATED:
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def warehouse_sql(serving_home: Path) -> Callable[..., list[tuple]]:
    """Run SQL on the test's warehouse copy (a closed connection afterwards, so the publish can open it)."""

    def run(sql: str, params: dict | None = None) -> list[tuple]:
        with duckdb.connect(str(serving_home / "warehouse" / "clv.duckdb")) as con:
            result = con.execute(sql, params or {})
            return result.fetchall() if result.description else []

    return run
