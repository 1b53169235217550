"""Reconciliation on generated data: every control total balances from the delivered files to the published
tables with faults quarantined on the way, and a sabotaged warehouse or export is flagged naming the source,
the measure and the stage.

The CI test runs one business date (the history load, with row-level faults injected into it); the slow one
runs the history load and a daily delta with the faults in the delta.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from harness import Deployment

D0 = date(2026, 11, 20)
CLIENTS = 150
#: row-level faults: each quarantines rows of a source (docs/ingestion.md), none rejects a file
FAULTS = "type_error,null_key,duplicate_key_within_file,invalid_uscc,negative_amount,unknown_facility,before_founded"
INTERNAL = ("clients", "facilities", "collateral", "crm_interactions", "fee_income", "financial_statements",
            "product_holdings", "ratings", "repayments")  # fmt: skip
PUBLISHED = ("serving.bi.clv_history", "serving.bi.current_client_value", "parquet.clv_history",
             "parquet.current_client_value")  # fmt: skip


#: the steps after publish (report, run summary, run audit with dbt docs) reconcile nothing: the CI test skips them
AFTER_PUBLISH = ("report", "summarise", "audit")


def deploy(home: Path, *, days: int, fault_date: date) -> Deployment:
    from python_tasks.orchestration.pipeline import steps

    d = Deployment(home)
    d.cli("generate", "--scale", "S", "--clients", str(CLIENTS), "--first-date", D0.isoformat(), "--days", str(days),
          "--seed", "42", "--inject", FAULTS, "--fault-date", fault_date.isoformat(), "--quiet")  # fmt: skip
    d.load_external(D0.replace(day=1))
    if days:
        d.run(D0, to=D0 + timedelta(days=days))
    else:
        d.run(D0, run_id="reconciliation-d0", steps=[s.name for s in steps() if s.name not in AFTER_PUBLISH])
    return d


def checks(d: Deployment, day: date) -> list[dict]:
    """The latest recorded reconciliation of ``day``."""
    con = duckdb.connect(str(d.warehouse), read_only=True)
    try:
        cur = con.execute(
            "SELECT * FROM audit.reconciliation WHERE as_of_date = $d AND run_id = "
            "(SELECT arg_max(run_id, checked_at) FROM audit.reconciliation WHERE as_of_date = $d)", {"d": day}
        )  # fmt: skip
        names = [c[0] for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


def keyed(rows: list[dict]) -> dict[tuple[str, str, str, str], dict]:
    return {(r["source"], r["measure"], r["stage"], r["upstream_stage"]): r for r in rows}


def assert_everything_balances(d: Deployment, day: date, *, latest: bool = True) -> dict:
    proc = d.cli("reconcile", "--date", day.isoformat(), check=False)
    rows = keyed(checks(d, day))
    bad = {k: r["explanation"] for k, r in rows.items() if r["status"] != "balanced" and r["status"] != "skipped"}
    assert not bad, bad
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # every internal source was followed from its files to staging; the marts, valuation and BI were reached
    for source in INTERNAL:
        for stage, upstream in (("load_ledger", "landing"), ("raw", "landing"), ("raw", "load_ledger"),
                                ("quarantine", "load_ledger"), ("staging", "raw")):  # fmt: skip
            assert rows[(source, "rows", stage, upstream)]["status"] == "balanced", (source, stage)
    for key in (("facilities", "drawn_balance_cny", "marts.fct_facility_daily", "raw_state"),
                ("facilities", "drawn_balance_cny", "marts.fct_client_profile", "marts.fct_facility_daily"),
                ("clients", "clients", "marts.fct_client_profile", "raw_state"),
                ("clients", "ead_cny", "valuation.client_values", "marts.fct_client_profile"),
                ("clients", "clients", "serving.bi.clv_history", "valuation.client_values"),
                ("clients", "ead_cny", "parquet.clv_history", "valuation.client_values"),
                ("clients", "drawn_balance_cny", "parquet.current_client_value", "marts.fct_client_profile")):  # fmt: skip
        assert rows[key]["status"] == "balanced", key
    # the serving file holds the current values of the latest published date only (Parquet keeps each date's)
    current = ("clients", "drawn_balance_cny", "serving.bi.current_client_value", "marts.fct_client_profile")
    if latest:
        assert rows[current]["status"] == "balanced"
    else:
        assert current not in rows
        skipped = rows[("clients", "rows", "serving.bi.current_client_value", "valuation.client_values")]
        assert skipped["status"] == "skipped" and "not " + day.isoformat() in skipped["explanation"]
    assert f"Reconciliation of {day}" in proc.stdout  # the readable table was printed
    return rows


def quarantine_counts(d: Deployment, day: date) -> dict[str, int]:
    con = duckdb.connect(str(d.warehouse), read_only=True)
    try:
        return dict(con.execute("SELECT source, count(*) FROM audit.quarantine WHERE as_of_date = $d GROUP BY ALL",
                                {"d": day}).fetchall())  # fmt: skip
    finally:
        con.close()


def assert_quarantine_explained(d: Deployment, day: date, rows: dict) -> None:
    """Every quarantined row is an exclusion of its source's delivered rows, named by rule."""
    counts = quarantine_counts(d, day)
    assert sum(counts.values()) >= 5, counts  # the faults did quarantine rows
    for source, n in counts.items():
        row = rows[(source, "rows", "raw", "landing")]
        assert row["excluded"] == n and row["upstream"] - n == row["actual"], row
        assert f"− quarantined {n:,} (" in row["explanation"], row["explanation"]


@pytest.fixture(scope="module")
def one_day(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    return deploy(tmp_path_factory.mktemp("reconciliation") / "home", days=0, fault_date=D0)


def test_every_control_total_balances_with_quarantined_rows_explained(one_day: Deployment) -> None:
    rows = assert_everything_balances(one_day, D0)
    assert_quarantine_explained(one_day, D0, rows)
    # clients filtered by rule are counted: those without a facility, by status
    without = rows[("clients", "clients", "marts.fct_facility_daily", "marts.fct_client_profile")]
    assert without["excluded"] > 0 and "prospect" in without["explanation"]
    # and prospects' assumed exposure is the one addition the valuation makes
    ead = rows[("clients", "ead_cny", "valuation.client_values", "marts.fct_client_profile")]
    assert ead["excluded"] < 0 and "prospects valued as if won" in ead["explanation"]


def test_sabotage_is_flagged_naming_source_measure_and_stage(one_day: Deployment, tmp_path: Path) -> None:
    """A loaded row deleted from raw and a cent added to a published amount: each is found where it happened."""
    d = Deployment(tmp_path / "sabotaged")
    shutil.copytree(one_day.home, d.home, dirs_exist_ok=True)
    con = duckdb.connect(str(d.warehouse))
    try:
        (row_number,) = con.execute(
            "SELECT min(_row_number) FROM raw.repayments WHERE _as_of_date = $d", {"d": D0}
        ).fetchone()
        con.execute("DELETE FROM raw.repayments WHERE _as_of_date = $d AND _row_number = $n",
                    {"d": D0, "n": row_number})  # fmt: skip
    finally:
        con.close()
    part = d.home / "serving" / "parquet" / "clv_history" / f"as_of_date={D0.isoformat()}" / "part-0.parquet"
    altered = duckdb.connect()
    try:
        altered.execute(
            f"COPY (SELECT * REPLACE (CASE WHEN client_id = (SELECT min(client_id) FROM read_parquet('{part}')) "
            f"AND scenario = 'baseline' THEN ead_cny + 0.01 ELSE ead_cny END AS ead_cny) FROM read_parquet('{part}')) "
            f"TO '{part}.new' (FORMAT parquet)"
        )  # fmt: skip
    finally:
        altered.close()
    Path(f"{part}.new").replace(part)

    proc = d.cli("reconcile", "--date", D0.isoformat(), "--failed", check=False)
    assert proc.returncode == 1, proc.stdout[-3000:]
    rows = keyed(checks(d, D0))
    flagged = {k for k, r in rows.items() if r["status"] == "unbalanced"}
    assert ("repayments", "rows", "raw", "landing") in flagged
    assert ("repayments", "rows", "raw", "load_ledger") in flagged
    assert rows[("repayments", "rows", "raw", "landing")]["difference"] == -1
    assert ("clients", "ead_cny", "parquet.clv_history", "valuation.client_values") in flagged
    assert rows[("clients", "ead_cny", "parquet.clv_history", "valuation.client_values")]["difference"] == Decimal(
        "0.01"
    )
    # nothing else is blamed: the raw row is missing from raw only (staging reads raw), the cent from Parquet only
    assert {(s, stage) for s, _, stage, _ in flagged} == {("repayments", "raw"), ("clients", "parquet.clv_history")}
    assert "unbalanced" in proc.stdout and "repayments" in proc.stdout  # --failed prints the findings
    # a failed reconciliation is a failed gate: the date is held back from BI at the next publish
    from python_tasks.serving.publish import PublishRefused, publishable_dates

    con = duckdb.connect(str(d.warehouse), read_only=True)
    try:
        with pytest.raises(PublishRefused, match="reconciliation"):
            publishable_dates(con, D0)
    finally:
        con.close()


@pytest.mark.slow
def test_history_load_and_a_faulty_daily_delta_balance(tmp_path: Path) -> None:
    d = deploy(tmp_path / "home", days=1, fault_date=D0 + timedelta(days=1))
    assert_everything_balances(d, D0, latest=False)
    rows = assert_everything_balances(d, D0 + timedelta(days=1))
    assert_quarantine_explained(d, D0 + timedelta(days=1), rows)
    # the delta's facility changes reach the state on D+1: the facts hold the latest delivery of every facility
    state = rows[("facilities", "rows", "marts.fct_facility_daily", "raw_state")]
    assert state["upstream"] > rows[("facilities", "rows", "raw", "landing")]["upstream"]
