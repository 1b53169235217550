"""Next best offer: the first rule of the configured list whose conditions hold and whose offer is allowed.

An offer is a product code of ref_products or ``limit_increase``. It is never a product the client
already holds (a limit increase instead needs a credit product held), never one its risk tier forbids
(``@credit``: every credit product, ``@all``: everything), and clients whose strategy takes no offers
(restructure, exit) get none. The reason is the rule's text plus the observed values that made it fire,
so a relationship manager sees why ("Utilisation 0.91 ≥ 0.80; max_dpd_12m 0 ≤ 0").
"""

from __future__ import annotations

import operator

import numpy as np
import pandas as pd

from python_tasks.segments.params import RISK_TIERS, Condition, NextBestOffer
from python_tasks.segments.products import Holdings
from python_tasks.segments.tiers import format_cny

LIMIT_INCREASE = "limit_increase"
_OPS = {"eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "ge": operator.ge, "lt": operator.lt,
        "le": operator.le}  # fmt: skip
_SYMBOL = {"eq": "=", "ne": "≠", "gt": ">", "ge": "≥", "lt": "<", "le": "≤", "in": "in", "not_in": "not in"}


def _condition(frame: pd.DataFrame, h: Holdings, c: Condition, rule: str) -> tuple[np.ndarray, object]:
    """The rows where the condition holds, and a function that writes its evidence for chosen rows (None
    for conditions on products held and on booleans, whose text says enough)."""
    if c.holds_any is not None:
        return h.holds_any(c.holds_any), None
    if c.holds_none is not None:
        return ~h.holds_any(c.holds_none), None
    if c.column not in frame.columns:
        raise ValueError(f"next best offer rule {rule}: unknown column {c.column}")
    col = frame[c.column]
    if c.op == "is_true":
        return col.fillna(False).to_numpy(dtype=bool), None
    if c.op == "is_false":
        return ~col.fillna(True).to_numpy(dtype=bool), None
    if c.op in ("in", "not_in"):
        inside = col.isin(c.value).to_numpy(dtype=bool)
        return (inside if c.op == "in" else ~inside), None
    values = pd.to_numeric(col, errors="coerce") if not isinstance(c.value, str) else col
    mask = _OPS[c.op](values, c.value).fillna(False).to_numpy(dtype=bool)  # a missing value never qualifies

    def evidence(rows: np.ndarray) -> pd.Series:
        chosen = values.iloc[rows]
        if isinstance(c.value, str):
            shown, limit = chosen.astype(str), str(c.value)
        elif c.column.endswith("_cny"):  # amounts as a credit officer reads them
            shown = format_cny(chosen.to_numpy(dtype=float))
            limit = format_cny(np.array([float(c.value)]))[0]
        else:
            shown, limit = chosen.map("{:.2f}".format), f"{c.value}"
        return f"{c.column} " + pd.Series(shown.to_numpy(dtype=object)) + f" {_SYMBOL[c.op]} {limit}"

    return mask, evidence


def forbidden_offers(cfg: NextBestOffer, catalogue: pd.DataFrame) -> dict[str, set[str]]:
    """Risk tier → the set of offers it forbids, with @credit and @all expanded."""
    credit = set(catalogue.loc[catalogue["is_credit"].astype(bool), "product_code"].astype(str)) | {LIMIT_INCREASE}
    everything = set(catalogue["product_code"].astype(str)) | {LIMIT_INCREASE}
    out = {}
    for tier, items in cfg.forbidden_by_risk_tier.items():
        expanded: set[str] = set()
        for item in items:
            expanded |= credit if item == "@credit" else everything if item == "@all" else {item}
        out[tier] = expanded
    return out


def next_best_offers(frame: pd.DataFrame, h: Holdings, cfg: NextBestOffer, catalogue: pd.DataFrame) -> pd.DataFrame:
    """offer, rule id and reasons per row of ``frame`` (needs risk_tier and strategy columns); rows
    without an allowed offer get nulls."""
    n = len(frame)
    frame = frame.reset_index(drop=True)
    known = set(catalogue["product_code"].astype(str)) | {LIMIT_INCREASE}
    for rule in cfg.rules:
        if rule.offer not in known:
            raise ValueError(f"next best offer rule {rule.id}: unknown offer {rule.offer}")
    forbidden = forbidden_offers(cfg, catalogue)
    risk = frame["risk_tier"].astype(str).to_numpy()
    open_to_offers = ~frame["strategy"].isin(cfg.no_offer_strategies).to_numpy(dtype=bool)
    credit_codes = tuple(catalogue.loc[catalogue["is_credit"].astype(bool), "product_code"].astype(str))
    holds_credit = h.holds_any(credit_codes)

    offer = np.full(n, None, dtype=object)
    rule_id = np.full(n, None, dtype=object)
    reason_en = np.full(n, None, dtype=object)
    reason_zh = np.full(n, None, dtype=object)
    tier_index = pd.Index(RISK_TIERS).get_indexer(risk)
    if np.any(tier_index < 0):
        raise ValueError(f"next best offer: unknown risk tier(s) {sorted(set(risk[tier_index < 0]))}")
    todo = open_to_offers.copy()
    for rule in cfg.rules:
        if not todo.any():
            break
        mask = todo.copy()
        writers = []
        for c in rule.when:
            hit, writer = _condition(frame, h, c, rule.id)
            mask &= hit
            if writer is not None:
                writers.append(writer)
        if rule.offer == LIMIT_INCREASE:
            mask &= holds_credit
        else:
            mask &= ~h.holds_any([rule.offer])
        allowed = np.array([rule.offer not in forbidden.get(t, set()) for t in RISK_TIERS])
        mask &= allowed[tier_index]
        rows = np.flatnonzero(mask)
        if rows.size == 0:
            continue
        offer[rows] = rule.offer
        rule_id[rows] = rule.id
        if writers:
            detail = writers[0](rows)
            for write in writers[1:]:
                detail = detail + "; " + write(rows)
            detail = (" (" + detail + ")").to_numpy(dtype=object)
        else:
            detail = ""
        reason_en[rows] = rule.reason.en + detail
        reason_zh[rows] = rule.reason.zh + detail
        todo[rows] = False
    return pd.DataFrame({"next_best_offer": offer, "offer_rule": rule_id, "offer_reason_en": reason_en,
                         "offer_reason_zh": reason_zh})  # fmt: skip
