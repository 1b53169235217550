"""Which business date a run processes (no Airflow needed)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from python_tasks.orchestration.business_dates import BUSINESS_TIMEZONE, business_date, business_date_of_run

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("logical_date", "run_after", "expected"),
    [
        # `airflow dags test clv_daily 2026-11-20`: logical date midnight UTC -> that day.
        (utc(2026, 11, 20), utc(2026, 11, 24, 9), date(2026, 11, 20)),
        # Scheduled run at 06:00 Shanghai on 21 Nov = 22:00 UTC on 20 Nov -> ds = 20 Nov.
        (utc(2026, 11, 20, 22), utc(2026, 11, 20, 22), date(2026, 11, 20)),
        # Monthly run at 05:00 Shanghai on 1 Dec = 21:00 UTC on 30 Nov -> the month end.
        (utc(2026, 11, 30, 21), utc(2026, 11, 30, 21), date(2026, 11, 30)),
        # A logical date given in another zone still means its UTC day (that is `ds`).
        (datetime(2026, 11, 21, 6, tzinfo=SHANGHAI), utc(2026, 11, 20, 22), date(2026, 11, 20)),
        # Asset-triggered (no logical date) at 11:00 Shanghai on 21 Nov -> 20 Nov.
        (None, utc(2026, 11, 21, 3), date(2026, 11, 20)),
        # ... at 07:30 Shanghai on 21 Nov, still 20 Nov in UTC: the UTC date minus one would say 19 Nov.
        (None, utc(2026, 11, 20, 23, 30), date(2026, 11, 20)),
        # ... at 23:59 Shanghai on 20 Nov: business day 20 Nov has not closed -> 19 Nov.
        (None, utc(2026, 11, 20, 15, 59), date(2026, 11, 19)),
        # Month and year boundaries.
        (None, utc(2026, 12, 1, 1), date(2026, 11, 30)),
        (None, utc(2027, 1, 1, 2), date(2026, 12, 31)),
        (None, utc(2028, 3, 1, 2), date(2028, 2, 29)),
    ],
)
def test_business_date(logical_date, run_after, expected):
    assert business_date(logical_date, run_after) == expected


def test_asset_triggered_run_at_the_scheduled_time_processes_the_same_day_as_the_scheduled_run():
    trigger = datetime(2026, 1, 1, 6, tzinfo=SHANGHAI)  # "0 6 * * *" Asia/Shanghai
    for day in range(400):
        at = (trigger + timedelta(days=day)).astimezone(UTC)
        assert business_date(None, at) == business_date(at, at)
        assert business_date(at, at) == (trigger + timedelta(days=day)).date() - timedelta(days=1)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="naive"):
        business_date(None, datetime(2026, 11, 21, 3))


def test_business_date_of_run_reads_a_dag_run():
    assert business_date_of_run(SimpleNamespace(logical_date=utc(2026, 11, 20), run_after=utc(2026, 11, 24))) == (
        "2026-11-20"
    )
    assert business_date_of_run(SimpleNamespace(logical_date=None, run_after=utc(2026, 11, 21, 3))) == "2026-11-20"
    with pytest.raises(ValueError, match="business date"):
        business_date_of_run(SimpleNamespace(logical_date=None, run_after=None))


def test_the_business_timezone_is_the_banks():
    assert BUSINESS_TIMEZONE == "Asia/Shanghai"
