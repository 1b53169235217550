"""Discounting into CLV, survival from default, RAROC and EVA: hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from python_tasks.clv.valuation import (
    COMPONENTS,
    discount_factors,
    economic_value_added,
    period_survival_from_default,
    raroc,
    value,
)


def _flows(n: int, k: int, **given: float) -> dict[str, np.ndarray]:
    return {c: np.full((n, k), given.get(c, 0.0)) for c in COMPONENTS}


def test_discount_factors_yearly_and_monthly():
    assert np.allclose(discount_factors(3, 1, 0.10), [1 / 1.1, 1 / 1.21, 1 / 1.331])
    monthly = discount_factors(12, 12, 0.08)
    assert monthly[-1] == pytest.approx(1 / 1.08)
    assert monthly[0] == pytest.approx(1.08 ** (-1 / 12))


def test_a_one_year_bullet_loan_with_a_sure_client():
    """CNY 1 million for 12 months at a 2 % margin over FTP: 1 666.67 a month, discounted monthly at 8 %."""
    flows = _flows(1, 12, nii=1_000_000 * 0.02 / 12)
    v = value(flows, np.ones((1, 12)), discount_factors(12, 12, 0.08))
    monthly = 1.08 ** (1 / 12) - 1
    annuity = (1 - (1 + monthly) ** -12) / monthly
    assert v.pv_nii[0] == pytest.approx(1_000_000 * 0.02 / 12 * annuity)
    assert v.clv[0] == pytest.approx(v.pv_nii[0])


def test_components_add_up_to_the_clv_and_a_prospect_pays_its_acquisition():
    flows = _flows(2, 2, nii=100.0, fee=10.0, cost=20.0, expected_loss=5.0, capital_charge=15.0)
    alive = np.array([[1.0, 0.5], [1.0, 1.0]])
    v = value(flows, alive, discount_factors(2, 1, 0.0), acquisition_cost=np.array([0.0, 30.0]))
    assert np.allclose(v.pv_nii, [150.0, 200.0])
    assert np.allclose(v.clv, [(100 + 10 - 20 - 5 - 15) * 1.5, (100 + 10 - 20 - 5 - 15) * 2 - 30])
    parts = v.pv_nii + v.pv_fee - v.pv_cost - v.pv_expected_loss - v.pv_capital_charge - v.acquisition_cost
    assert np.allclose(parts, v.clv)


def test_survival_from_default():
    s = period_survival_from_default([0.0, 0.1, 1.0], 24, 12)
    assert s.shape == (3, 24)
    assert s[0].tolist() == [1.0] * 24
    assert s[1, 11] == pytest.approx(0.9) and s[1, 23] == pytest.approx(0.81)
    assert s[2].tolist() == [0.0] * 24  # a defaulted client has no future contribution


def test_clv_falls_when_pd_rises_all_else_equal():
    flows = _flows(3, 60, nii=1_000.0, expected_loss=100.0)
    alive = period_survival_from_default([0.01, 0.05, 0.20], 60, 12)
    v = value(flows, alive, discount_factors(60, 12, 0.08))
    assert v.clv[0] > v.clv[1] > v.clv[2]


def test_bad_flows_are_refused_with_the_reason():
    alive, df = np.ones((1, 2)), discount_factors(2, 1, 0.05)
    flows = _flows(1, 2)
    with pytest.raises(ValueError, match=r"missing cash-flow components \['fee'\]"):
        value({k: v for k, v in flows.items() if k != "fee"}, alive, df)
    with pytest.raises(ValueError, match="component nii has shape"):
        value({**flows, "nii": np.ones((1, 3))}, alive, df)
    with pytest.raises(ValueError, match="component cost has non-finite values"):
        value({**flows, "cost": np.array([[1.0, np.nan]])}, alive, df)
    with pytest.raises(ValueError, match="above -100"):
        discount_factors(2, 1, -1.0)


def test_raroc_and_eva():
    assert raroc(100.0, 20.0, 30.0, 10.0, 500.0) == pytest.approx(0.16)
    assert np.isnan(raroc(100.0, 0.0, 0.0, 0.0, 0.0))
    assert economic_value_added(100.0, 20.0, 30.0, 10.0, 500.0, 0.12) == pytest.approx(20.0)


def test_same_inputs_give_identical_outputs():
    rng = np.random.default_rng(7)
    flows = {c: rng.uniform(0, 100, (50, 60)) for c in COMPONENTS}
    alive = period_survival_from_default(rng.uniform(0, 0.2, 50), 60, 12)
    df = discount_factors(60, 12, 0.08)
    a, b = value(flows, alive, df), value(flows, alive, df)
    assert np.array_equal(a.clv, b.clv)
