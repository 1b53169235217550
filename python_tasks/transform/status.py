"""What the client profile holds: one line per business date, for the status command and the demo."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from python_tasks.io.warehouse import table_exists


@dataclass(frozen=True)
class ProfileDate:
    as_of_date: date
    clients: int
    active_clients: int
    with_credit: int
    drawn_balance_cny: float
    ead_cny: float
    non_performing_clients: int
    past_due_clients: int
    by_size: dict[str, int]


def profile_by_date(con: duckdb.DuckDBPyConnection, limit: int = 10) -> list[ProfileDate]:
    """The latest ``limit`` business dates of ``marts.fct_client_profile`` (empty before the first build)."""
    exists = table_exists(con, "marts", "fct_client_profile")
    if not exists:
        return []
    rows = con.execute(
        """
        SELECT as_of_date, count(*), count(*) FILTER (WHERE is_active_client),
               count(*) FILTER (WHERE has_credit_exposure), sum(drawn_balance_cny)::DOUBLE, sum(ead_cny)::DOUBLE,
               count(*) FILTER (WHERE is_non_performing), count(*) FILTER (WHERE current_dpd > 0),
               histogram(enterprise_size)
        FROM marts.fct_client_profile
        WHERE as_of_date IN (
            SELECT DISTINCT as_of_date FROM marts.fct_client_profile ORDER BY as_of_date DESC LIMIT $limit
        )
        GROUP BY as_of_date
        ORDER BY as_of_date
        """,
        {"limit": limit},
    ).fetchall()
    return [ProfileDate(*r[:8], by_size=dict(r[8])) for r in rows]
