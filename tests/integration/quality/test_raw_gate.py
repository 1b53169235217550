"""The raw gate: GX suites derived from the contracts, every result recorded, error-level failures stop."""

from __future__ import annotations

import duckdb
import pytest
from deliveries import D0, client_row, macro_row

from python_tasks.contracts import load_contract, load_contracts
from python_tasks.ingest.job import ingest_source
from python_tasks.ingest.rules import all_rules
from python_tasks.quality.raw_gate import GateFailed, partition_query, run_raw_gate
from python_tasks.quality.suites import contract_expectations, loader_only_rules
from python_tasks.settings import get_settings


def _results(run_id: str) -> list[tuple]:
    with duckdb.connect(str(get_settings().warehouse_path), read_only=True) as con:
        return con.execute(
            "SELECT suite, expectation_type, column_name, contract_rule, severity, success, unexpected_count "
            "FROM audit.dq_results WHERE run_id = $r ORDER BY ALL",
            {"r": run_id},
        ).fetchall()


@pytest.mark.parametrize("source", sorted(load_contracts()))
def test_every_loader_rule_has_a_gx_expectation_or_is_documented_loader_only(source):
    """Drift guard: the SQL rules and the GX suite are rendered from one contract and must cover each other."""
    contract = load_contract(source)
    sql_rules = {r.name for r in all_rules(contract)}
    gx_rules = {e.rule for e in contract_expectations(contract, D0)} - {"file:header"}
    assert gx_rules <= sql_rules, f"GX checks a rule the loader does not: {gx_rules - sql_rules}"
    assert sql_rules - gx_rules == set(loader_only_rules(contract))


def test_clean_partition_passes_and_every_result_is_recorded(inbox):
    inbox.csv("clients", D0, [client_row(i) for i in range(1, 4)] + [client_row(9, uscc="91440300MA5000001X")])
    ingest_source("clients", D0, "run-a")
    summary = run_raw_gate(D0, "run-a")
    assert summary["failed_errors"] == 0 and summary["suites"] == 1
    results = _results("run-a")
    assert len(results) == summary["expectations"] == len(contract_expectations(load_contract("clients"), D0)) + 2
    assert all(r[5] for r in results if r[4] == "error")
    uscc = [r for r in results if r[1] == "expect_column_values_to_be_valid_uscc"]
    assert uscc == [("raw.clients", "expect_column_values_to_be_valid_uscc", "uscc", "format:uscc", "error", True, 0)]


def test_gx_flags_what_the_loader_quarantines(inbox, tmp_path):
    """Behavioural drift guard: on unfiltered rows, GX fails exactly the expectations of the rules the loader used."""
    from python_tasks.quality.gx_engine import QueryBatch, validate_queries

    bad = {
        2: {"uscc": "91440300MA5000001X"},
        3: {"industry_code": "C05"},
        4: {"region_code": "999999"},
        5: {"registered_capital_cny": "-1.00"},
        6: {"founded_date": "2026-11-21", "onboarded_date": ""},
        7: {"onboarded_date": "2009-01-01"},
        8: {"client_status": "vip"},
        9: {"legal_rep_phone": "12345"},
        10: {"client_id": ""},
    }
    inbox.csv("clients", D0, [client_row(1)] + [client_row(i, **o) for i, o in bad.items()])
    result = ingest_source("clients", D0, "run-b")
    assert result["rows_quarantined"] == len(bad)
    contract = load_contract("clients")
    # Rebuild the unfiltered partition in a scratch DuckDB file, where GX validates it as it validates the
    # warehouse: loaded rows plus the quarantined rows' delivered values, typed.
    scratch = tmp_path / "unfiltered.duckdb"
    with duckdb.connect(str(scratch)) as con:
        con.execute("ATTACH $p AS wh (READ_ONLY)", {"p": str(get_settings().warehouse_path)})
        quarantined_rules = {
            r[0] for r in con.execute("SELECT DISTINCT unnest(failed_rules) FROM wh.audit.quarantine").fetchall()
        }
        con.execute("CREATE SCHEMA raw")
        con.execute("CREATE TABLE raw.clients AS SELECT * FROM wh.raw.clients")
        casts = ", ".join(
            f"TRY_CAST(nullif(raw_record->>'{c.name}', '') AS {c.type}) AS \"{c.name}\"" for c in contract.columns
        )
        con.execute(
            f"INSERT INTO raw.clients SELECT {casts}, as_of_date, file_name, row_number, run_id, quarantined_at "
            "FROM wh.audit.quarantine"
        )
        assert con.execute("SELECT count(*) FROM raw.clients").fetchone()[0] == 1 + len(bad)
    batch = QueryBatch("drift", partition_query(contract, D0), contract_expectations(contract, D0))
    outcomes = validate_queries(scratch, [batch])["drift"]
    assert all(o.exception is None for o in outcomes), [o.exception for o in outcomes if o.exception]
    gx_failed = {o.expectation.rule for o in outcomes if not o.success}
    assert gx_failed == quarantined_rules - set(loader_only_rules(contract))


def test_error_level_business_rule_stops_the_run_naming_the_check(home, fake_api):
    fake_api["/v1/macro_indicators?as_of_date=2026-11-20"] = {
        "source": "macro_indicators",
        "records": [macro_row(s) for s in ("baseline", "adverse")],  # the severe path is missing
    }
    assert ingest_source("macro_indicators", D0, "run-c")["rows_loaded"] == 2
    with pytest.raises(GateFailed) as info:
        run_raw_gate(D0, "run-c")
    assert "raw.macro_indicators: expect_column_distinct_values_to_equal_set(scenario)" in str(info.value)
    failed = [r for r in _results("run-c") if not r[5]]
    assert [(r[0], r[1], r[4]) for r in failed] == [
        ("raw.macro_indicators", "expect_column_distinct_values_to_equal_set", "error")
    ]
