"""Basel IRB corporate capital against the published Annex 5 risk weights, and the one-factor PIT PD."""

from __future__ import annotations

import numpy as np
import pytest

from python_tasks.clv.capital import asset_correlation, capital_requirement, point_in_time_pd, risk_weight

# Basel II (June 2006) Annex 5, corporate exposures, LGD 45 %, M = 2.5 years, risk weights in percent:
# (PD, turnover EUR 50 million = no SME adjustment, turnover EUR 5 million).
ANNEX_5_CORPORATE = [
    (0.0003, 14.44, 11.30),
    (0.0005, 19.65, 15.39),
    (0.0010, 29.65, 23.30),
    (0.0025, 49.47, 39.01),
    (0.0040, 62.72, 49.49),
    (0.0050, 69.61, 54.91),
    (0.0075, 82.78, 65.14),
    (0.0100, 92.32, 72.40),
    (0.0130, 100.95, 78.77),
    (0.0150, 105.59, 82.11),
    (0.0200, 114.86, 88.55),
    (0.0250, 122.16, 93.43),
    (0.0300, 128.44, 97.58),
]


@pytest.mark.parametrize(("pd", "rw_large", "rw_sme"), ANNEX_5_CORPORATE)
def test_reproduces_the_annex_5_risk_weights_within_two_hundredths_of_a_point(pd, rw_large, rw_sme):
    assert risk_weight(pd, 0.45, 2.5, turnover=50.0) * 100 == pytest.approx(rw_large, abs=0.02)
    assert risk_weight(pd, 0.45, 2.5, turnover=5.0) * 100 == pytest.approx(rw_sme, abs=0.02)
    assert risk_weight(pd, 0.45, 2.5) * 100 == pytest.approx(rw_large, abs=0.02)


def test_vectorised_over_any_shape():
    pds = np.array([[0.0003, 0.01], [0.02, 0.03]])
    k = capital_requirement(pds, 0.45, 2.5)
    assert k.shape == (2, 2)
    assert k[0, 1] == pytest.approx(capital_requirement(0.01, 0.45, 2.5))


def test_sme_adjustment_is_bounded_by_the_turnover_floor_and_cap():
    assert asset_correlation(0.01, 2.0) == pytest.approx(asset_correlation(0.01, 5.0))  # below the floor
    assert asset_correlation(0.01, 80.0) == pytest.approx(asset_correlation(0.01))  # not an SME
    assert asset_correlation(0.01, 5.0) == pytest.approx(asset_correlation(0.01) - 0.04)
    assert asset_correlation(0.01, 27.5) == pytest.approx(asset_correlation(0.01) - 0.02)
    assert asset_correlation(0.01, np.nan) == pytest.approx(asset_correlation(0.01))  # unknown: none
    # the 2023 Chinese rules state the bounds in CNY: 30 million to 300 million
    cny = asset_correlation(0.01, 165e6, sme_floor=30e6, sme_cap=300e6)
    assert cny == pytest.approx(asset_correlation(0.01) - 0.02)


def test_correlation_runs_from_024_to_012_as_pd_rises():
    assert asset_correlation(1e-9) == pytest.approx(0.24, abs=1e-6)
    assert asset_correlation(0.999) == pytest.approx(0.12, abs=1e-6)


def test_longer_maturity_needs_more_capital_and_maturity_is_bounded():
    k1, k25, k5, k7 = capital_requirement(0.01, 0.45, [1.0, 2.5, 5.0, 7.0])
    assert k1 < k25 < k5 == pytest.approx(k7)
    assert capital_requirement(0.01, 0.45, 0.2) == pytest.approx(k1)


def test_pd_floor_and_defaulted_exposures():
    assert capital_requirement(0.0, 0.45) == pytest.approx(capital_requirement(0.0003, 0.45))
    assert capital_requirement(1.0, 0.45) == 0.0
    assert np.all(np.isfinite(capital_requirement([0.0, 1e-9, 0.5, 1.0], 0.45)))


def test_capital_scales_with_lgd():
    assert capital_requirement(0.02, 0.9) == pytest.approx(2 * capital_requirement(0.02, 0.45))


def test_pit_pd_averages_to_the_ttc_pd_over_the_cycle():
    """E_Z[PD(Z)] = PD for Z ~ N(0, 1): the law of total probability of the one-factor model."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    weights = weights / weights.sum()
    for pd in (0.0005, 0.01, 0.2):
        for rho in (0.12, 0.24):
            assert np.sum(weights * point_in_time_pd(pd, nodes, rho)) == pytest.approx(pd, rel=1e-6)


def test_a_downturn_raises_the_pit_pd_and_the_bounds_stay():
    down, neutral, up = point_in_time_pd(0.01, [-1.5, 0.0, 1.5], 0.2)
    assert down > 0.01 > up and down > neutral > up
    assert point_in_time_pd(0.0, -3.0, 0.2) == 0.0
    assert point_in_time_pd(1.0, 3.0, 0.2) == 1.0
