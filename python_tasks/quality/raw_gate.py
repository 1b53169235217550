"""The raw gate: each partition this run loaded is validated with its GX suite and every result recorded.

Runs once per DAG run after all ingest tasks (one GX import, one pass). Results go to
``audit.dq_results`` and to the run's GX Data Docs (``data_docs``); a failed error-level expectation fails
the task, which stops the run before any later stage can publish.
"""

from __future__ import annotations

import logging
from datetime import date

from python_tasks.contracts import load_contract
from python_tasks.contracts.model import Contract
from python_tasks.contracts.render import raw_table_name
from python_tasks.io import warehouse
from python_tasks.quality.data_docs import DataDocsTarget
from python_tasks.quality.results import GateFailed, raise_on_failure, record_outcomes
from python_tasks.quality.suites import raw_suite
from python_tasks.settings import get_settings

log = logging.getLogger(__name__)
GATE = "raw"
__all__ = ["GATE", "GateFailed", "partition_query", "run_raw_gate"]


def partition_query(contract: Contract, as_of_date: date) -> str:
    """``SELECT`` of partition D with the contract's columns only, decimals as DOUBLE (as GX compares them).

    GX query assets take SQL text, not parameters: the date is rendered from a ``date`` object and the
    identifiers come from the contract.
    """
    selected = []
    for col in contract.columns:
        name = f'"{col.name}"'
        selected.append(f"CAST({name} AS DOUBLE) AS {name}" if col.type.startswith("DECIMAL") else name)
    day = date(as_of_date.year, as_of_date.month, as_of_date.day).isoformat()
    return f"SELECT {', '.join(selected)} FROM {raw_table_name(contract)} WHERE _as_of_date = DATE '{day}'"


def run_raw_gate(as_of_date: str | date, run_id: str) -> dict:
    """Validate every source partition loaded by ``run_id`` for D; record the results; raise on an error."""
    from python_tasks.quality.gx_engine import QueryBatch, validate_queries

    day = date.fromisoformat(as_of_date) if isinstance(as_of_date, str) else as_of_date
    settings = get_settings()
    with warehouse.connect(settings.warehouse_path, read_only=True) as con:
        sources = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT source FROM audit.load_ledger WHERE run_id = $r AND as_of_date = $d "
                "AND status IN ('loaded', 'unchanged') ORDER BY source",
                {"r": run_id, "d": day},
            ).fetchall()
        ]
    # GX opens the file read-only on its own and has closed it again when validate_queries returns,
    # so the read-write connection below can open it (DuckDB: one configuration per file and process).
    batches = []
    for source in sources:
        contract = load_contract(source)
        batches.append(QueryBatch(f"raw.{source}", partition_query(contract, day), raw_suite(contract, day)))
    results = validate_queries(settings.warehouse_path, batches, docs=DataDocsTarget(run_id, day, GATE))
    return raise_on_failure(record_outcomes(settings.warehouse_path, GATE, day, run_id, results))
