"""clv_daily end to end with ``dag.test()``: generated deliveries in a temporary CLV_HOME, a temporary
Airflow metadata DB (see conftest), the real ingest tasks, and the DuckDB warehouse read back."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from conftest import DAGS_FOLDER

from python_tasks.orchestration.sources import internal_sources

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(180)]

BUSINESS_DATE = date(2026, 11, 20)


def fresh_dag(dag_id: str, *, retries: int | None = None):
    """The DAG parsed from its file, as the DAG processor would, not shared with other tests."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=DAGS_FOLDER / f"{dag_id}.py")
    assert bag.import_errors == {}
    dag = bag.dags[dag_id]
    if retries is not None:
        for task in dag.tasks:
            task.retries = retries
    return dag


def generate_deliveries(home, *, seed: int) -> None:
    generate = pytest.importorskip("python_tasks.sample_data.generate").generate
    generate(home / "inbox", scale="S", seed=seed, first_date=BUSINESS_DATE, days=1, clients=200)


def task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def query(home, sql: str, params: list | None = None) -> list[tuple]:
    import duckdb

    with duckdb.connect(str(home / "warehouse" / "clv.duckdb"), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def raw_counts(home) -> dict[str, int]:
    return {
        source: query(home, f'SELECT count(*) FROM raw."{source}" WHERE _as_of_date = ?', [BUSINESS_DATE])[0][0]
        for source in internal_sources()
    }


@pytest.fixture(scope="module")
def daily_run(airflow_db, tmp_path_factory):
    """One scheduled-style run of clv_daily for BUSINESS_DATE on freshly generated deliveries."""
    home = tmp_path_factory.mktemp("clv_home")
    with pytest.MonkeyPatch.context() as mp:
        for key in ("CLV_INBOX_DIR", "CLV_LANDING_DIR", "CLV_WAREHOUSE_PATH", "CLV_EXTERNAL_API_URL"):
            mp.delenv(key, raising=False)
        mp.setenv("CLV_HOME", str(home))
        generate_deliveries(home, seed=11)
        # the month's external data, as the monthly DAG would have loaded it (the CLV stage needs the outlook)
        from python_tasks.sample_data.api_server import ingest_generated_external

        ingest_generated_external(home / "inbox", BUSINESS_DATE.replace(day=1), "external-e2e")
        # No retries: a failure must fail the test now, not after the retry delays.
        dag = fresh_dag("clv_daily", retries=0)
        dag_run = dag.test(logical_date=datetime(2026, 11, 20, tzinfo=UTC))
        yield home, dag, dag_run


def test_every_task_succeeded(daily_run):
    _, dag, dag_run = daily_run
    expected = {task_id: "success" for task_id in dag.task_ids} | {"audit_on_failure": "skipped"}
    assert task_states(dag_run) == expected
    assert dag_run.state == "success"


def test_raw_tables_hold_partition_d_of_every_internal_source(daily_run):
    home, _, _ = daily_run
    counts = raw_counts(home)
    assert all(rows > 0 for rows in counts.values()), counts
    assert counts["clients"] <= 200


def test_the_ledger_records_every_source_for_this_run(daily_run):
    home, _, dag_run = daily_run
    rows = query(
        home,
        "SELECT source, as_of_date, status FROM audit.load_ledger WHERE run_id = ? ORDER BY source",
        [dag_run.run_id],
    )
    assert {source for source, _, _ in rows} == set(internal_sources())
    assert {as_of for _, as_of, _ in rows} == {BUSINESS_DATE}
    assert {status for _, _, status in rows} == {"loaded"}


def test_the_dbt_stage_built_the_client_profile_of_d_for_this_run(daily_run):
    home, _, dag_run = daily_run
    clients, runs = query(
        home,
        "SELECT count(*), list(DISTINCT _run_id) FROM marts.fct_client_profile WHERE as_of_date = ?",
        [BUSINESS_DATE],
    )[0]
    assert clients == query(home, "SELECT count(DISTINCT client_id) FROM raw.clients")[0][0] > 0
    assert runs == [dag_run.run_id]
    statuses = query(
        home,
        "SELECT DISTINCT status FROM audit.dbt_results WHERE run_id = ? AND as_of_date = ?",
        [dag_run.run_id, BUSINESS_DATE],
    )
    assert {s for (s,) in statuses} <= {"success", "pass", "no-op"}  # exposures are no-op nodes


def test_the_clv_stage_valued_every_client_of_d_under_every_scenario(daily_run):
    home, _, dag_run = daily_run
    clients = query(home, "SELECT count(*) FROM marts.fct_client_profile WHERE as_of_date = ?", [BUSINESS_DATE])[0][0]
    rows = query(
        home,
        "SELECT scenario, count(DISTINCT client_id), list(DISTINCT _run_id) FROM valuation.client_values "
        "WHERE as_of_date = ? GROUP BY 1 ORDER BY 1",
        [BUSINESS_DATE],
    )
    assert rows == [(s, clients, [dag_run.run_id]) for s in ("adverse", "baseline", "severe")]
    assert query(home, "SELECT run_id FROM valuation.runs WHERE as_of_date = ?", [BUSINESS_DATE]) == [(dag_run.run_id,)]


def test_the_segments_stage_classified_every_client_of_d(daily_run):
    home, _, dag_run = daily_run
    clients = query(home, "SELECT count(*) FROM marts.fct_client_profile WHERE as_of_date = ?", [BUSINESS_DATE])[0][0]
    rows = query(
        home,
        "SELECT count(*), count(DISTINCT client_id), count(value_tier), count(strategy), count(lifecycle_stage), "
        "count(cluster_id), list(DISTINCT _run_id) FROM segments.client_segments WHERE as_of_date = ?",
        [BUSINESS_DATE],
    )
    assert rows == [(clients, clients, clients, clients, clients, clients, [dag_run.run_id])]
    assert query(home, "SELECT run_id FROM segments.runs WHERE as_of_date = ?", [BUSINESS_DATE]) == [(dag_run.run_id,)]


def test_an_asset_triggered_run_reprocesses_the_last_closed_day_and_changes_nothing(daily_run):
    """No logical date (as when the external asset triggers the run): D = Shanghai date of run_after - 1."""
    home, _, _ = daily_run
    before = raw_counts(home)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLV_HOME", str(home))
        dag = fresh_dag("clv_daily", retries=0)
        # 07:30 on 21 Nov in Shanghai is still 20 Nov in UTC.
        dag_run = dag.test(logical_date=None, run_after=datetime(2026, 11, 20, 23, 30, tzinfo=UTC))
    assert dag_run.logical_date is None
    states = task_states(dag_run)
    assert states.pop("audit_on_failure") == "skipped" and set(states.values()) == {"success"}
    rows = query(home, "SELECT DISTINCT as_of_date, status FROM audit.load_ledger WHERE run_id = ?", [dag_run.run_id])
    assert rows == [(BUSINESS_DATE, "unchanged")]
    assert raw_counts(home) == before


def test_a_date_out_of_order_is_refused_before_anything_is_loaded(daily_run):
    """D+2 triggered while D+1 was never processed: every ingest task fails at once (no retry) with the
    CLI's refusal, nothing of D+2 is loaded or recorded in the ledger, and nothing after ingest runs."""
    home, _, _ = daily_run
    later = datetime(2026, 11, 22, tzinfo=UTC)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLV_HOME", str(home))
        dag = fresh_dag("clv_daily")  # retries as deployed: the refusal must not be retried
        dag_run = dag.test(logical_date=later)
    states = task_states(dag_run)
    ingest_states = {t: s for t, s in states.items() if t.startswith("ingest.")}
    assert "failed" in ingest_states.values() and set(ingest_states.values()) <= {"failed", "upstream_failed"}
    assert all(ti.try_number == 1 for ti in dag_run.get_task_instances() if ti.state == "failed")
    assert dag_run.state == "failed" and states["summarise"] == "upstream_failed"
    assert query(home, "SELECT count(*) FROM audit.load_ledger WHERE as_of_date = ?", [later.date()]) == [(0,)]
    alerts = "\n".join(p.read_text() for p in (home / "alerts").rglob("*") if p.is_file() and "2026-11-22" in p.name)
    assert "OutOfOrder" in alerts and "2026-11-22 cannot run before 2026-11-21" in alerts, alerts[-2000:]
    assert query(home, "SELECT count(*) FROM raw.clients WHERE _as_of_date = ?", [later.date()]) == [(0,)]


def test_a_broken_file_fails_the_run_at_once_and_nothing_is_summarised(airflow_db, clv_home):
    generate_deliveries(clv_home, seed=12)
    clients_files = sorted((clv_home / "inbox" / "clients" / BUSINESS_DATE.isoformat()).iterdir())
    assert clients_files
    clients_files[0].write_text("not,the,clients,header\n1,2,3,4\n", encoding="ascii")
    dag = fresh_dag("clv_daily")  # retries as deployed: the retry policy must fail the task at once
    dag_run = dag.test(logical_date=datetime(2026, 11, 20, tzinfo=UTC))

    states = task_states(dag_run)
    assert states.pop("ingest.clients") == "failed"
    assert states.pop("audit_on_failure") == "success"  # the failed run is on record
    # Every other source references clients, so nothing else loads and the run is not summarised.
    assert states == {task_id: "upstream_failed" for task_id in states}
    assert dag_run.state == "failed"
    clients_ti = next(ti for ti in dag_run.get_task_instances() if ti.task_id == "ingest.clients")
    assert clients_ti.try_number == 1
    assert query(clv_home, "SELECT count(*) FROM raw.clients")[0][0] == 0


def test_a_source_missing_past_its_deadline_stops_the_run_at_the_freshness_gate(airflow_db, clv_home):
    """facilities (policy stop) not delivered: its ingest task records it missing, the freshness gate fails
    naming it, nothing after the gate runs and no profile is built."""
    import shutil

    from python_tasks.sample_data.api_server import ingest_generated_external

    generate_deliveries(clv_home, seed=13)
    ingest_generated_external(clv_home / "inbox", BUSINESS_DATE.replace(day=1), "external-e2e")
    shutil.rmtree(clv_home / "inbox" / "facilities" / BUSINESS_DATE.isoformat())
    dag = fresh_dag("clv_daily")  # retries as deployed: a failed gate must fail at once
    dag_run = dag.test(logical_date=datetime(2026, 11, 20, tzinfo=UTC))

    states = task_states(dag_run)
    assert {t: s for t, s in states.items() if t.startswith("ingest.")} == {
        f"ingest.{s}": "success" for s in internal_sources()
    }
    assert states["freshness_gate"] == "failed" and dag_run.state == "failed"
    assert states.pop("audit_on_failure") == "success"
    later = {t: s for t, s in states.items() if not t.startswith("ingest.") and t != "freshness_gate"}
    assert set(later.values()) == {"upstream_failed"}, later
    gate_ti = next(ti for ti in dag_run.get_task_instances() if ti.task_id == "freshness_gate")
    assert gate_ti.try_number == 1
    failed = query(
        clv_home,
        "SELECT json_extract_string(kwargs, '$.source'), severity FROM audit.dq_results "
        "WHERE run_id = ? AND gate = 'freshness' AND NOT success",
        [dag_run.run_id],
    )
    assert failed == [("facilities", "error")]
    assert query(clv_home, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'marts'")[0][0] == 0
