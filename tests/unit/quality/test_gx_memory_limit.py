"""GX's DuckDB connections get the warehouse's memory budget unless told otherwise: at L the uniqueness
windows over the repayment keys need more than the 256 MB they once had."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("gx", "warehouse", "expected"),
    [(None, None, "3GB"), (None, "6GB", "6GB"), ("1GB", "6GB", "1GB")],
)
def test_gx_memory_limit_follows_the_warehouse(monkeypatch, gx, warehouse, expected):
    from python_tasks.quality.gx_engine import MEMORY_LIMIT_ENV, gx_memory_limit

    for name, value in ((MEMORY_LIMIT_ENV, gx), ("CLV_DUCKDB_MEMORY_LIMIT", warehouse)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert gx_memory_limit() == expected
