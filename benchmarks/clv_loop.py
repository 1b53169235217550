"""The CLV model written as a plain per-client, per-period Python loop: the benchmark's reference.

This is how the model of ``python_tasks/clv/engine.py`` reads when written client by client, facility by
facility and month by month with the ``math`` module, the way an analyst would write it in a notebook. It
serves two purposes in ``benchmarks/clv.py``: the speed the vectorised engine is compared with, and an
independent check of the engine's numbers (the formulas are written out again here rather than imported,
so that a mistake in the vectorisation or in a shared helper shows up as a difference):

* the amortisation schedules are built by stepping the balance forward payment by payment, where the
  engine uses the closed forms of ``exposure.runoff``;
* the normal distribution is the standard library's (``statistics.NormalDist``, ``math.erfc``), where the
  engine uses SciPy's; the sBG retention uses ``math.lgamma`` where the engine uses ``scipy.special.betaln``;
* the Basel IRB capital formula and the Vasicek point-in-time PD are written out in scalars.

The parameter names follow ``config/clv_params.yml``; the model is described in ``docs/clv.md``.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import pandas as pd

from python_tasks.clv.params import ClvParams, Scenario

_NORMAL = NormalDist()
#: the columns of one result row (one client, one scenario)
RESULT_COLUMNS = (
    "client_id", "scenario", "clv_cny", "pv_nii_cny", "pv_fee_cny", "pv_cost_cny", "pv_expected_loss_cny",
    "pv_capital_charge_cny", "acquisition_cost_cny",
)  # fmt: skip


def _cdf(x: float) -> float:
    """Standard normal distribution function (erfc keeps the lower tail accurate)."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _is_missing(x: object) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _number(x: object, default: float = 0.0) -> float:
    """A float, or ``default`` for a missing or infinite value."""
    if _is_missing(x):
        return default
    x = float(x)
    return x if math.isfinite(x) else default


def balance_schedule(drawn: float, repayment_type: str, n: int, periodic_rate: float, periods: int) -> list[float]:
    """Balance outstanding during each of ``periods`` periods (after k−1 scheduled repayments), 0 after the
    n-th period. Annuities and equal principal are stepped forward one repayment at a time."""
    balances = []
    balance = drawn
    if repayment_type == "equal_installment" and periodic_rate > 0 and n > 0:
        payment = drawn * periodic_rate / (1.0 - (1.0 + periodic_rate) ** -n)
    else:
        payment = None
    for k in range(1, periods + 1):
        if k > n:
            balances.append(0.0)
            continue
        balances.append(balance)
        if repayment_type in ("bullet", "interest_only", "revolving"):
            continue
        if payment is not None:  # annuity: interest on the balance, the rest of the payment repays
            balance = balance * (1.0 + periodic_rate) - payment
        elif repayment_type in ("equal_principal", "equal_installment"):  # (an annuity at 0 % is linear)
            balance = balance - drawn / n
        else:
            raise ValueError(f"unknown repayment type {repayment_type!r}")
    return balances


def asset_correlation(pd_: float, turnover: float, sme_floor: float, sme_cap: float) -> float:
    """Basel II para. 272-273: R(PD), less up to 0.04 for an SME (turnover below the cap)."""
    weight = (1.0 - math.exp(-50.0 * pd_)) / (1.0 - math.exp(-50.0))
    r = 0.12 * weight + 0.24 * (1.0 - weight)
    if math.isfinite(turnover) and turnover < sme_cap:
        s = min(max(turnover, sme_floor), sme_cap)
        r -= 0.04 * (1.0 - (s - sme_floor) / (sme_cap - sme_floor))
    return r


def capital_per_ead(pd_: float, lgd: float, maturity: float, turnover: float, params: ClvParams) -> float:
    """K per unit of EAD, Basel IRB foundation formula at the parameters' confidence level; 0 for a
    defaulted exposure (PD 1)."""
    if pd_ >= 1.0:
        return 0.0
    cap = params.capital
    pd_ = max(pd_, cap.pd_floor)
    r = asset_correlation(pd_, turnover, cap.sme_turnover_floor_cny, cap.sme_turnover_cap_cny)
    b = (0.11852 - 0.05478 * math.log(pd_)) ** 2
    conditional = _cdf((_NORMAL.inv_cdf(pd_) + math.sqrt(r) * _NORMAL.inv_cdf(cap.confidence)) / math.sqrt(1.0 - r))
    m = min(max(maturity, 1.0), 5.0)
    return (lgd * conditional - pd_ * lgd) * (1.0 + (m - 2.5) * b) / (1.0 - 1.5 * b)


def sbg_retention(alpha: float, beta: float, renewals: float, years_ahead: float) -> float:
    """P(still a client ``years_ahead`` from now | ``renewals`` made): B(α, β+n+τ) / B(α, β+n)."""
    b = beta + renewals
    return math.exp(
        math.lgamma(b + years_ahead) - math.lgamma(alpha + b + years_ahead) - math.lgamma(b) + math.lgamma(alpha + b)
    )


def value_client(client: dict, facilities: list[dict], params: ClvParams, scenarios: dict[str, Scenario]) -> list[dict]:
    """One client's value under each scenario: one result row per scenario."""
    m, periods = params.periods_per_year, params.periods
    floors = dict(params.lgd_floors)
    unsecured = floors.pop("unsecured")
    cap = params.capital
    asset_class = client["asset_class"] if not _is_missing(client["asset_class"]) else "normal"
    multiplier = params.monitoring_multipliers[asset_class]
    turnover = _number(client["turnover_cny"], math.nan)
    ttc = max(float(client["ttc_pd"]), cap.pd_floor)
    defaulted = bool(client["is_defaulted"]) or ttc >= 1.0
    if defaulted:
        ttc = 1.0

    # the existing facilities, period by period, summed into the client
    balance = [0.0] * periods
    nii = [0.0] * periods
    cost = [0.0] * periods
    el_base = [0.0] * periods  # Σ LGD · EAD, times the period's default probability below
    capital_base = [0.0] * periods  # Σ K · EAD
    drawn_total = ead_total = 0.0
    margin_sum = cost_rate_sum = lgd_sum = k_sum = origination_sum = 0.0
    drawn_facilities = 0
    for f in facilities:
        drawn = float(f["drawn_balance_cny"])
        undrawn_ead = float(f["ccf"]) * float(f["undrawn_cny"])
        rate = float(f["interest_rate_pct"])
        remaining = float(f["remaining_maturity_years"])
        n = math.ceil(round(remaining * m, 6))
        tenor = min(max(remaining, 1.0), 5.0)
        lpr1, lpr5 = float(client["lpr_1y_pct"]), float(client["lpr_5y_pct"])
        ftp = lpr1 + (lpr5 - lpr1) * (tenor - 1.0) / 4.0 + params.ftp_spread_bps / 100.0
        cost_bps = float(f["servicing_cost_bps"]) + float(f["monitoring_cost_bps"]) * multiplier
        ead0 = drawn + undrawn_ead
        kind = f["main_collateral_type"]
        if _is_missing(kind) or kind == "":  # unsecured
            covered, secured_lgd = 0.0, 0.0
        else:  # the collateral covers the EAD up to its value, at its type's LGD floor
            covered, secured_lgd = min(float(f["collateral_value_cny"]), ead0), floors[kind]
        lgd = (covered * secured_lgd + (ead0 - covered) * unsecured) / ead0 if ead0 > 0 else unsecured
        k_capital = capital_per_ead(ttc, lgd, remaining, turnover, params)

        schedule = balance_schedule(drawn, f["repayment_type"], n, rate / 100.0 / m, periods)
        for k in range(periods):
            b = schedule[k]
            ead = b + undrawn_ead if k < n else 0.0
            balance[k] += b
            nii[k] += b * (rate - ftp) / 100.0 / m
            cost[k] += b * cost_bps / 10_000.0 / m
            el_base[k] += ead * lgd
            capital_base[k] += ead * k_capital

        drawn_total += drawn
        ead_total += ead0
        margin_sum += drawn * (rate - ftp) / 100.0
        cost_rate_sum += drawn * cost_bps / 10_000.0
        lgd_sum += ead0 * lgd
        k_sum += ead0 * k_capital
        origination_sum += float(f["origination_cost_cny"])
        drawn_facilities += drawn > 0

    # what new business copies: the client's drawn-weighted margin and cost rate, EAD-weighted LGD and K
    margin = margin_sum / drawn_total if drawn_total > 0 else 0.0
    cost_rate = cost_rate_sum / drawn_total if drawn_total > 0 else 0.0
    client_lgd = lgd_sum / ead_total if ead_total > 0 else unsecured
    client_k = k_sum / ead_total if ead_total > 0 else 0.0
    ead_per_drawn = ead_total / drawn_total if drawn_total > 0 else 1.0
    facility_size = drawn_total / drawn_facilities if drawn_facilities > 0 else 0.0
    origination = origination_sum / len(facilities) if facilities else 0.0
    acquisition = params.prospects.acquisition_cost_cny + origination if client["is_prospect"] else 0.0
    immediate_loss = client_lgd * ead_total if defaulted else 0.0

    renewals = math.floor(float(client["tenure_years"]))
    alpha, beta = float(client["sbg_alpha"]), float(client["sbg_beta"])
    rho = asset_correlation(0.5 if defaulted else ttc, turnover, cap.sme_turnover_floor_cny, cap.sme_turnover_cap_cny)
    fee_12m = float(client["fee_income_12m_cny"])
    nb, macro = params.new_business, params.macro

    rows = []
    for name, scenario in scenarios.items():
        outlook = _number(client[f"gdp_outlook_{scenario.outlook}_pct"], math.nan)
        if math.isnan(outlook):
            z, gap = 0.0, 0.0
        else:
            z = (outlook - macro.gdp_long_run_mean_pct) / macro.gdp_sd_pct
            z = min(max(z, -macro.max_abs_systematic_factor), macro.max_abs_systematic_factor)
            gap = (outlook - macro.gdp_long_run_mean_pct) / 100.0
        if defaulted:
            pit = 1.0
        else:
            inner = min(max(ttc, 1e-12), 1 - 1e-12)
            pit = _cdf((_NORMAL.inv_cdf(inner) - math.sqrt(rho) * z) / math.sqrt(1.0 - rho))
        g = (
            nb.revenue_growth_weight * _number(client["revenue_growth_yoy"])
            + nb.industry_growth_weight * _number(client["industry_output_growth_pct"]) / 100.0
            + nb.gdp_gap_weight * gap
            + scenario.growth_shift_pp / 100.0
        )
        g = min(max(g, nb.growth_floor), nb.growth_cap)

        pv = {"nii": 0.0, "fee": 0.0, "cost": 0.0, "expected_loss": 0.0, "capital_charge": 0.0}
        if not defaulted:  # a defaulted client has no future: only the loss still expected on today's EAD
            no_default = 1.0
            new_before = 0.0
            for k in range(1, periods + 1):
                years = k / m
                grown = (1.0 + g) ** years
                new = max(drawn_total * grown - balance[k - 1], 0.0) if nb.renew_maturing else 0.0
                booked = max(new - new_before, 0.0)
                new_before = new
                new_facilities = booked / facility_size if facility_size > 0 else 0.0
                annual_pd = pit if k <= m else ttc
                q = 1.0 - (1.0 - min(annual_pd, 1 - 1e-12)) ** (1.0 / m)  # default probability in the period
                no_default *= 1.0 - q
                weight = (
                    sbg_retention(alpha, beta, renewals, years) * no_default / (1.0 + params.discount_rate) ** years
                )
                pv["nii"] += weight * (nii[k - 1] + new * margin / m)
                pv["fee"] += weight * fee_12m / m * grown
                pv["cost"] += weight * (cost[k - 1] + new * cost_rate / m + new_facilities * origination)
                pv["expected_loss"] += weight * q * (el_base[k - 1] + new * ead_per_drawn * client_lgd)
                pv["capital_charge"] += (
                    weight * params.cost_of_equity / m * (capital_base[k - 1] + new * ead_per_drawn * client_k)
                )
        clv = pv["nii"] + pv["fee"] - pv["cost"] - pv["expected_loss"] - pv["capital_charge"] - acquisition
        rows.append(
            {
                "client_id": client["client_id"],
                "scenario": name,
                "clv_cny": clv - immediate_loss,
                "pv_nii_cny": pv["nii"],
                "pv_fee_cny": pv["fee"],
                "pv_cost_cny": pv["cost"],
                "pv_expected_loss_cny": pv["expected_loss"] + immediate_loss,
                "pv_capital_charge_cny": pv["capital_charge"],
                "acquisition_cost_cny": acquisition,
            }
        )
    return rows


def value_portfolio_loop(
    clients: pd.DataFrame, facilities: pd.DataFrame, params: ClvParams, scenarios: dict[str, Scenario] | None = None
) -> pd.DataFrame:
    """Every client under every scenario, one client at a time; the rows of ``RESULT_COLUMNS``."""
    scenarios = dict(params.scenarios) if scenarios is None else scenarios
    by_client: dict[str, list[dict]] = {}
    for f in facilities.to_dict("records"):
        by_client.setdefault(f["client_id"], []).append(f)
    rows = []
    for client in clients.to_dict("records"):
        rows.extend(value_client(client, by_client.get(client["client_id"], []), params, scenarios))
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
