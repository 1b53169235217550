"""The client profile over several business dates: one row per client per date, a backfill of a range
equals the daily runs, a rerun of one date replaces that date only, and no personal data reaches a mart."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from python_tasks.cli import main
from python_tasks.settings import get_settings
from python_tasks.transform.dbt_job import run_dbt_build

D0 = date(2026, 11, 20)
DAYS = [D0 + timedelta(days=i) for i in range(4)]
FACTS = ("fct_client_profile", "fct_facility_daily")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """S-scale sample data for four business dates, loaded and built one day at a time like the DAG."""
    root = tmp_path_factory.mktemp("profile")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLV_HOME", str(root))
        for var in ("CLV_INBOX_DIR", "CLV_LANDING_DIR", "CLV_WAREHOUSE_PATH", "CLV_EXTERNAL_API_URL"):
            mp.delenv(var, raising=False)
        args = ["generate", "--scale", "S", "--clients", "150", "--first-date", D0.isoformat(), "--days", "3"]
        assert main([*args, "--quiet"]) == 0
        assert main(["run", "--date", DAYS[0].isoformat(), "--to", DAYS[-1].isoformat()]) == 0
        for day in DAYS:
            run_dbt_build(day, f"daily-{day}")
        yield root


def _con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(get_settings().warehouse_path), read_only=True)


def _fingerprints(table: str) -> dict[date, tuple]:
    """Per business date: row count and an order-independent hash of every column but the run id."""
    with _con() as con:
        rows = con.execute(
            f"SELECT as_of_date, count(*), sum(hash(columns(* EXCLUDE (_run_id)))) "
            f"FROM marts.{table} GROUP BY as_of_date ORDER BY as_of_date"
        ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def test_one_row_per_client_per_business_date(home):
    with _con() as con:
        per_date = con.execute(
            "SELECT as_of_date, count(*), count(DISTINCT client_id) FROM marts.fct_client_profile GROUP BY 1 ORDER BY 1"
        ).fetchall()
        clients_known = con.execute(
            "SELECT count(DISTINCT client_id) FROM raw.clients WHERE _as_of_date <= $d", {"d": DAYS[-1]}
        ).fetchone()[0]
    assert [r[0] for r in per_date] == DAYS
    assert all(n == distinct for _, n, distinct in per_date)
    assert per_date[-1][1] == clients_known


def test_the_profile_carries_every_block_of_measures(home):
    with _con() as con:
        row = con.execute(
            """
            SELECT count(enterprise_size), count(leverage_ratio), count(current_grade), count(dpd_bucket),
                   count(*) FILTER (WHERE has_credit_exposure), count(products_held), count(industry_section_code),
                   count(region_economic_tier), count(*)
            FROM marts.fct_client_profile WHERE as_of_date = $d
            """,
            {"d": DAYS[-1]},
        ).fetchone()
    *filled, total = row
    assert total > 0
    assert filled[0] == total and filled[3] == total  # every client has a size class and a DPD bucket
    assert all(n > 0 for n in filled), filled


def test_a_backfill_of_the_range_equals_the_daily_runs(home):
    daily = {t: _fingerprints(t) for t in FACTS}
    run_dbt_build(DAYS[-1], "backfill", build_from_date=DAYS[0], full_refresh=True)
    assert {t: _fingerprints(t) for t in FACTS} == daily


def test_a_rerun_of_one_date_replaces_that_date_only(home):
    before = _fingerprints("fct_client_profile")
    run_dbt_build(DAYS[1], "rerun-d1")
    with _con() as con:
        runs = dict(
            con.execute("SELECT as_of_date, any_value(_run_id) FROM marts.fct_client_profile GROUP BY 1").fetchall()
        )
    assert runs[DAYS[1]] == "rerun-d1"
    assert all(runs[d] != "rerun-d1" for d in DAYS if d != DAYS[1])
    assert _fingerprints("fct_client_profile") == before
    with _con() as con:  # the client dimension does not roll back to the older date
        assert con.execute("SELECT DISTINCT known_as_of_date FROM marts.dim_client").fetchall() == [(DAYS[-1],)]


def test_a_range_that_ends_before_it_starts_is_refused(home):
    with pytest.raises(ValueError, match="after as_of_date"):
        run_dbt_build(DAYS[0], "bad", build_from_date=DAYS[1])


def test_no_personal_data_reaches_a_mart(home):
    with _con() as con:
        columns = con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name IN ('marts', 'snapshots')"
        ).fetchall()
        assert not [c for c in columns if c[1].startswith("legal_rep")]
        names = {r[0] for r in con.execute("SELECT DISTINCT legal_rep_name FROM raw.clients").fetchall()} - {None}
        values = con.execute(
            "SELECT DISTINCT company_name FROM marts.dim_client UNION ALL SELECT DISTINCT uscc FROM marts.dim_client"
        ).fetchall()
    assert names and not names & {v[0] for v in values}


def test_the_dbt_unit_tests_pass(home):
    """They are left out of the daily build (they test the SQL, not the data): CI runs them here."""
    summary = run_dbt_build(DAYS[-1], "unit-tests", selector="unit_tests", command="test")
    assert summary["nodes"] >= 6 and set(summary["by_status"]) == {"pass"}


def test_the_status_summary_shows_each_business_date(home):
    from python_tasks.transform.status import profile_by_date

    with _con() as con:
        summary = profile_by_date(con)
        totals = con.execute(
            "SELECT count(*), sum(drawn_balance_cny)::DOUBLE FROM marts.fct_client_profile WHERE as_of_date = $d",
            {"d": DAYS[-1]},
        ).fetchone()
    assert [p.as_of_date for p in summary] == DAYS
    last = summary[-1]
    assert (last.clients, last.drawn_balance_cny) == totals
    assert sum(last.by_size.values()) == last.clients
