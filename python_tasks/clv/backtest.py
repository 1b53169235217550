"""Backtest: what earlier runs projected for the next twelve months against what the history then shows.

For each earlier business date D' with a CLV run (within the last year), the baseline projection of
revenue (interest income + fees over the next 12 months, pro-rated to the days elapsed since D') and of
defaults (PIT PD, pro-rated) is set against the interest and fees actually received and the defaults
actually recorded between D' and D. Costs, capital and the funding side have no realised counterpart in
the sources, so the backtest covers the revenue and default parts of the contribution. Per segment and
for all clients: bias (projected − realised, in CNY and as a share of realised) and mean absolute error
per client. Prospects are left out (their projection is conditional on being won).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

ALL_SEGMENTS = "(all)"


def backtest(projections: pd.DataFrame, realised: pd.DataFrame, as_of_date: date) -> pd.DataFrame:
    """``projections``: projection_date, client_id, segment, interest_income_12m_cny, fee_12m_cny, pit_pd.
    ``realised``: projection_date, client_id, interest_cny, fee_cny, defaulted (within (D', D]).
    One row per projection date per segment (and ``(all)``)."""
    columns = ["projection_date", "segment", "clients", "window_days", "projected_revenue_cny", "realised_revenue_cny",
               "revenue_bias_cny", "revenue_bias_pct", "revenue_mae_cny", "projected_defaults", "realised_defaults"]  # fmt: skip
    if projections.empty:
        return pd.DataFrame(columns=columns)
    p = projections.merge(realised, on=["projection_date", "client_id"], how="left")
    p[["interest_cny", "fee_cny"]] = p[["interest_cny", "fee_cny"]].fillna(0.0)
    p["defaulted"] = p["defaulted"].fillna(False).astype(bool)
    days = (pd.Timestamp(as_of_date) - pd.to_datetime(p["projection_date"])).dt.days.clip(upper=365)
    share = days / 365.0
    p["window_days"] = days
    p["projected"] = (p["interest_income_12m_cny"] + p["fee_12m_cny"]) * share
    p["realised"] = p["interest_cny"] + p["fee_cny"]
    # P(default within t years) for an annual PD, t ≤ 1
    p["projected_default"] = 1.0 - np.power(1.0 - p["pit_pd"].clip(0.0, 1.0), share)
    p["abs_error"] = (p["projected"] - p["realised"]).abs()
    frames = [p, p.assign(segment=ALL_SEGMENTS)]
    grouped = pd.concat(frames).groupby(["projection_date", "segment"], sort=True)
    out = grouped.agg(
        clients=("client_id", "size"),
        window_days=("window_days", "max"),
        projected_revenue_cny=("projected", "sum"),
        realised_revenue_cny=("realised", "sum"),
        revenue_mae_cny=("abs_error", "mean"),
        projected_defaults=("projected_default", "sum"),
        realised_defaults=("defaulted", "sum"),
    ).reset_index()
    out["revenue_bias_cny"] = out["projected_revenue_cny"] - out["realised_revenue_cny"]
    realised_total = out["realised_revenue_cny"].where(out["realised_revenue_cny"] != 0)
    out["revenue_bias_pct"] = out["revenue_bias_cny"] / realised_total * 100.0
    return out[columns]
