"""Data-quality gates against the daily pipeline: time and memory of every gate, side by side in one run.

    python -m benchmarks.gates --scale M [--days N] [--home DIR]      (or: make bench-gates SCALE=M)

Target (issue 6): validation must not dominate the run: at M scale all gates together take under 30 % of
the pipeline's time in the daily run. Per-gate time and memory are reported; sampling is allowed for
distribution checks only, and the report says whether any check samples.

Generates (or reuses, ``benchmarks.profile.stage_generate``) the sample deliveries of the initial history
load D0 and N daily deltas in ``var/bench/gates/<scale>/inbox``, starts from an empty warehouse, loads the
month's external data (the monthly DAG's work, not timed as part of the daily run), then runs the daily
run of ``dags/clv_daily.py`` for D0 (the full history load) and each delta date, **each task in its own
fresh interpreter** as Airflow runs it, in the DAG's order:

1. ``ingest.<source>``: ``ingest_source(source, D, run_id)`` for every internal source;
2. ``freshness_gate``: ``run_freshness_gate(D, run_id)``, when ``python_tasks.quality.freshness_gate``
   exists (skipped with a note otherwise);
3. ``raw_gate``; ``dbt_build``; ``profile_gate``; ``clv``; ``clv_gate``; ``segments``; ``segments_gate``;
   ``drift_gate``: the functions the DAG's tasks call (``clv`` and ``segments`` in one process each:
   ``run_clv``, ``run_segments``, the same rows as the DAG's sharded task groups; benchmarks/shards.py
   measures those).

Each stage reports the time of its imports and of the call itself; wall, CPU and peak RSS of the whole
process come from ``wait4`` (``benchmarks.measure.run_stage``). In the GX gates every SQL statement GX sends
to DuckDB is timed (SQLAlchemy cursor events) and attributed to its suite, so the report shows where a
gate's time goes (suites, statements, recording, GX's own overhead), and every statement is searched for
sampling. A separate tiny stage times ``import great_expectations`` and ``gx_engine`` alone: each GX gate
task pays that import once.

The pipeline total is the sum of the stages' process walls (what the run waits for with the one-slot
warehouse pool: the tasks run one after another; Airflow's own scheduling and task start-up are not
included, nor the ``summarise`` task). The gates' share is judged on their process walls ("gate task",
interpreter and GX import included); the share of the gate calls alone ("gate work") is shown beside it.

Writes ``benchmarks/results/gates-<scale>.json`` and ``.md`` (and ``.png`` when matplotlib is installed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import time
from datetime import date, timedelta
from importlib.util import find_spec
from pathlib import Path

from benchmarks.measure import machine, pyplot, run_stage, verdict
from benchmarks.profile import FIRST_DATE
from benchmarks.profile import stage_generate as generate_deliveries
from benchmarks.segments import _busy_cpu_s, _code_version

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_DAYS = 2
TARGET = {"share": 0.30, "scale": "M"}
FRESHNESS_MODULE = "python_tasks.quality.freshness_gate"
#: the gate tasks of the daily run and the module each one's function lives in
GATES = {
    "freshness_gate": FRESHNESS_MODULE,
    "raw_gate": "python_tasks.quality.raw_gate",
    "profile_gate": "python_tasks.quality.stage_gates",
    "clv_gate": "python_tasks.quality.stage_gates",
    "segments_gate": "python_tasks.quality.stage_gates",
    "drift_gate": "python_tasks.quality.stage_gates",
}
#: the gates that validate with GX (and import it): their tasks pay the GX import
GX_GATES = ("raw_gate", "profile_gate", "clv_gate", "segments_gate")
#: the other tasks of the daily run and the modules their functions import (timed apart from the call)
TASK_IMPORTS = {
    "ingest": ("python_tasks.ingest.job",),
    "dbt_build": ("python_tasks.transform.dbt_job", "dbt.cli.main"),
    "clv": ("python_tasks.clv.job",),
    "segments": ("python_tasks.segments.job",),
}
#: settings that would point a child at another deployment than --home
_LOCATION_VARS = ("CLV_INBOX_DIR", "CLV_LANDING_DIR", "CLV_WAREHOUSE_PATH", "CLV_EXTERNAL_API_URL")
#: SQL that samples rows instead of reading them all
SAMPLING_SQL = re.compile(r"\b(TABLESAMPLE|USING\s+SAMPLE|RESERVOIR|BERNOULLI|SYSTEM\s*\(|random\s*\()", re.I)
#: the same in Python code or configuration
SAMPLING_CODE = re.compile(r"(TABLESAMPLE|USING\s+SAMPLE|\.sample\(|reservoir|\bsampl(e|ing)_?(rate|fraction|size))",
                           re.I)  # fmt: skip
LIMIT_SQL = re.compile(r"\bLIMIT\s+(?:\$(\d+)|(\d+))", re.I)


def daily_stages(sources: list[str], with_freshness: bool) -> list[str]:
    """The tasks of clv_daily for one business date, in run order."""
    stages = [f"ingest.{source}" for source in sources]
    if with_freshness:
        stages.append("freshness_gate")
    return [*stages, "raw_gate", "dbt_build", "profile_gate", "clv", "clv_gate", "segments", "segments_gate",
            "drift_gate"]  # fmt: skip


def is_gate(stage: str) -> bool:
    return stage in GATES


def _dates(days: int) -> list[date]:
    return [FIRST_DATE + timedelta(days=i) for i in range(days + 1)]


def _run_id(day: date) -> str:
    return f"bench-gates-{day.isoformat()}"


def _child(stage: str, args: argparse.Namespace, home: Path, day: date | None = None) -> dict:
    """Run one stage in a fresh interpreter; its own peak RSS and CPU time come from wait4().

    The parent only spawns and waits (it never imports pandas, DuckDB or GX): a child started from a large
    address space would report it as its own peak.
    """
    env = {k: v for k, v in os.environ.items() if k not in _LOCATION_VARS}
    env["CLV_HOME"] = str(home)
    argv = ["-m", "benchmarks.gates", "--stage", stage, "--home", str(home), "--scale", args.scale,
            "--seed", str(args.seed), "--days", str(args.days)]  # fmt: skip
    if day is not None:
        argv += ["--date", day.isoformat()]
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    busy = _busy_cpu_s()
    if getattr(args, "worker", "cold") == "warm" and stage not in ("generate", "external"):
        measured = _forked(stage, args, home, day, logs / f"{day or 'setup'}-{stage}")
    else:
        measured = run_stage(argv, stage, logs / f"{day or 'setup'}-{stage}", env)
    if busy is not None:  # CPU time the rest of the machine used meanwhile: another busy process shows here
        measured["others_cpu_s"] = round(max(_busy_cpu_s() - busy - measured["cpu_s"], 0.0), 1)
    return measured


def preload_like_the_scheduler() -> list[str]:
    """Import what config/airflow/airflow_local_settings.py preloads in the Airflow scheduler (the
    LocalExecutor's task processes are forked from it, with these modules already imported)."""
    import sys

    sys.path.insert(0, str(ROOT / "config" / "airflow"))
    from airflow_local_settings import preload

    return preload(["airflow", "scheduler"])


def _forked(stage: str, args: argparse.Namespace, home: Path, day: date | None, out_prefix: Path) -> dict:
    """Run one stage in a process forked from this (preloaded) one, as Airflow 3 starts a task: ``os.fork``
    of the worker, no new interpreter; CPU time and peak RSS of the child from wait4 (its peak includes the
    preloaded pages it shares with the parent, as a task process's does)."""
    import sys
    import traceback

    out, err = out_prefix.with_suffix(".out"), out_prefix.with_suffix(".err")
    sys.stdout.flush()
    sys.stderr.flush()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the task process
        code = 1
        try:
            for var in _LOCATION_VARS:
                os.environ.pop(var, None)
            os.environ["CLV_HOME"] = str(home)
            args = argparse.Namespace(**{**vars(args), "stage": stage, "date": day})
            os.dup2(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 1)
            os.dup2(os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 2)
            import logging

            logging.basicConfig(level=logging.WARNING)
            print(json.dumps(_stage_function(stage)(home, args, day), default=str), flush=True)
            code = 0
        except BaseException:  # noqa: BLE001 - reported through the exit code and the .err file
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"stage {stage} failed:\n{out.read_text()[-3000:]}\n{err.read_text()[-3000:]}")
    measured = json.loads(out.read_text().strip().splitlines()[-1])
    measured.update(wall_s=round(wall, 2), cpu_s=round(usage.ru_utime + usage.ru_stime, 2),
                    peak_rss_mb=round(usage.ru_maxrss / 1024, 1))  # fmt: skip
    return measured


# --- stages (each runs in its own child process) -----------------------------------------------------


def stage_generate(home: Path, args: argparse.Namespace, day: date | None) -> dict:
    """The sample deliveries of D0 and the deltas, unless the inbox already holds exactly those."""
    return generate_deliveries(home, args.days, args.scale, args.seed)


def stage_external(home: Path, args: argparse.Namespace, day: date | None) -> dict:
    """The month's external indicators, as the monthly external DAG loads them (not part of the daily run)."""
    from python_tasks.sample_data.api_server import ingest_generated_external
    from python_tasks.settings import get_settings

    started = time.perf_counter()
    results = ingest_generated_external(get_settings().inbox_dir, FIRST_DATE.replace(day=1), "bench-gates-external")
    bad = [r for r in results if r["status"] not in ("loaded", "unchanged")]
    if bad:
        raise SystemExit(f"loading the external data: {bad}")
    return {"stage": "external", "seconds": round(time.perf_counter() - started, 2),
            "rows_loaded": sum(r["rows_loaded"] for r in results)}  # fmt: skip


def stage_gx_import(home: Path, args: argparse.Namespace, day: date | None) -> dict:
    """``import great_expectations`` alone, then the rest of ``gx_engine`` (SQLAlchemy, the DuckDB fix)."""
    started = time.perf_counter()
    import great_expectations  # noqa: F401 - the import is what is measured

    gx_s = time.perf_counter() - started
    import python_tasks.quality.gx_engine  # noqa: F401

    total = time.perf_counter() - started
    return {"stage": "gx_import", "great_expectations_s": round(gx_s, 2), "gx_engine_rest_s": round(total - gx_s, 2),
            "seconds": round(total, 2)}  # fmt: skip


def _import(modules: tuple[str, ...]) -> float:
    import importlib

    started = time.perf_counter()
    for module in modules:
        importlib.import_module(module)
    return round(time.perf_counter() - started, 2)


def stage_task(home: Path, args: argparse.Namespace, day: date | None) -> dict:
    """One non-gate task of the daily run for D: ingest of one source, dbt_build, clv or segments."""
    stage, run_id = args.stage, _run_id(day)
    kind = stage.split(".", 1)[0]
    import_s = _import(TASK_IMPORTS[kind])
    started = time.perf_counter()
    out: dict = {"stage": stage, "kind": "task", "import_s": import_s}
    if kind == "ingest":
        from python_tasks.ingest.job import ingest_source

        result = ingest_source(stage.split(".", 1)[1], day, run_id)
        if result["status"] not in ("loaded", "unchanged"):
            raise SystemExit(f"{stage} {day}: {result}")
        out.update(rows_in=result["rows_in"], rows_loaded=result["rows_loaded"],
                   rows_quarantined=result["rows_quarantined"])  # fmt: skip
    elif kind == "dbt_build":
        from python_tasks.settings import get_settings
        from python_tasks.transform.dbt_job import run_dbt_build

        result = run_dbt_build(day, run_id)
        out["seconds"] = round(time.perf_counter() - started, 2)
        out["dbt"] = _dbt_breakdown(get_settings().home / "dbt" / "target" / "run_results.json")
    elif kind == "clv":
        from python_tasks.clv.job import run_clv

        result = run_clv(day, run_id)
        out.update(clients=result["clients"], rows=result["rows"])
    else:
        from python_tasks.segments.job import run_segments

        result = run_segments(day, run_id)
        out.update(clients=result["clients"])
    out.setdefault("seconds", round(time.perf_counter() - started, 2))
    return out


def _dbt_breakdown(run_results: Path) -> dict:
    """Node time by resource type from dbt's run_results.json: the data tests are dbt's own checks."""
    results = json.loads(run_results.read_text())
    by_type: dict[str, dict] = {}
    for r in results["results"]:
        kind = r["unique_id"].split(".")[0]
        entry = by_type.setdefault(kind, {"nodes": 0, "seconds": 0.0})
        entry["nodes"] += 1
        entry["seconds"] = round(entry["seconds"] + r["execution_time"], 2)
    return {"elapsed_s": round(results["elapsed_time"], 2), "by_type": by_type}


class _GateProbe:
    """Times what a GX gate does without changing it: every SQL statement GX sends (SQLAlchemy cursor
    events), each suite from its query asset to the end of its validation, building the suites and recording
    the outcomes (wrappers around the module attributes the gates call)."""

    def __init__(self) -> None:
        self.statements: list[dict] = []
        self.suites: dict[str, dict] = {}
        self.steps: dict[str, float] = {}
        self._queries: dict[str, str] = {}
        self._current: str | None = None
        self._suite_started = 0.0

    def install_step_timers(self, module) -> None:  # noqa: ANN001 - the gate's module
        for name, step in (("gate_suites", "build_suites"), ("raw_suite", "build_suites"),
                           ("record_outcomes", "record_outcomes")):  # fmt: skip
            if hasattr(module, name):
                setattr(module, name, self._timed(step, getattr(module, name)))

    def _timed(self, step: str, function):  # noqa: ANN001, ANN202
        def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.steps[step] = round(self.steps.get(step, 0.0) + time.perf_counter() - started, 3)

        return timed

    def install_gx(self) -> None:
        import sqlalchemy as sa
        from great_expectations.datasource.fluent.interfaces import Batch
        from great_expectations.datasource.fluent.sql_datasource import SQLDatasource

        from python_tasks.quality import gx_engine

        probe = self
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._before)
        sa.event.listen(sa.engine.Engine, "after_cursor_execute", self._after)
        validate_queries, add_query_asset, validate = (
            gx_engine.validate_queries,
            SQLDatasource.add_query_asset,
            Batch.validate,
        )

        def timed_validate_queries(database, batches, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            for b in batches:
                probe._queries[b.query] = b.suite_name
                probe.suites[b.suite_name] = {"expectations": len(b.expectations), "seconds": 0.0, "sql_s": 0.0,
                                              "statements": 0}  # fmt: skip
            started = time.perf_counter()
            try:
                return validate_queries(database, batches, *args, **kwargs)
            finally:
                probe.steps["validate_queries"] = round(time.perf_counter() - started, 3)

        def timed_add_query_asset(source, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            query = kwargs.get("query", args[1] if len(args) > 1 else None)
            probe._current = probe._queries.get(query, "(unknown suite)")
            probe._suite_started = time.perf_counter()
            return add_query_asset(source, *args, **kwargs)

        def timed_validate(batch, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            try:
                return validate(batch, *args, **kwargs)
            finally:
                suite = probe.suites.get(probe._current)
                if suite is not None:
                    suite["seconds"] = round(suite["seconds"] + time.perf_counter() - probe._suite_started, 3)
                probe._current = None

        gx_engine.validate_queries = timed_validate_queries
        if hasattr(gx_engine, "update_data_docs"):  # GX's Data Docs pages of the run, written inside validate_queries
            gx_engine.update_data_docs = self._timed("data_docs", gx_engine.update_data_docs)
        SQLDatasource.add_query_asset = timed_add_query_asset
        Batch.validate = timed_validate

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        conn.info.setdefault("_bench_started", []).append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        seconds = time.perf_counter() - conn.info["_bench_started"].pop()
        suite = self._current or "(outside the suites)"
        text = " ".join(statement.split())
        for query, name in self._queries.items():
            text = text.replace(" ".join(query.split()), f"<{name} query>")
        limit = LIMIT_SQL.search(statement)
        value = int(limit.group(2)) if limit and limit.group(2) else None
        if limit and limit.group(1) and isinstance(parameters, tuple | list) and int(limit.group(1)) <= len(parameters):
            value = parameters[int(limit.group(1)) - 1]  # the bound value of LIMIT $n
        self.statements.append({
            "suite": suite, "seconds": round(seconds, 4), "sql": text[:400], "limit": bool(limit),
            "limit_value": value if isinstance(value, int) else None, "samples": bool(SAMPLING_SQL.search(statement)),
        })  # fmt: skip
        if suite in self.suites:
            self.suites[suite]["sql_s"] = round(self.suites[suite]["sql_s"] + seconds, 4)
            self.suites[suite]["statements"] += 1


def stage_gate(home: Path, args: argparse.Namespace, day: date | None) -> dict:
    """One gate task for D; a failed error-level check is recorded in the result, not raised."""
    import importlib
    import sys

    stage, run_id = args.stage, _run_id(day)
    modules = (GATES[stage], "python_tasks.quality.gx_engine") if stage in GX_GATES else (GATES[stage],)
    import_s = _import(modules)
    module = importlib.import_module(GATES[stage])
    probe = _GateProbe()
    probe.install_step_timers(module)
    if stage in GX_GATES:
        probe.install_gx()
    from python_tasks.quality.results import GateFailed

    status, error = "success", None
    started = time.perf_counter()
    try:
        if stage == "freshness_gate":
            result = module.run_freshness_gate(day, run_id)
        elif stage == "raw_gate":
            result = module.run_raw_gate(day, run_id)
        elif stage == "drift_gate":
            result = module.run_drift_gate(day, run_id)
        else:
            result = module.run_stage_gate(stage.removesuffix("_gate"), day, run_id)
    except GateFailed as exc:
        status, error, result = "failed", str(exc)[:3000], {}
    seconds = time.perf_counter() - started
    statements = probe.statements
    partial = (
        sys.modules["python_tasks.quality.gx_engine"].RESULT_FORMAT["partial_unexpected_count"]
        if ("python_tasks.quality.gx_engine" in sys.modules)
        else None
    )
    return {
        "stage": stage,
        "kind": "gate",
        "import_s": import_s,
        "seconds": round(seconds, 2),
        "status": status,
        "error": error,
        "result": result,
        "imports_gx": "great_expectations" in sys.modules,
        "steps": probe.steps,
        "suites": probe.suites,
        "sql": {
            "statements": len(statements),
            "seconds": round(sum(s["seconds"] for s in statements), 3),
            "with_limit": sum(s["limit"] for s in statements),
            # GX fetches the first unexpected values for the record with LIMIT partial_unexpected_count
            "limited_to_unexpected_values": sum(s["limit_value"] == partial for s in statements),
            "sampling": [s for s in statements if s["samples"]],
        },  # fmt: skip
        "statements": sorted(statements, key=lambda s: s["seconds"], reverse=True),
    }


STAGES = {"generate": stage_generate, "external": stage_external, "gx_import": stage_gx_import}


def _stage_function(stage: str):  # noqa: ANN202
    if stage in STAGES:
        return STAGES[stage]
    if is_gate(stage):
        return stage_gate
    if stage.split(".", 1)[0] in TASK_IMPORTS:
        return stage_task
    raise SystemExit(f"unknown stage {stage!r}")


# --- summary and report ------------------------------------------------------------------------------


def summarise_date(day: date, stages: dict[str, dict], *, initial: bool, judged: bool) -> dict:
    """Totals of one business date's run: the pipeline, the gates and their share, the verdict."""
    gates = {s: r for s, r in stages.items() if is_gate(s)}
    pipeline_wall = sum(r["wall_s"] for r in stages.values())
    gates_wall = sum(r["wall_s"] for r in gates.values())
    gates_work = sum(r["seconds"] for r in gates.values())
    share = round(gates_wall / pipeline_wall, 3) if pipeline_wall else float("nan")
    return {
        "as_of_date": day.isoformat(),
        "run": "initial history load" if initial else "daily run",
        "stages": len(stages),
        "pipeline_wall_s": round(pipeline_wall, 2),
        "pipeline_cpu_s": round(sum(r["cpu_s"] for r in stages.values()), 2),
        "pipeline_peak_rss_mb": max(r["peak_rss_mb"] for r in stages.values()),
        "gates": sorted(gates),
        "gates_wall_s": round(gates_wall, 2),
        "gates_cpu_s": round(sum(r["cpu_s"] for r in gates.values()), 2),
        "gates_work_s": round(gates_work, 2),
        "gates_import_s": round(sum(r.get("import_s", 0.0) for r in gates.values()), 2),
        "gates_peak_rss_mb": max((r["peak_rss_mb"] for r in gates.values()), default=0.0),
        "gates_share": share,
        "gates_work_share": round(gates_work / pipeline_wall, 4) if pipeline_wall else float("nan"),
        # CPU seconds barely move when another process competes for the cores: the cross-check of the wall share
        "gates_cpu_share": round(sum(r["cpu_s"] for r in gates.values()) / sum(r["cpu_s"] for r in stages.values()), 3),
        "gx_gates_import_s": round(sum(r.get("import_s", 0.0) for s, r in gates.items() if s in GX_GATES), 2),
        # interpreter start-up, exit (with GX: ~1 s of tear-down) and the benchmark's own few lines
        "gates_outside_s": round(sum(r["wall_s"] - r.get("import_s", 0.0) - r["seconds"] for r in gates.values()), 2),
        # what the gates may take for the target, the other stages as measured
        "gates_budget_s": round(TARGET["share"] / (1 - TARGET["share"]) * (pipeline_wall - gates_wall), 2),
        "failed_gates": [s for s, r in gates.items() if r.get("status") != "success"],
        "others_cpu_s": round(sum(r.get("others_cpu_s", 0.0) for r in stages.values()), 1),
        "target": {
            "target": TARGET["share"] * 100,
            "measured": round(share * 100, 1),
            "met": share < TARGET["share"] if judged else None,
        },
    }


def summarise(scale: str, results: dict) -> dict:
    days = results["days"]
    judged = scale == TARGET["scale"]
    per_date = [summarise_date(date.fromisoformat(d), results["runs"][d], initial=i == 0, judged=judged)
                for i, d in enumerate(days)]  # fmt: skip
    daily = per_date[1:]
    met = [d["target"]["met"] for d in daily]
    return {
        "scale": scale,
        "dates": per_date,
        "daily_met": None if not judged else all(met),
        "daily_worst_share": max(d["gates_share"] for d in daily),
        "freshness_gate": results["freshness_gate"],
        "sampling": results["sampling"],
        "gx_import": {
            k: results["gx_import"][k]
            for k in ("great_expectations_s", "gx_engine_rest_s", "seconds", "wall_s", "cpu_s", "peak_rss_mb")
        },  # fmt: skip
        "machine": results["machine"],
        "code": results.get("code", {}),
    }


def scan_for_sampling() -> dict:
    """The gates' configuration and code searched for sampling (the SQL as executed is searched in the run)."""
    files = sorted((ROOT / "expectations").glob("*.yml")) + sorted((ROOT / "python_tasks" / "quality").glob("*.py"))
    hits = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if SAMPLING_CODE.search(line) and "unexpected_sample" not in line and "partial_unexpected" not in line:
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:160]}")
    return {"files_searched": [str(p.relative_to(ROOT)) for p in files], "hits": hits}


def _label(stage: str) -> str:
    return {"freshness_gate": "freshness gate", "raw_gate": "raw gate", "profile_gate": "profile gate",
            "clv_gate": "CLV gate", "segments_gate": "segments gate", "drift_gate": "drift gate"}.get(stage, stage)  # fmt: skip


def _pct(x: float) -> str:
    return f"{x * 100:.1f} %"


def _share_verdict(t: dict) -> str:
    if t["met"] is None:
        return f"{t['measured']:.1f} % (the target, < {t['target']:.0f} %, is set at {TARGET['scale']})"
    return verdict(t, "%")


def report(scale: str, results: dict, summary: dict) -> str:
    mach, code, gx = summary["machine"], summary["code"], results["gx_import"]
    versions = ", ".join(f"{k} {mach[k]}" for k in ("duckdb", "great-expectations", "dbt-core", "pandas") if k in mach)
    days = results["days"]
    runs = results["runs"]
    first = runs[days[0]]
    clients = first.get("clv", {}).get("clients")
    raw_rows = {d: sum(r.get("rows_loaded", 0) for s, r in runs[d].items() if s.startswith("ingest.")) for d in days}
    lines = [
        f"# Data-quality gates against the pipeline, scale {scale}"
        + (", tasks forked from a warm worker" if results.get("worker") == "warm" else ""),
        "",
        (
            "Tasks: each forked from a worker process that preloaded "
            f"{', '.join(results['preloaded']['modules'])} ({results['preloaded']['seconds']} s, once), as the "
            "Airflow scheduler does with config/airflow/airflow_local_settings.py: the LocalExecutor forks task "
            "processes from it without a new interpreter. `gates-" + scale + ".md` is the same run with every task "
            "in a fresh interpreter."
            if results.get("worker") == "warm"
            else "Tasks: each in a fresh interpreter (the pessimistic case: every gate task imports GX itself). "
            "`gates-" + scale + "-warm.md` forks them from a preloaded worker, as the Airflow scheduler runs them."
        ),
        "",
        f"Machine: {mach['processor']}, {mach['cores']} cores, {mach['ram_gib']} GiB RAM, Python {mach['python']}, "
        f"{versions}."
        + (
            f" Code: commit {code['commit']}"
            + (" with uncommitted changes in python_tasks/ or config/." if code["uncommitted_code"] else ".")
            if code
            else ""
        ),
        "",
        f"Data: generated sample deliveries (seed {results['seed']}), {clients:,} clients valued on {days[0]}; "
        + "; ".join(f"{d}: {raw_rows[d]:,} raw rows loaded" for d in days)
        + ". The warehouse starts empty; the month's external indicators are loaded first (the monthly DAG, "
        f"not timed: {results['external']['wall_s']:.1f} s).",
        "",
        "Each task of `clv_daily` ran in its own "
        + ("process forked from the warm worker" if results.get("worker") == "warm" else "fresh interpreter")
        + ", one after another, as Airflow runs them in the one-slot warehouse pool. Pipeline total: the sum of the tasks' process walls (Airflow's scheduling "
        "and task start-up and the `summarise` task are not included). **Gate task**: the gate's whole process "
        "(interpreter, imports with GX, the check, recording); **gate work**: the gate function's call alone.",
        "",
        "## Verdict",
        "",
        "| date | run | pipeline wall s | gates: task wall s | share | gates: work s | share | gates CPU s | "
        "CPU share | others' CPU s | target < 30 % (task share) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for d in summary["dates"]:
        lines.append(
            f"| {d['as_of_date']} | {d['run']} | {d['pipeline_wall_s']:.1f} | {d['gates_wall_s']:.1f} | "
            f"**{_pct(d['gates_share'])}** | {d['gates_work_s']:.1f} | {_pct(d['gates_work_share'])} | "
            f"{d['gates_cpu_s']:.1f} | {_pct(d['gates_cpu_share'])} | {d['others_cpu_s']:.1f} | "
            f"{_share_verdict(d['target'])} |"
        )
    daily = summary["dates"][1:]
    lines += [
        "",
        "CPU share: the gates' CPU seconds over the pipeline's; unlike the walls it hardly moves when other processes "
        "compete for the cores (others' CPU s: the CPU the rest of the machine used meanwhile, from /proc/stat).",
        "",
        "* **Daily run** (the target): "
        + (
            ("**met**" if summary["daily_met"] else "**missed**")
            + f": gates {', '.join(_pct(d['gates_share']) for d in daily)} of the pipeline"
            + f" against < {TARGET['share'] * 100:.0f} %."
            if summary["daily_met"] is not None
            else f"gates {', '.join(_pct(d['gates_share']) for d in daily)} of the pipeline (judged at "
            f"{TARGET['scale']} only)."
        ),
        f"* Initial history load (reported, the target applies to the daily run): "
        f"{_pct(summary['dates'][0]['gates_share'])}.",
        *(
            f"* {d['as_of_date']}: of the gates' {d['gates_wall_s']:.1f} s, imports {d['gates_import_s']:.1f} s "
            f"(of which the {len(GX_GATES)} GX gates' {d['gx_gates_import_s']:.1f} s), interpreter start-up and exit "
            f"{d['gates_outside_s']:.1f} s, the gate calls {d['gates_work_s']:.1f} s. With the other stages as "
            f"measured, < {TARGET['share'] * 100:.0f} % allows the gates {d['gates_budget_s']:.1f} s"
            + (
                f" ({d['gates_wall_s'] - d['gates_budget_s']:.1f} s less than now)."
                if d["gates_wall_s"] > d["gates_budget_s"]
                else "."
            )
            for d in summary["dates"]
        ),
        f"* GX import alone (tiny separate task): `import great_expectations` {gx['great_expectations_s']:.1f} s, "
        f"the rest of `gx_engine` (SQLAlchemy, duckdb_engine, the DuckDB fix) {gx['gx_engine_rest_s']:.1f} s; "
        f"the task {gx['wall_s']:.1f} s wall, {gx['peak_rss_mb']:,.0f} MiB. Each of the "
        f"{len(GX_GATES)} GX gate tasks pays it once per run.",
    ]
    failed = [(d["as_of_date"], g) for d in summary["dates"] for g in d["failed_gates"]]
    if failed:
        lines += ["", "**Gates that failed (an error-level check; the run would have stopped there):** "
                  + ", ".join(f"{g} on {d}" for d, g in failed) + "."]  # fmt: skip
    fresh = summary["freshness_gate"]
    lines += ["", f"Freshness gate: {fresh}"]
    lines += [
        "",
        "## Per stage",
        "",
        '"imports s": the stage\'s job modules (for GX gates with GX) imported before the call; "call s": the '
        "function of the DAG task; process wall, CPU and peak RSS (wait4) are the whole task process's.",
    ]
    for d, s in zip(days, summary["dates"], strict=True):
        lines += [
            "",
            f"### {d}: {s['run']}",
            "",
            "| stage | gate | imports s | call s | process wall s | CPU s | peak RSS MiB | others' CPU s | what |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for stage, r in runs[d].items():
            gate = "**gate**" if is_gate(stage) else ""
            lines.append(
                f"| {stage} | {gate} | {r.get('import_s', 0):.1f} | {r['seconds']:.1f} | {r['wall_s']:.1f} | "
                f"{r['cpu_s']:.1f} | {r['peak_rss_mb']:,.0f} | {r.get('others_cpu_s', '')} | {_what(stage, r)} |"
            )
        lines.append(
            f"| **total** | | | | **{s['pipeline_wall_s']:.1f}** | {s['pipeline_cpu_s']:.1f} | "
            f"{s['pipeline_peak_rss_mb']:,.0f} (max) | {s['others_cpu_s']} | gates {s['gates_wall_s']:.1f} s "
            f"= {_pct(s['gates_share'])} |"
        )
    lines += [
        "",
        "## Per gate",
        "",
        "| gate | date | task wall s | imports s | call s | CPU s | peak RSS MiB | suites | expectations | SQL statements | "
        "SQL s | status |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    gate_order = [g for g in GATES if any(g in runs[d] for d in days)]
    for gate in gate_order:
        for d in days:
            r = runs[d].get(gate)
            if r is None:
                continue
            res = r.get("result") or {}
            sql = r.get("sql", {})
            lines.append(
                f"| {_label(gate)} | {d} | {r['wall_s']:.1f} | {r['import_s']:.1f} | {r['seconds']:.1f} | "
                f"{r['cpu_s']:.1f} | {r['peak_rss_mb']:,.0f} | {res.get('suites', '')} | {res.get('expectations', '')} "
                f"| {sql.get('statements', '') if r.get('imports_gx') else '(no GX)'} | "
                f"{sql.get('seconds', 0):.2f} | {r['status']} |"
            )
    lines += [
        "",
        "## Where the gates' time goes",
        "",
        "Inside each GX gate's call: building the suites; GX's validation of each suite (from adding its query "
        "asset to the end of `validate`), of which the SQL statements' execution in DuckDB (the rest of it is GX's "
        "own Python: metric graph, results); GX's context and datasource set-up; the Data Docs pages of the run; "
        "recording the outcomes in `audit.dq_results`; the rest of the call (opening the warehouse, the load "
        "ledger, raising).",
        "",
        "| gate | date | call s | build suites s | validate s | of which SQL s | set-up s | Data Docs s | record s | "
        "rest s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for gate in gate_order:
        for d in days:
            r = runs[d].get(gate)
            if r is None or not r.get("imports_gx"):
                continue
            steps = r["steps"]
            validate = sum(v["seconds"] for v in r["suites"].values())
            setup = steps.get("validate_queries", 0) - validate - steps.get("data_docs", 0)
            accounted = (
                steps.get("build_suites", 0) + steps.get("validate_queries", 0) + steps.get("record_outcomes", 0)
            )
            lines.append(
                f"| {_label(gate)} | {d} | {r['seconds']:.2f} | {steps.get('build_suites', 0):.2f} | {validate:.2f} | "
                f"{r['sql']['seconds']:.2f} | {setup:.2f} | {steps.get('data_docs', 0):.2f} | "
                f"{steps.get('record_outcomes', 0):.2f} | {r['seconds'] - accounted:.2f} |"
            )
    last = days[-1]
    lines += [
        "",
        f"Suites on {last} (the last daily run), slowest first:",
        "",
        "| gate | suite | expectations | validate s | SQL s | statements |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    suites = [
        (gate, name, s) for gate in gate_order for name, s in (runs[last].get(gate, {}).get("suites") or {}).items()
    ]
    for gate, name, s in sorted(suites, key=lambda x: x[2]["seconds"], reverse=True):
        lines.append(f"| {_label(gate)} | {name} | {s['expectations']} | {s['seconds']:.2f} | {s['sql_s']:.2f} | "
                     f"{s['statements']} |")  # fmt: skip
    for d in dict.fromkeys([days[0], last]):
        top = sorted(
            ((gate, st) for gate in gate_order for st in runs[d].get(gate, {}).get("statements", [])),
            key=lambda x: x[1]["seconds"], reverse=True,
        )[:12]  # fmt: skip
        lines += [
            "",
            f"Slowest SQL statements GX sent on {d} (the suite's query shown as `<suite query>`):",
            "",
            "| gate | suite | s | statement (first 400 characters) |",
            "| --- | --- | ---: | --- |",
        ]
        for gate, st in top:
            sql = st["sql"].replace("|", "\\|")
            lines.append(f"| {_label(gate)} | {st['suite']} | {st['seconds']:.3f} | `{sql}` |")
    dbt = [(d, runs[d]["dbt_build"]) for d in days if "dbt_build" in runs[d]]
    lines += [
        "",
        "## dbt's own data tests (inside `dbt_build`, not counted as gates)",
        "",
        "| date | dbt_build call s | models s | tests | tests s (sum of node times) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for d, r in dbt:
        types = r["dbt"]["by_type"]
        lines.append(f"| {d} | {r['seconds']:.1f} | {types.get('model', {}).get('seconds', 0):.1f} | "
                     f"{types.get('test', {}).get('nodes', 0)} | {types.get('test', {}).get('seconds', 0):.1f} |")  # fmt: skip
    samp = summary["sampling"]
    lines += [
        "",
        "## Sampling",
        "",
        f"* SQL as executed: {samp['statements']:,} statements GX sent in this run, searched for TABLESAMPLE, "
        f"USING SAMPLE, reservoir/bernoulli/system sampling and random(): "
        + (f"**{len(samp['sampling'])} sample**: {samp['sampling'][:5]}" if samp["sampling"] else "**none samples**")
        + f". {samp['with_limit']:,} carry a LIMIT, of which {samp['limited_to_unexpected_values']:,} fetch the "
        "first unexpected values for the record (`partial_unexpected_count` 10); the checks themselves count "
        "over every row.",
        f"* Configuration and code ({len(samp['code']['files_searched'])} files: `expectations/*.yml`, "
        "`python_tasks/quality/*.py`): "
        + ("no sampling found" if not samp["code"]["hits"] else "found: " + "; ".join(samp["code"]["hits"]))
        + ". `mostly` in a suite is a pass threshold over all rows, not a sample; the drift gate's metrics "
        "(`quantile_cont`, sums, shares) are exact aggregates in DuckDB.",
        "",
        "**No check samples: every gate reads all rows of D's partitions.**"
        if not samp["sampling"] and not samp["code"]["hits"]
        else "**Sampling found: see above; the issue allows it for distribution checks only.**",
    ]
    return "\n".join(lines) + "\n"


def _what(stage: str, r: dict) -> str:
    if stage.startswith("ingest."):
        return f"{r.get('rows_loaded', 0):,} rows loaded"
    if stage == "dbt_build":
        types = r["dbt"]["by_type"]
        return (f"{sum(t['nodes'] for t in types.values())} nodes; models {types.get('model', {}).get('seconds', 0):.1f} s, "
                f"{types.get('test', {}).get('nodes', 0)} data tests {types.get('test', {}).get('seconds', 0):.1f} s")  # fmt: skip
    if stage == "clv":
        return f"{r['clients']:,} clients, {r['rows']:,} rows"
    if stage == "segments":
        return f"{r['clients']:,} clients"
    if is_gate(stage):
        res = r.get("result") or {}
        text = f"{res.get('expectations', '?')} checks in {res.get('suites', '?')} suites"
        if stage == "drift_gate":
            text += f", against {res.get('baseline_date') or 'nothing (first run)'}"
        return text + ("" if r["status"] == "success" else f"; **{r['status']}**")
    return ""


def plot(results: dict, summary: dict, path: Path) -> Path | None:
    """Stacked bars of each date's stage walls, gates in colour; None when matplotlib is not installed."""
    plt = pyplot()
    if plt is None:
        return None
    days = results["days"]
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.6 * len(days)))
    for row, d in enumerate(days):
        left = 0.0
        for stage, r in results["runs"][d].items():
            ax.barh(row, r["wall_s"], left=left, color="tab:red" if is_gate(stage) else "tab:gray", edgecolor="white")
            left += r["wall_s"]
    ax.set_yticks(range(len(days)), [f"{d} ({_pct(s['gates_share'])} gates)" for d, s in zip(days, summary["dates"],
                                                                                            strict=True)])  # fmt: skip
    ax.set_xlabel("process wall s (red: gate tasks)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("duckdb", "great-expectations", "dbt-core", "dbt-duckdb", "pandas", "sqlalchemy"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            pass
    return out


def run(scale: str, *, home: Path, results_dir: Path, seed: int = 42, days: int = DEFAULT_DAYS,
        worker: str = "cold") -> dict:  # fmt: skip
    """Every stage of the daily run for D0 and ``days`` deltas, each in its own process; returns the summary.

    ``worker="cold"``: each task a fresh interpreter (a task runner that execs, the pessimistic case);
    ``"warm"``: each task forked from a process that preloaded what the Airflow scheduler preloads
    (config/airflow/airflow_local_settings.py), which is how the LocalExecutor starts tasks."""
    from python_tasks.orchestration.sources import internal_sources  # pyyaml only: the parent stays small

    args = argparse.Namespace(scale=scale, seed=seed, days=days, worker=worker)
    home.mkdir(parents=True, exist_ok=True)
    print(f"gates benchmark, {scale} scale, D0 {FIRST_DATE} and {days} daily deltas, working folder {home}", flush=True)
    generated = _child("generate", args, home)
    print("  deliveries " + ("reused" if generated["reused"] else f"generated in {generated['seconds']} s"), flush=True)
    for folder in ("warehouse", "landing", "dbt"):  # every run starts from an empty warehouse
        shutil.rmtree(home / folder, ignore_errors=True)
    with_freshness = find_spec(FRESHNESS_MODULE) is not None
    freshness = (
        "measured (`run_freshness_gate`, after the ingest tasks)."
        if with_freshness
        else f"not measured: `{FRESHNESS_MODULE}` does not exist yet in this checkout."
    )
    if not with_freshness:
        print(f"  note: {FRESHNESS_MODULE} not found: the freshness gate is skipped", flush=True)
    results: dict = {"scale": scale, "seed": seed, "generate": generated, "freshness_gate": freshness,
                     "worker": worker}  # fmt: skip
    if worker == "warm":
        started = time.perf_counter()
        results["preloaded"] = {"modules": preload_like_the_scheduler(), "seconds": round(time.perf_counter() - started, 2)}
        print(f"  warm worker: preloaded {results['preloaded']['modules']} in {results['preloaded']['seconds']} s",
              flush=True)  # fmt: skip
    results["external"] = _child("external", args, home)
    print(f"  external indicators loaded: {results['external']['wall_s']} s", flush=True)
    results["gx_import"] = gx = _child("gx_import", args, home)
    print(f"  GX import alone: {gx['great_expectations_s']} s (+{gx['gx_engine_rest_s']} s gx_engine), "
          f"task wall {gx['wall_s']} s, {gx['peak_rss_mb']} MiB", flush=True)  # fmt: skip
    stages = daily_stages(internal_sources(), with_freshness)
    results["days"], results["runs"] = [], {}
    for i, day in enumerate(_dates(days)):
        print(f"{day}: {'initial history load' if i == 0 else 'daily run'}", flush=True)
        run_ = results["runs"][day.isoformat()] = {}
        results["days"].append(day.isoformat())
        for stage in stages:
            r = run_[stage] = _child(stage, args, home, day)
            print(f"  {stage:<26} call {r['seconds']:>7.2f} s  wall {r['wall_s']:>7.2f} s  CPU {r['cpu_s']:>7.2f} s  "
                  f"peak {r['peak_rss_mb']:>8,.0f} MiB" + (f"  {r['status'].upper()}" if r.get("status") == "failed" else ""),
                  flush=True)  # fmt: skip
    gate_runs = [r for d in results["days"] for s, r in results["runs"][d].items() if is_gate(s)]
    statements = [st for r in gate_runs for st in r.get("statements", [])]
    results["sampling"] = {
        "statements": len(statements),
        "with_limit": sum(r["sql"]["with_limit"] for r in gate_runs if "sql" in r),
        "limited_to_unexpected_values": sum(r["sql"]["limited_to_unexpected_values"] for r in gate_runs if "sql" in r),
        "sampling": [st for r in gate_runs for st in r.get("sql", {}).get("sampling", [])],
        "code": scan_for_sampling(),
    }
    results["machine"] = machine(_versions())
    results["code"] = _code_version()
    return write_report(scale, results, results_dir)


def write_report(scale: str, results: dict, results_dir: Path) -> dict:
    """``gates-<scale>.json``, ``.md`` and ``.png`` (with matplotlib) in ``results_dir``; returns the summary."""
    summary = summarise(scale, results)
    results_dir.mkdir(parents=True, exist_ok=True)
    name = f"gates-{scale}" + ("-warm" if results.get("worker") == "warm" else "")
    (results_dir / f"{name}.json").write_text(
        json.dumps({"summary": summary, "results": results}, indent=2, default=str)
    )
    text = report(scale, results, summary)
    (results_dir / f"{name}.md").write_text(text)
    chart = plot(results, summary, results_dir / f"{name}.png")
    print(text)
    print(f"written: {results_dir / f'{name}.md'}, .json" + (", .png" if chart else " (no chart: matplotlib absent)"))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=["S", "M", "L"], default="M")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS,
                        help=f"daily deltas after the initial load (default {DEFAULT_DAYS})")  # fmt: skip
    parser.add_argument("--home", help="working folder with the cached deliveries (default var/bench/gates/<scale>)")
    parser.add_argument("--results", help="folder of the report (default benchmarks/results)")
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from the last run's JSON")
    parser.add_argument("--worker", choices=["cold", "warm"], default="cold",
                        help="cold: each task a fresh interpreter; warm: forked from a preloaded worker, as Airflow")  # fmt: skip
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--date", type=date.fromisoformat, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.days < 1:
        parser.error("--days must be at least 1 (the daily run is measured on a date after the initial load)")
    home = (Path(args.home) if args.home else ROOT / "var" / "bench" / "gates" / args.scale).resolve()
    if args.stage:
        import logging

        logging.basicConfig(level=logging.WARNING)
        print(json.dumps(_stage_function(args.stage)(home, args, args.date), default=str))
        return
    results_dir = Path(args.results).resolve() if args.results else RESULTS
    if args.report_only:  # the report again from the JSON of the last run (after a change to the report)
        suffix = "-warm" if args.worker == "warm" else ""
        results = json.loads((results_dir / f"gates-{args.scale}{suffix}.json").read_text())["results"]
        write_report(args.scale, results, results_dir)
        return
    run(args.scale, home=home, results_dir=results_dir, seed=args.seed, days=args.days, worker=args.worker)


if __name__ == "__main__":
    main()
