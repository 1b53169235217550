"""A deployment for the resilience tests: a CLV_HOME of generated deliveries, the daily run in child
processes (``python -m python_tasks pipeline``, the DAG's tasks without Airflow, so a child can be killed
like a worker), and the fingerprints that say whether two warehouses hold the same data.

Content hashes leave out what differs between two correct runs of the same data: run ids, wall-clock
times, durations and random ids (``VOLATILE_COLUMNS``), and the audit tables, which record each run
(``HISTORY_TABLES``: a rerun adds rows there by design). Everything else (raw, marts, snapshots,
valuation, segments, the serving file's BI tables) must be identical, row for row.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[2]

#: variables that could point a child at another deployment's folders or configuration
DEPLOYMENT_VARIABLES = (
    "CLV_INBOX_DIR", "CLV_LANDING_DIR", "CLV_WAREHOUSE_PATH", "CLV_EXTERNAL_API_URL", "CLV_PARAMS_FILE",
    "CLV_SEGMENT_RULES_FILE", "CLV_SERVING_POSTGRES_URL", "CLV_OPENLINEAGE_URL", "CLV_SHARDS",
)  # fmt: skip

#: columns whose values differ between two correct runs of the same data (ids and clocks of the run)
VOLATILE_COLUMNS = re.compile(
    r"^(_?run_id|.*_run_id|_loaded_at|_computed_at|.*_at|execution_time_s|.*seconds.*|snapshot_id|"
    r"dbt_scd_id|dbt_updated_at|dbt_valid_from|dbt_valid_to|params_json|code_version)$"
)
#: tables that record every run (a rerun adds rows by design): compared by their own rules, not hashed
HISTORY_TABLES = {
    ("audit", "dbt_results"), ("audit", "dq_results"), ("audit", "load_ledger"), ("audit", "run_audit"),
    ("audit", "quarantine"), ("audit", "reconciliation"), ("audit", "restatements"), ("valuation", "runs"), ("segments", "runs"), ("valuation", "backtest"),
}  # fmt: skip
#: schemas of working tables rebuilt by every dbt run (their content is the last build's dates only)
WORKING_SCHEMAS = {"intermediate", "staging"}


@dataclass
class Deployment:
    """One CLV_HOME on disk. ``env`` is what every child process gets."""

    home: Path
    env: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if k not in DEPLOYMENT_VARIABLES}
        self.env.update(CLV_HOME=str(self.home), PYTHONUNBUFFERED="1")

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse" / "clv.duckdb"

    @property
    def serving(self) -> Path:
        return self.home / "serving" / "clv_serving.duckdb"

    @property
    def inbox(self) -> Path:
        return self.home / "inbox"

    def cli(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
        """``python -m python_tasks <args>`` in a child process with this deployment's environment."""
        proc = subprocess.run(
            [sys.executable, "-m", "python_tasks", *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"python -m python_tasks {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")  # fmt: skip
        return proc

    def generate(self, *, clients: int, first: date, days: int, seed: int = 42, inbox: Path | None = None) -> list[date]:
        """Generated deliveries of ``first`` and the ``days`` after it, and the month's external data loaded."""
        args = ["generate", "--scale", "S", "--clients", str(clients), "--first-date", first.isoformat(),
                "--days", str(days), "--seed", str(seed), "--quiet"]  # fmt: skip
        if inbox is not None:
            args += ["--inbox", str(inbox)]
        self.cli(*args)
        # the monthly DAG's loads: every month the dates reach (a month's delivery is dated its first day, so
        # the dates before it do not see it); without December's, a backfill into December stops at the
        # freshness gate once November's delivery is 45 days old
        month = first.replace(day=1)
        while month <= first + timedelta(days=days):
            self.load_external(month)
            month = (month + timedelta(days=32)).replace(day=1)
        return [first + timedelta(days=i) for i in range(days + 1)]

    def load_external(self, month: date) -> None:
        code = (
            "import sys; from datetime import date; from pathlib import Path;"
            "from python_tasks.sample_data.api_server import ingest_generated_external as f;"
            "r = f(Path(sys.argv[1]), date.fromisoformat(sys.argv[2]), 'external');"
            "bad = [x for x in r if x['status'] not in ('loaded', 'unchanged')];"
            "sys.exit(str(bad) if bad else 0)"
        )
        subprocess.run([sys.executable, "-c", code, str(self.inbox), month.isoformat()], cwd=ROOT, env=self.env,
                       check=True, capture_output=True)  # fmt: skip

    def run(self, day: date, *, to: date | None = None, run_id: str | None = None, steps: Iterable[str] = (),
            check: bool = True) -> subprocess.CompletedProcess:  # fmt: skip
        """The daily run of ``day`` (each date to ``to``), or only ``steps`` of it, in a child process."""
        args = ["pipeline", "--date", day.isoformat()]
        if to is not None:
            args += ["--to", to.isoformat()]
        if run_id is not None:
            args += ["--run-id", run_id]
        for name in steps:
            args += ["--step", name]
        return self.cli(*args, check=check)

    def start(self, day: date, *, run_id: str | None = None, extra_env: dict[str, str] | None = None
              ) -> subprocess.Popen:  # fmt: skip
        """The daily run of ``day`` started in a child process (its own process group) and not waited for."""
        args = [sys.executable, "-m", "python_tasks", "pipeline", "--date", day.isoformat()]
        if run_id is not None:
            args += ["--run-id", run_id]
        return subprocess.Popen(args, cwd=ROOT, env={**self.env, **(extra_env or {})}, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip


def kill_group(proc: subprocess.Popen) -> int:
    """kill -9 of the child and everything it started; its exit status."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return proc.wait(timeout=60)


def wait_for_step(proc: subprocess.Popen, step: str, timeout: float = 600) -> list[str]:
    """Read the child's output until the line that says ``step`` finished; the lines read."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"the run ended before step {step} finished:\n{''.join(lines[-60:])}")
        lines.append(line)
        if line.startswith('{"step": ') and json.loads(line)["step"] == step:
            return lines
    raise AssertionError(f"step {step} did not finish within {timeout} s")


def _tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_type = 'BASE TABLE' AND table_catalog = current_database() ORDER BY 1, 2"
    ).fetchall()


def table_hash(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> tuple[int, str]:
    """Rows and an order-independent hash of a table's content without its volatile columns."""
    columns = [
        c for (c,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
            "AND table_catalog = current_database() ORDER BY ordinal_position", [schema, table],
        ).fetchall() if not VOLATILE_COLUMNS.match(c)
    ]  # fmt: skip
    if not columns:
        (rows,) = con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()
        return rows, ""
    row = ", ".join(f'"{c}"' for c in columns)
    rows, digest = con.execute(
        f"SELECT count(*), coalesce(sum(hash(row({row})))::VARCHAR, '') FROM \"{schema}\".\"{table}\""
    ).fetchone()  # fmt: skip
    # sum of 64-bit row hashes is order-independent; duplicates show up in the count and the sum
    return rows, hashlib.sha256(f"{rows}:{digest}:{','.join(columns)}".encode()).hexdigest()[:16]


def fingerprint(path: Path, *, include_history: bool = False) -> dict[str, tuple[int, str]]:
    """``{"schema.table": (rows, hash)}`` of every table in a DuckDB file, opened read-only."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            f"{schema}.{table}": table_hash(con, schema, table)
            for schema, table in _tables(con)
            if schema not in WORKING_SCHEMAS and (include_history or (schema, table) not in HISTORY_TABLES)
        }
    finally:
        con.close()


def differences(expected: dict[str, tuple[int, str]], actual: dict[str, tuple[int, str]]) -> dict[str, tuple]:
    """The tables whose rows or content differ (or exist in one only): ``{table: (expected, actual)}``."""
    return {t: (expected.get(t), actual.get(t)) for t in sorted(expected.keys() | actual.keys())
            if expected.get(t) != actual.get(t)}  # fmt: skip


def duplicate_keys(path: Path) -> dict[str, int]:
    """Rows beyond the first per primary key in the warehouse's keyed output tables (should be none)."""
    keys = {
        "marts.fct_client_profile": ("client_id", "as_of_date"),
        "marts.fct_facility_daily": ("facility_id", "as_of_date"),
        "valuation.client_values": ("client_id", "as_of_date", "scenario"),
        "segments.client_segments": ("client_id", "as_of_date"),
    }
    con = duckdb.connect(str(path), read_only=True)
    try:
        found = {}
        for table, key in keys.items():
            cols = ", ".join(key)
            (extra,) = con.execute(f"SELECT count(*) - count(DISTINCT ({cols})) FROM {table}").fetchone()
            if extra:
                found[table] = extra
        return found
    finally:
        con.close()


def leftovers(home: Path) -> list[Path]:
    """Temporary files a finished run must not leave behind: partial snapshots, shard folders, write-ahead
    logs beside closed databases, half-written serving files, temporary landing copies."""
    patterns = ("**/*.wal", "**/*.tmp", "**/*.partial", "**/*.partial-*", "**/.tmp*", "**/*.building*",
                "**/*.new")  # fmt: skip
    found = {p for pattern in patterns for p in home.glob(pattern)}
    shards = home / "shards"
    if shards.exists():
        found |= {p for p in shards.rglob("*") if p.is_file()}
    return sorted(found)


#: a loaded two-core machine can take several minutes a date; the harness's ``run`` waits 15 minutes at most
TIMEOUT_S = 3600


def pipeline(dep: Deployment, day: date, *, to: date | None = None, run_id: str | None = None, check: bool = True,
             timeout: float = TIMEOUT_S):  # fmt: skip
    """``Deployment.run`` with room for a slow machine (the same ``pipeline`` command)."""
    args = ["pipeline", "--date", day.isoformat(), *(["--to", to.isoformat()] if to else []),
            *(["--run-id", run_id] if run_id else [])]  # fmt: skip
    return dep.cli(*args, check=check, timeout=timeout)


#: serving tables that record runs rather than data: one ``publications`` row per publish (a rerun under a
#: new run id adds one), and the latest evaluation of each gate, whose observed values carry that run's
#: clock and its ingest statuses ("unchanged" on a rerun): its checks and their outcomes are compared instead.
SERVING_RUN_RECORDS = ("bi.publications", "bi.data_quality_results")


def serving_fingerprint(dep: Deployment) -> dict:
    """``fingerprint`` of the serving file without its run records, plus every check and its outcome."""
    found = {t: v for t, v in fingerprint(dep.serving).items() if t not in SERVING_RUN_RECORDS}
    con = duckdb.connect(str(dep.serving), read_only=True)
    try:
        checks = con.execute(
            "SELECT as_of_date, gate, suite, check_type, column_name, check_arguments, severity, passed "
            "FROM bi.data_quality_results ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()
    digest = hashlib.sha256(repr(checks).encode()).hexdigest()[:16]
    return {**found, "bi.data_quality_results (checks and outcomes)": (len(checks), digest)}
