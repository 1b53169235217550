"""Declared lineage of the Python tasks of ``clv_daily``: what each reads and writes, which function
computes what, and, for the columns a compliance question is asked about, which input columns.

Python code cannot be parsed for lineage the way SQL can, so this is a declaration, kept next to the code
by tests: every table a job's source names is declared (tests/integration/lineage), every declared column
exists in the warehouse, every function named can be imported. The CLV engine's inputs are recorded per
client in ``valuation.engine_inputs_*`` by the engine itself, which makes the step from the profile to the
value auditable row by row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

PROFILE = "marts.fct_client_profile"
FACILITIES = "marts.fct_facility_daily"
PRODUCTS = "reference.ref_products"
CLIENT_VALUES = "valuation.client_values"
ENGINE_CLIENTS = "valuation.engine_inputs_clients"
ENGINE_FACILITIES = "valuation.engine_inputs_facilities"
CLIENT_SEGMENTS = "segments.client_segments"


@dataclass(frozen=True)
class PythonTask:
    """One Python task of the DAG: the function it calls and the tables it reads and writes."""

    task_id: str
    function: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    #: settings attribute of the parameter file the task reads (python_tasks.settings.Settings)
    params_setting: str | None = None
    description: str = ""


@dataclass(frozen=True)
class ComputedColumn:
    """How a Python stage computes one output column: the function and the input columns (schema.table →
    columns). A column of the same table (``strategy`` from ``value_tier``) is followed in turn."""

    function: str
    inputs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    note: str = ""


def clv_outputs() -> tuple[str, ...]:
    from python_tasks.clv import outputs

    return tuple(f"valuation.{t}" for t in outputs.TABLES)


def segment_outputs() -> tuple[str, ...]:
    from python_tasks.segments import outputs

    return tuple(f"{outputs.SCHEMA}.{t}" for t in outputs.TABLES)


CLV_INPUTS = (
    PROFILE, FACILITIES, PRODUCTS, "marts.fct_relationship_spells", "marts.fct_scorecard_observations",
    "staging.stg_repayments", "staging.stg_fee_income", "intermediate.int_defaults_dated_per_client",
    # the previous run, for the attribution of the change and the backtest
    "valuation.runs", ENGINE_CLIENTS, ENGINE_FACILITIES, CLIENT_VALUES,
)  # fmt: skip
#: the CLV stage's prepare step reads the profile, the calibration marts and the previous run's inputs (for the
#: attribution); its merge step reads earlier projections and what was realised since (the backtest)
CLV_PREPARE_INPUTS = (
    PROFILE, FACILITIES, PRODUCTS, "marts.fct_relationship_spells", "marts.fct_scorecard_observations",
    "valuation.runs", ENGINE_CLIENTS, ENGINE_FACILITIES,
)  # fmt: skip
CLV_MERGE_INPUTS = (
    "staging.stg_repayments", "staging.stg_fee_income", "intermediate.int_defaults_dated_per_client",
    "valuation.runs", ENGINE_CLIENTS, CLIENT_VALUES,
)  # fmt: skip
assert set(CLV_PREPARE_INPUTS) | set(CLV_MERGE_INPUTS) == set(CLV_INPUTS)
SEGMENT_INPUTS = (
    PROFILE, FACILITIES, PRODUCTS, CLIENT_VALUES, ENGINE_CLIENTS, "valuation.attribution",
    # the previous run: clusters, open signals, segments for the migration
    "segments.runs", CLIENT_SEGMENTS, "segments.warning_signals", "segments.cluster_centroids",
)  # fmt: skip
#: the segments' merge step reads earlier runs for the month-end migration
SEGMENT_MERGE_INPUTS = ("segments.runs", CLIENT_SEGMENTS)
#: tables the run report reads (python_tasks/report/queries.py)
REPORT_INPUTS = (
    "valuation.runs", CLIENT_VALUES, ENGINE_CLIENTS, "valuation.attribution", "marts.dim_client", "segments.runs",
    CLIENT_SEGMENTS,
    "segments.segment_summary", "segments.migration", "segments.warning_signals", "segments.watch_list",
    "audit.dq_results",
)  # fmt: skip
#: tables the drift gate compares between D and the last good run (python_tasks/quality/drift.py)
DRIFT_INPUTS = (PROFILE, CLIENT_VALUES, CLIENT_SEGMENTS, "segments.runs")


@cache
def python_tasks() -> dict[str, PythonTask]:
    """The DAG's Python tasks other than ingest (one per source) and the gates (from their suites)."""
    tasks = [
        # the CLV stage runs as three tasks (python_tasks/clv/sharded.py): prepare reads the warehouse, the
        # shards read and write only the run's snapshot files, merge writes every valuation table
        PythonTask("clv.prepare", "python_tasks.clv.sharded.prepare_clv_shards", CLV_PREPARE_INPUTS, (),
                   "clv_params_path", "CLV engine: calibrate on the portfolio, split the engine's inputs by client shard"),
        PythonTask("clv.value", "python_tasks.clv.sharded.value_clv_shard", (), (), "clv_params_path",
                   "CLV engine: value each shard's clients under every scenario and attribute their change"),
        PythonTask("clv.merge", "python_tasks.clv.sharded.merge_clv_shards", CLV_MERGE_INPUTS, clv_outputs(),
                   "clv_params_path", "CLV engine: backtest, write every shard's results in one transaction"),
        PythonTask("segments.prepare", "python_tasks.segments.sharded.prepare_segment_shards", SEGMENT_INPUTS, (),
                   "segment_rules_path", "segments: value-tier thresholds and clusters on the portfolio, inputs by shard"),
        PythonTask("segments.value", "python_tasks.segments.sharded.value_segment_shard", (), (), "segment_rules_path",
                   "segments: tiers, strategy, lifecycle, usage, offers, early warnings of each shard's clients"),
        PythonTask("segments.merge", "python_tasks.segments.sharded.merge_segment_shards", SEGMENT_MERGE_INPUTS,
                   segment_outputs(), "segment_rules_path", "segments: watch list, summaries, migration; write"),
        PythonTask("summarise", "python_tasks.ingest.job.summarise_run", ("audit.load_ledger",), (),
                   description="log the load ledger of the run"),
    ]  # fmt: skip
    return {t.task_id: t for t in tasks}


def _client_input_columns() -> dict[str, tuple[str, ...]]:
    """``valuation.engine_inputs_clients`` column → profile columns (python_tasks/clv/inputs.client_inputs)."""
    from python_tasks.clv.params import load_params
    from python_tasks.clv.scorecard import FEATURES
    from python_tasks.settings import get_settings

    settings = get_settings()
    segment_column = load_params(settings.clv_params_path, mode=settings.mode).retention.segment_column
    default_flags = ("is_defaulted_grade", "client_status", "is_non_performing")
    return {
        "client_id": ("client_id",),
        "is_prospect": ("client_status",),
        "is_defaulted": default_flags,
        "ttc_pd": ("ttc_pd", *default_flags, *FEATURES),
        "turnover_cny": ("size_revenue_cny",),
        "fee_income_12m_cny": ("fee_income_12m_cny",),
        "revenue_growth_yoy": ("revenue_growth_yoy",),
        "industry_output_growth_pct": ("industry_output_growth_pct",),
        **{f"gdp_outlook_{s}_pct": (f"gdp_growth_next_12m_{s}_pct",) for s in ("baseline", "adverse", "severe")},
        "lpr_1y_pct": ("lpr_1y_pct",),
        "lpr_5y_pct": ("lpr_5y_pct",),
        "asset_class": ("asset_class",),
        "tenure_years": ("tenure_months",),
        "sbg_alpha": (segment_column,),
        "sbg_beta": (segment_column,),
        "pd_source": ("ttc_pd", *default_flags),
        "segment": (segment_column,),
    }


#: ``valuation.engine_inputs_facilities`` column → fct_facility_daily / ref_products columns
#: (python_tasks/clv/inputs.facility_inputs)
_FACILITY_INPUT_COLUMNS = {
    **{c: {FACILITIES: (c,)} for c in (
        "facility_id", "client_id", "product_code", "drawn_balance_cny", "undrawn_cny", "ccf", "interest_rate_pct",
        "repayment_type", "remaining_maturity_years", "collateral_value_cny", "main_collateral_type")},
    **{c: {PRODUCTS: (c,)} for c in ("servicing_cost_bps", "monitoring_cost_bps", "origination_cost_cny")},
}  # fmt: skip


@cache
def computed_columns() -> dict[str, dict[str, ComputedColumn]]:
    """Per Python output table, per column: the function and the input columns (``"*"``: any column)."""
    from python_tasks.segments.params import load_segment_params
    from python_tasks.segments.portfolio import profile_columns
    from python_tasks.settings import get_settings

    settings = get_settings()
    seg = load_segment_params(settings.segment_rules_path, mode=settings.mode)
    client_inputs = "python_tasks.clv.inputs.client_inputs"
    engine = "python_tasks.clv.engine.value_portfolio"
    engine_clients = {c: ComputedColumn(client_inputs, {PROFILE: cols}) for c, cols in _client_input_columns().items()}
    engine_facilities = {
        c: ComputedColumn("python_tasks.clv.inputs.facility_inputs", dict(inputs))
        for c, inputs in _FACILITY_INPUT_COLUMNS.items()
    }
    every_engine_input = {ENGINE_CLIENTS: ("*",), ENGINE_FACILITIES: ("*",)}
    values = {
        "*": ComputedColumn(engine, every_engine_input,
                            "present value over the horizon of every facility of the client, per scenario"),
        "client_id": ComputedColumn(engine, {ENGINE_CLIENTS: ("client_id",)}),
        "ttc_pd": ComputedColumn(engine, {ENGINE_CLIENTS: ("ttc_pd",)}),
        "pd_source": ComputedColumn(engine, {ENGINE_CLIENTS: ("pd_source",)}),
        "segment": ComputedColumn(engine, {ENGINE_CLIENTS: ("segment",)}),
    }  # fmt: skip
    tiers = "python_tasks.segments.tiers"
    value_tier = ComputedColumn(
        f"{tiers}.value_tiers",
        {CLIENT_VALUES: ("clv_cny",), PROFILE: ("client_status",)},
        "thresholds from the portfolio's CLV distribution (segment_rules.yml value_tier)",
    )
    risk_tier = ComputedColumn(
        f"{tiers}.risk_tiers",
        {CLIENT_VALUES: ("pit_pd",), PROFILE: ("asset_class",), ENGINE_CLIENTS: ("is_defaulted",)},
        "point-in-time PD bands (segment_rules.yml risk_tier)",
    )
    strategy = ComputedColumn(
        f"{tiers}.strategies",
        {CLIENT_SEGMENTS: ("value_tier", "risk_tier")},
        "value × risk matrix (segment_rules.yml strategy_matrix) and its credit policy",
    )
    lifecycle = ComputedColumn("python_tasks.segments.lifecycle.lifecycle_stages", {
        PROFILE: ("client_status", "tenure_months", "drawn_balance_cny", "drawn_balance_12m_ago_cny",
                  "exposure_growth_12m", "fee_events_12m", "days_since_last_contact"),
        ENGINE_CLIENTS: ("is_defaulted",)})  # fmt: skip
    usage = ComputedColumn(
        "python_tasks.segments.products.usage_patterns",
        {PROFILE: ("products_held_list",), PRODUCTS: ("product_family", "is_credit")},
    )
    clusters = ComputedColumn(
        "python_tasks.segments.clusters.assign_clusters",
        {PROFILE: tuple(c for c in seg.clusters.features if c in profile_columns(seg)) or ("*",)},
    )
    offer_columns = tuple(dict.fromkeys(
        [c.column for rule in seg.next_best_offer.rules for c in rule.when if c.column] + ["products_held_list"]
    ))  # fmt: skip
    offers = ComputedColumn(
        "python_tasks.segments.recommend.next_best_offers",
        {
            PROFILE: tuple(c for c in offer_columns if c in profile_columns(seg)),
            CLIENT_SEGMENTS: ("risk_tier", "strategy"),
            PRODUCTS: ("product_code", "is_credit"),
        },
    )
    segment_columns = {
        "*": ComputedColumn("python_tasks.segments.portfolio.segment_portfolio",
                            {PROFILE: tuple(profile_columns(seg)), CLIENT_VALUES: ("*",)}),
        **{c: ComputedColumn("python_tasks.segments.portfolio.classify", {PROFILE: (c,)}) for c in (
            "client_id", "client_status", "asset_class", "enterprise_size", "industry_section_code", "region_code",
            "region_economic_tier", "ead_cny")},
        "is_prospect": ComputedColumn("python_tasks.segments.portfolio.classify", {PROFILE: ("client_status",)}),
        "clv_cny": ComputedColumn("python_tasks.segments.job._values", {CLIENT_VALUES: ("clv_cny",)},
                                  "the baseline scenario's CLV"),
        "clv_stressed_cny": ComputedColumn("python_tasks.segments.job._values", {CLIENT_VALUES: ("clv_cny",)},
                                           f"the {seg.stressed_scenario} scenario's CLV"),
        "pit_pd": ComputedColumn("python_tasks.segments.job._values", {CLIENT_VALUES: ("pit_pd",)},
                                 "the baseline scenario's point-in-time PD"),
        **{c: value_tier for c in ("value_tier", "value_tier_zh", "value_reason")},
        **{c: risk_tier for c in ("risk_tier", "risk_tier_zh", "risk_reason")},
        **{c: strategy for c in ("strategy", "strategy_zh", "policy_pricing_en", "policy_pricing_zh",
                                 "policy_terms_en", "policy_terms_zh", "policy_service_en", "policy_service_zh",
                                 "review_months")},
        **{c: lifecycle for c in ("lifecycle_stage", "lifecycle_stage_zh", "lifecycle_reason")},
        **{c: usage for c in ("usage_pattern", "usage_pattern_zh")},
        **{c: clusters for c in ("cluster_id", "cluster_description", "feature_fingerprint")},
        **{c: offers for c in ("next_best_offer", "offer_rule", "offer_reason_en", "offer_reason_zh")},
    }  # fmt: skip
    return {
        ENGINE_CLIENTS: engine_clients,
        ENGINE_FACILITIES: engine_facilities,
        CLIENT_VALUES: values,
        CLIENT_SEGMENTS: segment_columns,
    }


def computed_by(table: str, column: str) -> ComputedColumn | None:
    """How ``column`` of the Python output ``table`` is computed (its own entry, else the table's ``*``)."""
    table_columns = computed_columns().get(table)
    if table_columns is None:
        return None
    return table_columns.get(column) or table_columns.get("*")


#: the stage (a task group of the DAG) of each Python output table the trace follows
STAGE_OF_TABLE = {
    ENGINE_CLIENTS: "clv", ENGINE_FACILITIES: "clv", CLIENT_VALUES: "clv", CLIENT_SEGMENTS: "segments",
}  # fmt: skip


def dag_task_ids(*, with_publish: bool) -> list[str]:
    """The ``clv_daily`` tasks a successful run's events describe, in run order: one ingest task per
    internal source, the gates, dbt, the Python stages, summarise, publish (when the serving module is
    there) and the audit task itself. tests/integration/lineage checks the events cover them."""
    from python_tasks.orchestration.sources import internal_sources

    return [
        *(f"ingest.{s}" for s in internal_sources()), "freshness_gate", "raw_gate", "dbt_build", "profile_gate",
        "clv.prepare", "clv.value", "clv.merge", "clv_gate", "segments.prepare", "segments.value",
        "segments.merge", "segments_gate", "drift_gate", "reconciliation_gate", "report", "summarise",
        *(["publish"] if with_publish else []), "audit",
    ]  # fmt: skip
