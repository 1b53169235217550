"""Freshness of D's data: each internal source's delivery for D by its deadline, and external data no older
than its cadence allows (expectations/freshness.yml); the policy of each source decides warn or stop.

Pure apart from reading the rules file: states in, outcomes out (the ``Outcome`` every gate records, so
the freshness checks sit in ``audit.dq_results`` beside the others). Cheap to import (no GX, no DuckDB):
the ingest job asks :func:`deadline_passed` before it records a delivery as missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from python_tasks.quality.results import Outcome
from python_tasks.quality.suites import EXPECTATIONS_DIR, Expectation

FRESHNESS_FILE = EXPECTATIONS_DIR / "freshness.yml"
DELIVERY_EXPECTATION = "expect_delivery_by_deadline"
DELIVERY_AGE_EXPECTATION = "expect_latest_delivery_within_cadence"
DATA_AGE_EXPECTATION = "expect_latest_data_within_cadence"
#: Ledger statuses that mean D's delivery is in the warehouse (a rerun of the same files is ``unchanged``).
DELIVERED_STATUSES = frozenset({"loaded", "unchanged"})

Policy = Literal["warn", "stop"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Due(_Strict):
    days_after: int = Field(ge=0, le=31)
    time: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class DeliveryRule(_Strict):
    policy: Policy
    due: Due | None = None
    why: str = ""


class Deliveries(_Strict):
    due: Due
    sources: dict[str, DeliveryRule]


class CadenceRule(_Strict):
    cadence: Literal["daily", "monthly", "quarterly", "yearly"]
    date_column: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    actuals: str | None = None
    max_delivery_age_days: int = Field(gt=0)
    max_data_age_days: int = Field(gt=0)
    policy: Policy
    why: str = ""


class FreshnessRules(_Strict):
    gate: Literal["freshness"]
    timezone: str
    deliveries: Deliveries
    external: dict[str, CadenceRule]

    def due(self, source: str) -> Due:
        return self.deliveries.sources[source].due or self.deliveries.due


def load_rules(path: Path | None = None, *, internal: list[str] | None = None,
               external: list[str] | None = None) -> FreshnessRules:  # fmt: skip
    """The rules file, validated; with the contracts' source lists, each source must appear exactly once."""
    path = path or FRESHNESS_FILE
    try:
        rules = FreshnessRules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        ZoneInfo(rules.timezone)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"{path}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from exc
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path}: timezone: {exc}") from exc
    for kind, configured, expected in (("deliveries.sources", rules.deliveries.sources, internal),
                                       ("external", rules.external, external)):  # fmt: skip
        if expected is None:
            continue
        missing, unknown = sorted(set(expected) - set(configured)), sorted(set(configured) - set(expected))
        if missing or unknown:
            raise ValueError(
                f"{path}: {kind} must list every source of the contracts once"
                + (f"; no policy for {missing}" if missing else "") + (f"; unknown {unknown}" if unknown else "")
            )
    return rules


@cache
def default_rules() -> FreshnessRules:
    """expectations/freshness.yml checked against the contracts' sources (read once per process)."""
    from python_tasks.orchestration.sources import external_sources, internal_sources

    return load_rules(internal=internal_sources(), external=external_sources())


def deadline(rules: FreshnessRules, source: str, day: date) -> datetime:
    """When ``source``'s delivery for business date D is due (timezone-aware)."""
    due = rules.due(source)
    hour, minute = map(int, due.time.split(":"))
    return datetime.combine(day + timedelta(days=due.days_after), time(hour, minute), ZoneInfo(rules.timezone))


def deadline_passed(rules: FreshnessRules, source: str, day: date, now: datetime) -> bool:
    return now >= deadline(rules, source, day)


@dataclass(frozen=True)
class DeliveryState:
    """What the load ledger says about one internal source's delivery for D (the latest attempt)."""

    source: str
    status: str | None  # None: no attempt recorded
    files: int = 0
    rows_in: int = 0
    recorded_at: datetime | None = None
    message: str | None = None


@dataclass(frozen=True)
class ExternalState:
    """The latest delivery (partition date) of an external source on or before D and the latest period of
    data it holds (None: never delivered)."""

    source: str
    latest_delivery: date | None
    latest_data: date | None


def _severity(policy: Policy) -> str:
    return "error" if policy == "stop" else "warn"


def _outcome(expectation: Expectation, ok: bool, observed: dict, exception: str | None = None) -> Outcome:
    return Outcome(
        expectation=expectation, success=ok, element_count=1, unexpected_count=0 if ok else 1,
        unexpected_percent=0.0 if ok else 100.0, observed_value=json.dumps(observed, ensure_ascii=False, default=str),
        unexpected_sample=[], exception=exception,
    )  # fmt: skip


def delivery_outcomes(rules: FreshnessRules, states: dict[str, DeliveryState], day: date) -> list[Outcome]:
    """One outcome per internal source: delivered for D (loaded, or unchanged on a rerun), or not."""
    outcomes = []
    for source, rule in rules.deliveries.sources.items():
        state = states.get(source) or DeliveryState(source, None)
        due = deadline(rules, source, day)
        ok = state.status in DELIVERED_STATUSES
        observed = {"status": state.status or "not attempted", "deadline": due.isoformat(), "files": state.files,
                    "rows_in": state.rows_in, "recorded_at": state.recorded_at, "message": state.message}  # fmt: skip
        expectation = Expectation(DELIVERY_EXPECTATION, {"source": source, "as_of_date": day, "deadline": due},
                                  _severity(rule.policy), rule=f"freshness:{source}",
                                  meta={"why": rule.why} if rule.why else {})  # fmt: skip
        problem = None if ok else {
            None: f"no delivery of {source} for {day} was attempted by this run",
            "missing": f"no delivery of {source} for {day} by the deadline {due:%Y-%m-%d %H:%M %Z}",
            "duplicate": f"the delivery of {source} for {day} repeats an earlier delivery: nothing new for {day}",
        }.get(state.status, f"the delivery of {source} for {day} ended {state.status}")  # fmt: skip
        outcomes.append(_outcome(expectation, ok, observed, problem))
    return outcomes


def external_outcomes(rules: FreshnessRules, states: dict[str, ExternalState], day: date) -> list[Outcome]:
    """Two outcomes per external source: the latest delivery's age and the latest data period's age at D."""
    outcomes = []
    for source, rule in rules.external.items():
        state = states.get(source) or ExternalState(source, None, None)
        meta = {"why": rule.why} if rule.why else {}
        for expectation_type, latest, limit, what in (
            (DELIVERY_AGE_EXPECTATION, state.latest_delivery, rule.max_delivery_age_days, "delivery"),
            (DATA_AGE_EXPECTATION, state.latest_data, rule.max_data_age_days, f"{rule.date_column}"),
        ):
            age = (day - latest).days if latest is not None else None
            ok = age is not None and age <= limit
            kwargs = {"source": source, "cadence": rule.cadence, "max_age_days": limit, "as_of_date": day}
            if expectation_type == DATA_AGE_EXPECTATION:
                kwargs |= {"column": rule.date_column, "actuals": rule.actuals}
            expectation = Expectation(expectation_type, kwargs, _severity(rule.policy),
                                      rule=f"freshness:{source}", meta=meta)  # fmt: skip
            observed = {"latest": latest, "age_days": age, "max_age_days": limit, "cadence": rule.cadence}
            problem = None
            if latest is None:
                problem = f"{source}: no {what} known on or before {day}"
            elif not ok:
                problem = f"{source}: latest {what} {latest} is {age} days old at {day}, more than {limit} ({rule.cadence})"
            outcomes.append(_outcome(expectation, ok, observed, problem))
    return outcomes
