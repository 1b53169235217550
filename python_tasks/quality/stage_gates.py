"""The gates after the raw one: profile (after dbt_build), CLV (after clv), segments (after segments).

Each validates its suites (expectations/<gate>.yml) with GX on D's partitions, records every outcome in
``audit.dq_results`` and fails on an error-level check, naming the gate and the checks: the run stops
there, before anything later reads or publishes the outputs.
"""

from __future__ import annotations

import logging
from datetime import date

from python_tasks.quality.results import raise_on_failure, record_outcomes
from python_tasks.quality.stage_suites import STAGE_GATES, StageSuite, stage_suites
from python_tasks.settings import get_settings

log = logging.getLogger(__name__)


def _literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def segments_placeholders() -> dict[str, str]:
    """The rules in force as SQL literals: forbidden (risk tier, offer) pairs and the strategies that take
    no offer (from the approved rules file and the product catalogue, never from data)."""
    import pandas as pd

    from python_tasks.segments.params import load_segment_params
    from python_tasks.segments.recommend import forbidden_offers
    from python_tasks.settings import SEEDS_DIR

    settings = get_settings()
    params = load_segment_params(settings.segment_rules_path, mode=settings.mode)
    catalogue = pd.read_csv(SEEDS_DIR / "ref_products.csv")[["product_code", "product_family", "is_credit"]]
    pairs = [(tier, offer) for tier, offers in forbidden_offers(params.next_best_offer, catalogue).items()
             for offer in sorted(offers)]  # fmt: skip
    values = ", ".join(f"({_literal(t)}, {_literal(o)})" for t, o in pairs) or "('', '')"
    strategies = ", ".join(_literal(s) for s in params.next_best_offer.no_offer_strategies) or "''"
    return {"forbidden_offers": values, "no_offer_strategies": strategies}


def gate_suites(gate: str, day: date) -> list[StageSuite]:
    """The rendered suites of a stage gate for D."""
    extra = segments_placeholders() if gate == "segments" else {}
    return stage_suites(gate, day, **extra)


def run_stage_gate(gate: str, as_of_date: str | date, run_id: str) -> dict:
    """Validate ``gate``'s suites on D, record every outcome, raise GateFailed on an error-level failure."""
    from python_tasks.quality.gx_engine import QueryBatch, validate_queries

    if gate not in STAGE_GATES:
        raise ValueError(f"unknown gate {gate!r}; stage gates: {STAGE_GATES}")
    day = date.fromisoformat(as_of_date) if isinstance(as_of_date, str) else as_of_date
    settings = get_settings()
    batches = [QueryBatch(s.name, s.query, s.expectations) for s in gate_suites(gate, day)]
    results = validate_queries(settings.warehouse_path, batches)
    return raise_on_failure(record_outcomes(settings.warehouse_path, gate, day, run_id, results))
