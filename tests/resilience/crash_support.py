"""The clean reference run and the checks shared by the crash, reader and disk-full tests.

The reference is built once per session (``clean_reference``): 150 generated clients, business date D0 run
whole, then D1 run in four processes (the ingest tasks; freshness to the CLV shards; the CLV merge to the
drift gate; publish to audit: Airflow runs every task in its own process, so this is the DAG's own shape).
After each part the home is copied as a template, so a test starts a crash from the state just before the
work it kills instead of regenerating and rerunning everything before it. Two BI readers watch the serving
file through the whole of D1 (``crash_reader.py``); the reader test checks what they saw.
"""

from __future__ import annotations

import fcntl
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
from harness import (
    ROOT,
    VOLATILE_COLUMNS,
    Deployment,
    differences,
    duplicate_keys,
    fingerprint,
    leftovers,
)

from python_tasks.orchestration.pipeline import steps as pipeline_steps

HERE = Path(__file__).resolve().parent
D0 = date(2026, 11, 20)
D1 = D0 + timedelta(days=1)
CLIENTS = 150
RUN_D0, RUN_D1 = "r0", "r1"

_NAMES = [s.name for s in pipeline_steps()]


def _steps(first: str, last: str) -> list[str]:
    return _NAMES[_NAMES.index(first) : _NAMES.index(last) + 1]


#: D1 of the reference in four processes; each part's name is also the name of the state after it
PARTS: dict[str, list[str]] = {
    "ingest": [n for n in _NAMES if n.startswith("ingest.")],
    "prepare": _steps("freshness_gate", "clv.value"),
    "merge": _steps("clv.merge", "reconciliation_gate"),
    "d1": _steps("publish", "audit"),
}
# every step of the daily run, once and in order: a step left out of the parts (reconciliation_gate was,
# after it was added to the DAG) makes the reference differ from any run of the whole date
if [name for part in PARTS.values() for name in part] != _NAMES:
    raise RuntimeError(f"the reference's parts {PARTS} do not cover the daily run's steps {_NAMES} in order")
#: the state a part starts from
BEFORE = {"ingest": "d0", "prepare": "ingest", "merge": "prepare", "d1": "merge"}
#: the serving file's tables that keep a row per publish (a publish under a new run id adds one by design)
SERVING_HISTORY = {"bi.publications"}


@dataclass
class State:
    """One state of the reference deployment: a template home and what its files hold."""

    home: Path
    warehouse: dict[str, tuple[int, str]]
    serving: dict[str, tuple[int, str]]
    parquet: dict[str, tuple[int, str]]
    relations: set[tuple[str, str, str]]
    hidden: set[str]


@dataclass
class Reference:
    states: dict[str, State]
    step_seconds: dict[str, float] = field(default_factory=dict)
    part_seconds: dict[str, float] = field(default_factory=dict)
    readers: list[dict] = field(default_factory=list)

    def copy(self, state: str, target: Path) -> Deployment:
        """A new deployment at ``target`` holding the reference's state ``state``."""
        shutil.copytree(self.states[state].home, target, symlinks=True)
        return Deployment(target)


def relations(path: Path) -> set[tuple[str, str, str]]:
    """Every schema, table and view in a DuckDB file (temporary tables of a crashed job would show here)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(
            "SELECT 'schema', schema_name, '' FROM duckdb_schemas() WHERE database_name = current_database() "
            "UNION ALL SELECT 'table', schema_name, table_name FROM duckdb_tables() "
            "WHERE database_name = current_database() "
            "UNION ALL SELECT 'view', schema_name, view_name FROM duckdb_views() "
            "WHERE database_name = current_database() AND NOT internal"
        ).fetchall()
    finally:
        con.close()
    return {(kind, schema, name) for kind, schema, name in rows}


def hidden_paths(home: Path) -> set[str]:
    """Paths under ``home`` up to their first hidden component (``.x.partial``, ``.staging``, ...): work files
    of an interrupted writer look like that; a finished run leaves only its fixed ones (locks, spill folder)."""
    found = set()
    for path in home.rglob(".*"):
        rel = path.relative_to(home).parts
        first = next(i for i, part in enumerate(rel) if part.startswith("."))
        found.add("/".join(rel[: first + 1]))
    return found


def _values(columns: list[str]) -> str:
    """The row to hash: the columns, with one clock value more left out (``serving_fingerprint``)."""
    return ", ".join(
        f"""regexp_replace(CAST("{c}" AS VARCHAR), '"recorded_at": "[^"]*"', '"recorded_at": null', 'g')""" if c == "observed_value"
        else f'"{c}"' for c in columns
    )  # fmt: skip


def parquet_fingerprint(root: Path) -> dict[str, tuple[int, str]]:
    """``{relative path: (rows, content hash)}`` of every Parquet export, volatile columns left out (and the
    delivery clock in the freshness gate's observed values, as in ``serving_fingerprint``)."""
    found = {}
    con = duckdb.connect()
    try:
        for path in sorted(root.rglob("*.parquet")):
            quoted = "'" + path.as_posix().replace("'", "''") + "'"
            columns = [c for (c, *_) in con.execute(f"DESCRIBE SELECT * FROM read_parquet({quoted})").fetchall()
                       if not VOLATILE_COLUMNS.match(c)]  # fmt: skip
            row = _values(columns)
            rows, digest = con.execute(
                f"SELECT count(*), coalesce(sum(hash(row({row})))::VARCHAR, '') FROM read_parquet({quoted})"
            ).fetchone()
            found[path.relative_to(root).as_posix()] = (rows, digest)
    finally:
        con.close()
    return found


def serving_fingerprint(path: Path) -> dict[str, tuple[int, str]]:
    """``fingerprint`` of the serving file, with one clock value more left out: the freshness gate's observed
    value of a delivery carries the time its load was recorded (``"recorded_at": ...``), which differs
    between any two runs of the same data."""
    found = fingerprint(path)
    table = "bi.data_quality_results"
    if table not in found:
        return found
    con = duckdb.connect(str(path), read_only=True)
    try:
        columns = [
            c
            for (c,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'bi' AND table_name = 'data_quality_results' "
                "AND database_name = current_database() ORDER BY column_index"
            ).fetchall()
            if not VOLATILE_COLUMNS.match(c)
        ]
        values = _values(columns)
        found[table] = con.execute(
            f"SELECT count(*), coalesce(sum(hash(row({values})))::VARCHAR, '') FROM {table}"
        ).fetchone()
    finally:
        con.close()
    return found


def capture(home: Path) -> State:
    dep = Deployment(home)
    return State(
        home=home,
        warehouse=fingerprint(dep.warehouse),
        serving=serving_fingerprint(dep.serving) if dep.serving.exists() else {},
        parquet=parquet_fingerprint(dep.serving.parent / "parquet"),
        relations=relations(dep.warehouse),
        hidden=hidden_paths(home),
    )


def step_seconds(stdout: str) -> dict[str, float]:
    """Seconds per finished step, from the pipeline's one-JSON-line-per-step output."""
    return {
        (r := json.loads(line))["step"]: r["seconds"] for line in stdout.splitlines() if line.startswith('{"step": ')
    }


def start_reader(serving: Path, mode: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "crash_reader.py"), str(serving), mode], cwd=ROOT, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    line = proc.stdout.readline()
    assert json.loads(line or "{}") == {"ready": True}, proc.stderr.read()
    return proc


def stop_reader(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate("stop\n", timeout=120)
    lines = out.strip().splitlines()
    assert proc.returncode == 0 and lines, f"reader failed ({proc.returncode}):\n{err[-3000:]}"
    return json.loads(lines[-1])


def build_reference(root: Path) -> Reference:
    """Generate, run D0, then D1 in its four parts with two BI readers attached; capture every state."""
    dep = Deployment(root / "clean")
    dep.generate(clients=CLIENTS, first=D0, days=1)
    started = time.perf_counter()
    dep.run(D0, run_id=RUN_D0)
    ref = Reference(states={}, part_seconds={"d0_whole": round(time.perf_counter() - started, 1)})
    homes = {"d0": root / "d0"}
    shutil.copytree(dep.home, homes["d0"], symlinks=True)
    readers = [start_reader(dep.serving, "hold"), start_reader(dep.serving, "reconnect")]
    try:
        for part, names in PARTS.items():
            started = time.perf_counter()
            proc = dep.run(D1, run_id=RUN_D1, steps=names)
            ref.part_seconds[part] = round(time.perf_counter() - started, 1)
            ref.step_seconds.update(step_seconds(proc.stdout))
            homes[part] = root / part
            if part != "d1":
                shutil.copytree(dep.home, homes[part], symlinks=True)
    finally:
        ref.readers = [stop_reader(r) for r in readers]
    homes["d1"] = dep.home
    ref.states = {name: capture(home) for name, home in homes.items()}
    return ref


_CACHE: dict[str, Reference] = {}


def clean_reference(tmp_path_factory) -> Reference:  # noqa: ANN001 - pytest's TempPathFactory
    """The test run's reference, built once by the first test module that asks for it.

    Under pytest-xdist every worker is its own process: the first worker to ask builds it in the run's shared
    temporary folder, under a file lock, and leaves it pickled there; the others wait on the lock and load it
    (on 2 cores a second build only slowed the first). The template homes are only ever copied, never changed."""
    if "ref" in _CACHE:
        return _CACHE["ref"]
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        _CACHE["ref"] = build_reference(tmp_path_factory.mktemp("clean_reference"))
        return _CACHE["ref"]
    shared = tmp_path_factory.getbasetemp().parent / "clean_reference"
    shared.mkdir(exist_ok=True)
    built = shared / "reference.pickle"
    with (shared / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or when a killed worker's process ends
        if not built.exists():
            reference = build_reference(shared / "homes")
            built.with_suffix(".partial").write_bytes(pickle.dumps(reference))
            built.with_suffix(".partial").rename(built)
        _CACHE["ref"] = pickle.loads(built.read_bytes())
    return _CACHE["ref"]


# ---- what a test runs and checks ---------------------------------------------------------------------------


def run_crash(dep: Deployment, point: str, steps: list[str], run_id: str = RUN_D1, day: date = D1) -> str:
    """Run ``steps`` of ``day`` in a child that kills itself at ``point``; its output. Fails unless it died there."""
    args = [sys.executable, str(HERE / "crash_points.py"), point, "pipeline", "--date", day.isoformat(),
            "--run-id", run_id, *(a for name in steps for a in ("--step", name))]  # fmt: skip
    proc = subprocess.run(args, cwd=ROOT, env=dep.env, capture_output=True, text=True, timeout=900)
    marker = f"CRASH-POINT {point}"
    assert proc.returncode == -9 and marker in proc.stdout, (
        f"the run did not die at {point} (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-4000:]}"
    )
    return proc.stdout


def serving_differences(expected: dict, actual: dict, *, same_run: bool) -> dict:
    """Differences of two serving fingerprints; a rerun under a new run id adds its row to the history tables."""
    found = differences(expected, actual)
    if not same_run:
        found = {t: d for t, d in found.items() if t not in SERVING_HISTORY}
    return found


def parquet_differences(expected: dict, actual: dict, *, same_run: bool) -> dict:
    found = differences(expected, actual)
    if not same_run:
        found = {p: d for p, d in found.items() if not p.startswith("publications/")}
    return found


def assert_readable_after_kill(dep: Deployment, ref: Reference, before: str, after: str = "d1") -> None:
    """Right after a kill: the warehouse opens read-only; the serving file is the old or the new publication,
    complete, with no write-ahead log beside it; every Parquet export reads."""
    assert fingerprint(dep.warehouse), "the warehouse does not open read-only after the kill"
    assert not dep.serving.with_name(dep.serving.name + ".wal").exists()
    serving = serving_fingerprint(dep.serving)
    old, new = ref.states[before].serving, ref.states[after].serving
    assert serving in (old, new), (
        "the serving file is neither the previous nor the new publication:\n"
        f"vs old: {differences(old, serving)}\nvs new: {differences(new, serving)}"
    )
    parquet_fingerprint(dep.serving.parent / "parquet")  # raises on a half-written file


def _no_differences(what: str, found: dict | list | set) -> None:
    assert not found, f"{what}: {found}"


def assert_tables_as_in(dep: Deployment, ref: Reference, state: str, prefixes: tuple[str, ...]) -> None:
    """The warehouse tables whose names start with ``prefixes`` hold exactly what they held in ``state``:
    the killed transaction left nothing of itself."""
    actual = {t: v for t, v in fingerprint(dep.warehouse).items() if t.startswith(prefixes)}
    expected = {t: v for t, v in ref.states[state].warehouse.items() if t.startswith(prefixes)}
    assert expected, f"no table starts with {prefixes}"
    _no_differences(f"tables changed by the killed work (vs {state})", differences(expected, actual))


def assert_recovered(dep: Deployment, ref: Reference, state: str = "d1", *, same_run: bool = True) -> None:
    """After the rerun: every table (warehouse, serving file, Parquet) equals the clean run's, no duplicate
    keys, no temporary files, tables, views or schemas left behind."""
    want = ref.states[state]
    _no_differences("warehouse tables differing from the clean run",
                    differences(want.warehouse, fingerprint(dep.warehouse)))  # fmt: skip
    _no_differences("duplicate keys", duplicate_keys(dep.warehouse))
    found = relations(dep.warehouse)
    _no_differences("relations only after the rerun", found - want.relations)
    _no_differences("relations missing after the rerun", want.relations - found)
    if want.serving:
        _no_differences("serving tables differing from the clean run",
                        serving_differences(want.serving, serving_fingerprint(dep.serving), same_run=same_run))  # fmt: skip
    _no_differences("Parquet exports differing from the clean run",
                    parquet_differences(want.parquet, parquet_fingerprint(dep.serving.parent / "parquet"),
                                        same_run=same_run))  # fmt: skip
    _no_differences("leftovers", leftovers(dep.home))
    hidden = hidden_paths(dep.home)
    _no_differences("work files left by the killed attempt", hidden - want.hidden)
