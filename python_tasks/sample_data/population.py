"""The clients of one chunk: who they are, how big, how good a credit, and how their relationship runs.

Everything later (facilities, payments, ratings, statements, products, contacts) is derived from the
arrays here, so the data hang together: a client's latent credit quality ``q`` drives its rating, its
late payments and its default; its size class drives revenue, limits, products and contact frequency;
its onboarding, last-origination, dormancy and closing dates bound everything it does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np

from python_tasks.contracts.model import Contract
from python_tasks.sample_data.economy import Economy
from python_tasks.sample_data.reference import SIZE_WEIGHTS, SME_GROUPS, SME_STANDARD, Reference
from python_tasks.sample_data.timeline import NEVER, Timeline, month_of, to_day, year_of

GRADES = ("AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C", "D")
GRADE_THRESHOLDS = np.array([2.054, 1.405, 0.772, 0.075, -0.583, -1.175, -1.645, -2.054])
"""Latent-quality cut-offs between grades (AAA above the first); about 2/6/14/25/25/16/7/3/2 % of a
standard normal population per grade."""
SCORE_BANDS = np.array([[90, 100], [82, 90], [74, 82], [65, 74], [55, 65], [45, 55], [35, 45], [25, 35], [15, 25], [0, 15]])


def grade_index(z: np.ndarray) -> np.ndarray:
    """0 (AAA) … 8 (C) for latent quality values."""
    return (np.asarray(z)[..., None] < GRADE_THRESHOLDS).sum(axis=-1)


def annual_pd(q: np.ndarray) -> np.ndarray:
    """Through-the-cycle-free annual default probability of latent quality ``q`` (0.8 % at q = 0)."""
    return np.clip(0.008 * np.exp(-1.1 * q), 2e-4, 0.5)


@dataclass(frozen=True)
class Context:
    """What every chunk shares: parameters, reference data, economy and contracts."""

    seed: int
    timeline: Timeline
    ref: Reference
    economy: Economy
    contracts: dict[str, Contract]
    total_clients: int
    invalid_uscc_share: float

    @property
    def n_relationship_managers(self) -> int:
        return int(np.clip(self.total_clients // 120, 20, 9999))

    def rng(self, chunk: int, purpose: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, chunk, purpose]))


@dataclass
class Clients:
    n: int
    first: int  # global index of the first client of the chunk
    is_prospect: np.ndarray
    industry: np.ndarray
    section: np.ndarray
    region: np.ndarray
    size: np.ndarray
    employees_ref: np.ndarray
    revenue_ref: np.ndarray
    assets_ref: np.ndarray
    registered_capital: np.ndarray  # cents
    created: np.ndarray
    onboard: np.ndarray  # NEVER for prospects
    founded: np.ndarray
    active_end: np.ndarray  # last day new business is written
    has_credit: np.ndarray
    q0: np.ndarray
    q: np.ndarray  # [n, grid months] point-in-time latent quality incl. industry and macro
    trend: np.ndarray
    year0: int
    revenue_noise: np.ndarray  # [n, years from year0]
    y_ref: int
    quarterly_filer: np.ndarray
    rm: np.ndarray
    default_day: np.ndarray = field(default=None)  # set by facilities
    dormant_day: np.ndarray = field(default=None)
    close_day: np.ndarray = field(default=None)

    def q_at(self, idx: np.ndarray, days: np.ndarray, timeline: Timeline) -> np.ndarray:
        return self.q[idx, timeline.grid_index(days)]

    def revenue(self, idx: np.ndarray, years: np.ndarray, economy: Economy) -> np.ndarray:
        """Annual revenue (CNY) of clients ``idx`` in fiscal years ``years``: trend, industry cycle, noise,
        decline before the relationship ends and a slump before a default."""
        years = np.asarray(years, dtype=np.int64)
        yi = np.clip(years - self.year0, 0, self.revenue_noise.shape[1] - 1)
        yr = self.y_ref - self.year0
        sec = self.section[idx]
        log_r = (
            self.trend[idx] * (years - self.y_ref)
            + economy.industry_level(sec, years) - economy.industry_level(sec, np.full_like(years, self.y_ref))
            + self.revenue_noise[idx, yi] - self.revenue_noise[idx, yr]
        )
        end_year = year_of(np.minimum(self.active_end[idx], NEVER - 1))
        log_r -= 0.12 * np.clip(years - end_year + 1, 0, 5)
        if self.default_day is not None:
            d_year = year_of(np.minimum(self.default_day[idx], NEVER - 1))
            log_r -= 0.25 * ((years >= d_year - 1) & (self.default_day[idx] < NEVER))
        return np.maximum(self.revenue_ref[idx] * np.exp(log_r), 2e4)


def _log_uniform(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.exp(np.log(lo) + rng.random(len(lo)) * (np.log(hi) - np.log(lo)))


def draw_size_metrics(
    rng: np.random.Generator, ref: Reference, industry_idx: np.ndarray, size: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Employees, revenue and total assets that the SME standard classifies as the drawn size class.

    Criteria the standard uses for the industry are drawn inside the class's band; the others follow
    from industry ratios (revenue per employee, assets per revenue).
    """
    n = len(size)
    group = ref.industry_sme_group[industry_idx]
    section = ref.industry_section[industry_idx]
    values = {c: np.full(n, np.nan) for c in ("employees", "revenue", "assets")}
    for g, name in enumerate(SME_GROUPS):
        in_group = group == g
        if not in_group.any():
            continue
        for criterion, (t_large, t_medium, t_small) in SME_STANDARD[name].items():
            lo = np.choose(size, [t_large, t_medium, t_small, t_small / 6.0]).astype(float)
            hi = np.choose(size, [t_large * 6.0, t_large, t_medium, t_small]).astype(float)
            draw = _log_uniform(rng, lo, hi * 0.999)
            values[criterion] = np.where(in_group, draw, values[criterion])
    emp, rev, assets = values["employees"], values["revenue"], values["assets"]
    noise = np.exp(rng.normal(0, 0.25, (3, n)))
    rev = np.where(
        np.isnan(rev),
        np.where(~np.isnan(emp), emp * ref.revenue_per_employee[section], assets / ref.asset_ratio[section]) * noise[0],
        rev,
    )
    emp = np.where(np.isnan(emp), rev / ref.revenue_per_employee[section] * noise[1], emp)
    assets = np.where(np.isnan(assets), rev * ref.asset_ratio[section] * noise[2], assets)
    return np.maximum(np.floor(emp), 1).astype(np.int64), rev, assets


def _nice_amount(x: np.ndarray) -> np.ndarray:
    """Round to 1, 2, 3 or 5 times a power of ten (registered capital is a round figure)."""
    x = np.maximum(x, 1e5)
    power = 10.0 ** np.floor(np.log10(x))
    mantissa = x / power
    steps = np.array([1, 2, 3, 5, 10])
    nearest = steps[np.abs(mantissa[:, None] - steps[None, :]).argmin(axis=1)]
    return nearest * power


def simulate_clients(ctx: Context, chunk: int, first: int, n: int) -> Clients:
    rng = ctx.rng(chunk, 1)
    tl, ref, eco = ctx.timeline, ctx.ref, ctx.economy
    hs, horizon = tl.history_start, tl.horizon

    is_prospect = rng.random(n) < 0.09
    industry = rng.choice(len(ref.industry_codes), size=n, p=ref.industry_weight)
    section = ref.industry_section[industry]
    region = rng.choice(len(ref.region_codes), size=n, p=ref.region_weight)
    size = rng.choice(4, size=n, p=SIZE_WEIGHTS)
    tier = ref.region_tier[region]
    q0 = rng.normal(0, 1, n) + np.array([0.35, 0.15, 0.0, -0.15])[size] + np.array([0, 0.1, 0.05, 0, -0.1])[tier]

    employees, revenue, assets = draw_size_metrics(rng, ref, industry, size)
    capital = _nice_amount(assets * rng.uniform(0.05, 0.4, n))

    pre_history = rng.random(n) < 0.30
    onboard = np.where(
        pre_history,
        hs - rng.integers(1, 8 * 365, n),
        rng.integers(hs, horizon + 1, n),
    )
    onboard = np.where(is_prospect, NEVER, onboard)
    prospect_phase = rng.random(n) < 0.4
    created = np.where(prospect_phase, onboard - rng.integers(30, 300, n), onboard)
    created = np.where(is_prospect, rng.integers(hs - 730, horizon + 1, n), created)

    age_years = 0.5 + rng.gamma(2.0, 4.0, n) + np.array([10.0, 5.0, 1.5, 0.0])[size]
    tech = np.isin(np.array(ref.sections)[section], ["I", "M"])
    age_years = np.where(tech, age_years * 0.6, age_years)
    anchor = np.minimum(created, onboard)
    founded = anchor - 180 - (age_years * 365.25).astype(np.int64)
    founded = np.maximum(founded, to_day(date(1980, 1, 1)) + rng.integers(0, 3650, n))
    founded = np.minimum(founded, anchor - 180)

    mean_span = np.array([14.0, 10.0, 7.0, 5.0])[size] * np.exp(0.15 * q0)
    # clients differ in how loyal they are: the leaving rate is the segment's times a Gamma(2, 1/2) frailty
    # θ (mean 1), so a cohort's retention rises with tenure as the disloyal leave first (the sorting the
    # sBG model describes); the span keeps the segment's mean (E[1/θ] = 2, halved). Own stream (key 10),
    # so the other draws of the chunk do not move.
    loyalty = ctx.rng(chunk, 10).gamma(2.0, 0.5, n)
    span = (rng.exponential(1.0, n) * mean_span / 2.0 / loyalty * 365.25).astype(np.int64) + 180
    active_end = np.where(onboard < hs, hs, onboard) + span
    active_end = np.where(is_prospect, NEVER, np.minimum(active_end, NEVER))
    has_credit = ~is_prospect & (rng.random(n) < 0.9)

    grid_months = tl.grid_month0 + np.arange(tl.grid_months)
    walk = np.cumsum(rng.normal(0, 0.06, (n, tl.grid_months)), axis=1)
    stress = eco.industry_stress(section[:, None], grid_months[None, :])
    gdp_gap = eco.value("gdp_growth_pct", grid_months) - 5.0
    q = (q0[:, None] + walk - 0.6 * stress + 0.25 * gdp_gap[None, :]).astype(np.float32)

    year0 = int(year_of(hs)) - 12
    n_years = int(year_of(horizon)) - year0 + 2
    d0 = tl.first_day
    y_ref = int(year_of(d0)) - (1 if int(month_of(d0)) % 12 >= 4 else 2)
    return Clients(
        n=n,
        first=first,
        is_prospect=is_prospect,
        industry=industry,
        section=section,
        region=region,
        size=size,
        employees_ref=employees,
        revenue_ref=revenue,
        assets_ref=assets,
        registered_capital=np.round(capital * 100).astype(np.int64),
        created=created.astype(np.int64),
        onboard=onboard.astype(np.int64),
        founded=founded.astype(np.int64),
        active_end=active_end.astype(np.int64),
        has_credit=has_credit,
        q0=q0,
        q=q,
        trend=rng.normal(0.05, 0.08, n),
        year0=year0,
        revenue_noise=rng.normal(0, 0.07, (n, n_years)),
        y_ref=y_ref,
        quarterly_filer=rng.random(n) < np.array([0.8, 0.5, 0.2, 0.05])[size],
        rm=rng.integers(1, ctx.n_relationship_managers + 1, n),
    )


def settle_lifecycle(ctx: Context, chunk: int, clients: Clients, last_maturity: np.ndarray) -> None:
    """Dormancy and closing dates once the facilities (and defaults) are known.

    A client whose new business stopped goes dormant some months after its last facility matured and
    may then close; a client that never borrowed may go dormant too. Defaulted clients stay defaulted.
    """
    rng = ctx.rng(chunk, 9)
    n = clients.n
    horizon = ctx.timeline.horizon
    onboarded = ~clients.is_prospect
    borrowed = last_maturity > 0
    stop = np.maximum(clients.active_end, np.where(borrowed, last_maturity + 100, 0)) + rng.integers(0, 180, n)
    never_borrowed = onboarded & ~borrowed
    stop = np.where(never_borrowed, clients.onboard + rng.integers(180, 1500, n), stop)
    goes_dormant = onboarded & (clients.active_end < horizon) | (never_borrowed & (rng.random(n) < 0.5))
    goes_dormant &= clients.default_day >= NEVER
    dormant = np.where(goes_dormant & (stop <= horizon), stop, NEVER)
    closes = (dormant < NEVER) & (rng.random(n) < 0.65)
    close = np.where(closes, dormant + rng.integers(90, 540, n), NEVER)
    clients.dormant_day = dormant.astype(np.int64)
    clients.close_day = np.where(close <= horizon, close, NEVER).astype(np.int64)
