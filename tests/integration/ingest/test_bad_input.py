"""Every class of bad input gets a clear error naming the file, the row and the rule, and nothing is lost."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from deliveries import D0, D1, client_row, facility_row, repayment_row

from python_tasks.contracts import load_contract
from python_tasks.ingest.job import ingest_source
from python_tasks.ingest.readers import DeliveryError
from python_tasks.settings import get_settings


def _query(sql: str, params: dict | None = None) -> list[tuple]:
    with duckdb.connect(str(get_settings().warehouse_path), read_only=True) as con:
        return con.execute(sql, params or {}).fetchall()


def _quarantine(source: str) -> list[tuple]:
    return _query(
        "SELECT file_name, row_number, rule, column_name, value, failed_rules, reasons FROM audit.quarantine "
        "WHERE source = $s ORDER BY file_name, row_number",
        {"s": source},
    )


def _assert_reconciles(source: str) -> None:
    ((rows_in, loaded, quarantined),) = _query(
        "SELECT sum(rows_in), sum(rows_loaded), sum(rows_quarantined) FROM audit.load_ledger "
        "WHERE source = $s AND status = 'loaded' AND run_id = (SELECT run_id FROM audit.load_ledger WHERE source = $s "
        "ORDER BY finished_at DESC LIMIT 1)",
        {"s": source},
    )
    in_table = _query(f"SELECT count(*) FROM raw.{source}")[0][0]
    in_quarantine = _query("SELECT count(*) FROM audit.quarantine WHERE source = $s", {"s": source})[0][0]
    assert rows_in == loaded + quarantined
    assert (loaded, quarantined) == (in_table, in_quarantine)


def _rejected(source: str, run: str = "bad") -> DeliveryError:
    with pytest.raises(DeliveryError) as info:
        ingest_source(source, D0, run)
    status, message = _query(
        "SELECT status, message FROM audit.load_ledger WHERE source = $s AND run_id = $r AND status = 'rejected'",
        {"s": source, "r": run},
    )[0]
    assert status == "rejected" and message == str(info.value)
    return info.value


# --- file-level: the task fails, the message names file and problem, the partition keeps its content ------


def test_truncated_csv_is_rejected_with_line(inbox, loaded_clients):
    loaded_clients()
    inbox.facilities(D0, [facility_row(1)])
    ingest_source("facilities", D0, "f")
    path = inbox.csv("repayments", D0, [repayment_row(i) for i in range(1, 5)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 25])
    error = _rejected("repayments")
    assert error.rule == "file:truncated" and error.line == 5
    assert "repayments_20261120_001.csv, line 5: truncated" in str(error)
    assert _query("SELECT count(*) FROM raw.repayments")[0][0] == 0


def test_truncated_parquet_is_rejected(inbox, loaded_clients):
    loaded_clients()
    path = inbox.facilities(D0, [facility_row(1)])
    path.write_bytes(path.read_bytes()[:-40])
    error = _rejected("facilities")
    assert error.rule == "file:unreadable" and "facilities_20261120_001.parquet" in str(error)


def test_gbk_declared_file_in_utf8_is_rejected(inbox):
    inbox.csv("clients", D0, [client_row(1)], encoding="utf-8")
    error = _rejected("clients")
    assert error.rule == "file:encoding" and "UTF-8 encoded but the contract declares GBK" in str(error)


def test_utf8_declared_file_with_gbk_bytes_names_the_line(inbox, loaded_clients):
    loaded_clients()
    rows = [
        {
            "interaction_id": f"I{i}",
            "client_id": "C000000001",
            "interaction_date": "2026-11-20",
            "channel": "visit",
            "interaction_type": "relationship_review",
            "relationship_manager_id": "RM0001",
            "outcome": "好",
        }
        for i in range(3)
    ]
    inbox.csv("crm_interactions", D0, rows, encoding="gbk")
    error = _rejected("crm_interactions")
    assert error.rule == "file:encoding" and error.line == 2 and "not valid UTF-8" in str(error)


def test_empty_file_is_rejected(inbox):
    inbox.write("clients", D0, b"")
    error = _rejected("clients")
    assert error.rule == "file:empty" and "empty file (0 bytes)" in str(error)


def test_header_only_file_loads_nothing_and_says_so(inbox):
    inbox.csv("clients", D0, [])
    result = ingest_source("clients", D0, "r")
    assert (result["rows_in"], result["rows_loaded"], result["rows_quarantined"]) == (0, 0, 0)
    assert "header only" in result["files"][0]["message"]


def test_wrong_delimiter_is_rejected(inbox):
    inbox.csv("clients", D0, [client_row(1)], delimiter=";")
    error = _rejected("clients")
    assert error.rule == "file:delimiter" and "';'-delimited" in str(error) and error.line == 1


def test_renamed_column_is_rejected_naming_both(inbox):
    columns = ["staff_count" if c == "employees" else c for c in load_contract("clients").column_names]
    inbox.csv("clients", D0, [{**client_row(1), "staff_count": "5"}], columns=columns)
    error = _rejected("clients")
    assert error.rule == "file:header" and "missing column(s) employees" in str(error) and "staff_count" in str(error)


def test_dropped_column_is_rejected(inbox):
    columns = [c for c in load_contract("clients").column_names if c != "region_code"]
    inbox.csv("clients", D0, [client_row(1)], columns=columns)
    assert "missing column(s) region_code" in str(_rejected("clients"))


def test_added_column_is_loaded_and_reported(inbox):
    columns = [*load_contract("clients").column_names, "wechat_id"]
    inbox.csv("clients", D0, [{**client_row(1), "wechat_id": "x"}], columns=columns)
    result = ingest_source("clients", D0, "r")
    assert result["rows_loaded"] == 1
    assert "not in the contract ignored: wechat_id" in result["files"][0]["message"]


def test_narrowed_parquet_column_is_rejected(inbox, loaded_clients):
    loaded_clients()
    contract = load_contract("facilities")
    fields = [(c.name, pa.int32() if c.name == "limit_cny" else None) for c in contract.columns]
    import decimal

    from deliveries import ARROW_TYPES, parquet_bytes

    schema = pa.schema([(n, t or ARROW_TYPES[contract.column(n).type]) for n, t in fields])
    row = facility_row(1, limit_cny=1000000)
    row["drawn_balance_cny"] = decimal.Decimal("1.00")
    inbox.write("facilities", D0, parquet_bytes(contract.column_names, [row], schema=schema))
    error = _rejected("facilities")
    assert error.rule == "file:schema" and "limit_cny narrowed from DECIMAL(18,2) to INTEGER" in str(error)


def test_rejected_file_leaves_the_partition_untouched(inbox, loaded_clients):
    loaded_clients()
    inbox.write("clients", D0, b"")
    with pytest.raises(DeliveryError):
        ingest_source("clients", D0, "again")
    assert _query("SELECT count(*) FROM raw.clients")[0][0] == 2


# --- row-level: the row goes to quarantine with file, row, rule and value ---------------------------------


@pytest.mark.parametrize(
    ("overrides", "rule", "value"),
    [
        ({"employees": "abc"}, "type:employees", "abc"),
        ({"founded_date": "2026-13-45"}, "type:founded_date", "2026-13-45"),
        ({"client_id": ""}, "not_null:client_id", None),
        ({"uscc": "91440300MA5000001X"}, "format:uscc", "91440300MA5000001X"),
        ({"industry_code": "C05"}, "format:industry_code", "C05"),
        ({"industry_code": "Z99"}, "format:industry_code", "Z99"),
        ({"region_code": "999999"}, "format:region_code", "999999"),
        ({"registered_capital_cny": "-1.00"}, "range:registered_capital_cny", "-1.00"),
        ({"founded_date": "2026-11-21", "onboarded_date": ""}, "not_after_business_date:founded_date", "2026-11-21"),
        ({"onboarded_date": "2009-01-01"}, "not_before:onboarded_date", "2009-01-01"),
        ({"client_status": "vip"}, "allowed_values:client_status", "vip"),
        ({"legal_rep_phone": "12345"}, "pattern:legal_rep_phone", "12345"),
    ],
)
def test_bad_client_row_is_quarantined_with_rule_and_value(inbox, overrides, rule, value):
    inbox.csv("clients", D0, [client_row(1), client_row(2, **overrides), client_row(3)])
    result = ingest_source("clients", D0, "r")
    assert (result["rows_loaded"], result["rows_quarantined"]) == (2, 1)
    file_name, row_number, first_rule, _column, shown, failed, reasons = _quarantine("clients")[0]
    assert (file_name, row_number) == ("clients_20261120_001.csv", 2)
    assert rule in failed and first_rule == failed[0]
    if first_rule == rule:
        assert shown == value
    assert any(r.startswith(rule + ":") for r in reasons)
    _assert_reconciles("clients")


def test_valid_format_uscc_with_wrong_check_character_is_flagged(inbox):
    from python_tasks.codes.uscc import make_uscc

    good = make_uscc("9", "1", "440300", "MA5000002")
    wrong = good[:-1] + ("0" if good[-1] != "0" else "1")
    inbox.csv("clients", D0, [client_row(1, uscc=good), client_row(2, uscc=wrong)])
    ingest_source("clients", D0, "r")
    rows = _quarantine("clients")
    assert [(r[1], r[2], r[4]) for r in rows] == [(2, "format:uscc", wrong)]


def test_duplicate_key_within_a_file_keeps_the_first(inbox):
    inbox.csv("clients", D0, [client_row(1), client_row(2), client_row(1, company_name="重复")])
    ingest_source("clients", D0, "r")
    (row,) = _quarantine("clients")
    assert (row[1], row[2]) == (3, "unique:client_id")
    assert "first at clients_20261120_001.csv row 1" in row[6][0]
    _assert_reconciles("clients")


def test_duplicate_key_across_files_of_one_delivery(inbox):
    inbox.csv("clients", D0, [client_row(1), client_row(2)], part=1)
    inbox.csv("clients", D0, [client_row(3), client_row(2)], part=2)
    result = ingest_source("clients", D0, "r")
    assert (result["rows_loaded"], result["rows_quarantined"]) == (3, 1)
    (row,) = _quarantine("clients")
    assert (row[0], row[1], row[2]) == ("clients_20261120_002.csv", 2, "unique:client_id")


def test_negative_amount_and_future_date_in_repayments(inbox, loaded_clients):
    loaded_clients()
    inbox.facilities(D0, [facility_row(1)])
    ingest_source("facilities", D0, "f")
    inbox.csv(
        "repayments",
        D0,
        [repayment_row(1), repayment_row(2, paid_interest_cny="-10.00"), repayment_row(3, paid_date="2026-11-25")],
    )
    ingest_source("repayments", D0, "r")
    rows = _quarantine("repayments")
    assert [(r[1], r[2], r[4]) for r in rows] == [
        (2, "range:paid_interest_cny", "-10.00"),
        (3, "not_after_business_date:paid_date", "2026-11-25"),
    ]
    _assert_reconciles("repayments")


def test_facility_starting_before_its_client_was_founded(inbox, loaded_clients):
    from datetime import date

    loaded_clients()
    inbox.facilities(D0, [facility_row(1), facility_row(2, start_date=date(2009, 1, 1))])
    ingest_source("facilities", D0, "f")
    (row,) = _quarantine("facilities")
    assert (row[1], row[2], row[4]) == (2, "not_before:start_date", "2009-01-01")
    assert "before clients.founded_date 2010-05-01" in row[6][0]


def test_repayment_for_an_unknown_facility(inbox, loaded_clients):
    loaded_clients()
    inbox.facilities(D0, [facility_row(1)])
    ingest_source("facilities", D0, "f")
    inbox.csv("repayments", D0, [repayment_row(1), repayment_row(2, facility=777)])
    ingest_source("repayments", D0, "r")
    (row,) = _quarantine("repayments")
    assert (row[1], row[2], row[4]) == (2, "foreign_key:facility_id", "F000000777")
    assert "has no match in facilities" in row[6][0]


def test_row_breaking_several_rules_lists_them_all(inbox):
    inbox.csv("clients", D0, [client_row(1, employees="x", region_code="000000", client_status="?")])
    ingest_source("clients", D0, "r")
    (row,) = _quarantine("clients")
    assert set(row[5]) == {"type:employees", "format:region_code", "allowed_values:client_status"}
    assert len(row[6]) == 3


def test_delivery_received_twice_is_not_loaded_twice(inbox, loaded_clients):
    loaded_clients()
    original = inbox.folder("clients", D0) / "clients_20261120_001.csv"
    inbox.write("clients", D1, original.read_bytes())
    result = ingest_source("clients", D1, "d1")
    assert result["status"] == "duplicate" and result["rows_loaded"] == 0
    assert "identical to clients_20261120_001.csv already loaded for 2026-11-20" in result["files"][0]["message"]
    assert _query("SELECT count(*) FROM raw.clients WHERE _as_of_date = DATE '2026-11-21'")[0][0] == 0
