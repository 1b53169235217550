"""The command line runs a business date outside Airflow with the same functions, and reports status."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from python_tasks.cli import business_dates, main
from python_tasks.settings import get_settings


def test_business_date_range_is_inclusive():
    assert business_dates(date(2026, 11, 20), date(2026, 11, 22)) == [
        date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)
    ]
    with pytest.raises(SystemExit):
        business_dates(date(2026, 11, 22), date(2026, 11, 20))


def test_generate_run_and_status(home, capsys):
    assert main(["generate", "--scale", "S", "--clients", "150", "--first-date", "2026-11-20", "--days", "1", "--quiet"]) == 0
    assert main(["run", "--date", "2026-11-20", "--to", "2026-11-21"]) == 0
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "Raw partitions" in out and "repayments" in out
    with duckdb.connect(str(get_settings().warehouse_path), read_only=True) as con:
        (dates,) = con.execute("SELECT count(DISTINCT _as_of_date) FROM raw.repayments").fetchone()
        rows_in, loaded, quarantined = con.execute(
            "SELECT sum(rows_in), sum(rows_loaded), sum(rows_quarantined) FROM audit.load_ledger"
        ).fetchone()
    assert dates == 2 and rows_in == loaded + quarantined and loaded > 0


def test_status_without_a_warehouse_says_what_to_do(home, capsys):
    assert main(["status"]) == 1
    assert "No warehouse" in capsys.readouterr().out
