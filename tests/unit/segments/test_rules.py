"""Segmentation rules at their boundaries: value and risk tiers, the strategy matrix, lifecycle stages,
usage patterns, next best offers with their constraints, migration matrices and summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from python_tasks.segments.lifecycle import lifecycle_stages
from python_tasks.segments.migration import GONE, NEW, migration_matrix, segment_summary
from python_tasks.segments.params import Lifecycle, NextBestOffer, RiskTier, ValueTier, load_segment_params
from python_tasks.segments.products import holdings, usage_patterns
from python_tasks.segments.recommend import next_best_offers
from python_tasks.segments.tiers import format_cny, risk_tiers, strategies, value_thresholds, value_tiers
from python_tasks.settings import SEEDS_DIR, SEGMENT_RULES_FILE

CATALOGUE = pd.read_csv(SEEDS_DIR / "ref_products.csv")[["product_code", "product_family", "is_credit"]]


@pytest.fixture(scope="module")
def rules():
    return load_segment_params(SEGMENT_RULES_FILE)


# --- value tier ----------------------------------------------------------------------------------------


def test_quantile_thresholds_ignore_prospects_and_a_clv_at_a_threshold_takes_the_higher_tier():
    clv = np.arange(1.0, 11.0)  # 1 … 10
    prospect = np.zeros(10, dtype=bool)
    t = value_thresholds(np.append(clv, 1e9), np.append(prospect, True), ValueTier(method="quantile"))
    assert (t.high_min_cny, t.low_max_cny) == pytest.approx((np.quantile(clv, 0.8), np.quantile(clv, 0.4)))
    tier, reason = value_tiers(
        np.array([t.high_min_cny, t.high_min_cny - 1e-9, t.low_max_cny, t.low_max_cny - 1e-9]), t
    )
    assert tier.tolist() == ["high", "mid", "mid", "low"]
    assert "≥" in reason[0] and "<" in reason[3] and "quantiles 40%/80% of 10 clients" in reason[0]


def test_absolute_thresholds():
    cfg = ValueTier(method="absolute", high_min_cny=5e6, low_max_cny=5e5)
    t = value_thresholds(np.array([1.0]), np.array([False]), cfg)
    tier, reason = value_tiers(np.array([5e6, 4_999_999.99, 5e5, 499_999.99, -1e6]), t)
    assert tier.tolist() == ["high", "mid", "mid", "low", "low"]
    assert reason[0].startswith("CLV CNY 5.00 m ≥ CNY 5.00 m")


def test_a_client_without_clv_is_refused():
    t = value_thresholds(np.array([1.0, 2.0]), np.array([False, False]), ValueTier(method="quantile"))
    with pytest.raises(ValueError, match="1 clients have no finite CLV"):
        value_tiers(np.array([1.0, np.nan]), t)


def test_format_cny():
    assert format_cny(np.array([1_234_567.0, -2.1e9, 45_600.0, 12.0])).tolist() == [
        "CNY 1.23 m", "CNY -2.10 bn", "CNY 45.60 k", "CNY 12.00",
    ]  # fmt: skip


# --- risk tier and strategy ----------------------------------------------------------------------------

RISK = RiskTier(
    low_max_pd=0.01, medium_max_pd=0.05,
    asset_class_floor={"normal": "low", "special_mention": "medium", "substandard": "high", "doubtful": "high",
                       "loss": "high"},
)  # fmt: skip


@pytest.mark.parametrize(
    ("pd_", "asset_class", "defaulted", "tier"),
    [
        (0.0099999, "normal", False, "low"),
        (0.01, "normal", False, "medium"),
        (0.0499999, None, False, "medium"),
        (0.05, "normal", False, "high"),
        (0.001, "special_mention", False, "medium"),
        (0.001, "substandard", False, "high"),
        (0.2, "normal", True, "default"),
    ],
)
def test_risk_tier_boundaries_and_asset_class_floor(pd_, asset_class, defaulted, tier):
    got, reason = risk_tiers(np.array([pd_]), pd.Series([asset_class]), np.array([defaulted]), RISK)
    assert got[0] == tier
    if asset_class in ("special_mention", "substandard"):
        assert f"asset class {asset_class} sets at least" in reason[0]


def test_risk_tier_refuses_unknown_asset_classes_and_missing_pd():
    with pytest.raises(ValueError, match=r"unknown asset class\(es\) \['excellent'\]"):
        risk_tiers(np.array([0.01]), pd.Series(["excellent"]), np.array([False]), RISK)
    with pytest.raises(ValueError, match="no PIT PD"):
        risk_tiers(np.array([np.nan]), pd.Series(["normal"]), np.array([False]), RISK)


def test_every_cell_of_the_strategy_matrix(rules):
    values, risks = np.repeat(["high", "mid", "low"], 4), np.tile(["low", "medium", "high", "default"], 3)
    got = strategies(values, risks, rules.strategy_matrix)
    assert got.tolist() == [rules.strategy_matrix[v][r] for v, r in zip(values, risks, strict=True)]
    assert got[0] == "grow" and got[-2] == "exit"  # high value, low risk: grow; low value, high risk: exit


# --- lifecycle ------------------------------------------------------------------------------------------

CYCLE = Lifecycle(new_max_tenure_months=12, growing_min_exposure_growth=0.25, declining_max_exposure_growth=-0.25,
                  inactive_days=180)  # fmt: skip


def _client(**overrides) -> dict:
    row = {"client_status": "active", "is_defaulted": False, "tenure_months": 48, "drawn_balance_cny": 100.0,
           "drawn_balance_12m_ago_cny": 100.0, "exposure_growth_12m": 0.0, "fee_events_12m": 2,
           "days_since_last_contact": 30}  # fmt: skip
    row.update(overrides)
    return row


@pytest.mark.parametrize(
    ("overrides", "stage"),
    [
        ({"client_status": "defaulted"}, "defaulted"),
        ({"is_defaulted": True, "tenure_months": 3}, "defaulted"),
        ({"client_status": "closed"}, "churned"),
        ({"client_status": "prospect", "tenure_months": None}, "prospect"),
        ({"client_status": "dormant", "exposure_growth_12m": 0.5}, "declining"),
        ({"tenure_months": 11, "exposure_growth_12m": -0.9}, "new"),
        ({"tenure_months": 12}, "mature"),
        ({"exposure_growth_12m": 0.25}, "growing"),
        ({"exposure_growth_12m": 0.2499}, "mature"),
        ({"drawn_balance_12m_ago_cny": 0.0, "exposure_growth_12m": None}, "growing"),
        ({"exposure_growth_12m": -0.25}, "declining"),
        ({"exposure_growth_12m": -0.2499}, "mature"),
        ({"drawn_balance_cny": 0.0, "drawn_balance_12m_ago_cny": 0.0, "exposure_growth_12m": None, "fee_events_12m": 0,
          "days_since_last_contact": 181}, "declining"),
        ({"drawn_balance_cny": 0.0, "drawn_balance_12m_ago_cny": 0.0, "exposure_growth_12m": None, "fee_events_12m": 0,
          "days_since_last_contact": 180}, "mature"),
    ],
)  # fmt: skip
def test_lifecycle_rules_in_order_at_their_thresholds(overrides, stage):
    got, reason = lifecycle_stages(pd.DataFrame([_client(**overrides)]), CYCLE)
    assert got[0] == stage
    assert isinstance(reason[0], str) and reason[0]


def test_lifecycle_names_missing_inputs():
    with pytest.raises(ValueError, match=r"missing column\(s\) \['tenure_months'\]"):
        lifecycle_stages(pd.DataFrame([_client()]).drop(columns="tenure_months"), CYCLE)


# --- holdings, usage, offers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("held", "pattern"),
    [
        (None, "none"),
        ("demand_deposit,wealth_management", "non_credit_only"),
        ("working_capital_loan", "credit_only"),
        ("working_capital_loan,demand_deposit", "credit_and_deposit"),
        ("working_capital_loan,letter_of_credit", "trade_active"),
        ("working_capital_loan,demand_deposit,settlement_account,advisory,wealth_management", "full_relationship"),
    ],
)
def test_usage_patterns(held, pattern):
    assert usage_patterns(holdings(pd.Series([held]), CATALOGUE), CATALOGUE)[0] == pattern


def test_unknown_held_products_are_named():
    with pytest.raises(ValueError, match=r"unknown product code\(s\) \['gold_bar'\]"):
        holdings(pd.Series(["demand_deposit,gold_bar"]), CATALOGUE)


def _offer_frame(**overrides) -> pd.DataFrame:
    row = {"risk_tier": "low", "strategy": "grow", "utilisation_ratio": 0.5, "max_dpd_12m": 0,
           "industry_section_code": "C", "enterprise_size": "small", "usage_pattern": "credit_only",
           "deposit_balance_cny": 0.0, "has_credit_exposure": True, "products_held_list": "working_capital_loan"}  # fmt: skip
    row.update(overrides)
    return pd.DataFrame([row])


def _offer(rules, **overrides) -> pd.Series:
    frame = _offer_frame(**overrides)
    held = holdings(frame["products_held_list"], CATALOGUE)
    return next_best_offers(frame, held, rules.next_best_offer, CATALOGUE).iloc[0]


def test_technology_smes_get_ip_pledge_financing(rules):
    got = _offer(rules, industry_section_code="I")
    assert (got["next_best_offer"], got["offer_rule"]) == ("ip_pledge_loan", "ip_pledge_for_technology_smes")
    assert "知识产权质押" in got["offer_reason_zh"]


def test_large_manufacturers_get_long_term_credit_and_the_reason_shows_the_evidence(rules):
    got = _offer(rules, enterprise_size="large")
    assert got["next_best_offer"] == "fixed_asset_loan"
    assert "(industry_section_code C = C; enterprise_size large = large)" in got["offer_reason_en"]


def test_limit_increase_needs_high_utilisation_a_clean_record_and_low_risk(rules):
    assert _offer(rules, utilisation_ratio=0.8)["next_best_offer"] == "limit_increase"
    assert _offer(rules, utilisation_ratio=0.7999)["next_best_offer"] != "limit_increase"
    assert _offer(rules, utilisation_ratio=0.9, max_dpd_12m=1)["next_best_offer"] != "limit_increase"
    assert _offer(rules, utilisation_ratio=0.9, risk_tier="medium")["next_best_offer"] != "limit_increase"
    got = _offer(rules, utilisation_ratio=0.9, products_held_list="demand_deposit", has_credit_exposure=False)
    assert got["next_best_offer"] != "limit_increase"  # nothing to raise


def test_never_a_product_already_held_nor_one_the_risk_tier_forbids(rules):
    held = _offer(rules, enterprise_size="large", products_held_list="working_capital_loan,fixed_asset_loan")
    assert held["next_best_offer"] not in ("fixed_asset_loan", "working_capital_loan")
    medium = _offer(rules, industry_section_code="I", risk_tier="medium")
    assert medium["next_best_offer"] != "ip_pledge_loan"  # forbidden for medium risk
    high = _offer(rules, industry_section_code="I", risk_tier="high", strategy="monitor")
    credit = set(CATALOGUE.loc[CATALOGUE["is_credit"], "product_code"]) | {"limit_increase"}
    assert high["next_best_offer"] not in credit
    assert _offer(rules, strategy="exit")["next_best_offer"] is None
    assert _offer(rules, risk_tier="default", strategy="grow")["next_best_offer"] is None


def test_offer_rules_name_unknown_columns_and_offers(rules):
    bad = NextBestOffer.model_validate({
        **rules.next_best_offer.model_dump(), "rules": [{"id": "x", "offer": "gold_bar", "when": [], "reason": {"en": "a", "zh": "b"}}],
    })  # fmt: skip
    frame = _offer_frame()
    with pytest.raises(ValueError, match="rule x: unknown offer gold_bar"):
        next_best_offers(frame, holdings(frame["products_held_list"], CATALOGUE), bad, CATALOGUE)
    bad = NextBestOffer.model_validate({
        **rules.next_best_offer.model_dump(),
        "rules": [{"id": "y", "offer": "advisory", "when": [{"column": "nope", "op": "eq", "value": 1}],
                   "reason": {"en": "a", "zh": "b"}}],
    })  # fmt: skip
    with pytest.raises(ValueError, match="rule y: unknown column nope"):
        next_best_offers(frame, holdings(frame["products_held_list"], CATALOGUE), bad, CATALOGUE)


# --- migration and summary -----------------------------------------------------------------------------


def test_migration_rows_sum_to_the_previous_counts_and_columns_to_todays():
    before = pd.DataFrame({"client_id": ["A", "B", "C", "D"], "label": ["high", "high", "low", "mid"],
                           "ead_cny": [10.0, 20.0, 5.0, 7.0]})  # fmt: skip
    now = pd.DataFrame({"client_id": ["A", "B", "C", "E"], "label": ["high", "mid", "low", "low"],
                        "ead_cny": [11.0, 19.0, 4.0, 3.0]})  # fmt: skip
    m = migration_matrix(before, now, "value_tier")
    rows = m[m["from_label"] != NEW].groupby("from_label")["clients"].sum()
    assert rows.to_dict() == before["label"].value_counts().to_dict()
    cols = m[m["to_label"] != GONE].groupby("to_label")["clients"].sum()
    assert cols.to_dict() == now["label"].value_counts().to_dict()
    cell = m.set_index(["from_label", "to_label"])
    assert cell.loc[("high", "mid"), "clients"] == 1 and cell.loc[("high", "mid"), "exposure_cny"] == 19.0
    assert cell.loc[(NEW, "low"), "exposure_before_cny"] == 0 and cell.loc[("mid", GONE), "exposure_cny"] == 7.0


def test_segment_summary_weights_raroc_by_capital():
    frame = pd.DataFrame({"tier": ["a", "a", "b"], "clv_cny": [10.0, 20.0, 30.0], "clv_stressed_cny": [5.0, 10.0, 15.0],
                          "ead_cny": [100.0, 100.0, 50.0], "expected_loss_12m_cny": [1.0, 2.0, 3.0],
                          "capital_cny": [10.0, 30.0, 0.0], "raroc_numerator_cny": [2.0, 2.0, 1.0]})  # fmt: skip
    s = segment_summary(frame, ["tier"]).set_index("segment")
    assert s.loc["a", "raroc"] == pytest.approx(4.0 / 40.0) and np.isnan(s.loc["b", "raroc"])
    assert s.loc["a", "share_of_clv"] == pytest.approx(0.5) and s["clients"].sum() == 3


def test_amounts_in_offer_reasons_read_as_money(rules):
    got = _offer(rules, industry_section_code="G", enterprise_size="small", deposit_balance_cny=79_920_870.0)
    assert got["next_best_offer"] == "cash_management"
    assert "(deposit_balance_cny CNY 79.92 m ≥ CNY 10.00 m)" in got["offer_reason_en"]
