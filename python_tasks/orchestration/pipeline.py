"""The daily run without Airflow: the same task functions as ``dags/clv_daily.py``, in the same order.

``python -m python_tasks pipeline --date D`` runs every step of D in this process; ``--step NAME`` runs one
(the benchmark and the resilience tests run each step in its own process, as Airflow does). Step names are
the DAG's task ids (``ingest.clients``, ``clv.prepare``, ``clv.value``, ...); ``clv.value`` and
``segments.value`` value every shard one after another, where the DAG maps one task per shard.

A step that raises ends the run: the run is closed as ``failed`` (what the DAG's ``audit_on_failure`` does)
and the error is raised again, so nothing after it, ``publish`` included, runs. A test checks that the steps
here are the DAG's tasks in an order its dependencies allow (tests/dags/test_pipeline_steps.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

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


def run_pipeline(
    day: date,
    run_id: str,
    *,
    only: Iterable[str] | None = None,
    on_step: Callable[[str, float, object], None] | None = None,
) -> dict[str, object]:
    """Run the steps of D (all, or those named in ``only``, in run order) in this process; the results by step.

    A step that raises closes the run as failed (unless ``only`` names a subset: the caller owns the run
    then) and raises again.
    """
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
