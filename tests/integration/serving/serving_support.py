"""Helpers of the serving tests that change a warehouse copy (imported by the test modules)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import duckdb

D0 = date(2026, 11, 20)
D1 = D0 + timedelta(days=1)

Sql = Callable[..., list[tuple]]


def copy_business_date(warehouse: Path, source: date, target: date, run_id: str) -> None:
    """Make ``target`` a second segmented business date: every dated row of the marts, valuation and segments
    copied from ``source`` (cheaper than a second dbt build; enough for what publishing reads)."""
    with duckdb.connect(str(warehouse)) as con:
        columns: dict[tuple[str, str], set[str]] = {}
        for schema, table, column in con.execute(
            "SELECT c.table_schema, c.table_name, c.column_name FROM information_schema.columns AS c "
            "JOIN information_schema.tables AS t USING (table_schema, table_name) "
            "WHERE t.table_type = 'BASE TABLE' AND c.table_schema IN ('marts', 'valuation', 'segments')"
        ).fetchall():
            columns.setdefault((schema, table), set()).add(column)
        con.execute("BEGIN TRANSACTION")
        for (schema, table), names in columns.items():
            if "as_of_date" not in names:
                continue
            replaced = ["$target AS as_of_date"]
            params = {"source": source, "target": target}
            for name in ("_run_id", "run_id"):
                if name in names:
                    replaced.append(f"$run AS {name}")
                    params["run"] = run_id
            con.execute(
                f"INSERT INTO {schema}.{table} SELECT * REPLACE ({', '.join(replaced)}) FROM {schema}.{table} "
                "WHERE as_of_date = $source",
                params,
            )
        con.execute("COMMIT")


def record_gate(
    run: Sql, day: date, gate: str, run_id: str, *, success: bool, column: str | None = None,
    sample: str = "[]", observed: str | None = None, exception: str | None = None,
    at: str = "2030-01-01 00:00:00+00",
) -> None:  # fmt: skip
    """One error-level check outcome of ``gate`` for ``day`` in audit.dq_results."""
    run(
        "INSERT INTO audit.dq_results VALUES ($r, $d, $g, $g || '.test', 'expect_test_check', $c, $kwargs, NULL, "
        "'error', $ok, $obs, 1, $bad, NULL, $sample, $exc, CAST($at AS TIMESTAMPTZ))",
        {"r": run_id, "d": day, "g": gate, "c": column, "kwargs": '{"column": "%s"}' % (column or ""),
         "ok": success, "obs": observed, "bad": 0 if success else 1, "sample": sample, "exc": exception, "at": at},
    )  # fmt: skip
