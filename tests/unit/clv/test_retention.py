"""The shifted-beta-geometric retention model against Fader & Hardie's published example."""

from __future__ import annotations

import numpy as np
import pytest

from python_tasks.clv.retention import (
    churn_probability,
    discounted_expected_residual_lifetime,
    fit_sbg,
    fit_sbg_cohorts,
    log_likelihood,
    retention_rate,
    survival,
)

# Fader & Hardie (2007), survivors of two cohorts of 1 000 customers over seven years.
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]


@pytest.mark.parametrize(
    ("cohort", "alpha", "beta", "ll"),
    [(REGULAR, 0.704, 1.182, -1680.3), (HIGH_END, 0.668, 3.806, -1611.2)],
)
def test_the_fit_reproduces_the_published_estimates(cohort, alpha, beta, ll):
    fit = fit_sbg(cohort)
    assert (round(fit.alpha, 3), round(fit.beta, 3)) == (alpha, beta)
    assert fit.log_likelihood == pytest.approx(ll, abs=0.05)
    assert (fit.periods, fit.clients) == (7, 1000)


def test_probabilities_are_consistent():
    a, b = 0.704, 1.182
    t = np.arange(1, 200)
    # P(T = t) = S(t − 1) − S(t), S(0) = 1, and the retention rate is the ratio of survivals
    assert np.allclose(churn_probability(t, a, b), survival(t - 1, a, b) - survival(t, a, b))
    assert survival(0, a, b) == pytest.approx(1.0)
    assert np.allclose(retention_rate(t, a, b), survival(t, a, b) / survival(t - 1, a, b))
    assert churn_probability(1, a, b) == pytest.approx(a / (a + b))


def test_retention_rises_with_tenure_under_heterogeneity():
    rates = retention_rate(np.arange(1, 10), 0.704, 1.182)
    assert np.all(np.diff(rates) > 0)


@pytest.mark.parametrize("cohort", [REGULAR, HIGH_END])
def test_heterogeneity_beats_a_constant_churn_rate(cohort):
    """The paper's point: the sBG fits far better than a geometric model with one churn probability."""
    n = np.asarray(cohort, dtype=float)
    lost, at_risk = n[:-1] - n[1:], n[:-1]
    theta = lost.sum() / at_risk.sum()  # maximum-likelihood constant churn probability
    geometric_ll = np.sum(lost * np.log(theta)) + np.sum((at_risk - lost) * np.log(1 - theta))
    fit = fit_sbg(cohort)
    assert fit.log_likelihood > geometric_ll + 10
    projected = n[0] * survival(np.arange(len(n)), fit.alpha, fit.beta)
    assert np.max(np.abs(projected - n)) < 0.02 * n[0]  # within 2 points of the cohort every year


def test_derl_equals_the_discounted_sum_of_survival():
    """Eq. 6's closed form (hypergeometric) against the series it sums, in the paper's timing:
    Σ_{t ≥ n} S(t)/S(n−1) / (1+d)^(t−n) for a client who has made n − 1 renewals."""
    a, b, d = 0.668, 3.806, 0.10
    for made in (0, 1, 4):
        n = made + 1
        t = np.arange(n, n + 3000)
        series = np.sum(survival(t, a, b) / survival(n - 1, a, b) / (1 + d) ** (t - n))
        assert discounted_expected_residual_lifetime(a, b, made, d) == pytest.approx(series, rel=1e-9)


def test_derl_of_a_homogeneous_base_is_the_textbook_annuity():
    """With no heterogeneity (α, β → ∞ at retention r) DERL → r(1+d)/(1+d−r), the aggregate
    calculation Fader & Hardie (2010) compare against; heterogeneity makes a tenured client worth more."""
    r, d = 0.8, 0.10
    for scale in (1e4, 1e6, 1e9):  # scipy's 2F1 returns NaN from about α + β = 1 000: the series takes over
        flat = discounted_expected_residual_lifetime((1 - r) * scale, r * scale, 3, d)
        assert flat == pytest.approx(r * (1 + d) / (1 + d - r), rel=10 / scale)
    fit = fit_sbg_cohorts(HYPOTHETICAL_FIRM)
    assert discounted_expected_residual_lifetime(fit.alpha, fit.beta, 4, d) > r * (1 + d) / (1 + d - r)


def test_derl_refuses_a_negative_tenure_or_a_non_positive_discount_rate():
    with pytest.raises(ValueError, match="positive discount rate"):
        discounted_expected_residual_lifetime(1.0, 1.0, 1, 0.0)
    with pytest.raises(ValueError, match="renewals >= 0"):
        discounted_expected_residual_lifetime(1.0, 1.0, -1, 0.1)


# Fader & Hardie's multi-cohort example of a firm that acquires 10 000 clients a year and sees its
# aggregate retention rate rise (80 %, 81 %, 81.9 %, 82.7 %): four cohorts observed 4, 3, 2 and 1 years.
HYPOTHETICAL_FIRM = [[10000, 8000, 6480, 5307, 4391], [10000, 8000, 6480, 5307], [10000, 8000, 6480], [10000, 8000]]


def test_the_pooled_fit_reproduces_the_published_multi_cohort_estimates():
    fit = fit_sbg_cohorts(HYPOTHETICAL_FIRM)
    assert (round(fit.alpha, 2), round(fit.beta, 2)) == (3.80, 15.19)
    assert fit.clients == 40_000 and fit.periods == 4


def test_derl_grows_with_renewals_made_and_falls_with_the_discount_rate():
    values = discounted_expected_residual_lifetime(0.704, 1.182, np.arange(6), 0.10)
    assert np.all(np.diff(values) > 0)
    assert discounted_expected_residual_lifetime(0.704, 1.182, 2, 0.2) < values[2]


def test_bad_cohorts_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="must not increase"):
        log_likelihood(1.0, 1.0, [100, 80, 90])
    with pytest.raises(ValueError, match="at least two periods"):
        fit_sbg([100, 90])
    with pytest.raises(ValueError, match="positive cohort size"):
        fit_sbg([0, 0, 0])


def test_cohorts_of_different_ages_pool_into_one_fit_that_recovers_the_truth():
    """Simulated clients with θ ~ Beta(1.2, 3.0): three cohorts observed 8, 6 and 4 periods."""
    from python_tasks.clv.retention import fit_sbg_cohorts, survivor_counts

    rng = np.random.default_rng(11)
    alpha, beta, per_cohort, through = 1.2, 3.0, 40_000, 8
    starts = np.repeat([0, 2, 4], per_cohort)
    theta = rng.beta(alpha, beta, starts.size)
    lifetime = rng.geometric(theta)  # periods as a client: 1, 2, …
    counts = survivor_counts(starts, (starts + lifetime).astype(float), through - 1)
    assert sorted(counts) == [0, 2, 4] and [len(c) for c in counts.values()] == [8, 6, 4]
    assert all(c[0] == per_cohort for c in counts.values())
    fit = fit_sbg_cohorts(list(counts.values()))
    assert fit.alpha == pytest.approx(alpha, rel=0.08) and fit.beta == pytest.approx(beta, rel=0.08)
    assert fit.clients == 3 * per_cohort and fit.periods == 7


def test_pooled_log_likelihood_is_the_sum_over_cohorts():
    from python_tasks.clv.retention import fit_sbg_cohorts

    fit = fit_sbg_cohorts([REGULAR, REGULAR[:5]])
    assert fit.log_likelihood == pytest.approx(
        log_likelihood(fit.alpha, fit.beta, REGULAR) + log_likelihood(fit.alpha, fit.beta, REGULAR[:5])
    )


def test_survivor_counts_censor_open_relationships_and_refuse_bad_periods():
    from python_tasks.clv.retention import survivor_counts

    counts = survivor_counts([0, 0, 0, 1], [1, 3, np.nan, np.nan], observed_through=3)
    assert counts[0].tolist() == [3, 2, 2, 1]  # ends after 1 and 3 periods, one still a client
    assert counts[1].tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="at least one period"):
        survivor_counts([2], [2], observed_through=3)
    with pytest.raises(ValueError, match="not after observed_through"):
        survivor_counts([5], [np.nan], observed_through=3)
