"""What the run report reads: every query of the report, on a read-only connection to the warehouse, for
one business date D and one run. Each function returns a frame or a small record; nothing here draws or
formats. Values are bound as parameters; the only identifiers built into SQL are the attribution columns of
the CLV stage's own table definition (``python_tasks.clv.outputs``).

The report reads the stages' output tables as they are after the run: ``valuation.*`` (CLV, attribution),
``segments.*`` (tiers, strategy, migration, warnings), ``audit.dq_results`` (the gates), and
``marts.dim_client`` / ``reference.*`` for company and industry names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd

from python_tasks.clv.outputs import ATTRIBUTION_FACTORS

if TYPE_CHECKING:
    import duckdb

#: the attribution parts, in waterfall order: the model's factor groups, then clients new and gone
ATTRIBUTION_PARTS = (*ATTRIBUTION_FACTORS, "new_client", "lost_client")
#: the order the gates run in (docs/quality.md); a gate not listed here comes after them
GATE_ORDER = ("freshness", "raw", "profile", "clv", "segments", "drift", "reconciliation")
BASELINE = "baseline"


class ReportDataError(RuntimeError):
    """The warehouse lacks what the report needs for D; the message says which stage to run."""


@dataclass(frozen=True)
class Headline:
    """The figures at the top of the report."""

    clients: int
    prospects: int
    total_clv_cny: float
    total_clv_stressed_cny: float
    stressed_scenario: str
    total_ead_cny: float
    open_warnings: int
    new_warnings: int
    high_warnings: int
    watch_list_clients: int
    previous_date: date | None
    previous_total_clv_cny: float | None


@dataclass(frozen=True)
class QualityData:
    """The gates of the run for D: one row per gate, the failed checks, and where each gate's rows came from."""

    gates: pd.DataFrame  # gate, run_id, is_this_run, checks, passed, failed_error, failed_warn, evaluated_at
    failures: pd.DataFrame  # gate, suite, expectation_type, column_name, severity, unexpected_count, ...
    other_run_gates: list[str] = field(default_factory=list)  # gates taken from another run of D


@dataclass(frozen=True)
class ReportData:
    """Everything one report shows, read in one go."""

    as_of_date: date
    run_id: str
    headline: Headline
    clients: pd.DataFrame  # one row per client: CLV, tiers, strategy, industry, EAD
    summary: pd.DataFrame  # segments.segment_summary of D
    matrix: pd.DataFrame  # value tier × risk tier: strategy, clients, CLV, EAD
    rules: dict[str, Any]  # the segment rules of the run (labels, strategy matrix, policies)
    value_thresholds: tuple[float, float]  # (low below, high from) in CNY
    industries: pd.DataFrame  # section_code, section_name_en, section_name_zh
    previous_date: date | None  # the segments stage's previous run (migration)
    migration: pd.DataFrame  # run-to-run migration rows of D
    signal_counts: pd.DataFrame  # signal_code, severity, status, signals
    warnings: pd.DataFrame  # the top of the watch list
    warning_signals: pd.DataFrame  # the open signals of those clients
    attribution_previous_date: date | None
    attribution_method: str | None
    attribution_totals: dict[str, float]  # part → Σ over clients, plus previous/current totals
    movers: pd.DataFrame  # the largest |ΔCLV| clients with their parts
    quality: QualityData
    versions: dict[str, Any]  # parameter versions, stage run ids and timings


def _frame(con: duckdb.DuckDBPyConnection, sql: str, **params: object) -> pd.DataFrame:
    return con.execute(sql, params).df()


def _rows(con: duckdb.DuckDBPyConnection, sql: str, **params: object) -> list[tuple]:
    return con.execute(sql, params).fetchall()


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        _rows(
            con,
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = $s AND table_name = $t",
            s=schema,
            t=table,
        )[0][0]
    )


def require_outputs(con: duckdb.DuckDBPyConnection, day: date) -> None:
    """Stop with what to run when D has no CLV or no segments yet."""
    for schema, table, stage in (("valuation", "client_values", "clv"), ("segments", "client_segments", "segments")):
        found = (
            _has_table(con, schema, table)
            and _rows(con, f"SELECT count(*) FROM {schema}.{table} WHERE as_of_date = $d", d=day)[0][0]
        )
        if not found:
            raise ReportDataError(
                f"no {schema}.{table} rows for {day}: run the {stage} stage for {day} before the report"
            )


def segment_rules(con: duckdb.DuckDBPyConnection, day: date) -> tuple[dict[str, Any], tuple[float, float], dict]:
    """The segment rules the run used (labels, strategy matrix, policies) and its value-tier thresholds."""
    rows = _rows(
        con,
        "SELECT params_json, value_low_max_cny, value_high_min_cny, run_id, params_version, previous_as_of_date, "
        "seconds FROM segments.runs WHERE as_of_date = $d",
        d=day,
    )
    if not rows:
        raise ReportDataError(f"no segments.runs row for {day}: run the segments stage for {day} first")
    params_json, low, high, run_id, version, previous, seconds = rows[0]
    rules = json.loads(params_json) if isinstance(params_json, str) else dict(params_json)
    run = {"run_id": run_id, "version": version, "previous_as_of_date": previous, "seconds": seconds}
    return rules, (float(low), float(high)), run


def clv_run(con: duckdb.DuckDBPyConnection, day: date) -> dict:
    """The CLV stage's run record for D (run id, parameter version, timing)."""
    rows = _rows(
        con, "SELECT run_id, params_version, clients, seconds FROM valuation.runs WHERE as_of_date = $d", d=day
    )
    if not rows:
        return {}
    run_id, version, clients, seconds = rows[0]
    return {"run_id": run_id, "version": version, "clients": clients, "seconds": seconds}


def headline(con: duckdb.DuckDBPyConnection, day: date, stressed_scenario: str, previous_date: date | None) -> Headline:
    """Clients, base and stressed CLV, EAD (from ``valuation.client_values``) and the open warnings."""
    clients, prospects, total, ead = _rows(
        con,
        """
        SELECT count(*), count(*) FILTER (WHERE i.is_prospect), sum(v.clv_cny), sum(v.ead_cny)
        FROM valuation.client_values AS v
        LEFT JOIN valuation.engine_inputs_clients AS i ON i.as_of_date = v.as_of_date AND i.client_id = v.client_id
        WHERE v.as_of_date = $d AND v.scenario = $s
        """,
        d=day,
        s=BASELINE,
    )[0]
    stressed = _rows(
        con,
        "SELECT sum(clv_cny) FROM valuation.client_values WHERE as_of_date = $d AND scenario = $s",
        d=day,
        s=stressed_scenario,
    )[0][0]
    open_signals, new_signals, high_signals = _rows(
        con,
        """
        SELECT count(*) FILTER (WHERE status IN ('new', 'active')),
               count(*) FILTER (WHERE status = 'new'),
               count(*) FILTER (WHERE status IN ('new', 'active') AND severity = 'high')
        FROM segments.warning_signals WHERE as_of_date = $d
        """,
        d=day,
    )[0]
    watch = _rows(con, "SELECT count(*) FROM segments.watch_list WHERE as_of_date = $d", d=day)[0][0]
    previous_total = None
    if previous_date is not None:
        previous_total = _rows(
            con,
            "SELECT sum(clv_cny) FROM valuation.client_values WHERE as_of_date = $d AND scenario = $s",
            d=previous_date,
            s=BASELINE,
        )[0][0]
    return Headline(
        clients=int(clients), prospects=int(prospects or 0), total_clv_cny=float(total or 0.0),
        total_clv_stressed_cny=float(stressed or 0.0), stressed_scenario=stressed_scenario,
        total_ead_cny=float(ead or 0.0), open_warnings=int(open_signals or 0), new_warnings=int(new_signals or 0),
        high_warnings=int(high_signals or 0), watch_list_clients=int(watch), previous_date=previous_date,
        previous_total_clv_cny=None if previous_total is None else float(previous_total),
    )  # fmt: skip


def client_frame(con: duckdb.DuckDBPyConnection, day: date) -> pd.DataFrame:
    """One row per client of D: CLV (base and stressed), tiers, strategy, lifecycle, industry, EAD."""
    return _frame(
        con,
        """
        SELECT client_id, is_prospect, clv_cny, clv_stressed_cny, value_tier, risk_tier, strategy,
               lifecycle_stage, industry_section_code, enterprise_size, ead_cny
        FROM segments.client_segments WHERE as_of_date = $d ORDER BY client_id
        """,
        d=day,
    )


def segment_summary(con: duckdb.DuckDBPyConnection, day: date) -> pd.DataFrame:
    """``segments.segment_summary`` of D (clients, EAD, CLV, EL, capital, RAROC per segment)."""
    return _frame(
        con,
        """
        SELECT dimension, segment, clients, ead_cny, clv_cny, clv_stressed_cny, expected_loss_12m_cny, capital_cny,
               raroc, share_of_clients, share_of_clv
        FROM segments.segment_summary WHERE as_of_date = $d ORDER BY dimension, segment
        """,
        d=day,
    )


def strategy_matrix(con: duckdb.DuckDBPyConnection, day: date) -> pd.DataFrame:
    """Clients, CLV and EAD per (value tier, risk tier) cell with the strategy its clients got."""
    return _frame(
        con,
        """
        SELECT value_tier, risk_tier, any_value(strategy) AS strategy, count(*) AS clients,
               sum(clv_cny) AS clv_cny, sum(ead_cny) AS ead_cny
        FROM segments.client_segments WHERE as_of_date = $d GROUP BY value_tier, risk_tier ORDER BY ALL
        """,
        d=day,
    )


def industry_names(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """GB/T 4754 sections with their English and Chinese names."""
    if not _has_table(con, "reference", "ref_gbt4754_sections"):
        return pd.DataFrame(columns=["section_code", "section_name_en", "section_name_zh"])
    return _frame(con, "SELECT section_code, section_name_en, section_name_zh FROM reference.ref_gbt4754_sections")


def migration(con: duckdb.DuckDBPyConnection, day: date) -> pd.DataFrame:
    """D's migration rows against the previous run (``comparison = 'run'``); empty on the first run."""
    return _frame(
        con,
        """
        SELECT dimension, from_label, to_label, clients, exposure_cny, from_date, to_date
        FROM segments.migration WHERE as_of_date = $d AND comparison = 'run' ORDER BY ALL
        """,
        d=day,
    )


def signal_counts(con: duckdb.DuckDBPyConnection, day: date) -> pd.DataFrame:
    """Signals of D by code, severity and status (new, active, closed)."""
    return _frame(
        con,
        """
        SELECT signal_code, severity, status, count(*) AS signals
        FROM segments.warning_signals WHERE as_of_date = $d GROUP BY ALL ORDER BY ALL
        """,
        d=day,
    )


def _company_join(con: duckdb.DuckDBPyConnection) -> str:
    # dim_client holds company names as of the latest date built (names, not personal data)
    return (
        "LEFT JOIN marts.dim_client AS c ON c.client_id = {alias}.client_id"
        if _has_table(con, "marts", "dim_client")
        else "LEFT JOIN (SELECT NULL::VARCHAR AS client_id, NULL::VARCHAR AS company_name) AS c ON false"
    )


def top_warnings(con: duckdb.DuckDBPyConnection, day: date, limit: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``limit`` most urgent clients of the watch list, and each one's open signals with reasons."""
    join = _company_join(con).format(alias="w")
    clients = _frame(
        con,
        f"""
        SELECT w.priority_rank, w.client_id, c.company_name, w.priority_score, w.highest_severity, w.new_signals,
               w.signals, s.strategy, s.risk_tier, s.value_tier, s.ead_cny, s.clv_cny
        FROM segments.watch_list AS w
        LEFT JOIN segments.client_segments AS s ON s.as_of_date = w.as_of_date AND s.client_id = w.client_id
        {join}
        WHERE w.as_of_date = $d
        ORDER BY w.priority_rank, w.client_id
        LIMIT $n
        """,
        d=day,
        n=limit,
    )
    signals = _frame(
        con,
        """
        SELECT client_id, signal_code, severity, status, escalated, opened_date, days_open, reason_en, reason_zh
        FROM segments.warning_signals
        WHERE as_of_date = $d AND status IN ('new', 'active') AND client_id IN (SELECT unnest($ids::VARCHAR[]))
        ORDER BY client_id, CASE severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, signal_code
        """,
        d=day,
        ids=clients["client_id"].tolist(),
    )
    return clients, signals


def attribution(
    con: duckdb.DuckDBPyConnection, day: date, limit: int
) -> tuple[date | None, str | None, dict[str, float], pd.DataFrame]:
    """ΔCLV since the previous CLV run: totals per part, and the ``limit`` largest movers with their parts.
    ``(None, None, {}, empty)`` on the first run."""
    parts = ", ".join(f"sum({p}_cny) AS {p}" for p in ATTRIBUTION_PARTS)
    totals = _frame(
        con,
        f"""
        SELECT min(previous_as_of_date) AS previous_date, any_value(method) AS method, count(*) AS clients,
               sum(clv_previous_cny) AS previous, sum(clv_cny) AS current, sum(delta_clv_cny) AS delta, {parts}
        FROM valuation.attribution WHERE as_of_date = $d
        """,
        d=day,
    )
    if totals.empty or int(totals.at[0, "clients"]) == 0:
        return None, None, {}, pd.DataFrame()
    row = totals.iloc[0]
    sums = {k: float(row[k]) for k in ("previous", "current", "delta", *ATTRIBUTION_PARTS)}
    join = _company_join(con).format(alias="a")
    columns = ", ".join(f"a.{p}_cny AS {p}" for p in ATTRIBUTION_PARTS)
    movers = _frame(
        con,
        f"""
        SELECT a.client_id, c.company_name, a.clv_previous_cny, a.clv_cny, a.delta_clv_cny, {columns},
               s.strategy, s.value_tier
        FROM valuation.attribution AS a
        LEFT JOIN segments.client_segments AS s ON s.as_of_date = a.as_of_date AND s.client_id = a.client_id
        {join}
        WHERE a.as_of_date = $d
        ORDER BY abs(a.delta_clv_cny) DESC, a.client_id
        LIMIT $n
        """,
        d=day,
        n=limit,
    )
    previous = row["previous_date"]
    return pd.Timestamp(previous).date(), str(row["method"]), sums, movers


_CHOSEN_RUNS = """
WITH runs AS (
    SELECT gate, run_id, max(evaluated_at) AS evaluated_at, bool_or(run_id = $r) AS is_this_run
    FROM audit.dq_results WHERE as_of_date = $d GROUP BY gate, run_id
),
chosen AS (
    SELECT gate, run_id, is_this_run FROM runs
    QUALIFY row_number() OVER (PARTITION BY gate ORDER BY is_this_run DESC, evaluated_at DESC, run_id) = 1
)
"""


def quality(con: duckdb.DuckDBPyConnection, day: date, run_id: str) -> QualityData:
    """Each gate's checks for D from ``audit.dq_results``: this run's where it recorded the gate, otherwise the
    latest run of D that did (listed in ``other_run_gates``, so the report says so)."""
    columns = ["gate", "run_id", "is_this_run", "checks", "passed", "failed_error", "failed_warn", "evaluated_at"]
    if not _has_table(con, "audit", "dq_results"):
        return QualityData(pd.DataFrame(columns=columns), pd.DataFrame())
    gates = _frame(
        con,
        _CHOSEN_RUNS
        + """
        SELECT q.gate, q.run_id, any_value(chosen.is_this_run) AS is_this_run, count(*) AS checks,
               count(*) FILTER (WHERE q.success) AS passed,
               count(*) FILTER (WHERE NOT q.success AND q.severity = 'error') AS failed_error,
               count(*) FILTER (WHERE NOT q.success AND q.severity <> 'error') AS failed_warn,
               max(q.evaluated_at) AS evaluated_at
        FROM audit.dq_results AS q JOIN chosen USING (gate, run_id)
        WHERE q.as_of_date = $d
        GROUP BY q.gate, q.run_id
        """,
        d=day,
        r=run_id,
    )
    order = {g: i for i, g in enumerate(GATE_ORDER)}
    gates = gates.sort_values("gate", key=lambda s: s.map(lambda g: (order.get(g, len(order)), g)))
    failures = _frame(
        con,
        _CHOSEN_RUNS
        + """
        SELECT q.gate, q.run_id, q.suite, q.expectation_type, q.column_name, q.severity, q.unexpected_count,
               q.observed_value, q.exception
        FROM audit.dq_results AS q JOIN chosen USING (gate, run_id)
        WHERE q.as_of_date = $d AND NOT q.success
        ORDER BY q.severity = 'error' DESC, q.gate, q.suite, q.expectation_type, q.column_name
        """,
        d=day,
        r=run_id,
    )
    others = sorted(gates.loc[~gates["is_this_run"].astype(bool), "gate"].tolist())
    return QualityData(gates.reset_index(drop=True), failures, others)


def read_report_data(
    con: duckdb.DuckDBPyConnection, day: date, run_id: str, *, top_warnings_n: int = 20, top_movers_n: int = 10
) -> ReportData:
    """Read everything the report of D shows (``con`` read-only)."""
    require_outputs(con, day)
    rules, thresholds, segments_run = segment_rules(con, day)
    previous = segments_run["previous_as_of_date"]
    stressed = str(rules.get("stressed_scenario", "severe"))
    warnings, warning_signals = top_warnings(con, day, top_warnings_n)
    attribution_previous, method, totals, movers = attribution(con, day, top_movers_n)
    return ReportData(
        as_of_date=day,
        run_id=run_id,
        headline=headline(con, day, stressed, previous),
        clients=client_frame(con, day),
        summary=segment_summary(con, day),
        matrix=strategy_matrix(con, day),
        rules=rules,
        value_thresholds=thresholds,
        industries=industry_names(con),
        previous_date=previous,
        migration=migration(con, day),
        signal_counts=signal_counts(con, day),
        warnings=warnings,
        warning_signals=warning_signals,
        attribution_previous_date=attribution_previous,
        attribution_method=method,
        attribution_totals=totals,
        movers=movers,
        quality=quality(con, day, run_id),
        versions={"clv": clv_run(con, day), "segments": segments_run},
    )
