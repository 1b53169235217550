"""Client-profile benchmark: dbt full build, daily incremental build and a hand-written SQL floor.

    python -m benchmarks.profile --scale M [--home DIR] [--days N]      (or: make bench-profile SCALE=M)

Generates (or reuses) the sample deliveries of the initial history load D0 and N daily deltas, loads them
all into the warehouse (or reuses it when the load ledger already holds every source and date), then
measures in separate child processes, so that each peak memory figure is its own:

1. ``full``: ``run_dbt_build(Dn, build_from_date=D0, full_refresh=True)``: every date D0..Dn in one pass,
   the same function the DAG calls, models and tests;
2. ``incremental``: ``run_dbt_build(Dn)`` afterwards: the daily run, one date;
3. ``floor``: ``benchmarks/profile_floor.sql``, one hand-written DuckDB statement computing the profile
   of D0..Dn from the raw tables, from a fresh connection opened like the pipeline's
   (``python_tasks.io.warehouse.connect``: same memory limit, threads and spill folder);
4. ``parse``: ``dbt parse`` alone, from a cold target folder: dbt's fixed cost per invocation (the date
   vars change every day, so a daily run always parses the whole project).

Then (not timed) ``check`` compares the floor with ``marts.fct_client_profile`` date by date on row
counts, drawn balance and the counts by DPD bucket, asset class and enterprise size, and every common
column row by row. A disagreement means one of the two is wrong; the report shows it.

Writes ``benchmarks/results/profile-<scale>.json`` and ``.md``: wall, CPU, peak RSS per step, the targets
(full build ≤ 3× the floor, incremental ≤ ¼ of the full build, peak memory < 4 GiB) and the slowest dbt
nodes from dbt's ``run_results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from datetime import date, timedelta
from pathlib import Path

from benchmarks.measure import run_stage

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FLOOR_SQL = ROOT / "benchmarks" / "profile_floor.sql"
FIRST_DATE = date(2026, 11, 20)
DEFAULT_DAYS = 7
MEMORY_TARGET_MB = 4096
#: settings that would point a child at another deployment than --home
_LOCATION_VARS = ("CLV_INBOX_DIR", "CLV_LANDING_DIR", "CLV_WAREHOUSE_PATH", "CLV_EXTERNAL_API_URL")


def _child(stage: str, args: argparse.Namespace, home: Path) -> dict:
    """Run one stage in a fresh interpreter; its own peak RSS and CPU time come from wait4().

    The parent stays a small process that only spawns and waits: the child inherits the peak RSS of the
    address space it was started from (Linux carries it over exec), so heavy work here would inflate every
    child's figure.
    """
    env = {k: v for k, v in os.environ.items() if k not in _LOCATION_VARS}
    env["CLV_HOME"] = str(home)
    argv = ["-m", "benchmarks.profile", "--stage", stage, "--home", str(home),
            "--days", str(args.days), "--scale", args.scale, "--seed", str(args.seed)]  # fmt: skip
    return run_stage(argv, stage, home / f".profile-{stage}", env)


def _dates(days: int) -> tuple[date, date]:
    return FIRST_DATE, FIRST_DATE + timedelta(days=days)


# --- stages (each runs in its own child process) -----------------------------------------------------


def stage_load(home: Path, days: int) -> dict:
    """Load every source for every delivery date not yet in the load ledger (the DAG's ingest functions)."""
    import duckdb

    from python_tasks.ingest.job import ingest_source
    from python_tasks.io import warehouse
    from python_tasks.orchestration.sources import external_sources, internal_sources
    from python_tasks.settings import get_settings

    settings = get_settings()
    first, last = _dates(days)
    generated = json.loads((settings.inbox_dir / "_manifest.json").read_text())["parameters"]
    marker = home / ".profile_loaded.json"
    if marker.exists() and json.loads(marker.read_text()) != generated:
        # loaded from other deliveries: start again
        shutil.rmtree(settings.warehouse_path.parent, ignore_errors=True)
        shutil.rmtree(settings.landing_dir, ignore_errors=True)
    done: set[tuple[str, date]] = set()
    if settings.warehouse_path.exists():
        with warehouse.connect(read_only=True) as con:
            try:
                done = set(con.execute(
                    "SELECT DISTINCT source, as_of_date FROM audit.load_ledger WHERE status IN ('loaded', 'unchanged')"
                ).fetchall())  # fmt: skip
            except duckdb.CatalogException:
                pass
    todo = [
        (source, date.fromisoformat(p.stem))
        for source in external_sources()
        for p in sorted((settings.inbox_dir / "_api" / source).glob("*.json"))
        if date.fromisoformat(p.stem) <= last
    ]
    todo += [(source, first + timedelta(days=i)) for i in range(days + 1) for source in internal_sources()]
    todo = [pair for pair in todo if pair not in done]
    server = None
    if any(source in external_sources() for source, _ in todo):
        from python_tasks.sample_data.api_server import serve

        server, _ = serve(settings.inbox_dir)
        os.environ["CLV_EXTERNAL_API_URL"] = f"http://127.0.0.1:{server.server_address[1]}"
    started = time.perf_counter()
    rows = 0
    try:
        for source, day in todo:
            result = ingest_source(source, day, f"bench-profile-load-{day.isoformat()}")
            if result["status"] not in ("loaded", "unchanged"):
                raise SystemExit(f"loading {source} {day}: {result}")
            rows += result["rows_loaded"]
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    marker.write_text(json.dumps(generated))
    return {
        "stage": "load", "loads": len(todo), "reused": len(done), "rows_loaded": rows,
        "seconds": round(time.perf_counter() - started, 2),
    }  # fmt: skip


def _dbt_stage(home: Path, stage: str, last: date, **kwargs: object) -> dict:
    from python_tasks.transform.dbt_job import DbtBuildFailed, run_dbt_build

    run_results = home / "dbt" / "target" / "run_results.json"
    run_results.unlink(missing_ok=True)
    error = None
    started = time.perf_counter()
    try:
        run_dbt_build(last, f"bench-profile-{stage}", **kwargs)
    except DbtBuildFailed as exc:
        error = str(exc)
    seconds = time.perf_counter() - started
    kept = home / f".profile-{stage}-run_results.json"
    shutil.copyfile(run_results, kept)
    results = json.loads(kept.read_text())
    nodes = [
        {
            "unique_id": r["unique_id"],
            "status": r["status"],
            "seconds": round(r["execution_time"], 3),
        }
        for r in results["results"]
    ]
    return {
        "stage": stage,
        "status": "failed" if error else "success",
        "error": error,
        "seconds": round(seconds, 2),
        "dbt_elapsed_s": round(results["elapsed_time"], 2),
        "nodes": nodes,
    }


def stage_full(home: Path, days: int) -> dict:
    first, last = _dates(days)
    return _dbt_stage(home, "full", last, build_from_date=first, full_refresh=True)


def stage_incremental(home: Path, days: int) -> dict:
    _, last = _dates(days)
    return _dbt_stage(home, "incremental", last)


def run_floor(con, first: date, last: date) -> None:  # noqa: ANN001 - a DuckDB connection
    """The floor script on an open connection: ``bench.profile_floor`` for every date first..last."""
    con.execute("SET VARIABLE build_from_date = $d", {"d": first})
    con.execute("SET VARIABLE as_of_date = $d", {"d": last})
    con.execute(FLOOR_SQL.read_text(encoding="utf-8"))


def stage_floor(home: Path, days: int) -> dict:
    from python_tasks.io import warehouse

    first, last = _dates(days)
    started = time.perf_counter()
    with warehouse.connect() as con:
        run_floor(con, first, last)
        seconds = time.perf_counter() - started
        rows = con.execute("SELECT count(*) FROM bench.profile_floor").fetchone()[0]
        memory_limit, threads = con.execute(
            "SELECT current_setting('memory_limit'), current_setting('threads')"
        ).fetchone()
    return {
        "stage": "floor", "status": "success", "seconds": round(seconds, 2), "rows": rows,
        "duckdb": {"memory_limit": memory_limit, "threads": threads},
    }  # fmt: skip


def stage_parse(home: Path, days: int) -> dict:
    """``dbt parse`` from a cold target folder, with the vars of a daily run: start-up and parse only."""
    from dbt.cli.main import dbtRunner

    from python_tasks.settings import DBT_PROJECT_DIR, get_settings

    _, last = _dates(days)
    work = home / "dbt" / "parse"
    shutil.rmtree(work, ignore_errors=True)
    os.environ["CLV_WAREHOUSE_PATH"] = str(get_settings().warehouse_path)
    started = time.perf_counter()
    outcome = dbtRunner().invoke([
        "--no-use-colors", "--quiet", "parse",
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
        "--vars", json.dumps({"as_of_date": last.isoformat(), "run_id": "bench-profile-parse"}),
    ])  # fmt: skip
    return {
        "stage": "parse", "status": "success" if outcome.success else "failed",
        "seconds": round(time.perf_counter() - started, 2),
    }  # fmt: skip


def _dbt_duckdb_settings(home: Path) -> dict:
    """memory_limit and threads of the DuckDB connection dbt opens (profiles.yml), asked through dbt."""
    from dbt.cli.main import dbtRunner

    from python_tasks.settings import DBT_PROJECT_DIR
    from python_tasks.transform.dbt_job import _close_dbt_duckdb

    work = home / "dbt" / "show"
    outcome = dbtRunner().invoke([
        "--no-use-colors", "--quiet", "show", "--inline",
        "select current_setting('memory_limit') as memory_limit, current_setting('threads') as threads",
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
    ])  # fmt: skip
    _close_dbt_duckdb()
    if not outcome.success:
        return {}
    memory_limit, threads = outcome.result.results[0].agate_table.rows[0].values()
    return {"memory_limit": memory_limit, "threads": int(threads)}


def stage_check(home: Path, days: int) -> dict:
    import contextlib
    import io

    from python_tasks.io import warehouse
    from python_tasks.settings import get_settings

    first, last = _dates(days)
    os.environ["CLV_WAREHOUSE_PATH"] = str(get_settings().warehouse_path)
    with contextlib.redirect_stdout(io.StringIO()):
        dbt_settings = _dbt_duckdb_settings(home)
    with warehouse.connect(read_only=True) as con:
        comparison = compare_with_profile(con, first, last)
        raw_rows = {
            table: con.execute(f"SELECT count(*) FROM raw.{table}").fetchone()[0]  # names from the catalog
            for (table,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw' ORDER BY table_name"
            ).fetchall()
        }
    return {"stage": "check", "dbt_duckdb": dbt_settings, "raw_rows": raw_rows, **comparison}


# --- agreement of the floor with the dbt profile -----------------------------------------------------

#: key measures compared date by date: name -> (group-by column or None, aggregate)
KEY_CHECKS = {
    "rows": (None, "count(*)"),
    "drawn_balance_cny": (None, "sum(drawn_balance_cny)"),
    "by_dpd_bucket": ("dpd_bucket", "count(*)"),
    "by_asset_class": ("asset_class", "count(*)"),
    "by_enterprise_size": ("enterprise_size", "count(*)"),
}
#: columns only one side has, or that differ by design (the run id)
_NOT_COMPARED = {"client_id", "as_of_date", "_run_id"}


def compare_with_profile(
    con,  # noqa: ANN001 - a DuckDB connection
    first: date,
    last: date,
    floor_table: str = "bench.profile_floor",
    profile_table: str = "marts.fct_client_profile",
) -> dict:
    """The floor against the dbt profile for the dates first..last: key measures per date, then every column.

    Returns ``{"agree": bool, "key_checks": {name: {"agree", "floor", "dbt"}}, "columns_compared": n,
    "column_mismatches": {column: rows}}``; sums agree to the cent, ratios to 1e-9 relative.
    """
    params = {"first": first, "last": last}
    tables = {
        f"{schema}.{name}"
        for schema, name in con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()
    }
    missing = [t for t in (floor_table, profile_table) if t not in tables]
    if missing:
        return {"agree": False, "missing": missing, "key_checks": {}, "columns_compared": 0,
                "columns_not_in_floor": [], "column_mismatches": {}}  # fmt: skip
    key_checks = {}
    for name, (group, aggregate) in KEY_CHECKS.items():
        by = f", {group}" if group else ""
        sides = {}
        for side, table in (("floor", floor_table), ("dbt", profile_table)):
            rows = con.execute(
                f"SELECT CAST(as_of_date AS VARCHAR){by}, {aggregate} FROM {table} "
                "WHERE as_of_date BETWEEN $first AND $last GROUP BY ALL ORDER BY ALL",
                params,
            ).fetchall()
            sides[side] = [[v if isinstance(v, str | int | None) else float(v) for v in row] for row in rows]
        key_checks[name] = {"agree": _same_rows(sides["floor"], sides["dbt"]), **sides}

    def columns(table: str) -> dict[str, str]:
        schema, name = table.split(".")
        return dict(con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = $s AND table_name = $t ORDER BY ordinal_position",
            {"s": schema, "t": name},
        ).fetchall())  # fmt: skip

    floor_cols, dbt_cols = columns(floor_table), columns(profile_table)
    common = [c for c in dbt_cols if c in floor_cols and c not in _NOT_COMPARED]
    tests = []
    for c in common:
        numeric = floor_cols[c] in ("DOUBLE", "FLOAT") or floor_cols[c].startswith("DECIMAL")
        tolerance = f" AND NOT abs(f.{c} - p.{c}) <= greatest(1e-9 * abs(p.{c}), 0.005)" if numeric else ""
        tests.append(f"count(*) FILTER (WHERE f.{c} IS DISTINCT FROM p.{c}{tolerance})")
    tests.append("count(*) FILTER (WHERE f.client_id IS NULL OR p.client_id IS NULL)")
    counts = con.execute(
        f"SELECT {', '.join(tests)} "
        f"FROM (SELECT * FROM {floor_table} WHERE as_of_date BETWEEN $first AND $last) f "
        f"FULL JOIN (SELECT * FROM {profile_table} WHERE as_of_date BETWEEN $first AND $last) p "
        "USING (client_id, as_of_date)",
        params,
    ).fetchone()
    mismatches = {c: n for c, n in zip([*common, "(row on one side only)"], counts, strict=True) if n}
    return {
        "agree": all(k["agree"] for k in key_checks.values()) and not mismatches,
        "key_checks": key_checks,
        "columns_compared": len(common),
        "columns_not_in_floor": [c for c in dbt_cols if c not in floor_cols and c not in _NOT_COMPARED],
        "column_mismatches": mismatches,
    }


def _same_rows(a: list[list], b: list[list]) -> bool:
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b, strict=True):
        for va, vb in zip(ra, rb, strict=True):
            if isinstance(va, float) or isinstance(vb, float):
                if va is None or vb is None or abs(va - vb) > 0.005:
                    return False
            elif va != vb:
                return False
    return True


# --- data and report --------------------------------------------------------------------------------


def stage_generate(home: Path, days: int, scale: str, seed: int) -> dict:
    """The sample deliveries of D0 and ``days`` deltas, unless the inbox already holds exactly those."""
    from python_tasks.sample_data.generate import generate

    marker = home / "inbox" / "_manifest.json"
    if marker.exists():
        manifest = json.loads(marker.read_text())
        params = manifest.get("parameters", {})
        if (params.get("scale"), params.get("seed"), params.get("first_date"), params.get("days")) == (
            scale, seed, FIRST_DATE.isoformat(), days,
        ) and not manifest.get("faults"):  # fmt: skip
            return {"stage": "generate", "reused": True, "seconds": 0.0}
    started = time.perf_counter()
    generate(home / "inbox", scale=scale, seed=seed, first_date=FIRST_DATE, days=days, overwrite=True)
    return {"stage": "generate", "reused": False, "seconds": round(time.perf_counter() - started, 2)}


def _short(unique_id: str) -> str:
    kind, _, *name = unique_id.split(".")
    return f"{kind} {'.'.join(name)}"


def _top_nodes(full: dict, incremental: dict, n: int = 10) -> list[tuple[str, float, float | None]]:
    daily = {node["unique_id"]: node["seconds"] for node in incremental.get("nodes", [])}
    ranked = sorted(full.get("nodes", []), key=lambda node: node["seconds"], reverse=True)[:n]
    return [(node["unique_id"], node["seconds"], daily.get(node["unique_id"])) for node in ranked]


def _by_type(stage: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    for node in stage.get("nodes", []):
        kind = node["unique_id"].split(".")[0]
        out[kind] = out.get(kind, 0.0) + node["seconds"]
    return out


def _count(stage: dict) -> str:
    nodes = stage.get("nodes", [])
    return f"{len(nodes)} ({sum(n['unique_id'].startswith('test.') for n in nodes)})"


def _quick_nodes(stage: dict) -> tuple[int, float]:
    quick = [n["seconds"] for n in stage.get("nodes", []) if n["seconds"] < 0.1]
    return len(quick), sum(quick)


def _verdict(value: float, target: float, unit: str = "") -> str:
    if value <= target:
        return f"**met** ({value:.2f}{unit} against ≤ {target:.2f}{unit})"
    return f"**missed** ({value:.2f}{unit} against ≤ {target:.2f}{unit}: {value / target:.1f}× the target)"


def report(scale: str, days: int, results: dict) -> str:
    full, incr, floor, parse, check = (results[s] for s in ("full", "incremental", "floor", "parse", "check"))
    first, last = _dates(days)
    raw_total = sum(check["raw_rows"].values())
    dbt_db, floor_db = check.get("dbt_duckdb", {}), floor.get("duckdb", {})
    lines = [
        f"# Client-profile build benchmark, scale {scale}",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}. Warehouse: {raw_total:,} raw rows (initial history load {first} and "
        f"{days} daily deltas, external indicators); profile built for {first} .. {last} ({days + 1} dates, "
        f"{floor['rows']:,} client-date rows).",
        "",
        "| step | s (the call) | process wall s | CPU s | peak RSS MiB | status |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    named = (
        (f"full build: `run_dbt_build({last}, build_from_date={first}, full_refresh=True)`", full),
        (f"daily incremental: `run_dbt_build({last})`", incr),
        ("floor: `benchmarks/profile_floor.sql`, one DuckDB statement, same dates", floor),
        ("dbt fixed cost: `dbt parse`, cold target folder", parse),
    )
    for name, r in named:
        lines.append(
            f"| {name} | {r['seconds']:.1f} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_rss_mb']:,.0f} | {r['status']} |"
        )
    peak = max(full["peak_rss_mb"], incr["peak_rss_mb"], floor["peak_rss_mb"])
    lines += [
        "",
        '"s (the call)" is the time of `run_dbt_build` or of opening the connection and running the script, '
        "inside the child; the process wall adds the interpreter start and imports; CPU and peak RSS "
        "(wait4) are the whole child process's.",
        "",
        "Targets:",
        "",
        f"* full build within 3× the floor: {_verdict(full['seconds'] / floor['seconds'], 3, '×')};",
        f"* daily incremental within ¼ of the full build: {_verdict(incr['seconds'] / full['seconds'], 0.25)};",
        f"* peak memory under {MEMORY_TARGET_MB:,} MiB: "
        + (f"**met** ({peak:,.0f} MiB)" if peak < MEMORY_TARGET_MB else f"**missed** ({peak:,.0f} MiB)")
        + ".",
        "",
        f"DuckDB settings: dbt's connection (profiles.yml) memory_limit {dbt_db.get('memory_limit', '?')}, threads "
        f"{dbt_db.get('threads', '?')}; the floor's (`warehouse.connect`) memory_limit "
        f"{floor_db.get('memory_limit', '?')}, threads {floor_db.get('threads', '?')}.",
        "",
        "## Where dbt's time goes",
        "",
        "| | full build s | incremental s |",
        "| --- | ---: | ---: |",
    ]
    full_types, incr_types = _by_type(full), _by_type(incr)
    for kind in sorted(full_types, key=full_types.get, reverse=True):
        lines.append(f"| {kind}s (sum of node times) | {full_types[kind]:.1f} | {incr_types.get(kind, 0):.1f} |")
    quick = [_quick_nodes(r) for r in (full, incr)]
    lines += [
        f"| nodes run (of which tests) | {_count(full)} | {_count(incr)} |",
        f"| nodes under 0.1 s each: count, total s (mostly dbt's per-node cost) | {quick[0][0]}, {quick[0][1]:.1f} "
        f"| {quick[1][0]}, {quick[1][1]:.1f} |",
        f"| dbt run phase (run_results elapsed) | {full['dbt_elapsed_s']:.1f} | {incr['dbt_elapsed_s']:.1f} |",
        f"| outside the run phase: start-up, parse, compile, recording the results | "
        f"{full['seconds'] - full['dbt_elapsed_s']:.1f} | {incr['seconds'] - incr['dbt_elapsed_s']:.1f} |",
        "",
        "Slowest nodes of the full build (run_results.json):",
        "",
        "| node | full build s | incremental s |",
        "| --- | ---: | ---: |",
    ]
    for unique_id, seconds, daily in _top_nodes(full, incr):
        lines.append(f"| {_short(unique_id)} | {seconds:.2f} | {'' if daily is None else f'{daily:.2f}'} |")
    for name, r in (("full build", full), ("incremental", incr)):
        if r.get("error"):
            lines += ["", f"**The {name} failed:**", "", "```", r["error"][:3000], "```"]
    lines += [
        "",
        "## Agreement of the floor with `marts.fct_client_profile`",
        "",
        f"Overall: **{'agree' if check['agree'] else 'DISAGREE'}**."
        + (f" Missing: {', '.join(check['missing'])}." if check.get("missing") else ""),
        "",
        "| check (per date) | floor total | dbt total | agree |",
        "| --- | ---: | ---: | --- |",
    ]
    for name, k in check["key_checks"].items():
        f_total, d_total = (sum(row[-1] or 0 for row in k[side]) for side in ("floor", "dbt"))
        fmt = "{:,.2f}" if name == "drawn_balance_cny" else "{:,.0f}"
        lines.append(
            f"| {name} | {fmt.format(f_total)} | {fmt.format(d_total)} | {'yes' if k['agree'] else '**no**'} |"
        )
    lines += [
        "",
        f"Every common column compared row by row ({check['columns_compared']} columns, join on client and date): "
        + (
            "no difference."
            if not check["column_mismatches"]
            else "rows differing: " + ", ".join(f"`{c}` {n:,}" for c, n in check["column_mismatches"].items()) + "."
        ),
    ]
    if check["columns_not_in_floor"]:
        lines.append(f"Not computed by the floor: {', '.join(check['columns_not_in_floor'])}.")
    return "\n".join(lines) + "\n"


STAGES = {
    "generate": stage_generate, "load": stage_load, "full": stage_full, "incremental": stage_incremental, "floor": stage_floor,
    "parse": stage_parse, "check": stage_check,
}  # fmt: skip
MEASURED = ("full", "incremental", "floor", "parse")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=["S", "M", "L"], default="M")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--days", type=int, default=DEFAULT_DAYS, help="daily deltas after the initial load (default 7)"
    )
    parser.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--home", help="working folder (default var/bench/<scale>, shared with benchmarks.ingest)")
    parser.add_argument("--only", help="comma-separated stages to measure (default: all); the report needs all")
    args = parser.parse_args()
    if args.days < 1:
        parser.error("--days must be at least 1 (the incremental build needs a date after the first)")
    home = (Path(args.home) if args.home else ROOT / "var" / "bench" / args.scale).resolve()
    if args.stage:
        import logging

        logging.basicConfig(level=logging.WARNING)
        extra = (args.scale, args.seed) if args.stage == "generate" else ()
        print(json.dumps(STAGES[args.stage](home, args.days, *extra), default=str))
        return
    home.mkdir(parents=True, exist_ok=True)
    print(f"sample deliveries: {args.scale} scale, {args.days} daily deltas in {home / 'inbox'} …", flush=True)
    generated = _child("generate", args, home)
    print("  reused" if generated["reused"] else f"  generated in {generated['seconds']:.0f} s", flush=True)
    print("loading the deliveries not yet in the warehouse …", flush=True)
    load = _child("load", args, home)
    print(f"  load: {load['loads']} source-dates loaded, {load['reused']} reused, {load['seconds']} s", flush=True)
    results = {}
    stages = args.only.split(",") if args.only else [*MEASURED, "check"]
    for stage in stages:
        print(f"running {stage} …", flush=True)
        results[stage] = _child(stage, args, home)
        if stage in MEASURED:
            r = results[stage]
            print(
                f"  {stage}: {r['seconds']} s, CPU {r['cpu_s']} s, peak {r['peak_rss_mb']} MiB, {r['status']}",
                flush=True,
            )
    if any(stage not in results for stage in (*MEASURED, "check")):
        print(json.dumps(results, indent=2, default=str))
        return
    results["generate"], results["load"] = generated, load
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"profile-{args.scale}.json").write_text(json.dumps(results, indent=2, default=str))
    text = report(args.scale, args.days, results)
    (RESULTS / f"profile-{args.scale}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
