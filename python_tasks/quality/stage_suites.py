"""Suites of the gates after the raw one (profile, CLV, segments): each a query over D's partition of an
output table and the expectations on its result, in ``expectations/<gate>.yml`` (GX's own type/kwargs
shape, a severity, ``meta.why`` for the reader of the results).

Pure and free of GX imports. A query names its business date as ``{as_of_date}``, rendered from a ``date``
object (GX query assets take SQL text, not parameters; nothing from input data reaches the SQL). Checks
that need a row-wise formula (components adding up to the CLV, an offer the rules forbid) compute it in the
query as a column and expect that column's values; each assertion lives in one place: a dbt test on a
model is not repeated here (docs/quality.md lists which gate checks what).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml

from python_tasks.quality.suites import EXPECTATIONS_DIR, Expectation

STAGE_GATES = ("profile", "clv", "segments")


@dataclass(frozen=True)
class StageSuite:
    name: str
    query: str
    expectations: list[Expectation]


def _sql_date(day: date) -> str:
    return f"DATE '{date(day.year, day.month, day.day).isoformat()}'"


def stage_suites(gate: str, as_of_date: date, path: Path | None = None, **placeholders: str) -> list[StageSuite]:
    """The suites of ``gate`` for D, queries rendered; extra SQL fragments (built from configuration by the
    caller, never from data) fill further ``{placeholders}``."""
    if gate not in STAGE_GATES:
        raise ValueError(f"unknown gate {gate!r}; stage gates: {STAGE_GATES}")
    path = path or EXPECTATIONS_DIR / f"{gate}.yml"
    with path.open(encoding="utf-8") as fh:
        spec = yaml.safe_load(fh) or {}
    if spec.get("gate") != gate:
        raise ValueError(f"{path}: gate is {spec.get('gate')!r}, expected {gate!r}")
    default = spec.get("default_severity", "error")
    suites = []
    for name, body in (spec.get("suites") or {}).items():
        if not name.startswith(f"{gate}."):
            raise ValueError(f"{path}: suite {name} must start with '{gate}.'")
        missing = [k for k in ("query", "expectations") if k not in (body or {})]
        if missing:
            raise ValueError(f"{path}: suite {name} lacks {missing}")
        query = body["query"].format(as_of_date=_sql_date(as_of_date), **placeholders)
        items = [
            Expectation(i["type"], dict(i["kwargs"]), i.get("severity", default), meta=i.get("meta", {}))
            for i in body["expectations"]
        ]
        bad = [e.severity for e in items if e.severity not in ("error", "warn")]
        if bad:
            raise ValueError(f"{path}: suite {name}: severity must be error or warn, not {bad}")
        suites.append(StageSuite(name, query, items))
    return suites
