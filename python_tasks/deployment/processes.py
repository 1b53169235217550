"""The production topology as processes on one machine: the commands of python_tasks/deployment/topology.py
(the ones docker-compose.yml runs in containers) against a local PostgreSQL and Redis, each in its own
process group with its log in a file, and a small client of Airflow's REST API. Used by the native test
(tests/integration/deployment/) and the executor benchmark (benchmarks/topology.py). Standard library only."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from python_tasks.deployment.topology import Endpoints, Service, common_environment, services
from python_tasks.settings import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def airflow_environment(airflow_home: Path, clv_home: Path, endpoints: Endpoints, **extra: str) -> dict[str, str]:
    """The environment of every component: this machine's PATH, the project on PYTHONPATH, no AIRFLOW__* of
    the caller, the topology's settings, fresh secrets shared by all components."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "CLV_"))}
    venv_bin = PROJECT_ROOT / ".venv" / "bin"
    env["PATH"] = f"{venv_bin}:{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{PROJECT_ROOT}:{PROJECT_ROOT / 'config' / 'airflow'}"
    env |= common_environment(endpoints)
    env |= {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__FERNET_KEY": _fernet_key(),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(airflow_home / "auth" / "passwords.json"),
        "AIRFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(16),
        "CLV_HOME": str(clv_home),
    }
    return env | extra


def _fernet_key() -> str:
    import base64

    return base64.urlsafe_b64encode(os.urandom(32)).decode()


@dataclass
class Cluster:
    """The topology's long-running components as processes (started by ``start``, stopped by ``stop``)."""

    env: dict[str, str]
    logs: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def run_init(self, service: Service, timeout: float = 600) -> None:
        log = self.logs / f"{service.name}.log"
        with log.open("w") as out:
            done = subprocess.run(service.command, cwd=PROJECT_ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                  timeout=timeout)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{service.name} failed ({done.returncode}):\n{tail(log)}")

    def start(self, service: Service, **extra_env: str) -> None:
        log = (self.logs / f"{service.name}.log").open("w")
        self.processes[service.name] = subprocess.Popen(
            service.command, cwd=PROJECT_ROOT, env=self.env | extra_env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}
        if dead:
            raise RuntimeError(f"components exited: {dead}\n" + "\n".join(tail(self.logs / f"{n}.log") for n in dead))

    def stop(self, timeout: float = 90) -> dict[str, int | None]:
        """SIGTERM to every component's process group, then wait; SIGKILL for any still running after
        ``timeout``. The exit codes (None: had to be killed)."""
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        codes: dict[str, int | None] = {}
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                codes[name] = None
            try:  # children of the component (task processes, Celery's pool) go with it
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return codes


def tail(path: Path, lines: int = 60) -> str:
    text = path.read_text(errors="replace").splitlines() if path.exists() else ["(no log)"]
    return f"--- {path.name} (last {lines} lines)\n" + "\n".join(text[-lines:])


@dataclass
class Api:
    """Airflow's public REST API (v2) with a JWT from the simple auth manager."""

    base_url: str
    username: str
    password: str
    token: str | None = None

    def _call(self, method: str, path: str, body: dict | None = None, *, auth: bool = True) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, {"detail": exc.read().decode(errors="replace")[:500]}

    def wait_until_up(self, cluster: Cluster, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            cluster.check_alive()
            try:
                status, _ = self._call("GET", "/api/v2/monitor/health", auth=False)
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(2)
        else:
            raise TimeoutError(f"the API server did not answer at {self.base_url} within {timeout} s")
        status, body = self._call("POST", "/auth/token", {"username": self.username, "password": self.password},
                                  auth=False)  # fmt: skip
        if status not in (200, 201):
            raise RuntimeError(f"no token for {self.username}: {status} {body}")
        self.token = body["access_token"]

    def get(self, path: str) -> tuple[int, dict]:
        return self._call("GET", path)

    def patch(self, path: str, body: dict) -> tuple[int, dict]:
        return self._call("PATCH", path, body)

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        return self._call("POST", path, body)


def topology_services(endpoints: Endpoints) -> dict[str, Service]:
    return {s.name: s for s in services(endpoints)}


def run_dag(api: Api, cluster: Cluster, dag_id: str, run_id: str, logical_date: str, *, timeout: float = 1200) -> dict:
    """Wait until the DAG processor has parsed ``dag_id``, unpause it, trigger a run for ``logical_date``
    through the REST API and wait for it to end: its state, wall time and task instances."""
    deadline = time.monotonic() + 240
    while api.get(f"/api/v2/dags/{dag_id}")[0] != 200:
        cluster.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{dag_id} was not parsed within 240 s\n" + tail(cluster.logs / "airflow-dag-processor.log"))
        time.sleep(3)
    status, body = api.patch(f"/api/v2/dags/{dag_id}", {"is_paused": False})
    if status != 200:
        raise RuntimeError(f"unpausing {dag_id}: {status} {body}")
    triggered = time.monotonic()
    status, body = api.post(f"/api/v2/dags/{dag_id}/dagRuns", {"dag_run_id": run_id, "logical_date": logical_date})
    if status not in (200, 201):
        raise RuntimeError(f"triggering {dag_id}: {status} {body}")
    state, deadline = None, time.monotonic() + timeout
    while time.monotonic() < deadline:
        cluster.check_alive()
        state = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")[1].get("state")
        if state in ("success", "failed"):
            break
        time.sleep(2)
    run_s = time.monotonic() - triggered
    _, run = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
    _, tis = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=500")
    return {"state": state, "run_s": run_s, "dag_run": run, "task_instances": tis.get("task_instances", [])}


def local_endpoints(postgres_url: str, redis_url: str, database: str) -> Endpoints:
    """The topology's endpoints on this machine: the server of ``postgres_url`` with a database of its own
    (``database``), the Redis of ``redis_url`` (its database number), an API server on a free local port."""
    from urllib.parse import urlsplit

    pg, rd = urlsplit(postgres_url), urlsplit(redis_url)
    return Endpoints(
        postgres_host=pg.hostname or "127.0.0.1", postgres_port=pg.port or 5432, postgres_user=pg.username or "postgres",
        postgres_password=pg.password or "", postgres_db=database,
        redis_host=rd.hostname or "127.0.0.1", redis_port=rd.port or 6379, redis_db=int(rd.path.strip("/") or 0),
        api_host="127.0.0.1", api_port=free_port(),
    )  # fmt: skip
