"""Duplicate, out-of-order and late (corrected) deliveries.

* A file delivered twice (the same file again; the same bytes under a new part name; the same bytes for
  another date) loads nothing twice.
* D+1 before D: the run of D+1 is refused, naming the date to run first, and changes nothing.
* A late correction of a past date: a plain rerun of that date is refused; ``restate`` reloads the corrected
  partitions, recomputes that date and every later one, leaves the earlier dates untouched (content and run
  ids per date), records what changed in ``audit.restatements``, and ends in exactly the state of a clean run
  that had the corrected files from the start (warehouse and serving file).
"""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from harness import (
    HISTORY_TABLES,
    TIMEOUT_S,
    VOLATILE_COLUMNS,
    WORKING_SCHEMAS,
    Deployment,
    differences,
    duplicate_keys,
    fingerprint,
    leftovers,
    pipeline,
    serving_fingerprint,
)

from python_tasks.orchestration.restatement import (
    compare_deliveries,
    order_problem,
    rollback_snapshots,
    summarise_changes,
)

D0 = date(2026, 11, 20)
D1, D2 = D0 + timedelta(days=1), D0 + timedelta(days=2)
CLIENTS = 100


#: a restated warehouse records its restatement; a clean run has none to record
RESTATEMENT_RECORD = "audit.restatements"


# --- the pure decisions -----------------------------------------------------------------------------------


def test_a_date_may_run_after_the_date_before_it_only():
    done = [D0, D1]
    assert order_problem(D0, []) is None  # the first date ever
    assert order_problem(D2, done) is None  # the next date
    assert order_problem(D1, done) is None and order_problem(D0, done) is None  # reruns
    problem = order_problem(D2 + timedelta(days=2), done)
    assert "cannot run before 2026-11-23" in problem and "--date 2026-11-22 --to 2026-11-24" in problem
    assert "before the first processed date" in order_problem(D0 - timedelta(days=1), [D1])


def test_a_correction_is_a_delivery_that_differs_from_what_was_loaded():
    loaded = {"clients_20261121_001.csv": "a"}
    assert compare_deliveries("clients", D1, loaded, dict(loaded)) is None
    assert compare_deliveries("clients", D1, loaded, {}) is None  # cleaned out of the inbox: nothing new
    changed = compare_deliveries("clients", D1, loaded, {"clients_20261121_001.csv": "b"})
    assert changed is not None and "changed clients_20261121_001.csv" in changed.describe()
    late = compare_deliveries("ratings", D1, {}, {"ratings_20261121_001.csv": "c"})  # was missing, now here
    assert late is not None and "new ratings_20261121_001.csv" in late.describe()


def test_the_summary_counts_the_clients_whose_clv_moved():
    before = {(D1, "A"): 100.0, (D1, "B"): 50.0, (D2, "A"): 101.0, (D2, "C"): 7.0}
    after = {(D1, "A"): 100.001, (D1, "B"): 40.0, (D2, "A"): 90.0, (D2, "D"): 8.0}
    summary = summarise_changes(before, after)
    assert summary["clients_changed"] == 4  # B and A moved, C left, D came; A's 0.001 at D1 is noise
    assert summary["by_date"]["2026-11-21"]["clients_moved"] == 1
    assert summary["by_date"]["2026-11-22"] == {
        "clients_before": 2, "clients_after": 2, "clients_moved": 1, "clients_added": ["D"],
        "clients_removed": ["C"], "total_clv_before_cny": 108.0, "total_clv_after_cny": 98.0,
    }  # fmt: skip
    assert [m["client_id"] for m in summary["largest_moves"]] == ["A", "B"]


def test_snapshots_roll_back_to_their_state_before_a_date():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA snapshots; CREATE SCHEMA raw")
    con.execute("CREATE TABLE raw.ratings (rating_id VARCHAR, _as_of_date DATE)")
    con.execute("CREATE TABLE snapshots.snap_clients (client_id VARCHAR, attributes_delivered_date DATE, "
                "dbt_valid_from TIMESTAMP, dbt_valid_to TIMESTAMP)")  # fmt: skip
    con.execute("CREATE TABLE snapshots.snap_client_ratings (client_id VARCHAR, rating_id VARCHAR, "
                "dbt_valid_from TIMESTAMP, dbt_valid_to TIMESTAMP)")  # fmt: skip
    # A: versions delivered D0, D1, D2; B: D0 only; C: first delivered D2
    con.execute(f"""INSERT INTO snapshots.snap_clients VALUES
        ('A', '{D0}', '{D0}', '{D1}'), ('A', '{D1}', '{D1}', '{D2}'), ('A', '{D2}', '{D2}', NULL),
        ('B', '{D0}', '{D0}', NULL), ('C', '{D2}', '{D2}', NULL)""")
    # rating r2 was decided on D0 but delivered on D1: its version belongs to the build of D1
    con.execute(f"INSERT INTO raw.ratings VALUES ('r1', '{D0}'), ('r2', '{D1}')")
    con.execute(f"""INSERT INTO snapshots.snap_client_ratings VALUES
        ('A', 'r0', '{D0 - timedelta(days=5)}', '{D0}'), ('A', 'r2', '{D0}', NULL)""")
    # the client dimension holds the latest date built (D2): it goes, the replay of D1 writes it again
    con.execute("CREATE SCHEMA marts; CREATE TABLE marts.dim_client (client_id VARCHAR, known_as_of_date DATE)")
    con.execute(f"INSERT INTO marts.dim_client VALUES ('A', '{D2}'), ('B', '{D2}'), ('C', '{D2}')")
    removed = rollback_snapshots(con, D1)
    assert removed == {"dim_client": 3, "snap_clients": 3, "snap_client_ratings": 1}
    assert con.execute("SELECT client_id, attributes_delivered_date, dbt_valid_to FROM snapshots.snap_clients "
                       "ORDER BY 1, 2").fetchall() == [("A", D0, None), ("B", D0, None)]  # fmt: skip
    assert con.execute("SELECT rating_id, dbt_valid_to FROM snapshots.snap_client_ratings").fetchall() == [("r0", None)]


# --- duplicate deliveries ----------------------------------------------------------------------------------


def _ledger(dep: Deployment, source: str) -> list[tuple]:
    con = duckdb.connect(str(dep.warehouse), read_only=True)
    try:
        return con.execute(
            "SELECT as_of_date, file_name, status, rows_in, rows_loaded, message FROM audit.load_ledger "
            "WHERE source = $s ORDER BY finished_at, file_name", {"s": source}
        ).fetchall()  # fmt: skip
    finally:
        con.close()


def _raw_rows(dep: Deployment, table: str) -> dict[date, int]:
    con = duckdb.connect(str(dep.warehouse), read_only=True)
    try:
        return dict(con.execute(f"SELECT _as_of_date, count(*) FROM raw.{table} GROUP BY 1").fetchall())
    finally:
        con.close()


def test_a_file_delivered_twice_loads_nothing_twice(tmp_path: Path):
    dep = Deployment(tmp_path)
    dep.generate(clients=CLIENTS, first=D0, days=1)
    delivered = dep.inbox / "clients" / D0.isoformat() / "clients_20261120_001.csv"
    rows = delivered.read_bytes().count(b"\n") - 1
    assert rows > CLIENTS // 2

    dep.run(D0, steps=["ingest.clients"])
    assert _raw_rows(dep, "clients") == {D0: rows}

    # 1. the same file again: recognised, nothing rewritten
    dep.run(D0, steps=["ingest.clients"])
    assert _raw_rows(dep, "clients") == {D0: rows}
    assert [r[2] for r in _ledger(dep, "clients")] == ["loaded", "unchanged"]

    # 2. the same bytes again under a new part name of the same delivery: the copy is refused, D0 loads once
    shutil.copyfile(delivered, delivered.with_name("clients_20261120_002.csv"))
    dep.run(D0, steps=["ingest.clients"])
    assert _raw_rows(dep, "clients") == {D0: rows}
    third = _ledger(dep, "clients")[2:]
    assert [(f, s, loaded) for _, f, s, _, loaded, _ in third] == [
        ("clients_20261120_001.csv", "loaded", rows), ("clients_20261120_002.csv", "duplicate", 0)]  # fmt: skip
    assert "identical to clients_20261120_001.csv already loaded for 2026-11-20" in third[1][5]

    # 3. the same bytes delivered again as the next day's delivery: refused, D1 gets nothing from it
    d1_file = dep.inbox / "clients" / D1.isoformat() / "clients_20261121_001.csv"
    shutil.copyfile(delivered, d1_file)
    dep.run(D1, steps=["ingest.clients"])
    assert _raw_rows(dep, "clients") == {D0: rows}
    (last,) = _ledger(dep, "clients")[4:]
    assert last[:5] == (D1, "clients_20261121_001.csv", "duplicate", 0, 0)
    assert "identical to clients_20261120_001.csv" in last[5]


# --- out of order and late corrections ----------------------------------------------------------------------


def _paying_client(inbox: Path) -> str:
    """The client of D1's first repayment that paid principal (the generated data decides which)."""
    lines = next((inbox / "repayments" / D1.isoformat()).iterdir()).read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    principal, client = header.index("paid_principal_cny"), header.index("client_id")
    return next(f[client] for f in (line.split(",") for line in lines[1:]) if float(f[principal] or 0) > 0)


def _deliver_client_update(inbox: Path, client_id: str, revenue_factor: float, capital_factor: float = 1.0) -> None:
    """D1's client-master delivery: the client's D0 record again with its revenue and registered capital scaled
    (GBK, as delivered)."""
    master = (inbox / "clients" / D0.isoformat() / "clients_20261120_001.csv").read_bytes().decode("gbk")
    head, *records = master.splitlines(keepends=True)
    names = head.rstrip("\r\n").split(",")
    revenue, capital = names.index("annual_revenue_cny"), names.index("registered_capital_cny")
    (record,) = [r for r in records if r.startswith(client_id + ",")]
    fields = record.rstrip("\r\n").split(",")
    fields[revenue] = f"{float(fields[revenue]) * revenue_factor:.2f}"
    fields[capital] = f"{float(fields[capital]) * capital_factor:.2f}"
    text = head + ",".join(fields) + record[len(record.rstrip("\r\n")):]
    (inbox / "clients" / D1.isoformat() / "clients_20261121_001.csv").write_bytes(text.encode("gbk"))


def _deliver_originals(inbox: Path) -> str:
    """D1 as first delivered: besides the generated deltas, one client re-delivers its master record with 80 %
    of its revenue (so D1 has a client version in the SCD2 snapshot that the correction will change)."""
    client_id = _paying_client(inbox)
    _deliver_client_update(inbox, client_id, 0.8)
    return client_id


def _correct(inbox: Path, client_id: str) -> None:
    """The late correction of D1, as the bank's systems would send it: the client's revenue was 60 %, not
    80 %, its registered capital half as much again (a column the client snapshot keeps, so its D1 version
    must change), its repayment of D1 paid half the principal recorded, and a facility's rate was higher."""
    _deliver_client_update(inbox, client_id, 0.6, capital_factor=1.5)
    repayments = next((inbox / "repayments" / D1.isoformat()).iterdir())
    lines = repayments.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].rstrip("\r\n").split(",")
    principal, client = header.index("paid_principal_cny"), header.index("client_id")
    for i, line in enumerate(lines[1:], start=1):
        fields = line.rstrip("\r\n").split(",")
        if fields[client] == client_id and float(fields[principal] or 0) > 0:
            fields[principal] = f"{float(fields[principal]) / 2:.2f}"
            lines[i] = ",".join(fields) + line[len(line.rstrip("\r\n")):]
            break
    repayments.write_text("".join(lines), encoding="utf-8")
    # and the first facility re-delivered on D1 was priced 100 bp higher than first reported (its NII moves)
    (facilities,) = (inbox / "facilities" / D1.isoformat()).iterdir()
    corrected = facilities.with_name(".corrected.parquet")
    con = duckdb.connect()
    try:
        con.execute(
            f"COPY (SELECT * REPLACE (CASE WHEN row_number() OVER () = 1 THEN interest_rate_pct + 1.0 "
            f"ELSE interest_rate_pct END AS interest_rate_pct, CASE WHEN row_number() OVER () = 1 "
            f"THEN spread_bps + 100 ELSE spread_bps END AS spread_bps) FROM read_parquet('{facilities}')) "
            f"TO '{corrected}' (FORMAT parquet)"
        )
    finally:
        con.close()
    corrected.replace(facilities)


def fingerprint_by_date(path: Path) -> dict[tuple[str, date], tuple[int, int]]:
    """Rows and a content hash per table and business date (tables with an as-of date), without the volatile
    columns: what must stay the same on the dates a restatement does not recompute."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        for schema, table in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_catalog = current_database()"
        ).fetchall():
            if schema in WORKING_SCHEMAS or (schema, table) in HISTORY_TABLES:
                continue
            columns = [c for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
                "AND table_catalog = current_database() ORDER BY ordinal_position", [schema, table]).fetchall()]  # fmt: skip
            key = next((c for c in ("as_of_date", "_as_of_date") if c in columns), None)
            if key is None:
                continue
            row = ", ".join(f'"{c}"' for c in columns if not VOLATILE_COLUMNS.match(c))
            for day, rows, digest in con.execute(
                f'SELECT "{key}", count(*), sum(hash(row({row}))) FROM "{schema}"."{table}" GROUP BY 1'
            ).fetchall():
                out[(f"{schema}.{table}", day)] = (rows, int(digest))
        return out
    finally:
        con.close()


def run_ids_by_date(path: Path) -> dict[tuple[str, date], set[str]]:
    """Which runs wrote each date of the raw tables, the marts and the Python stages."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        for schema, table, key, run in con.execute(
            "SELECT c.table_schema, c.table_name, d.column_name, c.column_name FROM information_schema.columns c "
            "JOIN information_schema.columns d USING (table_catalog, table_schema, table_name) "
            "WHERE c.column_name IN ('_run_id', 'run_id') AND d.column_name IN ('as_of_date', '_as_of_date') "
            "AND c.table_schema IN ('raw', 'marts', 'valuation', 'segments') AND c.table_catalog = current_database()"
        ).fetchall():
            if (schema, table) in HISTORY_TABLES:
                continue
            for day, runs in con.execute(
                f'SELECT "{key}", list(DISTINCT "{run}") FROM "{schema}"."{table}" GROUP BY 1'
            ).fetchall():
                out[(f"{schema}.{table}", day)] = set(runs)
        return out
    finally:
        con.close()


@pytest.fixture(scope="module")
def restated(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two deployments of the same deliveries: ``late`` processed D0..D2, then got a correction of D1 and was
    restated; ``clean`` (a copy of ``late`` after D0, the dates before the correction being the same) had
    the corrected files before it processed D1. Records what each step said."""
    root = tmp_path_factory.mktemp("deliveries")
    late = Deployment(root / "late")
    late.generate(clients=CLIENTS, first=D0, days=2)
    pipeline(late, D0)
    client_id = _deliver_originals(late.inbox)
    shutil.copytree(late.home, root / "clean", symlinks=True)
    clean = Deployment(root / "clean")
    seen: dict = {}

    # out of order: D2 before D1 is refused before any step and changes nothing
    ledger_before = _ledger(clean, "clients")
    seen["out_of_order"] = pipeline(clean, D2, check=False)
    seen["out_of_order_ledger"] = (ledger_before, _ledger(clean, "clients"))

    pipeline(late, D1, to=D2)
    seen["before_restatement"] = (fingerprint_by_date(late.warehouse), run_ids_by_date(late.warehouse),
                                  fingerprint(late.warehouse))  # fmt: skip
    _correct(late.inbox, client_id)
    seen["rerun_refused"] = pipeline(late, D1, check=False)
    seen["dry_run"] = late.cli("restate", "--dry-run", timeout=TIMEOUT_S)
    seen["restate"] = late.cli("restate", timeout=TIMEOUT_S)
    seen["restate_again"] = late.cli("restate", timeout=TIMEOUT_S)

    _correct(clean.inbox, client_id)
    pipeline(clean, D1, to=D2)
    return {"late": late, "clean": clean, **seen}


def _last_json(proc) -> dict:  # noqa: ANN001 - a finished CompletedProcess
    return json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])


def test_the_next_date_before_its_previous_date_is_refused_and_changes_nothing(restated):
    proc = restated["out_of_order"]
    assert proc.returncode != 0
    assert "2026-11-22 cannot run before 2026-11-21" in proc.stderr
    assert "pipeline --date 2026-11-21 --to 2026-11-22" in proc.stderr
    assert '{"step"' not in proc.stdout  # refused before the first step
    before, after = restated["out_of_order_ledger"]
    assert before == after


def test_a_rerun_of_a_corrected_past_date_alone_is_refused(restated):
    proc = restated["rerun_refused"]
    assert proc.returncode != 0 and '{"step"' not in proc.stdout
    assert "2026-11-21 is a past date (processed up to 2026-11-22) and its delivery changed" in proc.stderr
    assert "restate --date 2026-11-21" in proc.stderr


def test_the_dry_run_names_the_corrections_and_the_dates_to_recompute(restated):
    plan = _last_json(restated["dry_run"])["restatement"]
    assert plan["status"] == "dry run"
    assert {(c["source"], c["as_of_date"]) for c in plan["corrections"]} == {
        ("clients", "2026-11-21"), ("facilities", "2026-11-21"), ("repayments", "2026-11-21")}  # fmt: skip
    assert plan["dates"] == ["2026-11-21", "2026-11-22"]


def test_a_restatement_equals_a_clean_run_that_had_the_correction_from_the_start(restated):
    late, clean = restated["late"], restated["clean"]
    # the restatement record is audit history (harness.HISTORY_TABLES): left out of the fingerprints
    restated_wh, clean_wh = fingerprint(late.warehouse), fingerprint(clean.warehouse)
    assert RESTATEMENT_RECORD not in restated_wh
    assert RESTATEMENT_RECORD in fingerprint(late.warehouse, include_history=True)
    assert differences(clean_wh, restated_wh) == {}
    assert differences(serving_fingerprint(clean), serving_fingerprint(late)) == {}
    # and the correction did change the outputs, so the comparison above has teeth
    changed = differences(restated["before_restatement"][2], restated_wh)
    assert {"raw.repayments", "raw.clients", "marts.fct_client_profile", "snapshots.snap_clients"} <= changed.keys()
    assert duplicate_keys(late.warehouse) == {}
    assert leftovers(late.home) == []


def test_a_restatement_leaves_the_dates_before_the_correction_untouched(restated):
    late = restated["late"]
    content_before, runs_before, _ = restated["before_restatement"]
    content_after, runs_after = fingerprint_by_date(late.warehouse), run_ids_by_date(late.warehouse)
    earlier = {k for k in content_before if k[1] < D1}
    assert earlier and {k for k in content_after if k[1] < D1} == earlier
    assert {k: content_after[k] for k in earlier} == {k: content_before[k] for k in earlier}
    assert {k: v for k, v in runs_after.items() if k[1] < D1} == {k: v for k, v in runs_before.items() if k[1] < D1}
    # every date from the correction on was recomputed by the restatement's runs, and its content changed
    for key, runs in runs_after.items():
        if key[1] >= D1 and not key[0].startswith("raw."):
            assert all(r.startswith("restate__") for r in runs), (key, runs)
    # only the corrected sources' partitions were reloaded; every other delivery came back unchanged
    reloaded = {k[0] for k, runs in runs_after.items() if k[0].startswith("raw.") and runs != runs_before[k]}
    assert reloaded == {"raw.clients", "raw.facilities", "raw.repayments"}
    assert all(r.startswith("restate__2026-11-21") for r in runs_after[("raw.repayments", D1)])
    moved = {k for k in content_after if k[1] >= D1 and content_after[k] != content_before.get(k)}
    assert {("raw.repayments", D1), ("raw.clients", D1), ("marts.fct_client_profile", D1),
            ("marts.fct_client_profile", D2)} <= moved  # fmt: skip


def test_the_restatement_is_recorded_for_compliance(restated):
    result = _last_json(restated["restate"])["restatement"]
    assert result["status"] == "success" and result["dates"] == ["2026-11-21", "2026-11-22"]
    con = duckdb.connect(str(restated["late"].warehouse), read_only=True)
    try:
        rows = con.execute(
            "SELECT source, as_of_date, loaded_files, delivered_files, dates_recomputed, run_ids, status, "
            "clients_changed, summary FROM audit.restatements ORDER BY source"
        ).fetchall()
        ledger = dict(con.execute(
            "SELECT file_name, sha256 FROM audit.load_ledger WHERE as_of_date = $d AND status = 'loaded' "
            "AND run_id LIKE 'restate__%'", {"d": D1}).fetchall())  # fmt: skip
    finally:
        con.close()
    assert [(r[0], r[1], r[6]) for r in rows] == [(s, D1, "success") for s in ("clients", "facilities", "repayments")]
    for source, _, loaded, delivered, dates, runs, _, changed, summary in rows:
        loaded, delivered, summary = json.loads(loaded), json.loads(delivered), json.loads(summary)
        (name,) = delivered
        assert loaded[name] != delivered[name] == ledger[name], source  # old and new sha256; the new one loaded
        assert dates == [D1, D2] and set(json.loads(runs)) == {"2026-11-21", "2026-11-22"}
        assert changed >= 1 and summary["clients_changed"] == changed
        assert summary["by_date"]["2026-11-21"]["clients_moved"] >= 1
    con = duckdb.connect(str(restated["late"].serving), read_only=True)
    try:
        published = con.execute("SELECT as_of_date, run_id FROM bi.publications WHERE run_id LIKE 'restate__%' "
                                "ORDER BY 1").fetchall()  # fmt: skip
    finally:
        con.close()
    assert [(d, r.split("__")[1]) for d, r in published] == [(D1, "2026-11-21"), (D2, "2026-11-22")]
    # a second restate finds nothing left to do
    assert _last_json(restated["restate_again"])["restatement"]["status"] == "nothing to restate"
