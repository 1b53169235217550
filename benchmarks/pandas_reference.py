"""The client profile and the baseline CLV of one business date D, computed with pandas from the delivered files.

Issue 9's benchmark runs this beside the pipeline over the same input files: it is what a competent analyst
would write in a notebook (``read_csv``/``read_parquet``, ``merge``, ``groupby``, vectorised arithmetic; no
DuckDB, no dbt), so it measures what the warehouse's machinery buys, and, written independently, it checks the
pipeline's numbers (``compare``). It reads

* the deliveries of every internal source up to D as they lie in the inbox (or a landing folder of the same
  layout): ``<inbox>/<source>/<YYYY-MM-DD>/<source>_<YYYYMMDD>_<NNN>.csv|parquet``, GBK or UTF-8 CSV as the
  source contract declares (the contracts give the column names and types, nothing else);
* the external indicators as the vendor published them, ``<inbox>/_api/<source>/<YYYY-MM-DD>.json`` (or as
  landed, ``<landing>/<source>/<YYYY-MM-DD>/*.json``), every publication dated on or before D;
* the dbt seeds (``dbt_project/seeds/*.csv``: rating master scale, products, regions, SME thresholds) and the
  CLV parameters (``config/clv_params.yml`` through its pydantic loader): constant tables, not logic.

and it computes, for D only,

* the profile columns of ``marts.fct_client_profile`` that the CLV needs or that describe the client's credit
  (``PROFILE_COLUMNS``): latest client master, enterprise size (SME standard), financial ratios of the latest
  annual statement, the rating in force and its PD, repayment behaviour (current and worst DPD, arrears,
  on-time rate), the five-tier class, exposure, drawn balance per product, collateral coverage, tenure,
  products, deposits and fees, and the macro and industry context; the CRM contact counts and the lifecycle's
  exposure trend are left out (nothing downstream of the CLV reads them);
* the baseline CLV per client and its components (PV of NII, fees, cost, expected loss, capital charge, the
  acquisition cost of a prospect), following docs/clv.md, written out again here: a facility × period frame
  for the run-off, summed into a client × period frame for the survival-weighted, discounted flows.

Choices, and why:

* **Bad rows.** The loader quarantines rows that break the contract. Clean generated data has one kind of bad
  row, by design: a few clients (0.2 %) with a wrong USCC check character, whose facilities, repayments and
  other rows then fail their foreign key. The reference applies exactly these two rules (the GB 32100 check
  character, and rows whose client or facility is not among the valid ones delivered by D) and assumes the
  rest of the contract holds; ``compare`` would show any other quarantined row as a client missing on one side.
* **Calibration.** The retention model (sBG per enterprise size) and the scorecard (logistic regression for
  unrated clients) are fitted by the pipeline's own fitting functions (``python_tasks.clv.calibration``)
  called on the calibration samples this module builds from the files (``relationship_spells``,
  ``scorecard_observations``). Re-implementing a maximum-likelihood fit and scikit-learn's solver would be out
  of proportion and could only agree to the optimiser's tolerance; building the samples independently still
  checks the marts they come from (a wrong sample gives other α, β or coefficients, so other CLVs). Reading
  ``valuation.model_fits`` instead would not do: it does not hold the scorecard's winsorising bounds and
  medians, and would tie the reference to the pipeline's run. The scorecard's train/holdout split follows
  the row order, so the sample is sorted as the pipeline reads it (client, statement, date).
* **Nothing else is imported from the engine**: run-off, FTP, LGD, the IRB capital formula, the Vasicek PD,
  sBG survival, growth and the discounting are written out below with ``numpy``/``scipy.special``.

``python -m benchmarks.pandas_reference --home CLV_HOME --date D [--out FILE.parquet]`` prints one JSON line
(``{"stage": "pandas_reference", "clients", "seconds", "read_s", "profile_s", "clv_s"}``); ``--check`` adds
the agreement with the warehouse of that home (``compare``). The test is
``tests/integration/benchmarks/test_pandas_reference.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import betaln, ndtr, ndtri

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "dbt_project" / "seeds"
INTERNAL_SOURCES = (
    "clients", "facilities", "collateral", "repayments", "ratings", "financial_statements", "product_holdings",
    "fee_income",
)  # fmt: skip
EXTERNAL_SOURCES = ("macro_indicators", "industry_indicators")
#: the columns read per source (an analyst reads what the computation needs)
COLUMNS = {
    "clients": ["client_id", "uscc", "industry_code", "region_code", "employees", "annual_revenue_cny",
                "total_assets_cny", "onboarded_date", "client_status"],
    "facilities": ["facility_id", "client_id", "product_code", "limit_cny", "drawn_balance_cny", "interest_rate_pct",
                   "start_date", "maturity_date", "repayment_type", "facility_status"],
    "collateral": ["collateral_id", "facility_id", "client_id", "collateral_type", "appraised_value_cny",
                   "collateral_status"],
    "repayments": ["facility_id", "client_id", "installment_no", "due_date", "scheduled_principal_cny",
                   "scheduled_interest_cny", "paid_date"],
    "ratings": ["rating_id", "client_id", "rating_date", "grade"],
    "financial_statements": ["statement_id", "client_id", "period_end_date", "period_type", "revenue_cny",
                             "ebit_cny", "ebitda_cny", "interest_expense_cny", "net_profit_cny", "current_assets_cny",
                             "total_assets_cny", "current_liabilities_cny", "total_liabilities_cny",
                             "debt_service_due_cny", "reported_date"],
    "product_holdings": ["holding_id", "client_id", "product_code", "opened_date", "closed_date", "holding_status",
                         "balance_cny"],
    "fee_income": ["fee_id", "client_id", "fee_date", "amount_cny"],
}  # fmt: skip
LENDING_PRODUCTS = ("project_finance", "working_capital_loan", "fixed_asset_loan", "trade_finance", "ip_pledge_loan",
                    "credit_line")  # fmt: skip
#: profile columns the reference computes, named as in marts.fct_client_profile
PROFILE_COLUMNS = (
    "client_status", "industry_section_code", "region_economic_tier", "enterprise_size", "employees",
    "size_revenue_cny", "size_total_assets_cny", "leverage_ratio", "current_ratio", "interest_coverage_ratio",
    "debt_service_coverage_ratio", "return_on_assets", "net_margin", "revenue_growth_yoy", "current_grade",
    "ttc_pd", "notches_downgraded_12m", "is_defaulted_grade", "current_dpd", "max_dpd_3m", "max_dpd_12m",
    "dpd_bucket", "arrears_cny", "instalments_due_12m", "on_time_payment_rate_12m", "facilities_on_book",
    "limit_cny", "drawn_balance_cny", "undrawn_cny", "ead_cny", "utilisation_ratio", "weighted_interest_rate_pct",
    "weighted_remaining_maturity_years", "collateral_value_cny", "collateral_coverage_ratio",
    *(f"drawn_{p}_cny" for p in LENDING_PRODUCTS), "asset_class", "is_non_performing", "non_performing_facilities",
    "tenure_months", "products_held", "lending_products_held", "product_families_held", "deposit_balance_cny",
    "fee_income_12m_cny", "fee_events_12m", "lpr_1y_pct", "lpr_5y_pct", "gdp_growth_next_12m_baseline_pct",
    "gdp_growth_next_12m_adverse_pct", "gdp_growth_next_12m_severe_pct", "industry_output_growth_pct",
)  # fmt: skip
#: CLV columns (baseline scenario), named as in valuation.client_values but for the two that the profile also
#: has with another meaning: the PD the engine used (rating, scorecard or default) and the EAD it valued
#: (a prospect's included)
VALUE_COLUMNS = {
    "clv_cny": "clv_cny", "pv_nii_cny": "pv_nii_cny", "pv_fee_cny": "pv_fee_cny", "pv_cost_cny": "pv_cost_cny",
    "pv_expected_loss_cny": "pv_expected_loss_cny", "pv_capital_charge_cny": "pv_capital_charge_cny",
    "acquisition_cost_cny": "acquisition_cost_cny", "value_ttc_pd": "ttc_pd", "pit_pd": "pit_pd", "lgd": "lgd",
    "value_ead_cny": "ead_cny", "capital_cny": "capital_cny", "growth_rate": "growth_rate",
}  # fmt: skip
#: agreement: relative 1e-6, or within one fen for amounts (a CLV near zero has no meaningful relative
#: difference) and within 1e-9 for ratios, rates and PDs (float sums in another order differ by ~1e-12)
REL_TOLERANCE = 1e-6
ABS_TOLERANCE_CNY = 0.01
ABS_TOLERANCE = 1e-9
USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28])


# --- reading -------------------------------------------------------------------------------------------------


def _contract_types(source: str) -> dict[str, str]:
    from python_tasks.contracts.loader import load_contract

    return {c.name: c.type for c in load_contract(source).columns}


def _delivery_dates(folder: Path, day: date) -> list[Path]:
    found = []
    for sub in sorted(folder.iterdir()) if folder.is_dir() else []:
        try:
            delivered = date.fromisoformat(sub.name)
        except ValueError:
            continue
        if delivered <= day:
            found.append(sub)
    return found


def read_source(inbox: Path, source: str, day: date) -> pd.DataFrame:
    """Every delivery of ``source`` up to D, typed by its contract, with ``_as_of_date`` (the delivery date)."""
    from python_tasks.contracts.loader import load_contract

    contract = load_contract(source)
    types = _contract_types(source)
    columns = COLUMNS[source]
    numeric = [c for c in columns if types[c] in ("DOUBLE", "INTEGER", "BIGINT") or types[c].startswith("DECIMAL")]
    dates = [c for c in columns if types[c] == "DATE"]
    frames = []
    for folder in _delivery_dates(inbox / source, day):
        for path in sorted(p for p in folder.glob(f"{source}_*") if p.suffix in (".csv", ".parquet")):
            if path.suffix == ".csv":
                encoding = "gb18030" if contract.delivery.encoding == "gbk" else "utf-8"
                dtype = {c: ("float64" if c in numeric else "str") for c in columns}
                frame = pd.read_csv(path, usecols=columns, dtype=dtype, encoding=encoding, keep_default_na=False,
                                    na_values=[""])  # fmt: skip
            else:
                frame = pd.read_parquet(path, columns=columns)
                for c in numeric:
                    frame[c] = frame[c].astype("float64")
            frame["_as_of_date"] = pd.Timestamp(folder.name)
            frames.append(frame)
    if not frames:
        raise FileNotFoundError(f"no delivery of {source} on or before {day} under {inbox / source}")
    out = pd.concat(frames, ignore_index=True)
    for c in dates:
        out[c] = pd.to_datetime(out[c], format="%Y-%m-%d")
    return out


def read_external(inbox: Path, source: str, day: date) -> pd.DataFrame:
    """The vendor's publications dated on or before D, one row per record, ``_as_of_date`` = publication:
    ``<inbox>/_api/<source>/<D>.json`` as generated, or ``<landing>/<source>/<D>/*.json`` as landed."""
    api = inbox / "_api" / source
    if api.is_dir():
        found = [(date.fromisoformat(p.stem), p) for p in sorted(api.glob("*.json"))]
    else:
        found = [
            (date.fromisoformat(f.name), p)
            for f in _delivery_dates(inbox / source, day)
            for p in sorted(f.glob("*.json"))
        ]
    frames = []
    for published, path in found:
        if published <= day:
            records = pd.DataFrame(json.loads(path.read_text(encoding="utf-8"))["records"])
            records["_as_of_date"] = pd.Timestamp(published)
            frames.append(records)
    if not frames:
        raise FileNotFoundError(f"no {source} publication on or before {day} under {inbox}")
    out = pd.concat(frames, ignore_index=True)
    for c in ("indicator_month", "quarter_end_date"):
        if c in out:
            out[c] = pd.to_datetime(out[c], format="%Y-%m-%d")
    return out


def read_seeds() -> dict[str, pd.DataFrame]:
    return {
        name: pd.read_csv(SEEDS / f"{name}.csv", dtype={"code_prefix": str, "region_code": str, "province_code": str})
        for name in ("ref_products", "ref_rating_master_scale", "ref_regions", "ref_sme_industry_groups",
                     "ref_sme_size_thresholds", "ref_asset_classes")
    }  # fmt: skip


def read_inputs(inbox: Path, day: date) -> dict[str, pd.DataFrame]:
    frames = {s: read_source(inbox, s, day) for s in INTERNAL_SOURCES}
    frames |= {s: read_external(inbox, s, day) for s in EXTERNAL_SOURCES}
    return frames


# --- the rows the loader would quarantine ----------------------------------------------------------------------


def valid_uscc(codes: pd.Series) -> np.ndarray:
    """GB 32100-2015: 18 characters of the charset, a known department, six region digits, the check
    character of the mod-31 weighted sum."""
    s = codes.fillna("").astype(str)
    ok = s.str.fullmatch(r"[0-9A-HJ-NP-RTUW-Y]{18}").to_numpy() & s.str[0].isin(list("123456789ANY")).to_numpy()
    ok &= s.str[2:8].str.fullmatch(r"[0-9]{6}").to_numpy()
    chars = np.array([list(c) if good else ["0"] * 18 for c, good in zip(s, ok, strict=True)]).reshape(-1, 18)
    lookup = {c: i for i, c in enumerate(USCC_CHARSET)}
    values = np.vectorize(lookup.get, otypes=[int])(chars) if len(chars) else np.zeros((0, 18), dtype=int)
    check = (31 - (values[:, :17] @ USCC_WEIGHTS) % 31) % 31
    return ok & (check == values[:, 17])


def drop_quarantined(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Clients with an invalid USCC, and every row whose client or facility is not a valid one."""
    out = dict(frames)
    clients = frames["clients"]
    out["clients"] = clients[valid_uscc(clients["uscc"])].reset_index(drop=True)
    client_ids = set(out["clients"]["client_id"])
    for source in INTERNAL_SOURCES[1:]:
        frame = out[source]
        out[source] = frame[frame["client_id"].isin(client_ids)].reset_index(drop=True)
    facility_ids = set(out["facilities"]["facility_id"])
    for source in ("collateral", "repayments"):
        frame = out[source]
        out[source] = frame[frame["facility_id"].isin(facility_ids)].reset_index(drop=True)
    return out


# --- the profile -----------------------------------------------------------------------------------------------


def latest(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """A master source's state at D: each key's last delivery (a key repeated within a delivery: its first row,
    as the loader keeps)."""
    first = frame.drop_duplicates([key, "_as_of_date"], keep="first")
    return (
        first.sort_values([key, "_as_of_date"], kind="stable").drop_duplicates(key, keep="last").reset_index(drop=True)
    )


def safe_divide(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """Null, never infinite, when the denominator is zero or missing."""
    return numerator / denominator.where(denominator != 0)


def months_between(start: pd.Series, day: pd.Timestamp) -> pd.Series:
    """Whole months from ``start`` to D (a month counts when D's day of month is reached, or D is a month end)."""
    months = (day.year - start.dt.year) * 12 + (day.month - start.dt.month)
    short = (day.day < start.dt.day) & (not day.is_month_end)
    return months - short.astype(int)


def month_diff(later: pd.Series, earlier: pd.Series) -> pd.Series:
    """Calendar month boundaries crossed between two dates."""
    return (later.dt.year - earlier.dt.year) * 12 + (later.dt.month - earlier.dt.month)


def client_master(clients: pd.DataFrame, regions: pd.DataFrame) -> pd.DataFrame:
    c = latest(clients, "client_id")
    c["industry_section_code"] = c["industry_code"].str[0]
    tiers = regions.set_index("region_code")["economic_tier"]
    c["region_economic_tier"] = c["region_code"].map(tiers).fillna((c["region_code"].str[:2] + "0000").map(tiers))
    return c


def annual_statements(statements: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    s = statements
    return s[(s["period_type"] == "annual") & (s["reported_date"] <= day) & (s["_as_of_date"] <= day)]


def with_ratios(current: pd.DataFrame, prior: pd.DataFrame) -> pd.DataFrame:
    """The financial ratios of each statement; growth only against the fiscal year just before."""
    out = current.copy()
    out["leverage_ratio"] = safe_divide(current["total_liabilities_cny"], current["total_assets_cny"])
    out["current_ratio"] = safe_divide(current["current_assets_cny"], current["current_liabilities_cny"])
    out["interest_coverage_ratio"] = safe_divide(current["ebit_cny"], current["interest_expense_cny"])
    out["debt_service_coverage_ratio"] = safe_divide(current["ebitda_cny"], current["debt_service_due_cny"])
    out["return_on_assets"] = safe_divide(current["net_profit_cny"], current["total_assets_cny"])
    out["net_margin"] = safe_divide(current["net_profit_cny"], current["revenue_cny"])
    one_year = month_diff(current["period_end_date"], prior["period_end_date"]) == 12
    out["revenue_growth_yoy"] = (safe_divide(current["revenue_cny"], prior["revenue_cny"]) - 1).where(one_year)
    return out


RATIOS = ("leverage_ratio", "current_ratio", "interest_coverage_ratio", "debt_service_coverage_ratio",
          "return_on_assets", "net_margin", "revenue_growth_yoy")  # fmt: skip


def financial_ratios(statements: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    """The latest annual statement known at D per client, with the one ranked before it as the prior year."""
    ranked = annual_statements(statements, day).sort_values(
        ["client_id", "period_end_date", "reported_date", "statement_id"], ascending=[True, False, False, False]
    )
    ranked["recency"] = ranked.groupby("client_id").cumcount() + 1
    current = ranked[ranked["recency"] == 1].set_index("client_id")
    prior = ranked[ranked["recency"] == 2].set_index("client_id").reindex(current.index)
    out = with_ratios(current, prior)
    return out[["revenue_cny", "total_assets_cny", *RATIOS]]


def ratings_in_force(ratings: pd.DataFrame, scale: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    decisions = ratings[ratings["_as_of_date"] <= day].merge(scale[["grade", "grade_rank", "ttc_pd"]], on="grade")
    order = ["client_id", "rating_date", "rating_id"]

    def in_force(upto: pd.Timestamp) -> pd.DataFrame:
        known = decisions[decisions["rating_date"] <= upto].sort_values(order)
        return known.drop_duplicates("client_id", keep="last").set_index("client_id")

    now, year_ago = in_force(day), in_force(day - pd.DateOffset(months=12))
    out = pd.DataFrame({"current_grade": now["grade"], "ttc_pd": now["ttc_pd"]})
    out["notches_downgraded_12m"] = now["grade_rank"] - year_ago["grade_rank"].reindex(now.index)
    out["is_defaulted_grade"] = now["grade"] == "D"
    return out


def facility_states(facilities: pd.DataFrame, products: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    f = latest(facilities, "facility_id").merge(products[["product_code", "product_family", "ccf"]],
                                                on="product_code", how="left")  # fmt: skip
    f["is_on_book"] = f["facility_status"].isin(["active", "defaulted"])
    f["undrawn_cny"] = (f["limit_cny"] - f["drawn_balance_cny"]).clip(lower=0)
    f["ead_cny"] = np.where(f["is_on_book"], f["drawn_balance_cny"] + f["ccf"] * f["undrawn_cny"], 0.0)
    f["remaining_maturity_days"] = (f["maturity_date"] - day).dt.days.clip(lower=0)
    f["remaining_maturity_years"] = f["remaining_maturity_days"] / 365.25
    return f


def collateral_per_facility(collateral: pd.DataFrame) -> pd.DataFrame:
    active = latest(collateral, "collateral_id")
    active = active[active["collateral_status"] == "active"]
    main = active.sort_values(["facility_id", "appraised_value_cny", "collateral_id"], ascending=[True, False, True])
    out = active.groupby("facility_id").agg(collateral_value_cny=("appraised_value_cny", "sum"))
    out["main_collateral_type"] = main.drop_duplicates("facility_id").set_index("facility_id")["collateral_type"]
    return out


def repayment_behaviour(repayments: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    """Per facility: an instalment is past due from the day after its due date until paid; a payment counts
    once its record is delivered."""
    r = repayments
    r = r.assign(scheduled=r["scheduled_principal_cny"] + r["scheduled_interest_cny"],
                 paid_delivered=r["_as_of_date"].where(r["paid_date"].notna()))  # fmt: skip
    inst = r.groupby(["facility_id", "installment_no"], sort=False).agg(
        client_id=("client_id", "first"), due_date=("due_date", "min"), scheduled=("scheduled", "max"),
        first_delivered=("_as_of_date", "min"), paid_date=("paid_date", "min"),
        paid_delivered=("paid_delivered", "min"),
    )  # fmt: skip
    inst = inst[(inst["first_delivered"] <= day) & (inst["due_date"] <= day)]
    paid = inst["paid_date"].where((inst["paid_delivered"] <= day) & (inst["paid_date"] <= day))
    unpaid_past_due = paid.isna() & (inst["due_date"] < day)
    end = paid.fillna(day)
    dpd = (end - inst["due_date"]).dt.days.clip(lower=0)
    due_12m = inst["due_date"] > day - pd.DateOffset(months=12)
    measures = pd.DataFrame({
        "client_id": inst["client_id"],
        "current_dpd": dpd.where(unpaid_past_due, 0),
        "max_dpd_3m": dpd.where(end >= day - pd.DateOffset(months=3), 0),
        "max_dpd_12m": dpd.where(end >= day - pd.DateOffset(months=12), 0),
        "arrears_cny": inst["scheduled"].where(unpaid_past_due, 0.0),
        "instalments_due_12m": due_12m.astype(int),
        "instalments_paid_on_time_12m": (due_12m & (paid <= inst["due_date"])).astype(int),
    })  # fmt: skip
    return measures.groupby(level="facility_id").agg(
        client_id=("client_id", "first"), current_dpd=("current_dpd", "max"), max_dpd_3m=("max_dpd_3m", "max"),
        max_dpd_12m=("max_dpd_12m", "max"), arrears_cny=("arrears_cny", "sum"),
        instalments_due_12m=("instalments_due_12m", "sum"),
        instalments_paid_on_time_12m=("instalments_paid_on_time_12m", "sum"),
    )  # fmt: skip


def asset_classes(facilities: pd.DataFrame, behaviour: pd.DataFrame, ratings: pd.DataFrame) -> pd.DataFrame:
    """The five-tier floor per on-book or written-off facility, with the 10 % rule for the debtor."""
    f = facilities[facilities["is_on_book"] | (facilities["facility_status"] == "written_off")]
    f = f[["facility_id", "client_id", "facility_status", "drawn_balance_cny"]].copy()
    dpd = f["facility_id"].map(behaviour["current_dpd"]).fillna(0)
    rated_default = f["client_id"].map(ratings["is_defaulted_grade"]).fillna(False).astype(bool)
    by_dpd = np.select([dpd > 360, dpd > 270, dpd > 90, dpd > 0], [5, 4, 3, 2], 1)
    by_status = np.where(f["facility_status"] == "written_off", 5, 1)
    by_default = np.where((f["facility_status"] == "defaulted") | rated_default, 3, 1)
    f["own"] = np.maximum.reduce([by_dpd, by_status, by_default])
    f["np_drawn"] = f["drawn_balance_cny"].where(f["own"] >= 3, 0.0)
    per_client = f.groupby("client_id")[["np_drawn", "drawn_balance_cny"]].transform("sum")
    share = per_client["np_drawn"] / per_client["drawn_balance_cny"].where(per_client["drawn_balance_cny"] != 0)
    f["rank"] = np.where(share > 0.10, np.maximum(f["own"], 3), f["own"])
    return f


def exposures(facilities: pd.DataFrame, collateral: pd.DataFrame) -> pd.DataFrame:
    f = facilities[facilities["is_on_book"]].copy()
    f["collateral_value_cny"] = f["facility_id"].map(collateral["collateral_value_cny"]).fillna(0.0)
    f["rate_x_balance"] = f["interest_rate_pct"] * f["drawn_balance_cny"]
    f["days_x_balance"] = f["drawn_balance_cny"] * f["remaining_maturity_days"]
    for product in LENDING_PRODUCTS:
        f[f"drawn_{product}_cny"] = f["drawn_balance_cny"].where(f["product_code"] == product, 0.0)
    sums = ["limit_cny", "drawn_balance_cny", "undrawn_cny", "ead_cny", "collateral_value_cny", "rate_x_balance",
            "days_x_balance", *(f"drawn_{p}_cny" for p in LENDING_PRODUCTS)]  # fmt: skip
    out = f.groupby("client_id")[sums].sum()
    out["facilities_on_book"] = f.groupby("client_id").size()
    out["utilisation_ratio"] = safe_divide(out["drawn_balance_cny"], out["limit_cny"])
    out["weighted_interest_rate_pct"] = safe_divide(out["rate_x_balance"], out["drawn_balance_cny"])
    out["weighted_remaining_maturity_years"] = safe_divide(out["days_x_balance"], out["drawn_balance_cny"]) / 365.25
    out["collateral_coverage_ratio"] = safe_divide(out["collateral_value_cny"], out["ead_cny"])
    return out.drop(columns=["rate_x_balance", "days_x_balance"])


def relationships(clients: pd.DataFrame, facilities: pd.DataFrame, holdings: pd.DataFrame, fees: pd.DataFrame,
                  products: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:  # fmt: skip
    """Tenure, products in use, deposits at D and fee income over twelve months."""
    h = latest(holdings, "holding_id").merge(products[["product_code", "product_family"]], on="product_code",
                                              how="left")  # fmt: skip
    open_h = h[(h["holding_status"] == "active") & (h["opened_date"] <= day)
               & (h["closed_date"].isna() | (h["closed_date"] > day))]  # fmt: skip
    in_use = pd.concat(
        [
            open_h[["client_id", "product_code", "product_family"]],
            facilities.loc[facilities["is_on_book"], ["client_id", "product_code", "product_family"]],
        ]
    )
    by_client = in_use.groupby("client_id")
    out = pd.DataFrame({
        "products_held": by_client["product_code"].nunique(),
        "lending_products_held": in_use[in_use["product_family"] == "lending"].groupby("client_id")[
            "product_code"].nunique(),
        "product_families_held": by_client["product_family"].nunique(),
        "deposit_balance_cny": open_h[open_h["product_family"] == "deposit"].groupby("client_id")["balance_cny"].sum(),
    }).reindex(clients["client_id"])  # fmt: skip
    recent = fees[(fees["fee_date"] <= day) & (fees["fee_date"] > day - pd.DateOffset(months=12))
                  & (fees["_as_of_date"] <= day)]  # fmt: skip
    out["fee_income_12m_cny"] = recent.groupby("client_id")["amount_cny"].sum()
    out["fee_events_12m"] = recent.groupby("client_id").size()
    out = out.fillna(0)
    onboarded = clients.set_index("client_id")["onboarded_date"]
    out["tenure_months"] = months_between(onboarded, day).where(onboarded <= day)
    return out


def macro_at(macro: pd.DataFrame, day: pd.Timestamp) -> dict[str, float]:
    """The latest actual month known at D, and each scenario's mean GDP forecast over the next twelve months."""
    known = macro[macro["_as_of_date"] <= day].sort_values("_as_of_date")
    known = known.drop_duplicates(["indicator_month", "scenario"], keep="last")
    actual = known[~known["is_forecast"] & (known["scenario"] == "baseline") & (known["indicator_month"] <= day)]
    last = actual.sort_values("indicator_month").iloc[-1]
    out = {"lpr_1y_pct": float(last["lpr_1y_pct"]), "lpr_5y_pct": float(last["lpr_5y_pct"])}
    ahead = known[known["is_forecast"] & (known["indicator_month"] > day)
                  & (known["indicator_month"] <= day + pd.DateOffset(months=12))]  # fmt: skip
    for scenario in ("baseline", "adverse", "severe"):
        values = ahead.loc[ahead["scenario"] == scenario, "gdp_growth_pct"].round(4)
        out[f"gdp_growth_next_12m_{scenario}_pct"] = float(values.mean()) if len(values) else math.nan
    return out


def industry_at(industry: pd.DataFrame, day: pd.Timestamp) -> pd.Series:
    """Output growth of each section's latest quarter ended by D, as delivered by D."""
    known = industry[(industry["_as_of_date"] <= day) & (industry["quarter_end_date"] <= day)]
    known = known.sort_values("_as_of_date").drop_duplicates(["quarter_end_date", "section_code"], keep="last")
    last = known.sort_values("quarter_end_date").drop_duplicates("section_code", keep="last")
    return last.set_index("section_code")["output_growth_pct"]


def enterprise_sizes(clients: pd.DataFrame, ratios: pd.DataFrame, groups: pd.DataFrame,
                     thresholds: pd.DataFrame) -> pd.DataFrame:  # fmt: skip
    """SME standard: the industry line by the longest code prefix; every listed minimum met for a tier."""
    c = clients.set_index("client_id")
    out = pd.DataFrame(index=c.index)
    out["employees"] = c["employees"]
    out["size_revenue_cny"] = c["annual_revenue_cny"].fillna(ratios["revenue_cny"].reindex(c.index))
    out["size_total_assets_cny"] = c["total_assets_cny"].fillna(ratios["total_assets_cny"].reindex(c.index))
    digits = c["industry_code"].str[1:]
    group = pd.Series(pd.NA, index=c.index, dtype="object")
    for prefix, line in sorted(zip(groups["code_prefix"], groups["industry_group"], strict=True),
                               key=lambda p: len(p[0])):  # fmt: skip
        group[digits.str.startswith(prefix)] = line  # longer prefixes come later and win
    bounds = thresholds.set_index(["industry_group", "size_class"])
    measures = {"employees_min": out["employees"], "revenue_min_cny": out["size_revenue_cny"],
                "total_assets_min_cny": out["size_total_assets_cny"]}  # fmt: skip

    def meets(tier: str) -> np.ndarray:
        ok = np.ones(len(c), dtype=bool)
        for column, measure in measures.items():
            bound = group.map(bounds.xs(tier, level="size_class")[column]).astype(float)
            ok &= (bound.isna() | (measure >= bound)).to_numpy()
        return ok

    small = bounds.xs("small", level="size_class")
    below_small = np.zeros(len(c), dtype=bool)
    for column, measure in measures.items():
        below_small |= (measure < group.map(small[column]).astype(float)).to_numpy()
    in_standard = group.isin(set(thresholds["industry_group"])).to_numpy()
    out["enterprise_size"] = np.select(
        [~in_standard, meets("large"), meets("medium"), meets("small"), below_small],
        ["unclassified", "large", "medium", "small", "micro"], "unclassified",
    )  # fmt: skip
    return out


def build_profile(frames: dict[str, pd.DataFrame], seeds: dict[str, pd.DataFrame], day: date
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """The profile of D (one row per client known at D, indexed by client_id) and the facilities at D."""
    d = pd.Timestamp(day)
    products = seeds["ref_products"]
    clients = client_master(frames["clients"], seeds["ref_regions"])
    ratios = financial_ratios(frames["financial_statements"], d)
    ratings = ratings_in_force(frames["ratings"], seeds["ref_rating_master_scale"], d)
    facilities = facility_states(frames["facilities"], products, d)
    collateral = collateral_per_facility(frames["collateral"])
    behaviour = repayment_behaviour(frames["repayments"], d)
    classes = asset_classes(facilities, behaviour, ratings)
    facilities["current_dpd"] = facilities["facility_id"].map(behaviour["current_dpd"]).fillna(0)
    facilities = facilities.join(collateral, on="facility_id")
    facilities["collateral_value_cny"] = facilities["collateral_value_cny"].fillna(0.0)

    p = clients.set_index("client_id")[["client_status", "industry_section_code", "region_economic_tier",
                                        "onboarded_date"]].copy()  # fmt: skip
    p = p.join(enterprise_sizes(clients, ratios, seeds["ref_sme_industry_groups"], seeds["ref_sme_size_thresholds"]))
    p = p.join(ratios[list(RATIOS)])
    p = p.join(ratings)
    p["is_defaulted_grade"] = p["is_defaulted_grade"].fillna(False).astype(bool)
    repay = behaviour.groupby("client_id").agg(
        current_dpd=("current_dpd", "max"), max_dpd_3m=("max_dpd_3m", "max"), max_dpd_12m=("max_dpd_12m", "max"),
        arrears_cny=("arrears_cny", "sum"), instalments_due_12m=("instalments_due_12m", "sum"),
        on_time=("instalments_paid_on_time_12m", "sum"),
    )  # fmt: skip
    repay["on_time_payment_rate_12m"] = safe_divide(repay["on_time"], repay["instalments_due_12m"])
    p = p.join(repay.drop(columns="on_time"))
    for column in ("current_dpd", "max_dpd_3m", "max_dpd_12m", "arrears_cny", "instalments_due_12m"):
        p[column] = p[column].fillna(0)
    p["dpd_bucket"] = np.select(
        [p["current_dpd"] <= 0, p["current_dpd"] <= 30, p["current_dpd"] <= 60, p["current_dpd"] <= 90],
        ["0", "1-30", "31-60", "61-90"], "90+",
    )  # fmt: skip
    exposure = exposures(facilities, collateral)
    p = p.join(exposure)
    for column in ("facilities_on_book", "limit_cny", "drawn_balance_cny", "undrawn_cny", "ead_cny",
                   "collateral_value_cny", *(f"drawn_{x}_cny" for x in LENDING_PRODUCTS)):  # fmt: skip
        p[column] = p[column].fillna(0)
    worst = classes.groupby("client_id").agg(
        rank=("rank", "max"), non_performing_facilities=("rank", lambda r: (r >= 3).sum())
    )
    scale = seeds["ref_asset_classes"].set_index("asset_class_rank")
    p["asset_class"] = worst["rank"].map(scale["asset_class"])
    p["is_non_performing"] = worst["rank"].map(scale["is_non_performing"]).astype("boolean")
    p["non_performing_facilities"] = worst["non_performing_facilities"].reindex(p.index).fillna(0)
    p = p.join(relationships(clients, facilities, frames["product_holdings"], frames["fee_income"], products, d))
    for column, value in macro_at(frames["macro_indicators"], d).items():
        p[column] = value
    p["industry_output_growth_pct"] = p["industry_section_code"].map(industry_at(frames["industry_indicators"], d))
    return p, facilities


# --- calibration samples (fitted by the pipeline's fitting functions) -------------------------------------------


def first_defaults(ratings: pd.DataFrame, scale: pd.DataFrame, day: pd.Timestamp) -> pd.Series:
    """Each client's first rating at a defaulted grade (TTC PD of 100 %) dated and delivered by D."""
    defaulted = set(scale.loc[scale["ttc_pd"] >= 1, "grade"])
    r = ratings[(ratings["rating_date"] <= day) & (ratings["_as_of_date"] <= day) & ratings["grade"].isin(defaulted)]
    return r.groupby("client_id")["rating_date"].min().rename("default_date")


def relationship_spells(frames: dict[str, pd.DataFrame], profile: pd.DataFrame, defaults: pd.Series,
                        day: pd.Timestamp) -> pd.DataFrame:  # fmt: skip
    """Every relationship from onboarding to its end (closed: the last closing date of its holdings, else the
    first delivery that reported the client closed)."""
    p = profile[profile["onboarded_date"].notna()]
    holdings = frames["product_holdings"]
    last_closed = holdings[holdings["_as_of_date"] <= day].groupby("client_id")["closed_date"].max()
    clients = frames["clients"]
    closed = clients[(clients["client_status"] == "closed") & (clients["_as_of_date"] <= day)]
    first_closed = closed.groupby("client_id")["_as_of_date"].min()
    # reindex, not map: mapping through an empty date series (no client closed yet) fails in pandas 3
    ends = last_closed.reindex(p.index).fillna(first_closed.reindex(p.index))
    spells = pd.DataFrame({
        "client_id": p.index,
        "onboarded_date": p["onboarded_date"],
        "relationship_end_date": ends.where(ends > p["onboarded_date"], p["onboarded_date"]).where(
            p["client_status"] == "closed"),
        "default_date": defaults.reindex(p.index),
        "client_status": p["client_status"],
        "enterprise_size": p["enterprise_size"],
        "industry_section_code": p["industry_section_code"],
        "region_economic_tier": p["region_economic_tier"],
    }).reset_index(drop=True)  # fmt: skip
    return spells.sort_values("client_id", kind="stable").reset_index(drop=True)


def scorecard_observations(statements: pd.DataFrame, defaults: pd.Series, day: pd.Timestamp) -> pd.DataFrame:
    """Every annual statement as first reported, its ratios, and the client's first default, for clients
    performing when it arrived; in the order the pipeline reads them (the train/holdout split follows it)."""
    s = annual_statements(statements, day).sort_values(
        ["client_id", "period_end_date", "reported_date", "_as_of_date", "statement_id"]
    )
    first = s.drop_duplicates(["client_id", "period_end_date"], keep="first")
    prior = first[["client_id", "period_end_date", "revenue_cny"]].copy()
    prior["period_end_date"] = prior["period_end_date"] + pd.DateOffset(years=1)
    joined = first.merge(prior, on=["client_id", "period_end_date"], how="left", suffixes=("", "_prior"))
    prior_frame = pd.DataFrame(
        {
            "revenue_cny": joined["revenue_cny_prior"],
            "period_end_date": joined["period_end_date"] - pd.DateOffset(years=1),
        }
    )
    out = with_ratios(joined, prior_frame)
    out["observation_date"] = out["reported_date"]
    out["default_date"] = defaults.reindex(out["client_id"]).to_numpy()
    out = out[out["default_date"].isna() | (out["default_date"] > out["reported_date"])]
    return out.sort_values(["client_id", "statement_id", "observation_date"]).reset_index(drop=True)


# --- the CLV ---------------------------------------------------------------------------------------------------


def ncdf(x: np.ndarray) -> np.ndarray:
    return ndtr(x)


def asset_correlation(pd_: np.ndarray, turnover: np.ndarray, floor: float, cap: float) -> np.ndarray:
    """Basel II para. 272-273, less up to 0.04 for turnover below the SME cap (unknown turnover: none)."""
    weight = (1 - np.exp(-50 * pd_)) / (1 - np.exp(-50))
    r = 0.12 * weight + 0.24 * (1 - weight)
    sme = np.isfinite(turnover) & (turnover < cap)
    s = np.clip(np.nan_to_num(turnover, nan=cap), floor, cap)
    return r - np.where(sme, 0.04 * (1 - (s - floor) / (cap - floor)), 0.0)


def irb_capital(pd_: np.ndarray, lgd: np.ndarray, maturity: np.ndarray, turnover: np.ndarray, params) -> np.ndarray:  # noqa: ANN001
    """K per unit of EAD (IRB foundation, corporate); none for a defaulted exposure."""
    cap = params.capital
    defaulted = pd_ >= 1
    p = np.where(defaulted, 0.5, np.maximum(pd_, cap.pd_floor))
    r = asset_correlation(p, turnover, cap.sme_turnover_floor_cny, cap.sme_turnover_cap_cny)
    b = (0.11852 - 0.05478 * np.log(p)) ** 2
    m = np.clip(maturity, 1, 5)
    k = (
        (lgd * ncdf((ndtri(p) + np.sqrt(r) * ndtri(cap.confidence)) / np.sqrt(1 - r)) - p * lgd)
        * (1 + (m - 2.5) * b)
        / (1 - 1.5 * b)
    )
    return np.where(defaulted, 0.0, k)


def scorecard_pd(card, profile: pd.DataFrame) -> np.ndarray:  # noqa: ANN001 - a fitted python_tasks Scorecard
    """The fitted logistic scorecard on the profile's ratios: winsorised, median-filled, standardised."""
    x = profile[list(card.features)].to_numpy(dtype=float)
    x = np.where(np.isfinite(x), x, np.nan)
    x = np.clip(x, card.lower, card.upper)
    x = np.where(np.isnan(x), card.median, x)
    z = ((x - card.mean) / card.scale) @ card.coefficients + card.intercept
    return 1 / (1 + np.exp(-z))


def engine_clients(profile: pd.DataFrame, fits: dict, params) -> pd.DataFrame:  # noqa: ANN001
    """One row per client: the PD the CLV uses, default and prospect status, retention parameters."""
    p = profile
    defaulted = (
        p["is_defaulted_grade"]
        | (p["client_status"] == "defaulted")
        | p["is_non_performing"].fillna(False).astype(bool)
    )
    card = fits["scorecard"].scorecard
    unrated = scorecard_pd(card, p) if card is not None else np.full(len(p), fits["scorecard"].fallback_pd)
    ttc = np.where(p["ttc_pd"].notna(), p["ttc_pd"], unrated)
    segment_column = params.retention.segment_column
    by_segment = {f.segment: f for f in fits["retention"]}
    overall = by_segment["(all)"]
    chosen = [by_segment.get(str(s), overall) if pd.notna(s) else overall for s in p[segment_column]]
    return pd.DataFrame({
        "is_prospect": p["client_status"] == "prospect",
        "is_defaulted": defaulted,
        "ttc_pd": np.where(defaulted, 1.0, ttc),
        "turnover_cny": p["size_revenue_cny"].astype(float),
        "fee_income_12m_cny": p["fee_income_12m_cny"].astype(float),
        "revenue_growth_yoy": p["revenue_growth_yoy"].astype(float),
        "industry_output_growth_pct": p["industry_output_growth_pct"].astype(float),
        "gdp_outlook_pct": p["gdp_growth_next_12m_baseline_pct"].astype(float),
        "lpr_1y_pct": p["lpr_1y_pct"], "lpr_5y_pct": p["lpr_5y_pct"],
        "asset_class": p["asset_class"].fillna("normal"),
        "renewals": np.floor(p["tenure_months"].fillna(0) / 12),
        "sbg_alpha": [f.alpha for f in chosen], "sbg_beta": [f.beta for f in chosen],
        "segment": p[segment_column].fillna("(none)").astype(str),
    }, index=p.index)  # fmt: skip


def engine_facilities(facilities: pd.DataFrame, clients: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    """The facilities on book with their product's cost rates, and the loan each prospect would take: a
    working-capital loan of its segment's median size and rate, for the product's typical tenor, unsecured."""
    cost_columns = ["product_code", "servicing_cost_bps", "monitoring_cost_bps", "origination_cost_cny"]
    f = facilities[facilities["is_on_book"]].merge(products[cost_columns], on="product_code", how="left")
    f = f[["facility_id", "client_id", "product_code", "drawn_balance_cny", "undrawn_cny", "ccf", "interest_rate_pct",
           "repayment_type", "remaining_maturity_years", "collateral_value_cny", "main_collateral_type",
           "servicing_cost_bps", "monitoring_cost_bps", "origination_cost_cny"]]  # fmt: skip
    prospects = clients[clients["is_prospect"]]
    if prospects.empty:
        return f
    wc = products.set_index("product_code").loc["working_capital_loan"]
    loans = f[(f["product_code"] == "working_capital_loan") & (f["drawn_balance_cny"] > 0)]
    loans = loans.assign(segment=loans["client_id"].map(clients["segment"]))
    peers = loans.groupby("segment")[["drawn_balance_cny", "interest_rate_pct"]].median()
    overall = loans[["drawn_balance_cny", "interest_rate_pct"]].median()
    sized = peers.reindex(prospects["segment"]).fillna(overall)
    synthetic = pd.DataFrame({
        "facility_id": "PROSPECT:" + prospects.index.to_series(),
        "client_id": prospects.index,
        "product_code": "working_capital_loan",
        "drawn_balance_cny": sized["drawn_balance_cny"].to_numpy(),
        "undrawn_cny": 0.0, "ccf": float(wc["ccf"]),
        "interest_rate_pct": sized["interest_rate_pct"].to_numpy(),
        "repayment_type": "bullet", "remaining_maturity_years": float(wc["typical_tenor_months"]) / 12,
        "collateral_value_cny": 0.0, "main_collateral_type": None,
        "servicing_cost_bps": float(wc["servicing_cost_bps"]), "monitoring_cost_bps": float(wc["monitoring_cost_bps"]),
        "origination_cost_cny": float(wc["origination_cost_cny"]),
    })  # fmt: skip
    return pd.concat([f, synthetic], ignore_index=True)


def value_baseline(clients: pd.DataFrame, facilities: pd.DataFrame, params) -> pd.DataFrame:  # noqa: ANN001
    """Baseline CLV per client: Σ_k S_k (NII + Fee − Cost − EL − CapCharge)_k / (1 + r)^(k/m) − acquisition.

    Facilities run off by contract in a facility × period frame; a client × period frame adds new business
    (today's drawn balance grown by g, less what the existing facilities still carry), survival (sBG
    retention × no default) and discounting; sums per client give the present values."""
    m, horizon = params.periods_per_year, params.periods
    floors = dict(params.lgd_floors)
    unsecured = floors.pop("unsecured")
    c = clients
    scenario = params.scenarios["baseline"]

    # facility level
    f = facilities.join(c[["lpr_1y_pct", "lpr_5y_pct", "asset_class", "ttc_pd", "turnover_cny"]], on="client_id")
    remaining = f["remaining_maturity_years"]
    f["n"] = np.ceil((remaining * m).round(6))
    tenor = remaining.clip(1, 5)
    f["ftp"] = f["lpr_1y_pct"] + (f["lpr_5y_pct"] - f["lpr_1y_pct"]) * (tenor - 1) / 4 + params.ftp_spread_bps / 100
    f["margin"] = (f["interest_rate_pct"] - f["ftp"]) / 100
    multiplier = f["asset_class"].map(params.monitoring_multipliers)
    f["cost_rate"] = (f["servicing_cost_bps"] + f["monitoring_cost_bps"] * multiplier) / 10_000
    f["ead0"] = f["drawn_balance_cny"] + f["ccf"] * f["undrawn_cny"]
    secured_floor = f["main_collateral_type"].map(floors)
    covered = np.minimum(f["collateral_value_cny"], f["ead0"]).where(secured_floor.notna(), 0.0)
    loss = covered * secured_floor.fillna(0) + (f["ead0"] - covered) * unsecured
    f["lgd"] = (loss / f["ead0"]).where(f["ead0"] > 0, unsecured)
    f["k_cap"] = irb_capital(np.maximum(f["ttc_pd"].to_numpy(), params.capital.pd_floor), f["lgd"].to_numpy(),
                             remaining.to_numpy(), f["turnover_cny"].to_numpy(), params)  # fmt: skip

    # facility × period: the balance outstanding during period k, by amortisation profile (the client as its
    # row number and the profile as a code: a string key on every one of facilities × 60 rows is what makes
    # such a frame slow and large)
    f["client"] = c.index.get_indexer(f["client_id"])
    profiles = ["bullet", "interest_only", "revolving", "equal_principal", "equal_installment"]
    f["profile"] = pd.Categorical(f["repayment_type"], categories=profiles).codes
    if (f["profile"] < 0).any():
        raise ValueError(f"unknown repayment types {sorted(set(f.loc[f['profile'] < 0, 'repayment_type']))}")
    f["undrawn_ead"] = f["ccf"] * f["undrawn_cny"]
    f["periodic_rate"] = f["interest_rate_pct"] / 100 / m
    grid = f[
        [
            "client",
            "drawn_balance_cny",
            "undrawn_ead",
            "periodic_rate",
            "profile",
            "n",
            "margin",
            "cost_rate",
            "lgd",
            "k_cap",
        ]
    ].merge(pd.DataFrame({"k": np.arange(1, horizon + 1, dtype=float)}), how="cross")
    k, n, i = grid["k"], grid["n"], grid["periodic_rate"]
    alive = k <= n
    linear = ((n - k + 1) / n.where(n > 0, 1)).where(alive, 0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        annuity = (((1 + i) ** n - (1 + i) ** (k - 1)) / ((1 + i) ** n - 1)).where(alive, 0.0)
    kind = grid["profile"]
    share = np.select([kind <= 2, (kind == 4) & (i > 0)], [alive.astype(float), annuity], linear)
    del linear, annuity
    grid["balance"] = grid["drawn_balance_cny"] * share
    grid["ead"] = grid["balance"] + grid["undrawn_ead"].where(alive, 0.0)
    del share, alive
    grid["nii"] = grid["balance"] * grid["margin"] / m
    grid["cost"] = grid["balance"] * grid["cost_rate"] / m
    grid["el_base"] = grid["ead"] * grid["lgd"]
    grid["capital_base"] = grid["ead"] * grid["k_cap"]
    flows = ["balance", "nii", "cost", "el_base", "capital_base"]
    paths = grid[["client", "k", *flows]].groupby(["client", "k"]).sum()
    del grid

    # the client's mix, which new business copies
    f["drawn_x_margin"] = f["drawn_balance_cny"] * f["margin"]
    f["drawn_x_cost"] = f["drawn_balance_cny"] * f["cost_rate"]
    f["ead_x_lgd"] = f["ead0"] * f["lgd"]
    f["ead_x_k"] = f["ead0"] * f["k_cap"]
    f["is_drawn"] = f["drawn_balance_cny"] > 0
    mix = f.groupby("client_id").agg(
        drawn=("drawn_balance_cny", "sum"), ead0=("ead0", "sum"), margin_s=("drawn_x_margin", "sum"),
        cost_s=("drawn_x_cost", "sum"), lgd_s=("ead_x_lgd", "sum"), k_s=("ead_x_k", "sum"),
        drawn_facilities=("is_drawn", "sum"), facilities=("drawn_balance_cny", "size"),
        origination_s=("origination_cost_cny", "sum"),
    ).reindex(c.index).fillna(0.0)  # fmt: skip

    def ratio(num: pd.Series, den: pd.Series, fallback: float) -> pd.Series:
        return (num / den.where(den > 0)).fillna(fallback)

    mix["margin"] = ratio(mix["margin_s"], mix["drawn"], 0.0)
    mix["cost_rate"] = ratio(mix["cost_s"], mix["drawn"], 0.0)
    mix["lgd"] = ratio(mix["lgd_s"], mix["ead0"], unsecured)
    mix["k_cap"] = ratio(mix["k_s"], mix["ead0"], 0.0)
    mix["ead_per_drawn"] = ratio(mix["ead0"], mix["drawn"], 1.0)
    mix["origination"] = ratio(mix["origination_s"], mix["facilities"], 0.0)
    mix["size"] = ratio(mix["drawn"], mix["drawn_facilities"], 0.0)
    mix["origination_per_cny"] = ratio(mix["origination"], mix["size"], 0.0)

    # client level: PD, growth
    defaulted = c["is_defaulted"].to_numpy() | (c["ttc_pd"].to_numpy() >= 1)
    ttc = np.where(defaulted, 1.0, np.maximum(c["ttc_pd"].to_numpy(), params.capital.pd_floor))
    macro, nb = params.macro, params.new_business
    outlook = c["gdp_outlook_pct"].to_numpy()
    z = np.clip(np.nan_to_num((outlook - macro.gdp_long_run_mean_pct) / macro.gdp_sd_pct),
                -macro.max_abs_systematic_factor, macro.max_abs_systematic_factor)  # fmt: skip
    turnover = c["turnover_cny"].to_numpy(dtype=float)
    rho = asset_correlation(np.where(defaulted, 0.5, ttc), turnover, params.capital.sme_turnover_floor_cny,
                            params.capital.sme_turnover_cap_cny)  # fmt: skip
    inner = np.clip(ttc, 1e-12, 1 - 1e-12)
    pit = np.where(defaulted, 1.0, ncdf((ndtri(inner) - np.sqrt(rho) * z) / np.sqrt(1 - rho)))
    revenue = c["revenue_growth_yoy"].replace([np.inf, -np.inf], np.nan).fillna(0).to_numpy()
    g = (nb.revenue_growth_weight * revenue
         + nb.industry_growth_weight * c["industry_output_growth_pct"].fillna(0).to_numpy() / 100
         + nb.gdp_gap_weight * np.nan_to_num(outlook - macro.gdp_long_run_mean_pct) / 100
         + scenario.growth_shift_pp / 100)  # fmt: skip
    g = np.clip(g, nb.growth_floor, nb.growth_cap)
    level = pd.DataFrame({"ttc": ttc, "pit": pit, "g": g, "defaulted": defaulted}, index=c.index)
    level = level.join(c[["sbg_alpha", "sbg_beta", "renewals", "fee_income_12m_cny"]]).join(mix)

    # client × period: new business, survival and discounting
    needed = ["ttc", "pit", "g", "defaulted", "sbg_alpha", "sbg_beta", "renewals", "fee_income_12m_cny", "drawn",
              "margin", "cost_rate", "lgd", "k_cap", "ead_per_drawn", "origination_per_cny"]  # fmt: skip
    cp = level[needed].reset_index(drop=True).rename_axis("client").reset_index()
    cp = cp.merge(pd.DataFrame({"k": np.arange(1, horizon + 1, dtype=float)}), how="cross")
    cp = cp.join(paths, on=["client", "k"])
    cp[flows] = cp[flows].fillna(0.0)
    years = cp["k"] / m
    cp["grown"] = (1 + cp["g"]) ** years
    cp["new"] = (cp["drawn"] * cp["grown"] - cp["balance"]).clip(lower=0) if nb.renew_maturing else 0.0
    cp["booked"] = (cp["new"] - cp.groupby("client")["new"].shift(fill_value=0.0)).clip(lower=0)
    annual_pd = cp["pit"].where(cp["k"] <= m, cp["ttc"]).clip(upper=1 - 1e-12)
    cp["q"] = 1 - (1 - annual_pd) ** (1 / m)
    cp["no_default"] = (1 - cp["q"]).groupby(cp["client"]).cumprod()
    b = cp["sbg_beta"] + cp["renewals"]
    retention = np.exp(betaln(cp["sbg_alpha"], b + years) - betaln(cp["sbg_alpha"], b)).where(~cp["defaulted"], 0.0)
    cp["w"] = retention * cp["no_default"] / (1 + params.discount_rate) ** years
    del b, retention, annual_pd, years
    cp["pv_nii"] = cp["w"] * (cp["nii"] + cp["new"] * cp["margin"] / m)
    cp["pv_fee"] = cp["w"] * cp["fee_income_12m_cny"] / m * cp["grown"]
    cp["pv_cost"] = cp["w"] * (cp["cost"] + cp["new"] * cp["cost_rate"] / m + cp["booked"] * cp["origination_per_cny"])
    cp["pv_el"] = cp["w"] * cp["q"] * (cp["el_base"] + cp["new"] * cp["ead_per_drawn"] * cp["lgd"])
    cp["pv_cap"] = (
        cp["w"] * params.cost_of_equity / m * (cp["capital_base"] + cp["new"] * cp["ead_per_drawn"] * cp["k_cap"])
    )
    pv = cp.groupby("client")[["pv_nii", "pv_fee", "pv_cost", "pv_el", "pv_cap"]].sum()
    pv.index = c.index[pv.index]
    del cp

    acquisition = np.where(c["is_prospect"], params.prospects.acquisition_cost_cny + level["origination"], 0.0)
    immediate_loss = np.where(defaulted, level["lgd"] * level["ead0"], 0.0)
    out = pd.DataFrame(index=c.index)
    out["pv_nii_cny"] = pv["pv_nii"]
    out["pv_fee_cny"] = pv["pv_fee"]
    out["pv_cost_cny"] = pv["pv_cost"]
    out["pv_expected_loss_cny"] = pv["pv_el"] + immediate_loss
    out["pv_capital_charge_cny"] = pv["pv_cap"]
    out["acquisition_cost_cny"] = acquisition
    out["clv_cny"] = (pv["pv_nii"] + pv["pv_fee"] - pv["pv_cost"] - pv["pv_el"] - pv["pv_cap"] - acquisition
                      - immediate_loss)  # fmt: skip
    out["value_ttc_pd"] = ttc
    out["pit_pd"] = pit
    out["lgd"] = level["lgd"]
    out["value_ead_cny"] = level["ead0"]
    out["capital_cny"] = level["k_cap"] * level["ead0"]
    out["growth_rate"] = g
    return out


def fit_models(
    frames: dict[str, pd.DataFrame], profile: pd.DataFrame, seeds: dict[str, pd.DataFrame], day: date, params
) -> dict:  # noqa: ANN001
    """Retention and scorecard by the pipeline's fitting functions on the samples built here."""
    from python_tasks.clv.calibration import fit_retention, fit_unrated_pd

    d = pd.Timestamp(day)
    defaults = first_defaults(frames["ratings"], seeds["ref_rating_master_scale"], d)
    spells = relationship_spells(frames, profile, defaults, d)
    observations = scorecard_observations(frames["financial_statements"], defaults, d)
    r = params.retention
    retention = fit_retention(spells, day, r.segment_column, r.min_clients_per_segment, r.cohort_years)
    rated_mean = float(profile["ttc_pd"].where(profile["ttc_pd"] < 1).mean())
    scorecard = fit_unrated_pd(observations, day, params.scorecard.outcome_window_months, params.scorecard.seed,
                               rated_mean)  # fmt: skip
    return {"retention": retention, "scorecard": scorecard}


def load_parameters(path: Path | None = None):  # noqa: ANN201 - ClvParams
    from python_tasks.clv.params import load_params
    from python_tasks.settings import get_settings

    return load_params(path or get_settings().clv_params_path, mode="demo")


def compute(inbox: Path, day: date, params=None) -> tuple[pd.DataFrame, dict[str, float]]:  # noqa: ANN001
    """The reference frame of D (one row per client: profile and baseline CLV columns) and the stage times."""
    params = params or load_parameters()
    times = {}
    t0 = time.perf_counter()
    seeds = read_seeds()
    frames = drop_quarantined(read_inputs(inbox, day))
    t1 = time.perf_counter()
    times["read_s"] = t1 - t0
    profile, facilities = build_profile(frames, seeds, day)
    t2 = time.perf_counter()
    times["profile_s"] = t2 - t1
    fits = fit_models(frames, profile, seeds, day, params)
    clients = engine_clients(profile, fits, params)
    engine_f = engine_facilities(facilities, clients, seeds["ref_products"])
    values = value_baseline(clients, engine_f, params)
    times["clv_s"] = time.perf_counter() - t2
    reference = profile[list(PROFILE_COLUMNS)].join(values).sort_index()
    reference.index.name = "client_id"
    return reference.reset_index(), times


# --- agreement with the warehouse ------------------------------------------------------------------------------


def _tolerance(column: str) -> float:
    return ABS_TOLERANCE_CNY if column.endswith("_cny") else ABS_TOLERANCE


def compare(reference: pd.DataFrame, warehouse_path: Path, day: date | str) -> dict:
    """Per compared column: clients compared, clients within tolerance, the largest differences and the worst
    client; numbers agree within ``REL_TOLERANCE`` relative or the column's absolute tolerance, missing values
    only with missing values, labels exactly. Reads the warehouse read-only."""
    import duckdb

    day = day if isinstance(day, date) else date.fromisoformat(day)
    con = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        profile = con.execute(
            f"SELECT client_id, {', '.join(PROFILE_COLUMNS)} FROM marts.fct_client_profile WHERE as_of_date = ?",
            [day],
        ).df()  # fmt: skip
        values = con.execute(
            f"SELECT client_id, {', '.join(sorted(set(VALUE_COLUMNS.values())))} FROM valuation.client_values "
            "WHERE as_of_date = ? AND scenario = 'baseline'", [day],
        ).df()  # fmt: skip
    finally:
        con.close()
    ref = reference.set_index("client_id")
    warehouse = {"profile": profile.set_index("client_id"), "client_values": values.set_index("client_id")}
    report: dict = {"as_of_date": day.isoformat(), "columns": {}, "clients": {}}
    for table, frame in warehouse.items():
        only_ref, only_wh = ref.index.difference(frame.index), frame.index.difference(ref.index)
        report["clients"][table] = {
            "reference": len(ref), "warehouse": len(frame),
            "only_in_reference": only_ref.tolist(), "only_in_warehouse": only_wh.tolist(),
            "missing": len(only_ref) + len(only_wh),
        }  # fmt: skip
    pairs = [(c, "profile", c) for c in PROFILE_COLUMNS] + [(c, "client_values", w) for c, w in VALUE_COLUMNS.items()]
    for column, table, source_column in pairs:
        frame = warehouse[table]
        common = ref.index.intersection(frame.index)
        mine, theirs = ref.loc[common, column], frame.loc[common, source_column]
        entry = {"table": table, "warehouse_column": source_column, "compared": len(common)}
        numeric = pd.api.types.is_numeric_dtype(theirs) and not pd.api.types.is_bool_dtype(theirs)
        if numeric:
            a, b = mine.astype(float).to_numpy(), theirs.astype(float).to_numpy()
            both_missing = np.isnan(a) & np.isnan(b)
            diff = np.abs(a - b)
            rel = diff / np.maximum(np.abs(b), 1e-300)
            ok = both_missing | (diff <= np.maximum(REL_TOLERANCE * np.abs(b), _tolerance(column)))
            diff = np.where(both_missing, 0.0, diff)
            rel = np.where(both_missing | (diff == 0), 0.0, rel)
            worst = int(np.nanargmax(np.where(np.isnan(diff), np.inf, diff))) if len(diff) else None
            entry |= {
                "within_tolerance": int(ok.sum()),
                "max_abs_diff": float(np.where(np.isnan(diff), np.inf, diff).max()) if len(diff) else 0.0,
                "max_rel_diff": float(np.where(np.isnan(rel), np.inf, rel).max()) if len(rel) else 0.0,
            }
        else:
            missing_a, missing_b = pd.isna(mine).to_numpy(), pd.isna(theirs).to_numpy()
            same = np.array([str(x) == str(y) for x, y in zip(mine.astype(object), theirs.astype(object), strict=True)],
                            dtype=bool)  # fmt: skip
            ok = (missing_a & missing_b) | (~missing_a & ~missing_b & same)
            worst = int(np.flatnonzero(~ok)[0]) if (~ok).any() else None
            entry |= {"within_tolerance": int(ok.sum()), "max_abs_diff": None, "max_rel_diff": None}
        bad = ~ok
        entry["disagreeing_clients"] = common[bad].tolist()
        if worst is not None and bad.any():
            entry["worst"] = {"client_id": common[worst], "reference": _plain(mine.iloc[worst]),
                              "warehouse": _plain(theirs.iloc[worst])}  # fmt: skip
        report["columns"][column] = entry
    report["passed"] = all(v["missing"] == 0 for v in report["clients"].values()) and all(
        v["within_tolerance"] == v["compared"] for v in report["columns"].values()
    )
    return report


def _plain(value: object) -> object:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return value.item() if hasattr(value, "item") else value


# --- command line ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True, help="CLV_HOME whose inbox holds the deliveries")
    parser.add_argument("--date", required=True, help="business date D")
    parser.add_argument("--inbox", type=Path, help="the deliveries (default: HOME/inbox)")
    parser.add_argument("--out", type=Path, help="write the reference frame to this Parquet file")
    parser.add_argument("--check", action="store_true", help="compare with HOME's warehouse (after the pipeline)")
    args = parser.parse_args(argv)
    day = date.fromisoformat(args.date)
    started = time.perf_counter()
    reference, times = compute(args.inbox or args.home / "inbox", day)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        reference.to_parquet(args.out, index=False)
    line = {"stage": "pandas_reference", "clients": len(reference),
            "seconds": round(time.perf_counter() - started, 3), **{k: round(v, 3) for k, v in times.items()}}  # fmt: skip
    if args.check:
        report = compare(reference, args.home / "warehouse" / "clv.duckdb", day)
        clients = {table: {k: v[:10] if isinstance(v, list) else v for k, v in counts.items()}
                   for table, counts in report["clients"].items()}  # fmt: skip
        disagreeing = {c: v["compared"] - v["within_tolerance"] for c, v in report["columns"].items()
                       if v["within_tolerance"] != v["compared"]}  # fmt: skip
        line["agreement"] = {"passed": report["passed"], "clients": clients, "columns_disagreeing": disagreeing}
    print(json.dumps(line, ensure_ascii=False, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
