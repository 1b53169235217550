"""Why a client's baseline CLV changed since the last run: ΔCLV split over exposure, margin, PD, LGD,
retention, macro and parameters, with parts that sum exactly to the change.

The engine is re-run with the factor groups switched from the previous run's inputs to this run's
(attribution.py). Clients new since the last run get their whole CLV as ``new_client``; clients gone
since get minus their previous CLV as ``lost_client``; so the parts of every row sum to its ΔCLV.

Factor groups (engine input columns):
* exposure: the facilities on book and their balances, limits, schedules, products; fee run-rate; prospect flag
* margin: client rates of the facilities, the loan prime rates (FTP curve)
* pd: TTC PD and its source, default status, asset class, turnover (SME correlation)
* lgd: collateral values and types
* retention: tenure and the sBG parameters of the client's segment
* macro: GDP outlooks, industry output growth, revenue growth
* parameters: the parameter file

The method is the parameter file's ``attribution.method``: the sequential waterfall switches the groups
in the order above (8 valuations); Shapley averages over every order (128 valuations).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from python_tasks.clv.attribution import sequential_attribution, shapley_attribution
from python_tasks.clv.engine import value_portfolio
from python_tasks.clv.outputs import ATTRIBUTION_FACTORS
from python_tasks.clv.params import ClvParams

CLIENT_FACTORS = {
    "exposure": ("fee_income_12m_cny", "is_prospect"),
    "margin": ("lpr_1y_pct", "lpr_5y_pct"),
    "pd": ("ttc_pd", "is_defaulted", "asset_class", "turnover_cny"),
    "retention": ("tenure_years", "sbg_alpha", "sbg_beta"),
    "macro": (
        "gdp_outlook_baseline_pct", "gdp_outlook_adverse_pct", "gdp_outlook_severe_pct",
        "industry_output_growth_pct", "revenue_growth_yoy",
    ),
}  # fmt: skip
FACILITY_FACTORS = {
    "margin": ("interest_rate_pct",),
    "lgd": ("collateral_value_cny", "main_collateral_type"),
}


def _switch(old: pd.DataFrame, new: pd.DataFrame, key: str, base: str, groups: dict, chosen: dict) -> pd.DataFrame:
    """The rows of the ``base`` side, with each factor group's columns from the side chosen for it (rows
    the other side lacks keep the base's values)."""
    frame = (new if base == "new" else old).set_index(key)
    for factor, cols in groups.items():
        side = chosen[factor]
        if side == base:
            continue
        source = (new if side == "new" else old).set_index(key)
        common = frame.index.intersection(source.index)
        frame.loc[common, list(cols)] = source.loc[common, list(cols)].to_numpy()
    return frame.reset_index()


def attribute_change(
    old_clients: pd.DataFrame,
    old_facilities: pd.DataFrame,
    old_params: ClvParams,
    new_clients: pd.DataFrame,
    new_facilities: pd.DataFrame,
    new_params: ClvParams,
    *,
    method: str | None = None,
) -> pd.DataFrame:
    """Per client: previous and current baseline CLV, ΔCLV and its parts (columns ``<factor>_cny``)."""
    baseline = {"baseline": new_params.scenarios["baseline"]}
    if "facility_id" not in old_facilities or "facility_id" not in new_facilities:
        raise ValueError("attribution needs facility_id on both runs' facilities")
    common = pd.Index(new_clients["client_id"]).intersection(pd.Index(old_clients["client_id"]))
    old_c = old_clients[old_clients["client_id"].isin(common)].set_index("client_id").loc[common].reset_index()
    new_c = new_clients[new_clients["client_id"].isin(common)].set_index("client_id").loc[common].reset_index()
    old_f, new_f = (
        old_facilities[old_facilities["client_id"].isin(common)],
        new_facilities[new_facilities["client_id"].isin(common)],
    )
    method = method or new_params.attribution.method

    def clv(chosen: dict[str, object]) -> np.ndarray:
        clients = _switch(old_c, new_c, "client_id", str(chosen["exposure"]), CLIENT_FACTORS, chosen)
        facilities = _switch(old_f, new_f, "facility_id", str(chosen["exposure"]), FACILITY_FACTORS, chosen)
        params = new_params if chosen["parameters"] == "new" else old_params
        out = value_portfolio(clients, facilities, params, {"baseline": params.scenarios["baseline"]})
        return out.set_index("client_id").loc[common, "clv_cny"].to_numpy()

    old_sides, new_sides = dict.fromkeys(ATTRIBUTION_FACTORS, "old"), dict.fromkeys(ATTRIBUTION_FACTORS, "new")
    attribute: Callable = shapley_attribution if method == "shapley" else sequential_attribution
    if len(common):
        parts = attribute(clv, old_sides, new_sides)
        before, after = clv(old_sides), clv(new_sides)
    else:
        parts, before, after = {f: np.zeros(0) for f in ATTRIBUTION_FACTORS}, np.zeros(0), np.zeros(0)
    both = pd.DataFrame({"client_id": common, "clv_previous_cny": before, "clv_cny": after})
    for factor in ATTRIBUTION_FACTORS:
        both[f"{factor}_cny"] = parts[factor]
    both["new_client_cny"] = 0.0
    both["lost_client_cny"] = 0.0
    frames = [both]
    new_only = new_clients.loc[~new_clients["client_id"].isin(common), ["client_id"]]
    if len(new_only):
        values = value_portfolio(new_clients[new_clients["client_id"].isin(new_only["client_id"])],
                                 new_facilities[new_facilities["client_id"].isin(new_only["client_id"])],
                                 new_params, baseline)  # fmt: skip
        frames.append(pd.DataFrame({"client_id": values["client_id"], "clv_previous_cny": 0.0, "clv_cny": values["clv_cny"],
                                    "new_client_cny": values["clv_cny"], "lost_client_cny": 0.0}))  # fmt: skip
    lost = old_clients.loc[~old_clients["client_id"].isin(common), ["client_id"]]
    if len(lost):
        values = value_portfolio(old_clients[old_clients["client_id"].isin(lost["client_id"])],
                                 old_facilities[old_facilities["client_id"].isin(lost["client_id"])],
                                 old_params, {"baseline": old_params.scenarios["baseline"]})  # fmt: skip
        frames.append(pd.DataFrame({"client_id": values["client_id"], "clv_previous_cny": values["clv_cny"], "clv_cny": 0.0,
                                    "new_client_cny": 0.0, "lost_client_cny": -values["clv_cny"]}))  # fmt: skip
    out = pd.concat(frames, ignore_index=True).fillna({f"{f}_cny": 0.0 for f in ATTRIBUTION_FACTORS})
    out["delta_clv_cny"] = out["clv_cny"] - out["clv_previous_cny"]
    out["method"] = method
    return out.sort_values("client_id").reset_index(drop=True)
