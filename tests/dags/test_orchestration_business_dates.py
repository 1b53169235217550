"""Which business date a run processes (no Airflow needed)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from python_tasks.orchestration.business_dates import (
    BUSINESS_TIMEZONE,
    DAILY_CUTOFF,
    business_date,
    business_date_of_run,
    publication_date,
    publication_date_of_run,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def shanghai(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("logical_date", "run_after", "expected"),
    [
        # `airflow dags test clv_daily 2026-11-20`: logical date midnight UTC -> that day.
        (utc(2026, 11, 20), utc(2026, 11, 24, 9), date(2026, 11, 20)),
        # Scheduled run at 06:00 Shanghai on 21 Nov = 22:00 UTC on 20 Nov -> ds = 20 Nov.
        (shanghai(2026, 11, 21, 6), shanghai(2026, 11, 21, 6), date(2026, 11, 20)),
        # A logical date is read as its UTC day (`ds`), whatever zone it is given in.
        (utc(2026, 11, 20, 22), utc(2026, 11, 20, 22), date(2026, 11, 20)),
    ],
)
def test_a_run_with_a_logical_date_processes_its_ds(logical_date, run_after, expected):
    assert business_date(logical_date, run_after) == expected


@pytest.mark.parametrize(
    ("run_after", "expected"),
    [
        # Asset-triggered at 11:00 Shanghai on 21 Nov -> 20 Nov, as the 06:00 run of that morning.
        (shanghai(2026, 11, 21, 11), date(2026, 11, 20)),
        # ... at 07:30 Shanghai on 21 Nov, which is still 20 Nov in UTC -> 20 Nov all the same.
        (shanghai(2026, 11, 21, 7, 30), date(2026, 11, 20)),
        # ... exactly at the cutoff -> the day the scheduled run of that moment processes.
        (shanghai(2026, 11, 21, 6), date(2026, 11, 20)),
        # ... before the cutoff, 20 Nov's deliveries are not due yet -> 19 Nov.
        (shanghai(2026, 11, 21, 5, 59), date(2026, 11, 19)),
        # ... late in the evening of 20 Nov -> 19 Nov.
        (shanghai(2026, 11, 20, 23, 59), date(2026, 11, 19)),
        # The monthly external load fires at 05:00 on the 1st: its asset event recomputes the 29th/30th,
        # whose deliveries are complete, not the last day of the month.
        (shanghai(2026, 12, 1, 5, 1), date(2026, 11, 29)),
        (shanghai(2027, 1, 1, 5, 1), date(2026, 12, 30)),
        (shanghai(2028, 3, 1, 9), date(2028, 2, 29)),
        (shanghai(2027, 1, 1, 9), date(2026, 12, 31)),
    ],
)
def test_an_asset_triggered_run_processes_the_date_of_the_latest_due_scheduled_run(run_after, expected):
    assert business_date(None, run_after) == expected
    assert business_date(None, run_after.astimezone(UTC)) == expected


def test_an_asset_triggered_run_agrees_with_the_scheduled_runs_around_it():
    """At any moment, D of an asset-triggered run = D of the latest scheduled ("0 6 * * *") run."""
    first = shanghai(2026, 1, 1, DAILY_CUTOFF.hour, DAILY_CUTOFF.minute)
    for day in range(400):
        scheduled = first + timedelta(days=day)
        d = business_date(scheduled.astimezone(UTC), scheduled.astimezone(UTC))
        assert d == scheduled.date() - timedelta(days=1)
        for offset in (timedelta(0), timedelta(minutes=1), timedelta(hours=12), timedelta(hours=23, minutes=59)):
            assert business_date(None, scheduled + offset) == d


@pytest.mark.parametrize(
    ("logical_date", "run_after", "expected"),
    [
        # Scheduled monthly run: 05:00 Shanghai on 1 Dec = 21:00 UTC on 30 Nov -> the 1 Dec publication.
        (shanghai(2026, 12, 1, 5), shanghai(2026, 12, 1, 5), date(2026, 12, 1)),
        # `airflow dags test clv_external_monthly 2026-11-01`.
        (utc(2026, 11, 1), utc(2026, 11, 24, 9), date(2026, 11, 1)),
        # Triggered without a logical date.
        (None, shanghai(2026, 11, 1, 5, 30), date(2026, 11, 1)),
    ],
)
def test_publication_date(logical_date, run_after, expected):
    assert publication_date(logical_date, run_after) == expected


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="naive"):
        business_date(None, datetime(2026, 11, 21, 3))
    with pytest.raises(ValueError, match="naive"):
        publication_date(datetime(2026, 11, 21, 3), utc(2026, 11, 21))


def test_dates_of_a_dag_run():
    run = SimpleNamespace(logical_date=utc(2026, 11, 20), run_after=utc(2026, 11, 24))
    assert business_date_of_run(run) == "2026-11-20"
    assert publication_date_of_run(run) == "2026-11-20"
    asset_run = SimpleNamespace(logical_date=None, run_after=shanghai(2026, 11, 21, 11))
    assert business_date_of_run(asset_run) == "2026-11-20"
    assert publication_date_of_run(asset_run) == "2026-11-21"
    with pytest.raises(ValueError, match="business date"):
        business_date_of_run(SimpleNamespace(logical_date=None, run_after=None))


def test_the_calendar_is_the_banks():
    assert BUSINESS_TIMEZONE == "Asia/Shanghai"
    assert (DAILY_CUTOFF.hour, DAILY_CUTOFF.minute) == (6, 0)


def test_pendulum_datetimes_as_airflow_passes_them():
    pendulum = pytest.importorskip("pendulum")
    run_after = pendulum.datetime(2026, 11, 20, 22, tz="UTC")  # 06:00 on 21 Nov in Shanghai
    assert business_date(None, run_after) == date(2026, 11, 20)
    assert business_date(None, run_after.in_timezone("Asia/Shanghai")) == date(2026, 11, 20)
    assert business_date(pendulum.datetime(2026, 11, 20, tz="UTC"), run_after) == date(2026, 11, 20)
    assert publication_date(pendulum.datetime(2026, 11, 30, 21, tz="UTC"), run_after) == date(2026, 12, 1)
