"""Relationship-manager contacts: routine contacts by size, credit applications before new facilities,
and collection calls for late and unpaid instalments."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from python_tasks.sample_data.facilities import Facilities, Schedule
from python_tasks.sample_data.keyed_random import KeyedRandom
from python_tasks.sample_data.lookups import group_offsets
from python_tasks.sample_data.population import Clients, Context
from python_tasks.sample_data.timeline import NEVER

CHANNELS = ("visit", "phone", "wechat", "email", "meeting", "online_banking")
TYPES = ("relationship_review", "credit_application", "product_pitch", "covenant_check", "complaint", "collection")
REVIEW, APPLICATION, PITCH, COVENANT, COMPLAINT, COLLECTION = range(6)
OUTCOMES = ("positive", "neutral", "negative")

_CHANNEL_W = np.array(
    [
        [0.35, 0.20, 0.20, 0.05, 0.15, 0.05],  # review
        [0.40, 0.15, 0.15, 0.10, 0.15, 0.05],  # application
        [0.25, 0.30, 0.30, 0.10, 0.03, 0.02],  # pitch
        [0.45, 0.20, 0.10, 0.10, 0.15, 0.00],  # covenant check
        [0.05, 0.50, 0.25, 0.10, 0.00, 0.10],  # complaint
        [0.30, 0.60, 0.10, 0.00, 0.00, 0.00],  # collection
    ]
)
_OUTCOME_W = np.array(
    [[0.50, 0.40, 0.10], [0.50, 0.35, 0.15], [0.35, 0.45, 0.20], [0.45, 0.40, 0.15], [0.15, 0.35, 0.50], [0.15, 0.35, 0.50]]
)


@dataclass
class Interactions:
    client: np.ndarray
    day: np.ndarray
    channel: np.ndarray
    itype: np.ndarray
    rm: np.ndarray
    outcome: np.ndarray
    outcome_valid: np.ndarray


def _draw(u: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Categorical draws from uniforms ``u`` with row-wise ``weights``."""
    cum = np.cumsum(weights, axis=1)
    return (u[:, None] * cum[:, -1:] >= cum).sum(axis=1)


def simulate_crm(ctx: Context, chunk: int, clients: Clients, fac: Facilities, schedule: Schedule) -> Interactions:
    rng = ctx.rng(chunk, 8)
    tl = ctx.timeline
    c = clients
    lo = np.maximum(c.created, tl.history_start)
    hi = np.minimum(np.minimum(c.close_day, NEVER - 31) + 30, tl.horizon)
    years = np.clip((hi - lo) / 365.25, 0, None)
    rate = np.where(c.is_prospect, 1.0, np.array([10.0, 6.0, 3.0, 2.0])[c.size])
    owner, _ = group_offsets(rng.poisson(rate * years))
    r_day = lo[owner] + (rng.random(len(owner)) * (hi - lo)[owner]).astype(np.int64)
    # before onboarding a client is pitched and applies; afterwards mostly reviews and checks
    prospect_now = r_day < c.onboard[owner]
    w = np.where(
        prospect_now[:, None],
        np.array([0.2, 0.3, 0.5, 0.0, 0.0, 0.0]),
        np.array([0.40, 0.12, 0.30, 0.12, 0.06, 0.0]),
    )
    r_type = _draw(rng.random(len(owner)), w)

    apply = (rng.random(fac.n) < 0.6)
    a_fac = np.flatnonzero(apply)
    a_client = fac.client[a_fac]
    a_day = fac.start[a_fac] - rng.integers(10, 61, len(a_fac))
    ok = a_day >= c.created[a_client]
    a_client, a_day = a_client[ok], a_day[ok]

    # collection calls hang off instalments, whose number depends on the window: keyed draws
    kr = KeyedRandom(ctx.seed, chunk, 8)
    s = schedule
    chase = (s.late & (s.paid_day - s.due >= 10) & (kr.uniform(s.fac, s.k, salt=1) < 0.7)) | (s.paid_day >= NEVER)
    rows = np.flatnonzero(chase)
    col_client = fac.client[s.fac[rows]]
    col_day = s.due[rows] + kr.integers(3, 11, s.fac[rows], s.k[rows], salt=2)
    unpaid = rows[s.paid_day[rows] >= NEVER]
    col_client = np.concatenate([col_client, fac.client[s.fac[unpaid]]])
    col_day = np.concatenate([col_day, s.due[unpaid] + kr.integers(25, 45, s.fac[unpaid], s.k[unpaid], salt=3)])

    client = np.concatenate([owner, a_client, col_client])
    day = np.concatenate([r_day, a_day, col_day]).astype(np.int64)
    itype = np.concatenate([r_type, np.full(len(a_client), APPLICATION), np.full(len(col_client), COLLECTION)])
    channel = _draw(kr.uniform(client, day, itype, salt=4), _CHANNEL_W[itype])
    ow = _OUTCOME_W[itype].copy()
    q = c.q_at(client, day, tl)
    ow[:, 0] *= np.exp(0.3 * q)
    ow[:, 2] *= np.exp(-0.3 * q)
    outcome = _draw(kr.uniform(client, day, itype, salt=5), ow)
    other_rm = kr.integers(1, ctx.n_relationship_managers + 1, client, day, itype, salt=7)
    rm = np.where(kr.uniform(client, day, itype, salt=6) < 0.95, c.rm[client], other_rm)
    order = np.lexsort((itype, day, client))
    return Interactions(
        client=client[order],
        day=day[order],
        channel=channel[order],
        itype=itype[order],
        rm=rm[order],
        outcome=outcome[order],
        outcome_valid=kr.uniform(client, day, itype, salt=8)[order] >= 0.05,
    )
