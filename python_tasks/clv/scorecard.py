"""A logistic scorecard PD for clients without an internal rating, fitted on financial ratios.

The ratios are winsorised at the training sample's 1st and 99th percentiles (they have heavy tails: a
near-zero denominator gives a huge ratio), missing values take the training median, then standardised; a
logistic regression maps them to a one-year default probability. Discrimination is reported on a
stratified holdout the fit never saw: AUC and Gini = 2 · AUC − 1, the figures model validation asks for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

FEATURES = (
    "leverage_ratio",
    "current_ratio",
    "interest_coverage_ratio",
    "debt_service_coverage_ratio",
    "return_on_assets",
    "net_margin",
    "revenue_growth_yoy",
)
MIN_DEFAULTS = 20


@dataclass(frozen=True)
class Scorecard:
    features: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    median: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    coefficients: np.ndarray
    intercept: float
    holdout_auc: float
    train_size: int
    holdout_size: int
    default_rate: float

    @property
    def holdout_gini(self) -> float:
        return 2.0 * self.holdout_auc - 1.0

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        x = np.where(np.isfinite(x), x, np.nan)
        x = np.clip(x, self.lower, self.upper)
        x = np.where(np.isnan(x), self.median, x)
        return (x - self.mean) / self.scale

    def predict_pd(self, x: ArrayLike) -> np.ndarray:
        """One-year PD per row of ``x`` (columns in the order of ``features``; NaN allowed)."""
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise ValueError(f"expected {len(self.features)} feature columns {list(self.features)}, got {x.shape}")
        z = self._prepare(x) @ self.coefficients + self.intercept
        return 1.0 / (1.0 + np.exp(-z))


def fit_scorecard(
    x: ArrayLike,
    defaulted: ArrayLike,
    *,
    features: tuple[str, ...] = FEATURES,
    holdout_share: float = 0.3,
    seed: int = 0,
) -> Scorecard:
    """Fit on a stratified (1 − holdout_share) sample; report AUC on the rest. Deterministic for a seed."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    x = np.asarray(x, dtype=float)
    y = np.asarray(defaulted, dtype=int)
    if x.ndim != 2 or x.shape[1] != len(features) or x.shape[0] != y.shape[0]:
        raise ValueError(f"need one row per client and {len(features)} columns {list(features)}: got {x.shape}")
    if not set(np.unique(y)) <= {0, 1}:
        raise ValueError("defaulted must be 0 or 1")
    if y.sum() < MIN_DEFAULTS or (y == 0).sum() < MIN_DEFAULTS:
        raise ValueError(
            f"too few defaults ({int(y.sum())}) or non-defaults ({int((y == 0).sum())}) to fit a scorecard: "
            f"need {MIN_DEFAULTS} of each"
        )
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=holdout_share, stratify=y, random_state=seed)
    finite = np.where(np.isfinite(x_train), x_train, np.nan)
    lower, upper = np.nanpercentile(finite, 1, axis=0), np.nanpercentile(finite, 99, axis=0)
    clipped = np.clip(finite, lower, upper)
    median = np.nanmedian(clipped, axis=0)
    filled = np.where(np.isnan(clipped), median, clipped)
    mean, scale = filled.mean(axis=0), filled.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    model = LogisticRegression(C=1.0, max_iter=1000).fit((filled - mean) / scale, y_train)
    card = Scorecard(
        features=tuple(features),
        lower=lower,
        upper=upper,
        median=median,
        mean=mean,
        scale=scale,
        coefficients=model.coef_[0],
        intercept=float(model.intercept_[0]),
        holdout_auc=float("nan"),
        train_size=len(y_train),
        holdout_size=len(y_test),
        default_rate=float(y.mean()),
    )
    auc = float(roc_auc_score(y_test, card.predict_pd(x_test)))
    return Scorecard(**{**card.__dict__, "holdout_auc": auc})
