"""Relationship retention: the shifted-beta-geometric (sBG) model of Fader & Hardie.

Each client has a constant probability θ of ending the relationship at each period boundary; θ varies
across clients as Beta(α, β). Then, for period t = 1, 2, …

    P(T = t) = B(α + 1, β + t − 1) / B(α, β)        S(t) = B(α, β + t) / B(α, β)

Sources: P. S. Fader and B. G. S. Hardie, "How to Project Customer Retention", *Journal of Interactive
Marketing* 21 (2007) 76-90 (the model, the maximum-likelihood fit on cohort survivor counts, and the
"regular" and "high end" example the tests reproduce); "Customer-Base Valuation in a Contractual Setting:
The Perils of Ignoring Heterogeneity", *Marketing Science* 29 (2010) 85-93 (the discounted expected
residual lifetime, DERL).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize
from scipy.special import betaln, hyp2f1


@dataclass(frozen=True)
class SbgFit:
    alpha: float
    beta: float
    log_likelihood: float
    periods: int
    clients: int


def survival(t: ArrayLike, alpha: ArrayLike, beta: ArrayLike) -> np.ndarray:
    """S(t) = B(α, β + t) / B(α, β): the share of a cohort still a client after t periods."""
    t = np.asarray(t, dtype=float)
    return np.exp(betaln(alpha, np.add(beta, t)) - betaln(alpha, beta))


def churn_probability(t: ArrayLike, alpha: ArrayLike, beta: ArrayLike) -> np.ndarray:
    """P(T = t), t >= 1: the share of a cohort that leaves at the end of period t."""
    t = np.asarray(t, dtype=float)
    return np.exp(betaln(np.add(alpha, 1.0), np.add(beta, t - 1.0)) - betaln(alpha, beta))


def retention_rate(t: ArrayLike, alpha: ArrayLike, beta: ArrayLike) -> np.ndarray:
    """r(t) = S(t) / S(t − 1) = (β + t − 1) / (α + β + t − 1): rises with t as the churn-prone leave."""
    t = np.asarray(t, dtype=float)
    return (np.add(beta, t) - 1.0) / (np.add(alpha, beta) + t - 1.0)


def log_likelihood(alpha: float, beta: float, survivors: ArrayLike) -> float:
    """Log-likelihood of a cohort's survivor counts n_0, n_1, …, n_T (n_0 = cohort size)."""
    n = np.asarray(survivors, dtype=float)
    periods = np.arange(1, len(n))
    lost = n[:-1] - n[1:]
    if np.any(lost < 0):
        raise ValueError("survivor counts must not increase from one period to the next")
    return float(
        np.sum(lost * np.log(churn_probability(periods, alpha, beta)))
        + n[-1] * np.log(survival(len(n) - 1, alpha, beta))
    )


def fit_sbg(survivors: ArrayLike) -> SbgFit:
    """Maximum-likelihood α, β from one cohort's survivor counts (optimised on log α, log β)."""
    return fit_sbg_cohorts([survivors])


def fit_sbg_cohorts(cohorts: list[ArrayLike]) -> SbgFit:
    """One α, β for several cohorts (each its survivor counts n_0..n_T, T may differ): the cohorts'
    log-likelihoods add up, as in Fader & Hardie (2007) when cohorts of different ages are pooled."""
    counts = [np.asarray(c, dtype=float) for c in cohorts]
    if not counts:
        raise ValueError("need at least one cohort")
    for n in counts:
        if n.ndim != 1 or len(n) < 2:
            raise ValueError("each cohort needs a size and at least one period of survivor counts")
        if n[0] <= 0 or np.any(n < 0):
            raise ValueError("survivor counts must be non-negative with a positive cohort size")
    if sum(len(n) - 1 for n in counts) < 2:
        raise ValueError("need at least two periods of survivor counts in all")

    def negative(params: np.ndarray) -> float:
        a, b = np.exp(params[0]), np.exp(params[1])
        return -sum(log_likelihood(a, b, n) for n in counts)

    # log α, log β bounded to [e^-7, e^12]: when the cohorts show (almost) no heterogeneity the likelihood
    # keeps rising towards the geometric limit α, β → ∞ with α/(α+β) fixed; the bound stops the search
    # there (the retention curve is then flat to many digits) instead of wandering for thousands of steps.
    best = min(
        (minimize(negative, np.log(start), method="L-BFGS-B", bounds=[(-7.0, 12.0)] * 2,
                  options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 2_000})
         for start in ([1.0, 1.0], [0.5, 3.0], [3.0, 0.5])),
        key=lambda r: r.fun,
    )  # fmt: skip
    alpha, beta = np.exp(best.x)
    return SbgFit(
        float(alpha), float(beta), float(-best.fun), max(len(n) - 1 for n in counts), int(sum(n[0] for n in counts))
    )


def survivor_counts(start: ArrayLike, end: ArrayLike, observed_through: int) -> dict[int, np.ndarray]:
    """Survivor counts per cohort from client-level relationship periods.

    ``start`` is the period each client's relationship began (its cohort), ``end`` the first period in
    which it was no longer a client (NaN, or beyond observed_through, while it lasts). Returns {cohort: [n_0, n_1, …, n_T]} with T the periods
    the cohort has been observed; a client still active at ``observed_through`` is censored there.
    """
    start = np.asarray(start, dtype=float)
    end = np.asarray(end, dtype=float)
    if start.shape != end.shape:
        raise ValueError("start and end must have the same length")
    if np.any(~np.isfinite(start)) or np.any(start > observed_through):
        raise ValueError("every start period must be known and not after observed_through")
    if np.any(np.isfinite(end) & (end <= start)):
        raise ValueError("a relationship must last at least one period (end after start)")
    lasted = np.where(np.isfinite(end), np.minimum(end, observed_through + 1), observed_through + 1) - start
    out = {}
    for cohort in np.unique(start).astype(int):
        ages = lasted[start == cohort]
        horizon = observed_through - cohort
        out[int(cohort)] = np.array([np.sum(ages > t) for t in range(horizon + 1)], dtype=float)
    return out


def discounted_expected_residual_lifetime(
    alpha: ArrayLike, beta: ArrayLike, renewals: ArrayLike, discount_rate: ArrayLike
) -> np.ndarray:
    """DERL(d | α, β, n − 1 renewals), Fader & Hardie (2010), eq. 6, in the paper's own convention.

    Standing at the end of period n, just before a client who has made n − 1 renewals decides on the
    next one, DERL is the expected number of future periods paid for, each discounted to now, with the
    payment for a period received at its start (so the payment of the renewal about to be made is not
    discounted):

        DERL = Σ_{t ≥ n} S(t) / S(n − 1) / (1 + d)^(t − n)
             = (β + n − 1) / (α + β + n − 1) · 2F1(1, β + n; α + β + n; 1 / (1 + d))

    ``renewals`` is n − 1. Multiplied by the net cash flow per period it is the expected residual
    lifetime value; for cash flows at the end of each period divide by (1 + d).
    """
    alpha, beta = np.asarray(alpha, dtype=float), np.asarray(beta, dtype=float)
    m = np.asarray(renewals, dtype=float)
    d = np.asarray(discount_rate, dtype=float)
    if np.any(m < 0) or np.any(d <= 0):
        raise ValueError("DERL needs renewals >= 0 and a positive discount rate")
    alpha, beta, m, d = np.broadcast_arrays(alpha, beta, m, d)
    b, c, z = beta + m + 1.0, alpha + beta + m + 1.0, 1.0 / (1.0 + d)
    series = np.asarray(hyp2f1(1.0, b, c, z), dtype=float)
    bad = ~np.isfinite(series)
    if np.any(bad):  # scipy's hyp2f1 fails near the geometric limit (α + β in the thousands): sum the series
        series = series.copy()
        series[bad] = _hyp2f1_1bcz(b[bad], c[bad], z[bad])
    return (beta + m) / (alpha + beta + m) * series


def _hyp2f1_1bcz(b: np.ndarray, c: np.ndarray, z: np.ndarray) -> np.ndarray:
    """2F1(1, b; c; z) = Σ_j Π_{i<j} (b+i)/(c+i) · z^j for c ≥ b > 0, 0 < z < 1: each term is at most z
    times the one before, so the sum to 1e-17 of the first term needs log(1e-17)/log(z) terms."""
    terms = int(np.ceil(np.log(1e-17) / np.log(np.max(z)))) + 1
    i = np.arange(terms - 1)[:, None]
    ratios = (b + i) / (c + i) * z
    return 1.0 + np.sum(np.cumprod(ratios, axis=0), axis=0)
