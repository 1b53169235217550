"""The production topology in one place: which Airflow processes run, with which command and settings.

docker-compose.yml runs these services in containers; tests/integration/deployment/ runs the same commands
as processes on one machine against the PostgreSQL and Redis there, and checks that the compose file says
the same (tests/unit/deployment/). Standard library only.

* PostgreSQL holds Airflow's metadata and Celery's results; Redis is Celery's broker.
* Two Celery queues: ``warehouse`` (python_tasks.settings.WAREHOUSE_QUEUE) has one worker with concurrency 1,
  the single writer of the DuckDB file; ``compute`` (COMPUTE_QUEUE) takes the per-client shards and scales
  with more workers or more concurrency.
* Every component shares the JWT secret (the API server signs the tokens task processes present to the
  execution API), the Fernet key (connections and variables) and the API secret key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_tasks.settings import COMPUTE_QUEUE, WAREHOUSE_POOL, WAREHOUSE_QUEUE

#: settings every component reads (values that differ per deployment are filled in by ``common_environment``)
SECRETS = ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY")


@dataclass(frozen=True)
class Service:
    """One Airflow component: its compose service name, command and own settings."""

    name: str
    command: tuple[str, ...]
    environment: dict[str, str] = field(default_factory=dict)
    #: runs once and exits (the init job), rather than serving until stopped
    one_shot: bool = False


@dataclass(frozen=True)
class Endpoints:
    """Where the shared services are: container names in compose, 127.0.0.1 natively."""

    postgres_host: str = "postgres"
    postgres_port: int = 5432
    postgres_user: str = "airflow"
    postgres_password: str = "airflow"
    postgres_db: str = "airflow"
    redis_host: str = "redis"
    redis_port: int = 6379
    redis_db: int = 0
    api_host: str = "airflow-apiserver"
    api_port: int = 8080

    def database_url(self, driver: str = "postgresql+psycopg") -> str:
        auth = self.postgres_user + (f":{self.postgres_password}" if self.postgres_password else "")
        return f"{driver}://{auth}@{self.postgres_host}:{self.postgres_port}/{self.postgres_db}"

    @property
    def broker_url(self) -> str:
        return f"redis://{self.redis_host}:{self.redis_port}/{self.redis_db}"

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"


def common_environment(endpoints: Endpoints) -> dict[str, str]:
    """The settings every Airflow component of the topology shares (secrets excepted: ``SECRETS``)."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": endpoints.database_url(),
        # the API server's async engine: psycopg 3 is async too (Airflow would otherwise want asyncpg)
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": endpoints.database_url(),
        "AIRFLOW__CELERY__BROKER_URL": endpoints.broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + endpoints.database_url(),
        # a task without a queue of its own goes to the single-writer worker, never to a compute worker
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": WAREHOUSE_QUEUE,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{endpoints.api_url}/execution/",
        "AIRFLOW__API__BASE_URL": endpoints.api_url,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "clv_warehouse",
        "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
    }


#: the init job: migrate the metadata DB, create the pools and the admin's password file (scripts/)
INIT_COMMAND = ("bash", "scripts/airflow_cluster_init.sh")
#: the Celery workers: one per queue (the warehouse worker must stay at concurrency 1)
WORKERS = {
    WAREHOUSE_QUEUE: ("airflow-worker-warehouse", 1),
    COMPUTE_QUEUE: ("airflow-worker-compute", 2),
}


def services(endpoints: Endpoints | None = None) -> list[Service]:
    """Every Airflow component of the topology, init job first."""
    endpoints = endpoints or Endpoints()
    out = [
        Service("airflow-init", INIT_COMMAND, one_shot=True),
        Service("airflow-apiserver", ("airflow", "api-server", "--port", str(endpoints.api_port))),
        Service("airflow-scheduler", ("airflow", "scheduler")),
        Service("airflow-dag-processor", ("airflow", "dag-processor")),
        Service("airflow-triggerer", ("airflow", "triggerer")),
    ]
    for queue, (name, concurrency) in WORKERS.items():
        out.append(Service(
            name,
            ("airflow", "celery", "worker", "--queues", queue, "--concurrency", str(concurrency),
             "--celery-hostname", f"{queue}@%h"),
        ))  # fmt: skip
    return out


def pools() -> dict[str, int]:
    """The pools the init job creates, with their slots."""
    return {WAREHOUSE_POOL: 1}
