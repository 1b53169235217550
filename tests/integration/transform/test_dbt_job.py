"""dbt runs in-process for a business date, and every node's result is on record; a failure stops the run."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from python_tasks.cli import main
from python_tasks.settings import get_settings
from python_tasks.transform.dbt_job import DbtBuildFailed, run_dbt_build

D0 = date(2026, 11, 20)


@pytest.fixture
def loaded(home):
    assert main(["generate", "--scale", "S", "--clients", "120", "--first-date", "2026-11-20", "--days", "0", "--quiet"]) == 0
    assert main(["run", "--date", "2026-11-20"]) == 0
    return home


def _results(run_id: str) -> list[tuple]:
    with duckdb.connect(str(get_settings().warehouse_path), read_only=True) as con:
        return con.execute(
            "SELECT unique_id, resource_type, status FROM audit.dbt_results WHERE run_id = $r ORDER BY unique_id",
            {"r": run_id},
        ).fetchall()


def test_build_succeeds_and_records_every_node(loaded):
    summary = run_dbt_build(D0, "run-1")
    results = _results("run-1")
    assert summary["nodes"] == len(results) > 0
    assert {r[2] for r in results} <= {"success", "pass"}
    assert ("seed.clv_warehouse.ref_regions", "seed", "success") in results
    # a rerun of the same run replaces its records
    run_dbt_build(D0, "run-1")
    assert _results("run-1") == results


def test_failed_test_stops_the_build_naming_the_node(loaded):
    with duckdb.connect(str(get_settings().warehouse_path)) as con:  # corrupt raw: a client delivered twice on D0
        con.execute("INSERT INTO raw.clients SELECT * FROM raw.clients LIMIT 1")
    with pytest.raises(DbtBuildFailed) as info:
        run_dbt_build(D0, "run-2")
    assert "clients" in str(info.value) and "fail" in str(info.value)
    assert any(r[2] == "fail" for r in _results("run-2"))


def test_warehouse_is_released_after_the_build(loaded):
    """dbt-duckdb keeps its database open in the process; the job must close it for the next opener."""
    run_dbt_build(D0, "run-3")
    with duckdb.connect(str(get_settings().warehouse_path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM staging.stg_clients").fetchone()[0] > 0


def test_the_build_leaves_the_environment_as_it_was(loaded):
    import os

    assert "CLV_WAREHOUSE_PATH" not in os.environ
    run_dbt_build(D0, "run-4")
    assert "CLV_WAREHOUSE_PATH" not in os.environ
