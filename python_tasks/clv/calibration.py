"""Calibrating the engine on the bank's own history: the retention model per segment and the scorecard PD
of unrated clients. Pure functions on the calibration marts (fct_relationship_spells,
fct_scorecard_observations); the job reads them and records every fit (docs/clv.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from python_tasks.clv.retention import fit_sbg_cohorts, survivor_counts
from python_tasks.clv.scorecard import FEATURES, Scorecard, fit_scorecard

ALL_CLIENTS = "(all)"


@dataclass(frozen=True)
class RetentionFit:
    segment: str
    alpha: float
    beta: float
    log_likelihood: float
    clients: int
    churned: int
    cohorts: int
    source: str  # "segment", or "all clients" when the segment had too few clients


def relationship_cohorts(spells: pd.DataFrame, as_of_date: date, cohort_years: int) -> pd.DataFrame:
    """Cohort (onboarding year) and end period of each relationship, in years.

    A cohort Y is observed through year D.year − 1: every member has completed D.year − 1 − Y anniversaries
    by then (for D before the year's end). A closed relationship that lasted L years ends in period
    Y + ⌈L⌉ (at least one). Defaulted relationships are left out: their exit is modelled by survival
    from default, not by retention. Cohorts older than ``cohort_years`` are left out (the history misses
    their early leavers) and so are cohorts with no complete year yet.
    """
    observed_through = as_of_date.year - 1
    s = spells[spells["default_date"].isna()].copy()
    onboarded = pd.to_datetime(s["onboarded_date"])
    s["cohort"] = onboarded.dt.year
    s = s[(s["cohort"] >= as_of_date.year - cohort_years) & (s["cohort"] < observed_through)]
    onboarded = pd.to_datetime(s["onboarded_date"])
    lasted = (pd.to_datetime(s["relationship_end_date"]) - onboarded).dt.days / 365.25
    s["end_period"] = s["cohort"] + np.maximum(np.ceil(lasted.to_numpy(dtype=float)), 1.0)
    s["observed_through"] = observed_through
    return s


def fit_retention(
    spells: pd.DataFrame, as_of_date: date, segment_column: str, min_clients: int, cohort_years: int
) -> list[RetentionFit]:
    """sBG α, β per segment from pooled yearly cohorts; segments with fewer than ``min_clients``
    relationships (or no churn to learn from) take the fit on all clients, which comes first."""
    cohorts = relationship_cohorts(spells, as_of_date, cohort_years)
    if cohorts.empty:
        raise ValueError(
            f"no relationship cohort with a complete year in the last {cohort_years} years before {as_of_date}: "
            "cannot fit the retention model"
        )

    def fit(frame: pd.DataFrame, segment: str, source: str) -> RetentionFit:
        counts = survivor_counts(frame["cohort"], frame["end_period"], int(frame["observed_through"].iloc[0]))
        usable = [c for c in counts.values() if len(c) >= 2]
        sbg = fit_sbg_cohorts(usable)
        churned = int(np.sum(frame["end_period"] <= frame["observed_through"]))
        return RetentionFit(segment, sbg.alpha, sbg.beta, sbg.log_likelihood, len(frame), churned, len(usable), source)

    overall = fit(cohorts, ALL_CLIENTS, "all clients")
    fits = [overall]
    for segment, frame in cohorts.groupby(segment_column, sort=True, dropna=True):
        churned = int(np.sum(frame["end_period"] <= frame["observed_through"]))
        if len(frame) >= min_clients and churned > 0 and frame["cohort"].nunique() >= 1:
            fits.append(fit(frame, str(segment), "segment"))
        else:
            fits.append(RetentionFit(str(segment), overall.alpha, overall.beta, overall.log_likelihood,
                                     len(frame), churned, 0, "all clients"))  # fmt: skip
    return fits


def retention_parameters(segments: pd.Series, fits: list[RetentionFit]) -> tuple[np.ndarray, np.ndarray]:
    """α and β for each client by its segment; a segment without a fit (or none) gets the overall fit."""
    by_segment = {f.segment: f for f in fits}
    overall = by_segment[ALL_CLIENTS]
    chosen = [by_segment.get(str(s), overall) if pd.notna(s) else overall for s in segments]
    return np.array([f.alpha for f in chosen]), np.array([f.beta for f in chosen])


@dataclass(frozen=True)
class ScorecardFit:
    scorecard: Scorecard | None
    observations: int
    defaults: int
    fallback_pd: float
    note: str


def scorecard_sample(observations: pd.DataFrame, as_of_date: date, window_months: int) -> tuple[np.ndarray, np.ndarray]:
    """Statements whose outcome window has ended by D, and whether the client defaulted within it."""
    observed = pd.to_datetime(observations["observation_date"])
    window_end = observed + pd.DateOffset(months=window_months)
    complete = window_end <= pd.Timestamp(as_of_date)
    default = pd.to_datetime(observations["default_date"])
    y = (default.notna() & (default > observed) & (default <= window_end))[complete].to_numpy(dtype=int)
    return observations.loc[complete, list(FEATURES)].to_numpy(dtype=float), y


def fit_unrated_pd(
    observations: pd.DataFrame, as_of_date: date, window_months: int, seed: int, rated_mean_pd: float
) -> ScorecardFit:
    """Fit the scorecard; when the history is too thin, unrated clients get the observed default rate of
    the sample (or, with no sample, the mean PD of the rated clients), and the note says why."""
    x, y = scorecard_sample(observations, as_of_date, window_months)
    try:
        card = fit_scorecard(x, y, seed=seed)
    except ValueError as exc:
        rate = float(y.mean()) if len(y) and y.sum() > 0 else float(rated_mean_pd)
        return ScorecardFit(
            None, len(y), int(y.sum()), rate, f"scorecard not fitted: {exc}; unrated clients get PD {rate:.4%}"
        )
    note = f"fitted on {card.train_size} statements, holdout AUC {card.holdout_auc:.3f} (Gini {card.holdout_gini:.3f})"
    return ScorecardFit(card, len(y), int(y.sum()), card.default_rate, note)
