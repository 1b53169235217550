"""The daily run without Airflow: the same task functions as ``dags/clv_daily.py``, in the same order.

``python -m python_tasks pipeline --date D`` runs every step of D in this process; ``--step NAME`` runs one
(the benchmark and the resilience tests run each step in its own process, as Airflow does). Step names are
the DAG's task ids (``ingest.clients``, ``clv.prepare``, ``clv.value``, ...); ``clv.value`` and
``segments.value`` value every shard one after another, where the DAG maps one task per shard.

A step that raises ends the run: the run is closed as ``failed`` (what the DAG's ``audit_on_failure`` does)
and the error is raised again, so nothing after it, ``publish`` included, runs. A test checks that the steps
here are the DAG's tasks in an order its dependencies allow (tests/dags/test_pipeline_steps.py).

One writer at a time: ``run_pipeline`` holds an exclusive lock on ``<CLV_HOME>/pipeline.lock`` for the whole
run (``run_lock``), so two runs on the same deployment (two backfills started by hand) are serialised: the
second logs which run it waits for and starts when the first ends, or gives up with ``RunLockTimeout`` after
``CLV_RUN_LOCK_TIMEOUT`` seconds (default 4 hours). The kernel drops the lock when its process dies, so a
killed run never leaves a stale lock. Under Airflow the one-slot pool and ``max_active_runs=1`` do the same.

Before the first step the run checks its business date (``python_tasks.orchestration.restatement``): a date
whose previous date was never processed is refused (out of order), and so is a rerun of a past date whose
deliveries changed since they were loaded (a late correction: ``python -m python_tasks restate``). See
docs/adr/0007-restatements.md.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from python_tasks.orchestration.sources import internal_sources

log = logging.getLogger(__name__)

StepFunction = Callable[[date, str], object]


@dataclass(frozen=True)
class Step:
    name: str  # the DAG's task id
    run: StepFunction


def _ingest(source: str) -> StepFunction:
    def run(day: date, run_id: str) -> dict:
        from python_tasks.ingest.job import ingest_source

        return ingest_source(source, day, run_id)

    return run


def _freshness_gate(day: date, run_id: str) -> dict:
    from python_tasks.quality.freshness_gate import run_freshness_gate

    return run_freshness_gate(day, run_id)


def _raw_gate(day: date, run_id: str) -> dict:
    from python_tasks.quality.raw_gate import run_raw_gate

    return run_raw_gate(day, run_id)


def _dbt_build(day: date, run_id: str) -> dict:
    from python_tasks.transform.dbt_job import run_dbt_build

    return run_dbt_build(day, run_id)


def _stage_gate(gate: str) -> StepFunction:
    def run(day: date, run_id: str) -> dict:
        from python_tasks.quality.stage_gates import run_stage_gate

        return run_stage_gate(gate, day, run_id)

    return run


def _drift_gate(day: date, run_id: str) -> dict:
    from python_tasks.quality.stage_gates import run_drift_gate

    return run_drift_gate(day, run_id)


def _clv_prepare(day: date, run_id: str) -> dict:
    from python_tasks.clv.sharded import prepare_clv_shards

    return prepare_clv_shards(day, run_id)


def _clv_value(day: date, run_id: str) -> list[dict]:
    from python_tasks.clv.sharded import prepared_shards, value_clv_shard

    return [value_clv_shard(day, run_id, shard) for shard in prepared_shards(day, run_id)]


def _clv_merge(day: date, run_id: str) -> dict:
    from python_tasks.clv.sharded import merge_clv_shards

    return merge_clv_shards(day, run_id)


def _segments_prepare(day: date, run_id: str) -> dict:
    from python_tasks.segments.sharded import prepare_segment_shards

    return prepare_segment_shards(day, run_id)


def _segments_value(day: date, run_id: str) -> list[dict]:
    from python_tasks.segments.sharded import prepared_shards, value_segment_shard

    return [value_segment_shard(day, run_id, shard) for shard in prepared_shards(day, run_id)]


def _segments_merge(day: date, run_id: str) -> dict:
    from python_tasks.segments.sharded import merge_segment_shards

    return merge_segment_shards(day, run_id)


def _reconciliation_gate(day: date, run_id: str) -> dict:
    from python_tasks.quality.reconciliation import run_reconciliation

    return run_reconciliation(day, run_id, published=False)


def _publish(day: date, run_id: str) -> dict:
    from python_tasks.serving.publish import run_publish

    return run_publish(day, run_id)


def _report(day: date, run_id: str) -> str:
    from python_tasks.report.job import build_report

    return str(build_report(day, run_id))


def _summarise(day: date, run_id: str) -> dict:
    from python_tasks.ingest.job import summarise_run

    return summarise_run(day, run_id)


def _audit(day: date, run_id: str) -> dict:
    from python_tasks.lineage.job import close_run

    return close_run(day, run_id, "success")


def steps() -> list[Step]:
    """Every task of ``clv_daily`` in run order."""
    return [
        *(Step(f"ingest.{source}", _ingest(source)) for source in internal_sources()),
        Step("freshness_gate", _freshness_gate),
        Step("raw_gate", _raw_gate),
        Step("dbt_build", _dbt_build),
        Step("profile_gate", _stage_gate("profile")),
        Step("clv.prepare", _clv_prepare),
        Step("clv.value", _clv_value),
        Step("clv.merge", _clv_merge),
        Step("clv_gate", _stage_gate("clv")),
        Step("segments.prepare", _segments_prepare),
        Step("segments.value", _segments_value),
        Step("segments.merge", _segments_merge),
        Step("segments_gate", _stage_gate("segments")),
        Step("drift_gate", _drift_gate),
        Step("reconciliation_gate", _reconciliation_gate),
        Step("publish", _publish),
        Step("report", _report),
        Step("summarise", _summarise),
        Step("audit", _audit),
    ]


def step(name: str) -> Step:
    by_name = {s.name: s for s in steps()}
    if name not in by_name:
        raise SystemExit(f"unknown step {name!r}; the steps are: {', '.join(by_name)}")
    return by_name[name]


def close_failed(day: date, run_id: str) -> None:
    """What the DAG's ``audit_on_failure`` does: the run audit row with status failed."""
    from python_tasks.lineage.job import close_run

    try:
        close_run(day, run_id, "failed")
    except Exception:  # noqa: BLE001 - the step's own error is the one to raise
        log.exception("%s %s: recording the failed run failed too", day, run_id)


LOCK_FILE_NAME = "pipeline.lock"
LOCK_TIMEOUT_VARIABLE = "CLV_RUN_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT_S = 4 * 3600.0
_LOCK_POLL_S = 0.5
_LOCK_LOG_EVERY_S = 60.0


class RunLockTimeout(RuntimeError):
    """Another run held the deployment's run lock for longer than this run was prepared to wait."""


@dataclass
class _HeldLock:
    handle: object
    depth: int


_held: dict[Path, _HeldLock] = {}


def lock_path() -> Path:
    from python_tasks.settings import get_settings

    return get_settings().home / LOCK_FILE_NAME


def lock_timeout() -> float:
    text = os.environ.get(LOCK_TIMEOUT_VARIABLE)
    return float(text) if text else DEFAULT_LOCK_TIMEOUT_S


def _holder(handle) -> str:  # noqa: ANN001 - the open lock file
    handle.seek(0)
    text = handle.read().strip()
    try:
        info = json.loads(text)
    except ValueError:
        return "another run (no details recorded yet)"
    return f"run {info.get('run')} (pid {info.get('pid')} on {info.get('host')}, since {info.get('since')})"


@contextmanager
def run_lock(what: str, *, timeout: float | None = None) -> Iterator[None]:
    """Hold the deployment's run lock while the block runs: one pipeline writer per CLV_HOME.

    Re-entrant within a process (a restatement holds it while it runs each date). ``flock`` rather than a
    pid file: the kernel releases it when the holder dies, even by kill -9, so nothing stale is left.
    """
    path = lock_path()
    held = _held.get(path)
    if held is not None:
        held.depth += 1
        try:
            yield
        finally:
            held.depth -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    limit = lock_timeout() if timeout is None else timeout
    started = time.monotonic()
    last_log = None
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= limit:
                    raise RunLockTimeout(
                        f"{what}: gave up after {waited:.0f} s waiting for {_holder(handle)} to release {path} "
                        f"({LOCK_TIMEOUT_VARIABLE}={limit:g}); run again when it has finished"
                    ) from None
                if last_log is None or time.monotonic() - last_log >= _LOCK_LOG_EVERY_S:
                    log.warning("%s waits for %s to finish (lock %s)", what, _holder(handle), path)
                    last_log = time.monotonic()
                time.sleep(_LOCK_POLL_S)
        if last_log is not None:
            log.info("%s: lock acquired after %.1f s", what, time.monotonic() - started)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"run": what, "pid": os.getpid(), "host": socket.gethostname(),
                                 "since": datetime.now(UTC).isoformat(timespec="seconds")}))  # fmt: skip
        handle.flush()
        _held[path] = _HeldLock(handle, 1)
        try:
            yield
        finally:
            del _held[path]
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


def run_pipeline(
    day: date,
    run_id: str,
    *,
    only: Iterable[str] | None = None,
    on_step: Callable[[str, float, object], None] | None = None,
) -> dict[str, object]:
    """Run the steps of D (all, or those named in ``only``, in run order) in this process; the results by step.

    Holds the run lock for the whole run and refuses a date out of order or a past date with a late
    correction (before any step, so a refused run changes nothing). A step that raises closes the run as
    failed (unless ``only`` names a subset: the caller owns the run then) and raises again.
    """
    from python_tasks.orchestration.restatement import check_run_allowed

    with run_lock(f"{run_id} ({day})"):
        check_run_allowed(day)
        return run_steps(day, run_id, only=only, on_step=on_step)


def run_steps(
    day: date,
    run_id: str,
    *,
    only: Iterable[str] | None = None,
    on_step: Callable[[str, float, object], None] | None = None,
) -> dict[str, object]:
    """The steps of D without the checks; the caller holds the run lock (``run_pipeline``, a restatement)."""
    chosen = steps() if only is None else [step(name) for name in only]
    results: dict[str, object] = {}
    for s in chosen:
        started = time.perf_counter()
        log.info("%s %s: %s", day, run_id, s.name)
        try:
            results[s.name] = s.run(day, run_id)
        except BaseException:
            if only is None:
                close_failed(day, run_id)
            raise
        if on_step is not None:
            on_step(s.name, time.perf_counter() - started, results[s.name])
    return results
