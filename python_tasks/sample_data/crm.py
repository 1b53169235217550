"""Relationship-manager contacts: routine contacts by size, credit applications before new facilities,
and collection calls for late and unpaid instalments."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from python_tasks.sample_data.facilities import Facilities, Schedule
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


def _draw(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    cum = np.cumsum(weights, axis=1)
    return (rng.random(len(weights))[:, None] * cum[:, -1:] >= cum).sum(axis=1)


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
    r_type = _draw(rng, w)

    apply = (rng.random(fac.n) < 0.6)
    a_fac = np.flatnonzero(apply)
    a_client = fac.client[a_fac]
    a_day = fac.start[a_fac] - rng.integers(10, 61, len(a_fac))
    ok = a_day >= c.created[a_client]
    a_client, a_day = a_client[ok], a_day[ok]

    s = schedule
    chase = (s.late & (s.paid_day - s.due >= 10) & (rng.random(len(s.due)) < 0.7)) | (s.paid_day >= NEVER)
    rows = np.flatnonzero(chase)
    col_client = fac.client[s.fac[rows]]
    col_day = s.due[rows] + rng.integers(3, 11, len(rows))
    unpaid = rows[s.paid_day[rows] >= NEVER]
    col_client = np.concatenate([col_client, fac.client[s.fac[unpaid]]])
    col_day = np.concatenate([col_day, s.due[unpaid] + rng.integers(25, 45, len(unpaid))])

    client = np.concatenate([owner, a_client, col_client])
    day = np.concatenate([r_day, a_day, col_day]).astype(np.int64)
    itype = np.concatenate([r_type, np.full(len(a_client), APPLICATION), np.full(len(col_client), COLLECTION)])
    n = len(client)
    channel = _draw(rng, _CHANNEL_W[itype])
    ow = _OUTCOME_W[itype].copy()
    q = c.q_at(client, day, tl)
    ow[:, 0] *= np.exp(0.3 * q)
    ow[:, 2] *= np.exp(-0.3 * q)
    outcome = _draw(rng, ow)
    rm = np.where(rng.random(n) < 0.95, c.rm[client], rng.integers(1, ctx.n_relationship_managers + 1, n))
    order = np.lexsort((itype, day, client))
    return Interactions(
        client=client[order],
        day=day[order],
        channel=channel[order],
        itype=itype[order],
        rm=rm[order],
        outcome=outcome[order],
        outcome_valid=rng.random(n)[order] >= 0.05,
    )
