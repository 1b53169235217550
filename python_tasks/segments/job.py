"""The segmentation run for one business date D: read the profile, the CLV and the previous run; segment,
cluster, recommend, raise early warnings (python_tasks/segments/portfolio.py); write the ``segments``
tables in one transaction.

Thin on purpose: the rules are in the pure modules of this package and their thresholds in
config/segment_rules.yml. A rerun of D gives the same rows (the previous run is the latest earlier D in
``segments.runs``, whatever ran since); a failure leaves the previous rows. It runs in the warehouse pool.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from python_tasks.io.warehouse import connect, replace_partition, table_exists
from python_tasks.segments import outputs
from python_tasks.segments.clusters import PreviousClusters
from python_tasks.segments.early_warning import HISTORY_COLUMNS, WarningParams
from python_tasks.segments.params import SegmentParams, load_segment_params
from python_tasks.segments.portfolio import (
    PREVIOUS_SEGMENT_COLUMNS,
    PreviousRun,
    SegmentedPortfolio,
    SegmentInputError,
    migrations,
    profile_columns,
    segment_portfolio,
)
from python_tasks.settings import get_settings

log = logging.getLogger(__name__)

#: attribution columns a CLV change is explained by (valuation.attribution)
_FACTORS = ("exposure", "margin", "pd", "lgd", "retention", "macro", "parameters", "new_client", "lost_client")


class SegmentRunError(RuntimeError):
    """The segmentation cannot proceed; the message says what is missing and what to do."""


def _read(con, sql: str, **params: object) -> pd.DataFrame:  # noqa: ANN001 - a DuckDB connection
    return con.execute(sql, params).df()


def _profile_select(con, params: SegmentParams) -> str:  # noqa: ANN001
    """The select list of the profile columns the rules need; a column the rules name that the profile lacks
    stops the run naming it (identifiers are checked against the table, never taken on trust)."""
    have = set(con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'marts' AND table_name = 'fct_client_profile'"
    ).df()["column_name"])  # fmt: skip
    wanted = profile_columns(params)
    missing = [c for c in wanted if c not in have]
    if missing:
        raise SegmentRunError(f"marts.fct_client_profile lacks the column(s) {missing} the segmentation rules read")
    return ", ".join(f'"{c}"' for c in wanted)


def _values(con, day: date, stressed: str) -> pd.DataFrame:  # noqa: ANN001
    """Base and stressed CLV with the figures the summaries weigh (valuation.client_values of D)."""
    if not table_exists(con, "valuation", "client_values"):
        return pd.DataFrame()
    return _read(
        con,
        """
        SELECT b.client_id, b.clv_cny, s.clv_cny AS clv_stressed_cny, b.pit_pd, b.capital_cny,
               b.expected_loss_12m_cny, coalesce(b.raroc * b.capital_cny, 0) AS raroc_numerator_cny, i.is_defaulted
        FROM valuation.client_values AS b
        JOIN valuation.client_values AS s ON s.as_of_date = b.as_of_date AND s.client_id = b.client_id
             AND s.scenario = $stressed
        JOIN valuation.engine_inputs_clients AS i ON i.as_of_date = b.as_of_date AND i.client_id = b.client_id
        WHERE b.as_of_date = $d AND b.scenario = 'baseline'
        ORDER BY b.client_id
        """,
        d=day,
        stressed=stressed,
    )


def _context(con, day: date, previous: date | None, params: WarningParams) -> pd.DataFrame:  # noqa: ANN001
    """Per client: the previous run's facts, the CLV attribution's main factor, the facilities maturing soon
    (portfolio.CONTEXT_COLUMNS)."""
    context = _read(con, "SELECT client_id FROM marts.fct_client_profile WHERE as_of_date = $d", d=day)
    before = _read(
        con,
        """
        SELECT p.client_id, p.current_dpd AS current_dpd_prev, p.current_grade AS current_grade_prev,
               p.current_grade_rank AS current_grade_rank_prev,
               p.collateral_coverage_ratio AS collateral_coverage_ratio_prev, v.clv_cny AS clv_prev_cny
        FROM marts.fct_client_profile AS p
        LEFT JOIN valuation.client_values AS v
          ON v.as_of_date = p.as_of_date AND v.client_id = p.client_id AND v.scenario = 'baseline'
        WHERE p.as_of_date = $d
        """,
        d=previous or date.min,
    )
    context = context.merge(before, on="client_id", how="left", validate="one_to_one")
    change = _read(con, "SELECT * FROM valuation.attribution WHERE as_of_date = $d", d=day)
    if not change.empty:
        amounts = change[[f"{f}_cny" for f in _FACTORS]].to_numpy(dtype=float)
        top = np.abs(amounts).argmax(axis=1)
        change["clv_change_top_factor"] = np.array(_FACTORS, dtype=object)[top]
        change["clv_change_top_factor_cny"] = amounts[np.arange(len(change)), top]
        context = context.merge(
            change[["client_id", "clv_change_top_factor", "clv_change_top_factor_cny"]], on="client_id", how="left"
        )
    else:
        context["clv_change_top_factor"], context["clv_change_top_factor_cny"] = None, np.nan
    maturing = _read(
        con,
        """
        SELECT client_id,
               sum(drawn_balance_cny) FILTER (WHERE maturity_date <= $d + to_days($maturing))::DOUBLE
                 / nullif(sum(drawn_balance_cny), 0)::DOUBLE AS maturing_share,
               bool_or(start_date > $d - to_days($renewal)) AS has_recent_renewal
        FROM marts.fct_facility_daily
        WHERE as_of_date = $d AND is_on_book
        GROUP BY client_id
        """,
        d=day,
        maturing=params.maturity_window_days,
        renewal=params.renewal_window_days,
    )
    return context.merge(maturing, on="client_id", how="left")


def _previous_run(con, day: date, params: SegmentParams) -> PreviousRun | None:  # noqa: ANN001
    """The latest earlier run's clusters, open signals and segments."""
    row = con.execute(f"SELECT max(as_of_date) FROM {outputs.SCHEMA}.runs WHERE as_of_date < $d", {"d": day}).fetchone()
    if not row or row[0] is None:
        return None
    previous = row[0]
    segments = _read(con, f"SELECT {', '.join(PREVIOUS_SEGMENT_COLUMNS)} FROM {outputs.SCHEMA}.client_segments "
                          "WHERE as_of_date = $d", d=previous)  # fmt: skip
    open_signals = _read(
        con,
        f"SELECT * FROM {outputs.SCHEMA}.warning_signals WHERE as_of_date = $d AND status IN ('new', 'active')",
        d=previous,
    )[list(HISTORY_COLUMNS)]
    stored = _read(con, f"SELECT cluster_id, centroid FROM {outputs.SCHEMA}.cluster_centroids WHERE as_of_date = $d",
                   d=previous)  # fmt: skip
    clusters = None
    if not stored.empty:
        centroids = pd.DataFrame([json.loads(c) for c in stored["centroid"]])
        if all(f in centroids.columns for f in params.clusters.features):
            centroids.insert(0, "cluster_id", stored["cluster_id"].astype(int).to_numpy())
            labels = segments.set_index("client_id")
            clusters = PreviousClusters(
                centroids=centroids[["cluster_id", *params.clusters.features]],
                labels=labels["cluster_id"].astype(int),
                fingerprints=labels["feature_fingerprint"].astype(str),
            )
        else:
            log.warning("previous clusters were built on other features: cluster ids start afresh")
    return PreviousRun(previous, clusters, open_signals, segments)


def _month_end_migration(con, day: date) -> pd.DataFrame | None:  # noqa: ANN001
    """Migration between the runs at the last two month ends before D's month (the latest run on or before
    each month end), when both exist."""
    end_1 = day.replace(day=1) - timedelta(days=1)
    end_0 = end_1.replace(day=1) - timedelta(days=1)
    start, end = con.execute(
        f"""SELECT (SELECT max(as_of_date) FROM {outputs.SCHEMA}.runs WHERE as_of_date <= $e0),
                   (SELECT max(as_of_date) FROM {outputs.SCHEMA}.runs WHERE as_of_date <= $e1 AND as_of_date > $e0)""",
        {"e0": end_0, "e1": end_1},
    ).fetchone()
    if start is None or end is None:
        return None
    read = f"SELECT {', '.join(PREVIOUS_SEGMENT_COLUMNS)} FROM {outputs.SCHEMA}.client_segments WHERE as_of_date = $d"
    return migrations(_read(con, read, d=start), _read(con, read, d=end), "month_end", start, end)


@dataclass(frozen=True)
class SegmentInputs:
    """What the segmentation of D reads from the warehouse."""

    profile: pd.DataFrame
    values: pd.DataFrame
    catalogue: pd.DataFrame
    context: pd.DataFrame
    previous: PreviousRun | None


def day_of(as_of_date: date | str) -> date:
    return as_of_date if isinstance(as_of_date, date) else date.fromisoformat(as_of_date)


def current_params() -> SegmentParams:
    settings = get_settings()
    return load_segment_params(settings.segment_rules_path, mode=settings.mode)


def gather_inputs(con, day: date, params: SegmentParams) -> SegmentInputs:  # noqa: ANN001
    """D's profile (the columns the rules read), its CLV, the product catalogue, the previous run, the context."""
    for statement in outputs.ddl():
        con.execute(statement)
    # in client order: DuckDB returns rows in any order, and the summaries' sums would differ in their last bits
    profile = _read(con, f"SELECT {_profile_select(con, params)} FROM marts.fct_client_profile WHERE as_of_date = $d "
                         "ORDER BY client_id", d=day)  # fmt: skip
    if profile.empty:
        raise SegmentRunError(f"no client profile for {day}: build it first (dbt_build, or build-profile --date {day})")
    values = _values(con, day, params.stressed_scenario)
    if values.empty:
        raise SegmentRunError(f"no CLV for {day}: run the clv stage first (python -m python_tasks clv --date {day})")
    catalogue = _read(con, "SELECT product_code, product_family, is_credit FROM reference.ref_products")
    previous = _previous_run(con, day, params)
    log.info("segments %s: %d clients, previous run %s", day, len(profile),
             previous.as_of_date if previous else None)  # fmt: skip
    context = _context(con, day, previous.as_of_date if previous else None, params.warnings)
    return SegmentInputs(profile, values, catalogue, context, previous)


def store_results(
    con,  # noqa: ANN001 - a DuckDB connection
    day: date,
    run_id: str,
    params: SegmentParams,
    result: SegmentedPortfolio,
    previous_date: date | None,
    clients: int,
    started_at: datetime,
) -> dict:
    """Add the month-end migration and replace D's rows of every ``segments`` table in one transaction."""
    for statement in outputs.ddl():
        con.execute(statement)
    tables = dict(result.tables)
    month_end = _month_end_migration(con, day)
    if month_end is not None:
        tables["migration"] = pd.concat([tables["migration"], month_end], ignore_index=True)
    params_json = params.model_dump_json()
    con.execute("BEGIN TRANSACTION")
    try:
        written = 0
        for table, data in tables.items():
            data = data.assign(as_of_date=day, _run_id=run_id)
            written += replace_partition(con, f"{outputs.SCHEMA}.{table}", outputs.columns(table), day, data)
        counts = result.signal_counts
        run = pd.DataFrame([{
            "as_of_date": day, "run_id": run_id, "params_version": params.version,
            "params_sha256": hashlib.sha256(params_json.encode()).hexdigest(), "params_json": params_json,
            "previous_as_of_date": previous_date, "clients": clients,
            "value_high_min_cny": result.thresholds.high_min_cny, "value_low_max_cny": result.thresholds.low_max_cny,
            "clusters": result.clusters, "clusters_kept_by_fingerprint": result.kept_by_fingerprint,
            "signals_new": counts.get("new", 0), "signals_active": counts.get("active", 0),
            "signals_closed": counts.get("closed", 0), "watch_list_clients": len(tables["watch_list"]),
            "rows_written": written, "seconds": (datetime.now(UTC) - started_at).total_seconds(),
            "started_at": started_at, "finished_at": datetime.now(UTC),
        }])  # fmt: skip
        replace_partition(con, f"{outputs.SCHEMA}.runs", outputs.columns("runs"), day, run)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    segments = tables["client_segments"]
    summary = {
        "as_of_date": day.isoformat(),
        "run_id": run_id,
        "params_version": params.version,
        "previous_run": previous_date.isoformat() if previous_date else None,
        "clients": len(segments),
        "value_tiers": {k: int(v) for k, v in segments["value_tier"].value_counts().items()},
        "strategies": {k: int(v) for k, v in segments["strategy"].value_counts().items()},
        "lifecycle": {k: int(v) for k, v in segments["lifecycle_stage"].value_counts().items()},
        "clusters": result.clusters,
        "offers": int(segments["next_best_offer"].notna().sum()),
        "signals": result.signal_counts,
        "watch_list": len(tables["watch_list"]),
        "seconds": round((datetime.now(UTC) - started_at).total_seconds(), 2),
    }
    log.info("segments %s done: %s", day, json.dumps(summary, ensure_ascii=False))
    return summary


def run_segments(as_of_date: date | str, run_id: str) -> dict:
    """Segment every client of D's profile and replace D's rows of the ``segments`` tables (in one process; the
    DAG runs the same steps split into shards: python_tasks/segments/sharded.py)."""
    day = day_of(as_of_date)
    params = current_params()
    started_at = datetime.now(UTC)
    with connect() as con:
        inputs = gather_inputs(con, day, params)
        try:
            result = segment_portfolio(
                inputs.profile, inputs.values, inputs.catalogue, inputs.context, params, day, inputs.previous,
                progress=lambda message: log.info("segments %s: %s", day, message),
            )  # fmt: skip
        except SegmentInputError as exc:
            raise SegmentRunError(str(exc)) from exc
        previous_date = inputs.previous.as_of_date if inputs.previous else None
        return store_results(con, day, run_id, params, result, previous_date, len(inputs.profile), started_at)
