"""The segmentation run for one business date D: read the profile, the CLV and the previous run; segment,
cluster, recommend, raise early warnings; write the ``segments`` tables in one transaction.

Thin on purpose: the rules are in the pure modules of this package and their thresholds in
config/segment_rules.yml. A rerun of D gives the same rows (the previous run is the latest earlier D in
``segments.runs``, whatever ran since); a failure leaves the previous rows. It runs in the warehouse pool.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from python_tasks.io.warehouse import connect, replace_partition
from python_tasks.segments import outputs
from python_tasks.segments.clusters import PreviousClusters, assign_clusters
from python_tasks.segments.early_warning import (
    HISTORY_COLUMNS,
    WarningParams,
    build_watch_list,
    evaluate_signals,
    update_signal_history,
)
from python_tasks.segments.lifecycle import lifecycle_stages
from python_tasks.segments.migration import migration_matrix, segment_summary
from python_tasks.segments.params import SegmentParams, load_segment_params
from python_tasks.segments.products import holdings, usage_patterns
from python_tasks.segments.recommend import next_best_offers
from python_tasks.segments.tiers import risk_tiers, strategies, value_thresholds, value_tiers
from python_tasks.settings import get_settings

log = logging.getLogger(__name__)

#: attribution columns a CLV change is explained by (valuation.attribution)
_FACTORS = ("exposure", "margin", "pd", "lgd", "retention", "macro", "parameters", "new_client", "lost_client")


class SegmentRunError(RuntimeError):
    """The segmentation cannot proceed; the message says what is missing and what to do."""


def _read(con, sql: str, **params: object) -> pd.DataFrame:  # noqa: ANN001 - a DuckDB connection
    return con.execute(sql, params).df()


def _label(params: SegmentParams, kind: str, values: np.ndarray) -> np.ndarray:
    zh = {k: v.zh for k, v in params.labels[kind].items()}
    return pd.Series(values, dtype=object).map(zh).to_numpy(dtype=object)


def classify(
    profile: pd.DataFrame, values: pd.DataFrame, catalogue: pd.DataFrame, params: SegmentParams
) -> pd.DataFrame:
    """Every segmentation but the clusters, the strategy with its policy, and the next best offer: one row per
    client of the profile (which must all be valued)."""
    frame = profile.merge(values, on="client_id", how="left", validate="one_to_one")
    unvalued = frame["clv_cny"].isna()
    if unvalued.any():
        raise SegmentRunError(
            f"{int(unvalued.sum())} clients of the profile have no CLV (e.g. "
            f"{frame.loc[unvalued, 'client_id'].head(3).tolist()}): run the clv stage for this date first"
        )
    is_prospect = frame["client_status"].eq("prospect").to_numpy()
    thresholds = value_thresholds(frame["clv_cny"].to_numpy(), is_prospect, params.value_tier)
    frame["value_tier"], frame["value_reason"] = value_tiers(frame["clv_cny"].to_numpy(), thresholds)
    defaulted = frame["is_defaulted"].to_numpy(dtype=bool)
    frame["risk_tier"], frame["risk_reason"] = risk_tiers(
        frame["pit_pd"].to_numpy(), frame["asset_class"], defaulted, params.risk_tier
    )
    frame["strategy"] = strategies(
        frame["value_tier"].to_numpy(), frame["risk_tier"].to_numpy(), params.strategy_matrix
    )
    frame["strategy_cell"] = frame["value_tier"] + " value × " + frame["risk_tier"] + " risk"
    policies = params.policies
    for column, pick in (
        ("strategy_zh", lambda p: p.label.zh), ("policy_pricing_en", lambda p: p.pricing.en),
        ("policy_pricing_zh", lambda p: p.pricing.zh), ("policy_terms_en", lambda p: p.credit_terms.en),
        ("policy_terms_zh", lambda p: p.credit_terms.zh), ("policy_service_en", lambda p: p.service.en),
        ("policy_service_zh", lambda p: p.service.zh), ("review_months", lambda p: p.review_months),
    ):  # fmt: skip
        frame[column] = frame["strategy"].map({k: pick(v) for k, v in policies.items()})
    frame["lifecycle_stage"], frame["lifecycle_reason"] = lifecycle_stages(frame, params.lifecycle)
    held = holdings(frame["products_held_list"], catalogue)
    frame["usage_pattern"] = usage_patterns(held, catalogue)
    for kind in ("value_tier", "risk_tier", "lifecycle_stage", "usage_pattern"):
        frame[f"{kind}_zh"] = _label(params, kind, frame[kind].to_numpy())
    frame["is_prospect"] = is_prospect
    offers = next_best_offers(frame, held, params.next_best_offer, catalogue)
    frame = pd.concat([frame.reset_index(drop=True), offers], axis=1)
    frame.attrs["value_thresholds"] = thresholds
    return frame


def _values(con, day: date, stressed: str) -> pd.DataFrame:  # noqa: ANN001
    values = _read(
        con,
        """
        SELECT b.client_id, b.clv_cny, s.clv_cny AS clv_stressed_cny, b.pit_pd, b.ead_cny AS valued_ead_cny,
               b.capital_cny, b.expected_loss_12m_cny,
               coalesce(b.raroc * b.capital_cny, 0) AS raroc_numerator_cny,
               i.is_defaulted
        FROM valuation.client_values AS b
        JOIN valuation.client_values AS s ON s.as_of_date = b.as_of_date AND s.client_id = b.client_id
             AND s.scenario = $stressed
        JOIN valuation.engine_inputs_clients AS i ON i.as_of_date = b.as_of_date AND i.client_id = b.client_id
        WHERE b.as_of_date = $d AND b.scenario = 'baseline'
        """,
        d=day,
        stressed=stressed,
    )
    return values


def _signal_inputs(con, day: date, previous: date | None, frame: pd.DataFrame, params: WarningParams) -> pd.DataFrame:  # noqa: ANN001
    """One row per client with what the early-warning rules compare: today's profile and CLV, the previous
    run's, the attribution's main factor, and the facilities maturing soon."""
    inputs = frame[[
        "client_id", "clv_cny", "current_dpd", "max_dpd_3m", "current_grade", "current_grade_rank",
        "notches_downgraded_12m", "debt_service_coverage_ratio", "leverage_ratio", "interest_coverage_ratio",
        "industry_section_code", "industry_npl_ratio_change_yoy_pp", "industry_output_growth_pct",
        "collateral_coverage_ratio", "ead_cny", "is_defaulted",
    ]].copy()  # fmt: skip
    if previous is not None:
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
            d=previous,
        )
        inputs = inputs.merge(before, on="client_id", how="left", validate="one_to_one")
    else:
        for column in ("current_dpd_prev", "current_grade_rank_prev", "collateral_coverage_ratio_prev", "clv_prev_cny"):
            inputs[column] = np.nan
        inputs["current_grade_prev"] = None
    change = _read(con, "SELECT * FROM valuation.attribution WHERE as_of_date = $d", d=day)
    if not change.empty:
        amounts = change[[f"{f}_cny" for f in _FACTORS]].to_numpy(dtype=float)
        top = np.abs(amounts).argmax(axis=1)
        change["clv_change_top_factor"] = np.array(_FACTORS, dtype=object)[top]
        change["clv_change_top_factor_cny"] = amounts[np.arange(len(change)), top]
        inputs = inputs.merge(
            change[["client_id", "clv_change_top_factor", "clv_change_top_factor_cny"]], on="client_id", how="left"
        )
    else:
        inputs["clv_change_top_factor"], inputs["clv_change_top_factor_cny"] = None, np.nan
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
    inputs = inputs.merge(maturing, on="client_id", how="left")
    inputs["maturing_share"] = inputs["maturing_share"].fillna(0.0)
    inputs["has_recent_renewal"] = inputs["has_recent_renewal"].fillna(False).astype(bool)
    for column in ("current_dpd", "max_dpd_3m", "notches_downgraded_12m"):
        inputs[column] = inputs[column].fillna(0)
    # covenants and the industry's stress matter under a credit agreement: a client without exposure (a
    # prospect, a depositor) has no covenant to breach and no loan the industry's stress puts at risk
    borrower = frame["has_credit_exposure"].fillna(False).to_numpy(dtype=bool)
    for column in ("debt_service_coverage_ratio", "leverage_ratio", "interest_coverage_ratio",
                   "industry_npl_ratio_change_yoy_pp", "industry_output_growth_pct"):  # fmt: skip
        inputs[column] = inputs[column].where(borrower)
    return inputs


def _previous_run(con, day: date) -> date | None:  # noqa: ANN001
    row = con.execute(f"SELECT max(as_of_date) FROM {outputs.SCHEMA}.runs WHERE as_of_date < $d", {"d": day}).fetchone()
    return row[0] if row and row[0] is not None else None


def _previous_clusters(con, previous: date | None, params: SegmentParams) -> PreviousClusters | None:  # noqa: ANN001
    if previous is None:
        return None
    stored = _read(con, f"SELECT cluster_id, centroid FROM {outputs.SCHEMA}.cluster_centroids WHERE as_of_date = $d",
                   d=previous)  # fmt: skip
    if stored.empty:
        return None
    centroids = pd.DataFrame([json.loads(c) for c in stored["centroid"]])
    if any(f not in centroids.columns for f in params.clusters.features):
        log.warning("previous clusters were built on other features: cluster ids start afresh")
        return None
    centroids.insert(0, "cluster_id", stored["cluster_id"].astype(int).to_numpy())
    labels = _read(
        con,
        f"SELECT client_id, cluster_id, feature_fingerprint FROM {outputs.SCHEMA}.client_segments WHERE as_of_date = $d",
        d=previous,
    ).set_index("client_id")
    return PreviousClusters(
        centroids=centroids[["cluster_id", *params.clusters.features]],
        labels=labels["cluster_id"].astype(int),
        fingerprints=labels["feature_fingerprint"].astype(str),
    )


def _month_end_migration(con, day: date) -> tuple[date, date] | None:  # noqa: ANN001
    """The runs at the last two month ends before D's month (the latest run on or before each month end)."""
    first_of_month = day.replace(day=1)
    end_1 = first_of_month - timedelta(days=1)
    end_0 = end_1.replace(day=1) - timedelta(days=1)
    row = con.execute(
        f"""SELECT (SELECT max(as_of_date) FROM {outputs.SCHEMA}.runs WHERE as_of_date <= $e0),
                   (SELECT max(as_of_date) FROM {outputs.SCHEMA}.runs WHERE as_of_date <= $e1 AND as_of_date > $e0)""",
        {"e0": end_0, "e1": end_1},
    ).fetchone()
    return (row[0], row[1]) if row and row[0] is not None and row[1] is not None else None


def _migrations(con, frame: pd.DataFrame, day: date, previous: date | None) -> pd.DataFrame:  # noqa: ANN001
    parts = []
    comparisons = []
    if previous is not None:
        comparisons.append(("run", previous, day))
    month_ends = _month_end_migration(con, day)
    if month_ends is not None:
        comparisons.append(("month_end", *month_ends))
    for comparison, start, end in comparisons:
        stored = {
            d: _read(con, f"SELECT * FROM {outputs.SCHEMA}.client_segments WHERE as_of_date = $d", d=d)
            for d in {start, end} - {day}
        }
        stored[day] = frame if end == day else stored.get(day)
        for dimension in outputs.MIGRATION_DIMENSIONS:

            def pick(table: pd.DataFrame, dimension: str = dimension) -> pd.DataFrame:
                return pd.DataFrame({"client_id": table["client_id"], "label": table[dimension].astype(str),
                                     "ead_cny": table["ead_cny"].astype(float)})  # fmt: skip

            m = migration_matrix(pick(stored[start]), pick(stored[end]), dimension)
            m["comparison"], m["from_date"], m["to_date"] = comparison, start, end
            parts.append(m)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=outputs.columns("migration"))


def run_segments(as_of_date: date | str, run_id: str) -> dict:
    """Segment every client of D's profile and replace D's rows of the ``segments`` tables."""
    day = as_of_date if isinstance(as_of_date, date) else date.fromisoformat(as_of_date)
    settings = get_settings()
    params = load_segment_params(settings.segment_rules_path, mode=settings.mode)
    started_at, started = datetime.now(UTC), time.perf_counter()
    with connect() as con:
        for statement in outputs.ddl():
            con.execute(statement)
        profile = _read(con, "SELECT * EXCLUDE (_run_id) FROM marts.fct_client_profile WHERE as_of_date = $d", d=day)
        if profile.empty:
            raise SegmentRunError(
                f"no client profile for {day}: build it first (dbt_build, or build-profile --date {day})"
            )
        values = _values(con, day, params.stressed_scenario)
        if values.empty:
            raise SegmentRunError(
                f"no CLV for {day}: run the clv stage first (python -m python_tasks clv --date {day})"
            )
        catalogue = _read(con, "SELECT product_code, product_family, is_credit FROM reference.ref_products")
        previous = _previous_run(con, day)
        log.info("segments %s: %d clients, previous run %s", day, len(profile), previous)

        frame = classify(profile, values, catalogue, params)
        thresholds = frame.attrs["value_thresholds"]
        log.info("segments %s: tiers, strategy, lifecycle, usage and offers for %d clients", day, len(frame))

        features = frame.set_index("client_id")[list(params.clusters.features)]
        clusters = assign_clusters(features, params.clusters, _previous_clusters(con, previous, params))
        frame["cluster_id"] = clusters.labels.reindex(frame["client_id"]).to_numpy(dtype=int)
        frame["feature_fingerprint"] = clusters.fingerprints.reindex(frame["client_id"]).to_numpy(dtype=object)
        descriptions = dict(zip(clusters.centroids["cluster_id"], clusters.centroids["description"], strict=True))
        frame["cluster_description"] = frame["cluster_id"].map(descriptions)
        log.info("segments %s: %d clusters (%d clients kept their cluster: unchanged features)",
                 day, len(clusters.centroids), clusters.kept_by_fingerprint)  # fmt: skip

        w = params.warnings
        inputs = _signal_inputs(con, day, previous, frame, w)
        raised = evaluate_signals(inputs, w, previous_date=previous)
        open_before = (
            _read(
                con,
                f"SELECT * FROM {outputs.SCHEMA}.warning_signals WHERE as_of_date = $d AND status IN ('new', 'active')",
                d=previous,
            )  # fmt: skip
            if previous is not None
            else pd.DataFrame(columns=list(HISTORY_COLUMNS))
        )
        history = update_signal_history(
            open_before.drop(columns=["as_of_date", "_run_id"], errors="ignore"), raised, day
        )
        watch = build_watch_list(history, inputs, w)
        counts = history["status"].value_counts()
        log.info("segments %s: signals new %d, active %d, closed %d; %d clients on the watch list", day,
                 counts.get("new", 0), counts.get("active", 0), counts.get("closed", 0), len(watch))  # fmt: skip

        frame["ead_cny"] = frame["ead_cny"].fillna(0.0)
        summary = segment_summary(frame, list(outputs.SUMMARY_DIMENSIONS))
        migration = _migrations(con, frame, day, previous)

        centroids = clusters.centroids
        stored_centroids = pd.DataFrame({
            "cluster_id": centroids["cluster_id"].astype(int),
            "clients": centroids["clients"].astype(int),
            "share": centroids["share"].astype(float),
            "centroid": [json.dumps({f: float(row[f]) for f in params.clusters.features}) for _, row in centroids.iterrows()],
            "description": centroids["description"],
        })  # fmt: skip
        tables = {
            "client_segments": frame.assign(params_version=params.version),
            "cluster_centroids": stored_centroids,
            "cluster_selection": clusters.selection.dropna(subset=["silhouette", "inertia"]),
            "warning_signals": history,
            "watch_list": watch,
            "migration": migration,
            "segment_summary": summary,
        }
        params_json = params.model_dump_json()
        con.execute("BEGIN TRANSACTION")
        try:
            written = 0
            for table, data in tables.items():
                data = data.assign(as_of_date=day, _run_id=run_id)
                written += replace_partition(con, f"{outputs.SCHEMA}.{table}", outputs.columns(table), day, data)
            seconds = time.perf_counter() - started
            run = pd.DataFrame([{
                "as_of_date": day, "run_id": run_id, "params_version": params.version,
                "params_sha256": hashlib.sha256(params_json.encode()).hexdigest(), "params_json": params_json,
                "previous_as_of_date": previous, "clients": len(frame),
                "value_high_min_cny": thresholds.high_min_cny, "value_low_max_cny": thresholds.low_max_cny,
                "clusters": len(centroids), "clusters_kept_by_fingerprint": clusters.kept_by_fingerprint,
                "signals_new": int(counts.get("new", 0)), "signals_active": int(counts.get("active", 0)),
                "signals_closed": int(counts.get("closed", 0)), "watch_list_clients": len(watch),
                "rows_written": written, "seconds": seconds, "started_at": started_at, "finished_at": datetime.now(UTC),
            }])  # fmt: skip
            replace_partition(con, f"{outputs.SCHEMA}.runs", outputs.columns("runs"), day, run)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    result = {
        "as_of_date": day.isoformat(),
        "run_id": run_id,
        "params_version": params.version,
        "previous_run": previous.isoformat() if previous else None,
        "clients": len(frame),
        "value_tiers": {k: int(v) for k, v in frame["value_tier"].value_counts().items()},
        "strategies": {k: int(v) for k, v in frame["strategy"].value_counts().items()},
        "lifecycle": {k: int(v) for k, v in frame["lifecycle_stage"].value_counts().items()},
        "clusters": len(centroids),
        "offers": int(frame["next_best_offer"].notna().sum()),
        "signals": {k: int(v) for k, v in counts.items()},
        "watch_list": len(watch),
        "seconds": round(time.perf_counter() - started, 2),
    }
    log.info("segments %s done: %s", day, json.dumps(result, ensure_ascii=False))
    return result
