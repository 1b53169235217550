"""Shapley attribution: parts sum to the total, linear effects are exact, interactions are shared."""

from __future__ import annotations

import numpy as np
import pytest

from python_tasks.clv.attribution import shapley_attribution


def test_a_linear_value_gives_each_factor_its_own_change():
    def value(x):  # noqa: ANN001, ANN202
        return 2.0 * x["exposure"] - 3.0 * x["pd"] + x["fees"]

    old = {"exposure": np.array([10.0, 20.0]), "pd": np.array([1.0, 1.0]), "fees": np.array([0.0, 5.0])}
    new = {"exposure": np.array([12.0, 20.0]), "pd": np.array([2.0, 0.5]), "fees": np.array([1.0, 5.0])}
    parts = shapley_attribution(value, old, new)
    assert np.allclose(parts["exposure"], [4.0, 0.0])
    assert np.allclose(parts["pd"], [-3.0, 1.5])
    assert np.allclose(parts["fees"], [1.0, 0.0])


def test_an_interaction_is_shared_equally_and_the_parts_sum_to_the_total():
    """CLV = exposure × margin: from (10, 0.02) to (20, 0.03) the change 0.4 splits 0.25 + 0.15, each
    factor taking its own effect (0.2 and 0.1) plus half of the interaction (0.1)."""

    def value(x):  # noqa: ANN001, ANN202
        return x["exposure"] * x["margin"]

    parts = shapley_attribution(value, {"exposure": 10.0, "margin": 0.02}, {"exposure": 20.0, "margin": 0.03})
    assert parts["exposure"] == pytest.approx(10 * 0.02 + 0.5 * 10 * 0.01)  # 0.25
    assert parts["margin"] == pytest.approx(10 * 0.01 + 0.5 * 10 * 0.01)  # 0.15
    assert parts["exposure"] + parts["margin"] == pytest.approx(20 * 0.03 - 10 * 0.02)


def test_seven_factors_sum_exactly_on_a_nonlinear_value():
    rng = np.random.default_rng(3)
    names = ["exposure", "margin", "pd", "lgd", "retention", "macro", "parameters"]
    old = {k: rng.uniform(0.5, 1.5, 100) for k in names}
    new = {k: v * rng.uniform(0.8, 1.2, 100) for k, v in old.items()}

    def value(x):  # noqa: ANN001, ANN202
        return x["exposure"] * x["margin"] * x["retention"] * np.exp(-x["pd"] * x["lgd"] * x["macro"]) / x["parameters"]

    parts = shapley_attribution(value, old, new)
    total = value(new) - value(old)
    assert np.allclose(sum(parts.values()), total, rtol=0, atol=1e-12)


def test_unchanged_factors_get_nothing():
    parts = shapley_attribution(lambda x: x["a"] * x["b"], {"a": 3.0, "b": 2.0}, {"a": 3.0, "b": 5.0})
    assert parts["a"] == pytest.approx(0.0)


def test_mismatched_or_too_many_factors_are_refused():
    with pytest.raises(ValueError, match=r"different factors: \['b'\]"):
        shapley_attribution(lambda x: 0.0, {"a": 1}, {"a": 1, "b": 2})
    many = {f"f{i}": 0.0 for i in range(13)}
    with pytest.raises(ValueError, match="at most 12"):
        shapley_attribution(lambda x: 0.0, many, many)


def test_the_sequential_waterfall_sums_to_the_total_and_follows_its_order():
    from python_tasks.clv.attribution import sequential_attribution

    def value(x):  # noqa: ANN001, ANN202 - a valuation on a dict of factors
        return np.asarray(x["exposure"]) * np.asarray(x["margin"])

    old = {"exposure": np.array([100.0]), "margin": np.array([0.02])}
    new = {"exposure": np.array([150.0]), "margin": np.array([0.03])}
    parts = sequential_attribution(value, old, new)
    # exposure first at the old margin (50 × 0.02 = 1), then the margin at the new exposure (150 × 0.01)
    assert parts["exposure"][0] == pytest.approx(1.0) and parts["margin"][0] == pytest.approx(1.5)
    assert parts["exposure"][0] + parts["margin"][0] == pytest.approx(4.5 - 2.0)
    with pytest.raises(ValueError, match="same factors in the same order"):
        sequential_attribution(value, old, dict(reversed(list(new.items()))))
