"""What the valuation holds: one line per business date and scenario, for the status command and the demo."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from python_tasks.io.warehouse import table_exists


@dataclass(frozen=True)
class ValueDate:
    as_of_date: date
    scenario: str
    clients: int
    clv_cny: float
    pv_nii_cny: float
    pv_fee_cny: float
    pv_cost_cny: float
    pv_expected_loss_cny: float
    pv_capital_charge_cny: float
    mean_pit_pd: float
    params_version: str


def clv_by_date(con: duckdb.DuckDBPyConnection, limit: int = 5) -> list[ValueDate]:
    """Portfolio totals of the latest ``limit`` CLV runs, per scenario (empty before the first run)."""
    exists = table_exists(con, "valuation", "client_values")
    if not exists:
        return []
    rows = con.execute(
        """
        SELECT as_of_date, scenario, count(*), sum(clv_cny), sum(pv_nii_cny), sum(pv_fee_cny), sum(pv_cost_cny),
               sum(pv_expected_loss_cny), sum(pv_capital_charge_cny), avg(pit_pd), any_value(params_version)
        FROM valuation.client_values
        WHERE as_of_date IN (
            SELECT DISTINCT as_of_date FROM valuation.client_values ORDER BY as_of_date DESC LIMIT $limit
        )
        GROUP BY as_of_date, scenario
        ORDER BY as_of_date, min(CASE scenario WHEN 'baseline' THEN 0 WHEN 'adverse' THEN 1 ELSE 2 END), scenario
        """,
        {"limit": limit},
    ).fetchall()
    return [ValueDate(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10]) for r in rows]
