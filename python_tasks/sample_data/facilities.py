"""Facilities, their instalment schedules, payments and defaults.

Facilities are originated over each client's active window with a product mix that depends on its
industry and size; the limit scales with revenue, the rate is the loan prime rate plus a spread by rating.
Schedules are built for all facilities at once with ``repeat``/``cumsum``: instalment k is due k periods
after the start, its principal follows the amortisation type (annuity, equal principal, interest only,
bullet, revolving), all in integer cents. Payments are on time unless the client's latent quality at the
due date makes it late; a client whose default hazard fires stops paying three months before its
default date, and all its live facilities default (and some are later written off).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from python_tasks.sample_data.keyed_random import KeyedRandom
from python_tasks.sample_data.lookups import RunningSum, group_offsets
from python_tasks.sample_data.population import Clients, Context, annual_pd, grade_index
from python_tasks.sample_data.timeline import NEVER, add_months, month_of, month_start, year_of

PRODUCTS = ("project_finance", "working_capital_loan", "fixed_asset_loan", "trade_finance", "ip_pledge_loan", "credit_line")
PF, WC, FA, TF, IP, CL = range(6)
REPAYMENT_TYPES = ("equal_installment", "equal_principal", "bullet", "interest_only", "revolving")
EI, EP, BU, IO, RV = range(5)
RATE_BASES = ("LPR1Y", "LPR5Y", "FIXED")
STATUSES = ("active", "closed", "defaulted", "written_off")

FACILITY_RATE = np.array([4.8, 3.6, 2.6, 2.0])
"""New facilities per client-year of active relationship by size class (large … micro)."""
_TENORS = {
    PF: [60, 84, 96, 120, 144, 180],
    WC: [6, 12, 12, 12, 24, 24, 36],
    FA: [36, 48, 60, 72, 84, 96, 120],
    TF: [3, 6, 6, 9, 12],
    IP: [12, 24, 36],
    CL: [12, 24, 36],
}
_LIMIT_FACTOR = np.array([1.0, 0.15, 0.3, 0.08, 0.1, 0.2])
_SPREAD_BY_GRADE = np.array([-30, -15, 0, 30, 70, 120, 200, 280, 350])
_SPREAD_BY_PRODUCT = np.array([30, 0, 15, -10, 50, 10])
_TECH = {"I63", "I64", "I65", "M73", "M74", "M75", "C39", "C40", "C35", "C27", "C38"}


def ceil_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return -(-a // b)


def first_due_on_or_after(start: np.ndarray, step: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Smallest k >= 1 whose due date (start + k*step months) is on or after ``day``."""
    k = np.maximum(1, ceil_div(month_of(day) - month_of(start), step))
    due = add_months(start, k * step)
    return np.where(due < day, k + 1, k)


@dataclass
class Facilities:
    n: int
    client: np.ndarray
    product: np.ndarray
    repayment_type: np.ndarray
    step: np.ndarray
    n_inst: np.ndarray
    start: np.ndarray
    maturity: np.ndarray
    limit: np.ndarray  # cents
    principal: np.ndarray  # cents drawn at start
    rate: np.ndarray
    basis: np.ndarray
    spread: np.ndarray
    default_day: np.ndarray
    writeoff_day: np.ndarray
    close_day: np.ndarray
    balance: RunningSum
    base_balance: np.ndarray
    balance_event_fac: np.ndarray
    balance_event_day: np.ndarray

    def drawn(self, fac: np.ndarray, day: np.ndarray) -> np.ndarray:
        value = self.base_balance[fac] + self.balance.at(fac, day)
        return np.where(self.writeoff_day[fac] <= day, 0, np.clip(value, 0, self.limit[fac]))

    def status(self, fac: np.ndarray, day: np.ndarray) -> np.ndarray:
        s = np.zeros(len(fac), dtype=np.int64)
        s = np.where(self.close_day[fac] <= day, 1, s)
        s = np.where(self.default_day[fac] <= day, 2, s)
        return np.where(self.writeoff_day[fac] <= day, 3, s)


@dataclass
class Schedule:
    """One row per instalment due inside the history window (up to the last delivery)."""

    fac: np.ndarray
    k: np.ndarray
    due: np.ndarray
    principal: np.ndarray
    interest: np.ndarray
    paid_day: np.ndarray  # NEVER when unpaid
    late: np.ndarray


def _choose_rows(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cum[:, -1]
    return (u[:, None] >= cum).sum(axis=1)


def _product_weights(ctx: Context, clients: Clients, cl: np.ndarray) -> np.ndarray:
    ref = ctx.ref
    codes = np.array(ref.industry_codes)[clients.industry[cl]]
    letter = np.array(ref.sections)[clients.section[cl]]
    size = clients.size[cl]
    w = np.zeros((len(cl), 6))
    w[:, WC] = 0.38
    w[:, CL] = 0.20
    w[:, FA] = np.where(np.isin(letter, ["C", "D", "G", "B"]), 0.18, 0.10)
    w[:, TF] = 0.15 * np.where(letter == "F", 2.0, np.where(letter == "C", 1.3, 0.3))
    w[:, IP] = np.where(np.isin(codes, list(_TECH)), 0.14, np.where(letter == "C", 0.01, 0.0))
    infra = np.isin(letter, ["D", "E", "G", "K", "N", "B"])
    w[:, PF] = np.where(size <= 1, np.where(infra, 0.10, np.where(letter == "C", 0.03, 0.0)), 0.0)
    return w


def simulate_facilities(ctx: Context, chunk: int, clients: Clients) -> tuple[Facilities, Schedule]:
    rng = ctx.rng(chunk, 2)
    tl, eco = ctx.timeline, ctx.economy
    hs, horizon = tl.history_start, tl.horizon
    c = clients

    # --- origination -----------------------------------------------------------------------------------
    win_end = np.minimum(c.active_end, horizon)
    years = np.clip((win_end - c.onboard) / 365.25, 0, None)
    extra = rng.poisson(FACILITY_RATE[c.size] * years * c.has_credit)
    counts = c.has_credit.astype(np.int64) + extra
    cl, pos = group_offsets(counts)
    lo, hi = c.onboard[cl], np.maximum(win_end[cl], c.onboard[cl] + 1)
    start = np.where(pos == 0, lo + rng.integers(0, 60, len(cl)), lo + (rng.random(len(cl)) * (hi - lo)).astype(np.int64))

    product = _choose_rows(rng, _product_weights(ctx, c, cl))
    tenor = np.zeros(len(cl), dtype=np.int64)
    for p, options in _TENORS.items():
        mask = product == p
        tenor[mask] = rng.choice(options, mask.sum())
    u = rng.random(len(cl))
    rtype = np.select(
        [product == PF, product == CL, product == TF, product == FA, product == IP],
        [EP, RV, BU, np.where(u < 0.5, EP, EI), np.where(u < 0.6, EI, IO)],
        default=np.where(u < 0.5, IO, np.where(u < 0.8, EI, EP)),
    )
    quarterly = rng.random(len(cl)) < np.where(np.isin(product, [PF, FA]), 0.4, 0.1)
    step = np.where(rtype == BU, tenor, np.where(quarterly, 3, 1))
    maturity = add_months(start, tenor)

    keep = (maturity >= hs) & (start <= horizon)
    cl, start, product, tenor, rtype, step, maturity = (a[keep] for a in (cl, start, product, tenor, rtype, step, maturity))
    nf = len(cl)
    n_inst = tenor // step

    # --- default: monthly hazard while the client has a live facility ------------------------------------
    G = tl.grid_months
    g_start = tl.grid_index(start)
    g_end = np.minimum(tl.grid_index(maturity) + 1, G)
    diff = np.bincount(cl * (G + 1) + g_start, minlength=c.n * (G + 1)) - np.bincount(
        cl * (G + 1) + g_end, minlength=c.n * (G + 1)
    )
    exposed = np.cumsum(diff.reshape(c.n, G + 1)[:, :G], axis=1) > 0
    window = (np.arange(G) + tl.grid_month0 >= month_of(hs)) & (np.arange(G) + tl.grid_month0 <= month_of(horizon))
    hazard = annual_pd(c.q) / 12.0 * exposed * window[None, :]
    cum = np.cumsum(hazard, axis=1)
    threshold = rng.exponential(1.0, c.n)
    hit = cum >= threshold[:, None]
    fired = hit[:, -1]
    month = tl.grid_month0 + np.argmax(hit, axis=1)
    d_star = np.where(fired, month_start(month) + rng.integers(0, 28, c.n), NEVER)
    d_star = np.where(d_star <= horizon, d_star, NEVER)

    # a default is observable only through an instalment that falls due in the 90 days before it
    ds = d_star[cl]
    originated = start <= ds - 30
    k_a = first_due_on_or_after(start, step, ds - 90)
    observable = originated & (ds < NEVER) & (k_a <= n_inst) & (add_months(start, k_a * step) <= ds)
    confirmed = np.bincount(cl, weights=observable, minlength=c.n) > 0
    c.default_day = np.where(confirmed, d_star, NEVER).astype(np.int64)
    ds = c.default_day[cl]
    keep = start <= ds - 30  # no new lending in the month before a default
    cl, start, product, tenor, rtype, step, maturity, n_inst = (
        a[keep] for a in (cl, start, product, tenor, rtype, step, maturity, n_inst)
    )
    nf = len(cl)
    ds = c.default_day[cl]
    fac_default = np.where((ds < NEVER) & (maturity >= ds - 90), ds, NEVER)
    writeoff = np.where(
        (fac_default < NEVER) & (rng.random(nf) < 0.5), fac_default + rng.integers(180, 720, nf), NEVER
    )

    # --- terms ----------------------------------------------------------------------------------------
    grade = grade_index(c.q_at(cl, start, tl))
    spread = _SPREAD_BY_GRADE[grade] + _SPREAD_BY_PRODUCT[product] + rng.normal(0, 15, nf)
    spread = (np.round(spread / 5) * 5).astype(np.int64)
    basis = np.where(tenor > 60, 1, 0)
    basis = np.where((tenor <= 12) & (rng.random(nf) < 0.12), 2, basis)
    start_month = month_of(start)
    lpr = np.where(basis == 1, eco.value("lpr_5y_pct", start_month), eco.value("lpr_1y_pct", start_month))
    rate = np.round(np.clip(lpr + spread / 100.0, 1.5, 24.0), 4)
    revenue = c.revenue(cl, year_of(start), eco)
    limit = revenue * _LIMIT_FACTOR[product] * np.exp(rng.normal(0, 0.35, nf))
    limit = np.where(product == PF, np.maximum(limit, 3e7), limit)
    limit_cents = (np.round(np.clip(limit, 1e5, 5e9) / 1e4) * 1e4 * 100).astype(np.int64)
    util = rng.beta(2.0, 2.0, nf)
    drawn_share = np.select([rtype == RV, product == TF], [util, rng.uniform(0.6, 1.0, nf)], rng.uniform(0.85, 1.0, nf))
    principal = (np.round(limit_cents * drawn_share / 100_000) * 100_000).astype(np.int64)
    principal = np.clip(principal, 100_000, limit_cents)

    # --- schedules, payments and balance events, in batches of facilities (bounded temporaries) ------------
    terms = _Terms(cl, start, step, n_inst, rtype, rate, principal, limit_cents, util, fac_default)
    parts = [
        _expand(ctx, chunk, terms, c, slice(a, min(a + _BATCH, nf))) for a in range(0, nf, _BATCH)
    ]

    def cat(name: str, dtype: type) -> np.ndarray:
        return np.concatenate([p[name] for p in parts]).astype(dtype) if parts else np.zeros(0, dtype)

    base = np.concatenate([p["base"] for p in parts]) if parts else np.zeros(0, np.int64)
    close = np.concatenate([p["close"] for p in parts]) if parts else np.zeros(0, np.int64)
    ev_fac, ev_day, ev_delta = cat("ev_fac", np.int64), cat("ev_day", np.int64), cat("ev_delta", np.int64)
    schedule = Schedule(
        fac=cat("fac", np.int64), k=cat("k", np.int32), due=cat("due", np.int64), principal=cat("principal", np.int64),
        interest=cat("interest", np.int64), paid_day=cat("paid_day", np.int64), late=cat("late", bool),
    )

    facilities = Facilities(
        n=nf,
        client=cl,
        product=product,
        repayment_type=rtype,
        step=step,
        n_inst=n_inst,
        start=start,
        maturity=maturity,
        limit=limit_cents,
        principal=principal,
        rate=rate,
        basis=basis,
        spread=spread,
        default_day=fac_default.astype(np.int64),
        writeoff_day=writeoff.astype(np.int64),
        close_day=close,
        balance=RunningSum(ev_fac, ev_day, ev_delta),
        base_balance=base.astype(np.int64),
        balance_event_fac=ev_fac,
        balance_event_day=ev_day,
    )
    return facilities, schedule


_BATCH = 16_384


@dataclass
class _Terms:
    client: np.ndarray
    start: np.ndarray
    step: np.ndarray
    n_inst: np.ndarray
    rtype: np.ndarray
    rate: np.ndarray
    principal: np.ndarray
    limit: np.ndarray
    util: np.ndarray
    default_day: np.ndarray


def _expand(ctx: Context, chunk: int, t: _Terms, c: Clients, sl: slice) -> dict[str, np.ndarray]:
    """Instalments due in the window for facilities ``sl``: amounts, payment days and balance events."""
    kr = KeyedRandom(ctx.seed, chunk, 1000)  # keyed by (facility, instalment): independent of the window
    tl = ctx.timeline
    start, step, n_inst, rtype = t.start[sl], t.step[sl], t.n_inst[sl], t.rtype[sl]
    rate, principal, limit, util, fac_default = t.rate[sl], t.principal[sl], t.limit[sl], t.util[sl], t.default_day[sl]
    nf = len(start)
    cutoff = np.minimum(tl.last_day, fac_default)
    k_lo = first_due_on_or_after(start, step, np.full(nf, tl.history_start))
    k_hi = np.minimum(n_inst, first_due_on_or_after(start, step, cutoff + 1) - 1)
    f, j = group_offsets(np.maximum(k_hi - k_lo + 1, 0))
    k = k_lo[f] + j
    key = f + sl.start
    due = add_months(start[f], k * step[f])
    nn = n_inst[f]
    B = principal[f]
    paid_before = np.round(B * cum_principal_fraction(k - 1, rtype[f], rate[f], step[f], nn)).astype(np.int64)
    principal_k = np.round(B * cum_principal_fraction(k, rtype[f], rate[f], step[f], nn)).astype(np.int64) - paid_before
    balance_before = B - paid_before
    del B, paid_before

    # revolving lines: the drawn level moves at each due date; the last instalment repays it
    revolving = rtype[f] == RV
    level = np.round(limit[f] * np.clip(util[f] + 0.12 * kr.normal(key, k, salt=1), 0.05, 1.0) / 100_000) * 100_000
    level = np.where(k >= nn, 0, level).astype(np.int64)
    start_level = np.where(
        k_lo == 1,
        principal,
        np.round(limit * np.clip(util + 0.12 * kr.normal(np.arange(nf) + sl.start, salt=2), 0.05, 1.0) / 100_000)
        * 100_000,
    ).astype(np.int64)
    prev_level = np.where(j == 0, start_level[f], np.roll(level, 1))
    balance_before = np.where(revolving, prev_level, balance_before)
    principal_k = np.where(revolving, np.where(k >= nn, prev_level, 0), principal_k)
    interest_k = np.round(balance_before * (rate[f] / 100.0 * step[f] / 12.0)).astype(np.int64)
    del balance_before

    # payment behaviour: late with a probability rising as the latent quality falls; stressed before a
    # default; unpaid in the 90 days up to it
    q_due = c.q[t.client[sl][f], tl.grid_index(due)]
    late = kr.uniform(key, k, salt=3) < np.clip(0.006 * np.exp(-1.2 * q_due), 0, 0.5)
    long_late = kr.uniform(key, k, salt=4) < np.clip(0.12 * np.exp(-0.6 * q_due), 0.02, 0.5)
    lateness = np.where(long_late, kr.integers(30, 90, key, k, salt=5), np.minimum(kr.geometric(0.1, key, k, salt=6), 29))
    fd = fac_default[f]
    stressed = (fd < NEVER) & (due >= fd - 270) & (due < fd - 90) & (kr.uniform(key, k, salt=7) < 0.6)
    lateness = np.where(stressed, kr.integers(15, 86, key, k, salt=8), lateness)
    late |= stressed
    unpaid = (fd < NEVER) & (due >= fd - 90)
    late &= ~unpaid
    paid_day = np.where(unpaid, NEVER, due + np.where(late, lateness, 0))
    del q_due, lateness, stressed, unpaid

    # balances: the state before the history window assumes punctual payment
    repaid_before_history = np.round(principal * cum_principal_fraction(k_lo - 1, rtype, rate, step, n_inst))
    base = np.where(rtype == RV, start_level, principal - repaid_before_history.astype(np.int64))
    amort = ~revolving & (principal_k > 0) & (paid_day < NEVER)
    rv_move = revolving & (k < nn)
    rv_final = revolving & (k >= nn) & (paid_day < NEVER)
    final = (k >= nn) & (paid_day < NEVER) & (fd >= NEVER)
    # closed when the last instalment is paid, or later when an earlier one is paid after it (a late
    # instalment can be settled after the final one); never while any instalment stays unpaid
    last_paid = np.zeros(nf, dtype=np.int64)
    np.maximum.at(last_paid, f, paid_day)
    close = np.full(nf, NEVER, dtype=np.int64)
    close[f[final]] = last_paid[f[final]]
    offset = sl.start
    return {
        "fac": f + offset,
        "k": k,
        "due": due,
        "principal": principal_k,
        "interest": interest_k,
        "paid_day": paid_day,
        "late": late,
        "base": base.astype(np.int64),
        "close": close,
        "ev_fac": np.concatenate([f[amort], f[rv_move], f[rv_final]]) + offset,
        "ev_day": np.concatenate([paid_day[amort], due[rv_move], paid_day[rv_final]]),
        "ev_delta": np.concatenate([-principal_k[amort], (level - prev_level)[rv_move], -prev_level[rv_final]]),
    }


def cum_principal_fraction(
    k: np.ndarray, rtype: np.ndarray, rate: np.ndarray, step: np.ndarray, n: np.ndarray
) -> np.ndarray:
    """Share of the principal repaid by the end of instalment k (0 <= k <= n)."""
    r = rate / 100.0 * step / 12.0
    annuity = np.expm1(k * np.log1p(r)) / np.expm1(n * np.log1p(r))
    return np.select([rtype == EI, rtype == EP], [annuity, k / n], default=(k >= n).astype(float))


def last_maturity(facilities: Facilities, n_clients: int) -> np.ndarray:
    """Latest maturity per client (0 for clients without facilities)."""
    out = np.zeros(n_clients, dtype=np.int64)
    np.maximum.at(out, facilities.client, facilities.maturity)
    return out
