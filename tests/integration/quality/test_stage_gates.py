"""The profile, CLV and segments gates on a generated warehouse: clean outputs pass with every result
recorded; broken outputs (a client without industry, a missing scenario, components that do not add up, an
offer the rules forbid, a client left unsegmented) stop the gate naming the check; the suites build."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest
from generated import generated_home

from python_tasks.clv.job import run_clv
from python_tasks.quality.drift import load_bounds
from python_tasks.quality.results import GateFailed
from python_tasks.quality.stage_gates import gate_suites, run_drift_gate, run_stage_gate
from python_tasks.quality.stage_suites import STAGE_GATES
from python_tasks.segments.job import run_segments
from python_tasks.transform.dbt_job import run_dbt_build

D0 = date(2026, 11, 20)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse with D0 profiled, valued and segmented (300 clients); tests work on copies of it."""
    root = tmp_path_factory.mktemp("gates")
    with generated_home(root, clients=300, first=D0, days=0):
        run_dbt_build(D0, "daily")
        run_clv(D0, "clv")
        run_segments(D0, "segments")
    return root / "warehouse" / "clv.duckdb"


@pytest.fixture
def warehouse(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the built warehouse for one test."""
    copy = tmp_path / "clv.duckdb"
    shutil.copy(built, copy)
    monkeypatch.setenv("CLV_HOME", str(tmp_path))
    monkeypatch.setenv("CLV_WAREHOUSE_PATH", str(copy))
    return copy


def _execute(path: Path, sql: str) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute(sql)


def _results(path: Path, gate: str, run_id: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            "SELECT suite, expectation_type, column_name, severity, success, unexpected_count FROM audit.dq_results "
            "WHERE gate = $g AND run_id = $r ORDER BY ALL",
            {"g": gate, "r": run_id},
        ).fetchall()


def test_every_suite_builds_with_known_expectation_types():
    """A typo in an expectation type or argument fails here, not in a night run."""
    from great_expectations.expectations.registry import get_expectation_impl

    import python_tasks.quality.gx_engine  # noqa: F401 - registers the custom expectations

    for gate in STAGE_GATES:
        suites = gate_suites(gate, D0)
        assert suites, gate
        for suite in suites:
            assert "DATE '2026-11-20'" in suite.query and "{" not in suite.query, suite.name
            for e in suite.expectations:
                get_expectation_impl(e.type)(**e.kwargs)


@pytest.mark.parametrize("gate", STAGE_GATES)
def test_clean_outputs_pass_and_every_result_is_recorded(warehouse, gate):
    summary = run_stage_gate(gate, D0, "clean")
    assert summary["failed_errors"] == 0
    results = _results(warehouse, gate, "clean")
    assert len(results) == summary["expectations"] == sum(len(s.expectations) for s in gate_suites(gate, D0))
    assert all(r[4] for r in results if r[3] == "error")


@pytest.mark.parametrize(
    ("gate", "breakage", "failed_check"),
    [
        (
            "profile",
            "UPDATE marts.fct_client_profile SET industry_section_code = NULL "
            "WHERE client_id = (SELECT min(client_id) FROM marts.fct_client_profile)",
            ("profile.fct_client_profile", "expect_column_values_to_not_be_null", "industry_section_code"),
        ),
        (
            "clv",
            "DELETE FROM valuation.client_values WHERE scenario = 'severe' "
            "AND client_id = (SELECT min(client_id) FROM valuation.client_values)",
            ("clv.coverage", "expect_column_values_to_be_between", "scenarios"),
        ),
        (
            "clv",
            "UPDATE valuation.client_values SET clv_cny = clv_cny + 100 "
            "WHERE client_id = (SELECT max(client_id) FROM valuation.client_values) AND scenario = 'baseline'",
            ("clv.client_values", "expect_column_values_to_be_between", "component_gap_cny"),
        ),
        (
            "segments",
            "DELETE FROM segments.client_segments WHERE client_id = (SELECT min(client_id) FROM segments.client_segments)",
            ("segments.client_segments", "expect_column_values_to_be_in_set", "is_segmented"),
        ),
        (
            "segments",
            "UPDATE segments.client_segments SET risk_tier = 'high', next_best_offer = 'working_capital_loan' "
            "WHERE client_id = (SELECT min(client_id) FROM segments.client_segments WHERE next_best_offer IS NOT NULL)",
            ("segments.offers", "expect_column_values_to_be_in_set", "is_forbidden_for_risk"),
        ),
    ],
)
def test_broken_outputs_stop_the_gate_naming_the_check(warehouse, gate, breakage, failed_check):
    _execute(warehouse, breakage)
    with pytest.raises(GateFailed) as info:
        run_stage_gate(gate, D0, "broken")
    suite, expectation, column = failed_check
    assert f"{gate} gate failed for {D0}" in str(info.value)
    assert f"{suite}: {expectation}({column}) unexpected 1" in str(info.value)
    failed = [r for r in _results(warehouse, gate, "broken") if not r[4]]
    assert (suite, expectation, column, "error", False, 1) in failed


def test_a_rerun_after_the_fix_passes_and_replaces_the_recorded_results(warehouse):
    _execute(warehouse, "UPDATE marts.fct_client_profile SET utilisation_ratio = 1.5 "
                        "WHERE client_id = (SELECT min(client_id) FROM marts.fct_client_profile WHERE utilisation_ratio > 0)")  # fmt: skip
    with pytest.raises(GateFailed, match="utilisation_ratio"):
        run_stage_gate("profile", D0, "run-1")
    _execute(warehouse, "UPDATE marts.fct_client_profile SET utilisation_ratio = 1.0 WHERE utilisation_ratio > 1")
    assert run_stage_gate("profile", D0, "run-1")["failed_errors"] == 0
    assert all(r[4] for r in _results(warehouse, "profile", "run-1") if r[3] == "error")


def _copy_date(path: Path, factor_sql: str = "clv_cny") -> date:
    """Copy D0's outputs to D0 + 1 (CLV as ``factor_sql``), with its runs, as the next day's outputs."""
    d1 = date(2026, 11, 21)
    with duckdb.connect(str(path)) as con:
        con.execute("INSERT INTO marts.fct_client_profile SELECT * REPLACE (as_of_date + 1 AS as_of_date) "
                    "FROM marts.fct_client_profile WHERE as_of_date = $d", {"d": D0})  # fmt: skip
        con.execute(f"INSERT INTO valuation.client_values SELECT * REPLACE (as_of_date + 1 AS as_of_date, "
                    f"{factor_sql} AS clv_cny) FROM valuation.client_values WHERE as_of_date = $d", {"d": D0})  # fmt: skip
        con.execute("INSERT INTO segments.client_segments SELECT * REPLACE (as_of_date + 1 AS as_of_date) "
                    "FROM segments.client_segments WHERE as_of_date = $d", {"d": D0})  # fmt: skip
    return d1


def test_drift_within_bounds_passes_against_the_last_good_run(warehouse):
    d1 = _copy_date(warehouse, "clv_cny * 1.05")
    summary = run_drift_gate(d1, "drift-ok")
    assert summary["failed_errors"] == 0 and summary["baseline_date"] == D0.isoformat()
    assert summary["expectations"] == 2 * len(load_bounds())


def test_a_drifted_total_warns_then_stops_naming_the_metric_old_new_and_bound(warehouse):
    d1 = _copy_date(warehouse, "clv_cny * 2")
    with pytest.raises(GateFailed) as info:
        run_drift_gate(d1, "drift-bad")
    message = str(info.value)
    assert "drift gate failed for 2026-11-21" in message
    line = next(x for x in message.splitlines() if "total_clv_baseline_cny" in x)
    assert '"change": 1.0' in line and '"bound": 0.4' in line and '"previous"' in line and '"current"' in line
    failed = {(r[2], r[3]) for r in _results(warehouse, "drift", "drift-bad") if not r[4]}
    assert failed == {("total_clv_baseline_cny", "warn"), ("total_clv_baseline_cny", "error")}


def test_the_first_run_has_nothing_to_drift_from(warehouse):
    assert run_drift_gate(D0, "drift-first") == {
        "gate": "drift", "as_of_date": D0.isoformat(), "run_id": "drift-first", "suites": 0, "expectations": 0,
        "failed_errors": 0, "failed_warnings": 0, "baseline_date": None,
    }  # fmt: skip
