"""Dates as integer day numbers, and the window one generation covers.

The generator works on ``int64`` day numbers (days since 1970-01-01) and epoch months (months since
1970-01) so that every date computation over millions of rows is one numpy expression.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

import numpy as np

EPOCH = date(1970, 1, 1)
NEVER = 10**6
"""Day number used for "does not happen" (year 4707): larger than every real date."""


def to_day(value: date) -> int:
    return (value - EPOCH).days


def from_day(day: int) -> date:
    return EPOCH + timedelta(days=int(day))


_DAY0 = -40_000  # 1860: lookup tables cover day numbers _DAY0 … NEVER
_MONTH0 = -1_400


@cache
def _month_table() -> np.ndarray:
    days = np.arange(_DAY0, NEVER + 60_000, dtype=np.int64)  # headroom for NEVER + offsets
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


@cache
def _month_start_table() -> np.ndarray:
    months = np.arange(_MONTH0, int(_month_table()[-1]) + 2, dtype=np.int64)  # covers the day table
    return months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def month_of(days: np.ndarray | int) -> np.ndarray:
    """Epoch month (months since 1970-01) of each day number (a table lookup: this is hot)."""
    return _month_table()[np.asarray(days, dtype=np.int64) - _DAY0]


def month_start(months: np.ndarray | int) -> np.ndarray:
    """Day number of the first day of each epoch month."""
    return _month_start_table()[np.asarray(months, dtype=np.int64) - _MONTH0]


def add_months(days: np.ndarray, months: np.ndarray | int) -> np.ndarray:
    """Same day of the month ``months`` later, clipped to the month's last day (31 Jan + 1 = 28/29 Feb)."""
    days = np.asarray(days, dtype=np.int64)
    m = month_of(days)
    offset = days - month_start(m)
    target = m + np.asarray(months, dtype=np.int64)
    first = month_start(target)
    length = month_start(target + 1) - first
    return first + np.minimum(offset, length - 1)


def year_of(days: np.ndarray | int) -> np.ndarray:
    return month_of(days) // 12 + 1970


@dataclass(frozen=True)
class Timeline:
    """The generation window.

    ``history_start`` opens the history delivered with the first date D0; events before it are not
    delivered. Lives are simulated up to ``horizon`` (at least one year past D0, whatever ``days`` is) so
    that the same seed gives the same first deltas however many days are asked for.
    """

    first_day: int
    days: int
    history_years: int

    @property
    def last_day(self) -> int:
        return self.first_day + self.days

    @property
    def history_start(self) -> int:
        d0 = from_day(self.first_day)
        year = d0.year - self.history_years
        return to_day(date(year, d0.month, min(d0.day, 28 if d0.month == 2 else d0.day)))

    @property
    def horizon(self) -> int:
        return self.first_day + max(self.days, 366)

    @property
    def delivery_days(self) -> list[int]:
        return [self.first_day + k for k in range(self.days + 1)]

    @property
    def grid_month0(self) -> int:
        """First epoch month of the monthly grid of latent client paths (two years before the history)."""
        return int(month_of(self.history_start)) - 24

    @property
    def grid_months(self) -> int:
        return int(month_of(self.horizon)) - self.grid_month0 + 2

    def grid_index(self, days: np.ndarray) -> np.ndarray:
        """Index into the monthly grid for each day number, clamped to the grid."""
        return np.clip(month_of(days) - self.grid_month0, 0, self.grid_months - 1)

    def delivery_index(self, event_days: np.ndarray) -> np.ndarray:
        """Delivery (0 = D0, k = D0+k) of events on ``event_days``; -1 when not delivered.

        Events from the history window up to D0 go with the initial load; later ones with their own day.
        """
        event_days = np.asarray(event_days, dtype=np.int64)
        idx = np.maximum(event_days - self.first_day, 0)
        ok = (event_days >= self.history_start) & (event_days <= self.last_day)
        return np.where(ok, idx, -1)
