"""clv_external_monthly end to end with ``dag.test()``: the generated vendor payloads served by the sample
API, loaded into a temporary warehouse, and the asset event that triggers clv_daily read back."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from conftest import DAGS_FOLDER

from python_tasks.orchestration.sources import external_sources

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(180)]

PUBLICATION_DATE = date(2026, 11, 1)  # the generator publishes external data on the first of each month


@pytest.fixture
def vendor_api(airflow_db, clv_home, monkeypatch):
    generate = pytest.importorskip("python_tasks.sample_data.generate").generate
    api_server = pytest.importorskip("python_tasks.sample_data.api_server")
    generate(clv_home / "inbox", scale="S", seed=13, first_date=date(2026, 11, 20), days=1, clients=200)
    server, _ = api_server.serve(clv_home / "inbox", port=0)
    monkeypatch.setenv("CLV_EXTERNAL_API_URL", f"http://127.0.0.1:{server.server_address[1]}")
    yield clv_home
    server.shutdown()


def run_monthly():
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=DAGS_FOLDER / "clv_external_monthly.py").dags["clv_external_monthly"]
    for task in dag.tasks:
        task.retries = 0  # a failure must fail the test now, not after the retry delays
    return dag.test(logical_date=datetime(2026, 11, 1, tzinfo=UTC))


def asset_events(dag_run) -> list[dict]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == dag_run.run_id)).all()
        return [dict(event.extra) for event in events]


def test_loads_the_external_sources_and_announces_them_once(vendor_api):
    import duckdb

    dag_run = run_monthly()
    assert {ti.task_id: ti.state for ti in dag_run.get_task_instances()} == {
        **{f"ingest.{s}": "success" for s in external_sources()},
        "emit_external_indicators": "success",
    }
    with duckdb.connect(str(vendor_api / "warehouse" / "clv.duckdb"), read_only=True) as con:
        for source in external_sources():
            rows = con.execute(f'SELECT count(*) FROM raw."{source}" WHERE _as_of_date = ?', [PUBLICATION_DATE])
            assert rows.fetchone()[0] > 0, source
    [extra] = asset_events(dag_run)
    assert extra["as_of_date"] == "2026-11-01"
    assert extra["sources"] == external_sources()
    assert all(rows > 0 for rows in extra["rows_loaded"].values())

    # A rerun loads the same payloads: nothing new, so no event and no recomputation downstream.
    rerun = run_monthly()
    states = {ti.task_id: ti.state for ti in rerun.get_task_instances()}
    assert states.pop("emit_external_indicators") == "skipped"
    assert set(states.values()) == {"success"}
    assert asset_events(rerun) == []
