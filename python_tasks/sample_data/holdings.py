"""Non-credit product holdings and the fee postings they (and the facilities) generate.

Account-type products (deposits, settlement, cash management, FX) are opened around onboarding and kept
until the client leaves; transaction-type products (time deposits, acceptance bills, letters of credit,
guarantees, supply-chain finance, advisory, wealth management) come and go during the relationship. Fees
are posted on each product's cycle (monthly settlement and FX fees, quarterly guarantee and commitment
fees, one-off arrangement and issuance fees).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from python_tasks.sample_data.facilities import CL, PRODUCTS, Facilities, first_due_on_or_after
from python_tasks.sample_data.keyed_random import KeyedRandom
from python_tasks.sample_data.lookups import group_offsets
from python_tasks.sample_data.population import Clients, Context
from python_tasks.sample_data.timeline import NEVER, add_months, month_of, month_start

HOLDING_PRODUCTS = (
    "demand_deposit", "time_deposit", "settlement_account", "cash_management", "fx_services",
    "bank_acceptance_bill", "letter_of_credit", "bank_guarantee", "supply_chain_finance", "advisory",
    "wealth_management",
)  # fmt: skip
DEMAND, TIME, SETTLE, CASH, FX, BAB, LC, GUAR, SCF, ADVISORY, WEALTH = range(11)
FEE_TYPES = ("arrangement", "commitment", "settlement", "advisory", "guarantee", "lc_issuance", "fx_spread", "account_management")
F_ARR, F_COMMIT, F_SETTLE, F_ADV, F_GUAR, F_LC, F_FX, F_ACCT = range(8)
FEE_PRODUCT_CODES = HOLDING_PRODUCTS + PRODUCTS
"""product_code vocabulary of fee postings: holding products, then lending products (offset 11)."""

_BALANCE_FACTOR = np.array([0.05, 0.03, 0.01, 0.04, 0.02, 0.05, 0.04, 0.03, 0.04, 0.0, 0.03])
_DURATION_MONTHS = {
    TIME: [3, 6, 12, 12, 24, 36], BAB: [6], LC: [3, 6, 9], GUAR: [12, 24, 36], SCF: [6, 12], ADVISORY: [3, 6, 12],
    WEALTH: [6, 12, 24],
}  # fmt: skip
DEPOSIT_LIKE = np.zeros(11, dtype=bool)
DEPOSIT_LIKE[[DEMAND, SETTLE, CASH]] = True


@dataclass
class Holdings:
    n: int
    client: np.ndarray
    product: np.ndarray
    opened: np.ndarray
    closed: np.ndarray  # NEVER while open
    base: np.ndarray  # balance level in cents
    phase: np.ndarray

    def balance(self, h: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Balance in cents on a day: deposits move month to month (restated on the opening day of the
        month), notional products keep their amount, closed holdings are zero."""
        months = np.maximum(month_of(day) - month_of(self.opened[h]) - (self._dom(day) < self._dom(self.opened[h])), 0)
        wave = 1 + 0.25 * np.sin(2 * np.pi * (months + self.phase[h]) / 12.0) + 0.01 * months
        deposit = np.round(self.base[h] * np.maximum(wave, 0.05) / 100) * 100
        value = np.where(DEPOSIT_LIKE[self.product[h]], deposit, self.base[h])
        return np.where(self.closed[h] <= day, 0, value).astype(np.int64)

    @staticmethod
    def _dom(day: np.ndarray) -> np.ndarray:
        return np.asarray(day) - month_start(month_of(day))


def simulate_holdings(ctx: Context, chunk: int, clients: Clients) -> Holdings:
    rng = ctx.rng(chunk, 6)
    tl, ref = ctx.timeline, ctx.ref
    c = clients
    on = np.flatnonzero(~c.is_prospect)
    letter = np.array(ref.sections)[c.section[on]]
    size = c.size[on]
    start = c.onboard[on]
    end = np.minimum(np.minimum(c.close_day[on], tl.horizon), np.maximum(c.active_end[on], start + 365))
    leave = np.minimum(c.close_day[on], NEVER)
    trade = np.isin(letter, ["C", "F"])

    # account-type products: at most one each
    p_account = np.stack(
        [
            np.full(len(on), 0.98),
            np.full(len(on), 0.8),
            np.array([0.7, 0.45, 0.15, 0.05])[size],
            np.where(trade, 0.35, 0.08) * np.array([1.5, 1.2, 0.8, 0.4])[size],
        ],
        axis=1,
    )
    account_products = np.array([DEMAND, SETTLE, CASH, FX])
    has = rng.random(p_account.shape) < p_account
    a_owner, a_prod = np.nonzero(has)
    a_prod = account_products[a_prod]
    a_open = start[a_owner] + np.where(
        np.isin(a_prod, [DEMAND, SETTLE]), rng.integers(0, 30, len(a_owner)),
        (rng.random(len(a_owner)) * np.maximum(end[a_owner] - start[a_owner], 1) * 0.5).astype(np.int64),
    )
    attrition = rng.random(len(a_owner)) < 0.15
    a_close = np.where(
        attrition, a_open + 180 + (rng.random(len(a_owner)) * 2000).astype(np.int64), leave[a_owner]
    )
    a_close = np.minimum(a_close, leave[a_owner])

    # transaction-type products: a Poisson number over the active years
    years = np.clip((end - start) / 365.25, 0, None)
    rates = {
        TIME: np.full(len(on), 0.3),
        BAB: np.where(np.isin(letter, ["C", "F", "E"]), 0.8, 0.1),
        LC: np.where(trade, 0.5, 0.05) * np.array([2.0, 1.5, 0.6, 0.2])[size],
        GUAR: np.where(letter == "E", 0.6, 0.1),
        SCF: np.where(trade, 0.25, 0.02),
        ADVISORY: np.array([0.3, 0.1, 0.02, 0.0])[size],
        WEALTH: np.full(len(on), 0.15),
    }
    t_owner, t_prod, t_open, t_close = [], [], [], []
    for product, rate in rates.items():
        count = rng.poisson(rate * years)
        owner, _ = group_offsets(count)
        opened = start[owner] + (rng.random(len(owner)) * np.maximum(end[owner] - start[owner], 1)).astype(np.int64)
        duration = rng.choice(_DURATION_MONTHS[product], len(owner))
        t_owner.append(owner)
        t_prod.append(np.full(len(owner), product))
        t_open.append(opened)
        t_close.append(np.minimum(add_months(opened, duration), leave[owner]))
    owner = np.concatenate([a_owner, *t_owner])
    product = np.concatenate([a_prod, *t_prod])
    opened = np.concatenate([a_open, *t_open])
    closed = np.concatenate([a_close, *t_close])
    client = on[owner]
    keep = (closed >= tl.history_start) & (opened < closed) & (opened <= tl.horizon)
    order = np.lexsort((product, opened, client))
    order = order[keep[order]]
    client, product, opened, closed = client[order], product[order], opened[order], closed[order]
    n = len(client)
    base = c.revenue_ref[client] * _BALANCE_FACTOR[product] * np.exp(rng.normal(0, 0.5, n))
    base = np.where(product == ADVISORY, 0, np.maximum(base, np.where(product == TIME, 1e5, 1e3)))
    base = np.round(base / 100) * 100 * 100
    return Holdings(
        n=n,
        client=client,
        product=product,
        opened=opened.astype(np.int64),
        closed=np.where(closed >= NEVER, NEVER, closed).astype(np.int64),
        base=base.astype(np.int64),
        phase=rng.uniform(0, 12, n),
    )


@dataclass
class Fees:
    client: np.ndarray
    product: np.ndarray  # index into FEE_PRODUCT_CODES
    fee_type: np.ndarray
    day: np.ndarray
    amount: np.ndarray  # cents


def _periodic(start: np.ndarray, stop: np.ndarray, months: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Posting days start + m*months (m >= 1) inside [lo, min(stop - 1, hi)]: (owner, day)."""
    until = np.minimum(stop - 1, hi)
    m_lo = first_due_on_or_after(start, months, np.full(len(start), lo))
    m_hi = first_due_on_or_after(start, months, until + 1) - 1
    owner, j = group_offsets(np.maximum(m_hi - m_lo + 1, 0))
    return owner, add_months(start[owner], (m_lo[owner] + j) * months[owner])


def simulate_fees(ctx: Context, chunk: int, clients: Clients, holdings: Holdings, fac: Facilities) -> Fees:
    rng = ctx.rng(chunk, 7)
    tl = ctx.timeline
    lo, hi = tl.history_start, tl.last_day
    c = clients
    h = holdings
    revenue = c.revenue_ref[h.client]
    monthly = rng.random(h.n) < 0.5
    period = np.select(
        [h.product == SETTLE, h.product == DEMAND, h.product == CASH, h.product == FX, h.product == GUAR],
        [np.where(monthly, 1, 3), 6, 1, 1, 3],
        default=0,
    )
    fee_type = np.select(
        [h.product == SETTLE, h.product == DEMAND, h.product == CASH, h.product == FX, h.product == GUAR],
        [F_SETTLE, F_ACCT, F_ACCT, F_FX, F_GUAR],
        default=F_ACCT,
    )
    level = np.select(
        [h.product == SETTLE, h.product == DEMAND, h.product == CASH, h.product == FX, h.product == GUAR],
        [revenue * 2e-5 * period, np.array([2000, 1000, 500, 200])[c.size[h.client]], revenue * 1e-5,
         revenue * 3e-5, h.base / 100 * 0.0025],
        default=0.0,
    )
    periodic = period > 0
    idx = np.flatnonzero(periodic)
    owner, day = _periodic(h.opened[idx], h.closed[idx], period[idx], lo, hi)
    p_hold = idx[owner]

    one_off = np.isin(h.product, [BAB, LC, SCF, ADVISORY]) & (h.opened >= lo) & (h.opened <= hi)
    o_hold = np.flatnonzero(one_off)
    o_type = np.select(
        [h.product[o_hold] == BAB, h.product[o_hold] == LC, h.product[o_hold] == SCF], [F_COMMIT, F_LC, F_ARR], default=F_ADV
    )
    o_amount = np.select(
        [h.product[o_hold] == BAB, h.product[o_hold] == LC, h.product[o_hold] == SCF],
        [h.base[o_hold] / 100 * 0.0005, h.base[o_hold] / 100 * 0.0015, h.base[o_hold] / 100 * 0.003],
        default=np.maximum(revenue[o_hold] * 5e-4, 2e4),
    )

    # lending fees: arrangement at the start, quarterly commitment fees on credit lines
    arr_p = np.array([1.0, 0.2, 0.6, 0.0, 1.0, 0.3])[fac.product]
    arr = (rng.random(fac.n) < arr_p) & (fac.start >= lo) & (fac.start <= hi)
    a_fac = np.flatnonzero(arr)
    a_amount = fac.limit[a_fac] / 100 * np.array([0.005, 0.001, 0.002, 0.0, 0.003, 0.001])[fac.product[a_fac]]
    lines = np.flatnonzero(fac.product == CL)
    stop = np.minimum(np.minimum(fac.close_day[lines], fac.default_day[lines]), NEVER)
    c_owner, c_day = _periodic(fac.start[lines], stop, np.full(len(lines), 3), lo, hi)
    c_fac = lines[c_owner]
    c_amount = fac.limit[c_fac] / 100 * 0.4 * 0.0025 / 4  # 0.25 % a year on the undrawn part

    client = np.concatenate([h.client[p_hold], h.client[o_hold], fac.client[a_fac], fac.client[c_fac]])
    product = np.concatenate([h.product[p_hold], h.product[o_hold], 11 + fac.product[a_fac], 11 + fac.product[c_fac]])
    ftype = np.concatenate([fee_type[p_hold], o_type, np.full(len(a_fac), F_ARR), np.full(len(c_fac), F_COMMIT)])
    fday = np.concatenate([day, h.opened[o_hold], fac.start[a_fac], c_day])
    amount = np.concatenate([level[p_hold], o_amount, a_amount, c_amount])
    kind = np.repeat(np.arange(4), [len(p_hold), len(o_hold), len(a_fac), len(c_fac)])
    owner = np.concatenate([p_hold, o_hold, a_fac, c_fac])
    amount = amount * np.exp(0.3 * KeyedRandom(ctx.seed, chunk, 7).normal(kind, owner, fday))  # window-independent
    amount = np.maximum(np.round(amount * 100), 100).astype(np.int64)
    order = np.lexsort((ftype, fday, client))
    return Fees(client=client[order], product=product[order], fee_type=ftype[order], day=fday[order].astype(np.int64), amount=amount[order])

