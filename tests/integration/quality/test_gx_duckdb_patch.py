"""GX's SQL engine on DuckDB: the bugs ``gx_duckdb`` fixes, its guard, and the gate's SQL expectations.

If a GX upgrade breaks this file, read python_tasks/quality/gx_duckdb.py first: the tests that remove the
fix show whether the bugs are still there.
"""

from __future__ import annotations

import importlib
import re
from datetime import date, datetime
from pathlib import Path

import duckdb
import great_expectations as gx
import pytest
import sqlalchemy as sa

from python_tasks.codes.industry import is_valid_industry_code
from python_tasks.codes.uscc import is_valid_uscc, make_uscc
from python_tasks.quality import gx_duckdb
from python_tasks.quality.gx_engine import QueryBatch, validate_queries
from python_tasks.quality.suites import Expectation


@pytest.fixture
def small_db(tmp_path: Path) -> Path:
    path = tmp_path / "small.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA raw")
        con.execute(
            "CREATE TABLE raw.t AS SELECT i AS id, CASE WHEN i % 10 = 0 THEN NULL ELSE 'x' || i END AS name, "
            "DATE '2026-11-20' AS _as_of_date FROM range(100) r(i)"
        )
    return path


@pytest.fixture
def engine(small_db: Path):
    """GX's execution engine on the small file, read-only, as the gate builds it; closed afterwards."""
    from great_expectations.execution_engine import SqlAlchemyExecutionEngine

    execution_engine = SqlAlchemyExecutionEngine(
        connection_string=f"duckdb:///{small_db.as_posix()}", connect_args={"read_only": True}
    )
    yield execution_engine
    execution_engine.close()


@pytest.fixture
def unpatched():
    """GX as shipped, for the duration of one test."""
    gx_duckdb.remove()
    try:
        yield
    finally:
        gx_duckdb.apply()


def test_the_fix_is_installed_by_importing_the_gx_engine():
    assert gx_duckdb.is_applied()


def test_unpatched_gx_loses_duckdb_results_and_the_fix_returns_them(engine, unpatched):
    query = sa.text("SELECT count(*), count(name) FROM raw.t")
    assert engine.execute_query(query).fetchall() == []  # the bug: the result died with the connection
    gx_duckdb.apply()
    assert engine.execute_query(query).fetchall() == [(100, 90)]
    assert engine.execute_query(sa.text("SELECT id FROM raw.t ORDER BY id LIMIT 3")).fetchmany(2) == [(0,), (1,)]
    assert engine.execute_query(sa.text("SELECT max(id) FROM raw.t")).scalar() == 99


def test_unpatched_gx_has_no_regex_for_duckdb_and_the_fix_uses_regexp_matches(engine, unpatched):
    from great_expectations.expectations.metrics import util

    names = [f"x{i}" for i in range(100) if i % 10]
    column = sa.column("name")
    assert util.get_dialect_regex_expression(column, "^x1", engine.engine.dialect) is None
    gx_duckdb.apply()
    # Search semantics, as GX's pandas str.contains and PostgreSQL's ~: "9" matches inside "x19".
    for regex, positive in (("^x1", True), ("^x1", False), ("9", True), ("^x[0-9]$", True)):
        condition = util.get_dialect_regex_expression(column, regex, engine.engine.dialect, positive=positive)
        query = sa.select(sa.func.count()).select_from(sa.table("t", schema="raw")).where(condition)
        expected = sum((re.search(regex, n) is not None) == positive for n in names)
        assert engine.execute_query(query).scalar() == expected, (regex, positive)


def test_the_guard_accepts_the_installed_gx():
    gx_duckdb.check_gx_internals()
    for name, expected in gx_duckdb.SOURCE_FINGERPRINTS.items():
        assert gx_duckdb.source_fingerprint(name) == expected


def test_the_guard_fails_loudly_when_gx_code_changes(monkeypatch):
    monkeypatch.setitem(gx_duckdb.SOURCE_FINGERPRINTS, "execute_query", "0" * 64)
    with pytest.raises(gx_duckdb.GXInternalsChanged, match=r"SqlAlchemyExecutionEngine\.execute_query changed"):
        gx_duckdb.check_gx_internals()
    monkeypatch.setattr(gx_duckdb, "REGEX_SIGNATURE", "(column, regex)")
    with pytest.raises(gx_duckdb.GXInternalsChanged, match="get_dialect_regex_expression"):
        gx_duckdb.check_gx_internals()


def test_importing_the_fix_on_another_gx_version_fails_with_a_clear_message(monkeypatch):
    monkeypatch.setattr(gx, "__version__", "1.25.0")
    # RuntimeError: reloading defines a new GXInternalsChanged class.
    with pytest.raises(RuntimeError, match=r"great_expectations is 1\.25\.0, the fixes target 1\.24\.x") as info:
        importlib.reload(gx_duckdb)
    assert type(info.value).__name__ == "GXInternalsChanged"
    monkeypatch.undo()
    importlib.reload(gx_duckdb)
    assert gx_duckdb.is_applied()


def _validate(path: Path, expectations: list[Expectation], query: str = "SELECT * FROM raw.t"):
    return validate_queries(path, [QueryBatch("s", query, expectations)])["s"]


def test_validate_queries_counts_on_the_partition_and_closes_the_file(small_db):
    query = "SELECT id, name FROM raw.t WHERE _as_of_date = DATE '2026-11-20' AND id < 50"
    (not_null, unique, columns) = _validate(
        small_db,
        [
            Expectation("expect_column_values_to_not_be_null", {"column": "name"}),
            Expectation("expect_column_values_to_be_unique", {"column": "id"}),
            Expectation("expect_table_columns_to_match_ordered_list", {"column_list": ["id", "name"]}),
        ],
        query,
    )
    assert (not_null.success, not_null.element_count, not_null.unexpected_count) == (False, 50, 5)
    assert not_null.unexpected_sample == [None] * 5
    assert (unique.success, unique.unexpected_count, unique.exception) == (True, 0, None)
    assert columns.success and columns.observed_value == '["id", "name"]'
    # Every connection GX opened is closed: the file opens read-write in this process.
    duckdb.connect(str(small_db)).close()


def test_a_broken_query_is_a_failed_outcome_with_the_error(small_db):
    (outcome,) = _validate(
        small_db, [Expectation("expect_column_values_to_not_be_null", {"column": "id"})], "SELECT * FROM raw.nope"
    )
    assert not outcome.success and "nope" in (outcome.exception or "")
    duckdb.connect(str(small_db)).close()


def test_validate_queries_closes_the_file_when_it_raises(small_db):
    with pytest.raises(Exception, match="expect_nothing_known"):
        _validate(small_db, [Expectation("expect_nothing_known", {"column": "id"})])
    duckdb.connect(str(small_db)).close()


def test_date_bounds_compare_as_dates(tmp_path):
    """suites.py gives datetime bounds for DATE columns; the SQL path must compare them as the pandas path did."""
    path = tmp_path / "dates.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA raw")
        con.execute(
            "CREATE TABLE raw.t AS SELECT * FROM (VALUES (DATE '1949-10-01', DATE '2026-11-20'), "
            "(DATE '1949-09-30', DATE '2026-11-21'), (NULL, NULL)) v(a, b)"
        )
    outcomes = _validate(
        path,
        [
            Expectation("expect_column_values_to_be_between", {"column": "a", "min_value": datetime(1949, 10, 1)}),
            Expectation("expect_column_values_to_be_between", {"column": "b", "max_value": datetime(2026, 11, 20)}),
            Expectation(
                "expect_column_pair_values_a_to_be_greater_than_b",
                {"column_A": "b", "column_B": "a", "or_equal": True, "ignore_row_if": "either_value_is_missing"},
            ),
        ],
    )
    assert [(o.success, o.unexpected_count, o.exception) for o in outcomes] == [
        (False, 1, None),
        (False, 1, None),
        (True, 0, None),
    ]
    assert outcomes[0].unexpected_sample == ["1949-09-30"]
    assert outcomes[1].unexpected_sample == ["2026-11-21"]


def test_code_expectations_in_sql_agree_with_the_python_rules(tmp_path):
    good = make_uscc("9", "1", "440300", "MA5000001")
    usccs = [good, good[:17] + ("0" if good[17] != "0" else "1"), good.lower(), good[:17], "Z" + good[1:], None]
    industries = ["C39", "C3911", "A01", "A39", "C05", "c39", "C391", "U01", "", None]
    path = tmp_path / "codes.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA raw")
        con.execute("CREATE TABLE raw.t (uscc VARCHAR, industry_code VARCHAR)")
        # The loader leaves its macro in the warehouse; the gate must use the current one, not a stale copy.
        con.execute("CREATE MACRO uscc_is_valid(code) AS true")
        rows = [(usccs[i] if i < len(usccs) else None, industries[i]) for i in range(len(industries))]
        con.executemany("INSERT INTO raw.t VALUES (?, ?)", rows)
    uscc, industry = _validate(
        path,
        [
            Expectation("expect_column_values_to_be_valid_uscc", {"column": "uscc"}),
            Expectation("expect_column_values_to_be_valid_industry_code", {"column": "industry_code"}),
        ],
    )
    bad_uscc = [c for c in usccs if c is not None and not is_valid_uscc(c)]
    bad_industry = [c for c in industries if c is not None and not is_valid_industry_code(c)]
    assert (uscc.unexpected_count, sorted(uscc.unexpected_sample)) == (len(bad_uscc), sorted(bad_uscc))
    assert (industry.unexpected_count, sorted(industry.unexpected_sample)) == (len(bad_industry), sorted(bad_industry))
    assert uscc.exception is None and industry.exception is None


def test_an_empty_partition_passes_with_zero_unexpected(small_db):
    (outcome,) = _validate(
        small_db,
        [Expectation("expect_column_values_to_not_be_null", {"column": "name"})],
        f"SELECT * FROM raw.t WHERE _as_of_date = DATE '{date(2026, 11, 21).isoformat()}'",
    )
    assert (outcome.success, outcome.element_count, outcome.unexpected_count) == (True, 0, 0)
