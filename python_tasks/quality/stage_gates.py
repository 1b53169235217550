"""The gates after the raw one: profile (after dbt_build), CLV (after clv), segments (after segments), and
drift (D's portfolio against the last good run, before anything is published).

Each validates its suites (expectations/<gate>.yml) with GX on D's partitions, records every outcome in
``audit.dq_results`` and fails on an error-level check, naming the gate and the checks: the run stops
there, before anything later reads or publishes the outputs.
"""

from __future__ import annotations

import logging
import math
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
    from python_tasks.quality.data_docs import DataDocsTarget
    from python_tasks.quality.gx_engine import QueryBatch, validate_queries

    if gate not in STAGE_GATES:
        raise ValueError(f"unknown gate {gate!r}; stage gates: {STAGE_GATES}")
    day = date.fromisoformat(as_of_date) if isinstance(as_of_date, str) else as_of_date
    settings = get_settings()
    batches = [QueryBatch(s.name, s.query, s.expectations) for s in gate_suites(gate, day)]
    results = validate_queries(settings.warehouse_path, batches, docs=DataDocsTarget(run_id, day, gate))
    return raise_on_failure(record_outcomes(settings.warehouse_path, gate, day, run_id, results))


_METRICS_SQL = """
WITH profile AS (
    SELECT count(*) AS clients, sum(ead_cny)::DOUBLE AS total_ead_cny
    FROM marts.fct_client_profile WHERE as_of_date = $d
), valued AS (
    SELECT count(*) AS client_values_rows,
           sum(clv_cny) FILTER (WHERE scenario = 'baseline') AS total_clv_baseline_cny,
           avg(pit_pd) FILTER (WHERE scenario = 'baseline') AS mean_pit_pd,
           quantile_cont(pit_pd, 0.9) FILTER (WHERE scenario = 'baseline') AS p90_pit_pd
    FROM valuation.client_values WHERE as_of_date = $d
), segmented AS (
    SELECT avg((risk_tier = 'high')::INT) AS share_risk_tier_high,
           avg((value_tier = 'high')::INT) AS share_value_tier_high,
           avg((strategy = 'exit')::INT) AS share_strategy_exit,
           avg((lifecycle_stage = 'declining')::INT) AS share_lifecycle_declining
    FROM segments.client_segments WHERE as_of_date = $d
)
SELECT * FROM profile, valued, segmented
"""


def drift_metrics(con, day: date) -> dict[str, float]:  # noqa: ANN001 - a DuckDB connection
    """The portfolio metrics the drift bounds apply to, for one business date (NaN where absent)."""
    frame = con.execute(_METRICS_SQL, {"d": day}).df()
    return {k: float(v) if v is not None else math.nan for k, v in frame.iloc[0].to_dict().items()}


def last_good_run(con, day: date) -> date | None:  # noqa: ANN001
    """The latest earlier business date that was segmented and whose recorded gates have no failed
    error-level check in the run that produced it."""
    row = con.execute(
        """
        SELECT max(r.as_of_date) FROM segments.runs AS r
        WHERE r.as_of_date < $d AND NOT EXISTS (
            SELECT 1 FROM audit.dq_results AS q
            WHERE q.as_of_date = r.as_of_date AND q.run_id = r.run_id AND q.severity = 'error' AND NOT q.success)
        """,
        {"d": day},
    ).fetchone()
    return row[0] if row else None


def run_drift_gate(as_of_date: str | date, run_id: str) -> dict:
    """D's metrics against the last good run's (expectations/drift.yml): record, warn, or stop."""
    from python_tasks.io import warehouse
    from python_tasks.quality.data_docs import DataDocsTarget, update_data_docs
    from python_tasks.quality.drift import compare, load_bounds

    day = date.fromisoformat(as_of_date) if isinstance(as_of_date, str) else as_of_date
    settings = get_settings()
    bounds = load_bounds()
    with warehouse.connect(settings.warehouse_path, read_only=True) as con:
        baseline = last_good_run(con, day)
        current = drift_metrics(con, day)
        previous = drift_metrics(con, baseline) if baseline is not None else None
    if previous is None:
        log.info("drift gate %s: no earlier good run to compare with; nothing to check", day)
        results = {}
    else:
        results = {"drift.portfolio": compare(previous, current, bounds, baseline)}
        log.info("drift gate %s against %s: %s", day, baseline,
                 {k: (round(previous[k], 6), round(current[k], 6)) for k in bounds if k in current})  # fmt: skip
    summary = record_outcomes(settings.warehouse_path, "drift", day, run_id, results)
    update_data_docs(DataDocsTarget(run_id, day, "drift"), database=settings.warehouse_path)  # the index only
    return {**raise_on_failure(summary), "baseline_date": baseline.isoformat() if baseline else None}
