"""Regulatory capital of a corporate exposure under the Basel IRB foundation formula, and the
point-in-time PD of the one-factor (Vasicek) model that the formula rests on.

Sources: Basel Committee, *International Convergence of Capital Measurement and Capital Standards*
(Basel II, June 2006), paragraphs 272-273 (corporate risk-weight function, SME firm-size adjustment) and
Annex 5 (illustrative risk weights, which the tests reproduce); 《商业银行资本管理办法》(2023) keeps the
same function with the SME turnover bounds in CNY. Everything is vectorised: scalars or NumPy arrays of
any matching shape.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm

CONFIDENCE = 0.999
PD_FLOOR = 0.0003  # Basel II para. 285: 0.03 % for corporate exposures


def asset_correlation(
    pd: ArrayLike, turnover: ArrayLike | None = None, *, sme_floor: float = 5.0, sme_cap: float = 50.0
) -> np.ndarray:
    """R(PD), lowered by up to 0.04 for SMEs whose turnover is below ``sme_cap`` (para. 273).

    ``turnover`` is in the unit of the bounds (Basel: EUR million, 5 and 50; the 2023 Chinese rules state
    the bounds in CNY); turnover below the floor counts as the floor; None or NaN means no adjustment.
    """
    pd = np.asarray(pd, dtype=float)
    weight = (1.0 - np.exp(-50.0 * pd)) / (1.0 - np.exp(-50.0))
    r = 0.12 * weight + 0.24 * (1.0 - weight)
    if turnover is None:
        return r
    s = np.asarray(turnover, dtype=float)
    is_sme = np.isfinite(s) & (s < sme_cap)
    s = np.clip(np.where(np.isfinite(s), s, sme_cap), sme_floor, sme_cap)
    adjustment = 0.04 * (1.0 - (s - sme_floor) / (sme_cap - sme_floor))
    return r - np.where(is_sme, adjustment, 0.0)


def maturity_adjustment_b(pd: ArrayLike) -> np.ndarray:
    """b(PD) = (0.11852 - 0.05478 ln PD)^2 (para. 272)."""
    return (0.11852 - 0.05478 * np.log(np.asarray(pd, dtype=float))) ** 2


def capital_requirement(
    pd: ArrayLike,
    lgd: ArrayLike,
    maturity_years: ArrayLike = 2.5,
    turnover: ArrayLike | None = None,
    *,
    sme_floor: float = 5.0,
    sme_cap: float = 50.0,
    confidence: float = CONFIDENCE,
) -> np.ndarray:
    """K per unit of EAD: the unexpected loss at 99.9 % net of expected loss, maturity-adjusted.

    PD is floored at 0.03 %; a defaulted exposure (PD = 1) has K = 0 here, its loss being expected loss
    (the best-estimate treatment of para. 272 is left to the caller). Maturity is bounded to 1..5 years.
    """
    pd = np.clip(np.asarray(pd, dtype=float), PD_FLOOR, 1.0)
    lgd = np.asarray(lgd, dtype=float)
    m = np.clip(np.asarray(maturity_years, dtype=float), 1.0, 5.0)
    defaulted = pd >= 1.0
    pd_safe = np.where(defaulted, 0.5, pd)  # keeps norm.ppf finite; the result is masked below
    r = asset_correlation(pd_safe, turnover, sme_floor=sme_floor, sme_cap=sme_cap)
    b = maturity_adjustment_b(pd_safe)
    conditional_pd = norm.cdf((norm.ppf(pd_safe) + np.sqrt(r) * norm.ppf(confidence)) / np.sqrt(1.0 - r))
    k = (lgd * conditional_pd - pd_safe * lgd) * (1.0 + (m - 2.5) * b) / (1.0 - 1.5 * b)
    return np.where(defaulted, 0.0, k)


def risk_weight(
    pd: ArrayLike, lgd: ArrayLike, maturity_years: ArrayLike = 2.5, turnover: ArrayLike | None = None, **bounds: float
) -> np.ndarray:
    """RW = 12.5 K (without the 1.06 scaling factor, as in Annex 5)."""
    return 12.5 * capital_requirement(pd, lgd, maturity_years, turnover, **bounds)


def point_in_time_pd(ttc_pd: ArrayLike, systematic_factor: ArrayLike, rho: ArrayLike) -> np.ndarray:
    """PD conditional on the systematic factor Z of the one-factor model:
    Φ((Φ⁻¹(PD) − √ρ·Z) / √(1 − ρ)). The through-the-cycle PD is the average over Z ~ N(0, 1); Z = 0 is
    the median state of the cycle (its PD lies below the average), Z < 0 a downturn that raises it. A PD
    of 0 or 1 stays where it is."""
    pd = np.asarray(ttc_pd, dtype=float)
    z = np.asarray(systematic_factor, dtype=float)
    rho = np.asarray(rho, dtype=float)
    inner = np.clip(pd, 1e-12, 1 - 1e-12)
    pit = norm.cdf((norm.ppf(inner) - np.sqrt(rho) * z) / np.sqrt(1.0 - rho))
    return np.where(pd <= 0.0, 0.0, np.where(pd >= 1.0, 1.0, pit))
