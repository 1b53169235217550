"""The whole pipeline, stage by stage, against a floor and a pandas reference over the same input files.

    python -m benchmarks.pipeline --scale M [--days 1] [--no-airflow] [--no-pandas]   (or: make bench SCALE=M)

Generates (or reuses) the deliveries of the initial history load D0 and ``--days`` daily deltas in
``var/bench/pipeline/<scale>/inbox``, then, each measured in its own process (wall and CPU time, peak RSS
from ``wait4``; ``benchmarks.measure``):

1. ``full``: from an empty warehouse (the month's external data loaded first, not timed), every step of
   ``clv_daily`` for D0 (``python -m python_tasks pipeline --step S``, the DAG's tasks without Airflow),
   each step in a fresh interpreter as a task process would be;
2. ``daily``: the same for each delta date D1..Dn (the incremental run);
3. ``airflow`` (unless ``--no-airflow``): the same dates again from an empty warehouse, through
   ``airflow dags test clv_daily D`` on the embedded Airflow (SQLite): the run with Airflow;
4. ``floor``: one DuckDB pass over the same files: every input read once (typed by its contract) and the
   per-client profile of D0 computed in one statement (``benchmarks/profile_floor.sql``);
5. ``pandas`` (unless ``--no-pandas``): ``benchmarks/pandas_reference.py``, a straightforward pandas
   implementation of the profile and the baseline CLV from the files, checked against the pipeline's output.

Work is measured inside each step (interpreter start excluded; shown apart). Each reference is compared with
the steps that do its work: the floor (the profile) with ingest + dbt_build, pandas (profile and baseline
CLV) with ingest + dbt_build + clv.*; the pipeline does more in them (every contract rule, every date's
history, three scenarios, attribution) and the report says by how much a target is missed and where the
time goes.

Targets (issue 9): pipeline compute within 3x of the floor and at least 4x faster than pandas with at most a
quarter of its peak memory, at M and L; a daily incremental run at L within 1/5 of a full run; L on 2 cores
under 10 minutes and 8 GB.

Writes ``benchmarks/results/pipeline-<scale>.json``, ``.md`` and ``.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from importlib.util import find_spec
from pathlib import Path

from benchmarks.measure import machine, pyplot, run_stage

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FLOOR_SQL = ROOT / "benchmarks" / "profile_floor.sql"
FIRST_DATE = date(2026, 11, 20)
#: settings that would point a child at another deployment than --home
_LOCATION_VARS = ("CLV_INBOX_DIR", "CLV_LANDING_DIR", "CLV_WAREHOUSE_PATH", "CLV_EXTERNAL_API_URL", "CLV_PARAMS_FILE",
                  "CLV_SEGMENT_RULES_FILE", "CLV_SERVING_POSTGRES_URL", "CLV_OPENLINEAGE_URL")  # fmt: skip
#: what a run writes under CLV_HOME (removed before a run from an empty warehouse); the inbox stays
_RUN_STATE = ("warehouse", "landing", "serving", "shards", "dbt", "dbt_docs", "evidence", "lineage", "quality",
              "reports", "alerts", "logs")  # fmt: skip
TARGETS = {"floor_ratio": 3.0, "pandas_speedup": 4.0, "pandas_memory_ratio": 0.25, "daily_ratio": 0.2,
           "l_wall_s": 600.0, "l_peak_mb": 8192.0}  # fmt: skip


def step_kind(step: str) -> str:
    """compute, gate or serve (publish, report, summarise, audit): how a step counts in the totals."""
    if step.startswith(("ingest.", "clv.", "segments.")) or step == "dbt_build":
        return "compute"
    if step.endswith("_gate"):
        return "gate"
    return "serve"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _LOCATION_VARS}
    env["CLV_HOME"] = str(home)
    return env


def _dates(days: int) -> list[date]:
    return [FIRST_DATE + timedelta(days=i) for i in range(days + 1)]


# --- data and state -----------------------------------------------------------------------------------


def ensure_data(home: Path, scale: str, seed: int, days: int) -> dict:
    """The deliveries of D0..Dn in ``home/inbox``, reused when the inbox already holds exactly those."""
    from benchmarks.profile import stage_generate

    return stage_generate(home, days, scale, seed)


def reset(home: Path) -> None:
    """An empty warehouse: everything a run wrote is removed, the inbox is kept; the month's external data
    is loaded again (the monthly DAG's work, not part of the daily run)."""
    for name in _RUN_STATE:
        shutil.rmtree(home / name, ignore_errors=True)
    code = (
        "import sys; from datetime import date; from pathlib import Path;"
        "from python_tasks.sample_data.api_server import ingest_generated_external as f;"
        "r = f(Path(sys.argv[1]), date.fromisoformat(sys.argv[2]), 'bench-external');"
        "bad = [x for x in r if x['status'] not in ('loaded', 'unchanged')]; sys.exit(str(bad) if bad else 0)"
    )
    subprocess.run([sys.executable, "-c", code, str(home / "inbox"), FIRST_DATE.replace(day=1).isoformat()],
                   cwd=ROOT, env=_env(home), check=True, capture_output=True)  # fmt: skip


# --- the pipeline, step by step ----------------------------------------------------------------------


def run_steps(home: Path, day: date, logs: Path) -> list[dict]:
    """Every step of D in its own interpreter; per step: process wall/CPU/peak, the time inside the step."""
    from python_tasks.orchestration.pipeline import steps

    run_id = f"bench__{day.isoformat()}"
    measured = []
    for s in steps():
        argv = ["-m", "python_tasks", "pipeline", "--date", day.isoformat(), "--run-id", run_id, "--step", s.name]
        record = run_stage(argv, s.name, logs / f"{day}-{s.name}", _env(home))
        result = record.pop("result", None)
        record.update(step=s.name, kind=step_kind(s.name), work_s=record.pop("seconds"))
        record["startup_s"] = round(max(record["wall_s"] - record["work_s"], 0.0), 2)
        if isinstance(result, dict):
            record["rows"] = {k: result[k] for k in ("rows_in", "rows_loaded", "rows_quarantined", "clients", "rows")
                              if isinstance(result.get(k), int)}  # fmt: skip
        measured.append(record)
        print(f"  {day} {s.name:<28} work {record['work_s']:>7.1f} s  process {record['wall_s']:>7.1f} s  "
              f"peak {record['peak_rss_mb']:>7,.0f} MiB", flush=True)  # fmt: skip
    return measured


#: the steps that do the work of each reference: the floor computes the profile from the files, the pandas
#: reference the profile and the baseline CLV
REFERENCE_WORK = {
    "profile": lambda step: step.startswith("ingest.") or step == "dbt_build",
    "profile_clv": lambda step: step.startswith(("ingest.", "clv.")) or step == "dbt_build",
}


def totals(records: list[dict]) -> dict:
    """Work, process wall and CPU by kind, for the references' share of the run, and in all; the peak of any step."""
    out: dict = {}
    for kind in ("compute", "gate", "serve", "profile", "profile_clv", "all"):
        chosen = [r for r in records if kind == "all" or r["kind"] == kind
                  or (kind in REFERENCE_WORK and REFERENCE_WORK[kind](r["step"]))]  # fmt: skip
        out[kind] = {
            "work_s": round(sum(r["work_s"] for r in chosen), 2),
            "wall_s": round(sum(r["wall_s"] for r in chosen), 2),
            "cpu_s": round(sum(r["cpu_s"] for r in chosen), 2),
            "peak_rss_mb": max((r["peak_rss_mb"] for r in chosen), default=0.0),
        }
    return out


def run_airflow(home: Path, day: date, logs: Path) -> dict:
    """``airflow dags test clv_daily D`` on the embedded Airflow (the project's airflow_home, SQLite), with
    this benchmark's CLV_HOME: the whole run of D with Airflow, in one measured process tree."""
    script = (
        "set -euo pipefail; source scripts/airflow_env.sh; bash scripts/airflow_setup.sh >/dev/null; "
        f"exec airflow dags test clv_daily {day.isoformat()}"
    )
    env = _env(home)
    env.update(CLV_SHARDS=env.get("CLV_SHARDS", "2"))
    out, err = (logs / f"airflow-{day}").with_suffix(".out"), (logs / f"airflow-{day}").with_suffix(".err")
    started = time.perf_counter()
    with out.open("w") as fout, err.open("w") as ferr:
        proc = subprocess.Popen(["bash", "-c", script], cwd=ROOT, env=env, stdout=fout, stderr=ferr)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"airflow dags test clv_daily {day} failed:\n{err.read_text()[-4000:]}")
    return {"as_of_date": day.isoformat(), "wall_s": round(wall, 2),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}  # fmt: skip


# --- the floor ------------------------------------------------------------------------------------------


def _seed_types() -> dict[str, dict[str, str]]:
    """The seeds' column types as dbt_project.yml declares them (the rest is inferred, as dbt does)."""
    import yaml

    project = yaml.safe_load((ROOT / "dbt_project" / "dbt_project.yml").read_text(encoding="utf-8"))
    seeds = next(iter(project["seeds"].values()))
    return {name: cfg.get("+column_types", {}) for name, cfg in seeds.items() if isinstance(cfg, dict)}


def floor_views(con, inbox: Path, day: date) -> None:  # noqa: ANN001 - a DuckDB connection
    """``raw.<source>`` as views over D's delivered files, typed by the contracts, and ``reference.*`` from the
    seed files: what the floor reads, each file once. GBK files are read as latin-1 (DuckDB has no GBK decoder
    built in): the codes and amounts the profile uses are ASCII, only Chinese names come out garbled."""
    from python_tasks.contracts import load_contracts

    con.execute("CREATE SCHEMA raw; CREATE SCHEMA reference")
    for name, contract in load_contracts().items():
        types = {c.name: c.type for c in contract.columns}
        select = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in types.items())
        if contract.delivery.format == "api":
            path = inbox / "_api" / name / f"{FIRST_DATE.replace(day=1).isoformat()}.json"
            source = f"(SELECT unnest(records, recursive := true) FROM read_json('{path.as_posix()}'))"
            known = FIRST_DATE.replace(day=1)
        else:
            files = sorted((inbox / name / day.isoformat()).glob(f"{name}_*"))
            paths = "[" + ", ".join(f"'{f.as_posix()}'" for f in files) + "]"
            if contract.delivery.format == "parquet":
                source = f"read_parquet({paths})"
            else:
                encoding = "latin-1" if contract.delivery.encoding == "gbk" else "utf-8"
                varchar = ", ".join(f"'{c}': 'VARCHAR'" for c in types)
                source = (f"read_csv({paths}, header = true, delim = '{contract.delivery.delimiter}', "
                          f"encoding = '{encoding}', types = {{{varchar}}})")  # fmt: skip
            known = day
        con.execute(f"CREATE VIEW raw.{name} AS SELECT {select}, DATE '{known.isoformat()}' AS _as_of_date "
                    f"FROM {source}")  # fmt: skip
    for seed, types in _seed_types().items():
        path = ROOT / "dbt_project" / "seeds" / f"{seed}.csv"
        typed = ", ".join(f"'{c}': '{t.upper()}'" for c, t in types.items())
        option = f", types = {{{typed}}}" if typed else ""
        con.execute(f"CREATE TABLE reference.{seed} AS SELECT * FROM read_csv('{path.as_posix()}', header = true"
                    f"{option})")  # fmt: skip
    for path in sorted((ROOT / "dbt_project" / "seeds").glob("ref_*.csv")):
        if path.stem not in _seed_types():
            con.execute(f"CREATE TABLE reference.{path.stem} AS SELECT * FROM read_csv('{path.as_posix()}', "
                        "header = true)")  # fmt: skip


def stage_floor(home: Path, day: date) -> dict:
    """One DuckDB pass over the files: every input read once, the per-client profile of D computed."""
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect()
    from python_tasks.io.warehouse import memory_limit

    con.execute(f"SET memory_limit = '{memory_limit()}'")
    con.execute(f"SET temp_directory = '{(home / 'floor_spill').as_posix()}'")
    floor_views(con, home / "inbox", day)
    con.execute("SET VARIABLE build_from_date = $d", {"d": day})
    con.execute("SET VARIABLE as_of_date = $d", {"d": day})
    con.execute(FLOOR_SQL.read_text(encoding="utf-8"))
    seconds = time.perf_counter() - started
    rows, clients, drawn = con.execute(
        "SELECT count(*), count(DISTINCT client_id), sum(drawn_balance_cny) FROM bench.profile_floor"
    ).fetchone()
    con.close()
    shutil.rmtree(home / "floor_spill", ignore_errors=True)
    return {"stage": "floor", "seconds": round(seconds, 2), "rows": rows, "clients": clients,
            "drawn_balance_cny": str(drawn)}  # fmt: skip


def check_floor(home: Path, day: date) -> dict:
    """The floor's profile against the pipeline's ``marts.fct_client_profile`` for D: key measures and every
    common column (``benchmarks.profile.compare_with_profile``): a floor that computed less would flatter it."""
    import duckdb

    from benchmarks.profile import compare_with_profile

    con = duckdb.connect()
    try:
        floor_views(con, home / "inbox", day)
        con.execute("SET VARIABLE build_from_date = $d", {"d": day})
        con.execute("SET VARIABLE as_of_date = $d", {"d": day})
        con.execute(FLOOR_SQL.read_text(encoding="utf-8"))
        con.execute(f"ATTACH '{(home / 'warehouse' / 'clv.duckdb').as_posix()}' AS wh (READ_ONLY)")
        con.execute("CREATE SCHEMA marts; CREATE TABLE marts.fct_client_profile AS "
                    "SELECT * FROM wh.marts.fct_client_profile WHERE as_of_date = $d", {"d": day})  # fmt: skip
        # the floor reads every delivered row; the pipeline quarantined some: their clients are left out
        con.execute("CREATE TEMP TABLE excluded AS SELECT DISTINCT json_extract_string(raw_record, '$.client_id') "
                    "AS client_id FROM wh.audit.quarantine WHERE as_of_date = $d AND client_id IS NOT NULL", {"d": day})  # fmt: skip
        for table in ("bench.profile_floor", "marts.fct_client_profile"):
            con.execute(f"DELETE FROM {table} WHERE client_id IN (SELECT client_id FROM excluded)")
        (excluded,) = con.execute("SELECT count(*) FROM excluded").fetchone()
        return {**compare_with_profile(con, day, day), "clients_with_quarantined_rows": excluded}
    finally:
        con.close()


# --- the pandas reference -------------------------------------------------------------------------------


def run_pandas(home: Path, day: date, logs: Path) -> dict | None:
    if find_spec("benchmarks.pandas_reference") is None:
        return None
    out = home / "pandas_reference.parquet"
    argv = ["-m", "benchmarks.pandas_reference", "--home", str(home), "--date", day.isoformat(), "--out", str(out)]
    limit = pandas_rss_limit_mb()
    record = run_stage(argv, "pandas", logs / f"pandas-{day}", _env(home), rss_limit_mb=limit)
    record["rss_limit_mb"] = round(limit)
    return record


def pandas_rss_limit_mb() -> float:
    """Where the pandas reference is stopped: three quarters of the machine's memory (at L its frames outgrow
    the machine; stopping it keeps the rest of the benchmark and the machine alive), ``BENCH_PANDAS_RSS_MB``."""
    if os.environ.get("BENCH_PANDAS_RSS_MB"):
        return float(os.environ["BENCH_PANDAS_RSS_MB"])
    ram_gib = machine().get("ram_gib") or 8.0
    return 0.75 * ram_gib * 1024


def check_pandas(home: Path, day: date) -> dict | None:
    if find_spec("benchmarks.pandas_reference") is None or not (home / "pandas_reference.parquet").exists():
        return None
    import pandas as pd

    from benchmarks.pandas_reference import compare

    return compare(pd.read_parquet(home / "pandas_reference.parquet"), home / "warehouse" / "clv.duckdb", day)


# --- the report -----------------------------------------------------------------------------------------


def _ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("nan")


def judge(scale: str, results: dict) -> dict:
    """Each target: the measured value, the target, met (None where the target is not set at this scale)."""
    full = results["full"]["totals"]
    judged: dict = {}
    floor = results.get("floor")
    if floor:
        ratio = _ratio(full["profile"]["work_s"], floor["wall_s"])
        judged["floor_ratio"] = {"measured": ratio, "target": TARGETS["floor_ratio"], "below": True,
                                 "met": ratio <= TARGETS["floor_ratio"] if scale in ("M", "L") else None}  # fmt: skip
    pandas = results.get("pandas")
    if pandas:
        # a reference stopped at its memory limit bounds the comparison: it needed more memory than the limit
        # and more time than it ran, so the speed-up is at least, and the memory ratio at most, the figure
        stopped = bool(pandas.get("stopped"))
        speedup = _ratio(pandas["wall_s"], full["profile_clv"]["work_s"])
        memory = _ratio(full["profile_clv"]["peak_rss_mb"], pandas.get("rss_limit_mb", pandas["peak_rss_mb"]) if stopped
                        else pandas["peak_rss_mb"])  # fmt: skip
        at = scale in ("M", "L")
        met_speed = speedup >= TARGETS["pandas_speedup"] if at and (not stopped or speedup >= TARGETS["pandas_speedup"]) else None
        judged["pandas_speedup"] = {"measured": speedup, "target": TARGETS["pandas_speedup"], "below": False,
                                    "met": met_speed, "bound": "at least" if stopped else None}  # fmt: skip
        judged["pandas_memory_ratio"] = {"measured": memory, "target": TARGETS["pandas_memory_ratio"], "below": True,
                                         "met": (memory <= TARGETS["pandas_memory_ratio"] if not stopped
                                                 else (True if memory <= TARGETS["pandas_memory_ratio"] else None))
                                         if at else None, "bound": "at most" if stopped else None}  # fmt: skip
    if results.get("daily"):
        daily = max(d["totals"]["all"]["wall_s"] for d in results["daily"])
        ratio = _ratio(daily, full["all"]["wall_s"])
        judged["daily_ratio"] = {"measured": ratio, "target": TARGETS["daily_ratio"], "below": True,
                                 "met": ratio <= TARGETS["daily_ratio"] if scale == "L" else None}  # fmt: skip
    judged["l_wall_s"] = {"measured": full["all"]["wall_s"], "target": TARGETS["l_wall_s"], "below": True,
                          "met": full["all"]["wall_s"] < TARGETS["l_wall_s"] if scale == "L" else None}  # fmt: skip
    judged["l_peak_mb"] = {"measured": full["all"]["peak_rss_mb"], "target": TARGETS["l_peak_mb"], "below": True,
                           "met": full["all"]["peak_rss_mb"] < TARGETS["l_peak_mb"] if scale == "L" else None}  # fmt: skip
    return judged


#: the scales each target is judged at (issue 9)
JUDGED_AT = {"floor_ratio": "M and L", "pandas_speedup": "M and L", "pandas_memory_ratio": "M and L",
             "daily_ratio": "L", "l_wall_s": "L", "l_peak_mb": "L"}  # fmt: skip


def _verdict(t: dict, unit: str, key: str = "") -> str:
    relation = "≤" if t["below"] else "≥"
    bound = f"{t['bound']} " if t.get("bound") else ""
    text = f"{bound}{t['measured']:,.2f}{unit} against {relation} {t['target']:,.2f}{unit}"
    if t["met"] is None:
        if t.get("bound"):
            return f"{text} (not judged: the pandas reference was stopped at its memory limit, so only a bound is known)"
        return f"{text} (judged at {JUDGED_AT.get(key, 'M and L')})"
    if t["met"]:
        return f"**met**: {text}"
    factor = t["measured"] / t["target"] if t["below"] else t["target"] / t["measured"]
    return f"**missed** by {factor:,.1f}x: {text}"


TARGET_NAMES = {
    "floor_ratio": ("pipeline profile (ingest + dbt) / floor", "x"),
    "pandas_speedup": ("pandas / pipeline profile and CLV (ingest + dbt + clv.*): speed-up", "x"),
    "pandas_memory_ratio": ("pipeline profile and CLV peak / pandas peak", "x"),
    "daily_ratio": ("daily run / full run", "x"),
    "l_wall_s": ("full run wall (L: < 10 min)", " s"),
    "l_peak_mb": ("full run peak memory (L: < 8 GB)", " MiB"),
}


def report(scale: str, results: dict) -> str:
    full, floor, pandas = results["full"], results.get("floor"), results.get("pandas")
    lines = [f"# Pipeline benchmark, scale {scale}", "",
             f"Machine: {json.dumps(results['machine'])}. Measured {results['measured_at']}; "
             f"{full['clients']:,} clients; D0 = {FIRST_DATE} (initial history load), "
             f"{len(results.get('daily', []))} daily delta(s). Load average (1, 5, 15 min) at the start "
             f"{results.get('load_average', {}).get('start')}, at the end {results.get('load_average', {}).get('end')} "
             f"on {results['machine'].get('cores')} cores: above the core count, other work shared the machine.",
             "", "## Targets", ""]  # fmt: skip
    for key, target in results["targets"].items():
        name, unit = TARGET_NAMES[key]
        lines.append(f"* {name}: {_verdict(target, unit, key)}")
    lines += ["", "## The whole run", "",
              "| run | work s (in the steps) | process wall s | CPU s | peak RSS MiB |",
              "| --- | ---: | ---: | ---: | ---: |"]  # fmt: skip
    runs = [(f"full D0 {FIRST_DATE}, without Airflow (a process per step)", full["totals"]["all"])]
    runs += [(f"daily {d['as_of_date']}, without Airflow", d["totals"]["all"]) for d in results.get("daily", [])]
    for name, t in runs:
        lines.append(f"| {name} | {t['work_s']:,.1f} | {t['wall_s']:,.1f} | {t['cpu_s']:,.1f} | {t['peak_rss_mb']:,.0f} |")
    for a in results.get("airflow", []):
        lines.append(f"| {a['as_of_date']} with Airflow (`airflow dags test`) | | {a['wall_s']:,.1f} | {a['cpu_s']:,.1f} "
                     f"| {a['peak_rss_mb']:,.0f} |")  # fmt: skip
    lines += ["", "## References over the same files (D0)", "",
              "| | wall s | CPU s | peak RSS MiB | note |", "| --- | ---: | ---: | ---: | --- |"]  # fmt: skip
    for kind, name in (("profile", "pipeline: profile (ingest, dbt_build; work)"),
                       ("profile_clv", "pipeline: profile and CLV (ingest, dbt_build, clv.*; work)"),
                       ("compute", "pipeline: all compute (with segments; work)")):  # fmt: skip
        c = full["totals"][kind]
        lines.append(f"| {name} | {c['work_s']:,.1f} | {c['cpu_s']:,.1f} | {c['peak_rss_mb']:,.0f} | "
                     f"process wall {c['wall_s']:,.1f} s |")  # fmt: skip
    if floor:
        lines.append(f"| floor: one DuckDB pass, profile only | {floor['wall_s']:,.1f} | {floor['cpu_s']:,.1f} | "
                     f"{floor['peak_rss_mb']:,.0f} | {floor['rows']:,} profile rows; agrees with the mart: "
                     f"{results.get('floor_check', {}).get('agree')} on {results.get('floor_check', {}).get('columns_compared')} "
                     f"columns, {results.get('floor_check', {}).get('clients_with_quarantined_rows')} clients with quarantined "
                     "rows left out |")  # fmt: skip
    if pandas and pandas.get("stopped"):
        lines.append(f"| pandas reference: profile and baseline CLV | > {pandas['wall_s']:,.1f} | {pandas['cpu_s']:,.1f} | "
                     f"> {pandas['rss_limit_mb']:,.0f} | did not finish: {pandas['stopped']} after {pandas['wall_s']:,.0f} s |")  # fmt: skip
    elif pandas:
        agreement = results.get("pandas_check")
        agrees = ("agreement not checked" if not agreement else
                  f"agrees with the pipeline on all {len(agreement.get('columns', {}))} compared columns"
                  if agreement.get("passed") else "**disagrees** with the pipeline (see the JSON)")  # fmt: skip
        lines.append(f"| pandas reference: profile and baseline CLV | {pandas['wall_s']:,.1f} | {pandas['cpu_s']:,.1f} | "
                     f"{pandas['peak_rss_mb']:,.0f} | {pandas.get('clients', 0):,} clients; {agrees} |")  # fmt: skip
    daily = {r["step"]: r for r in results["daily"][0]["steps"]} if results.get("daily") else {}
    lines += ["", "## Where the time goes (full run of D0, by step; the first daily run beside it)", "",
              "| step | kind | work s | start-up s | process wall s | CPU s | peak RSS MiB | rows/s | daily: process wall s "
              "| daily: peak RSS MiB |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for r in sorted(full["steps"], key=lambda r: r["wall_s"], reverse=True):
        rows = (r.get("rows") or {}).get("rows_in") or (r.get("rows") or {}).get("clients")
        rate = f"{rows / r['work_s']:,.0f}" if rows and r["work_s"] > 0 else ""
        d = daily.get(r["step"])
        on_day = f"{d['wall_s']:,.1f} | {d['peak_rss_mb']:,.0f}" if d else " | "
        lines.append(f"| {r['step']} | {r['kind']} | {r['work_s']:,.1f} | {r['startup_s']:,.1f} | {r['wall_s']:,.1f} | "
                     f"{r['cpu_s']:,.1f} | {r['peak_rss_mb']:,.0f} | {rate} | {on_day} |")  # fmt: skip
    daily_totals = results["daily"][0]["totals"] if results.get("daily") else None
    for kind in ("compute", "gate", "serve"):
        t = full["totals"][kind]
        d = daily_totals[kind] if daily_totals and kind in daily_totals else None
        on_day = f"{d['wall_s']:,.1f} | {d['peak_rss_mb']:,.0f}" if d else " | "
        lines.append(f"| **{kind}** | | {t['work_s']:,.1f} | | {t['wall_s']:,.1f} | {t['cpu_s']:,.1f} | "
                     f"{t['peak_rss_mb']:,.0f} | | {on_day} |")  # fmt: skip
    if results.get("plot"):
        lines += ["", f"![time by step]({Path(results['plot']).name})"]
    return "\n".join(lines) + "\n"


def plot(scale: str, results: dict, path: Path) -> Path | None:
    plt = pyplot()
    if plt is None:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 6), gridspec_kw={"width_ratios": [2, 1]})
    steps = sorted(results["full"]["steps"], key=lambda r: r["wall_s"])
    colours = {"compute": "#1f77b4", "gate": "#ff7f0e", "serve": "#2ca02c"}
    left.barh([s["step"] for s in steps], [s["work_s"] for s in steps],
              color=[colours[s["kind"]] for s in steps], label="work")  # fmt: skip
    left.barh([s["step"] for s in steps], [s["startup_s"] for s in steps], left=[s["work_s"] for s in steps],
              color="#cccccc", label="interpreter start and imports")  # fmt: skip
    left.set_xlabel("seconds")
    left.set_title(f"Full run of D0 at {scale}, by step (blue compute, orange gates, green serve)")
    left.legend(loc="lower right")
    bars = [("pipeline\nprofile", results["full"]["totals"]["profile"]["work_s"]),
            ("pipeline\nprofile+CLV", results["full"]["totals"]["profile_clv"]["work_s"])]
    if results.get("floor"):
        bars.append(("floor", results["floor"]["wall_s"]))
    if results.get("pandas"):
        bars.append(("pandas", results["pandas"]["wall_s"]))
    right.bar([b[0] for b in bars], [b[1] for b in bars], color=["#1f77b4", "#17becf", "#7f7f7f", "#d62728"][: len(bars)])
    right.set_ylabel("seconds")
    right.set_title("Against the references")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --- driver ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=["S", "M", "L"], default="M")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--days", type=int, default=1, help="daily delta dates after D0 (default 1)")
    parser.add_argument("--home", help="working folder (default var/bench/pipeline/<scale>)")
    parser.add_argument("--no-airflow", action="store_true", help="skip the runs through airflow dags test")
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas reference")
    parser.add_argument("--stage", choices=["generate", "floor", "check"], help=argparse.SUPPRESS)
    parser.add_argument("--date", type=date.fromisoformat, help=argparse.SUPPRESS)
    parser.add_argument("--airflow-only", action="store_true",
                        help="only the runs through airflow dags test (from an empty warehouse), into "
                             "benchmarks/results/pipeline-<scale>-airflow.json")  # fmt: skip
    parser.add_argument("--report-only", action="store_true",
                        help="render the report and plot again from benchmarks/results/pipeline-<scale>.json")  # fmt: skip
    args = parser.parse_args(argv)
    home = Path(args.home) if args.home else ROOT / "var" / "bench" / "pipeline" / args.scale
    if args.report_only:
        results = json.loads((RESULTS / f"pipeline-{args.scale}.json").read_text())
        results["targets"] = judge(args.scale, results)
        png = plot(args.scale, results, RESULTS / f"pipeline-{args.scale}.png")
        results["plot"] = str(png) if png else None
        (RESULTS / f"pipeline-{args.scale}.json").write_text(json.dumps(results, indent=2, default=str))
        (RESULTS / f"pipeline-{args.scale}.md").write_text(report(args.scale, results))
        print(report(args.scale, results))
        return 0
    if args.stage == "generate":  # in a child: generating at M or L grows a process to more than 1 GB
        print(json.dumps(ensure_data(home, args.scale, args.seed, args.days)))
        return 0
    if args.stage == "floor":
        print(json.dumps(stage_floor(home, args.date)))
        return 0
    if args.stage == "check":
        checks = {"stage": "check", "clients": _clients(home, args.date), "floor_check": check_floor(home, args.date),
                  "pandas_check": check_pandas(home, args.date) if not args.no_pandas else None}  # fmt: skip
        print(json.dumps(checks, default=str))
        return 0
    home.mkdir(parents=True, exist_ok=True)
    if args.airflow_only:
        return airflow_only(home, args)
    logs = home / "bench_logs"  # the parent only spawns and waits: a child's peak RSS starts from this process's
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir()
    (home / "pandas_reference.parquet").unlink(missing_ok=True)  # a reference of an earlier run is never compared
    dates = _dates(args.days)
    load_at_start = [round(x, 1) for x in os.getloadavg()]  # other work on the machine shows here
    generate_argv = ["-m", "benchmarks.pipeline", "--stage", "generate", "--home", str(home), "--scale", args.scale,
                     "--seed", str(args.seed), "--days", str(args.days)]  # fmt: skip
    print(f"data: {run_stage(generate_argv, 'generate', logs / 'generate', _env(home))}", flush=True)
    results: dict = {"scale": args.scale, "measured_at": time.strftime("%Y-%m-%d %H:%M"),
                     "machine": machine({"duckdb": _version("duckdb"), "pandas": _version("pandas")})}  # fmt: skip

    print("floor: one DuckDB pass over the files of D0", flush=True)
    floor_argv = ["-m", "benchmarks.pipeline", "--stage", "floor", "--home", str(home), "--date", dates[0].isoformat()]
    results["floor"] = run_stage(floor_argv, "floor", logs / "floor", _env(home))

    print("pipeline without Airflow, a process per step, from an empty warehouse", flush=True)
    reset(home)
    full = run_steps(home, dates[0], logs)
    results["full"] = {"as_of_date": dates[0].isoformat(), "steps": full, "totals": totals(full)}
    if not args.no_pandas:
        print("pandas reference", flush=True)
        results["pandas"] = run_pandas(home, dates[0], logs)
    results["daily"] = []
    for day in dates[1:]:
        daily = run_steps(home, day, logs)
        results["daily"].append({"as_of_date": day.isoformat(), "steps": daily, "totals": totals(daily)})
    # the agreement checks in a child too: this process must stay small (a child's peak RSS starts from it)
    check_argv = ["-m", "benchmarks.pipeline", "--stage", "check", "--home", str(home), "--date", dates[0].isoformat()]
    checked = run_stage(check_argv, "check", logs / "check", _env(home))
    results["full"]["clients"] = checked["clients"]
    results["floor_check"], results["pandas_check"] = checked["floor_check"], checked["pandas_check"]
    if not args.no_airflow:
        print("pipeline with Airflow (airflow dags test), from an empty warehouse", flush=True)
        reset(home)
        results["airflow"] = []
        for day in dates:
            results["airflow"].append(run_airflow(home, day, logs))
            print(f"  {day} airflow dags test: {results['airflow'][-1]['wall_s']} s", flush=True)
    results["load_average"] = {"start": load_at_start, "end": [round(x, 1) for x in os.getloadavg()]}
    results["targets"] = judge(args.scale, results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    png = plot(args.scale, results, RESULTS / f"pipeline-{args.scale}.png")
    results["plot"] = str(png) if png else None
    (RESULTS / f"pipeline-{args.scale}.json").write_text(json.dumps(results, indent=2, default=str))
    text = report(args.scale, results)
    (RESULTS / f"pipeline-{args.scale}.md").write_text(text)
    print(text)
    return 0


def airflow_only(home: Path, args: argparse.Namespace) -> int:
    """The dates through ``airflow dags test`` alone, from an empty warehouse (the rest of a benchmark run
    measured apart): wall, CPU and the largest process's peak per date."""
    logs = home / "bench_logs_airflow"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    dates = _dates(args.days)
    load_at_start = [round(x, 1) for x in os.getloadavg()]
    generate_argv = ["-m", "benchmarks.pipeline", "--stage", "generate", "--home", str(home), "--scale", args.scale,
                     "--seed", str(args.seed), "--days", str(args.days)]  # fmt: skip
    run_stage(generate_argv, "generate", logs / "generate", _env(home))
    reset(home)
    runs = []
    for day in dates:
        runs.append(run_airflow(home, day, logs))
        print(f"  {day} airflow dags test: {runs[-1]['wall_s']} s, peak {runs[-1]['peak_rss_mb']:,.0f} MiB", flush=True)
    results = {"scale": args.scale, "measured_at": time.strftime("%Y-%m-%d %H:%M"), "clients": _clients(home, dates[0]),
               "machine": machine({"duckdb": _version("duckdb"), "apache-airflow": _version("apache-airflow")}),
               "airflow": runs, "load_average": {"start": load_at_start, "end": [round(x, 1) for x in os.getloadavg()]}}  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"pipeline-{args.scale}-airflow.json").write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps(results, indent=2, default=str))
    return 0


def _clients(home: Path, day: date) -> int:
    import duckdb

    con = duckdb.connect(str(home / "warehouse" / "clv.duckdb"), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM marts.fct_client_profile WHERE as_of_date = $d", {"d": day}).fetchone()[0]
    finally:
        con.close()


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
