"""Drift of the portfolio against the last good run: each configured metric may move within a warn bound
(recorded) and must stay within a stop bound (the run stops), expectations/drift.yml.

Pure: metrics in, outcomes out (the same ``Outcome`` the GX gates record, so every check of every gate is
in ``audit.dq_results`` in one shape). A change beyond a bound names the metric, the old and the new value,
the change and the bound.
"""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from python_tasks.quality.results import Outcome
from python_tasks.quality.suites import EXPECTATIONS_DIR, Expectation

EXPECTATION_TYPE = "expect_metric_to_stay_within_drift_bound"


class Bound(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["relative", "absolute"]
    warn: float = Field(ge=0)
    stop: float = Field(ge=0)
    floor: float = Field(default=1e-12, gt=0)
    #: below this many clients on D a distribution metric (a mean, a percentile, a share) is sampling noise
    #: as much as drift: its stop bound is then recorded as a warning and does not stop the run
    min_clients: int = Field(default=0, ge=0)
    why: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> Bound:
        if self.warn > self.stop:
            raise ValueError("warn must not exceed stop")
        return self


def load_bounds(path: Path | None = None) -> dict[str, Bound]:
    """The metrics and their bounds; a bad entry fails naming the metric and field."""
    path = path or EXPECTATIONS_DIR / "drift.yml"
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if spec.get("gate") != "drift":
        raise ValueError(f"{path}: gate must be drift")
    out = {}
    for name, body in (spec.get("metrics") or {}).items():
        try:
            out[name] = Bound.model_validate(body)
        except ValidationError as exc:
            raise ValueError(f"{path}: metric {name}: {exc.errors()[0]['msg']} ({exc.errors()[0]['loc']})") from exc
    return out


def change(previous: float, current: float, bound: Bound) -> float:
    """The change the bound limits: relative to max(|previous|, floor), or absolute."""
    diff = abs(current - previous)
    return diff / max(abs(previous), bound.floor) if bound.kind == "relative" else diff


def compare(
    previous: dict[str, float], current: dict[str, float], bounds: dict[str, Bound], baseline_date: date
) -> list[Outcome]:
    """Two outcomes per metric (the warn bound, then the stop bound); a metric missing on either side fails
    its stop bound (it cannot be compared, so it cannot be trusted)."""
    outcomes = []
    clients = current.get("clients")
    for name, bound in bounds.items():
        old, new = previous.get(name), current.get(name)
        comparable = old is not None and new is not None and math.isfinite(old) and math.isfinite(new)
        moved = change(old, new, bound) if comparable else math.inf
        too_few = bound.min_clients > 0 and (clients is None or clients < bound.min_clients)
        for is_stop, severity, limit in ((False, "warn", bound.warn),
                                         (True, "warn" if too_few else "error", bound.stop)):  # fmt: skip
            kwargs = {"column": name, "kind": bound.kind, "max_change": limit, "baseline_date": baseline_date}
            observed = {"previous": old, "current": new, "change": None if not comparable else round(moved, 6),
                        "bound": limit, "kind": bound.kind, "baseline_date": baseline_date.isoformat()}  # fmt: skip
            if too_few and is_stop:
                observed["enforced"] = f"no: {clients} clients, fewer than min_clients {bound.min_clients}"
            ok = moved <= limit
            outcomes.append(Outcome(
                expectation=Expectation(EXPECTATION_TYPE, kwargs, severity, rule=f"drift:{name}",
                                        meta={"why": bound.why} if bound.why else {}),
                success=ok, element_count=1, unexpected_count=0 if ok else 1, unexpected_percent=0.0 if ok else 100.0,
                observed_value=json.dumps(observed), unexpected_sample=[],
                exception=None if comparable else "metric missing in the current or the baseline run",
            ))  # fmt: skip
    return outcomes
