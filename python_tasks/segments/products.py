"""What each client holds: a client × product matrix from the profile's ``products_held_list``, and the
product-usage pattern read off it.

Usage patterns, tried in this order: ``none`` (holds nothing); ``full_relationship`` (credit and at
least four product families); ``trade_active`` (a trade-service product or trade finance);
``credit_and_deposit`` (credit with a deposit or transaction product); ``credit_only``; and
``non_credit_only`` (deposits, transactions, advisory or investment without credit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Holdings:
    """held[i, j]: client i holds product j (codes in catalogue order)."""

    codes: tuple[str, ...]
    held: np.ndarray

    def holds_any(self, codes: list[str] | tuple[str, ...]) -> np.ndarray:
        unknown = sorted(set(codes) - set(self.codes))
        if unknown:
            raise ValueError(f"unknown product code(s) {unknown}")
        index = [self.codes.index(c) for c in codes]
        return self.held[:, index].any(axis=1)


def holdings(products_held_list: pd.Series, catalogue: pd.DataFrame) -> Holdings:
    """Parse comma-separated product codes; a code missing from the catalogue (ref_products) is an error
    naming it, never silently dropped."""
    codes = tuple(catalogue["product_code"].astype(str))
    # few distinct lists among a million clients: parse each distinct list once
    which, distinct = pd.factorize(products_held_list.fillna("").astype(str).to_numpy(dtype=object))
    lists = pd.Series(distinct, dtype=object)
    exploded = lists.str.split(",").explode()
    exploded = exploded[exploded.str.len() > 0].str.strip()
    position = pd.Index(codes).get_indexer(exploded.to_numpy())
    if np.any(position < 0):
        raise ValueError(f"products_held_list: unknown product code(s) {sorted(set(exploded[position < 0]))[:5]}")
    per_list = np.zeros((len(lists), len(codes)), dtype=bool)
    per_list[exploded.index.to_numpy(), position] = True
    return Holdings(codes, per_list[which])


def usage_patterns(h: Holdings, catalogue: pd.DataFrame) -> np.ndarray:
    """The usage pattern of each client (rules in the module docstring)."""
    cat = catalogue.set_index("product_code").loc[list(h.codes)]
    is_credit = cat["is_credit"].to_numpy(dtype=bool)
    family = cat["product_family"].astype(str).to_numpy()
    families = np.unique(family)
    family_count = np.column_stack([h.held[:, family == f].any(axis=1) for f in families]).sum(axis=1)
    credit = h.held[:, is_credit].any(axis=1)
    trade = h.held[:, (family == "trade_service") | (np.array(h.codes) == "trade_finance")].any(axis=1)
    deposit = h.held[:, np.isin(family, ["deposit", "transaction"])].any(axis=1)
    anything = h.held.any(axis=1)
    return np.select(
        [~anything, credit & (family_count >= 4), trade, credit & deposit, credit],
        ["none", "full_relationship", "trade_active", "credit_and_deposit", "credit_only"],
        "non_credit_only",
    ).astype(object)
