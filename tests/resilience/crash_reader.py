"""A BI reader of the serving file, run as a separate process beside a whole daily run.

``python tests/resilience/crash_reader.py SERVING_FILE hold|reconnect``: queries the serving file read-only, as
a BI tool does (``duckdb.connect(path, read_only=True)``), until a line arrives on stdin, then prints one JSON
line with what it saw. ``hold`` keeps one connection for the whole run and reconnects once at the end;
``reconnect`` opens a new connection for every round (a tool without a connection pool).

Each round reads the latest publication (its run, business date and the row counts the publish wrote per
table) and counts the rows of those tables in the same connection: counts that differ from the publication's
mean the reader saw a mix of two publications, or a half-written one.
"""

from __future__ import annotations

import json
import select
import sys
import time
import traceback

import duckdb

LATEST = "SELECT as_of_date::VARCHAR, run_id, table_row_counts FROM bi.publications ORDER BY published_at DESC LIMIT 1"


def read_round(con: duckdb.DuckDBPyConnection) -> tuple[tuple[str, str], list[str]]:
    """The latest publication and the tables whose row counts differ from what it recorded."""
    day, run_id, counts_json = con.execute(LATEST).fetchone()
    recorded = json.loads(counts_json)
    differ = []
    for table, rows in sorted(recorded.items()):
        (actual,) = con.execute(f'SELECT count(*) FROM bi."{table}"').fetchone()
        if actual != rows:
            differ.append(f"{table}: {actual} rows, publication says {rows}")
    return (day, run_id), differ


def stop_requested(timeout: float) -> bool:
    ready, _, _ = select.select([sys.stdin], [], [], timeout)
    return bool(ready)


def main(path: str, mode: str) -> dict:
    report: dict = {"mode": mode, "rounds": 0, "seen": [], "inconsistent": [], "errors": [], "slowest": 0.0}
    con = duckdb.connect(path, read_only=True) if mode == "hold" else None
    print(json.dumps({"ready": True}), flush=True)
    while not stop_requested(0.02):
        started = time.perf_counter()
        try:
            if mode == "hold":
                publication, differ = read_round(con)
            else:
                with duckdb.connect(path, read_only=True) as fresh:
                    publication, differ = read_round(fresh)
        except Exception:  # noqa: BLE001 - every error is a finding, reported to the test
            report["errors"].append(traceback.format_exc(limit=2))
            continue
        finally:
            report["slowest"] = max(report["slowest"], time.perf_counter() - started)
            report["rounds"] += 1
        if not report["seen"] or report["seen"][-1] != list(publication):
            report["seen"].append(list(publication))
        report["inconsistent"] += [f"{publication}: {d}" for d in differ]
    if con is not None:
        con.close()
    with duckdb.connect(path, read_only=True) as fresh:
        report["after_reconnect"] = list(read_round(fresh)[0])
    return report


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])), flush=True)
