"""Lifecycle stage of each client, by documented rules tried in this order (the first that holds wins):

1. ``defaulted``: status defaulted, or a rating in default;
2. ``churned``: the relationship is closed;
3. ``prospect``: never onboarded;
4. ``declining``: dormant (no new business written);
5. ``new``: tenure below ``new_max_tenure_months``;
6. ``growing``: drawn balance up by at least ``growing_min_exposure_growth`` over twelve months, or credit
   drawn now where none was a year ago;
7. ``declining``: drawn balance down by at least |``declining_max_exposure_growth``| over twelve months, or
   no exposure and no activity (no fee event in twelve months and no contact for ``inactive_days``);
8. ``mature``: everything else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from python_tasks.segments.params import Lifecycle

LIFECYCLE_INPUTS = (
    "client_status", "is_defaulted", "tenure_months", "drawn_balance_cny", "drawn_balance_12m_ago_cny",
    "exposure_growth_12m", "fee_events_12m", "days_since_last_contact",
)  # fmt: skip


def lifecycle_stages(frame: pd.DataFrame, cfg: Lifecycle) -> tuple[np.ndarray, pd.Series]:
    """(stage, reason) per row of ``frame`` (the LIFECYCLE_INPUTS columns)."""
    missing = [c for c in LIFECYCLE_INPUTS if c not in frame.columns]
    if missing:
        raise ValueError(f"lifecycle: missing column(s) {missing}")
    status = frame["client_status"].astype(str).to_numpy()
    defaulted = frame["is_defaulted"].fillna(False).to_numpy(dtype=bool) | (status == "defaulted")
    tenure = frame["tenure_months"].to_numpy(dtype=float)
    drawn = frame["drawn_balance_cny"].fillna(0).to_numpy(dtype=float)
    drawn_before = frame["drawn_balance_12m_ago_cny"].fillna(0).to_numpy(dtype=float)
    growth = frame["exposure_growth_12m"].to_numpy(dtype=float)
    fee_events = frame["fee_events_12m"].fillna(0).to_numpy(dtype=float)
    quiet = frame["days_since_last_contact"].to_numpy(dtype=float)
    quiet = np.where(np.isnan(quiet), np.inf, quiet)  # never contacted

    new_credit = (drawn > 0) & (drawn_before <= 0)
    growing = (growth >= cfg.growing_min_exposure_growth) | new_credit
    shrinking = growth <= cfg.declining_max_exposure_growth
    inactive = (drawn <= 0) & (fee_events <= 0) & (quiet > cfg.inactive_days)
    rules = [
        (defaulted, "defaulted", "status defaulted or rating in default"),
        (status == "closed", "churned", "relationship closed"),
        (status == "prospect", "prospect", "not yet onboarded"),
        (status == "dormant", "declining", "dormant: no new business"),
        (np.nan_to_num(tenure, nan=0.0) < cfg.new_max_tenure_months, "new", None),
        (growing, "growing", None),
        (shrinking | inactive, "declining", None),
    ]
    stage = np.select([r[0] for r in rules], [r[1] for r in rules], "mature").astype(object)
    tenure_text = "tenure " + pd.Series(np.nan_to_num(tenure, nan=0.0)).map("{:.0f}".format) + " months"
    growth_text = "drawn " + pd.Series(growth * 100).map("{:+.0f} %".format) + " over 12 months"
    reasons = [
        pd.Series(r[2], index=range(len(frame)), dtype=object) if r[2] else None for r in rules[:4]
    ] + [
        tenure_text + f" < {cfg.new_max_tenure_months}",
        growth_text.where(~new_credit, "credit drawn now, none 12 months ago"),
        growth_text.where(~(inactive & ~shrinking), f"no exposure, no fee event in 12 months, no contact for "
                          f"more than {cfg.inactive_days} days"),
    ]  # fmt: skip
    reason = pd.Series("exposure stable over 12 months (" + growth_text.fillna("") + ")", dtype=object)
    reason = reason.where(~np.isnan(growth), "exposure stable (nothing drawn 12 months ago and now)")
    for (mask, _, _), text in reversed(list(zip(rules, reasons, strict=True))):
        reason = reason.where(~mask, text)
    return stage, reason.reset_index(drop=True)
