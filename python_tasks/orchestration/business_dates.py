"""Which business date a DAG run processes.

clv_daily processes one business date D per run (``as_of_date``):

- A run with a logical date processes its ``ds`` (the UTC date of the logical date). The daily timetable
  fires at 06:00 Asia/Shanghai, which is 22:00 UTC of the previous day, so a scheduled run's ``ds`` is the
  business day that has just closed; ``airflow dags test clv_daily 2026-11-20`` processes 2026-11-20.
- A run triggered by a new external delivery (an asset event) has no logical date. It recomputes the
  business date of the latest scheduled run that was due at ``run_after``: the Shanghai day before, once
  the 06:00 cutoff has passed, else the day before that. At 05:00 on 1 December (when the monthly external
  load fires) that is 29 November, whose deliveries are complete, not 30 November, whose deliveries are
  only due at 06:00.

clv_external_monthly loads the vendor's publication of the day it runs: D is the Shanghai calendar date
of the run (05:00 Asia/Shanghai on the first of the month gives that first of the month).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: Calendar the bank's business days follow; the schedules use the same zone.
BUSINESS_TIMEZONE = "Asia/Shanghai"
#: By this local time the deliveries of the previous business day are complete; clv_daily fires then.
DAILY_CUTOFF = time(6, 0)


def business_date(logical_date: datetime | None, run_after: datetime) -> date:
    """Business date D of a clv_daily run, from its logical date or, when there is none, ``run_after``."""
    if logical_date is not None:
        return _as_utc(logical_date).date()
    local = _as_utc(run_after).astimezone(ZoneInfo(BUSINESS_TIMEZONE))
    since_cutoff = local - timedelta(hours=DAILY_CUTOFF.hour, minutes=DAILY_CUTOFF.minute)
    return since_cutoff.date() - timedelta(days=1)


def publication_date(logical_date: datetime | None, run_after: datetime) -> date:
    """Business date D of an external (vendor) load: the Shanghai date the run belongs to."""
    moment = logical_date if logical_date is not None else run_after
    return _as_utc(moment).astimezone(ZoneInfo(BUSINESS_TIMEZONE)).date()


def business_date_of_run(dag_run: object) -> str:
    """:func:`business_date` of an Airflow DagRun (anything with ``logical_date`` and ``run_after``)."""
    return business_date(*_dates_of(dag_run)).isoformat()


def publication_date_of_run(dag_run: object) -> str:
    """:func:`publication_date` of an Airflow DagRun."""
    return publication_date(*_dates_of(dag_run)).isoformat()


def _dates_of(dag_run: object) -> tuple[datetime | None, datetime]:
    logical_date = getattr(dag_run, "logical_date", None)
    run_after = getattr(dag_run, "run_after", None)
    if run_after is None:
        if logical_date is None:
            raise ValueError("the dag run has neither a logical date nor run_after; cannot tell its business date")
        run_after = logical_date
    return logical_date, run_after


def _as_utc(moment: datetime) -> datetime:
    """``moment`` as a plain ``datetime`` in UTC: pendulum's DateTime (what Airflow passes) loses its zone
    in arithmetic with a ``timedelta``, so the calculations above run on the standard type only."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} is naive; Airflow dates are timezone-aware")
    utc = moment.astimezone(UTC)
    return datetime(utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, tzinfo=UTC)
