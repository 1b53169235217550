"""Command line: generate sample data, run a business date outside Airflow, show the warehouse status.

``python -m python_tasks --help`` (or the ``clv`` console script). Heavy imports happen inside commands.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from python_tasks.settings import get_settings


def _date(text: str) -> date:
    return date.fromisoformat(text)


def cmd_generate(args: argparse.Namespace) -> int:
    from python_tasks.sample_data.generate import generate

    inbox = Path(args.inbox) if args.inbox else get_settings().inbox_dir
    faults = [f for f in (args.inject or "").split(",") if f]
    summary = generate(
        inbox,
        scale=args.scale,
        seed=args.seed,
        first_date=args.first_date,
        days=args.days,
        history_years=args.history_years,
        faults=faults or None,
        fault_date=args.fault_date,
        clients=args.clients,
        progress=not args.quiet,
        overwrite=True,
    )
    print(f"generated into {inbox}: {summary}" if args.quiet else f"generated into {inbox}")
    return 0


def business_dates(first: date, last: date | None) -> list[date]:
    last = last or first
    if last < first:
        raise SystemExit(f"--to {last} is before --date {first}")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def cmd_run(args: argparse.Namespace) -> int:
    """Same functions as the DAG's tasks, in the same dependency order."""
    from rich.console import Console

    from python_tasks.ingest.job import ingest_source, summarise_run
    from python_tasks.orchestration.sources import external_sources, internal_sources

    console = Console()
    sources = args.sources.split(",") if args.sources else internal_sources()
    if args.with_external and not args.sources:
        sources = external_sources() + sources
    for day in business_dates(args.date, args.to):
        run_id = f"cli__{day.isoformat()}__{datetime.now(UTC):%Y%m%dT%H%M%S}"
        with console.status(f"{day}: ingesting {len(sources)} sources") as status:
            for source in sources:
                status.update(f"{day}: ingesting {source}")
                result = ingest_source(source, day, run_id, force=args.force)
                console.print(
                    f"{day} {source:<22} {result['status']:<10} in {result['rows_in']:>9,}  "
                    f"loaded {result['rows_loaded']:>9,}  quarantined {result['rows_quarantined']:>7,}"
                )
        summarise_run(day, run_id)
    return 0


def cmd_pipeline(args: argparse.Namespace) -> int:
    """The whole daily run outside Airflow (python_tasks/orchestration/pipeline.py): every step of each date,
    or the steps named by --step (the caller then owns the run: pass --run-id to continue one)."""
    from python_tasks.orchestration.pipeline import run_lock, run_pipeline

    if args.shards is not None:
        import os

        os.environ["CLV_SHARDS"] = str(args.shards)
    only = args.step or None
    if args.run_id and len(business_dates(args.date, args.to)) > 1:
        raise SystemExit("--run-id names the run of one business date; leave out --to")

    def shown(name: str, seconds: float, result: object) -> None:
        print(json.dumps({"step": name, "seconds": round(seconds, 2), "result": result}, default=str,
                         ensure_ascii=False), flush=True)  # fmt: skip

    def run_id_of(day: date) -> str:
        return args.run_id or f"cli__{day.isoformat()}__{datetime.now(UTC):%Y%m%dT%H%M%S}"

    days = business_dates(args.date, args.to)
    first_run = run_id_of(days[0])
    # one lock for the whole range: another backfill cannot slip in between two of its dates; a run of one
    # date is named as run_pipeline names it, so a waiting run says which run it waits for
    holder = f"{first_run} ({days[0]})" if len(days) == 1 else f"pipeline {days[0]}..{days[-1]}"
    with run_lock(holder):
        for day in days:
            run_pipeline(day, first_run if day == days[0] else run_id_of(day), only=only, on_step=shown)
    return 0


def cmd_restate(args: argparse.Namespace) -> int:
    """Late corrections: recompute every processed date from the earliest past delivery that changed since it
    was loaded (python_tasks/orchestration/restatement.py); one JSON line per step and a summary at the end."""
    from python_tasks.orchestration.restatement import RunRefused, restate

    def shown(name: str, seconds: float, result: object) -> None:
        print(json.dumps({"step": name, "seconds": round(seconds, 2), "result": result}, default=str,
                         ensure_ascii=False), flush=True)  # fmt: skip

    try:
        result = restate(args.date, dry_run=args.dry_run, on_step=shown)
    except RunRefused as exc:
        print(f"restate: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"restatement": result}, default=str, ensure_ascii=False), flush=True)
    return 0


def cmd_build_profile(args: argparse.Namespace) -> int:
    """The DAG's dbt stage outside Airflow: one date, or every date of a range in one pass."""
    from python_tasks.transform.dbt_job import run_dbt_build

    run_id = f"cli__{args.date.isoformat()}__{datetime.now(UTC):%Y%m%dT%H%M%S}"
    result = run_dbt_build(args.date, run_id, build_from_date=args.build_from, full_refresh=args.full_refresh)
    print(json.dumps(result, indent=2))
    return 0


def _each_date(args: argparse.Namespace, run) -> int:  # noqa: ANN001 - run(day, run_id) -> dict
    """Run a stage for --date, or each date of --date .. --to, printing each run's summary."""
    from datetime import timedelta

    day, last = args.date, args.to or args.date
    while day <= last:
        run_id = f"cli__{day.isoformat()}__{datetime.now(UTC):%Y%m%dT%H%M%S}"
        print(json.dumps(run(day, run_id), indent=2, ensure_ascii=False))
        day += timedelta(days=1)
    return 0


def cmd_clv(args: argparse.Namespace) -> int:
    """The DAG's CLV stage outside Airflow: value every client of D's profile (each date of a range); with
    --shards, through the DAG's sharded steps (prepare, each shard, merge) one after another."""
    if args.shards is None:
        from python_tasks.clv.job import run_clv

        return _each_date(args, run_clv)
    from python_tasks.clv.sharded import run_clv_sharded

    return _each_date(args, lambda day, run_id: run_clv_sharded(day, run_id, args.shards))


def cmd_segments(args: argparse.Namespace) -> int:
    """The DAG's segments stage outside Airflow (each date of a range); with --shards, through the DAG's
    sharded steps one after another."""
    if args.shards is None:
        from python_tasks.segments.job import run_segments

        return _each_date(args, run_segments)
    from python_tasks.segments.sharded import run_segments_sharded

    return _each_date(args, lambda day, run_id: run_segments_sharded(day, run_id, args.shards))


def cmd_publish(args: argparse.Namespace) -> int:
    """The DAG's publish stage outside Airflow: serving file, Parquet (and PostgreSQL if configured)."""
    from python_tasks.serving.publish import run_publish

    return _each_date(args, run_publish)


def cmd_report(args: argparse.Namespace) -> int:
    """The run report of each date of a range: one static HTML page per date (docs/report.md)."""
    from python_tasks.report.job import build_report

    for day in business_dates(args.date, args.to):
        run_id = args.run_id or f"cli__{day.isoformat()}__{datetime.now(UTC):%Y%m%dT%H%M%S}"
        print(f"report {day}: file://{build_report(day, run_id)}")
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Control totals of D from each delivered file to the published tables (docs/quality.md, Reconciliation):
    measured, recorded in audit.reconciliation and printed; exit status 1 when a total does not balance."""
    from rich.console import Console
    from rich.table import Table

    from python_tasks.io import warehouse
    from python_tasks.quality.reconciliation import UNBALANCED, GateFailed, fmt, recorded_checks, run_reconciliation

    console = Console(width=None if sys.stdout.isatty() else 200)
    failed = False
    for day in business_dates(args.date, args.to):
        run_id = args.run_id or f"cli__{day.isoformat()}__{datetime.now(UTC):%Y%m%dT%H%M%S}"
        try:
            result = run_reconciliation(day, run_id, published=not args.no_published)
            summary = f"{result['balanced']} balanced, {result['skipped']} skipped, none unbalanced"
        except GateFailed as exc:
            failed, summary = True, str(exc).splitlines()[0]
        with warehouse.connect(get_settings().warehouse_path, read_only=True) as con:
            rows = recorded_checks(con, day, run_id)
        table = Table(title=f"Reconciliation of {day} (run {run_id}): {summary}", expand=False)
        for col in ("source", "measure", "stage", "from", "expected", "actual", "difference", "status", "explanation"):
            table.add_column(col, justify="right" if col in ("expected", "actual", "difference") else "left",
                             overflow="fold")  # fmt: skip
        if args.failed and not any(r[7] == UNBALANCED for r in rows):
            console.print(f"Reconciliation of {day} (run {run_id}): {summary}")
            continue
        for source, measure, stage, upstream, expected, actual, difference, status, explanation, excluded in rows:
            if args.failed and status != UNBALANCED:
                continue
            plain = status == "balanced" and not excluded and not args.explain  # the numbers say it all
            style = "bold red" if status == UNBALANCED else ("dim" if status != "balanced" else None)
            table.add_row(source, measure, stage, upstream, fmt(expected), fmt(actual), fmt(difference), status,
                          "" if plain else explanation, style=style)  # fmt: skip
        console.print(table)
    return 1 if failed else 0


def cmd_dbt_docs(args: argparse.Namespace) -> int:
    """dbt docs generate: the static documentation site with model and column lineage."""
    from python_tasks.transform.dbt_job import generate_docs

    print(f"dbt docs: {generate_docs()}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from python_tasks.clv.status import clv_by_date
    from python_tasks.contracts import load_order
    from python_tasks.ingest.status import last_dbt_build, quarantine_by_rule, recent_runs, source_status
    from python_tasks.io import warehouse
    from python_tasks.segments.status import segments_by_date
    from python_tasks.transform.status import profile_by_date

    settings = get_settings()
    console = Console(width=None if sys.stdout.isatty() else 140)
    if not settings.warehouse_path.exists():
        console.print(
            f"No warehouse at {settings.warehouse_path} yet: run `make demo` or `python -m python_tasks run`."
        )
        return 1
    with warehouse.connect(settings.warehouse_path, read_only=True) as con:
        table = Table(title=f"Raw partitions in {settings.warehouse_path}")
        for col in ("source", "partitions", "first date", "last date", "rows", "quarantined", "last load"):
            table.add_column(col, justify="right" if col in ("partitions", "rows", "quarantined") else "left")
        for s in source_status(con, load_order()):
            table.add_row(
                s.source,
                str(s.partitions),
                s.first_date or "-",
                s.last_date or "-",
                f"{s.rows:,}",
                f"{s.quarantined:,}",
                s.last_status or "-",
            )
        console.print(table)
        runs = Table(title="Recent runs")
        for col in ("run id", "business date", "sources", "loaded", "quarantined", "rejected files", "finished (UTC)"):
            runs.add_column(col)
        for run_id, d, n, loaded, quarantined, rejected, finished in recent_runs(con):
            runs.add_row(
                run_id,
                str(d),
                str(n),
                f"{loaded:,}",
                f"{quarantined:,}",
                str(rejected),
                f"{finished:%Y-%m-%d %H:%M:%S}",
            )
        console.print(runs)
        profile = Table(title="Client profile per business date (marts.fct_client_profile)")
        for col in ("business date", "clients", "active", "with credit", "drawn (CNY bn)", "EAD (CNY bn)",
                    "past due", "non-performing", "size: large/medium/small/micro/unclassified"):  # fmt: skip
            profile.add_column(col, justify="left" if col.startswith(("business", "size")) else "right")
        for p in profile_by_date(con):
            sizes = "/".join(str(p.by_size.get(k, 0)) for k in ("large", "medium", "small", "micro", "unclassified"))
            profile.add_row(
                str(p.as_of_date),
                f"{p.clients:,}",
                f"{p.active_clients:,}",
                f"{p.with_credit:,}",
                f"{p.drawn_balance_cny / 1e9:,.2f}",
                f"{p.ead_cny / 1e9:,.2f}",
                f"{p.past_due_clients:,}",
                f"{p.non_performing_clients:,}",
                sizes,
            )
        console.print(profile)
        values = Table(title="Client value per business date (valuation.client_values; CNY bn)")
        for col in ("business date", "clients", "scenario", "CLV", "PV NII", "PV fees", "PV costs", "PV EL",
                    "PV capital charge", "mean PIT PD", "params"):  # fmt: skip
            values.add_column(col, justify="left" if col in ("business date", "scenario", "params") else "right")
        for v in clv_by_date(con):
            values.add_row(
                str(v.as_of_date), f"{v.clients:,}", v.scenario, f"{v.clv_cny / 1e9:,.2f}", f"{v.pv_nii_cny / 1e9:,.2f}",
                f"{v.pv_fee_cny / 1e9:,.2f}", f"{v.pv_cost_cny / 1e9:,.2f}", f"{v.pv_expected_loss_cny / 1e9:,.2f}",
                f"{v.pv_capital_charge_cny / 1e9:,.2f}", f"{v.mean_pit_pd:.2%}", v.params_version,
            )  # fmt: skip
        console.print(values)
        segmented = Table(title="Segments and early warnings per business date (segments.*)")
        for col in ("business date", "clients", "value high/mid/low", "grow/maintain/monitor/restructure/exit",
                    "clusters", "offers", "signals new/active/closed", "watch list", "rules"):  # fmt: skip
            segmented.add_column(col, justify="left" if col in ("business date", "rules") else "right")
        for g in segments_by_date(con):
            segmented.add_row(
                str(g.as_of_date), f"{g.clients:,}", g.value_tiers, g.strategies, str(g.clusters), f"{g.offers:,}",
                f"{g.signals_new}/{g.signals_active}/{g.signals_closed}", f"{g.watch_list:,}", g.params_version,
            )  # fmt: skip
        console.print(segmented)
        rules = Table(title="Quarantine by rule")
        for col in ("source", "rule", "rows"):
            rules.add_column(col)
        for source, rule, n in quarantine_by_rule(con):
            rules.add_row(source, rule, f"{n:,}")
        console.print(rules)
        dbt = Table(title="Last dbt build (details: audit.dbt_results)")
        for col in ("run id", "business date", "resource", "status", "nodes", "seconds"):
            dbt.add_column(col)
        for run_id, d, resource, status, n, seconds in last_dbt_build(con):
            dbt.add_row(run_id, str(d), resource, status, str(n), f"{seconds:.2f}")
        console.print(dbt)
    return 0


def cmd_serve_api(args: argparse.Namespace) -> int:
    from python_tasks.sample_data.api_server import serve

    root = Path(args.root) if args.root else get_settings().inbox_dir / "_api"
    server, thread = serve(root, host=args.host, port=args.port)
    print(f"serving external data from {root} at http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        thread.join()
    except KeyboardInterrupt:
        server.shutdown()
    return 0


def cmd_render_dbt_sources(args: argparse.Namespace) -> int:
    from python_tasks.contracts import load_contracts
    from python_tasks.contracts.render import dbt_sources_yaml
    from python_tasks.settings import DBT_SOURCES_FILE

    DBT_SOURCES_FILE.write_text(dbt_sources_yaml(load_contracts()), encoding="utf-8")
    print(f"wrote {DBT_SOURCES_FILE}")
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    """Where a number came from: the chain from one output column of a client on D back to the files."""
    from rich.console import Console

    from python_tasks.lineage.trace import TraceError, render, trace

    try:
        result = trace(args.column, args.client, args.date, scenario=args.scenario, table=args.table)
    except (TraceError, FileNotFoundError) as exc:
        print(f"trace: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        render(result, Console(width=None if sys.stdout.isatty() else 160))
    return 0


def _date_range(parser: argparse.ArgumentParser) -> None:
    """--date D, and --to for a range of business dates (each date in turn)."""
    parser.add_argument("--date", type=_date, required=True, help="business date D (the first of a range)")
    parser.add_argument("--to", type=_date, help="last business date of a range (inclusive)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m python_tasks", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write deterministic sample deliveries into the inbox")
    gen.add_argument("--scale", choices=["S", "M", "L"], default="S")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--first-date", type=_date, required=True, help="business date of the initial history load")
    gen.add_argument("--days", type=int, default=3, help="daily delta deliveries after the first date")
    gen.add_argument("--history-years", type=int, default=5)
    gen.add_argument("--clients", type=int, help="override the preset's client count")
    gen.add_argument("--inject", help="comma-separated fault classes to inject (see docs/ingestion.md)")
    gen.add_argument("--fault-date", type=_date, help="delivery date the faults go into (default: first date)")
    gen.add_argument("--inbox", help="target folder (default: the configured inbox)")
    gen.add_argument("--quiet", action="store_true")
    gen.set_defaults(func=cmd_generate)

    run = sub.add_parser("run", help="ingest one business date (or a range) outside Airflow")
    run.add_argument("--date", type=_date, required=True)
    run.add_argument("--to", type=_date, help="last business date of a range (inclusive)")
    run.add_argument("--sources", help="comma-separated subset of sources (default: all internal sources)")
    run.add_argument("--with-external", action="store_true", help="also fetch the external API sources")
    run.add_argument("--force", action="store_true", help="reload even when the delivery is unchanged")
    run.set_defaults(func=cmd_run)

    pipe = sub.add_parser("pipeline", help="the whole daily run of a date (or a range) outside Airflow, step by step")
    _date_range(pipe)
    pipe.add_argument("--step", action="append",
                      help="run only this step (a clv_daily task id, e.g. ingest.clients, clv.merge); repeatable")
    pipe.add_argument("--run-id", help="the run's id (default: a new one per date)")
    pipe.add_argument("--shards", type=int, default=None, help="client shards of the per-client steps (CLV_SHARDS)")
    pipe.set_defaults(func=cmd_pipeline)

    restate = sub.add_parser("restate", help="recompute past dates whose deliveries changed since they were loaded")
    restate.add_argument("--date", type=_date, default=None,
                         help="look for corrections from this processed date on (default: every processed date)")
    restate.add_argument("--dry-run", action="store_true", help="only say what changed and which dates would rerun")
    restate.set_defaults(func=cmd_restate)

    build = sub.add_parser("build-profile", help="dbt build of the client profile for a date (or a range)")
    build.add_argument("--date", type=_date, required=True, help="business date D (the last date built)")
    build.add_argument("--from", dest="build_from", type=_date, help="first business date to build (default: D)")
    build.add_argument("--full-refresh", action="store_true", help="recreate the incremental facts first")
    build.set_defaults(func=cmd_build_profile)

    clv = sub.add_parser("clv", help="value every client of a date's profile under every scenario (CLV engine)")
    _date_range(clv)
    clv.add_argument("--shards", type=int, default=None,
                     help="split the per-client work into N shards as the DAG does (default: one process)")
    clv.set_defaults(func=cmd_clv)

    seg = sub.add_parser("segments", help="segments, strategy, offers and early warnings for a date's clients")
    _date_range(seg)
    seg.add_argument("--shards", type=int, default=None,
                     help="split the per-client work into N shards as the DAG does (default: one process)")
    seg.set_defaults(func=cmd_segments)

    pub = sub.add_parser("publish", help="publish a date (or a range) for BI: serving file, Parquet, PostgreSQL")
    _date_range(pub)
    pub.set_defaults(func=cmd_publish)
    rep = sub.add_parser("report", help="the run report (static HTML with charts) of a date (or a range)")
    _date_range(rep)
    rep.add_argument("--run-id", help="the run whose gates to show (default: the latest run of D for each gate)")
    rep.set_defaults(func=cmd_report)
    rec = sub.add_parser("reconcile", help="control totals of a date from each delivered file to the published tables")
    _date_range(rec)
    rec.add_argument("--run-id", help="the run to record the checks under (default: a new one per date)")
    rec.add_argument("--no-published", action="store_true", help="stop at the valuation (before a publish)")
    rec.add_argument("--failed", action="store_true", help="print only the totals that do not balance")
    rec.add_argument("--explain", action="store_true", help="explain every total (default: exclusions and failures)")
    rec.set_defaults(func=cmd_reconcile)
    docs = sub.add_parser("dbt-docs", help="generate dbt's documentation site (models, columns, lineage)")
    docs.set_defaults(func=cmd_dbt_docs)

    status = sub.add_parser("status", help="partitions loaded, recent runs, quarantine counts")
    status.set_defaults(func=cmd_status)

    api = sub.add_parser("serve-api", help="serve the generated external data as the vendor's JSON API")
    api.add_argument("--root", help="folder of the generated API payloads (default: <inbox>/_api)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8765)
    api.set_defaults(func=cmd_serve_api)
    tr = sub.add_parser("trace", help="where a number came from: an output column of a client on D back to the files")
    tr.add_argument("--column", required=True, help="e.g. clv_cny, value_tier, risk_tier, strategy, ead_cny")
    tr.add_argument("--client", required=True, help="client id, e.g. C000000123")
    tr.add_argument("--date", type=_date, required=True, help="business date D")
    tr.add_argument("--scenario", default="baseline", help="CLV scenario (baseline, adverse, severe)")
    tr.add_argument(
        "--table",
        help="valuation.client_values, segments.client_segments or marts.fct_client_profile "
        "(default: the first of these with the column)",
    )
    tr.add_argument("--json", action="store_true", help="print the chain as JSON")
    tr.set_defaults(func=cmd_trace)

    render = sub.add_parser("render-dbt-sources", help="regenerate dbt's raw source docs from the contracts")
    render.set_defaults(func=cmd_render_dbt_sources)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
