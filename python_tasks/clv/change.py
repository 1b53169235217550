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
in the order above (one valuation of the portfolio, then at each of the 7 steps only the clients whose
inputs of that group changed: a client's value depends on its own inputs only, so the others keep theirs
and get a part of exactly zero); Shapley averages over every order (128 valuations of the portfolio).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from python_tasks.clv.attribution import shapley_attribution
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


class _Sides:
    """One frame of the two runs (clients or facilities), aligned by key once, so that each valuation's mix
    of old and new column groups is assembled by position: the attribution values 8 such mixes (128 for
    Shapley), and a label lookup of every key per mix cost more than the valuation at L."""

    def __init__(self, old: pd.DataFrame, new: pd.DataFrame, key: str, groups: dict) -> None:
        self.frames = {"old": old.reset_index(drop=True), "new": new.reset_index(drop=True)}
        self.groups = groups
        keys = {side: pd.Index(frame[key].to_numpy(dtype=object)) for side, frame in self.frames.items()}
        #: per base side: (its rows that the other side also has, the other side's rows of the same keys)
        self.rows = {}
        for base, other in (("old", "new"), ("new", "old")):
            found = keys[other].get_indexer(keys[base])
            self.rows[base] = (np.flatnonzero(found >= 0), found[found >= 0])

    def mix(self, base: str, chosen: dict) -> pd.DataFrame:
        """The rows of the ``base`` side, with each factor group's columns from the side chosen for it (rows
        the other side lacks keep the base's values)."""
        frame = self.frames[base].copy()
        other_side = "new" if base == "old" else "old"
        other = self.frames[other_side]
        base_rows, other_rows = self.rows[base]
        for factor, cols in self.groups.items():
            if chosen[factor] == base:
                continue
            for col in cols:
                dtype = pd.concat([frame[col].iloc[:0], other[col].iloc[:0]]).dtype  # both sides' values fit
                values = frame[col].astype(dtype).to_numpy(copy=True)
                values[base_rows] = other[col].astype(dtype).to_numpy()[other_rows]
                frame[col] = pd.Series(values, index=frame.index, dtype=dtype)
        return frame


def _differs(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Row by row, whether two aligned columns hold different values (two missing values are equal)."""
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    equal = (a == b).fillna(False).to_numpy(dtype=bool)
    return ~(equal | (a.isna().to_numpy() & b.isna().to_numpy()))


def _changed_clients(clients: _Sides, facilities: _Sides, common: pd.Index, params_differ: bool) -> dict[str, np.ndarray]:
    """Per factor, the clients (a mask over ``common``) whose inputs of that factor differ between the runs.

    Client columns outside every group, facility columns outside the facility groups, and a facility present
    in one run only belong to ``exposure`` (the side whose rows are valued); ``parameters`` are the file's."""
    old_c, new_c = clients.frames["old"], clients.frames["new"]
    old_f, new_f = facilities.frames["old"], facilities.frames["new"]
    grouped_c = {c for cols in CLIENT_FACTORS.values() for c in cols}
    grouped_f = {c for cols in FACILITY_FACTORS.values() for c in cols}
    client_cols = {f: list(CLIENT_FACTORS.get(f, ())) for f in ATTRIBUTION_FACTORS}
    client_cols["exposure"] += [c for c in new_c.columns if c not in grouped_c and c != "client_id" and c in old_c]
    facility_cols = {f: list(FACILITY_FACTORS.get(f, ())) for f in ATTRIBUTION_FACTORS}
    facility_cols["exposure"] += [c for c in new_f.columns if c not in grouped_f and c != "facility_id" and c in old_f]
    new_rows, old_rows = facilities.rows["new"]
    position = pd.Index(common.to_numpy(dtype=object))
    masks = {}
    for factor in ATTRIBUTION_FACTORS:
        mask = np.zeros(len(common), dtype=bool)
        for col in client_cols[factor]:
            mask |= _differs(old_c[col], new_c[col])
        touched = np.zeros(len(new_rows), dtype=bool)
        for col in facility_cols[factor]:
            touched |= _differs(old_f[col].iloc[old_rows], new_f[col].iloc[new_rows])
        ids = [new_f["client_id"].iloc[new_rows[touched]], old_f["client_id"].iloc[old_rows[touched]]]
        if factor == "exposure":  # a facility opened or closed since the previous run
            ids += [new_f["client_id"].drop(new_f.index[new_rows]),
                    old_f["client_id"].drop(old_f.index[facilities.rows["old"][0]])]
        for found in ids:
            at = position.get_indexer(found.to_numpy(dtype=object))
            mask[at[at >= 0]] = True
        if factor == "parameters" and params_differ:
            mask[:] = True
        masks[factor] = mask
    return masks


def _member(values: pd.Series, allowed: pd.Index) -> np.ndarray:
    """``values.isin(allowed)`` through a hash table of Python strings (pandas' Arrow-string ``isin`` builds its
    value set row by row: 1.9 s a call for 445 000 client ids)."""
    return pd.Index(allowed.to_numpy(dtype=object)).get_indexer(values.to_numpy(dtype=object)) >= 0


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
    # in key order: the engine returns its clients in key order, so its output needs no realignment
    common = pd.Index(new_clients["client_id"].to_numpy(dtype=object)).intersection(
        pd.Index(old_clients["client_id"].to_numpy(dtype=object))
    ).sort_values()  # fmt: skip
    old_c = old_clients[_member(old_clients["client_id"], common)].set_index("client_id").loc[common].reset_index()
    new_c = new_clients[_member(new_clients["client_id"], common)].set_index("client_id").loc[common].reset_index()
    clients = _Sides(old_c, new_c, "client_id", CLIENT_FACTORS)
    facilities = _Sides(old_facilities[_member(old_facilities["client_id"], common)],
                        new_facilities[_member(new_facilities["client_id"], common)], "facility_id",
                        FACILITY_FACTORS)  # fmt: skip
    method = method or new_params.attribution.method
    valued: dict[tuple, np.ndarray] = {}

    def clv(chosen: dict[str, object]) -> np.ndarray:
        key = tuple(sorted((k, str(v)) for k, v in chosen.items()))
        if key not in valued:  # the waterfall's first and last valuations are also "before" and "after"
            base = str(chosen["exposure"])
            params = new_params if chosen["parameters"] == "new" else old_params
            out = value_portfolio(clients.mix(base, chosen), facilities.mix(base, chosen), params,
                                  {"baseline": params.scenarios["baseline"]})  # fmt: skip
            ids = out["client_id"].to_numpy(dtype=object)
            if not np.array_equal(ids, common.to_numpy()):
                out = out.set_index("client_id").loc[common].reset_index()
            valued[key] = out["clv_cny"].to_numpy()
        return valued[key]

    def clv_of(chosen: dict[str, object], rows: np.ndarray) -> np.ndarray:
        """The baseline CLV of the clients ``rows`` (a mask over ``common``) under the mix ``chosen``."""
        base = str(chosen["exposure"])
        params = new_params if chosen["parameters"] == "new" else old_params
        some = common[rows]
        mixed = facilities.mix(base, chosen)
        out = value_portfolio(clients.mix(base, chosen)[rows], mixed[_member(mixed["client_id"], some)], params,
                              {"baseline": params.scenarios["baseline"]})  # fmt: skip
        if not np.array_equal(out["client_id"].to_numpy(dtype=object), some.to_numpy()):
            out = out.set_index("client_id").loc[some].reset_index()
        return out["clv_cny"].to_numpy()

    def waterfall() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """The sequential waterfall, revaluing at each step only the clients whose inputs of that factor
        differ: every client's value depends on its own inputs only (the sharded run relies on the same), so
        a client whose factor did not change keeps its value exactly and gets a part of exactly zero. A
        daily run changes few clients' ratings, collateral or rates, so most steps value few clients."""
        changed = _changed_clients(clients, facilities, common,
                                   old_params.model_dump_json() != new_params.model_dump_json())  # fmt: skip
        current = dict(old_sides)
        values = clv(current)
        start, parts = values, {}
        for factor in ATTRIBUTION_FACTORS:
            current[factor] = "new"
            after = values.copy()
            if changed[factor].any():
                after[changed[factor]] = clv_of(current, changed[factor])
            parts[factor] = after - values
            values = after
        return parts, start, values

    old_sides, new_sides = dict.fromkeys(ATTRIBUTION_FACTORS, "old"), dict.fromkeys(ATTRIBUTION_FACTORS, "new")
    if len(common) and method != "shapley":
        parts, before, after = waterfall()
    elif len(common):
        parts = shapley_attribution(clv, old_sides, new_sides)
        before, after = clv(old_sides), clv(new_sides)
    else:
        parts, before, after = {f: np.zeros(0) for f in ATTRIBUTION_FACTORS}, np.zeros(0), np.zeros(0)
    ids = pd.Series(common.to_numpy(), dtype=new_clients["client_id"].dtype)
    both = pd.DataFrame({"client_id": ids, "clv_previous_cny": before, "clv_cny": after})
    for factor in ATTRIBUTION_FACTORS:
        both[f"{factor}_cny"] = parts[factor]
    both["new_client_cny"] = 0.0
    both["lost_client_cny"] = 0.0
    frames = [both]
    new_only = new_clients.loc[~_member(new_clients["client_id"], common), ["client_id"]]
    if len(new_only):
        only = pd.Index(new_only["client_id"])
        values = value_portfolio(new_clients[_member(new_clients["client_id"], only)],
                                 new_facilities[_member(new_facilities["client_id"], only)],
                                 new_params, baseline)  # fmt: skip
        frames.append(pd.DataFrame({"client_id": values["client_id"], "clv_previous_cny": 0.0, "clv_cny": values["clv_cny"],
                                    "new_client_cny": values["clv_cny"], "lost_client_cny": 0.0}))  # fmt: skip
    lost = old_clients.loc[~_member(old_clients["client_id"], common), ["client_id"]]
    if len(lost):
        gone = pd.Index(lost["client_id"])
        values = value_portfolio(old_clients[_member(old_clients["client_id"], gone)],
                                 old_facilities[_member(old_facilities["client_id"], gone)],
                                 old_params, {"baseline": old_params.scenarios["baseline"]})  # fmt: skip
        frames.append(pd.DataFrame({"client_id": values["client_id"], "clv_previous_cny": values["clv_cny"], "clv_cny": 0.0,
                                    "new_client_cny": 0.0, "lost_client_cny": -values["clv_cny"]}))  # fmt: skip
    out = pd.concat(frames, ignore_index=True).fillna({f"{f}_cny": 0.0 for f in ATTRIBUTION_FACTORS})
    out["delta_clv_cny"] = out["clv_cny"] - out["clv_previous_cny"]
    out["method"] = method
    return out.sort_values("client_id").reset_index(drop=True)
