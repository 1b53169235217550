"""From the client profile to the engine's inputs: which PD, which retention, what a prospect would bring.

Pure functions on frames read by the job (python_tasks/clv/job.py). Every choice is visible in a column
of the inputs the job stores per run (valuation.engine_inputs_clients / _facilities), so any CLV can be traced
to the profile values and fits it came from.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from python_tasks.clv.calibration import RetentionFit, ScorecardFit, retention_parameters
from python_tasks.clv.engine import CLIENT_COLUMNS, FACILITY_COLUMNS
from python_tasks.clv.scorecard import FEATURES

#: the first facility a won prospect is assumed to take
PROSPECT_PRODUCT = "working_capital_loan"
PD_SOURCES = ("rating", "scorecard", "scorecard_fallback", "default")


class MissingInputError(ValueError):
    """A value the engine cannot do without is missing from the profile; the message names it."""


def require_macro(profile: pd.DataFrame, as_of_date: object) -> None:
    """The LPR (FTP curve) and the GDP outlooks (scenarios) must be known at D."""
    needed = ["lpr_1y_pct", "lpr_5y_pct", *(f"gdp_growth_next_12m_{s}_pct" for s in ("baseline", "adverse", "severe"))]
    missing = [c for c in needed if profile[c].isna().any()]
    if missing:
        raise MissingInputError(
            f"the client profile of {as_of_date} has no {missing}: no macro indicators were known at D. "
            "Load the external data (DAG clv_external_monthly) and rebuild the profile before the CLV run"
        )


def client_inputs(
    profile: pd.DataFrame, retention: list[RetentionFit], scorecard: ScorecardFit, segment_column: str
) -> pd.DataFrame:
    """One engine row per client of the profile at D, with where its PD came from."""
    p = profile.reset_index(drop=True)
    rated = p["ttc_pd"].notna()
    defaulted = (
        p["is_defaulted_grade"].fillna(False).astype(bool)
        | (p["client_status"] == "defaulted")
        | p["is_non_performing"].fillna(False).astype(bool)
    )
    if scorecard.scorecard is not None:
        scored = scorecard.scorecard.predict_pd(p[list(FEATURES)].to_numpy(dtype=float))
        unrated_source = "scorecard"
    else:
        scored = np.full(len(p), scorecard.fallback_pd)
        unrated_source = "scorecard_fallback"
    ttc = np.where(rated, p["ttc_pd"].to_numpy(dtype=float), scored)
    pd_source = np.where(defaulted, "default", np.where(rated, "rating", unrated_source))
    alpha, beta = retention_parameters(p[segment_column], retention)
    out = pd.DataFrame({
        "client_id": p["client_id"],
        "is_prospect": (p["client_status"] == "prospect").to_numpy(),
        "is_defaulted": defaulted.to_numpy(),
        "ttc_pd": np.where(defaulted, 1.0, ttc),
        "turnover_cny": p["size_revenue_cny"].astype(float),
        "fee_income_12m_cny": p["fee_income_12m_cny"].astype(float).fillna(0.0),
        "revenue_growth_yoy": p["revenue_growth_yoy"].astype(float),
        "industry_output_growth_pct": p["industry_output_growth_pct"].astype(float),
        "gdp_outlook_baseline_pct": p["gdp_growth_next_12m_baseline_pct"].astype(float),
        "gdp_outlook_adverse_pct": p["gdp_growth_next_12m_adverse_pct"].astype(float),
        "gdp_outlook_severe_pct": p["gdp_growth_next_12m_severe_pct"].astype(float),
        "lpr_1y_pct": p["lpr_1y_pct"].astype(float),
        "lpr_5y_pct": p["lpr_5y_pct"].astype(float),
        "asset_class": p["asset_class"].fillna("normal"),
        "tenure_years": p["tenure_months"].astype(float).fillna(0.0) / 12.0,
        "sbg_alpha": alpha,
        "sbg_beta": beta,
        "pd_source": pd_source,
        "segment": p[segment_column].fillna("(none)").astype(str),
    })  # fmt: skip
    return out[[*CLIENT_COLUMNS, "pd_source", "segment"]]


def facility_inputs(facilities: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    """One engine row per facility on book at D, with its product's cost rates; a product missing from
    ``ref_products`` stops the run naming it (its costs would otherwise be silently zero)."""
    f = facilities.merge(products, on="product_code", how="left", validate="many_to_one", suffixes=("", "_product"))
    unknown = sorted(f.loc[f["servicing_cost_bps"].isna(), "product_code"].unique().tolist())
    if unknown:
        raise MissingInputError(f"facilities of product(s) {unknown} not in reference.ref_products: no cost rates")
    out = pd.DataFrame({
        "facility_id": f["facility_id"],
        "client_id": f["client_id"],
        "product_code": f["product_code"],
        "drawn_balance_cny": f["drawn_balance_cny"].astype(float),
        "undrawn_cny": f["undrawn_cny"].astype(float),
        "ccf": f["ccf"].astype(float),
        "interest_rate_pct": f["interest_rate_pct"].astype(float),
        "repayment_type": f["repayment_type"],
        "remaining_maturity_years": f["remaining_maturity_years"].astype(float).clip(lower=0.0),
        "collateral_value_cny": f["collateral_value_cny"].astype(float).fillna(0.0),
        "main_collateral_type": f["main_collateral_type"],
        "servicing_cost_bps": f["servicing_cost_bps"].astype(float),
        "monitoring_cost_bps": f["monitoring_cost_bps"].astype(float),
        "origination_cost_cny": f["origination_cost_cny"].astype(float),
    })  # fmt: skip
    return out[["facility_id", "product_code", *FACILITY_COLUMNS]]


def prospect_facilities(clients: pd.DataFrame, facilities: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    """The facility a prospect would take if won: a working-capital loan of the median size and rate of
    its segment's loans of that product (of all such loans if its segment has none), for the product's
    typical tenor, unsecured. Prospects are valued as if won, less the acquisition cost."""
    prospects = clients.loc[clients["is_prospect"], ["client_id", "segment"]]
    if prospects.empty:
        return facilities.iloc[0:0]
    product = products.set_index("product_code").loc[PROSPECT_PRODUCT]
    loans = facilities[(facilities["product_code"] == PROSPECT_PRODUCT) & (facilities["drawn_balance_cny"] > 0)]
    loans = loans.merge(clients[["client_id", "segment"]], on="client_id")
    if loans.empty:
        raise MissingInputError(f"no {PROSPECT_PRODUCT} on book at D: cannot size the prospects' first facility")
    peers = loans.groupby("segment")[["drawn_balance_cny", "interest_rate_pct"]].median()
    overall = loans[["drawn_balance_cny", "interest_rate_pct"]].median()
    sized = prospects.join(peers, on="segment")
    for column in ("drawn_balance_cny", "interest_rate_pct"):
        sized[column] = sized[column].fillna(overall[column])
    out = pd.DataFrame({
        "facility_id": "PROSPECT:" + sized["client_id"],
        "product_code": PROSPECT_PRODUCT,
        "client_id": sized["client_id"],
        "drawn_balance_cny": sized["drawn_balance_cny"],
        "undrawn_cny": 0.0,
        "ccf": float(product["ccf"]),
        "interest_rate_pct": sized["interest_rate_pct"],
        "repayment_type": "bullet",
        "remaining_maturity_years": float(product["typical_tenor_months"]) / 12.0,
        "collateral_value_cny": 0.0,
        "main_collateral_type": None,
        "servicing_cost_bps": float(product["servicing_cost_bps"]),
        "monitoring_cost_bps": float(product["monitoring_cost_bps"]),
        "origination_cost_cny": float(product["origination_cost_cny"]),
    })  # fmt: skip
    return out[facilities.columns]
