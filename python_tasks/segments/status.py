"""What the segmentation holds: one line per business date, for the status command and the demo."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from python_tasks.io.warehouse import table_exists


@dataclass(frozen=True)
class SegmentDate:
    as_of_date: date
    clients: int
    value_tiers: str  # high/mid/low counts
    strategies: str  # grow/maintain/monitor/restructure/exit counts
    clusters: int
    offers: int
    signals_new: int
    signals_active: int
    signals_closed: int
    watch_list: int
    params_version: str


def segments_by_date(con: duckdb.DuckDBPyConnection, limit: int = 5) -> list[SegmentDate]:
    """The latest ``limit`` segmentation runs (empty before the first)."""
    exists = table_exists(con, "segments", "runs")
    if not exists:
        return []
    rows = con.execute(
        """
        SELECT r.as_of_date, r.clients,
               concat_ws('/', count(*) FILTER (WHERE s.value_tier = 'high'), count(*) FILTER (WHERE s.value_tier = 'mid'),
                         count(*) FILTER (WHERE s.value_tier = 'low')),
               concat_ws('/', count(*) FILTER (WHERE s.strategy = 'grow'), count(*) FILTER (WHERE s.strategy = 'maintain'),
                         count(*) FILTER (WHERE s.strategy = 'monitor'), count(*) FILTER (WHERE s.strategy = 'restructure'),
                         count(*) FILTER (WHERE s.strategy = 'exit')),
               r.clusters, count(s.next_best_offer), r.signals_new, r.signals_active, r.signals_closed,
               r.watch_list_clients, r.params_version
        FROM segments.runs AS r
        JOIN segments.client_segments AS s USING (as_of_date)
        WHERE r.as_of_date IN (SELECT as_of_date FROM segments.runs ORDER BY as_of_date DESC LIMIT $limit)
        GROUP BY ALL
        ORDER BY r.as_of_date
        """,
        {"limit": limit},
    ).fetchall()
    return [SegmentDate(*r) for r in rows]
