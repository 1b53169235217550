"""The profile benchmark's floor (benchmarks/profile_floor.sql) computes what fct_client_profile holds.

A small generated warehouse (S scale, a few hundred clients, the history load and two daily deltas, with
the external indicators) is built by dbt for every date in one pass; the floor, run on the same raw
tables, must agree with the profile date by date on the key measures and on every common column. If it
does not, one of the two is wrong, and the benchmark's comparison would be measuring different work.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from python_tasks.io import warehouse
from python_tasks.sample_data.generate import generate
from python_tasks.settings import get_settings
from python_tasks.transform.dbt_job import run_dbt_build

DAYS = 2


@pytest.fixture
def built(home: Path, load_benchmark):
    bench = load_benchmark("profile")
    first = bench.FIRST_DATE
    last = first + timedelta(days=DAYS)
    generate(get_settings().inbox_dir, scale="S", seed=7, first_date=first, days=DAYS, clients=300, overwrite=True)
    loaded = bench.stage_load(home, DAYS)
    assert loaded["loads"] == 2 + 9 * (DAYS + 1)  # two external sources once, nine internal ones per date
    run_dbt_build(last, "test-floor", build_from_date=first, full_refresh=True)
    return bench, first, last


def _explain(result: dict) -> str:
    bad = {name: {"floor": k["floor"], "dbt": k["dbt"]} for name, k in result["key_checks"].items() if not k["agree"]}
    return f"key checks differing: {bad}; columns differing (rows): {result['column_mismatches']}"


def test_floor_agrees_with_the_client_profile(built):
    bench, first, last = built
    with warehouse.connect() as con:
        bench.run_floor(con, first, last)
        every_date = bench.compare_with_profile(con, first, last)
        # the daily case: one date, the windows' steady and edge parts collapsed onto it
        bench.run_floor(con, last, last)
        last_date = bench.compare_with_profile(con, last, last)
    assert len(every_date["key_checks"]["rows"]["dbt"]) == DAYS + 1  # every date was built and compared
    assert every_date["key_checks"]["rows"]["dbt"][0][-1] > 0
    assert every_date["columns_compared"] > 50
    assert every_date["agree"], _explain(every_date)
    assert last_date["agree"], _explain(last_date)
