"""Run expectation suites with Great Expectations' SQL engine on the DuckDB warehouse.

Importing GX costs seconds, so only gate jobs import this module. Each suite is validated on a query (one
partition of one table) that DuckDB evaluates in place: no data is copied into Python, so a 10 M row
partition costs seconds and little memory. GX does not support DuckDB; ``gx_duckdb`` fixes the one thing
that breaks (results lost when GX closes the connection) and checks it still fits the installed GX.
Two custom expectations carry the Chinese code rules (USCC check character, GB/T 4754 section/division),
in the same SQL the loader uses, so that the GX suite checks exactly what the loader checks.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial
from great_expectations.expectations.registry import get_expectation_impl

from python_tasks.codes.industry import is_valid_industry_code
from python_tasks.codes.uscc import is_valid_uscc
from python_tasks.quality.suites import Expectation

log = logging.getLogger(__name__)


class ColumnValuesValidUscc(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_uscc"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:  # noqa: N805 - GX metric API
        return column.map(is_valid_uscc)


class ExpectColumnValuesToBeValidUscc(ColumnMapExpectation):
    """Expect values to be unified social credit codes (GB 32100-2015) with a correct check character."""

    map_metric = "column_values.valid_uscc"
    success_keys = ("mostly",)


class ColumnValuesValidIndustryCode(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_industry_code"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:  # noqa: N805 - GX metric API
        return column.map(is_valid_industry_code)


class ExpectColumnValuesToBeValidIndustryCode(ColumnMapExpectation):
    """Expect GB/T 4754-2017 codes: section letter plus a division of that section (optionally the class)."""

    map_metric = "column_values.valid_industry_code"
    success_keys = ("mostly",)


@dataclass(frozen=True)
class Outcome:
    expectation: Expectation
    success: bool
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: float | None
    observed_value: str | None
    unexpected_sample: list[Any]
    exception: str | None


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()[:10] if getattr(value, "hour", 0) == 0 else value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def kwargs_json(expectation: Expectation) -> str:
    return json.dumps(_jsonable(expectation.kwargs), ensure_ascii=False, sort_keys=True)


_context = None


def _get_context():  # noqa: ANN202 - GX's context type is internal
    global _context
    if _context is None:
        _context = gx.get_context(mode="ephemeral")
        _context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return _context


def validate_frame(suite_name: str, frame: pd.DataFrame, expectations: list[Expectation]) -> list[Outcome]:
    """Validate ``frame`` against ``expectations``; one :class:`Outcome` per expectation, in order."""
    context = _get_context()
    source_name = f"frames_{suite_name}"
    try:
        source = context.data_sources.get(source_name)
    except (KeyError, ValueError, LookupError):
        source = context.data_sources.add_pandas(source_name)
    asset = source.add_dataframe_asset(name=f"asset_{len(source.assets)}")
    batch_definition = asset.add_batch_definition_whole_dataframe("whole")
    configs = [get_expectation_impl(e.type)(**e.kwargs) for e in expectations]
    suite = context.suites.add(
        gx.ExpectationSuite(name=f"{suite_name}_{len(context.suites.all())}", expectations=configs)
    )
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": 10})
    # GX does not return results in suite order: match them back through the expectation ids.
    by_id = {item.expectation_config.id: item for item in result.results}
    outcomes = []
    for expectation, config in zip(expectations, suite.expectations, strict=True):
        item = by_id[config.id]
        res = item.result or {}
        exc = item.exception_info or {}
        message = exc.get("exception_message") if exc.get("raised_exception") else None
        observed = res.get("observed_value")
        outcomes.append(
            Outcome(
                expectation=expectation,
                success=bool(item.success) and message is None,
                element_count=res.get("element_count"),
                unexpected_count=res.get("unexpected_count"),
                unexpected_percent=res.get("unexpected_percent"),
                observed_value=None if observed is None else json.dumps(_jsonable(observed), ensure_ascii=False),
                unexpected_sample=_jsonable(res.get("partial_unexpected_list") or []),
                exception=message,
            )
        )
    return outcomes
