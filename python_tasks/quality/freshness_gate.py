"""The freshness gate, right after the ingest tasks: every internal source delivered for D (by the load
ledger), external data within its cadence (by the raw partitions known at D); expectations/freshness.yml.

Records every outcome in ``audit.dq_results`` (gate ``freshness``); a failed check of a ``stop`` source
raises ``GateFailed`` naming the source, the deadline or the age, and the run stops before the raw gate.
No GX: the checks are on the ledger and two small aggregates, so the task costs well under a second.
"""

from __future__ import annotations

import logging
from datetime import date

from python_tasks.contracts import load_contract
from python_tasks.contracts.render import quote_identifier, raw_table_name
from python_tasks.io import warehouse
from python_tasks.quality.data_docs import DataDocsTarget, update_data_docs
from python_tasks.quality.freshness import (
    DeliveryState,
    ExternalState,
    FreshnessRules,
    default_rules,
    delivery_outcomes,
    external_outcomes,
)
from python_tasks.quality.results import raise_on_failure, record_outcomes
from python_tasks.settings import get_settings

log = logging.getLogger(__name__)
GATE = "freshness"


def delivery_states(con, day: date) -> dict[str, DeliveryState]:  # noqa: ANN001 - a DuckDB connection
    """Each source's delivery for D from the load ledger: the latest attempt that loaded it (any run: a
    rerun that loaded the late file counts; a later attempt that found nothing does not undo a load, it
    leaves the partition as it was), else the latest that found it unchanged, else the latest attempt.

    An attempt is one call of the load (its ledger rows share ``started_at``), not one run: a task retried in
    the same run (a worker killed after the load committed) adds an attempt, whose files must not add up
    with the first one's."""
    rows = con.execute(
        """
        WITH attempts AS (
            SELECT run_id, source, max(finished_at) AS recorded_at, count(file_name) AS files,
                   sum(rows_in) AS rows_in,
                   -- a run that loaded some files and found others duplicate still delivered
                   CASE WHEN bool_or(status = 'loaded') THEN 'loaded'
                        WHEN bool_and(status = 'unchanged') THEN 'unchanged'
                        ELSE min(status) END AS status,
                   string_agg(DISTINCT message, '; ') AS message
            FROM audit.load_ledger WHERE as_of_date = $d
            GROUP BY run_id, source, started_at
        )
        SELECT source, status, files, rows_in, recorded_at, message FROM attempts
        QUALIFY row_number() OVER (
            PARTITION BY source ORDER BY status = 'loaded' DESC, status = 'unchanged' DESC, recorded_at DESC) = 1
        """,
        {"d": day},
    ).fetchall()
    return {r[0]: DeliveryState(r[0], r[1], int(r[2]), int(r[3] or 0), r[4], r[5]) for r in rows}


def external_states(con, rules: FreshnessRules, day: date) -> dict[str, ExternalState]:  # noqa: ANN001
    """Each external source's latest partition on or before D and the latest period of data in it."""
    states = {}
    for source, rule in rules.external.items():
        contract = load_contract(source)
        if rule.date_column not in contract.column_names:
            raise ValueError(f"expectations/freshness.yml: {source} has no column {rule.date_column}")
        column = quote_identifier(rule.date_column)
        actuals = f"({rule.actuals}) AND " if rule.actuals else ""
        latest_delivery, latest_data = con.execute(
            f"SELECT max(_as_of_date), max({column}) FILTER (WHERE {actuals}{column} <= $d) "  # noqa: S608 - from the contract and the rules file
            f"FROM {raw_table_name(contract)} WHERE _as_of_date <= $d",
            {"d": day},
        ).fetchone()
        states[source] = ExternalState(source, latest_delivery, latest_data)
    return states


def run_freshness_gate(as_of_date: str | date, run_id: str) -> dict:
    """Check D's deliveries and the external data's age; record every outcome; stop on a ``stop`` source."""
    day = date.fromisoformat(as_of_date) if isinstance(as_of_date, str) else as_of_date
    settings = get_settings()
    rules = default_rules()
    with warehouse.connect(settings.warehouse_path, read_only=True) as con:
        deliveries = delivery_states(con, day)
        external = external_states(con, rules, day)
    results = {
        "freshness.deliveries": delivery_outcomes(rules, deliveries, day),
        "freshness.external": external_outcomes(rules, external, day),
    }
    for state in external.values():
        log.info("%s: latest delivery %s, latest data %s", state.source, state.latest_delivery, state.latest_data)
    summary = record_outcomes(settings.warehouse_path, GATE, day, run_id, results)
    update_data_docs(DataDocsTarget(run_id, day, GATE), database=settings.warehouse_path)
    return raise_on_failure(summary)
