"""Fee run-rates and operating costs: hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from python_tasks.clv.income import fee_projection, operating_cost, origination_cost


def test_fees_run_at_the_last_twelve_months_and_grow():
    flat = fee_projection([120_000.0], [0.0], 12, 12)
    assert np.allclose(flat, 10_000.0)
    grown = fee_projection([120_000.0], [0.10], 24, 12)
    assert grown[0, 11] == pytest.approx(10_000 * 1.10) and grown[0, 23] == pytest.approx(10_000 * 1.21)
    assert fee_projection([0.0], [0.05], 3, 12).tolist() == [[0.0, 0.0, 0.0]]


def test_costs_are_bps_of_the_balance_with_risk_scaled_monitoring():
    balance = np.array([[1_000_000.0, 500_000.0], [1_000_000.0, 1_000_000.0]])
    # working-capital loan: 25 bps servicing + 15 bps monitoring; the second one is watched (× 2)
    cost = operating_cost(balance, [25.0, 25.0], [15.0, 15.0], [1.0, 2.0], 12)
    assert cost[0, 0] == pytest.approx(1_000_000 * 0.0040 / 12)
    assert cost[0, 1] == pytest.approx(500_000 * 0.0040 / 12)
    assert cost[1, 0] == pytest.approx(1_000_000 * 0.0055 / 12)


def test_origination_cost_per_facility_booked():
    booked = np.array([[1.0, 0.0, 2.0]])
    assert origination_cost(booked, [20_000.0]).tolist() == [[20_000.0, 0.0, 40_000.0]]


def test_bad_inputs_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="non-negative"):
        fee_projection([-1.0], [0.0], 3, 12)
    with pytest.raises(ValueError, match="above -100"):
        fee_projection([1.0], [-1.0], 3, 12)
    with pytest.raises(ValueError, match="unknown product"):
        operating_cost(np.ones((1, 2)), [np.nan], [15.0], [1.0], 12)
