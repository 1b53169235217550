"""What the warehouse holds: partitions per source, the last runs, quarantine counts."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from python_tasks.io.warehouse import table_exists


@dataclass(frozen=True)
class SourceStatus:
    source: str
    partitions: int
    first_date: str | None
    last_date: str | None
    rows: int
    quarantined: int
    last_status: str | None
    last_run_id: str | None


def source_status(con: duckdb.DuckDBPyConnection, sources: list[str]) -> list[SourceStatus]:
    """One line per source, read from the raw tables, the quarantine and the load ledger."""
    out = []
    for source in sources:
        parts, first, last, rows = con.execute(
            f'SELECT count(DISTINCT _as_of_date), min(_as_of_date), max(_as_of_date), count(*) FROM raw."{source}"'
        ).fetchone()
        quarantined = con.execute("SELECT count(*) FROM audit.quarantine WHERE source = $s", {"s": source}).fetchone()[
            0
        ]
        last_run = con.execute(
            "SELECT status, run_id FROM audit.load_ledger WHERE source = $s ORDER BY finished_at DESC LIMIT 1",
            {"s": source},
        ).fetchone()
        out.append(
            SourceStatus(
                source,
                parts,
                first.isoformat() if first else None,
                last.isoformat() if last else None,
                rows,
                quarantined,
                last_run[0] if last_run else None,
                last_run[1] if last_run else None,
            )
        )
    return out


def recent_runs(con: duckdb.DuckDBPyConnection, limit: int = 10) -> list[tuple]:
    """The latest runs with their business date, sources, counts and whether any file was rejected."""
    return con.execute(
        """
        SELECT run_id, min(as_of_date) AS as_of_date, count(DISTINCT source) AS sources, sum(rows_loaded),
               sum(rows_quarantined), count(*) FILTER (status = 'rejected') AS rejected_files, max(finished_at)
        FROM audit.load_ledger GROUP BY run_id ORDER BY max(finished_at) DESC LIMIT $n
        """,
        {"n": limit},
    ).fetchall()


def quarantine_by_rule(con: duckdb.DuckDBPyConnection, limit: int = 20) -> list[tuple]:
    return con.execute(
        "SELECT source, rule, count(*) FROM audit.quarantine GROUP BY ALL ORDER BY 3 DESC, 1, 2 LIMIT $n", {"n": limit}
    ).fetchall()


def last_dbt_build(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """Status counts of the latest dbt build (run, business date, resource type, status, nodes, seconds)."""
    exists = table_exists(con, "audit", "dbt_results")
    if not exists:  # a warehouse no dbt build has written to yet
        return []
    return con.execute(
        """
        WITH last AS (SELECT run_id, as_of_date FROM audit.dbt_results ORDER BY finished_at DESC LIMIT 1)
        SELECT r.run_id, r.as_of_date, r.resource_type, r.status, count(*), round(sum(r.execution_time_s), 2)
        FROM audit.dbt_results AS r JOIN last USING (run_id, as_of_date)
        GROUP BY ALL ORDER BY r.resource_type, r.status
        """
    ).fetchall()
