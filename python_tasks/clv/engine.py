"""The CLV projection: from one business date's clients and facilities to each client's value per scenario.

Pure and vectorised: arrays are [facilities, periods] and [clients, periods]; facilities are summed into
their clients with one sparse matrix product; clients are processed in chunks so that memory stays
bounded at any portfolio size. No loop per client, no I/O. The building blocks and their sources are in
the modules this one calls (docs/clv.md):

    CLV_i = Σ_k S_ik · (NII_ik + Fee_ik − Cost_ik − EL_ik − CapCharge_ik) / (1 + r)^(k/m) − AcqCost_i

* existing facilities run off by contract (exposure.runoff); what runs off is replaced by new business so
  that the client's drawn exposure follows today's grown by g (when ``renew_maturing``), at the client's
  current margin, cost rates, LGD and capital per unit of EAD; new facilities pay origination costs;
* EAD_k = balance + CCF × undrawn while the facility lives;
* PD: point-in-time (Vasicek, Z from the scenario's GDP outlook) for the first year, through-the-cycle
  after; EL_k = q_k · LGD · EAD_k with q_k the period's marginal default probability;
* CapCharge_k = cost of equity × K(TTC PD, LGD, M, turnover) × EAD_k / m (regulatory capital is set on
  long-run PDs; the scenarios act through EL, survival and growth);
* S_ik = sBG retention given the client's tenure × survival from default;
* a defaulted client has no future: its value is the loss still expected on today's exposure, −LGD · EAD;
* a prospect carries the acquisition cost.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import betaln

from python_tasks.clv.capital import asset_correlation, capital_requirement, point_in_time_pd
from python_tasks.clv.exposure import runoff
from python_tasks.clv.loss import collateralised_lgd
from python_tasks.clv.params import ClvParams, Scenario
from python_tasks.clv.pricing import ftp_rate
from python_tasks.clv.valuation import discount_factors, economic_value_added, raroc

#: Columns the engine needs, one row per client (prospects included), and their meaning.
CLIENT_COLUMNS = {
    "client_id": "client key",
    "is_prospect": "not yet a borrower: valued as if won, less the acquisition cost",
    "is_defaulted": "in default at D: valued at the loss still expected",
    "ttc_pd": "through-the-cycle annual PD (rating master scale, or the scorecard), in (0, 1]",
    "turnover_cny": "annual turnover for the SME correlation adjustment (NaN: no adjustment)",
    "fee_income_12m_cny": "fee income of the last twelve months",
    "revenue_growth_yoy": "revenue growth of the last fiscal year (NaN: 0)",
    "industry_output_growth_pct": "output growth of the client's industry section (NaN: 0)",
    "gdp_outlook_baseline_pct": "GDP growth outlook for the next 12 months, baseline",
    "gdp_outlook_adverse_pct": "the same, adverse",
    "gdp_outlook_severe_pct": "the same, severe",
    "lpr_1y_pct": "1-year loan prime rate known at D",
    "lpr_5y_pct": "5-year loan prime rate known at D",
    "asset_class": "five-tier classification (monitoring cost multiplier)",
    "tenure_years": "years the relationship has lasted (renewals made, n of the sBG model)",
    "sbg_alpha": "retention model alpha of the client's segment",
    "sbg_beta": "retention model beta of the client's segment",
}
#: Columns the engine needs, one row per facility on book (and one synthetic facility per prospect).
FACILITY_COLUMNS = {
    "client_id": "borrowing client (must be in the client frame)",
    "drawn_balance_cny": "drawn balance at D",
    "undrawn_cny": "undrawn committed amount at D",
    "ccf": "credit conversion factor of the undrawn amount",
    "interest_rate_pct": "client rate",
    "repayment_type": "contractual profile (exposure.PROFILES)",
    "remaining_maturity_years": "years to maturity",
    "collateral_value_cny": "collateral value allocated to the facility",
    "main_collateral_type": "type of its main collateral (null: unsecured)",
    "servicing_cost_bps": "product servicing cost, bps a year of the balance",
    "monitoring_cost_bps": "product post-loan monitoring cost, bps a year (× the risk multiplier)",
    "origination_cost_cny": "product origination cost per new facility",
}
OUTPUT_COLUMNS = (
    "client_id", "scenario", "clv_cny", "pv_nii_cny", "pv_fee_cny", "pv_cost_cny", "pv_expected_loss_cny",
    "pv_capital_charge_cny", "acquisition_cost_cny", "ttc_pd", "pit_pd", "lgd", "ead_cny", "capital_cny",
    "systematic_factor", "growth_rate", "expected_lifetime_years", "raroc", "eva_cny", "nii_12m_cny",
    "interest_income_12m_cny", "fee_12m_cny", "expected_loss_12m_cny", "contribution_12m_cny",
)  # fmt: skip


class EngineInputError(ValueError):
    """The engine's inputs break a rule; the message names the column, the rule and example keys."""


@dataclass(frozen=True)
class Portfolio:
    """Validated inputs of one run: clients, facilities sorted by client, and each facility's client row."""

    clients: pd.DataFrame
    facilities: pd.DataFrame
    client_row: np.ndarray


def _fail_rows(frame: pd.DataFrame, bad: np.ndarray, column: str, rule: str, key: str) -> None:
    if np.any(bad):
        examples = frame.loc[bad, key].astype(str).head(5).tolist()
        raise EngineInputError(f"{column}: {rule} ({int(np.sum(bad))} rows, e.g. {key} {examples})")


def prepare(clients: pd.DataFrame, facilities: pd.DataFrame) -> Portfolio:
    """Check the inputs (missing columns, negative balances, PDs out of range, facilities of unknown
    clients) and index the facilities to their clients. A problem raises naming the column and rows."""
    for frame, required, what in ((clients, CLIENT_COLUMNS, "clients"), (facilities, FACILITY_COLUMNS, "facilities")):
        missing = [c for c in required if c not in frame.columns]
        if missing:
            raise EngineInputError(f"{what}: missing column(s) {missing}")
    if not clients["client_id"].is_monotonic_increasing:  # in key order, so that the output needs no sort
        clients = clients.iloc[np.argsort(clients["client_id"].to_numpy(dtype=object), kind="stable")]
    clients = clients.reset_index(drop=True)
    facilities = facilities[list(FACILITY_COLUMNS)]  # the columns the engine reads: less to reorder and slice
    if clients["client_id"].duplicated().any():
        dup = clients.loc[clients["client_id"].duplicated(), "client_id"].head(5).tolist()
        raise EngineInputError(f"clients: client_id must be unique, e.g. {dup}")
    pd_ = clients["ttc_pd"].to_numpy(dtype=float)
    _fail_rows(clients, ~((pd_ > 0) & (pd_ <= 1)), "ttc_pd", "must be in (0, 1]", "client_id")
    for column in ("fee_income_12m_cny", "tenure_years", "sbg_alpha", "sbg_beta", "lpr_1y_pct", "lpr_5y_pct"):
        values = clients[column].to_numpy(dtype=float)
        rule_bad = ~np.isfinite(values) | (values < 0) | ((values == 0) & column.startswith("sbg_"))
        _fail_rows(clients, rule_bad, column, "must be finite and non-negative (positive for sbg_)", "client_id")
    row = pd.Index(clients["client_id"]).get_indexer(facilities["client_id"])
    _fail_rows(facilities, row < 0, "client_id", "facility of a client not in the client frame", "client_id")
    for column in ("drawn_balance_cny", "undrawn_cny", "collateral_value_cny", "remaining_maturity_years"):
        values = facilities[column].to_numpy(dtype=float)
        _fail_rows(
            facilities, ~np.isfinite(values) | (values < 0), column, "must be finite and non-negative", "client_id"
        )
    ccf = facilities["ccf"].to_numpy(dtype=float)
    _fail_rows(facilities, ~((ccf >= 0) & (ccf <= 1)), "ccf", "must be in [0, 1]", "client_id")
    order = np.argsort(row, kind="stable")
    return Portfolio(clients, facilities.iloc[order].reset_index(drop=True), row[order])


def systematic_factor(gdp_outlook_pct: np.ndarray, params: ClvParams) -> np.ndarray:
    """Z = (GDP outlook − long-run mean) / sd, bounded: negative when the outlook is below trend."""
    m = params.macro
    z = (np.asarray(gdp_outlook_pct, dtype=float) - m.gdp_long_run_mean_pct) / m.gdp_sd_pct
    return np.clip(np.nan_to_num(z, nan=0.0), -m.max_abs_systematic_factor, m.max_abs_systematic_factor)


def expected_growth(
    clients: pd.DataFrame, gdp_outlook_pct: np.ndarray, params: ClvParams, scenario: Scenario
) -> np.ndarray:
    """g = w_rev · revenue growth + w_ind · industry growth + w_gdp · GDP gap + shift, bounded."""
    nb = params.new_business
    revenue = np.nan_to_num(clients["revenue_growth_yoy"].to_numpy(dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
    industry = np.nan_to_num(clients["industry_output_growth_pct"].to_numpy(dtype=float), nan=0.0) / 100.0
    gap = np.nan_to_num(np.asarray(gdp_outlook_pct, dtype=float) - params.macro.gdp_long_run_mean_pct, nan=0.0) / 100.0
    g = (
        nb.revenue_growth_weight * revenue + nb.industry_growth_weight * industry + nb.gdp_gap_weight * gap
        + scenario.growth_shift_pp / 100.0
    )  # fmt: skip
    return np.clip(g, nb.growth_floor, nb.growth_cap)


def retention_survival(
    alpha: np.ndarray, beta: np.ndarray, tenure_years: np.ndarray, periods: int, m: int
) -> np.ndarray:
    """P(relationship alive k/m years ahead | alive after n renewals) under sBG: S(n + τ) / S(n) with
    S(t) = B(α, β + t) / B(α, β), τ = k/m (the real-valued extension between renewals), [clients, K]."""
    n = np.floor(np.asarray(tenure_years, dtype=float))[:, None]
    a, b = np.asarray(alpha, dtype=float)[:, None], np.asarray(beta, dtype=float)[:, None]
    tau = np.arange(1, periods + 1, dtype=float)[None, :] / m
    return np.exp(betaln(a, b + n + tau) - betaln(a, b + n))


def _distinct_retention(
    alpha: np.ndarray, beta: np.ndarray, tenure_years: np.ndarray, periods: int, m: int
) -> np.ndarray:
    """retention_survival computed once per distinct (α, β, renewals): segments × tenures are few, and
    betaln is the costliest function of the projection."""
    key = np.column_stack([alpha, beta, np.floor(tenure_years)])
    distinct, inverse = np.unique(key, axis=0, return_inverse=True)
    return retention_survival(distinct[:, 0], distinct[:, 1], distinct[:, 2], periods, m)[inverse.ravel()]


def _sums(client_row: np.ndarray, n_clients: int, weights: list[np.ndarray], values: np.ndarray) -> list[np.ndarray]:
    """Σ over each client's facilities of weight × value, for each weight, in one sparse product:
    [len(weights) · clients, facilities] @ values."""
    f = client_row.size
    stacked = sparse.vstack(
        [sparse.csr_matrix((w, (client_row, np.arange(f))), shape=(n_clients, f)) for w in weights], format="csr"
    )
    return np.split(stacked @ values, len(weights))


def _ratio(numerator: np.ndarray, denominator: np.ndarray, fallback: float | np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), fallback)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ik,ik->i", a, b)


def value_chunk(portfolio: Portfolio, params: ClvParams, scenarios: dict[str, Scenario]) -> dict[str, np.ndarray]:
    """Value every client of ``portfolio`` under each scenario: each output column (but the keys) as an
    array [clients, scenarios].

    Present values use linearity: every flow is a scenario-invariant client path plus new business times a
    per-client rate, so PV = Σ_k path_k · w_k + rate · Σ_k new_k · w_k with w_k = S_k / (1 + r)^(k/m); no
    [clients, periods] array is built per flow.
    """
    c, f, row = portfolio.clients, portfolio.facilities, portfolio.client_row
    n, m, periods = len(c), params.periods_per_year, params.periods
    floor, cap = params.capital.sme_turnover_floor_cny, params.capital.sme_turnover_cap_cny

    # facility level, scenario-invariant: balance and EAD paths, margins and cost rates, LGD, K
    rate = f["interest_rate_pct"].to_numpy(dtype=float)
    remaining = f["remaining_maturity_years"].to_numpy(dtype=float)
    n_periods = np.ceil(np.round(remaining * m, 6))
    drawn = f["drawn_balance_cny"].to_numpy(dtype=float)
    undrawn = f["undrawn_cny"].to_numpy(dtype=float)
    ccf = f["ccf"].to_numpy(dtype=float)
    balance = runoff(f["repayment_type"].to_numpy(dtype=object), n_periods, rate / 100.0 / m, periods)
    balance *= drawn[:, None]
    ead_path = balance + (ccf * undrawn)[:, None] * (np.arange(1, periods + 1)[None, :] <= n_periods[:, None])
    ead0 = drawn + ccf * undrawn
    lpr1 = c["lpr_1y_pct"].to_numpy(dtype=float)[row]
    lpr5 = c["lpr_5y_pct"].to_numpy(dtype=float)[row]
    ftp = ftp_rate(remaining, lpr1, lpr5, params.ftp_spread_bps)
    multiplier_by_class = params.monitoring_multipliers
    asset_class = c["asset_class"].fillna("normal")
    unknown = sorted(set(asset_class.unique().tolist()) - set(multiplier_by_class))
    if unknown:
        raise EngineInputError(f"asset_class: unknown value(s) {unknown}")
    client_multiplier = asset_class.map(multiplier_by_class).to_numpy(dtype=float)
    servicing, monitoring = (f[col].to_numpy(dtype=float) for col in ("servicing_cost_bps", "monitoring_cost_bps"))
    cost_bps = servicing + monitoring * client_multiplier[row]
    if np.any(~np.isfinite(cost_bps)) or np.any(cost_bps < 0):
        raise EngineInputError("servicing_cost_bps, monitoring_cost_bps: must be finite and non-negative")
    kinds = f["main_collateral_type"].fillna("").to_numpy(dtype=object)
    collateral_value = f["collateral_value_cny"].to_numpy(dtype=float)
    floors = dict(params.lgd_floors)
    unsecured = floors.pop("unsecured")
    unknown = sorted(set(kinds.tolist()) - set(floors) - {""})
    if unknown:
        raise EngineInputError(f"main_collateral_type: no LGD floor for {unknown}")
    lgd_f = collateralised_lgd(
        ead0, {k: np.where(kinds == k, collateral_value, 0.0) for k in floors}, floors, unsecured
    )
    ttc = np.maximum(c["ttc_pd"].to_numpy(dtype=float), params.capital.pd_floor)
    defaulted = c["is_defaulted"].to_numpy(dtype=bool) | (ttc >= 1.0)
    ttc = np.where(defaulted, 1.0, ttc)
    turnover = c["turnover_cny"].to_numpy(dtype=float)
    k_f = capital_requirement(
        ttc[row],
        lgd_f,
        np.clip(remaining, 1.0, 5.0),
        turnover[row],
        sme_floor=floor,
        sme_cap=cap,
        confidence=params.capital.confidence,
    )

    # client level: sums of the facility paths (per-facility factors inside the sparse product), and the
    # mix that new business copies
    ones = np.ones(row.size)
    margin_f, rate_f, cost_rate_f = (rate - ftp) / 100.0, rate / 100.0, cost_bps / 10_000.0
    balance_c, nii_c, interest_c, cost_c = _sums(row, n, [ones, margin_f / m, rate_f / m, cost_rate_f / m], balance)
    el_base_c, capital_path_c = _sums(row, n, [lgd_f, k_f], ead_path)  # Σ LGD·EAD (× q_k per scenario), Σ K·EAD
    (totals,) = _sums(row, n, [ones], np.column_stack([
        drawn, ead0, drawn * margin_f, drawn * rate_f, drawn * cost_rate_f, ead0 * lgd_f, ead0 * k_f,
        (drawn > 0).astype(float), ones, f["origination_cost_cny"].to_numpy(dtype=float),
    ]))  # fmt: skip
    drawn_c, ead0_c, margin_s, rate_s, cost_rate_s, lgd_s, k_s, facilities_c, count_c, origination_s = totals.T
    margin_c, rate_c, cost_rate_c = (_ratio(x, drawn_c, 0.0) for x in (margin_s, rate_s, cost_rate_s))
    lgd_c, k_c = _ratio(lgd_s, ead0_c, unsecured), _ratio(k_s, ead0_c, 0.0)
    origination_c = _ratio(origination_s, count_c, 0.0)
    ead_per_drawn = _ratio(ead0_c, drawn_c, 1.0)
    size_c = _ratio(drawn_c, facilities_c, 0.0)
    origination_per_cny = _ratio(origination_c, size_c, 0.0)  # cost of the facilities booked per CNY booked
    retention = _distinct_retention(
        c["sbg_alpha"].to_numpy(dtype=float),
        c["sbg_beta"].to_numpy(dtype=float),
        c["tenure_years"].to_numpy(dtype=float),
        periods,
        m,
    )
    retention[defaulted] = 0.0  # a defaulted client has no future
    retention_discounted = retention * discount_factors(periods, m, params.discount_rate)[None, :]
    rho = asset_correlation(np.where(defaulted, 0.5, ttc), turnover, sme_floor=floor, sme_cap=cap)
    k_index = np.arange(1, periods + 1, dtype=float)[None, :]
    first_year = k_index <= m
    fees = c["fee_income_12m_cny"].to_numpy(dtype=float)
    capital = k_c * ead0_c
    immediate_loss = np.where(defaulted, lgd_c * ead0_c, 0.0)
    acquisition = np.where(
        c["is_prospect"].to_numpy(dtype=bool), params.prospects.acquisition_cost_cny + origination_c, 0.0
    )
    coe = params.cost_of_equity

    out: dict[str, list[np.ndarray]] = {}
    for scenario in scenarios.values():
        outlook = c[f"gdp_outlook_{scenario.outlook}_pct"].to_numpy(dtype=float)
        z = systematic_factor(outlook, params)
        pit = np.where(defaulted, 1.0, point_in_time_pd(ttc, z, rho))
        g = expected_growth(c, outlook, params, scenario)
        growth = np.exp(k_index / m * np.log1p(g)[:, None])  # (1 + g)^(k/m): fees and the exposure target
        # new business: what keeps the drawn exposure at today's grown by g, at the client's mix
        if params.new_business.renew_maturing:
            new = drawn_c[:, None] * growth
            new -= balance_c
            np.maximum(new, 0.0, out=new)
        else:
            new = np.zeros_like(balance_c)
        booked = np.diff(new, axis=1, prepend=0.0)
        np.maximum(booked, 0.0, out=booked)
        # PD: PIT in the first year, TTC after; log(1 − q) of a period, and survival from default in closed form
        log_pit = np.log1p(-np.minimum(pit, 1 - 1e-12)) / m
        log_ttc = np.log1p(-np.minimum(ttc, 1 - 1e-12)) / m
        q_pit, q_ttc = -np.expm1(log_pit), -np.expm1(log_ttc)
        no_default = np.exp(
            np.where(first_year, k_index * log_pit[:, None], m * log_pit[:, None] + (k_index - m) * log_ttc[:, None])
        )
        weight = no_default * retention_discounted  # S_ik / (1 + r)^(k/m)
        loss_weight = np.where(first_year, q_pit[:, None], q_ttc[:, None]) * weight
        pv_new, pv_booked = _dot(new, weight), _dot(booked, weight)
        pv = {
            "nii": _dot(nii_c, weight) + margin_c / m * pv_new,
            "fee": fees / m * _dot(growth, weight),
            "cost": _dot(cost_c, weight) + cost_rate_c / m * pv_new + origination_per_cny * pv_booked,
            "expected_loss": _dot(el_base_c, loss_weight) + ead_per_drawn * lgd_c * _dot(new, loss_weight),
            "capital_charge": coe / m * (_dot(capital_path_c, weight) + ead_per_drawn * k_c * pv_new),
        }
        # the first year, undiscounted: the first m columns only
        alive1 = no_default[:, :m] * retention[:, :m]
        new1, booked1, q_alive1 = _dot(new[:, :m], alive1), _dot(booked[:, :m], alive1), q_pit[:, None] * alive1
        year1 = {
            "nii": _dot(nii_c[:, :m], alive1) + margin_c / m * new1,
            "fee": fees / m * _dot(growth[:, :m], alive1),
            "cost": _dot(cost_c[:, :m], alive1) + cost_rate_c / m * new1 + origination_per_cny * booked1,
            "expected_loss": _dot(el_base_c[:, :m], q_alive1) + ead_per_drawn * lgd_c * _dot(new[:, :m], q_alive1),
            "capital_charge": coe / m * (_dot(capital_path_c[:, :m], alive1) + ead_per_drawn * k_c * new1),
        }
        clv = pv["nii"] + pv["fee"] - pv["cost"] - pv["expected_loss"] - pv["capital_charge"] - acquisition
        columns = {
            "clv_cny": clv - immediate_loss,
            "pv_nii_cny": pv["nii"],
            "pv_fee_cny": pv["fee"],
            "pv_cost_cny": pv["cost"],
            "pv_expected_loss_cny": pv["expected_loss"] + immediate_loss,
            "pv_capital_charge_cny": pv["capital_charge"],
            "acquisition_cost_cny": acquisition,
            "ttc_pd": ttc,
            "pit_pd": pit,
            "lgd": lgd_c,
            "ead_cny": ead0_c,
            "capital_cny": capital,
            "systematic_factor": z,
            "growth_rate": g,
            "expected_lifetime_years": _dot(no_default, retention) / m,
            "raroc": raroc(year1["nii"], year1["fee"], year1["cost"], year1["expected_loss"], capital),
            "eva_cny": economic_value_added(
                year1["nii"], year1["fee"], year1["cost"], year1["expected_loss"], capital, coe
            ),
            "nii_12m_cny": year1["nii"],
            "interest_income_12m_cny": _dot(interest_c[:, :m], alive1) + rate_c / m * new1,
            "fee_12m_cny": year1["fee"],
            "expected_loss_12m_cny": year1["expected_loss"],
            "contribution_12m_cny": year1["nii"] + year1["fee"] - year1["cost"] - year1["expected_loss"]
            - year1["capital_charge"],
        }  # fmt: skip
        for name, values in columns.items():
            out.setdefault(name, []).append(values)
    result = {name: np.column_stack(values) for name, values in out.items()}
    bad = [name for name in ("clv_cny", "pv_nii_cny", "pv_fee_cny", "pv_cost_cny", "pv_expected_loss_cny",
                             "pv_capital_charge_cny") if not np.all(np.isfinite(result[name]))]  # fmt: skip
    if bad:
        raise ValueError(f"non-finite values in {bad}")
    return result


def chunks(portfolio: Portfolio, clients_per_chunk: int) -> Iterator[Portfolio]:
    """Split a portfolio into client chunks (facilities follow their clients)."""
    n = len(portfolio.clients)
    bounds = np.searchsorted(portfolio.client_row, np.arange(0, n + clients_per_chunk, clients_per_chunk))
    for i, start in enumerate(range(0, n, clients_per_chunk)):
        stop = min(start + clients_per_chunk, n)
        lo, hi = bounds[i], bounds[i + 1]
        yield Portfolio(
            portfolio.clients.iloc[start:stop].reset_index(drop=True),
            portfolio.facilities.iloc[lo:hi].reset_index(drop=True),
            portfolio.client_row[lo:hi] - start,
        )


def value_portfolio(
    clients: pd.DataFrame,
    facilities: pd.DataFrame,
    params: ClvParams,
    scenarios: dict[str, Scenario] | None = None,
    *,
    clients_per_chunk: int = 10_000,
    progress=None,  # noqa: ANN001 - optional callable(done_clients, total_clients)
) -> pd.DataFrame:
    """Value every client under every scenario (default: the parameters' scenarios), chunk by chunk; one
    row per client and scenario, in client_id then scenario order.

    Chunks of 10 000 clients keep every [facilities, periods] array near 10 MB: the allocator reuses
    such blocks, where arrays of 50 000 clients' facilities (60 MB) are mapped and unmapped each time
    and the page faults cost as much as the arithmetic."""
    portfolio = prepare(clients, facilities)
    scenarios = dict(params.scenarios) if scenarios is None else scenarios
    s, total = len(scenarios), len(portfolio.clients)
    out: dict[str, np.ndarray] = {
        "client_id": np.repeat(portfolio.clients["client_id"].to_numpy(), s),
        "scenario": np.tile(np.array(list(scenarios), dtype=object), total),
    }
    out |= {name: np.empty(total * s) for name in OUTPUT_COLUMNS if name not in out}
    done = 0
    for chunk in chunks(portfolio, clients_per_chunk):
        size = len(chunk.clients)
        for name, values in value_chunk(chunk, params, scenarios).items():
            out[name][done * s : (done + size) * s] = values.ravel()  # client-major: client, then scenario
        done += size
        if progress is not None:
            progress(done, total)
    return pd.DataFrame(out, copy=False)
