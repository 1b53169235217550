"""The per-client stages (CLV, segments) split by client shard, at 1, 2 and 4 shards, against one process.

    python -m benchmarks.shards --scale M [--shards 1,2,4] [--home DIR]      (or: make bench-shards SCALE=M)

Issue 8 asks for the per-client stages at M scale with 1, 2 and 4 shards on this machine. Setup (cached in
``var/bench/shards/<scale>/``, not timed): the sample deliveries of D0, the month's external data, the ingest
of D0 and the dbt build of its client profile. Then, each step in its own fresh interpreter (wall, CPU and
peak RSS of the process from ``wait4``):

* ``one process``: ``clv.job.run_clv`` / ``segments.job.run_segments`` (what the CLI runs without --shards);
* for each shard count N: ``prepare`` (``prepare_clv_shards`` / ``prepare_segment_shards``), the N ``value``
  shards **started together** as N processes (as N Celery worker slots would run them; this machine has 2
  cores), then ``merge``. The stage's wall time is prepare + the slowest shard + merge.

Every sharded run's ``valuation.client_values`` / ``segments.client_segments`` is checked against the
one-process run's (same rows and labels, amounts within 1e-12 relative; the report shows the largest
difference). Writes ``benchmarks/results/shards-<scale>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.measure import machine
from benchmarks.profile import FIRST_DATE
from benchmarks.profile import stage_generate as generate_deliveries

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
_LOCATION_VARS = ("CLV_INBOX_DIR", "CLV_LANDING_DIR", "CLV_WAREHOUSE_PATH", "CLV_EXTERNAL_API_URL", "CLV_SHARDS")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _LOCATION_VARS}
    env["CLV_HOME"] = str(home)
    return env


def _start(home: Path, stage: str, *extra: str) -> tuple[subprocess.Popen, Path, float]:
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    out = logs / f"shards-{stage}{'-'.join(('',) + extra)}.out"
    argv = [sys.executable, "-m", "benchmarks.shards", "--home", str(home), "--stage", stage, *extra]
    handle = out.open("w")
    return subprocess.Popen(argv, cwd=ROOT, env=_env(home), stdout=handle, stderr=subprocess.STDOUT), out, time.perf_counter()


def _wait(started: tuple[subprocess.Popen, Path, float]) -> dict:
    process, out, t0 = started
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - t0
    text = out.read_text()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{out.name} failed:\n{text[-3000:]}")
    record = json.loads(text.strip().splitlines()[-1])
    record.update(wall_s=round(wall, 2), cpu_s=round(usage.ru_utime + usage.ru_stime, 2),
                  peak_rss_mb=round(usage.ru_maxrss / 1024, 1), ended=time.perf_counter())  # fmt: skip
    return record


def _step(home: Path, stage: str, *extra: str) -> dict:
    return _wait(_start(home, stage, *extra))


# --------------------------------------------------------------------------------------- stages (children)
def _child(args: argparse.Namespace) -> dict:
    day, run_id = FIRST_DATE, f"bench-shards-{args.run}"
    started = time.perf_counter()
    if args.stage == "setup":
        return _setup(Path(args.home), args.scale)
    if args.stage == "one":
        if args.what == "segments":
            from python_tasks.segments.job import run_segments

            result = run_segments(day, run_id)
            return {"clients": result["clients"], "seconds": round(time.perf_counter() - started, 2)}
        from python_tasks.clv.job import run_clv

        result = run_clv(day, run_id)
        return {"clients": result["clients"], "rows": result["rows"], "seconds": round(time.perf_counter() - started, 2)}
    if args.what == "segments":
        from python_tasks.segments import sharded as seg

        prepare, value, merge = seg.prepare_segment_shards, seg.value_segment_shard, seg.merge_segment_shards
    else:
        from python_tasks.clv import sharded as clv

        prepare, value, merge = clv.prepare_clv_shards, clv.value_clv_shard, clv.merge_clv_shards
    if args.stage == "prepare":
        result = prepare(day, run_id, args.shards)
        return {"clients_per_shard": result["clients_per_shard"], "seconds": round(time.perf_counter() - started, 2)}
    if args.stage == "value":
        result = value(day, run_id, args.shard)
        return {"clients": result["clients"], "seconds": result["seconds"]}
    if args.stage == "merge":
        result = merge(day, run_id)
        return {"clients": result["clients"], "seconds": round(time.perf_counter() - started, 2)}
    if args.stage == "snapshot":
        return _snapshot(Path(args.home), args.run, args.what)
    raise SystemExit(f"unknown stage {args.stage}")


def _setup(home: Path, scale: str) -> dict:
    """Deliveries of D0, external data, ingest and the client profile of D0 (once per home)."""
    marker = home / "setup.json"
    if marker.exists():
        return json.loads(marker.read_text()) | {"reused": True}
    from python_tasks.cli import main as cli
    from python_tasks.sample_data.api_server import ingest_generated_external
    from python_tasks.settings import get_settings
    from python_tasks.transform.dbt_job import run_dbt_build

    started = time.perf_counter()
    generate_deliveries(home, 0, scale, 42)
    ingest_generated_external(get_settings().inbox_dir, FIRST_DATE.replace(day=1), "bench-shards-external")
    assert cli(["run", "--date", FIRST_DATE.isoformat()]) == 0
    run_dbt_build(FIRST_DATE, "bench-shards-dbt")
    record = {"seconds": round(time.perf_counter() - started, 2), "reused": False}
    marker.write_text(json.dumps(record))
    return record


#: the table each stage's runs are compared on
_TABLE = {"clv": "client_values", "segments": "client_segments"}


def _snapshot(home: Path, name: str, what: str) -> dict:
    import duckdb

    from python_tasks.settings import get_settings

    path = home / "results" / f"{_TABLE[what]}-{name}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    schema, order = ("valuation", "client_id, scenario") if what == "clv" else ("segments", "client_id")
    with duckdb.connect(str(get_settings().warehouse_path), read_only=True) as con:
        con.execute(
            f"COPY (SELECT * EXCLUDE (_run_id{', _computed_at' if what == 'clv' else ''}) FROM {schema}.{_TABLE[what]} "
            f"WHERE as_of_date = ? ORDER BY {order}) TO '{path}' (FORMAT parquet)",
            [FIRST_DATE],
        )
    return {"path": str(path)}


def _agree(home: Path, name: str, what: str) -> float:
    """Largest relative difference of any amount between a sharded run and the one-process run (every other
    column must be equal)."""
    import numpy as np
    import pandas as pd

    one = pd.read_parquet(home / "results" / f"{_TABLE[what]}-one.parquet")
    other = pd.read_parquet(home / "results" / f"{_TABLE[what]}-{name}.parquet")
    assert list(one["client_id"]) == list(other["client_id"])
    worst = 0.0
    for column in one.columns:
        if one[column].dtype.kind == "f":
            a, b = one[column].to_numpy(), other[column].to_numpy()
            diff = np.abs(a - b) / np.maximum(1.0, np.abs(a))
            worst = max(worst, float(np.nanmax(diff)) if len(diff) else 0.0)
        else:
            same = one[column].astype(object).where(one[column].notna(), None).equals(
                other[column].astype(object).where(other[column].notna(), None))
            assert same, (what, column)
    return worst


# --------------------------------------------------------------------------------------- parent
def run(scale: str, home: Path, counts: list[int], results_dir: Path, stages: list[str]) -> dict:
    home.mkdir(parents=True, exist_ok=True)
    print(f"shards benchmark, {scale} scale, business date {FIRST_DATE}, working folder {home}", flush=True)
    setup = _step(home, "setup", "--scale", scale)
    print("  setup " + ("reused" if setup.get("reused") else f"done in {setup['seconds']} s"), flush=True)
    results: dict = {"scale": scale, "date": FIRST_DATE.isoformat(), "stages": {}}
    for what in stages:  # clv first: the segments read its values
        stage = results["stages"][what] = {"runs": {}}
        one = stage["one_process"] = _step(home, "one", "--what", what, "--run", "one")
        _step(home, "snapshot", "--what", what, "--run", "one")
        print(f"  {what}, one process: {one['wall_s']} s wall, {one['cpu_s']} s CPU, {one['peak_rss_mb']:,.0f} MiB, "
              f"{one['clients']:,} clients", flush=True)  # fmt: skip
        for n in counts:
            name = f"n{n}"
            prepare = _step(home, "prepare", "--what", what, "--run", name, "--shards", str(n))
            begun = time.perf_counter()
            started = [_start(home, "value", "--what", what, "--run", name, "--shard", str(k)) for k in range(n)]
            shards = [_wait(s) for s in started]
            value_wall = round(max(s["ended"] for s in shards) - begun, 2)
            merge = _step(home, "merge", "--what", what, "--run", name)
            _step(home, "snapshot", "--what", what, "--run", name)
            worst = _agree(home, name, what)
            total = round(prepare["wall_s"] + value_wall + merge["wall_s"], 2)
            r = stage["runs"][n] = {
                "prepare": prepare, "shards": shards, "value_wall_s": value_wall, "merge": merge, "total_wall_s": total,
                "value_cpu_s": round(sum(s["cpu_s"] for s in shards), 2),
                "value_peak_rss_mb": max(s["peak_rss_mb"] for s in shards),
                "sum_peak_rss_mb": round(sum(s["peak_rss_mb"] for s in shards), 1), "max_relative_difference": worst,
            }  # fmt: skip
            print(f"  {what}, {n} shard(s): prepare {prepare['wall_s']} s, shards {value_wall} s "
                  f"(peak {r['value_peak_rss_mb']:,.0f} MiB each, {r['sum_peak_rss_mb']:,.0f} MiB together), "
                  f"merge {merge['wall_s']} s, total {total} s; agreement {worst:.1e}", flush=True)  # fmt: skip
    results["machine"] = machine()
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"shards-{scale}.json").write_text(json.dumps(results, indent=2, default=str))
    text = report(results)
    (results_dir / f"shards-{scale}.md").write_text(text)
    print(text)
    return results


def report(results: dict) -> str:
    lines = [f"# Per-client stages by shard, {results['scale']} scale (business date {results['date']})", "",
             f"Machine: {results['machine']}. Each step a fresh process; the shards of a run start together.", ""]  # fmt: skip
    for what, stage in results["stages"].items():
        one = stage["one_process"]
        lines += [
            f"## {what} ({one['clients']:,} clients)", "",
            "| run | prepare s | shards s (parallel) | merge s | stage wall s | shards CPU s | peak MiB per shard | peak MiB all shards | agreement |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| one process | | | | {one['wall_s']} | {one['cpu_s']} | {one['peak_rss_mb']:,.0f} | | reference |",
        ]  # fmt: skip
        for n, r in stage["runs"].items():
            lines.append(
                f"| {n} shard(s) | {r['prepare']['wall_s']} | {r['value_wall_s']} | {r['merge']['wall_s']} | "
                f"{r['total_wall_s']} | {r['value_cpu_s']} | {r['value_peak_rss_mb']:,.0f} | {r['sum_peak_rss_mb']:,.0f} | "
                f"{r['max_relative_difference']:.1e} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="M", choices=["S", "M", "L"])
    parser.add_argument("--shards", default="1,2,4", help="comma-separated shard counts (parent), or one (prepare)")
    parser.add_argument("--home", default=None)
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument("--stage", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--run", default="one", help=argparse.SUPPRESS)
    parser.add_argument("--stages", default="clv,segments", help="the stages to measure (clv must come first)")
    parser.add_argument("--what", default="clv", choices=["clv", "segments"], help=argparse.SUPPRESS)
    parser.add_argument("--shard", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        if args.stage == "prepare":
            args.shards = int(args.shards)
        print(json.dumps(_child(args), default=str))
        return
    home = Path(args.home) if args.home else ROOT / "var" / "bench" / "shards" / args.scale
    run(args.scale, home.resolve(), [int(n) for n in args.shards.split(",")], Path(args.results), args.stages.split(","))


if __name__ == "__main__":
    main()
