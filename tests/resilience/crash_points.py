"""Kill points for the crash tests: the daily run in a child that SIGKILLs itself at a chosen place.

Run as a script, ``python tests/resilience/crash_points.py POINT pipeline --date D ...``: it wraps one
function the named step calls (armed only while that step runs, so the n-th call is counted from the start of
the step) and then runs ``python_tasks.cli.main`` with the remaining arguments. When the trap springs it prints
``CRASH-POINT <name>`` and sends itself SIGKILL: the same as ``kill -9`` of the worker at exactly that line, with
no ``finally``, no rollback, no atexit. The points are chosen where wrong code would corrupt state: inside an
open transaction after a DELETE, between writing a new file and renaming it into place, half-way through the
files of a shard.
"""

from __future__ import annotations

import importlib
import os
import re
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MARK = "CRASH-POINT"
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Point:
    """Kill ``when`` (before or after) the ``nth`` call of ``target`` that satisfies ``match``, during ``step``."""

    step: str
    target: str  # "module:attribute" or "module:Class.attribute"
    when: str = "before"
    nth: int = 1
    match: Callable[..., bool] | None = None
    what: str = ""


def _sql(pattern: str) -> Callable[..., bool]:
    regex = re.compile(pattern, re.IGNORECASE | re.DOTALL)
    return lambda _cursor, sql, *args, **kwargs: bool(regex.search(sql))


def _path_arg(position: int, pattern: str) -> Callable[..., bool]:
    regex = re.compile(pattern)
    return lambda *args, **kwargs: len(args) > position and bool(regex.search(str(args[position])))


_DBT_CURSOR = "dbt.adapters.duckdb.environments.local:DuckDBCursorWrapper.execute"

POINTS: dict[str, Point] = {
    # ingest: the delivery's rows are typed, partition D deleted and reloaded, quarantine written: no COMMIT yet
    "raw_load": Point("ingest.facilities", "python_tasks.ingest.load:_count_outcomes",
                      what="inside the raw load's transaction, after DELETE + INSERT of partition D"),
    # ingest: a delivery file copied to its temporary name in landing/, not renamed yet
    "raw_landing": Point("ingest.repayments", "os:replace", match=_path_arg(1, r"/landing/"),
                         what="landing copy written, before its rename"),
    # dbt: the incremental delete+insert of the client profile, after the DELETE, before dbt's COMMIT
    "dbt_incremental": Point("dbt_build", _DBT_CURSOR, when="after",
                             match=_sql(r"\bdelete\s+from\s+\S*\"fct_client_profile\""),
                             what="dbt incremental model after its DELETE, before COMMIT"),
    # dbt: the SCD2 snapshot of the clients, after dbt's MERGE/UPDATE of the history, before COMMIT
    "dbt_snapshot": Point("dbt_build", _DBT_CURSOR, when="after",
                          match=_sql(r"\bupdate\s+\S*\"snap_clients\"\s+as\b"),
                          what="dbt snapshot of the clients after its update, before COMMIT"),
    # clv.prepare: every input file and the manifest written in the work folder, not swapped in yet
    "clv_prepare": Point("clv.prepare", "python_tasks.io.snapshots:replace_dir",
                         what="CLV snapshot written beside its place, before the swap"),
    # clv.value: shard 0 finished, shard 1's result files written, its done.json not yet
    "clv_shard": Point("clv.value", "python_tasks.io.snapshots:write_text_atomic", nth=2,
                       match=_path_arg(0, r"done\.json$"), what="second shard half-written (no done.json)"),
    # clv.merge: client_values and engine_inputs_clients replaced inside the transaction, no COMMIT
    "clv_merge": Point("clv.merge", "python_tasks.clv.job:_replace", nth=3,
                       what="CLV merge inside its transaction, two tables replaced"),
    # clv.merge: committed, the snapshot folder not yet removed
    "clv_merge_committed": Point("clv.merge", "python_tasks.io.snapshots:Snapshot.remove",
                                 what="CLV merge committed, snapshot not removed"),
    # clv_gate: the gate's Data Docs pages written in their work folder, not swapped in
    "gate_docs": Point("clv_gate", "python_tasks.quality.data_docs:replace_dir",
                       what="a gate's Data Docs pages written beside their place, before the swap"),
    # segments.merge: inside the transaction, three tables replaced
    "segments_merge": Point("segments.merge", "python_tasks.segments.job:replace_partition", nth=4,
                            what="segments merge inside its transaction, three tables replaced"),
    # publish: the new serving file half built (three tables inserted, no checkpoint)
    "publish_build": Point("publish", "python_tasks.serving.publish:_insert", nth=3,
                           what="new serving file half built"),
    # publish: new file built and verified, Parquet partitions renamed into place, serving file not renamed
    "publish_swap": Point("publish", "python_tasks.serving.publish:_replace_file",
                          what="between the Parquet swap and the serving file's rename"),
    # publish: the serving file renamed, the folder not yet fsynced, staging not cleaned
    "publish_renamed": Point("publish", "os:replace", when="after", match=_path_arg(1, r"clv_serving\.duckdb$"),
                             what="serving file renamed, staging and trash not cleaned"),
    # report: the report's text written to its temporary name, not renamed
    "report_write": Point("report", "os:replace", match=_path_arg(0, r"\.partial$"),
                          what="report file written to its temporary name"),
    # audit: the evidence bundle written beside its place, not swapped in
    "audit_evidence": Point("audit", "python_tasks.lineage.evidence:replace_dir",
                            what="evidence bundle written beside its place, before the swap"),
    # audit: the dbt docs site copied to its temporary name, not renamed
    "audit_docs": Point("audit", "os:replace", match=_path_arg(0, r"/dbt_docs/.*\.partial$"),
                        what="dbt docs site copied to its temporary name"),
}  # fmt: skip


def die(name: str) -> None:
    print(f"{MARK} {name}", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def _resolve(target: str) -> tuple[object, str]:
    module_name, _, path = target.partition(":")
    owner: object = importlib.import_module(module_name)
    *parents, attribute = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    return owner, attribute


def arm(name: str, point: Point) -> None:
    """Wrap the point's target so that its n-th matching call kills this process."""
    owner, attribute = _resolve(point.target)
    original = getattr(owner, attribute)
    seen = 0

    def trap(*args: object, **kwargs: object) -> object:
        nonlocal seen
        hit = point.match is None or point.match(*args, **kwargs)
        if hit:
            seen += 1
        if hit and seen == point.nth and point.when == "before":
            die(name)
        result = original(*args, **kwargs)
        if hit and seen == point.nth:
            die(name)
        return result

    setattr(owner, attribute, trap)


def install(name: str) -> None:
    """Arm ``name`` when its step starts (``run_pipeline`` takes its steps from ``pipeline.steps``)."""
    from python_tasks.orchestration import pipeline

    point = POINTS[name]
    known = pipeline.steps

    def steps() -> list:
        wrapped = []
        for s in known():
            if s.name == point.step:

                def run(day, run_id, _run=s.run):  # noqa: ANN001, ANN202
                    arm(name, point)
                    return _run(day, run_id)

                s = pipeline.Step(s.name, run)
            wrapped.append(s)
        return wrapped

    pipeline.steps = steps


def main(argv: list[str]) -> int:
    name, *cli_args = argv
    if name not in POINTS:
        raise SystemExit(f"unknown crash point {name!r}; the points are: {', '.join(POINTS)}")
    sys.path.insert(0, str(ROOT))
    install(name)
    from python_tasks.cli import main as cli_main

    return cli_main(cli_args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
