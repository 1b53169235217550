"""What Celery costs per task against the LocalExecutor: the same clv_daily run on the two executors.

    python -m benchmarks.topology [--clients 2000] [--executors local,celery]     (or: make bench-topology)

Both runs use the production topology's processes on this machine (python_tasks/deployment/processes.py):
Airflow's metadata in a fresh PostgreSQL database, the API server, scheduler and DAG processor; the Celery run
adds Redis and the two Celery workers (``warehouse``, concurrency 1; ``compute``, concurrency 2), the
LocalExecutor run executes tasks in the scheduler's own worker processes. The same generated deliveries (S
scale, ``--clients`` clients, business date 2026-11-20, CLV_SHARDS=2) are run once on each, triggered through
the REST API. From the task instances:

* run wall: the DAG run's start to end;
* work: the critical path of task durations (every task but the shards of the CLV and segments stages runs
  alone, in the one-slot warehouse pool; the shards of a stage run side by side, so their slowest counts);
* overhead per task: (run wall − work) / tasks on the path: scheduling, queueing, starting the task
  process, reporting back;
* queue latency: from ``queued_when`` to ``start_date`` of each task instance.

Writes ``benchmarks/results/topology-S.json`` and ``.md``. Needs PostgreSQL and Redis on their standard ports.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
import uuid
from datetime import date, datetime
from pathlib import Path

from benchmarks.measure import machine
from python_tasks.deployment.processes import (
    Api,
    Cluster,
    airflow_environment,
    free_port,
    local_endpoints,
    run_dag,
    topology_services,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ADMIN_URL = os.environ.get("CLV_TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("CLV_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
BUSINESS_DATE = date(2026, 11, 20)
LOGICAL_DATE = "2026-11-20T00:00:00+00:00"


def _generate(home: Path, clients: int) -> None:
    from python_tasks.sample_data.api_server import ingest_generated_external
    from python_tasks.sample_data.generate import generate

    generate(home / "inbox", scale="S", seed=23, first_date=BUSINESS_DATE, days=0, clients=clients)
    os.environ["CLV_HOME"] = str(home)
    try:
        ingest_generated_external(home / "inbox", BUSINESS_DATE.replace(day=1), "bench-topology-external")
    finally:
        os.environ.pop("CLV_HOME")


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def measure(tis: list[dict], dag_run: dict) -> dict:
    """Run wall, critical-path work, overhead per task and queue latency from the REST task instances."""
    ran = [t for t in tis if t["state"] == "success" and t.get("start_date") and t.get("end_date")]
    durations = {(t["task_id"], t.get("map_index", -1)): (_when(t["end_date"]) - _when(t["start_date"])).total_seconds()
                 for t in ran}  # fmt: skip
    mapped = ("clv.value", "segments.value")
    by_stage = {stage: [d for (task, _), d in durations.items() if task == stage] for stage in mapped}
    serial = [d for (task, _), d in durations.items() if task not in mapped]
    work = sum(serial) + sum(max(d) for d in by_stage.values() if d)
    wall = (_when(dag_run["end_date"]) - _when(dag_run["start_date"])).total_seconds()
    on_path = len(serial) + sum(1 for d in by_stage.values() if d)
    latency = [(_when(t["start_date"]) - _when(t["queued_when"])).total_seconds() for t in ran if t.get("queued_when")]
    return {
        "tasks": len(ran), "run_wall_s": round(wall, 1), "work_s": round(work, 1),
        "overhead_per_task_s": round((wall - work) / on_path, 2),
        "queue_latency_mean_s": round(statistics.mean(latency), 2) if latency else None,
        "queue_latency_median_s": round(statistics.median(latency), 2) if latency else None,
        "task_seconds": {f"{k[0]}[{k[1]}]" if k[1] >= 0 else k[0]: round(v, 2) for k, v in durations.items()},
    }  # fmt: skip


def run_executor(executor: str, home: Path, work: Path) -> dict:
    import psycopg
    import redis

    name = f"clv_bench_topology_{uuid.uuid4().hex[:8]}"
    broker = redis.Redis.from_url(REDIS_URL)
    endpoints = local_endpoints(ADMIN_URL, REDIS_URL, name)
    logs = work / executor / "logs"
    logs.mkdir(parents=True)
    extra = {"CLV_SHARDS": "2", "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False", "AIRFLOW__OPENLINEAGE__DISABLED": "True"}
    if executor == "local":
        # the scheduler's task processes serve their logs, as Celery workers do
        extra |= {"AIRFLOW__CORE__EXECUTOR": "LocalExecutor", "AIRFLOW__CORE__PARALLELISM": "4",
                  "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}  # fmt: skip
    env = airflow_environment(work / executor / "airflow_home", home, endpoints, **extra)
    cluster = Cluster(env, logs)
    topology = topology_services(endpoints)
    broker.flushdb()
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        started = time.monotonic()
        cluster.run_init(topology["airflow-init"])
        for service in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor"):
            cluster.start(topology[service])
        if executor == "celery":
            for service in ("airflow-worker-warehouse", "airflow-worker-compute"):
                cluster.start(topology[service], AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()))
        api = Api(endpoints.api_url, "admin", env["AIRFLOW_ADMIN_PASSWORD"])
        api.wait_until_up(cluster)
        up = time.monotonic() - started
        result = run_dag(api, cluster, "clv_daily", f"bench_{executor}", LOGICAL_DATE)
    finally:
        codes = cluster.stop()
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        broker.flushdb()
    if result["state"] != "success":
        raise SystemExit(f"{executor}: clv_daily ended {result['state']}; logs in {logs}")
    return {"executor": executor, "start_up_s": round(up, 1), "exit_codes": codes,
            **measure(result["task_instances"], result["dag_run"])}  # fmt: skip


def report(results: dict) -> str:
    lines = [
        f"# Celery against the LocalExecutor: clv_daily at S scale ({results['clients']:,} clients, CLV_SHARDS=2)",
        "", f"Machine: {results['machine']}. Metadata in PostgreSQL for both; Celery with Redis and two workers.", "",
        "| executor | tasks | run wall s | work on the critical path s | overhead per task s | queue latency mean / median s | start-up s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]  # fmt: skip
    for r in results["runs"].values():
        lines.append(f"| {r['executor']} | {r['tasks']} | {r['run_wall_s']} | {r['work_s']} | {r['overhead_per_task_s']} | "
                     f"{r['queue_latency_mean_s']} / {r['queue_latency_median_s']} | {r['start_up_s']} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--executors", default="local,celery")
    parser.add_argument("--work", default=str(ROOT / "var" / "bench" / "topology"))
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args()
    work = Path(args.work).resolve()
    shutil.rmtree(work, ignore_errors=True)
    source = work / "deliveries"
    _generate(source, args.clients)
    results: dict = {"clients": args.clients, "runs": {}, "machine": machine()}
    for executor in args.executors.split(","):
        home = work / f"{executor}_home"
        shutil.copytree(source, home)
        print(f"{executor}: running clv_daily", flush=True)
        results["runs"][executor] = run_executor(executor, home, work)
        r = results["runs"][executor]
        print(f"  run {r['run_wall_s']} s, work {r['work_s']} s, overhead {r['overhead_per_task_s']} s per task, "
              f"queue latency {r['queue_latency_mean_s']} s", flush=True)  # fmt: skip
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "topology-S.json").write_text(json.dumps(results, indent=2, default=str))
    text = report(results)
    (out / "topology-S.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
