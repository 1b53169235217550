"""The only module that opens the DuckDB warehouse.

DuckDB allows one writing process per file; the Airflow pool serialises writers, and this module makes
sure every writer sees the same schemas and audit tables.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from python_tasks.contracts import load_contracts
from python_tasks.contracts.render import raw_table_ddl
from python_tasks.settings import get_settings

if TYPE_CHECKING:
    import pandas as pd

AUDIT_DDL = (
    "CREATE SCHEMA IF NOT EXISTS raw",
    "CREATE SCHEMA IF NOT EXISTS audit",
    """
    CREATE TABLE IF NOT EXISTS audit.load_ledger (
        run_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        as_of_date DATE NOT NULL,
        file_name VARCHAR,
        landed_path VARCHAR,
        sha256 VARCHAR,
        size_bytes BIGINT,
        rows_in BIGINT NOT NULL,
        rows_loaded BIGINT NOT NULL,
        rows_quarantined BIGINT NOT NULL,
        status VARCHAR NOT NULL,
        message VARCHAR,
        started_at TIMESTAMP WITH TIME ZONE NOT NULL,
        finished_at TIMESTAMP WITH TIME ZONE NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS audit.quarantine (
        run_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        as_of_date DATE NOT NULL,
        file_name VARCHAR NOT NULL,
        row_number BIGINT NOT NULL,
        rule VARCHAR NOT NULL,
        column_name VARCHAR,
        value VARCHAR,
        failed_rules VARCHAR[] NOT NULL,
        reasons VARCHAR[] NOT NULL,
        raw_record JSON NOT NULL,
        quarantined_at TIMESTAMP WITH TIME ZONE NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS audit.dbt_results (
        run_id VARCHAR NOT NULL,
        as_of_date DATE NOT NULL,
        selector VARCHAR NOT NULL,
        unique_id VARCHAR NOT NULL,
        resource_type VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        rows_affected BIGINT,
        execution_time_s DOUBLE NOT NULL,
        message VARCHAR,
        started_at TIMESTAMP WITH TIME ZONE NOT NULL,
        finished_at TIMESTAMP WITH TIME ZONE NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS audit.dq_results (
        run_id VARCHAR NOT NULL,
        as_of_date DATE NOT NULL,
        gate VARCHAR NOT NULL,
        suite VARCHAR NOT NULL,
        expectation_type VARCHAR NOT NULL,
        column_name VARCHAR,
        kwargs JSON NOT NULL,
        contract_rule VARCHAR,
        severity VARCHAR NOT NULL,
        success BOOLEAN NOT NULL,
        observed_value VARCHAR,
        element_count BIGINT,
        unexpected_count BIGINT,
        unexpected_percent DOUBLE,
        unexpected_sample JSON,
        exception VARCHAR,
        evaluated_at TIMESTAMP WITH TIME ZONE NOT NULL
    )
    """,
)


def spill_directory(path: Path) -> Path:
    """Where DuckDB spills beyond its memory limit, for every connection to the warehouse at ``path``."""
    return path.parent / ".duckdb_tmp"


def read_only_sqlalchemy(path: Path, memory_limit: str) -> tuple[str, dict]:
    """URL and ``connect_args`` for SQLAlchemy clients (the GX gates) that read the warehouse.

    Such clients open the file through duckdb-engine rather than this module's :func:`connect`; this is
    where their connection is defined, read-only, with the same spill folder.
    """
    import sqlalchemy as sa

    url = sa.engine.URL.create("duckdb", database=path.as_posix()).render_as_string()
    config = {"memory_limit": memory_limit, "temp_directory": spill_directory(path).as_posix()}
    return url, {"read_only": True, "config": config}


#: the DuckDB memory limit of every process's warehouse connection (beyond it, DuckDB spills)
MEMORY_LIMIT_VARIABLE = "CLV_DUCKDB_MEMORY_LIMIT"


def memory_limit() -> str:
    """The configured DuckDB memory limit (``CLV_DUCKDB_MEMORY_LIMIT``, default 3GB)."""
    return os.environ.get(MEMORY_LIMIT_VARIABLE, "3GB")


def _memory_settings(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    con.execute(f"SET memory_limit = '{memory_limit()}'")
    con.execute(f"SET temp_directory = '{spill_directory(path).as_posix()}'")
    # Row order in a table carries no meaning here (every raw row keeps its file and row number), and
    # not preserving it lets large inserts stream in parallel: ~40 % faster at 10 M rows.
    con.execute("SET preserve_insertion_order = false")


@contextmanager
def connect(path: Path | None = None, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse (default: the configured one); writers get the schemas created first."""
    path = path or get_settings().warehouse_path
    if read_only and not path.exists():
        raise FileNotFoundError(f"warehouse {path} does not exist yet: run a load first")
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        if not read_only:
            _memory_settings(con, path)
            ensure_schema(con)
        yield con
    finally:
        con.close()


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw tables (from the contracts) and the audit tables if they are missing."""
    for statement in AUDIT_DDL:
        con.execute(statement)
    for contract in load_contracts().values():
        con.execute(raw_table_ddl(contract))


def replace_partition(
    con: duckdb.DuckDBPyConnection, table: str, columns: list[str], as_of_date: object, frame: pd.DataFrame
) -> int:
    """Replace ``table``'s rows of one business date by ``frame``'s ``columns`` (the caller holds the
    transaction). ``table`` and ``columns`` come from the package's own output definitions, never from
    input data; the date is bound as a parameter."""
    con.execute(f"DELETE FROM {table} WHERE as_of_date = $d", {"d": as_of_date})
    if frame.empty:
        return 0
    con.register("_partition_frame", frame[columns])
    try:
        names = ", ".join(columns)
        con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _partition_frame")
    finally:
        con.unregister("_partition_frame")
    return len(frame)


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether ``schema.table`` exists (a stage's tables appear with its first run)."""
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = $s AND table_name = $t", {"s": schema, "t": table}
        ).fetchone()[0]
    )


def ddl_columns(body: str) -> list[str]:
    """Column names, in order, of a CREATE TABLE body ("name TYPE …, …, PRIMARY KEY (…)")."""
    return [part.split()[0] for part in body.split("PRIMARY KEY")[0].split(",") if part.strip()]
