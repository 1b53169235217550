"""Record a gate's expectation outcomes in ``audit.dq_results`` and decide whether the run may go on.

Every gate (raw, profile, CLV, segments) records every outcome of every run, error-level or not, so BI
and compliance can browse them; a failed error-level expectation then raises ``GateFailed`` naming the
gate, the suites and the failed checks, which stops the run before anything later can publish.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from python_tasks.io import warehouse
from python_tasks.quality.suites import Expectation

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    expectation: Expectation
    success: bool
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: float | None
    observed_value: str | None
    unexpected_sample: list[Any]
    exception: str | None


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()[:10] if getattr(value, "hour", 0) == 0 else value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def kwargs_json(expectation: Expectation) -> str:
    return json.dumps(jsonable(expectation.kwargs), ensure_ascii=False, sort_keys=True)


class GateFailed(RuntimeError):
    """An error-level expectation failed; the message names the gate, the suites and the failed checks."""


@dataclass(frozen=True)
class GateSummary:
    gate: str
    as_of_date: date
    run_id: str
    suites: int
    expectations: int
    failures: list[str]
    warnings: list[str]

    def as_dict(self) -> dict:
        return {
            "gate": self.gate, "as_of_date": self.as_of_date.isoformat(), "run_id": self.run_id,
            "suites": self.suites, "expectations": self.expectations, "failed_errors": len(self.failures),
            "failed_warnings": len(self.warnings),
        }  # fmt: skip


def _line(suite: str, outcome) -> str:  # noqa: ANN001 - gx_engine.Outcome
    e = outcome.expectation
    return (
        f"{suite}: {e.type}({e.column or ''}) unexpected {outcome.unexpected_count}"
        + (f" of {outcome.element_count}" if outcome.element_count is not None else "")
        + (f" e.g. {outcome.unexpected_sample[:3]}" if outcome.unexpected_sample else "")
        + (f" observed {outcome.observed_value}" if outcome.observed_value and not outcome.unexpected_sample else "")
        + (f" [{outcome.exception}]" if outcome.exception else "")
        + (f" — {e.meta['why']}" if e.meta.get("why") else "")
    )


def record_outcomes(database: Path, gate: str, day: date, run_id: str, results: dict[str, list]) -> GateSummary:
    """Replace this run's results of ``gate`` for D with ``results`` (suite → outcomes) and summarise."""
    evaluated_at = datetime.now(UTC)
    rows, failures, warnings = [], [], []
    for suite, outcomes in results.items():
        for o in outcomes:
            e = o.expectation
            rows.append((
                run_id, day, gate, suite, e.type, e.column, kwargs_json(e), e.rule, e.severity, o.success,
                o.observed_value, o.element_count, o.unexpected_count, o.unexpected_percent,
                json.dumps(o.unexpected_sample, ensure_ascii=False, default=str), o.exception, evaluated_at,
            ))  # fmt: skip
            if not o.success:
                (failures if e.severity == "error" else warnings).append(_line(suite, o))
        log.info(
            "%s: %s rows, %d expectations, %d failed", suite,
            next((o.element_count for o in outcomes if o.element_count is not None), "?"), len(outcomes),
            sum(not o.success for o in outcomes),
        )  # fmt: skip
    with warehouse.connect(database) as con:
        con.execute("BEGIN TRANSACTION")
        con.execute(
            "DELETE FROM audit.dq_results WHERE run_id = $r AND gate = $g AND as_of_date = $d",
            {"r": run_id, "g": gate, "d": day},
        )
        if rows:
            con.executemany(
                "INSERT INTO audit.dq_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
            )
        con.execute("COMMIT")
    for w in warnings:
        log.warning("warn-level check failed: %s", w)
    return GateSummary(gate, day, run_id, len(results), len(rows), failures, warnings)


def raise_on_failure(summary: GateSummary) -> dict:
    """The summary as a dict, or GateFailed when an error-level check failed."""
    if summary.failures:
        raise GateFailed(
            f"{summary.gate} gate failed for {summary.as_of_date} ({len(summary.failures)} error-level checks):\n"
            + "\n".join(summary.failures)
        )
    return summary.as_dict()
