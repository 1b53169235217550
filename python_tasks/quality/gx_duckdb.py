"""Make Great Expectations' SQL execution engine return query results on DuckDB.

Why: GX 1.24 runs every metric query through ``SqlAlchemyExecutionEngine.execute_query``, which executes
inside ``with self.get_connection() as connection:`` and returns the *unfetched* cursor result after the
block has closed the connection. Returning a connection to SQLAlchemy's pool rolls it back, and on DuckDB
(``duckdb-engine``; not a dialect GX supports) that discards the pending result: every ``fetchall()``
then returns ``[]``, so validation yields empty results and no error. Dialects GX supports either keep
cursors alive past the rollback or get a persisted connection.

Fix: wrap the static helper ``_execute_query_with_recovery`` (which both ``execute_query`` and
``execute_query_in_transaction`` call *inside* the connection block) so that, on a DuckDB connection, a
result that returns rows is materialised (SQLAlchemy ``Result.freeze()``) before the connection closes.
Metric queries return one aggregate row, or at most ``partial_unexpected_count`` rows with the SUMMARY
result format, so buffering costs nothing. Other dialects are untouched.

Targets great-expectations 1.24.x. Importing this module checks that GX's version and the source of the
three functions the fix depends on are exactly the ones it was written against, and raises
:class:`GXInternalsChanged` otherwise: after a GX upgrade, check whether the bug is still there
(``tests/integration/quality/test_gx_duckdb_patch.py`` shows it), then adapt the fix and the fingerprints
below, or delete this module if GX handles DuckDB.
"""

from __future__ import annotations

import hashlib
import inspect
from typing import Any

import great_expectations as gx
from great_expectations.execution_engine.sqlalchemy_execution_engine import SqlAlchemyExecutionEngine

TARGET_GX_VERSION = "1.24."
"""The GX release line this fix was written against (pyproject pins ``>=1.24,<1.25``)."""

SOURCE_FINGERPRINTS = {
    "execute_query": "00b686f959e59eec0a8dc12d352dd8c65d3273e42cff8e6e3d4e42862598d06b",
    "execute_query_in_transaction": "d1afa96b879b83bd7cb6fc0dcedc6c7f60d7231b2dac165c3f93baf6a5891f67",
    "_execute_query_with_recovery": "e4b7310103053c956d7213372e785df28419d9537528ea499f2add4666db2d3b",
}
"""sha256 of ``inspect.getsource`` of each GX function the fix relies on, as shipped in GX 1.24.1."""

_ORIGINAL = "_clv_original"


class GXInternalsChanged(RuntimeError):
    """GX no longer looks like the version the DuckDB fix was written for; the fix must be re-checked."""


def _static(name: str) -> Any:
    attr = inspect.getattr_static(SqlAlchemyExecutionEngine, name)
    return attr.__func__ if isinstance(attr, staticmethod) else attr


# GX's own helper, also when this module is reloaded after the fix was installed.
original_execute_query_with_recovery = getattr(
    _static("_execute_query_with_recovery"), _ORIGINAL, _static("_execute_query_with_recovery")
)


def source_fingerprint(name: str) -> str:
    """sha256 of the source of ``SqlAlchemyExecutionEngine.<name>`` as GX ships it (not the patched one)."""
    func = original_execute_query_with_recovery if name == "_execute_query_with_recovery" else _static(name)
    return hashlib.sha256(inspect.getsource(func).encode()).hexdigest()


def check_gx_internals() -> None:
    """Raise :class:`GXInternalsChanged` unless GX's version and the code the fix relies on are as expected."""
    problems = []
    if not gx.__version__.startswith(TARGET_GX_VERSION):
        problems.append(f"great_expectations is {gx.__version__}, the fix targets {TARGET_GX_VERSION}x")
    for name, expected in SOURCE_FINGERPRINTS.items():
        try:
            actual = source_fingerprint(name)
        except (AttributeError, OSError, TypeError) as exc:
            problems.append(f"SqlAlchemyExecutionEngine.{name} cannot be inspected ({exc})")
            continue
        if actual != expected:
            problems.append(f"SqlAlchemyExecutionEngine.{name} changed (source sha256 {actual[:12]}...)")
    if problems:
        raise GXInternalsChanged(
            "python_tasks.quality.gx_duckdb: GX internals differ from what the DuckDB result-buffering fix "
            "expects, so GX's SQL path on DuckDB could silently return empty results: "
            + "; ".join(problems)
            + ". Re-run tests/integration/quality/test_gx_duckdb_patch.py against the new GX, then adapt the "
            "fix and SOURCE_FINGERPRINTS (or delete the module if GX now works on DuckDB)."
        )


def _execute_query_buffered(connection: Any, query: Any) -> Any:
    """GX's ``_execute_query_with_recovery``; on DuckDB, row results are fetched while the connection is open."""
    result = original_execute_query_with_recovery(connection, query)
    if connection.dialect.name == "duckdb" and result.returns_rows:
        return result.freeze()()
    return result


setattr(_execute_query_buffered, _ORIGINAL, original_execute_query_with_recovery)


def is_applied() -> bool:
    return _static("_execute_query_with_recovery") is _execute_query_buffered


def apply() -> None:
    """Check GX, then install the fix (idempotent)."""
    check_gx_internals()
    SqlAlchemyExecutionEngine._execute_query_with_recovery = staticmethod(_execute_query_buffered)


def remove() -> None:
    """Restore GX's own helper (the test uses it to show the bug the fix exists for)."""
    SqlAlchemyExecutionEngine._execute_query_with_recovery = staticmethod(original_execute_query_with_recovery)


apply()
