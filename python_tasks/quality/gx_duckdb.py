"""Make Great Expectations' SQL execution engine work on DuckDB (GX 1.24.x, ``duckdb-engine`` dialect).

DuckDB is not a dialect GX supports, and two things break on it; importing this module fixes both.

1. Results are lost. GX runs every metric query through ``SqlAlchemyExecutionEngine.execute_query``, which
   executes inside ``with self.get_connection() as connection:`` and returns the *unfetched* cursor result
   after the block has returned the connection to SQLAlchemy's pool. The pool rolls the connection back,
   and on DuckDB that discards the pending result: every ``fetchall()`` returns ``[]`` and validation
   reports empty, failed results without any error. Fix: wrap the static helper
   ``_execute_query_with_recovery``, which ``execute_query`` and ``execute_query_in_transaction`` call
   *inside* the connection block, so that on a DuckDB connection a result with rows is fetched into memory
   (SQLAlchemy ``Result.freeze()``) before the connection is released. Metric queries return one aggregate
   row, or at most ``partial_unexpected_count`` rows with the SUMMARY result format, so buffering is free.
2. Regex expectations raise "Regex is not supported for dialect duckdb": ``get_dialect_regex_expression``
   knows no DuckDB. Fix: on DuckDB it returns ``regexp_matches(column, regex)`` (search semantics, like
   GX's pandas ``str.contains`` and PostgreSQL's ``~``), negated for ``positive=False``; every other dialect
   goes to GX's own function.

Other dialects are untouched. The fixes target great-expectations 1.24.x: on import, this module checks
GX's version, the source of the functions fix 1 relies on, and the signature and importers of the function
fix 2 replaces, and raises :class:`GXInternalsChanged` if anything differs, rather than letting the gate
silently validate nothing. After a GX upgrade: run ``tests/integration/quality/test_gx_duckdb_patch.py``
(it shows both bugs on the unpatched engine), adapt the fixes and :data:`SOURCE_FINGERPRINTS`, or delete
the module if GX has learnt DuckDB.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from types import ModuleType
from typing import Any

import great_expectations as gx
import sqlalchemy as sa
from great_expectations.execution_engine.sqlalchemy_execution_engine import SqlAlchemyExecutionEngine
from great_expectations.expectations.metrics import util as gx_metrics_util

TARGET_GX_VERSION = "1.24."
"""The GX release line these fixes were written against (pyproject pins ``>=1.24,<1.25``)."""

SOURCE_FINGERPRINTS = {
    "execute_query": "00b686f959e59eec0a8dc12d352dd8c65d3273e42cff8e6e3d4e42862598d06b",
    "execute_query_in_transaction": "d1afa96b879b83bd7cb6fc0dcedc6c7f60d7231b2dac165c3f93baf6a5891f67",
    "_execute_query_with_recovery": "e4b7310103053c956d7213372e785df28419d9537528ea499f2add4666db2d3b",
}
"""sha256 of ``inspect.getsource`` of the ``SqlAlchemyExecutionEngine`` methods fix 1 relies on (GX 1.24.1)."""

REGEX_SIGNATURE = "(column, regex, dialect, positive=True)"
"""Parameters of ``get_dialect_regex_expression`` that fix 2 keeps (annotations left out)."""

REGEX_IMPORTERS = (
    "great_expectations.expectations.metrics.util",
    "great_expectations.expectations.metrics.column_map_metrics.column_values_match_regex",
    "great_expectations.expectations.metrics.column_map_metrics.column_values_not_match_regex",
    "great_expectations.expectations.metrics.column_map_metrics.column_values_match_regex_list",
    "great_expectations.expectations.metrics.column_map_metrics.column_values_not_match_regex_list",
    "great_expectations.expectations.metrics.column_aggregate_metrics.column_values_match_regex_values",
    "great_expectations.expectations.metrics.column_aggregate_metrics.column_values_not_match_regex_values",
)
"""Every GX module that binds ``get_dialect_regex_expression`` by name (GX 1.24.1)."""

_ORIGINAL = "_clv_original"


class GXInternalsChanged(RuntimeError):
    """GX no longer looks like the version the DuckDB fixes were written for; they must be re-checked."""


def _unpatched(func: Any) -> Any:
    return getattr(func, _ORIGINAL, func)


def _static(name: str) -> Any:
    attr = inspect.getattr_static(SqlAlchemyExecutionEngine, name)
    return attr.__func__ if isinstance(attr, staticmethod) else attr


# GX's own functions, also when this module is reloaded after the fixes were installed.
original_execute_query_with_recovery = _unpatched(_static("_execute_query_with_recovery"))
original_get_dialect_regex_expression = _unpatched(gx_metrics_util.get_dialect_regex_expression)


def source_fingerprint(name: str) -> str:
    """sha256 of the source of ``SqlAlchemyExecutionEngine.<name>`` as GX ships it (not the patched one)."""
    func = _unpatched(_static(name))
    return hashlib.sha256(inspect.getsource(func).encode()).hexdigest()


def _parameters(func: Any) -> str:
    params = inspect.signature(func).parameters.values()
    return "(" + ", ".join(p.replace(annotation=inspect.Parameter.empty).__str__() for p in params) + ")"


def _regex_importers() -> list[ModuleType]:
    return [importlib.import_module(name) for name in REGEX_IMPORTERS]


def check_gx_internals() -> None:
    """Raise :class:`GXInternalsChanged` unless GX is the version and shape the fixes were written for."""
    problems = []
    if not gx.__version__.startswith(TARGET_GX_VERSION):
        problems.append(f"great_expectations is {gx.__version__}, the fixes target {TARGET_GX_VERSION}x")
    for name, expected in SOURCE_FINGERPRINTS.items():
        try:
            actual = source_fingerprint(name)
        except (AttributeError, OSError, TypeError) as exc:
            problems.append(f"SqlAlchemyExecutionEngine.{name} cannot be inspected ({exc})")
            continue
        if actual != expected:
            problems.append(f"SqlAlchemyExecutionEngine.{name} changed (source sha256 {actual[:12]}...)")
    if _parameters(original_get_dialect_regex_expression) != REGEX_SIGNATURE:
        problems.append(
            f"get_dialect_regex_expression{_parameters(original_get_dialect_regex_expression)} "
            f"is not get_dialect_regex_expression{REGEX_SIGNATURE}"
        )
    try:
        for module in _regex_importers():
            if (
                _unpatched(getattr(module, "get_dialect_regex_expression", None))
                is not original_get_dialect_regex_expression
            ):
                problems.append(f"{module.__name__} no longer imports get_dialect_regex_expression")
    except ImportError as exc:
        problems.append(f"a module using get_dialect_regex_expression moved ({exc})")
    if problems:
        raise GXInternalsChanged(
            "python_tasks.quality.gx_duckdb: GX internals differ from what its DuckDB fixes expect, so GX's "
            "SQL path on DuckDB could silently validate nothing: "
            + "; ".join(problems)
            + ". Run tests/integration/quality/test_gx_duckdb_patch.py against the new GX, then adapt the "
            "fixes and their fingerprints (or delete the module if GX now works on DuckDB)."
        )


def _is_duckdb(dialect: Any) -> bool:
    return getattr(getattr(dialect, "dialect", dialect), "name", None) == "duckdb"


def _execute_query_buffered(connection: Any, query: Any) -> Any:
    """GX's ``_execute_query_with_recovery``; on DuckDB, rows are fetched while the connection is open."""
    result = original_execute_query_with_recovery(connection, query)
    if _is_duckdb(connection.dialect) and result.returns_rows:
        return result.freeze()()
    return result


def get_dialect_regex_expression(column: Any, regex: str, dialect: Any, positive: bool = True) -> Any:
    """GX's ``get_dialect_regex_expression``, plus DuckDB (``regexp_matches``: does the value contain a match)."""
    if _is_duckdb(dialect):
        matches = sa.func.regexp_matches(column, sa.literal(regex))
        return matches if positive else sa.not_(matches)
    return original_get_dialect_regex_expression(column, regex, dialect, positive)


setattr(_execute_query_buffered, _ORIGINAL, original_execute_query_with_recovery)
setattr(get_dialect_regex_expression, _ORIGINAL, original_get_dialect_regex_expression)


def is_applied() -> bool:
    return _static("_execute_query_with_recovery") is _execute_query_buffered and all(
        module.get_dialect_regex_expression is get_dialect_regex_expression for module in _regex_importers()
    )


def apply() -> None:
    """Check GX, then install both fixes (idempotent)."""
    check_gx_internals()
    SqlAlchemyExecutionEngine._execute_query_with_recovery = staticmethod(_execute_query_buffered)
    for module in _regex_importers():
        module.get_dialect_regex_expression = get_dialect_regex_expression


def remove() -> None:
    """Restore GX's own functions (the test uses this to show the bugs the fixes exist for)."""
    SqlAlchemyExecutionEngine._execute_query_with_recovery = staticmethod(original_execute_query_with_recovery)
    for module in _regex_importers():
        module.get_dialect_regex_expression = original_get_dialect_regex_expression


apply()
