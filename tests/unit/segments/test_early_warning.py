"""Early-warning signals: each rule at its threshold, the new → active → closed lifecycle, the watch list's
ordering, and the errors a caller sees on bad inputs."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from python_tasks.segments.early_warning import (
    HISTORY_COLUMNS,
    INPUT_COLUMNS,
    SIGNAL_COLUMNS,
    WATCH_COLUMNS,
    WarningParams,
    build_watch_list,
    evaluate_signals,
    update_signal_history,
)

PARAMS = WarningParams()
D0, D1, D2, D3, D4 = (date(2026, 11, d) for d in (20, 21, 22, 23, 24))

# a healthy client: raises nothing under the default parameters
HEALTHY = {
    "clv_cny": 1_000_000.0, "clv_prev_cny": 1_000_000.0, "clv_change_top_factor": None,
    "clv_change_top_factor_cny": np.nan, "current_dpd": 0, "current_dpd_prev": 0.0, "max_dpd_3m": 0,
    "current_grade": "BBB", "current_grade_rank": 8, "current_grade_prev": "BBB", "current_grade_rank_prev": 8,
    "notches_downgraded_12m": 0, "debt_service_coverage_ratio": 2.0, "leverage_ratio": 0.5,
    "interest_coverage_ratio": 3.0, "industry_section_code": "C", "industry_npl_ratio_change_yoy_pp": 0.0,
    "industry_output_growth_pct": 5.0, "collateral_coverage_ratio": 1.5, "collateral_coverage_ratio_prev": 1.5,
    "ead_cny": 10_000_000.0, "maturing_share": 0.1, "has_recent_renewal": False, "is_defaulted": False,
}  # fmt: skip


def clients(*overrides: dict) -> pd.DataFrame:
    """One row per override dict, client ids C1, C2, … unless given."""
    rows = [{"client_id": f"C{k + 1}", **HEALTHY, **o} for k, o in enumerate(overrides)]
    return pd.DataFrame(rows, columns=list(INPUT_COLUMNS))


def codes(frame: pd.DataFrame, client_id: str = "C1") -> set[str]:
    return set(frame.loc[frame["client_id"] == client_id, "signal_code"])


def signal(frame: pd.DataFrame, code: str, client_id: str = "C1") -> pd.Series:
    rows = frame[(frame["client_id"] == client_id) & (frame["signal_code"] == code)]
    assert len(rows) == 1, f"{code} for {client_id}: {len(rows)} rows"
    return rows.iloc[0]


def test_a_healthy_client_raises_nothing():
    out = evaluate_signals(clients({}), PARAMS, previous_date=D0)
    assert out.empty
    assert tuple(out.columns) == SIGNAL_COLUMNS


# (code, facts exactly at the threshold: quiet, facts just beyond it: raised)
BOUNDARIES = [
    # relative fall of exactly 10 % of |previous| is not "more than"; the absolute fall is large enough
    ("clv_drop", {"clv_prev_cny": 1e7, "clv_cny": 9e6}, {"clv_prev_cny": 1e7, "clv_cny": 8_999_000.0}),
    # absolute fall of exactly CNY 100 000 (20 % relative) is not "more than"
    ("clv_drop", {"clv_prev_cny": 5e5, "clv_cny": 4e5}, {"clv_prev_cny": 5e5, "clv_cny": 399_999.0}),
    ("clv_drop", {"clv_prev_cny": -1e6, "clv_cny": -1.1e6}, {"clv_prev_cny": -1e6, "clv_cny": -1_100_001.0}),
    # DPD must rise, and reach dpd_watch_days (inclusive)
    ("dpd_rising", {"current_dpd": 5, "current_dpd_prev": 5.0}, {"current_dpd": 6, "current_dpd_prev": 5.0}),
    ("dpd_rising", {"current_dpd": 0, "current_dpd_prev": np.nan}, {"current_dpd": 1, "current_dpd_prev": np.nan}),
    ("rating_downgrade", {"current_grade_rank": 8}, {"current_grade_rank": 9, "current_grade": "BBB-"}),
    ("rating_downgrade", {"notches_downgraded_12m": 1}, {"notches_downgraded_12m": 2}),
    ("covenant_dscr", {"debt_service_coverage_ratio": 1.2}, {"debt_service_coverage_ratio": 1.19}),
    ("covenant_leverage", {"leverage_ratio": 0.75}, {"leverage_ratio": 0.76}),
    ("covenant_icr", {"interest_coverage_ratio": 1.5}, {"interest_coverage_ratio": 1.49}),
    ("industry_stress", {"industry_npl_ratio_change_yoy_pp": 0.5}, {"industry_npl_ratio_change_yoy_pp": 0.51}),
    ("industry_stress", {"industry_output_growth_pct": 0.0}, {"industry_output_growth_pct": -0.1}),
    # 2.5 → 2.0 is exactly a 20 % fall
    (
        "collateral_falling",
        {"collateral_coverage_ratio_prev": 2.5, "collateral_coverage_ratio": 2.0},
        {"collateral_coverage_ratio_prev": 2.5, "collateral_coverage_ratio": 1.99},
    ),
    (
        "collateral_falling",
        {"collateral_coverage_ratio_prev": 1.0, "collateral_coverage_ratio": 1.0},
        {"collateral_coverage_ratio_prev": 0.99, "collateral_coverage_ratio": 0.99},
    ),
    ("maturity_wall", {"maturing_share": 0.49}, {"maturing_share": 0.5}),
]


@pytest.mark.parametrize(("code", "quiet", "raised"), BOUNDARIES)
def test_each_rule_at_its_threshold_and_just_beyond(code: str, quiet: dict, raised: dict):
    out = evaluate_signals(clients(quiet, raised), PARAMS, previous_date=D0)
    assert code not in codes(out, "C1")
    assert code in codes(out, "C2")
    assert codes(out, "C2") == {code}, "a one-fact change raises exactly one signal"


@pytest.mark.parametrize(
    ("code", "facts", "severity"),
    [
        ("dpd_rising", {"current_dpd": 30}, "low"),
        ("dpd_rising", {"current_dpd": 31}, "medium"),
        ("dpd_rising", {"current_dpd": 89}, "medium"),
        ("dpd_rising", {"current_dpd": 90}, "high"),
        ("dpd_rising", {"current_dpd": 5, "max_dpd_3m": 95}, "medium"),  # relapse after a 90+ arrear
        ("clv_drop", {"clv_cny": 800_000.0}, "low"),  # 20 %
        ("clv_drop", {"clv_cny": 750_000.0}, "medium"),  # 25 %
        ("clv_drop", {"clv_cny": 500_000.0}, "high"),  # 50 %
        ("rating_downgrade", {"current_grade_rank": 9}, "low"),
        ("rating_downgrade", {"current_grade_rank": 10}, "medium"),
        ("rating_downgrade", {"notches_downgraded_12m": 3}, "high"),
        ("covenant_dscr", {"debt_service_coverage_ratio": 1.0}, "medium"),
        ("covenant_dscr", {"debt_service_coverage_ratio": 0.99}, "high"),
        ("covenant_leverage", {"leverage_ratio": 0.91}, "high"),
        ("covenant_icr", {"interest_coverage_ratio": -0.5}, "high"),
        ("industry_stress", {"industry_output_growth_pct": -2.0}, "low"),
        ("industry_stress", {"industry_output_growth_pct": -2.0, "industry_npl_ratio_change_yoy_pp": 1.0}, "medium"),
        ("collateral_falling", {"collateral_coverage_ratio": 0.8, "collateral_coverage_ratio_prev": 0.8}, "low"),
        ("collateral_falling", {"collateral_coverage_ratio": 1.0}, "medium"),  # 1.5 → 1.0: −33 %
        ("collateral_falling", {"collateral_coverage_ratio": 0.75}, "high"),  # −50 %
        ("maturity_wall", {"maturing_share": 0.6}, "low"),
        ("maturity_wall", {"maturing_share": 0.8}, "medium"),
    ],
)
def test_severity_follows_the_documented_buckets(code: str, facts: dict, severity: str):
    out = evaluate_signals(clients(facts), PARAMS, previous_date=D0)
    assert signal(out, code)["severity"] == severity


def test_reasons_show_values_and_thresholds_in_english_and_chinese():
    facts = {
        "clv_prev_cny": 5_000_000.0, "clv_cny": 3_830_000.0, "clv_change_top_factor": "pd",
        "clv_change_top_factor_cny": -900_000.0, "debt_service_coverage_ratio": 0.95, "leverage_ratio": 0.8,
        "current_dpd": 45, "current_dpd_prev": 12.0, "current_grade_rank": 10, "current_grade": "BB",
    }  # fmt: skip
    out = evaluate_signals(clients(facts), PARAMS, previous_date=D0)
    clv = signal(out, "clv_drop")
    assert clv["reason_en"] == "CLV down 23.4 % (CNY 1.2 m) since 2026-11-20, mostly PD (−0.9 m)"
    assert clv["reason_zh"] == "客户终身价值自 2026-11-20 以来下降 23.4%（117.0 万元），主要来自违约概率（−90.0 万元）"
    assert clv["observed_value"] == pytest.approx(0.234) and clv["threshold"] == 0.10
    dscr = signal(out, "covenant_dscr")
    assert (dscr["reason_en"], dscr["reason_zh"]) == ("DSCR 0.95 below 1.20", "偿债覆盖率 0.95 低于 1.20")
    assert (dscr["observed_value"], dscr["threshold"]) == (0.95, 1.2)
    assert signal(out, "covenant_leverage")["reason_zh"] == "资产负债率 0.80 高于 0.75"
    assert signal(out, "dpd_rising")["reason_en"] == "DPD 45 days, up from 12"
    assert signal(out, "rating_downgrade")["reason_en"] == "Rating BBB → BB since 2026-11-20 (2 notches)"


def test_rounding_never_shows_a_breach_equal_to_its_limit():
    out = evaluate_signals(clients({"debt_service_coverage_ratio": 1.1996}), PARAMS, previous_date=None)
    assert signal(out, "covenant_dscr")["reason_en"] == "DSCR 1.1996 below 1.20"


def test_covenants_are_separate_codes_and_a_client_without_statements_raises_none():
    breached = {"debt_service_coverage_ratio": 0.9, "leverage_ratio": 0.8, "interest_coverage_ratio": 1.0}
    no_statement = {"debt_service_coverage_ratio": np.nan, "leverage_ratio": np.nan, "interest_coverage_ratio": None}
    out = evaluate_signals(clients(breached, no_statement), PARAMS, previous_date=D0)
    assert codes(out, "C1") == {"covenant_dscr", "covenant_leverage", "covenant_icr"}
    assert codes(out, "C2") == set()


def test_missing_facts_raise_nothing():
    """New clients (no previous CLV), unrated clients, unknown industries, no exposure: no signal, no error."""
    facts = {
        "clv_prev_cny": np.nan, "clv_change_top_factor": "new_client", "current_grade": None,
        "current_grade_rank": None, "industry_npl_ratio_change_yoy_pp": np.nan, "industry_output_growth_pct": np.nan,
        "collateral_coverage_ratio": np.nan, "maturing_share": np.nan,
    }  # fmt: skip
    assert evaluate_signals(clients(facts), PARAMS, previous_date=D0).empty


def test_a_fall_from_a_zero_clv_reports_the_absolute_rule():
    out = evaluate_signals(clients({"clv_prev_cny": 0.0, "clv_cny": -200_000.0}), PARAMS, previous_date=None)
    row = signal(out, "clv_drop")
    assert (row["observed_value"], row["threshold"]) == (200_000.0, 100_000.0)
    assert row["reason_en"] == "CLV down (CNY 0.2 m) since the previous run"


def test_unsecured_clients_raise_no_collateral_signal_but_losing_all_collateral_does():
    unsecured = {"collateral_coverage_ratio": 0.0, "collateral_coverage_ratio_prev": 0.0}
    released = {"collateral_coverage_ratio": 0.0, "collateral_coverage_ratio_prev": 1.5}
    out = evaluate_signals(clients(unsecured, released), PARAMS, previous_date=D0)
    assert codes(out, "C1") == set()
    assert signal(out, "collateral_falling", "C2")["severity"] == "high"


def test_a_renewed_client_has_no_maturity_wall():
    out = evaluate_signals(clients({"maturing_share": 0.9, "has_recent_renewal": True}), PARAMS, previous_date=D0)
    assert out.empty


def test_a_defaulted_client_keeps_only_the_signals_that_still_matter():
    everything = {
        "is_defaulted": True, "current_dpd": 120, "current_dpd_prev": 90.0, "notches_downgraded_12m": 4,
        "debt_service_coverage_ratio": 0.5, "clv_cny": 0.0, "industry_output_growth_pct": -5.0,
        "collateral_coverage_ratio": 0.6, "maturing_share": 1.0,
    }  # fmt: skip
    out = evaluate_signals(clients(everything), PARAMS, previous_date=D0)
    assert codes(out) == {"collateral_falling"}
    keep_all = WarningParams(defaulted_signals=("dpd_rising", "collateral_falling"))
    assert codes(evaluate_signals(clients(everything), keep_all, previous_date=D0)) == {
        "dpd_rising",
        "collateral_falling",
    }


def test_output_is_sorted_by_client_then_code_and_accepts_client_id_as_index():
    frame = clients({"leverage_ratio": 0.9, "current_dpd": 3}, {"maturing_share": 0.7})
    frame["client_id"] = ["B", "A"]
    out = evaluate_signals(frame.set_index("client_id"), PARAMS, previous_date=D0)
    assert list(zip(out["client_id"], out["signal_code"], strict=True)) == [
        ("A", "maturity_wall"),
        ("B", "dpd_rising"),
        ("B", "covenant_leverage"),
    ]


def test_a_missing_input_column_is_named():
    with pytest.raises(ValueError, match=r"missing columns \['leverage_ratio', 'ead_cny'\]"):
        evaluate_signals(clients({}).drop(columns=["leverage_ratio", "ead_cny"]), PARAMS, previous_date=D0)


def test_duplicate_clients_are_refused():
    with pytest.raises(ValueError, match="duplicate client_id.*C1"):
        evaluate_signals(clients({}, {"client_id": "C1"}), PARAMS, previous_date=D0)


def test_parameters_are_validated():
    with pytest.raises(ValidationError, match="dscr_high_below <= dscr_min"):
        WarningParams(dscr_min=0.9)
    with pytest.raises(ValidationError, match="extra"):
        WarningParams(dscr_minimum=1.3)
    with pytest.raises(ValidationError, match="unknown codes"):
        WarningParams(defaulted_signals=("npl",))
    with pytest.raises(ValidationError):
        WarningParams(leverage_max=1.5)


# --- lifecycle -------------------------------------------------------------------------------------------------

NO_HISTORY = pd.DataFrame(columns=list(HISTORY_COLUMNS))


def run(facts: dict, day: date, before: pd.DataFrame, previous: date | None = None) -> pd.DataFrame:
    raised = evaluate_signals(clients(facts), PARAMS, previous_date=previous)
    return update_signal_history(before, raised, day)


def test_a_signal_opens_stays_active_closes_and_reopens_as_new():
    breach, fine = {"leverage_ratio": 0.8}, {}
    day1 = run(breach, D1, NO_HISTORY)
    assert tuple(day1.columns) == HISTORY_COLUMNS
    row = day1.iloc[0]
    assert (row["signal_code"], row["status"], row["opened_date"], row["days_open"]) == (
        "covenant_leverage", "new", pd.Timestamp(D1), 0,
    )  # fmt: skip
    assert pd.isna(row["closed_date"])

    day2 = run({"leverage_ratio": 0.85}, D2, day1)
    row = day2.iloc[0]
    assert (row["status"], row["opened_date"], row["last_seen_date"], row["days_open"]) == (
        "active", pd.Timestamp(D1), pd.Timestamp(D2), 1,
    )  # fmt: skip
    assert row["reason_en"] == "Leverage 0.85 above 0.75", "today's value replaces yesterday's"
    assert not row["escalated"]

    day3 = run(fine, D3, day2)
    row = day3.iloc[0]
    assert (row["status"], row["closed_date"], row["last_seen_date"], row["days_open"]) == (
        "closed", pd.Timestamp(D3), pd.Timestamp(D2), 2,
    )  # fmt: skip
    assert row["reason_en"] == "Leverage 0.85 above 0.75", "a closed signal keeps its last reason"

    day4 = run(breach, D4, day3)  # the closed row in day3's output is ignored
    row = day4.iloc[0]
    assert (row["status"], row["opened_date"], len(day4)) == ("new", pd.Timestamp(D4), 1)


def test_a_rerun_of_the_same_day_gives_the_same_result():
    day1 = run({"leverage_ratio": 0.8, "current_dpd": 3}, D1, NO_HISTORY)
    first = run({"leverage_ratio": 0.8, "maturing_share": 0.6}, D2, day1)
    again = run({"leverage_ratio": 0.8, "maturing_share": 0.6}, D2, day1)
    pd.testing.assert_frame_equal(first, again)
    assert dict(zip(first["signal_code"], first["status"], strict=True)) == {
        "dpd_rising": "closed", "covenant_leverage": "active", "maturity_wall": "new",
    }  # fmt: skip


def test_passing_todays_state_instead_of_the_previous_runs_is_refused():
    day1 = run({"leverage_ratio": 0.8}, D1, NO_HISTORY)
    raised = evaluate_signals(clients({"leverage_ratio": 0.8}), PARAMS, previous_date=D0)
    with pytest.raises(ValueError, match="state after the previous run"):
        update_signal_history(day1, raised, D1)


def test_a_severity_rise_is_flagged_as_escalated():
    day1 = run({"current_dpd": 10, "current_dpd_prev": 0.0}, D1, NO_HISTORY)
    day2 = run({"current_dpd": 40, "current_dpd_prev": 10.0}, D2, day1)
    row = day2.iloc[0]
    assert (row["status"], row["severity"], bool(row["escalated"])) == ("active", "medium", True)


def test_history_inputs_are_validated():
    raised = evaluate_signals(clients({"leverage_ratio": 0.8}), PARAMS, previous_date=D0)
    with pytest.raises(ValueError, match=r"open_before: missing columns \['opened_date'\]"):
        update_signal_history(NO_HISTORY.drop(columns=["opened_date"]), raised, D1)
    with pytest.raises(ValueError, match=r"raised: missing columns \['reason_zh'\]"):
        update_signal_history(NO_HISTORY, raised.drop(columns=["reason_zh"]), D1)
    with pytest.raises(ValueError, match=r"raised: 1 duplicate \(client_id, signal_code\).*C1.*covenant_leverage"):
        update_signal_history(NO_HISTORY, pd.concat([raised, raised]), D1)
    with pytest.raises(ValueError, match="unknown values"):
        update_signal_history(NO_HISTORY, raised.assign(signal_code="npl_rising"), D1)


# --- watch list ------------------------------------------------------------------------------------------------


def history_rows(*rows: tuple) -> pd.DataFrame:
    """(client_id, signal_code, status, severity, days_open) → a history frame."""
    frame = pd.DataFrame(rows, columns=["client_id", "signal_code", "status", "severity", "days_open"])
    frame["reason_en"] = frame["signal_code"] + " (" + frame["severity"] + ")"
    frame["reason_zh"] = frame["signal_code"] + "（" + frame["severity"] + "）"
    return frame


def exposures(**ead: float) -> pd.DataFrame:
    return pd.DataFrame({"client_id": list(ead), "ead_cny": list(ead.values())})


def test_the_watch_list_scores_as_documented():
    """w = 1 + log10(EAD / 1e5) (floor 1e5): 1 m → 2, 100 m → 4, 10 k → 1; high 6, medium 3, low 1;
    +1 per new signal, +2 per signal open 90 days or more."""
    history = history_rows(
        ("small_high", "covenant_dscr", "new", "high", 0),  # 2 · 6 + 1 = 13
        ("big_low", "maturity_wall", "active", "low", 10),  # 4 · 1 = 4
        ("old", "covenant_leverage", "active", "medium", 120),  # 2 · 3 + 2 = 8
        ("old", "industry_stress", "active", "low", 30),  # + 2 · 1 = 10
        ("tiny", "dpd_rising", "active", "medium", 5),  # 1 · 3 = 3 (EAD below the floor)
        ("unknown", "dpd_rising", "active", "low", 5),  # 1 · 1 = 1 (not in inputs)
        ("gone", "covenant_icr", "closed", "high", 40),  # closed: not on the list
    )
    inputs = exposures(small_high=1e6, big_low=1e8, old=1e6, tiny=1e4, gone=1e9)
    out = build_watch_list(history, inputs, PARAMS)
    assert tuple(out.columns) == WATCH_COLUMNS
    assert list(out["client_id"]) == ["small_high", "old", "big_low", "tiny", "unknown"]
    assert list(out["priority_score"]) == pytest.approx([13.0, 10.0, 4.0, 3.0, 1.0])
    assert list(out["priority_rank"]) == [1, 2, 3, 4, 5]
    old = out[out["client_id"] == "old"].iloc[0]
    assert (old["signals"], old["highest_severity"], old["new_signals"]) == (
        "covenant_leverage, industry_stress", "medium", 0,
    )  # fmt: skip
    assert old["reason_en"] == "covenant_leverage (medium); industry_stress (low)"
    assert old["reason_zh"] == "covenant_leverage（medium）；industry_stress（low）"


def test_reasons_list_the_most_severe_signal_first():
    history = history_rows(
        ("A", "clv_drop", "active", "low", 1), ("A", "maturity_wall", "new", "high", 0),
        ("A", "dpd_rising", "active", "medium", 3),
    )  # fmt: skip
    row = build_watch_list(history, exposures(A=1e6), PARAMS).iloc[0]
    assert row["signals"] == "maturity_wall, dpd_rising, clv_drop"
    assert row["reason_en"].startswith("maturity_wall (high); dpd_rising (medium)")
    assert (row["highest_severity"], row["new_signals"]) == ("high", 1)


def test_ties_rank_by_client_id_whatever_the_input_order():
    history = history_rows(*((c, "covenant_dscr", "active", "medium", 3) for c in ("C3", "C1", "C2")))
    inputs = exposures(C1=1e6, C2=1e6, C3=1e6)
    out = build_watch_list(history, inputs, PARAMS)
    assert list(out["client_id"]) == ["C1", "C2", "C3"]
    shuffled = build_watch_list(history.iloc[::-1], inputs.iloc[::-1], PARAMS)
    pd.testing.assert_frame_equal(out, shuffled)


def test_a_client_with_only_closed_signals_is_not_on_the_list():
    history = history_rows(("A", "covenant_dscr", "closed", "high", 9), ("B", "clv_drop", "new", "low", 0))
    out = build_watch_list(history, exposures(A=1e9, B=1e5), PARAMS)
    assert list(out["client_id"]) == ["B"]
    empty = build_watch_list(history.iloc[:1], exposures(A=1e9), PARAMS)
    assert empty.empty and tuple(empty.columns) == WATCH_COLUMNS


def test_the_watch_list_names_missing_columns():
    with pytest.raises(ValueError, match=r"history: missing columns \['days_open'\]"):
        build_watch_list(history_rows().drop(columns=["days_open"]), exposures(), PARAMS)
    with pytest.raises(ValueError, match=r"inputs: missing columns \['ead_cny'\]"):
        build_watch_list(history_rows(), pd.DataFrame({"client_id": ["A"]}), PARAMS)


def test_the_three_steps_chain_end_to_end():
    facts = ({"leverage_ratio": 0.8, "ead_cny": 1e8}, {"current_dpd": 95, "current_dpd_prev": 60.0}, {})
    raised = evaluate_signals(clients(*facts), PARAMS, previous_date=D0)
    history = update_signal_history(NO_HISTORY, raised, D1)
    out = build_watch_list(history, clients(*facts), PARAMS)
    # C1: 4 · 3 + 1 = 13; C2 (EAD 10 m → w 3): 3 · 6 + 1 = 19; C3 has no signal
    assert list(out["client_id"]) == ["C2", "C1"]
    assert list(out["priority_score"]) == pytest.approx([19.0, 13.0])
