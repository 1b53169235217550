"""Discount factors, and the return measures beside the CLV (the engine sums the discounted flows).

    CLV_i = Σ_k S_ik · (NII_ik + Fee_ik − Cost_ik − EL_ik − CapCharge_ik) / (1 + r)^(k / m) − AcqCost_i

with k = 1..K periods of 1/m year, S_ik the probability that client i's relationship is still alive in
period k (retention × survival from default), r the annual discount rate. Arrays are [clients, periods];
everything is vectorised over both (no loop per client).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def discount_factors(periods: int, periods_per_year: int, annual_rate: float) -> np.ndarray:
    """(1 + r)^(−k/m) for k = 1..K: each period's flow is discounted from its end."""
    if periods < 1 or periods_per_year < 1:
        raise ValueError("periods and periods_per_year must be positive")
    if annual_rate <= -1.0:
        raise ValueError("the discount rate must be above -100 %")
    k = np.arange(1, periods + 1, dtype=float)
    return np.exp(-k / periods_per_year * np.log1p(annual_rate))


def raroc(nii: ArrayLike, fee: ArrayLike, cost: ArrayLike, expected_loss: ArrayLike, capital: ArrayLike) -> np.ndarray:
    """Risk-adjusted return on capital: (NII + Fee − Cost − EL) / capital; NaN without capital."""
    numerator = np.asarray(nii) + np.asarray(fee) - np.asarray(cost) - np.asarray(expected_loss)
    capital = np.asarray(capital, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(capital > 0, numerator / np.where(capital > 0, capital, 1.0), np.nan)


def economic_value_added(
    nii: ArrayLike, fee: ArrayLike, cost: ArrayLike, expected_loss: ArrayLike, capital: ArrayLike, cost_of_equity: float
) -> np.ndarray:
    """EVA = NII + Fee − Cost − EL − cost of equity × capital (the capital charge)."""
    return (
        np.asarray(nii) + np.asarray(fee) - np.asarray(cost) - np.asarray(expected_loss)
        - cost_of_equity * np.asarray(capital)
    )  # fmt: skip
