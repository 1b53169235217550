"""The segmentation stage's output tables (schema ``segments``): one definition of their columns, used
by the job that writes them and by the tests and documents that read them (docs/segments.md lists each
with its grain). Every table is partitioned by ``as_of_date``: a run for D replaces exactly D's rows, in
one transaction.
"""

from __future__ import annotations

from python_tasks.io.warehouse import ddl_columns

SCHEMA = "segments"

TABLES: dict[str, str] = {
    # one row per client per business date: every segmentation, the strategy and its policy, the offer
    "client_segments": """
        as_of_date DATE NOT NULL, client_id VARCHAR NOT NULL, client_status VARCHAR NOT NULL,
        is_prospect BOOLEAN NOT NULL, clv_cny DOUBLE NOT NULL, clv_stressed_cny DOUBLE NOT NULL,
        value_tier VARCHAR NOT NULL, value_tier_zh VARCHAR NOT NULL, value_reason VARCHAR NOT NULL,
        pit_pd DOUBLE NOT NULL, asset_class VARCHAR, risk_tier VARCHAR NOT NULL, risk_tier_zh VARCHAR NOT NULL,
        risk_reason VARCHAR NOT NULL, strategy VARCHAR NOT NULL, strategy_zh VARCHAR NOT NULL,
        policy_pricing_en VARCHAR NOT NULL, policy_pricing_zh VARCHAR NOT NULL, policy_terms_en VARCHAR NOT NULL,
        policy_terms_zh VARCHAR NOT NULL, policy_service_en VARCHAR NOT NULL, policy_service_zh VARCHAR NOT NULL,
        review_months INTEGER NOT NULL, lifecycle_stage VARCHAR NOT NULL, lifecycle_stage_zh VARCHAR NOT NULL,
        lifecycle_reason VARCHAR NOT NULL, enterprise_size VARCHAR, industry_section_code VARCHAR,
        region_code VARCHAR, region_economic_tier INTEGER, usage_pattern VARCHAR NOT NULL,
        usage_pattern_zh VARCHAR NOT NULL, cluster_id INTEGER NOT NULL, cluster_description VARCHAR NOT NULL,
        next_best_offer VARCHAR, offer_rule VARCHAR, offer_reason_en VARCHAR, offer_reason_zh VARCHAR,
        ead_cny DOUBLE NOT NULL, feature_fingerprint VARCHAR NOT NULL, params_version VARCHAR NOT NULL,
        _run_id VARCHAR NOT NULL, PRIMARY KEY (as_of_date, client_id)
    """,
    # the clusters of the run: size, centroid in business units, description
    "cluster_centroids": """
        as_of_date DATE NOT NULL, cluster_id INTEGER NOT NULL, clients BIGINT NOT NULL, share DOUBLE NOT NULL,
        centroid JSON NOT NULL, description VARCHAR NOT NULL, _run_id VARCHAR NOT NULL,
        PRIMARY KEY (as_of_date, cluster_id)
    """,
    # the criterion that chose the number of clusters
    "cluster_selection": """
        as_of_date DATE NOT NULL, k INTEGER NOT NULL, silhouette DOUBLE NOT NULL, inertia DOUBLE NOT NULL,
        is_chosen BOOLEAN NOT NULL, _run_id VARCHAR NOT NULL, PRIMARY KEY (as_of_date, k)
    """,
    # early-warning signals as of D: new and still active ones, and those closed on D
    "warning_signals": """
        as_of_date DATE NOT NULL, client_id VARCHAR NOT NULL, signal_code VARCHAR NOT NULL, status VARCHAR NOT NULL,
        severity VARCHAR NOT NULL, escalated BOOLEAN NOT NULL, opened_date DATE NOT NULL, last_seen_date DATE NOT NULL,
        closed_date DATE, days_open INTEGER NOT NULL, observed_value DOUBLE, threshold DOUBLE,
        reason_en VARCHAR NOT NULL, reason_zh VARCHAR NOT NULL, _run_id VARCHAR NOT NULL,
        PRIMARY KEY (as_of_date, client_id, signal_code)
    """,
    # clients with open signals, most urgent first
    "watch_list": """
        as_of_date DATE NOT NULL, client_id VARCHAR NOT NULL, priority_score DOUBLE NOT NULL,
        priority_rank INTEGER NOT NULL, signals VARCHAR NOT NULL, highest_severity VARCHAR NOT NULL,
        new_signals INTEGER NOT NULL, reason_en VARCHAR NOT NULL, reason_zh VARCHAR NOT NULL,
        _run_id VARCHAR NOT NULL, PRIMARY KEY (as_of_date, client_id)
    """,
    # migration between the previous run and D, and between the last two month ends
    "migration": """
        as_of_date DATE NOT NULL, comparison VARCHAR NOT NULL, from_date DATE NOT NULL, to_date DATE NOT NULL,
        dimension VARCHAR NOT NULL, from_label VARCHAR NOT NULL, to_label VARCHAR NOT NULL, clients BIGINT NOT NULL,
        exposure_cny DOUBLE NOT NULL, exposure_before_cny DOUBLE NOT NULL, _run_id VARCHAR NOT NULL,
        PRIMARY KEY (as_of_date, comparison, dimension, from_label, to_label)
    """,
    # clients, exposure, CLV, EL and RAROC per segment of each segmentation and per strategy cell
    "segment_summary": """
        as_of_date DATE NOT NULL, dimension VARCHAR NOT NULL, segment VARCHAR NOT NULL, clients BIGINT NOT NULL,
        ead_cny DOUBLE NOT NULL, clv_cny DOUBLE NOT NULL, clv_stressed_cny DOUBLE NOT NULL,
        expected_loss_12m_cny DOUBLE NOT NULL, capital_cny DOUBLE NOT NULL, raroc DOUBLE,
        share_of_clients DOUBLE NOT NULL, share_of_clv DOUBLE, _run_id VARCHAR NOT NULL,
        PRIMARY KEY (as_of_date, dimension, segment)
    """,
    # one row per run: rules version, thresholds, cluster choice, signal counts, timing
    "runs": """
        as_of_date DATE NOT NULL, run_id VARCHAR NOT NULL, params_version VARCHAR NOT NULL,
        params_sha256 VARCHAR NOT NULL, params_json JSON NOT NULL, previous_as_of_date DATE, clients BIGINT NOT NULL,
        value_high_min_cny DOUBLE NOT NULL, value_low_max_cny DOUBLE NOT NULL, clusters INTEGER NOT NULL,
        clusters_kept_by_fingerprint BIGINT NOT NULL, signals_new BIGINT NOT NULL, signals_active BIGINT NOT NULL,
        signals_closed BIGINT NOT NULL, watch_list_clients BIGINT NOT NULL, rows_written BIGINT NOT NULL,
        seconds DOUBLE NOT NULL, started_at TIMESTAMP WITH TIME ZONE NOT NULL,
        finished_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (as_of_date)
    """,
}

#: the segmentations that get migration matrices and summaries
MIGRATION_DIMENSIONS = ("value_tier", "risk_tier", "lifecycle_stage", "cluster_id")
SUMMARY_DIMENSIONS = (
    "value_tier", "risk_tier", "strategy", "strategy_cell", "lifecycle_stage", "enterprise_size",
    "industry_section_code", "region_economic_tier", "usage_pattern", "cluster_id",
)  # fmt: skip


def ddl() -> list[str]:
    """CREATE statements for the schema and every table (idempotent)."""
    return [f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"] + [
        f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{name} ({columns.strip()})" for name, columns in TABLES.items()
    ]


def columns(table: str) -> list[str]:
    """Column names of an output table, in order."""
    return ddl_columns(TABLES[table])
