"""Run expectation suites with Great Expectations' SQL engine on the DuckDB warehouse.

Importing GX costs seconds, so only gate jobs import this module. Each suite is validated on a query (one
partition of one table) that DuckDB evaluates in place: no data is copied into Python, so a 10 M row
partition costs seconds and little memory. GX does not support DuckDB; ``gx_duckdb`` fixes what breaks
(results lost when GX closes the connection; no regex) and checks that the fixes fit the installed GX.
Each validation result can also be written as GX Data Docs (``data_docs``), the evidence of the gate's run.
Two custom expectations carry the Chinese code rules (USCC check character, GB/T 4754 section/division),
in the same SQL the loader uses, so that the GX suite checks exactly what the loader checks.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import great_expectations as gx
import sqlalchemy as sa
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.execution_engine import SqlAlchemyExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metadata_types import FailureSeverity
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial
from great_expectations.expectations.registry import get_expectation_impl
from great_expectations.render import LegacyRendererType, RenderedStringTemplateContent
from great_expectations.render.renderer.renderer import renderer

from python_tasks.codes import industry, uscc
from python_tasks.io.warehouse import memory_limit, read_only_sqlalchemy
from python_tasks.quality import gx_duckdb  # noqa: F401 - installs the DuckDB fix, or fails loudly
from python_tasks.quality.data_docs import DataDocsTarget, exception_message, update_data_docs
from python_tasks.quality.results import Outcome, jsonable, kwargs_json  # noqa: F401 - kwargs_json re-exported
from python_tasks.quality.suites import Expectation

log = logging.getLogger(__name__)

RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 10}

MEMORY_LIMIT_ENV = "CLV_GX_DUCKDB_MEMORY_LIMIT"
"""DuckDB memory limit of GX's connections (default: the warehouse's, ``CLV_DUCKDB_MEMORY_LIMIT``, 3GB): the
key-uniqueness checks are window functions over the whole partition, which spill to the warehouse's spill
folder beyond the limit. 256MB was too little at L: the window over 88.7 M repayments failed ("failed to pin
block"); at 3GB the raw gate validated that partition in 67 s."""


def gx_memory_limit() -> str:
    return os.environ.get(MEMORY_LIMIT_ENV) or memory_limit()

_CREATE_MACRO = "CREATE OR REPLACE MACRO uscc_is_valid("


def _temp_uscc_macro_sql() -> str:
    """The loader's ``uscc_is_valid`` macro as a TEMP macro: a read-only connection cannot create others."""
    sql = uscc.duckdb_macro_sql()
    if not sql.startswith(_CREATE_MACRO):
        raise RuntimeError(f"python_tasks.codes.uscc.duckdb_macro_sql() no longer starts with {_CREATE_MACRO!r}")
    return sql.replace("CREATE OR REPLACE MACRO", "CREATE OR REPLACE TEMP MACRO", 1)


class ColumnValuesValidUscc(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_uscc"

    @column_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(cls, column: sa.ColumnClause, **kwargs: Any) -> sa.ColumnElement:  # noqa: N805 - GX metric API
        # A TEMP macro that _duckdb_datasource creates on every connection GX opens.
        return sa.func.uscc_is_valid(column)


def _sentence(text: str, runtime_configuration: dict | None) -> list[RenderedStringTemplateContent]:
    """What a validation page (GX Data Docs) says an expectation expects."""
    styling = (runtime_configuration or {}).get("styling")
    return [RenderedStringTemplateContent(string_template={"template": text, "params": {}, "styling": styling})]


class ExpectColumnValuesToBeValidUscc(ColumnMapExpectation):
    """Expect values to be unified social credit codes (GB 32100-2015) with a correct check character."""

    map_metric = "column_values.valid_uscc"
    success_keys = ("mostly",)

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(cls, configuration=None, result=None, runtime_configuration=None, **kwargs):
        return _sentence(
            "values must be unified social credit codes (GB 32100-2015) with a correct check character.",
            runtime_configuration,
        )


class ColumnValuesValidIndustryCode(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_industry_code"

    @column_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(cls, column: sa.ColumnClause, **kwargs: Any) -> sa.ColumnElement:  # noqa: N805 - GX metric API
        # The loader's rule (python_tasks/ingest/rules.py): the shape, then a division of that section.
        return sa.and_(
            sa.func.regexp_full_match(column, industry.INDUSTRY_CODE_PATTERN.removeprefix("^").removesuffix("$")),
            sa.func.left(column, 3).in_(industry.valid_section_division_pairs()),
        )


class ExpectColumnValuesToBeValidIndustryCode(ColumnMapExpectation):
    """Expect GB/T 4754-2017 codes: section letter plus a division of that section (optionally the class)."""

    map_metric = "column_values.valid_industry_code"
    success_keys = ("mostly",)

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(cls, configuration=None, result=None, runtime_configuration=None, **kwargs):
        return _sentence(
            "values must be GB/T 4754-2017 industry codes: a section letter and a division of that section.",
            runtime_configuration,
        )


@dataclass(frozen=True)
class QueryBatch:
    """One suite to validate on the rows of one ``SELECT`` (for the raw gate: one partition of one table)."""

    suite_name: str
    query: str
    expectations: list[Expectation]


_context = None
_names = count()


def _get_context():  # noqa: ANN202 - GX's context type is internal
    global _context
    if _context is None:
        _context = gx.get_context(mode="ephemeral")
        _context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return _context


@contextmanager
def _duckdb_datasource(database: Path) -> Iterator[Any]:
    """A GX SQL datasource on ``database`` opened read-only; closed and removed on exit.

    DuckDB admits one configuration per file and process, so every connection GX opened must be closed
    before anyone opens the file read-write (the gate does, to record the results).
    """
    context = _get_context()
    name = f"duckdb_{next(_names)}"
    url, connect_args = read_only_sqlalchemy(database, gx_memory_limit())
    source = context.data_sources.add_sql(  # GX opens (and pools) one connection here, to test it
        name, connection_string=url, kwargs={"connect_args": connect_args}
    )
    execution_engine = source.get_execution_engine()  # has its own SQLAlchemy engine: the one that validates
    macro = _temp_uscc_macro_sql()

    def _create_macros(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(macro)
        finally:
            cursor.close()

    sa.event.listen(execution_engine.engine, "connect", _create_macros)
    try:
        yield source
    finally:
        execution_engine.close()  # disposes its engine: closes the pooled connections
        source.get_engine().dispose()  # the datasource's own (cached) engine
        context.data_sources.delete(name)


def validate_queries(
    database: Path, batches: Sequence[QueryBatch], docs: DataDocsTarget | None = None
) -> dict[str, list[Outcome]]:
    """Validate each batch's query on the DuckDB file ``database`` (read-only); outcomes per suite, in order.

    With ``docs``, GX's validation results are also written as Data Docs pages of that run, date and gate,
    and the run's index is rebuilt (``data_docs.update_data_docs``; a failure there is logged, not raised).
    The file is closed again when this returns, also on error.
    """
    context = _get_context()
    results: dict[str, list[Outcome]] = {}
    validated: list[tuple[str, Any]] = []  # (suite, ExpectationSuiteValidationResult)
    with _duckdb_datasource(database) as source:
        for batch_spec in batches:
            asset = source.add_query_asset(name=f"q{next(_names)}", query=batch_spec.query)
            batch = asset.add_batch_definition_whole_table("whole").get_batch()
            configs = [_gx_expectation(e) for e in batch_spec.expectations]
            suite = context.suites.add(
                gx.ExpectationSuite(name=f"{batch_spec.suite_name}_{next(_names)}", expectations=configs)
            )
            result = batch.validate(suite, result_format=RESULT_FORMAT)
            results[batch_spec.suite_name] = _outcomes(batch_spec.expectations, suite, result)
            validated.append((batch_spec.suite_name, result))
            context.suites.delete(suite.name)
    if docs is not None:  # after GX has closed the file: the index reads it
        update_data_docs(docs, validated, database)
    return results


def _gx_expectation(expectation: Expectation) -> Any:  # noqa: ANN401 - a GX Expectation subclass
    """GX's expectation, carrying our severity, rule and reason for the Data Docs (GX validates without them)."""
    e = expectation
    return get_expectation_impl(e.type)(
        **e.kwargs,
        meta={**e.meta, "severity": e.severity, **({"rule": e.rule} if e.rule else {})},
        severity=FailureSeverity.CRITICAL if e.severity == "error" else FailureSeverity.WARNING,
    )


def _outcomes(expectations: list[Expectation], suite: Any, result: Any) -> list[Outcome]:
    # GX does not return results in suite order: match them back through the expectation ids.
    by_id = {item.expectation_config.id: item for item in result.results}
    outcomes = []
    for expectation, config in zip(expectations, suite.expectations, strict=True):
        item = by_id[config.id]
        res = item.result or {}
        message = exception_message(item.exception_info or {})
        observed = res.get("observed_value")
        unexpected_count = res.get("unexpected_count")
        if unexpected_count is None and res.get("element_count") == 0:
            unexpected_count = 0  # SQL's sum() over no rows is NULL; nothing is unexpected in an empty batch
        outcomes.append(
            Outcome(
                expectation=expectation,
                success=bool(item.success) and message is None,
                element_count=res.get("element_count"),
                unexpected_count=unexpected_count,
                unexpected_percent=res.get("unexpected_percent"),
                observed_value=None if observed is None else json.dumps(jsonable(observed), ensure_ascii=False),
                unexpected_sample=jsonable(res.get("partial_unexpected_list") or []),
                exception=message,
            )
        )
    return outcomes
