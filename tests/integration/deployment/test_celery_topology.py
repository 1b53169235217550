"""The production topology, natively: Airflow's metadata in a fresh PostgreSQL database, the CeleryExecutor with
Redis as broker and PostgreSQL as result backend; the scheduler, DAG processor, API server and one Celery
worker per queue as processes, started with the commands docker-compose.yml runs (topology.py). clv_daily is
triggered through the REST API for a business date of generated S-scale deliveries, must succeed with the
warehouse tasks on the warehouse worker and the CLV shards on the compute worker, and must leave the same
outputs as the embedded run (SQLite, LocalExecutor, `airflow dags test`) of the same deliveries. Everything
is shut down with SIGTERM and must exit by itself.

Skipped, saying why, when PostgreSQL or Redis does not answer on this machine's standard ports.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from python_tasks.deployment.processes import (
    Api,
    Cluster,
    airflow_environment,
    free_port,
    local_endpoints,
    run_dag,
    tail,
    topology_services,
)
from python_tasks.deployment.topology import Endpoints
from python_tasks.settings import COMPUTE_QUEUE, PROJECT_ROOT, WAREHOUSE_QUEUE

pytestmark = [pytest.mark.services, pytest.mark.timeout(1500)]

ADMIN_URL = os.environ.get("CLV_TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("CLV_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
BUSINESS_DATE = date(2026, 11, 20)
LOGICAL_DATE = "2026-11-20T00:00:00+00:00"  # business date 2026-11-20 (python_tasks.orchestration.business_dates)
CLIENTS = 200
SHARDS = "2"
RUN_ID = "celery_topology_test"


@pytest.fixture(scope="module")
def database() -> Iterator[tuple[str, Endpoints]]:
    """A fresh PostgreSQL database for Airflow's metadata and a Redis database for Celery, removed after."""
    psycopg = pytest.importorskip("psycopg")
    redis = pytest.importorskip("redis")
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {ADMIN_URL} ({str(exc).strip()[:200]}); set CLV_TEST_POSTGRES_ADMIN_URL")
    broker = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        broker.ping()
    except redis.RedisError as exc:
        admin.close()
        pytest.skip(f"no Redis at {REDIS_URL} ({exc}); set CLV_TEST_REDIS_URL")
    name = f"clv_airflow_test_{uuid.uuid4().hex[:10]}"
    endpoints = local_endpoints(ADMIN_URL, REDIS_URL, name)
    broker.flushdb()
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield name, endpoints
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            broker.flushdb()


def _generate(home: Path) -> None:
    from python_tasks.sample_data.api_server import ingest_generated_external
    from python_tasks.sample_data.generate import generate

    generate(home / "inbox", scale="S", seed=23, first_date=BUSINESS_DATE, days=0, clients=CLIENTS)
    previous = os.environ.get("CLV_HOME")
    os.environ["CLV_HOME"] = str(home)
    try:  # the month's external data, as clv_external_monthly would have loaded it
        ingest_generated_external(home / "inbox", BUSINESS_DATE.replace(day=1), "external-topology-test")
    finally:
        if previous is None:
            os.environ.pop("CLV_HOME")
        else:
            os.environ["CLV_HOME"] = previous


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two CLV homes holding the same deliveries and external data: one for each topology."""
    root = tmp_path_factory.mktemp("topology")
    celery_home, embedded_home = root / "celery_home", root / "embedded_home"
    _generate(celery_home)
    shutil.copytree(celery_home, embedded_home)
    return celery_home, embedded_home


@pytest.fixture(scope="module")
def celery_run(database, homes, tmp_path_factory) -> Iterator[dict]:
    """clv_daily for BUSINESS_DATE on the Celery topology, triggered through the REST API."""
    _, endpoints = database
    celery_home, _ = homes
    root = tmp_path_factory.mktemp("celery_airflow")
    logs = root / "logs"
    logs.mkdir()
    env = airflow_environment(
        root / "airflow_home", celery_home, endpoints, CLV_SHARDS=SHARDS,
        # only the triggered run: an unpaused DAG would otherwise start its latest scheduled date as well
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False", AIRFLOW__OPENLINEAGE__DISABLED="True",
    )  # fmt: skip
    cluster = Cluster(env, logs)
    topology = topology_services(endpoints)
    started = time.monotonic()
    cluster.run_init(topology["airflow-init"])
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor"):
        cluster.start(topology[name])
    for name in ("airflow-worker-warehouse", "airflow-worker-compute"):  # each serves its task logs on its own port
        cluster.start(topology[name], AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()))
    result: dict = {"cluster": cluster, "logs": logs}
    try:
        api = Api(endpoints.api_url, "admin", env["AIRFLOW_ADMIN_PASSWORD"])
        api.wait_until_up(cluster)
        result["up_s"] = time.monotonic() - started
        result |= run_dag(api, cluster, "clv_daily", RUN_ID, LOGICAL_DATE)
    finally:
        result["exit_codes"] = cluster.stop()
    if result["state"] != "success":
        failed = [(t["task_id"], t.get("map_index"), t["state"]) for t in result["task_instances"] if t["state"] != "success"]
        pytest.fail(f"clv_daily on Celery ended {result['state']!r}; not successful: {failed}\n"
                    + "\n".join(tail(p, 40) for p in sorted(logs.glob("*.log"))))  # fmt: skip
    yield result


@pytest.fixture(scope="module")
def embedded_run(homes, tmp_path_factory) -> Path:
    """The same date on the embedded default: SQLite metadata, `airflow dags test` (LocalExecutor's path)."""
    _, embedded_home = homes
    airflow_home = tmp_path_factory.mktemp("embedded_airflow")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "CLV_"))}
    env |= {
        "PATH": f"{PROJECT_ROOT / '.venv' / 'bin'}:{env.get('PATH', '')}",
        "PYTHONPATH": f"{PROJECT_ROOT}:{PROJECT_ROOT / 'config' / 'airflow'}",
        "AIRFLOW_HOME": str(airflow_home), "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor", "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__OPENLINEAGE__DISABLED": "True", "CLV_HOME": str(embedded_home), "CLV_SHARDS": "1",
    }  # fmt: skip
    log = airflow_home / "embedded.log"
    with log.open("w") as out:
        for command in (["airflow", "db", "migrate"], ["airflow", "pools", "set", "duckdb_warehouse", "1", "warehouse"],
                        ["airflow", "dags", "test", "clv_daily", LOGICAL_DATE]):  # fmt: skip
            done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=900)
            assert done.returncode == 0, f"{' '.join(command)} failed\n{tail(log)}"
    return embedded_home


def test_the_run_succeeded_on_the_workers_of_its_queues(celery_run):
    tis = celery_run["task_instances"]
    assert tis and all(t["state"] in ("success", "skipped") for t in tis)
    by_id = {}
    for t in tis:
        by_id.setdefault(t["task_id"], []).append(t)
    shards = by_id["clv.value"] + by_id["segments.value"]
    for stage in ("clv.value", "segments.value"):
        assert sorted(t["map_index"] for t in by_id[stage]) == list(range(int(SHARDS))), stage
    for t in tis:
        if t["state"] != "success":
            continue
        expected = COMPUTE_QUEUE if t["task_id"].endswith(".value") else WAREHOUSE_QUEUE
        assert t["queue"] == expected, (t["task_id"], t["queue"])
        assert t["hostname"], t["task_id"]
    # Celery ran the warehouse tasks in the warehouse worker and the shards in the compute worker
    warehouse_hosts = {t["hostname"] for t in tis if t["state"] == "success" and t["queue"] == WAREHOUSE_QUEUE}
    compute_hosts = {t["hostname"] for t in shards}
    assert len(warehouse_hosts) == 1 and len(compute_hosts) == 1
    worker_log = (celery_run["logs"] / "airflow-worker-compute.log").read_text(errors="replace")
    assert "clv.value" in worker_log and "segments.value" in worker_log
    assert "clv.merge" not in worker_log and "segments.merge" not in worker_log


def test_every_component_stopped_cleanly(celery_run):
    # every component exits by itself after SIGTERM (Celery workers with a warm shutdown)
    assert all(code is not None for code in celery_run["exit_codes"].values()), celery_run["exit_codes"]


#: business tables of one date that both runs must hold identically (run ids, times and paths aside)
_COMPARED = (
    "raw.clients", "raw.facilities", "raw.repayments", "marts.fct_client_profile", "valuation.client_values",
    "valuation.engine_inputs_clients", "valuation.engine_inputs_facilities", "valuation.model_fits",
    "segments.client_segments", "segments.warning_signals", "segments.watch_list",
)  # fmt: skip
_VOLATILE = ("run_id", "seconds", "path", "published_at")


def _snapshot(home: Path) -> dict[str, list[tuple]]:
    import duckdb

    out = {}
    with duckdb.connect(str(home / "warehouse" / "clv.duckdb"), read_only=True) as con:
        for relation in _COMPARED:
            schema, table = relation.split(".")
            columns = [
                name for name, kind in con.execute(
                    "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND "
                    "table_name = ? ORDER BY ordinal_position", [schema, table]).fetchall()
                if not name.startswith("_") and "TIMESTAMP" not in kind and not any(v in name for v in _VOLATILE)
            ]  # fmt: skip
            date_column = "_as_of_date" if schema == "raw" else "as_of_date"
            names = ", ".join(f'"{c}"' for c in columns)
            out[relation] = con.execute(
                f"SELECT {names} FROM {schema}.{table} WHERE {date_column} = ? ORDER BY ALL", [BUSINESS_DATE]
            ).fetchall()
    return out


def _same(a: tuple, b: tuple) -> bool:
    """Equal, amounts to 1e-12 relative: the last bits of a floating-point sum depend on how NumPy lays the
    arrays out in memory, which differs between any two processes (and shard sizes)."""
    return len(a) == len(b) and all(
        math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-9) if isinstance(x, float) and isinstance(y, float) else x == y
        for x, y in zip(a, b, strict=True)
    )


def test_outputs_equal_the_embedded_run(celery_run, embedded_run, homes):
    celery_home, _ = homes
    celery, embedded = _snapshot(celery_home), _snapshot(embedded_run)
    assert len(celery["valuation.client_values"]) >= 3 * CLIENTS * 0.8
    for relation in _COMPARED:
        assert len(celery[relation]) == len(embedded[relation]), relation
        for row_c, row_e in zip(celery[relation], embedded[relation], strict=True):
            assert _same(row_c, row_e), (relation, row_c, row_e)
    # and both published: the serving file of each home holds the date
    for home in (celery_home, embedded_run):
        assert (home / "serving" / "clv_serving.duckdb").exists()
