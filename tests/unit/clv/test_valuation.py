"""Discount factors, RAROC and EVA: hand-computed cases (the discounted sums are tested in test_engine)."""

from __future__ import annotations

import numpy as np
import pytest

from python_tasks.clv.valuation import discount_factors, economic_value_added, raroc


def test_discount_factors_yearly_and_monthly():
    assert np.allclose(discount_factors(3, 1, 0.10), [1 / 1.1, 1 / 1.21, 1 / 1.331])
    monthly = discount_factors(12, 12, 0.08)
    assert monthly[-1] == pytest.approx(1 / 1.08)
    assert monthly[0] == pytest.approx(1.08 ** (-1 / 12))


def test_bad_discounting_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="above -100"):
        discount_factors(2, 1, -1.0)
    with pytest.raises(ValueError, match="must be positive"):
        discount_factors(0, 12, 0.05)


def test_raroc_and_eva():
    assert raroc(100.0, 20.0, 30.0, 10.0, 500.0) == pytest.approx(0.16)
    assert np.isnan(raroc(100.0, 0.0, 0.0, 0.0, 0.0))
    assert economic_value_added(100.0, 20.0, 30.0, 10.0, 500.0, 0.12) == pytest.approx(20.0)
