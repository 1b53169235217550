"""Financial statements: annual for every client in a relationship, Q1-Q3 for the larger ones.

Revenue follows the client's revenue path (trend, industry cycle, decline, pre-default slump); margins
and leverage follow its latent quality, so weak clients show thin margins, high leverage and low interest
cover before they default. Balance sheets balance to the cent: equity = assets - liabilities in cents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from python_tasks.sample_data.lookups import group_offsets
from python_tasks.sample_data.population import Clients, Context
from python_tasks.sample_data.timeline import NEVER, month_of, month_start, year_of

_QUARTER_SHARE = np.array([0.22, 0.25, 0.26, 1.0])


@dataclass
class Statements:
    client: np.ndarray
    period_end: np.ndarray
    annual: np.ndarray
    reported: np.ndarray
    audited: np.ndarray
    money: dict[str, np.ndarray]  # cents
    valid: dict[str, np.ndarray]
    employees: np.ndarray


def _cents(x: np.ndarray) -> np.ndarray:
    return np.round(x * 100).astype(np.int64)


def simulate_statements(ctx: Context, chunk: int, clients: Clients) -> Statements:
    rng = ctx.rng(chunk, 4)
    tl, ref, eco = ctx.timeline, ctx.ref, ctx.economy
    c = clients
    onboarded = np.flatnonzero(~c.is_prospect)
    end = np.minimum(c.close_day, np.where(c.default_day < NEVER, c.default_day + 180, NEVER))[onboarded]
    end = np.minimum(end, tl.horizon)
    fy_lo = np.maximum.reduce(
        [year_of(c.onboard[onboarded]) - 1, np.full(len(onboarded), int(year_of(tl.history_start)) - 2),
         year_of(c.founded[onboarded])]
    )
    fy_hi = year_of(end)
    n_years = np.maximum(fy_hi - fy_lo + 1, 0)
    owner, j = group_offsets(n_years)
    client_y = onboarded[owner]
    year = fy_lo[owner] + j
    periods = np.where(c.quarterly_filer[client_y], 4, 1)
    row_owner, p = group_offsets(periods)
    client = client_y[row_owner]
    year = year[row_owner]
    period = np.where(periods[row_owner] == 4, p, 3)  # 0..2 = Q1..Q3, 3 = annual

    period_end = month_start((year - 1970) * 12 + 3 * (period + 1)) - 1
    # the bank receives a statement 2-4 months after the period, or when the relationship opens
    reported = np.maximum(period_end + rng.integers(60, 121, len(client)), c.onboard[client])
    keep = (period_end >= c.founded[client]) & (reported <= np.minimum(end[np.searchsorted(onboarded, client)], tl.horizon))
    client, year, period, period_end, reported = (a[keep] for a in (client, year, period, period_end, reported))
    n = len(client)

    sec = c.section[client]
    annual_revenue = c.revenue(client, year, eco)
    share = np.where(period == 3, 1.0, _QUARTER_SHARE[period] * np.exp(rng.normal(0, 0.05, n)))
    flow = np.where(period == 3, 1.0, 0.25)
    revenue = annual_revenue * share
    q = c.q_at(client, period_end, tl).astype(np.float64)
    pre_default = (c.default_day[client] < NEVER) & (period_end >= c.default_day[client] - 540)

    gross_margin = np.clip(ref.gross_margin[sec] + 0.03 * q + rng.normal(0, 0.02, n), 0.02, 0.8)
    ebitda_margin = np.clip(gross_margin * 0.55 + 0.02 * q + rng.normal(0, 0.02, n) - 0.08 * pre_default, -0.3, 0.6)
    asset_factor = c.assets_ref / (c.revenue_ref * ref.asset_ratio[c.section])
    assets = annual_revenue * ref.asset_ratio[sec] * asset_factor[client] * np.exp(rng.normal(0, 0.03, n))
    leverage_noise = np.random.default_rng(np.random.SeedSequence([ctx.seed, chunk, 41])).normal(0, 0.08, c.n)
    leverage = np.clip(0.55 - 0.08 * q + leverage_noise[client] + 0.25 * pre_default + rng.normal(0, 0.02, n), 0.08, 1.3)

    total_assets = _cents(assets)
    total_liabilities = _cents(assets * leverage)
    equity = total_assets - total_liabilities
    current_assets = _cents(assets * rng.uniform(0.3, 0.75, n))
    current_liabilities = _cents(assets * leverage * rng.uniform(0.45, 0.85, n))
    cash = _cents(current_assets / 100 * rng.uniform(0.08, 0.35, n))
    debt = assets * leverage * rng.uniform(0.35, 0.65, n)
    funding_rate = (eco.value("lpr_1y_pct", month_of(period_end)) + 0.8) / 100.0
    interest = debt * funding_rate * flow
    ebitda = revenue * ebitda_margin
    depreciation = np.maximum(assets * rng.uniform(0.02, 0.06, n) * flow, 1.0)
    ebit = ebitda - depreciation
    pre_tax = ebit - interest
    net_profit = np.where(pre_tax > 0, pre_tax * 0.75, pre_tax)
    operating_cf = ebitda * rng.uniform(0.4, 1.1, n) - interest
    debt_service = debt * funding_rate + debt * rng.uniform(0.15, 0.35, n)

    money = {
        "revenue_cny": _cents(revenue),
        "cost_of_sales_cny": _cents(revenue * (1 - gross_margin)),
        "ebit_cny": _cents(ebit),
        "ebitda_cny": _cents(ebitda),
        "interest_expense_cny": _cents(interest),
        "net_profit_cny": _cents(net_profit),
        "current_assets_cny": current_assets,
        "total_assets_cny": total_assets,
        "current_liabilities_cny": current_liabilities,
        "total_liabilities_cny": total_liabilities,
        "equity_cny": equity,
        "cash_cny": cash,
        "operating_cash_flow_cny": _cents(operating_cf),
        "debt_service_due_cny": _cents(debt_service),
    }
    # EBITDA strictly above EBIT even after rounding to cents
    money["ebit_cny"] = np.minimum(money["ebit_cny"], money["ebitda_cny"] - 1)
    micro = c.size[client] == 3
    null_share = {
        "cost_of_sales_cny": 0.02, "ebit_cny": 0.01, "ebitda_cny": 0.01, "interest_expense_cny": 0.02,
        "net_profit_cny": 0.01, "current_assets_cny": 0.02, "current_liabilities_cny": 0.02, "cash_cny": 0.03,
        "operating_cash_flow_cny": 0.05, "debt_service_due_cny": 0.05,
    }  # fmt: skip
    valid = {name: rng.random(n) >= share_ * np.where(micro, 3.0, 1.0) for name, share_ in null_share.items()}
    valid["ebit_cny"] = valid["ebit_cny"] & valid["ebitda_cny"]

    audited = (period == 3) & (rng.random(n) < np.array([0.95, 0.8, 0.55, 0.3])[c.size[client]])
    employees = np.maximum(
        np.round(c.employees_ref[client] * np.sqrt(annual_revenue / c.revenue_ref[client])), 1
    ).astype(np.int64)
    return Statements(
        client=client,
        period_end=period_end.astype(np.int64),
        annual=period == 3,
        reported=reported.astype(np.int64),
        audited=audited,
        money=money,
        valid=valid,
        employees=employees,
    )
