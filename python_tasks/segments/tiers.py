"""Value tier, risk tier and the value × risk strategy with its differentiated credit policy.

* Value tier (高价值 / 中价值 / 低价值) by base-scenario CLV: with ``method: quantile`` the thresholds are
  quantiles of the current clients' CLV (prospects are valued as if won and would skew them, so they are
  classed against the clients' thresholds without setting them); with ``absolute`` fixed amounts. A CLV
  exactly at a threshold takes the higher tier.
* Risk tier from the baseline point-in-time PD (low < low_max_pd ≤ medium < medium_max_pd ≤ high), never
  better than the floor its five-tier asset class sets (special mention at least medium, substandard and
  worse high); a defaulted client is ``default``.
* Strategy = strategy_matrix[value tier][risk tier], carrying the policy (pricing, terms, service, review).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from python_tasks.segments.params import RISK_TIERS, RiskTier, ValueTier


def lookup(keys: np.ndarray | pd.Series, table: dict, what: str) -> np.ndarray:
    """table[key] for every key, by factorising the keys (few distinct values, a million rows): a key
    missing from the table is an error naming it."""
    codes, uniques = pd.factorize(pd.Series(keys, dtype=object), use_na_sentinel=False)
    missing = [u for u in uniques if u not in table]
    if missing:
        raise ValueError(f"{what}: no entry for {missing[:5]}")
    return np.array([table[u] for u in uniques], dtype=object)[codes]


def format_cny(amount: np.ndarray | pd.Series) -> pd.Series:
    """CNY amounts in the unit a credit officer reads: 'CNY 1.23 m', 'CNY 45.6 k', 'CNY −2.10 bn'."""
    x = pd.Series(np.asarray(amount, dtype=float))
    a = x.abs()
    scaled = np.select([a >= 1e9, a >= 1e6, a >= 1e3], [x / 1e9, x / 1e6, x / 1e3], x)
    unit = np.select([a >= 1e9, a >= 1e6, a >= 1e3], [" bn", " m", " k"], "")
    return "CNY " + pd.Series(scaled).map("{:,.2f}".format) + pd.Series(unit)


@dataclass(frozen=True)
class ValueThresholds:
    high_min_cny: float
    low_max_cny: float
    basis: str  # how they were set, for the reason and the run record


def value_thresholds(clv: np.ndarray, is_prospect: np.ndarray, cfg: ValueTier) -> ValueThresholds:
    """The two CLV thresholds of today's run."""
    if cfg.method == "absolute":
        return ValueThresholds(cfg.high_min_cny, cfg.low_max_cny, "absolute")
    basis = np.asarray(clv, dtype=float)[~np.asarray(is_prospect, dtype=bool)]
    basis = basis[np.isfinite(basis)]
    if basis.size == 0:
        raise ValueError("value tier: no valued client to set the quantile thresholds on")
    high, low = np.quantile(basis, [cfg.high_quantile, cfg.low_quantile])
    return ValueThresholds(
        float(high), float(low), f"quantiles {cfg.low_quantile:.0%}/{cfg.high_quantile:.0%} of {basis.size} clients"
    )


def value_tiers(clv: np.ndarray, thresholds: ValueThresholds) -> tuple[np.ndarray, pd.Series]:
    """(tier, reason) per client; a client without a CLV is refused (every client is valued upstream)."""
    clv = np.asarray(clv, dtype=float)
    if not np.all(np.isfinite(clv)):
        raise ValueError(f"value tier: {int(np.sum(~np.isfinite(clv)))} clients have no finite CLV")
    high = clv >= thresholds.high_min_cny
    low = clv < thresholds.low_max_cny
    tier = np.select([high, low], ["high", "low"], "mid").astype(object)
    amount = format_cny(clv)
    hi_s = format_cny(np.array([thresholds.high_min_cny]))[0]
    lo_s = format_cny(np.array([thresholds.low_max_cny]))[0]
    reason = np.select(
        [high, low],
        ["CLV " + amount + f" ≥ {hi_s}", "CLV " + amount + f" < {lo_s}"],
        "CLV " + amount + f" in [{lo_s}, {hi_s})",
    )
    return tier, pd.Series(reason, dtype=object) + f" ({thresholds.basis})"


def risk_tiers(
    pit_pd: np.ndarray, asset_class: pd.Series, is_defaulted: np.ndarray, cfg: RiskTier
) -> tuple[np.ndarray, pd.Series]:
    """(tier, reason) per client from the baseline PIT PD and the asset-class floor."""
    pd_ = np.asarray(pit_pd, dtype=float)
    if np.any(~np.isfinite(pd_)):
        raise ValueError(f"risk tier: {int(np.sum(~np.isfinite(pd_)))} clients have no PIT PD")
    by_pd = np.select([pd_ < cfg.low_max_pd, pd_ < cfg.medium_max_pd], [0, 1], 2)
    classes = asset_class.fillna("normal").astype(str)
    unknown = sorted(set(classes.unique()) - set(cfg.asset_class_floor))
    if unknown:
        raise ValueError(f"risk tier: unknown asset class(es) {unknown}")
    floor_rank = {"low": 0, "medium": 1, "high": 2}
    floor = classes.map({k: floor_rank[v] for k, v in cfg.asset_class_floor.items()}).to_numpy(dtype=int)
    rank = np.maximum(by_pd, floor)
    defaulted = np.asarray(is_defaulted, dtype=bool)
    tier = np.where(defaulted, "default", np.array(RISK_TIERS[:3], dtype=object)[rank]).astype(object)
    pd_text = pd.Series(pd_ * 100).map("{:.2f} %".format)
    band = np.array(
        [
            f"< {cfg.low_max_pd * 100:.2f} %",
            f"in [{cfg.low_max_pd * 100:.2f} %, {cfg.medium_max_pd * 100:.2f} %)",
            f"≥ {cfg.medium_max_pd * 100:.2f} %",
        ],
        dtype=object,
    )
    reason = "PIT PD " + pd_text + " " + pd.Series(band[by_pd])
    raised = floor > by_pd
    reason = reason.where(~raised, reason + "; asset class " + classes + " sets at least " + pd.Series(
        np.array(RISK_TIERS[:3], dtype=object)[floor]))  # fmt: skip
    reason = reason.where(~defaulted, "in default")
    return tier, reason


def strategies(value_tier: np.ndarray, risk_tier: np.ndarray, matrix: dict[str, dict[str, str]]) -> np.ndarray:
    """The strategy cell of each client's value × risk position."""
    cells = {f"{v}|{r}": s for v, row in matrix.items() for r, s in row.items()}
    keys = pd.Series(value_tier, dtype=object) + "|" + pd.Series(risk_tier, dtype=object)
    return lookup(keys.to_numpy(dtype=object), cells, "strategy matrix")
