"""Drift bounds: relative and absolute changes at their warn and stop boundaries, a missing metric, the
configured metrics."""

from __future__ import annotations

import json
import math
from datetime import date

import pytest

from python_tasks.quality.drift import Bound, change, compare, load_bounds

BASE = date(2026, 11, 20)
REL = Bound(kind="relative", warn=0.10, stop=0.30)
ABS = Bound(kind="absolute", warn=0.02, stop=0.05)


def _by_severity(outcomes) -> dict[str, bool]:
    return {o.expectation.severity: o.success for o in outcomes}


@pytest.mark.parametrize(
    ("bound", "old", "new", "warn_ok", "stop_ok"),
    [
        (REL, 100.0, 110.0, True, True),  # exactly at the warn bound: within it
        (REL, 100.0, 110.01, False, True),
        (REL, 100.0, 70.0, False, True),  # exactly at the stop bound
        (REL, 100.0, 69.99, False, False),
        (ABS, 0.10, 0.12, True, True),
        (ABS, 0.10, 0.1500001, False, False),
    ],
)
def test_warn_and_stop_bounds(bound, old, new, warn_ok, stop_ok):
    outcomes = compare({"m": old}, {"m": new}, {"m": bound}, BASE)
    assert _by_severity(outcomes) == {"warn": warn_ok, "error": stop_ok}


def test_a_failed_bound_names_the_metric_the_values_and_the_bound():
    [warn, stop] = compare({"total_clv_baseline_cny": 2.0e9}, {"total_clv_baseline_cny": 3.0e9},
                           {"total_clv_baseline_cny": REL}, BASE)  # fmt: skip
    assert stop.expectation.column == "total_clv_baseline_cny" and stop.expectation.severity == "error"
    observed = json.loads(stop.observed_value)
    assert observed == {"previous": 2.0e9, "current": 3.0e9, "change": 0.5, "bound": 0.30, "kind": "relative",
                        "baseline_date": "2026-11-20"}  # fmt: skip
    assert not warn.success and not stop.success


def test_a_relative_change_from_near_zero_uses_the_floor():
    assert change(0.0, 5.0, Bound(kind="relative", warn=0.1, stop=0.2, floor=100.0)) == pytest.approx(0.05)


def test_a_metric_missing_on_either_side_fails_its_stop_bound():
    outcomes = compare({"m": 1.0}, {"m": math.nan}, {"m": REL}, BASE)
    assert _by_severity(outcomes) == {"warn": False, "error": False}
    assert outcomes[1].exception == "metric missing in the current or the baseline run"


def test_the_configured_bounds_load_and_warn_within_stop():
    bounds = load_bounds()
    assert {"clients", "total_ead_cny", "total_clv_baseline_cny", "mean_pit_pd", "share_risk_tier_high"} <= set(bounds)
    assert all(b.warn <= b.stop for b in bounds.values())
    with pytest.raises(ValueError, match="warn must not exceed stop"):
        Bound(kind="relative", warn=0.5, stop=0.1)


def test_a_distribution_metric_of_a_small_portfolio_is_recorded_but_does_not_stop_the_run():
    """The 30-day backfill at 100 clients: the p90 PD moved 45 % in a day (ten clients re-rated)."""
    bound = Bound(kind="relative", warn=0.15, stop=0.40, min_clients=1000)
    small = compare({"p90_pit_pd": 0.087, "clients": 100}, {"p90_pit_pd": 0.048, "clients": 100},
                    {"p90_pit_pd": bound}, BASE)  # fmt: skip
    assert [(o.expectation.severity, o.success) for o in small] == [("warn", False), ("warn", False)]
    assert json.loads(small[1].observed_value)["enforced"] == "no: 100 clients, fewer than min_clients 1000"
    large = compare({"p90_pit_pd": 0.087, "clients": 5000}, {"p90_pit_pd": 0.048, "clients": 5000},
                    {"p90_pit_pd": bound}, BASE)  # fmt: skip
    assert [(o.expectation.severity, o.success) for o in large] == [("warn", False), ("error", False)]
    assert "enforced" not in json.loads(large[1].observed_value)
