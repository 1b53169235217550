"""The ratio scorecard on simulated clients whose true default model is known."""

from __future__ import annotations

import numpy as np
import pytest

from python_tasks.clv.scorecard import FEATURES, fit_scorecard


def _clients(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ratios with heavy tails and gaps; the true log-odds rise with leverage and fall with coverage."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURES)))
    true_logit = -3.0 + 1.2 * x[:, 0] - 0.8 * x[:, 3] - 0.5 * x[:, 4]
    p = 1 / (1 + np.exp(-true_logit))
    y = (rng.uniform(size=n) < p).astype(int)
    x[rng.uniform(size=x.shape) < 0.05] = np.nan  # missing ratios
    x[:50, 2] = 1e9  # a near-zero interest expense: an absurd coverage ratio
    return x, y, p


def test_discrimination_on_the_holdout_is_close_to_the_true_model():
    from sklearn.metrics import roc_auc_score

    x, y, p = _clients(40_000, seed=1)
    card = fit_scorecard(x, y, seed=0)
    true_auc = roc_auc_score(y, p)  # the best any model can do on these clients
    assert card.holdout_auc == pytest.approx(true_auc, abs=0.03)
    assert card.holdout_gini == pytest.approx(2 * card.holdout_auc - 1)
    assert card.holdout_size == 12_000 and card.train_size == 28_000
    assert card.coefficients[0] > 0 and card.coefficients[3] < 0  # signs a credit officer expects


def test_pds_are_calibrated_on_average_and_finite_for_any_row():
    x, y, _ = _clients(40_000, seed=2)
    card = fit_scorecard(x, y, seed=0)
    pd = card.predict_pd(x)
    assert pd.mean() == pytest.approx(y.mean(), rel=0.05)
    odd = np.array([[np.nan] * len(FEATURES), [np.inf, -np.inf, 1e12, 0, 0, 0, 0]])
    assert np.all((card.predict_pd(odd) > 0) & (card.predict_pd(odd) < 1))


def test_the_same_data_and_seed_give_the_same_scorecard():
    x, y, _ = _clients(5_000, seed=3)
    a, b = fit_scorecard(x, y, seed=4), fit_scorecard(x, y, seed=4)
    assert np.array_equal(a.coefficients, b.coefficients) and a.holdout_auc == b.holdout_auc


def test_bad_inputs_are_refused_with_the_reason():
    x, y, _ = _clients(2_000, seed=5)
    with pytest.raises(ValueError, match="too few defaults"):
        fit_scorecard(x, np.zeros_like(y))
    with pytest.raises(ValueError, match="7 columns"):
        fit_scorecard(x[:, :3], y)
    with pytest.raises(ValueError, match="0 or 1"):
        fit_scorecard(x, y * 2)
    card = fit_scorecard(x, y)
    with pytest.raises(ValueError, match="expected 7 feature columns"):
        card.predict_pd(x[:, :2])
