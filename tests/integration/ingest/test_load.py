"""Loading a delivery: counts reconcile, reruns are idempotent, D is replaced and nothing else."""

from __future__ import annotations

import duckdb
import pytest
from deliveries import D0, D1, client_row, facility_row, repayment_row, table_hash

from python_tasks.ingest.job import ingest_source, summarise_run
from python_tasks.settings import get_settings


def _con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(get_settings().warehouse_path), read_only=True)


def test_good_delivery_loads_every_row_with_metadata(inbox, loaded_clients):
    result = loaded_clients()
    assert (result["status"], result["rows_in"], result["rows_loaded"], result["rows_quarantined"]) == (
        "loaded",
        2,
        2,
        0,
    )
    with _con() as con:
        rows = con.execute(
            "SELECT client_id, company_name, employees, founded_date, _as_of_date, _source_file, _row_number, _run_id "
            "FROM raw.clients ORDER BY client_id"
        ).fetchall()
    assert rows[0][0] == "C000000001"
    assert rows[0][1] == "深圳市测试1科技有限公司"  # GBK decoded correctly
    assert rows[0][2] == 120 and str(rows[0][3]) == "2010-05-01"
    assert (str(rows[0][4]), rows[0][5], rows[0][6], rows[0][7]) == (
        "2026-11-20",
        "clients_20261120_001.csv",
        1,
        "run-clients",
    )


def test_rows_in_equals_loaded_plus_quarantined_in_tables_and_ledger(inbox, loaded_clients):
    loaded_clients()
    good = [repayment_row(i) for i in range(1, 6)]
    bad = [
        repayment_row(6, scheduled_principal_cny="-5"),
        repayment_row(7, repayment_id=""),
        repayment_row(8, facility=99),
    ]
    inbox.facilities(D0, [facility_row(1)])
    ingest_source("facilities", D0, "r1")
    inbox.csv("repayments", D0, good[:3] + bad[:2], part=1)
    inbox.csv("repayments", D0, good[3:] + bad[2:], part=2)
    result = ingest_source("repayments", D0, "r1")
    assert (result["rows_in"], result["rows_loaded"], result["rows_quarantined"]) == (8, 5, 3)
    with _con() as con:
        loaded = con.execute("SELECT count(*) FROM raw.repayments").fetchone()[0]
        quarantined = con.execute("SELECT count(*) FROM audit.quarantine WHERE source = 'repayments'").fetchone()[0]
        ledger = con.execute(
            "SELECT file_name, rows_in, rows_loaded, rows_quarantined FROM audit.load_ledger "
            "WHERE source = 'repayments' ORDER BY file_name"
        ).fetchall()
    assert (loaded, quarantined) == (5, 3)
    assert ledger == [("repayments_20261120_001.csv", 5, 3, 2), ("repayments_20261120_002.csv", 3, 2, 1)]
    assert all(rows_in == ok + q for _, rows_in, ok, q in ledger)


def test_same_date_twice_gives_identical_raw_tables(inbox, loaded_clients):
    loaded_clients()
    inbox.facilities(D0, [facility_row(1), facility_row(2, drawn_balance_cny=None)])
    ingest_source("facilities", D0, "first")
    with _con() as con:
        before = {t: table_hash(con, t) for t in ("raw.clients", "raw.facilities", "audit.quarantine")}
    assert ingest_source("facilities", D0, "second")["status"] == "unchanged"
    assert ingest_source("facilities", D0, "third", force=True)["status"] == "loaded"
    assert ingest_source("clients", D0, "fourth", force=True)["status"] == "loaded"
    with _con() as con:
        after = {t: table_hash(con, t) for t in ("raw.clients", "raw.facilities", "audit.quarantine")}
        statuses = [
            r[0]
            for r in con.execute(
                "SELECT status FROM audit.load_ledger WHERE source='facilities' ORDER BY finished_at"
            ).fetchall()
        ]
    assert after == before
    assert statuses == ["loaded", "unchanged", "loaded"]


def test_rerun_of_a_date_replaces_that_date_only(inbox, loaded_clients):
    loaded_clients()
    inbox.csv("clients", D1, [client_row(3)])
    ingest_source("clients", D1, "d1")
    inbox.csv("clients", D0, [client_row(1, company_name="更正后的名称")])  # corrected delivery for D0
    result = ingest_source("clients", D0, "d0-again")
    assert result["status"] == "loaded" and result["rows_loaded"] == 1
    with _con() as con:
        by_date = con.execute(
            "SELECT _as_of_date::VARCHAR, list(client_id ORDER BY client_id) FROM raw.clients GROUP BY 1 ORDER BY 1"
        ).fetchall()
        name = con.execute("SELECT company_name FROM raw.clients WHERE _as_of_date = DATE '2026-11-20'").fetchone()[0]
    assert by_date == [("2026-11-20", ["C000000001"]), ("2026-11-21", ["C000000003"])]
    assert name == "更正后的名称"


def test_master_key_may_repeat_across_dates_but_event_key_may_not(inbox, loaded_clients):
    loaded_clients()
    inbox.csv("clients", D1, [client_row(1, employees="130")])  # a changed master row: fine
    assert ingest_source("clients", D1, "d1")["rows_quarantined"] == 0
    inbox.facilities(D0, [facility_row(1)])
    ingest_source("facilities", D0, "d0")
    inbox.csv("repayments", D0, [repayment_row(1)])
    ingest_source("repayments", D0, "d0")
    inbox.csv("repayments", D1, [repayment_row(1, paid_date="2026-11-21"), repayment_row(2)])
    result = ingest_source("repayments", D1, "d1")
    assert (result["rows_loaded"], result["rows_quarantined"]) == (1, 1)
    with _con() as con:
        rule, reason = con.execute("SELECT rule, reasons[1] FROM audit.quarantine WHERE source='repayments'").fetchone()
    assert rule == "unique_across_deliveries:repayment_id"
    assert "already delivered for 2026-11-20" in reason


def test_summary_reports_counts_per_source(inbox, loaded_clients):
    loaded_clients()
    summary = summarise_run(D0, "run-clients")
    assert summary["sources"] == [
        {"source": "clients", "files": 1, "rows_in": 2, "rows_loaded": 2, "rows_quarantined": 0, "status": "loaded",
         "attempts": 1}
    ]  # fmt: skip


def test_summary_reports_a_load_retried_in_the_same_run_once(inbox, loaded_clients):
    """The worker was killed after the load committed; the retry of the same run found the file unchanged."""
    loaded_clients()
    assert ingest_source("clients", D0, "run-clients")["status"] == "unchanged"
    summary = summarise_run(D0, "run-clients")
    assert summary["sources"] == [
        {"source": "clients", "files": 1, "rows_in": 2, "rows_loaded": 2, "rows_quarantined": 0, "status": "loaded",
         "attempts": 2}
    ]  # fmt: skip


@pytest.mark.parametrize("encoding", ["gbk"])
def test_chinese_text_survives_gbk(inbox, encoding):
    inbox.csv("clients", D0, [client_row(1, company_name="鑫龍（集团）股份有限公司")], encoding=encoding)
    ingest_source("clients", D0, "r")
    with _con() as con:
        assert con.execute("SELECT company_name FROM raw.clients").fetchone()[0] == "鑫龍（集团）股份有限公司"


def test_row_numbers_stay_exact_on_a_large_parallel_read(inbox, loaded_clients, tmp_path):
    """DuckDB reads big files in parallel and the warehouse does not preserve insertion order: the row
    number of every loaded row must still be its line in the file (here: repayment i is on row i)."""
    loaded_clients()
    inbox.facilities(D0, [facility_row(1)])
    ingest_source("facilities", D0, "f")
    n = 600_000
    with duckdb.connect() as con:
        target = inbox.folder("repayments", D0) / "repayments_20261120_001.csv"
        con.execute(
            f"""COPY (SELECT 'R' || lpad(i::VARCHAR, 9, '0') AS repayment_id, 'F000000001' AS facility_id,
                      'C000000001' AS client_id, 1 + i % 100 AS installment_no, DATE '2026-01-01' AS due_date,
                      1000.00 AS scheduled_principal_cny, 100.00 AS scheduled_interest_cny,
                      CASE WHEN i % 100000 = 0 THEN 'not a date' ELSE '2026-01-01' END AS paid_date,
                      1000.00 AS paid_principal_cny, 100.00 AS paid_interest_cny
                  FROM range(1, {n + 1}) t(i)) TO '{target}' (HEADER)"""
        )
    result = ingest_source("repayments", D0, "big")
    assert (result["rows_in"], result["rows_quarantined"]) == (n, 6)
    with _con() as con:
        wrong = con.execute(
            "SELECT count(*) FROM raw.repayments WHERE _row_number <> CAST(substr(repayment_id, 2) AS BIGINT)"
        ).fetchone()[0]
        quarantined = con.execute("SELECT list(row_number ORDER BY row_number), list(DISTINCT rule) FROM audit.quarantine").fetchone()
    assert wrong == 0
    assert quarantined == ([100000, 200000, 300000, 400000, 500000, 600000], ["type:paid_date"])
