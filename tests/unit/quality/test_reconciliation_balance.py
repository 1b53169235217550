"""The reconciliation's comparison logic on hand-made control totals (reference values worked out by hand)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from python_tasks.contracts import load_contracts
from python_tasks.quality.reconciliation import (
    BALANCED,
    GATE,
    SKIPPED,
    UNBALANCED,
    Exclusion,
    _exact,
    amount_columns,
    balance,
    by_rule_detail,
    client_column,
    fmt,
    gate_outcomes,
    skipped,
    unbalanced,
)

# A delivery of 5 rows from 3 clients, 1 000.10 + 250.05 + 0 + 99.99 + 50.00 = 1 400.14 CNY; one row of
# 250.05 CNY quarantined (its client also has a loaded row), so raw holds 4 rows, 3 clients, 1 150.09 CNY.
DELIVERED = {"rows": 5, "clients": 3, "amount_cny": Decimal("1400.14")}
QUARANTINED = Exclusion("quarantined", {"rows": 1, "clients": 0, "amount_cny": Decimal("250.05")}, "type:x 1")
RAW = {"rows": 4, "clients": 3, "amount_cny": Decimal("1150.09")}


def by_measure(checks):
    return {c.measure: c for c in checks}


def test_delivered_equals_loaded_plus_quarantined():
    checks = by_measure(balance("fee_income", "raw", "landing", DELIVERED, RAW, [QUARANTINED]))
    assert {m: c.status for m, c in checks.items()} == {"rows": BALANCED, "clients": BALANCED, "amount_cny": BALANCED}
    amount = checks["amount_cny"]
    assert (amount.upstream, amount.excluded, amount.expected, amount.actual, amount.difference) == (
        Decimal("1400.14"), Decimal("250.05"), Decimal("1150.09"), Decimal("1150.09"), Decimal("0.00"),
    )  # fmt: skip
    assert amount.explanation == (
        "landing 1,400.14 − quarantined 250.05 (type:x 1) = 1,150.09; raw 1,150.09"
    )
    # a zero exclusion is not spelled out
    assert checks["clients"].explanation == "landing 3; raw 3"


def test_a_lost_row_and_a_cent_are_unbalanced_naming_the_difference():
    lost = {"rows": 3, "clients": 3, "amount_cny": Decimal("1150.08")}
    checks = by_measure(balance("fee_income", "raw", "landing", DELIVERED, lost, [QUARANTINED]))
    assert checks["rows"].status == UNBALANCED and checks["rows"].difference == -1
    assert checks["amount_cny"].status == UNBALANCED
    assert checks["amount_cny"].difference == Decimal("-0.01")
    assert checks["amount_cny"].explanation.endswith("raw holds 1,150.08, off by -0.01")
    assert checks["clients"].status == BALANCED
    assert [c.line for c in unbalanced(checks.values())] == [
        "fee_income.rows at raw: landing 5 − quarantined 1 (type:x 1) = 4; raw holds 3, off by -1",
        "fee_income.amount_cny at raw: landing 1,400.14 − quarantined 250.05 (type:x 1) = 1,150.09; "
        "raw holds 1,150.08, off by -0.01",
    ]


def test_an_unexplained_exclusion_does_not_balance():
    """Without the quarantine accounted for, the same totals differ: exclusions are what make them balance."""
    checks = by_measure(balance("fee_income", "raw", "landing", DELIVERED, RAW))
    assert checks["rows"].status == UNBALANCED and checks["rows"].difference == -1
    assert checks["amount_cny"].difference == Decimal("-250.05")


def test_a_negative_exclusion_is_an_addition_by_rule():
    up, got = {"ead_cny": Decimal("100.005")}, {"ead_cny": Decimal("130.005")}
    added = Exclusion("prospects valued as if won", {"ead_cny": Decimal("-30")}, "2 prospects")
    (check,) = balance("clients", "valuation.client_values", "marts.fct_client_profile", up, got, [added])
    assert check.status == BALANCED and check.expected == Decimal("130.005")
    assert " + prospects valued as if won 30 (2 prospects) = 130.005;" in check.explanation


def test_a_measure_missing_downstream_is_unbalanced_not_passed():
    (check,) = balance("repayments", "staging", "raw", {"paid_principal_cny": Decimal("5")}, {})
    assert check.status == UNBALANCED and check.difference is None
    assert "staging has no paid_principal_cny" in check.explanation


def test_only_the_named_measures_are_compared():
    checks = balance("clients", "serving.bi.current_client_value", "marts.fct_client_profile",
                     {"rows": 2, "drawn_balance_cny": Decimal("1.00")}, {"rows": 9, "drawn_balance_cny": Decimal("1.00")},
                     measures=("drawn_balance_cny",))  # fmt: skip
    assert [(c.measure, c.status) for c in checks] == [("drawn_balance_cny", BALANCED)]


def test_skipped_checks_are_neither_balanced_nor_failures():
    check = skipped("macro_indicators", "landing", "landing", "no delivery of macro_indicators for 2026-11-20")
    assert check.status == SKIPPED and check.expected is None and check.difference is None
    assert unbalanced([check]) == []


def test_gate_outcomes_one_per_compared_total_grouped_by_source():
    checks = [
        *balance("fee_income", "raw", "landing", DELIVERED, {**RAW, "rows": 3}, [QUARANTINED]),
        skipped("macro_indicators", "landing", "landing", "no delivery"),
    ]
    suites = gate_outcomes(checks)
    assert list(suites) == [f"{GATE}.fee_income"]
    outcomes = {o.expectation.kwargs["column"]: o for o in suites[f"{GATE}.fee_income"]}
    assert {m: o.success for m, o in outcomes.items()} == {"rows": False, "clients": True, "amount_cny": True}
    rows = outcomes["rows"]
    assert rows.expectation.severity == "error" and rows.expectation.rule == f"{GATE}:raw"
    assert rows.expectation.kwargs == {"column": "rows", "stage": "raw", "upstream_stage": "landing"}
    assert json.loads(rows.observed_value) == {"upstream": "5", "excluded": "1", "expected": "4", "actual": "3",
                                               "difference": "-1"}  # fmt: skip
    assert rows.unexpected_count == 1 and "off by -1" in rows.expectation.meta["why"]


def test_amount_columns_are_the_contracts_decimal_cny_columns():
    contracts = load_contracts()
    assert amount_columns(contracts["facilities"]) == ["limit_cny", "drawn_balance_cny"]
    assert amount_columns(contracts["repayments"]) == [
        "scheduled_principal_cny", "scheduled_interest_cny", "paid_principal_cny", "paid_interest_cny",
    ]  # fmt: skip
    assert amount_columns(contracts["fee_income"]) == ["amount_cny"]
    assert amount_columns(contracts["macro_indicators"]) == []
    assert client_column(contracts["repayments"]) == "client_id"
    assert client_column(contracts["macro_indicators"]) is None


@pytest.mark.parametrize(
    ("value", "text"),
    [(1234567, "1,234,567"), (Decimal("1234.500000"), "1,234.50"), (Decimal("8521714627.995000"), "8,521,714,627.995"),
     (Decimal("150.000000"), "150"), (Decimal("-0.01"), "-0.01"), (None, "none")],
)  # fmt: skip
def test_fmt(value, text):
    assert fmt(value) == text


def test_by_rule_detail_most_rows_first():
    assert by_rule_detail({"unique:fee_id": 1, "type:amount_cny": 2, "not_null:fee_id": 1}) == (
        "type:amount_cny 2, not_null:fee_id 1, unique:fee_id 1"
    )


def test_money_summed_as_double_is_refused():
    """A control total that comes back as a fraction was summed as DOUBLE: exact equality would be luck."""
    assert _exact(3.0) == 3
    with pytest.raises(TypeError, match="DECIMAL"):
        _exact(0.1 + 0.2)


def _valuation(rows: list[tuple[str, str, str, float]]):  # noqa: ANN202 - a DuckDB connection
    """A profile (DECIMAL EAD) and its valuation (DOUBLE EAD, baseline): (client, status, profile EAD, valued)."""
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts; CREATE SCHEMA valuation")
    con.execute("CREATE TABLE marts.fct_client_profile (client_id VARCHAR, as_of_date DATE, client_status VARCHAR, "
                "ead_cny DECIMAL(38,6), drawn_balance_cny DECIMAL(38,2))")  # fmt: skip
    con.execute("CREATE TABLE valuation.client_values (client_id VARCHAR, as_of_date DATE, scenario VARCHAR, "
                "ead_cny DOUBLE, clv_cny DOUBLE)")  # fmt: skip
    for client, status, ead, valued in rows:
        con.execute("INSERT INTO marts.fct_client_profile VALUES (?, DATE '2026-11-20', ?, ?, 0)", [client, status, ead])
        con.execute("INSERT INTO valuation.client_values VALUES (?, DATE '2026-11-20', 'baseline', ?, 1.0)",
                    [client, valued])  # fmt: skip
    return con


def test_a_valued_ead_within_a_doubles_precision_is_the_profiles_exact_ead():
    """At 1.5e10 CNY a DOUBLE holds 14984197291.134998 for the profile's 14984197291.135000 (seen at M): the
    valuation balances to the cent; a cent more on one client does not."""
    from datetime import date

    from python_tasks.quality.reconciliation import reconcile_valuation

    rows = [("C1", "active", "14984197291.135000", 14984197291.134998), ("C2", "active", "50.005000", 50.005),
            ("C3", "prospect", "0", 1_000_000.0)]  # fmt: skip
    checks, _, _ = reconcile_valuation(_valuation(rows), date(2026, 11, 20))
    ead = next(c for c in checks if c.measure == "ead_cny")
    assert ead.status == "balanced", ead.line
    rows[1] = ("C2", "active", "50.005000", 50.015)
    checks, _, _ = reconcile_valuation(_valuation(rows), date(2026, 11, 20))
    ead = next(c for c in checks if c.measure == "ead_cny")
    assert ead.status == "unbalanced" and ead.actual - ead.expected == Decimal("0.01"), ead.line
