"""Names of everything lineage records: OpenLineage namespaces, datasets, jobs and run ids; the folders
where a run's events and evidence live. Standard library only.

Datasets follow OpenLineage's naming conventions: a warehouse table is ``<database>.<schema>.<table>`` in
the namespace ``duckdb://<warehouse file>`` (what OpenLineage's dbt integration uses for DuckDB); a
delivered file is its landed path in the namespace ``file://<host>``. Run ids are UUIDs derived from
(namespace, job, Airflow run id, business date), so emitting a run's events again gives the same ids and a
lineage backend updates the runs it has rather than adding new ones.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import date
from pathlib import Path

from python_tasks.settings import get_settings, path_component

#: the DAG whose runs lineage describes
DAG_ID = "clv_daily"
DEFAULT_JOB_NAMESPACE = "clv_warehouse"
_UUID_NAMESPACE = uuid.UUID("6f1c2d2e-8a53-5b4e-9a0c-3c1f0e6f7a10")


def job_namespace() -> str:
    """The OpenLineage namespace of this deployment's jobs (``CLV_OPENLINEAGE_NAMESPACE``)."""
    return os.environ.get("CLV_OPENLINEAGE_NAMESPACE") or DEFAULT_JOB_NAMESPACE


def warehouse_namespace(warehouse_path: Path | None = None) -> str:
    path = (warehouse_path or get_settings().warehouse_path).resolve()
    return f"duckdb://{path.as_posix()}"


def warehouse_database(warehouse_path: Path | None = None) -> str:
    """DuckDB names a file's catalogue after the file: clv.duckdb → ``clv``."""
    return (warehouse_path or get_settings().warehouse_path).stem


def table_dataset_name(schema: str, table: str, warehouse_path: Path | None = None) -> str:
    return f"{warehouse_database(warehouse_path)}.{schema}.{table}"


def file_namespace() -> str:
    """``file://<host>``: a landed path means something on the machine that landed it."""
    return f"file://{os.environ.get('CLV_OPENLINEAGE_FILE_HOST') or socket.gethostname()}"


def task_job_name(task_id: str) -> str:
    """An Airflow task's job: ``clv_daily.<task id>`` (the OpenLineage Airflow provider's convention)."""
    return f"{DAG_ID}.{task_id}"


def dbt_job_name(unique_id: str) -> str:
    """A dbt node's job: ``dbt.<unique id>`` (e.g. ``dbt.model.clv_warehouse.fct_client_profile``)."""
    return f"dbt.{unique_id}"


def run_uuid(job_name: str, run_id: str, as_of_date: date) -> str:
    """The OpenLineage run id of ``job_name`` in the Airflow run ``run_id`` for D: stable across reruns."""
    key = f"{job_namespace()}|{job_name}|{run_id}|{as_of_date.isoformat()}"
    return str(uuid.uuid5(_UUID_NAMESPACE, key))


def lineage_dir(as_of_date: date, home: Path | None = None) -> Path:
    return (home or get_settings().home) / "lineage" / as_of_date.isoformat()


def lineage_file(as_of_date: date, run_id: str, home: Path | None = None) -> Path:
    """``<CLV_HOME>/lineage/<business date>/<run id>.ndjson``: every event of the run, one per line."""
    return lineage_dir(as_of_date, home) / f"{path_component(run_id)}.ndjson"


def evidence_root(home: Path | None = None) -> Path:
    return (home or get_settings().home) / "evidence"


def evidence_dir(as_of_date: date, run_id: str, home: Path | None = None) -> Path:
    """``<CLV_HOME>/evidence/<business date>/<run id>/``."""
    return evidence_root(home) / as_of_date.isoformat() / path_component(run_id)
