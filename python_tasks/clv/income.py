"""Fee income and operating costs per period.

* Fees: the client's fee income of the last twelve months as a run-rate, growing with the expected growth
  of its business: Fee_k = fee_12m / m · (1 + g)^(k/m).
* Costs: servicing and post-loan monitoring in basis points a year of the outstanding balance, by product
  (`ref_products`), monitoring scaled by the exposure's risk (a watched or non-performing loan is
  monitored more closely): Cost_k = B_k · (servicing_bps + monitoring_bps · multiplier) / 10 000 / m; and
  the one-off origination cost of each new facility when it is booked.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def fee_projection(
    fee_income_12m: ArrayLike, growth_annual: ArrayLike, periods: int, periods_per_year: int
) -> np.ndarray:
    """Fee_k per client, [clients, periods]; negative run-rates are refused (fees are income)."""
    fees = np.asarray(fee_income_12m, dtype=float)
    if np.any(~np.isfinite(fees)) or np.any(fees < 0):
        raise ValueError("fee income of the last twelve months must be finite and non-negative")
    g = np.asarray(growth_annual, dtype=float)
    if np.any(g <= -1.0):
        raise ValueError("growth must be above -100 % a year")
    k = np.arange(1, periods + 1, dtype=float)[None, :]
    return (fees / periods_per_year)[:, None] * np.exp(k / periods_per_year * np.log1p(g)[..., None])


def operating_cost(
    balance: np.ndarray,
    servicing_bps: ArrayLike,
    monitoring_bps: ArrayLike,
    monitoring_multiplier: ArrayLike,
    periods_per_year: int,
) -> np.ndarray:
    """Cost_k per facility, [facilities, periods], from its balance path and its product's cost rates."""
    rates = np.asarray(servicing_bps, dtype=float) + np.asarray(monitoring_bps, dtype=float) * np.asarray(
        monitoring_multiplier, dtype=float
    )
    if np.any(~np.isfinite(rates)) or np.any(rates < 0):
        raise ValueError("cost rates must be finite and non-negative (unknown product?)")
    return balance * (rates / 10_000.0 / periods_per_year)[:, None]


def origination_cost(new_facilities: np.ndarray, cost_per_facility: ArrayLike) -> np.ndarray:
    """One-off cost of the facilities booked in each period: count × the product's origination cost."""
    return np.asarray(new_facilities, dtype=float) * np.asarray(cost_per_facility, dtype=float)[:, None]
