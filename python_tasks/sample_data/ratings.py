"""Internal rating decisions: initial, annual reviews, event-driven downgrades, and D on default.

The grade is read off the client's latent quality on the rating date (plus a little model noise), so
grades migrate with the client and the cycle, and the clients that later default carry worse grades.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from python_tasks.sample_data.lookups import group_offsets
from python_tasks.sample_data.population import GRADE_THRESHOLDS, SCORE_BANDS, Clients, Context, grade_index
from python_tasks.sample_data.timeline import NEVER, year_of

REASONS = ("initial", "annual_review", "event_driven", "default")


@dataclass
class Ratings:
    client: np.ndarray
    day: np.ndarray
    grade: np.ndarray  # 0 = AAA … 9 = D
    score: np.ndarray
    score_valid: np.ndarray
    reason: np.ndarray

    def model_version(self) -> np.ndarray:
        """CRM-<year>.1: the model is recalibrated every second year (odd years)."""
        y = year_of(self.day)
        return y - (1 - y % 2)


def score_of(z: np.ndarray, grade: np.ndarray) -> np.ndarray:
    """Scorecard points inside the grade's band, increasing with the latent value."""
    upper = np.concatenate([[3.5], GRADE_THRESHOLDS])
    lower = np.concatenate([GRADE_THRESHOLDS, [-3.5]])
    g = np.minimum(grade, 8)
    frac = np.clip((z - lower[g]) / (upper[g] - lower[g]), 0.0, 0.999)
    lo, hi = SCORE_BANDS[g, 0], SCORE_BANDS[g, 1]
    return np.minimum(np.round(lo + frac * (hi - lo), 1), hi - 0.1)


def simulate_ratings(ctx: Context, chunk: int, clients: Clients) -> Ratings:
    rng = ctx.rng(chunk, 3)
    tl = ctx.timeline
    c = clients
    onboarded = np.flatnonzero(~c.is_prospect)
    end = np.minimum(np.minimum(c.close_day, c.default_day), tl.horizon)[onboarded]
    start = c.onboard[onboarded]

    # initial + annual reviews
    reviews = np.maximum((end - start - 20) // 365, 0)
    owner, j = group_offsets(reviews + 1)
    r_client = onboarded[owner]
    r_day = start[owner] + 365 * j + np.where(j > 0, rng.integers(-20, 21, len(owner)), 0)
    r_reason = np.where(j == 0, 0, 1)
    r_shift = np.zeros(len(owner))

    # random event-driven downgrades inside the history window
    live_from = np.maximum(start, tl.history_start)
    years = np.clip((end - live_from) / 365.25, 0, None)
    n_events = rng.poisson(0.03 * years)
    e_owner, _ = group_offsets(n_events)
    e_client = onboarded[e_owner]
    e_day = live_from[e_owner] + (rng.random(len(e_owner)) * (end - live_from)[e_owner]).astype(np.int64)

    # before and at default
    defaulted = onboarded[c.default_day[onboarded] < NEVER]
    d_day = c.default_day[defaulted]
    pre_day = d_day - rng.integers(30, 150, len(defaulted))
    has_pre = pre_day > c.onboard[defaulted]

    client = np.concatenate([r_client, e_client, defaulted[has_pre], defaulted])
    day = np.concatenate([r_day, e_day, pre_day[has_pre], d_day])
    reason = np.concatenate([r_reason, np.full(len(e_client), 2), np.full(has_pre.sum(), 2), np.full(len(defaulted), 3)])
    shift = np.concatenate([r_shift, np.full(len(e_client), -0.6), np.full(has_pre.sum(), -1.0), np.zeros(len(defaulted))])

    z = c.q_at(client, day, tl) + rng.normal(0, 0.25, len(client)) + shift
    grade = grade_index(z)
    pre_default = (reason == 2) & (shift == -1.0)
    grade = np.where(pre_default, np.minimum(np.maximum(grade, 6) + rng.integers(0, 3, len(grade)), 8), grade)
    grade = np.where(reason == 3, 9, grade)
    score = np.where(grade == 9, np.round(rng.uniform(0, 14.9, len(grade)), 1), score_of(z, grade))

    keep = day <= np.minimum(end_of(c, client, tl.horizon), tl.horizon)
    order = np.lexsort((reason, day, client))
    order = order[keep[order]]
    return Ratings(
        client=client[order],
        day=day[order].astype(np.int64),
        grade=grade[order],
        score=score[order],
        score_valid=rng.random(len(order)) >= 0.01,
        reason=reason[order],
    )


def end_of(c: Clients, client: np.ndarray, horizon: int) -> np.ndarray:
    """Last day a client can be rated: its default day, else its closing day."""
    return np.where(c.default_day[client] < NEVER, c.default_day[client], np.minimum(c.close_day[client], horizon))
