"""Discounting the projected contributions into CLV, and the return measures beside it.

    CLV_i = Σ_k S_ik · (NII_ik + Fee_ik − Cost_ik − EL_ik − CapCharge_ik) / (1 + r)^(k / m) − AcqCost_i

with k = 1..K periods of 1/m year, S_ik the probability that client i's relationship is still alive in
period k (retention × survival from default), r the annual discount rate. Arrays are [clients, periods];
everything is vectorised over both (no loop per client).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

COMPONENTS = ("nii", "fee", "cost", "expected_loss", "capital_charge")


@dataclass(frozen=True)
class Valuation:
    """Present values per client (CNY), each component and the CLV they add up to."""

    pv_nii: np.ndarray
    pv_fee: np.ndarray
    pv_cost: np.ndarray
    pv_expected_loss: np.ndarray
    pv_capital_charge: np.ndarray
    acquisition_cost: np.ndarray
    clv: np.ndarray


def discount_factors(periods: int, periods_per_year: int, annual_rate: float) -> np.ndarray:
    """(1 + r)^(−k/m) for k = 1..K: each period's flow is discounted from its end."""
    if periods < 1 or periods_per_year < 1:
        raise ValueError("periods and periods_per_year must be positive")
    if annual_rate <= -1.0:
        raise ValueError("the discount rate must be above -100 %")
    k = np.arange(1, periods + 1, dtype=float)
    return np.exp(-k / periods_per_year * np.log1p(annual_rate))


def period_survival_from_default(annual_pd: ArrayLike, periods: int, periods_per_year: int) -> np.ndarray:
    """P(no default by the end of period k) for a constant annual PD: (1 − PD)^(k/m), shape [clients, K]."""
    pd = np.clip(np.asarray(annual_pd, dtype=float), 0.0, 1.0)[..., None]
    k = np.arange(1, periods + 1, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(pd >= 1.0, 0.0, np.exp(k / periods_per_year * np.log1p(-np.minimum(pd, 1 - 1e-16))))


def value(
    flows: dict[str, np.ndarray],
    alive: np.ndarray,
    discount: np.ndarray,
    acquisition_cost: ArrayLike = 0.0,
) -> Valuation:
    """Present value of each component and the CLV. ``flows`` has every name of COMPONENTS, each
    [clients, periods] in CNY per period (costs, losses and charges positive); ``alive`` is S_ik."""
    missing = [c for c in COMPONENTS if c not in flows]
    if missing:
        raise ValueError(f"missing cash-flow components {missing}")
    weight = alive * discount[None, :]
    pv = {}
    for name in COMPONENTS:
        flow = np.asarray(flows[name], dtype=float)
        if flow.shape != alive.shape:
            raise ValueError(f"component {name} has shape {flow.shape}, expected {alive.shape}")
        if not np.all(np.isfinite(flow)):
            raise ValueError(f"component {name} has non-finite values")
        pv[name] = np.einsum("ik,ik->i", flow, weight)
    acquisition = np.broadcast_to(np.asarray(acquisition_cost, dtype=float), pv["nii"].shape)
    clv = pv["nii"] + pv["fee"] - pv["cost"] - pv["expected_loss"] - pv["capital_charge"] - acquisition
    return Valuation(
        pv["nii"], pv["fee"], pv["cost"], pv["expected_loss"], pv["capital_charge"], acquisition.copy(), clv
    )


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
