"""Ingestion benchmark: the pipeline's validate+load against a bare DuckDB read of the same files.

    python -m benchmarks.ingest --scale M          (or: make bench-ingest SCALE=M)

Generates (or reuses) the sample deliveries at the chosen scale, then measures in separate child
processes, so that each peak memory figure is its own:

1. ``bare``: one DuckDB ``CREATE TABLE AS SELECT * FROM read_csv/read_parquet`` per source into a fresh
   DuckDB file, no validation (GBK files read as latin-1 bytes, DuckDB having no GBK decoder built in);
2. ``ingest``: the pipeline's ``ingest_source`` for every internal source of the initial history load
   (land, decode, validate every rule, quarantine, load, ledger), the same functions the DAG calls;
3. ``raw_gate``: the GX raw gate over the loaded partitions.

Writes ``benchmarks/results/ingest-<scale>.json`` and ``.md``: wall and CPU seconds, peak RSS, rows/s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from datetime import date
from pathlib import Path

from benchmarks.measure import run_stage

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FIRST_DATE = date(2026, 11, 20)


def _child(stage: str, home: Path) -> dict:
    """Run one stage in a fresh interpreter; its own peak RSS and CPU time come from wait4()."""
    return run_stage(
        ["-m", "benchmarks.ingest", "--stage", stage, "--home", str(home)],
        stage,
        home / f".{stage}",
        {**os.environ, "CLV_HOME": str(home)},
    )


def _files_by_source(inbox: Path) -> dict[str, list[Path]]:
    from python_tasks.orchestration.sources import internal_sources

    day = FIRST_DATE.isoformat()
    return {s: sorted((inbox / s / day).glob(f"{s}_*")) for s in internal_sources()}


def stage_bare(home: Path) -> dict:
    import duckdb

    from python_tasks.contracts import load_contract

    db = home / "bare.duckdb"
    db.unlink(missing_ok=True)
    rows = 0
    started = time.perf_counter()
    with duckdb.connect(str(db)) as con:
        for source, files in _files_by_source(home / "inbox").items():
            contract = load_contract(source)
            paths = [str(f) for f in files]
            if contract.delivery.format == "parquet":
                con.execute(f"CREATE TABLE {source} AS SELECT * FROM read_parquet($p)", {"p": paths})
            else:
                enc = "latin-1" if contract.delivery.encoding == "gbk" else "utf-8"
                con.execute(
                    f"CREATE TABLE {source} AS SELECT * FROM read_csv($p, header = true, encoding = '{enc}')",
                    {"p": paths},
                )
            rows += con.execute(f"SELECT count(*) FROM {source}").fetchone()[0]
    return {"stage": "bare", "rows": rows, "seconds": round(time.perf_counter() - started, 2)}


def stage_ingest(home: Path) -> dict:
    from python_tasks.ingest.job import ingest_source
    from python_tasks.orchestration.sources import internal_sources

    shutil.rmtree(home / "warehouse", ignore_errors=True)
    shutil.rmtree(home / "landing", ignore_errors=True)
    per_source = {}
    started = time.perf_counter()
    for source in internal_sources():
        t = time.perf_counter()
        result = ingest_source(source, FIRST_DATE, "bench")
        per_source[source] = {
            "rows_in": result["rows_in"],
            "rows_loaded": result["rows_loaded"],
            "rows_quarantined": result["rows_quarantined"],
            "seconds": round(time.perf_counter() - t, 2),
        }
    rows = sum(s["rows_in"] for s in per_source.values())
    return {"stage": "ingest", "rows": rows, "seconds": round(time.perf_counter() - started, 2), "sources": per_source}


def stage_raw_gate(home: Path) -> dict:
    started = time.perf_counter()
    from python_tasks.quality.raw_gate import run_raw_gate

    summary = run_raw_gate(FIRST_DATE, "bench")
    return {"stage": "raw_gate", "seconds": round(time.perf_counter() - started, 2), **summary}


STAGES = {"bare": stage_bare, "ingest": stage_ingest, "raw_gate": stage_raw_gate}


def ensure_data(home: Path, scale: str, seed: int) -> None:
    from python_tasks.sample_data.generate import generate

    marker = home / "inbox" / "_manifest.json"
    if marker.exists():
        params = json.loads(marker.read_text()).get("parameters", {})
        if params.get("scale") == scale and params.get("seed") == seed:
            print(f"reusing {scale} data in {home / 'inbox'}")
            return
    print(f"generating {scale}-scale deliveries into {home / 'inbox'} …")
    t = time.perf_counter()
    generate(home / "inbox", scale=scale, seed=seed, first_date=FIRST_DATE, days=1, progress=True, overwrite=True)
    print(f"generated in {time.perf_counter() - t:.0f} s")


def report(scale: str, results: dict, inbox: Path) -> str:
    bare, ingest, gate = results["bare"], results["ingest"], results["raw_gate"]
    size_mb = sum(f.stat().st_size for fs in _files_by_source(inbox).values() for f in fs) / 2**20
    ratio = ingest["seconds"] / bare["seconds"]
    lines = [
        f"# Ingestion benchmark, scale {scale}",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"input {bare['rows']:,} rows in {size_mb:,.0f} MiB (initial history load, {len(ingest['sources'])} sources).",
        "",
        "| stage | wall s | CPU s | peak RSS MiB | rows/s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, r in (
        ("bare DuckDB read (reference)", bare),
        ("ingest: validate + quarantine + load", ingest),
        ("raw gate (GX)", gate),
    ):
        rows = r.get("rows") or bare["rows"]
        lines.append(
            f"| {name} | {r['seconds']:.1f} | {r['cpu_s']:.1f} | {r['peak_rss_mb']:,.0f} | {rows / r['seconds']:,.0f} |"
        )
    lines += [
        "",
        f"Ingest / bare read: **{ratio:.2f}×** (target ≤ 2×). Peak memory of ingest: {ingest['peak_rss_mb']:,.0f} MiB "
        "(target < 4096 MiB).",
        "",
        "| source | rows in | loaded | quarantined | seconds |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for source, s in ingest["sources"].items():
        lines.append(
            f"| {source} | {s['rows_in']:,} | {s['rows_loaded']:,} | {s['rows_quarantined']:,} | {s['seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=["S", "M", "L"], default="M")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--home", help="working folder (default var/bench/<scale>)")
    parser.add_argument("--only", help="comma-separated stages to measure (default: all); the report needs all")
    args = parser.parse_args()
    home = Path(args.home) if args.home else ROOT / "var" / "bench" / args.scale
    if args.stage:
        import logging

        logging.basicConfig(level=logging.WARNING)
        print(json.dumps(STAGES[args.stage](home)))
        return
    home.mkdir(parents=True, exist_ok=True)
    ensure_data(home, args.scale, args.seed)
    results = {}
    stages = args.only.split(",") if args.only else ["bare", "ingest", "raw_gate"]
    for stage in stages:
        print(f"running {stage} …", flush=True)
        results[stage] = _child(stage, home)
        print(f"  {stage}: {results[stage]['seconds']} s, peak {results[stage]['peak_rss_mb']} MiB", flush=True)
    if len(results) < 3:
        print(json.dumps(results, indent=2))
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"ingest-{args.scale}.json").write_text(json.dumps(results, indent=2))
    text = report(args.scale, results, home / "inbox")
    (RESULTS / f"ingest-{args.scale}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
