"""Which business date a DAG run processes.

A run processes one business date D (``as_of_date``). Scheduled and manual runs with a logical date use
its ``ds``: the daily timetable fires at 06:00 Asia/Shanghai, which is 22:00 UTC of the previous day, so
``ds`` is the business day that has just closed. Asset-triggered runs (a new external delivery) have no
logical date; they recompute the last closed business day: the Shanghai calendar day of ``run_after``
minus one day, which is the same D that the morning's scheduled run processed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

#: Calendar the bank's business days follow; the schedules use the same zone.
BUSINESS_TIMEZONE = "Asia/Shanghai"


def business_date(logical_date: datetime | None, run_after: datetime) -> date:
    """Business date D of a run from its logical date, or from ``run_after`` when there is none."""
    if logical_date is not None:
        return _as_utc(logical_date).date()
    local_run_after = _as_utc(run_after).astimezone(ZoneInfo(BUSINESS_TIMEZONE))
    return local_run_after.date() - timedelta(days=1)


def business_date_of_run(dag_run: object) -> str:
    """``business_date`` of an Airflow DagRun (anything with ``logical_date`` and ``run_after``), ISO."""
    logical_date = getattr(dag_run, "logical_date", None)
    run_after = getattr(dag_run, "run_after", None)
    if logical_date is None and run_after is None:
        raise ValueError("the dag run has neither a logical date nor run_after; cannot tell its business date")
    return business_date(logical_date, run_after).isoformat()  # type: ignore[arg-type]


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} is naive; Airflow dates are timezone-aware")
    return moment.astimezone(UTC)
