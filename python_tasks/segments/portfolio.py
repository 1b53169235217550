"""The whole segmentation of one business date as a pure function of frames: what the job runs and what the
benchmark measures (no I/O here; python_tasks/segments/job.py reads the warehouse and writes the results).

Inputs: D's client profile, its CLV (base and stressed), the product catalogue, a context frame per client
(the previous run's facts, the CLV attribution's main factor, the facilities maturing soon) and the previous
run's state (clusters, open signals, segments). Output: every table of the ``segments`` schema for D.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from python_tasks.segments import outputs
from python_tasks.segments.clusters import ClusterResult, PreviousClusters, assign_clusters
from python_tasks.segments.early_warning import (
    HISTORY_COLUMNS,
    build_watch_list,
    evaluate_signals,
    update_signal_history,
)
from python_tasks.segments.lifecycle import lifecycle_stages
from python_tasks.segments.migration import migration_matrices, segment_summary
from python_tasks.segments.params import SegmentParams
from python_tasks.segments.products import holdings, usage_patterns
from python_tasks.segments.recommend import next_best_offers
from python_tasks.segments.tiers import (
    ValueThresholds,
    lookup,
    risk_tiers,
    strategies,
    value_thresholds,
    value_tiers,
)

#: the per-client context the early-warning rules compare today's facts with (built by the job)
CONTEXT_COLUMNS = (
    "client_id", "clv_prev_cny", "current_dpd_prev", "current_grade_prev", "current_grade_rank_prev",
    "collateral_coverage_ratio_prev", "clv_change_top_factor", "clv_change_top_factor_cny", "maturing_share",
    "has_recent_renewal",
)  # fmt: skip
#: today's facts the rules read from the profile and the CLV
_TODAY = (
    "client_id", "clv_cny", "current_dpd", "max_dpd_3m", "current_grade", "current_grade_rank",
    "notches_downgraded_12m", "debt_service_coverage_ratio", "leverage_ratio", "interest_coverage_ratio",
    "industry_section_code", "industry_npl_ratio_change_yoy_pp", "industry_output_growth_pct",
    "collateral_coverage_ratio", "ead_cny", "is_defaulted",
)  # fmt: skip


#: profile columns the segmentation reads besides those named in the rules (offer conditions, cluster features)
_PROFILE_COLUMNS = (
    "client_id", "client_status", "asset_class", "enterprise_size", "industry_section_code", "region_code",
    "region_economic_tier", "ead_cny", "products_held_list", "has_credit_exposure", "tenure_months",
    "drawn_balance_cny", "drawn_balance_12m_ago_cny", "exposure_growth_12m", "fee_events_12m",
    "days_since_last_contact", *[c for c in _TODAY if c not in ("client_id", "clv_cny", "ead_cny", "is_defaulted")],
)  # fmt: skip
#: columns the segmentation derives itself or takes from the CLV (never read from the profile)
_DERIVED = (
    "value_tier", "risk_tier", "strategy", "lifecycle_stage", "usage_pattern", "is_prospect", "clv_cny",
    "clv_stressed_cny", "pit_pd", "capital_cny", "expected_loss_12m_cny", "raroc_numerator_cny", "is_defaulted",
)  # fmt: skip
#: the previous run's segment columns the next run reads (migration, clusters)
PREVIOUS_SEGMENT_COLUMNS = ("client_id", "ead_cny", "feature_fingerprint", *outputs.MIGRATION_DIMENSIONS)


def profile_columns(params: SegmentParams) -> list[str]:
    """The profile columns a run reads: the fixed ones plus every column an offer rule or the clustering
    names (a large portfolio should not carry the profile's ninety columns through the segmentation)."""
    named = [c.column for rule in params.next_best_offer.rules for c in rule.when if c.column is not None]
    wanted = [*_PROFILE_COLUMNS, *named, *params.clusters.features]
    return list(dict.fromkeys(c for c in wanted if c not in _DERIVED))


class SegmentInputError(ValueError):
    """The inputs of the segmentation break a rule; the message says which and what to do."""


@dataclass(frozen=True)
class PreviousRun:
    """What the previous run left: its date, clusters, open signals and segments (for migration)."""

    as_of_date: date
    clusters: PreviousClusters | None
    open_signals: pd.DataFrame
    segments: pd.DataFrame


@dataclass(frozen=True)
class SegmentedPortfolio:
    tables: dict[str, pd.DataFrame]
    thresholds: ValueThresholds
    clusters: int
    kept_by_fingerprint: int
    signal_counts: dict[str, int]


def _label(params: SegmentParams, kind: str, values: np.ndarray) -> np.ndarray:
    return lookup(values, {k: v.zh for k, v in params.labels[kind].items()}, f"labels.{kind}")


def classify(
    profile: pd.DataFrame,
    values: pd.DataFrame,
    catalogue: pd.DataFrame,
    params: SegmentParams,
    thresholds: ValueThresholds | None = None,
) -> pd.DataFrame:
    """Every segmentation but the clusters, the strategy with its policy, and the next best offer: one row per
    client of the profile (which must all be valued). The value-tier thresholds are today's portfolio's
    (``fit_portfolio``); a shard of the portfolio passes the whole portfolio's."""
    frame = _valued(profile, values)
    is_prospect = frame["client_status"].eq("prospect").to_numpy()
    if thresholds is None:
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
        frame[column] = lookup(frame["strategy"].to_numpy(), {k: pick(v) for k, v in policies.items()}, "policies")
    frame["review_months"] = frame["review_months"].astype(np.int64)
    frame["lifecycle_stage"], frame["lifecycle_reason"] = lifecycle_stages(frame, params.lifecycle)
    held = holdings(frame["products_held_list"], catalogue)
    frame["usage_pattern"] = usage_patterns(held, catalogue)
    for kind in ("value_tier", "risk_tier", "lifecycle_stage", "usage_pattern"):
        frame[f"{kind}_zh"] = _label(params, kind, frame[kind].to_numpy())
    frame["is_prospect"] = is_prospect
    offers = next_best_offers(frame, held, params.next_best_offer, catalogue)
    frame = pd.concat([frame.reset_index(drop=True), offers], axis=1)
    return frame


def signal_inputs(frame: pd.DataFrame, context: pd.DataFrame) -> pd.DataFrame:
    """The early-warning rules' input: today's facts plus the context. Covenants and the industry's stress
    matter under a credit agreement: a client without exposure (a prospect, a depositor) has no covenant
    to breach and no loan the industry's stress puts at risk, so those facts are blanked for it."""
    missing = [c for c in CONTEXT_COLUMNS if c not in context.columns]
    if missing:
        raise SegmentInputError(f"signal context: missing column(s) {missing}")
    inputs = frame[list(_TODAY)].merge(
        context[list(CONTEXT_COLUMNS)], on="client_id", how="left", validate="one_to_one"
    )
    inputs["maturing_share"] = inputs["maturing_share"].fillna(0.0)
    inputs["has_recent_renewal"] = inputs["has_recent_renewal"].fillna(False).astype(bool)
    for column in ("current_dpd", "max_dpd_3m", "notches_downgraded_12m"):
        inputs[column] = inputs[column].fillna(0)
    borrower = frame["has_credit_exposure"].fillna(False).to_numpy(dtype=bool)
    for column in ("debt_service_coverage_ratio", "leverage_ratio", "interest_coverage_ratio",
                   "industry_npl_ratio_change_yoy_pp", "industry_output_growth_pct"):  # fmt: skip
        inputs[column] = inputs[column].where(borrower)
    return inputs


def migrations(before: pd.DataFrame, now: pd.DataFrame, comparison: str, start: date, end: date) -> pd.DataFrame:
    """Migration matrices of every tracked segmentation between two runs' client_segments (one join of
    the two runs, then one matrix per segmentation)."""
    dims = list(outputs.MIGRATION_DIMENSIONS)

    def lean(table: pd.DataFrame) -> pd.DataFrame:
        return table[["client_id", "ead_cny", *dims]].astype({d: str for d in dims} | {"ead_cny": float})

    out = migration_matrices(lean(before), lean(now), dims)
    out["comparison"], out["from_date"], out["to_date"] = comparison, start, end
    return out


@dataclass(frozen=True)
class PortfolioFits:
    """The decisions made once on the whole portfolio of D: the value-tier thresholds and the clusters. A
    shard of the portfolio segments its clients with them (sharded.py), so any split gives the same rows."""

    thresholds: ValueThresholds
    clusters: ClusterResult


def _valued(profile: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    frame = profile.merge(values, on="client_id", how="left", validate="one_to_one")
    unvalued = frame["clv_cny"].isna()
    if unvalued.any():
        raise SegmentInputError(
            f"{int(unvalued.sum())} clients of the profile have no CLV (e.g. "
            f"{frame.loc[unvalued, 'client_id'].head(3).tolist()}): run the clv stage for this date first"
        )
    return frame


def fit_portfolio(
    profile: pd.DataFrame, values: pd.DataFrame, params: SegmentParams, previous: PreviousRun | None
) -> PortfolioFits:
    """The value-tier thresholds (quantiles of today's CLV) and the behavioural clusters (k-means, ids kept
    from the previous run): the two parts of the segmentation that look at every client at once."""
    frame = _valued(profile, values)
    is_prospect = frame["client_status"].eq("prospect").to_numpy()
    thresholds = value_thresholds(frame["clv_cny"].to_numpy(), is_prospect, params.value_tier)
    features = frame.set_index("client_id")[list(params.clusters.features)]
    clusters = assign_clusters(features, params.clusters, previous.clusters if previous else None)
    return PortfolioFits(thresholds, clusters)


def segment_clients(
    profile: pd.DataFrame,
    values: pd.DataFrame,
    catalogue: pd.DataFrame,
    context: pd.DataFrame,
    params: SegmentParams,
    day: date,
    fits: PortfolioFits,
    previous_date: date | None,
    open_before: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The per-client work for some clients of D (all, or one shard): tiers, strategy, lifecycle, usage,
    offers, their cluster, and their signals. Returns (segments, signal history, signal inputs); every row
    depends on its own client's inputs and the portfolio's ``fits`` only."""
    frame = classify(profile, values, catalogue, params, fits.thresholds)
    labels, fingerprints = fits.clusters.labels, fits.clusters.fingerprints
    frame["cluster_id"] = labels.reindex(frame["client_id"]).to_numpy(dtype=int)
    frame["feature_fingerprint"] = fingerprints.reindex(frame["client_id"]).to_numpy(dtype=object)
    centroids = fits.clusters.centroids
    descriptions = dict(zip(centroids["cluster_id"], centroids["description"], strict=True))
    frame["cluster_description"] = frame["cluster_id"].map(descriptions)
    inputs = signal_inputs(frame, context)
    raised = evaluate_signals(inputs, params.warnings, previous_date=previous_date)
    history = update_signal_history(open_before, raised, day)
    frame["ead_cny"] = frame["ead_cny"].fillna(0.0)
    return frame, history, inputs


def finish_portfolio(
    frame: pd.DataFrame,
    history: pd.DataFrame,
    inputs: pd.DataFrame,
    fits: PortfolioFits,
    params: SegmentParams,
    day: date,
    previous: PreviousRun | None,
) -> SegmentedPortfolio:
    """The portfolio-wide results from every client's rows: the watch list (ranked across the portfolio),
    the summaries, the run-to-run migration, the clusters' centroids; every table of the schema."""
    watch = build_watch_list(history, inputs, params.warnings)
    counts = {k: int(v) for k, v in history["status"].value_counts().items()}
    summary = segment_summary(frame, list(outputs.SUMMARY_DIMENSIONS))
    migration = (
        migrations(previous.segments, frame, "run", previous.as_of_date, day)
        if previous is not None and not previous.segments.empty
        else pd.DataFrame(columns=outputs.columns("migration"))
    )
    clusters = fits.clusters
    centroids = clusters.centroids
    features_list = list(params.clusters.features)
    stored_centroids = pd.DataFrame({
        "cluster_id": centroids["cluster_id"].astype(int),
        "clients": centroids["clients"].astype(int),
        "share": centroids["share"].astype(float),
        "centroid": [
            json.dumps(dict(zip(features_list, map(float, row), strict=True)))
            for row in centroids[features_list].to_numpy()
        ],
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
    return SegmentedPortfolio(tables, fits.thresholds, len(centroids), clusters.kept_by_fingerprint, counts)


def open_signals_before(previous: PreviousRun | None) -> pd.DataFrame:
    """The signals open after the previous run (none before the first run)."""
    return previous.open_signals if previous is not None else pd.DataFrame(columns=list(HISTORY_COLUMNS))


def segment_portfolio(
    profile: pd.DataFrame,
    values: pd.DataFrame,
    catalogue: pd.DataFrame,
    context: pd.DataFrame,
    params: SegmentParams,
    day: date,
    previous: PreviousRun | None,
    *,
    progress=None,  # noqa: ANN001 - optional callable(message)
) -> SegmentedPortfolio:
    """Every segmentation, the clusters, the offers, the signals and watch list, summaries and the
    run-to-run migration for D: ``fit_portfolio``, ``segment_clients`` on every client, ``finish_portfolio``
    (the sharded run does the middle step per shard)."""
    say = progress or (lambda _message: None)
    fits = fit_portfolio(profile, values, params, previous)
    clusters = fits.clusters
    say(f"{len(clusters.centroids)} clusters ({clusters.kept_by_fingerprint} clients kept theirs: unchanged features)")
    frame, history, inputs = segment_clients(
        profile, values, catalogue, context, params, day, fits,
        previous.as_of_date if previous else None, open_signals_before(previous),
    )  # fmt: skip
    say(f"tiers, strategy, lifecycle, usage, offers and signals for {len(frame)} clients")
    result = finish_portfolio(frame, history, inputs, fits, params, day, previous)
    say(f"signals {result.signal_counts}; {len(result.tables['watch_list'])} clients on the watch list")
    return result
