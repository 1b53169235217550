"""Airflow assets shared by the DAGs: one definition, so producer and consumer cannot drift apart.

Imports ``airflow.sdk``; only DAG files import this module.
"""

from __future__ import annotations

from airflow.sdk import Asset

#: Emitted by ``clv_external_monthly`` after a new external delivery (macro and industry indicators) has
#: been loaded; its event extra carries ``as_of_date``. ``clv_daily`` is scheduled on it, so new external
#: data triggers a recomputation of the latest business date.
EXTERNAL_INDICATORS = Asset(name="clv_external_indicators", uri="clv://raw/external_indicators")

#: Load statuses (``ingest_source(...)["status"]``) that mean the warehouse already held this data.
NOTHING_NEW_STATUSES = frozenset({"unchanged", "duplicate"})


def sources_with_new_data(loads: list[dict]) -> list[str]:
    """The sources whose load brought data the warehouse did not hold yet (a rerun or a re-delivery
    of the same files does not), so that an unchanged delivery does not trigger a recomputation."""
    return [load["source"] for load in loads if load.get("status") not in NOTHING_NEW_STATUSES]
