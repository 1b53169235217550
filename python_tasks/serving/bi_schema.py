"""The BI schema: the stable tables BI tools read, with business names, one definition each.

Each table has a description, a grain, its columns (name, type, meaning) and the query that builds it from
the warehouse (schemas ``marts``, ``valuation``, ``segments``, ``audit``). The publish job creates every
table in schema ``bi`` of the serving file with exactly these columns and types, the Parquet exports and
the optional PostgreSQL schema carry the same, and docs/bi.md is generated from these definitions
(``python -m python_tasks.serving.dictionary``), so the three cannot drift apart.

The queries read helper tables the publish job prepares in the same connection:

* ``published_dates(as_of_date)``: the business dates BI may see (segmented, and no gate's latest
  evaluation failed at error level); value, segment and warning tables hold these dates only;
* ``pseudonyms(client_id, <personal column>_hash …)``: keyed hashes of the client master's personal data;
* ``personal_columns(column_name)``: the contract columns classed ``pii: personal``;
* ``segment_labels(as_of_date, dimension, segment, name_en, name_zh)`` and ``strategy_grid(as_of_date,
  value_tier, value_tier_zh, risk_tier, risk_tier_zh, strategy, strategy_zh)``: labels and the value × risk
  matrix of the segmentation rules each date's run used (stored in segments.runs).

Money is DOUBLE in CNY, rates and shares are fractions (0.05 = 5 %) unless the name says ``_pct``; JSON
travels as text, so 1.x DuckDB drivers without the json extension and PostgreSQL read it alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

#: schema of the BI tables in the serving file and in PostgreSQL
BI_SCHEMA = "bi"

#: Parquet partitioning of a table: by the rows' own business date, or one snapshot per published date
PARTITION_BY_DATE = "as_of_date"
SNAPSHOT = "snapshot"

#: column types BI tables may use (DuckDB name → PostgreSQL name)
POSTGRES_TYPES = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "DOUBLE": "double precision",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMPTZ": "timestamptz",
}

# table name → description, the single place both PUBLISHED_TABLES and the definitions read
_DESCRIPTIONS = {
    "clients": "Client dimension, pseudonymised: names, industry, region and size of every client known on "
    "the latest business date, with keyed hashes in place of the legal representative's personal data.",
    "current_client_value": "Current value of every client: the latest published business date on which "
    "the client was valued, with names, segments, strategy, base and stressed CLV, its components, PD, EAD, "
    "RAROC and open early warnings.",
    "clv_history": "CLV per client, business date and scenario (baseline, adverse, severe) with its "
    "components: the history behind current_client_value.",
    "clv_change_attribution": "Why a client's baseline CLV changed since the previous run: the change split "
    "over exposure, margin, PD, LGD, retention, macro outlook and parameters.",
    "segment_summary": "Clients, exposure, CLV, expected loss, capital and RAROC per segment of every "
    "segmentation (value and risk tier, strategy, lifecycle, size, industry, region tier, usage, cluster).",
    "strategy_matrix": "The value tier × risk tier matrix per business date: strategy of each cell, clients, "
    "exposure and CLV (every cell of the rules' matrix, empty ones with zero clients).",
    "early_warnings": "Open early-warning signals (new or still active) per client and business date with "
    "severity, reason and the client's watch-list rank.",
    "watch_list": "Clients with open early-warning signals, most urgent first, per business date.",
    "segment_migration": "Migration between segments from the previous run to the business date, per "
    "segmentation: clients and exposure per from → to pair.",
    "data_quality_results": "Every data-quality check of the latest evaluation of each gate and business "
    "date (raw, freshness, profile, CLV, segments, drift), with its outcome; personal data withheld.",
    "run_history": "One row per business date the pipeline has seen: loads, dbt build, CLV and segments "
    "runs, data-quality outcome, and whether the date is published to BI.",
    "publications": "One row per publish of the serving database: run, business date, time, code version, "
    "storage version, PII key fingerprint, row counts, and how the file was built (incremental or full).",
}

#: every table published to BI, as ``bi.<name>`` → description (lineage declares these as outputs)
PUBLISHED_TABLES: dict[str, str] = {f"{BI_SCHEMA}.{name}": text for name, text in _DESCRIPTIONS.items()}


@dataclass(frozen=True)
class BiColumn:
    name: str
    type: str
    description: str = ""
    #: ``model.column`` of a dbt model whose documented description this column carries (docs/bi.md quotes it)
    dbt: str | None = None


@dataclass(frozen=True)
class BiTable:
    name: str
    grain: str
    key: tuple[str, ...]
    partition: str
    columns: tuple[BiColumn, ...]
    #: SELECT over the warehouse and the helper tables, giving (at least) every column by name
    query: str
    #: True: holds the published business dates only; False: every date it describes (runs, checks)
    published_dates_only: bool = True

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self.name]

    @property
    def qualified_name(self) -> str:
        return f"{BI_SCHEMA}.{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def ddl(self, catalog: str | None = None) -> str:
        prefix = f"{catalog}." if catalog else ""
        body = ", ".join(f"{c.name} {c.type}" for c in self.columns)
        return f"CREATE TABLE {prefix}{BI_SCHEMA}.{self.name} ({body})"


def _c(name: str, type_: str, description: str) -> BiColumn:
    return BiColumn(name, type_, description)


def _dbt(name: str, type_: str, ref: str, note: str = "") -> BiColumn:
    return BiColumn(name, type_, note, dbt=ref)


# Columns shared by several tables, described once.
_AS_OF = _c("as_of_date", "DATE", "Business date D the row describes (the state as the bank knew it on D).")
_CLIENT_ID = _dbt("client_id", "VARCHAR", "dim_client.client_id")
_COMPANY = _dbt("company_name", "VARCHAR", "dim_client.company_name")
_RUN_ID = _c("run_id", "VARCHAR", "Pipeline run that produced the row (the Airflow run id on scheduled runs).")
_RM = _dbt("relationship_manager_id", "VARCHAR", "fct_client_profile.relationship_manager_id")
_VALUE_TIER = _c("value_tier", "VARCHAR", "Value tier by base CLV: high, mid or low (thresholds in segments.runs).")
_VALUE_TIER_ZH = _c("value_tier_zh", "VARCHAR", "Value tier in Chinese: 高价值, 中价值, 低价值.")
_RISK_TIER = _c("risk_tier", "VARCHAR", "Risk tier from the baseline point-in-time PD: low, medium, high, or default.")
_RISK_TIER_ZH = _c("risk_tier_zh", "VARCHAR", "Risk tier in Chinese: 低风险, 中风险, 高风险, 已违约.")
_STRATEGY = _c(
    "strategy", "VARCHAR", "Strategy of the value × risk cell: grow, maintain, monitor, restructure or exit."
)
_STRATEGY_ZH = _c("strategy_zh", "VARCHAR", "Strategy in Chinese (重点拓展, 稳定维持, 重点关注, 重组化解, 有序退出).")
_CLV_PARTS = (
    _c(
        "pv_nii_cny",
        "DOUBLE",
        "Present value of net interest income (client rate minus funds-transfer price) over the horizon.",
    ),
    _c("pv_fee_cny", "DOUBLE", "Present value of fee income."),
    _c("pv_cost_cny", "DOUBLE", "Present value of servicing, monitoring and origination costs (positive = cost)."),
    _c("pv_expected_loss_cny", "DOUBLE", "Present value of expected loss PD × LGD × EAD (positive = loss)."),
    _c("pv_capital_charge_cny", "DOUBLE", "Present value of the capital charge: cost of equity × Basel IRB capital."),
    _c("acquisition_cost_cny", "DOUBLE", "Acquisition cost deducted from a prospect's CLV (0 for clients)."),
)
_RISK_FIGURES = (
    _c(
        "ttc_pd", "DOUBLE", "Through-the-cycle one-year PD (rating master scale, or the scorecard for unrated clients)."
    ),
    _c("pit_pd", "DOUBLE", "Point-in-time one-year PD under the scenario's macro outlook."),
    _c("pd_source", "VARCHAR", "Where the PD came from: rating, scorecard, or default."),
    _c("lgd", "DOUBLE", "Loss given default from collateral coverage, floored by collateral type."),
    _c("ead_cny", "DOUBLE", "Exposure at default today: drawn balance plus credit-converted undrawn limits."),
    _c("capital_cny", "DOUBLE", "Regulatory capital today (Basel IRB foundation, SME size adjustment)."),
    _c(
        "raroc",
        "DOUBLE",
        "Risk-adjusted return on capital, first year: (NII + fees − cost − EL) / capital; null without capital.",
    ),
    _c("eva_cny", "DOUBLE", "Economic value added, first year: NII + fees − cost − EL − cost of equity × capital."),
    _c(
        "expected_lifetime_years", "DOUBLE", "Expected remaining relationship lifetime in years (retention × survival)."
    ),
    _c("nii_12m_cny", "DOUBLE", "Expected net interest income over the next twelve months."),
    _c("fee_12m_cny", "DOUBLE", "Expected fee income over the next twelve months."),
    _c("expected_loss_12m_cny", "DOUBLE", "Expected loss over the next twelve months."),
    _c(
        "contribution_12m_cny",
        "DOUBLE",
        "Risk-adjusted contribution over the next twelve months: NII + fees − cost − EL.",
    ),
)


def _clients() -> BiTable:
    from python_tasks.serving.pii import personal_columns

    hashes = tuple(
        _c(p.hash_column, "VARCHAR", f"HMAC-SHA256 (hex) pseudonym of the client master's {p.column} (personal data, "
           "never published in clear; same value → same pseudonym under one key, see publications.pii_key_id); "
           "null when not delivered.")
        for p in personal_columns("clients")
    )  # fmt: skip
    hash_select = ", ".join(f"p.{c.name}" for c in hashes)
    return BiTable(
        name="clients",
        grain="One row per client known on the latest business date built (client_id).",
        key=("client_id",),
        partition=SNAPSHOT,
        columns=(
            _CLIENT_ID,
            _dbt("uscc", "VARCHAR", "dim_client.uscc"),
            _COMPANY,
            _dbt("client_status", "VARCHAR", "dim_client.client_status"),
            _dbt("industry_code", "VARCHAR", "dim_client.industry_code"),
            _dbt("industry_section_code", "VARCHAR", "dim_client.industry_section_code"),
            _dbt("industry_section_name_en", "VARCHAR", "dim_client.industry_section_name_en"),
            _dbt("industry_section_name_zh", "VARCHAR", "dim_client.industry_section_name_zh"),
            _dbt("industry_division_code", "VARCHAR", "dim_client.industry_division_code"),
            _dbt("industry_division_name_en", "VARCHAR", "dim_client.industry_division_name_en"),
            _dbt("industry_division_name_zh", "VARCHAR", "dim_client.industry_division_name_zh"),
            _dbt("region_code", "VARCHAR", "dim_client.region_code"),
            _dbt("region_name_en", "VARCHAR", "dim_region.region_name_en"),
            _dbt("region_name_zh", "VARCHAR", "dim_region.region_name_zh"),
            _dbt("province_code", "VARCHAR", "dim_client.province_code"),
            _dbt("province_name_en", "VARCHAR", "dim_region.province_name_en"),
            _dbt("province_name_zh", "VARCHAR", "dim_region.province_name_zh"),
            _dbt("region_economic_tier", "INTEGER", "dim_client.region_economic_tier"),
            _dbt("enterprise_size", "VARCHAR", "dim_client.enterprise_size"),
            _dbt("sme_industry_group", "VARCHAR", "dim_client.sme_industry_group"),
            _dbt("registered_capital_cny", "DOUBLE", "dim_client.registered_capital_cny"),
            _dbt("founded_date", "DATE", "dim_client.founded_date"),
            _dbt("onboarded_date", "DATE", "dim_client.onboarded_date"),
            _dbt("relationship_manager_id", "VARCHAR", "dim_client.relationship_manager_id"),
            *hashes,
            _dbt("attributes_delivered_date", "DATE", "dim_client.attributes_delivered_date"),
            _dbt("known_as_of_date", "DATE", "dim_client.known_as_of_date"),
        ),
        query=f"""
            SELECT d.*, r.region_name_en, r.region_name_zh, r.province_name_en, r.province_name_zh, {hash_select}
            FROM marts.dim_client AS d
            LEFT JOIN marts.dim_region AS r ON r.region_code = d.region_code
            LEFT JOIN pseudonyms AS p ON p.client_id = d.client_id
        """,
    )


_CURRENT_CLIENT_VALUE = BiTable(
    name="current_client_value",
    grain="One row per client valued on a published business date: its latest such date (valuation_date).",
    key=("client_id",),
    partition=SNAPSHOT,
    columns=(
        _CLIENT_ID,
        _c("valuation_date", "DATE", "The client's latest published business date: the date of every figure in the row."),
        _COMPANY,
        _dbt("uscc", "VARCHAR", "dim_client.uscc"),
        _dbt("client_status", "VARCHAR", "fct_client_profile.client_status"),
        _c("is_prospect", "BOOLEAN", "True for a prospect (not yet onboarded): valued as if won, less the acquisition cost."),
        _dbt("industry_section_code", "VARCHAR", "fct_client_profile.industry_section_code"),
        _dbt("industry_section_name_en", "VARCHAR", "dim_client.industry_section_name_en"),
        _dbt("industry_section_name_zh", "VARCHAR", "dim_client.industry_section_name_zh"),
        _dbt("region_code", "VARCHAR", "fct_client_profile.region_code"),
        _dbt("region_name_zh", "VARCHAR", "dim_region.region_name_zh"),
        _dbt("province_name_zh", "VARCHAR", "dim_region.province_name_zh"),
        _dbt("region_economic_tier", "INTEGER", "fct_client_profile.region_economic_tier"),
        _dbt("enterprise_size", "VARCHAR", "fct_client_profile.enterprise_size"),
        _RM,
        _dbt("asset_class", "VARCHAR", "fct_client_profile.asset_class"),
        _dbt("current_dpd", "BIGINT", "fct_client_profile.current_dpd"),
        _dbt("drawn_balance_cny", "DOUBLE", "fct_client_profile.drawn_balance_cny"),
        _VALUE_TIER, _VALUE_TIER_ZH,
        _c("value_reason", "VARCHAR", "Why the value tier: the CLV against the threshold and how the threshold was set."),
        _RISK_TIER, _RISK_TIER_ZH,
        _c("risk_reason", "VARCHAR", "Why the risk tier: the PD band, and the asset-class floor when it applied."),
        _STRATEGY, _STRATEGY_ZH,
        _c("review_months", "INTEGER", "Credit review frequency of the strategy's policy, in months."),
        _c("lifecycle_stage", "VARCHAR", "Lifecycle stage: prospect, new, growing, mature, declining, churned or defaulted."),
        _c("lifecycle_stage_zh", "VARCHAR", "Lifecycle stage in Chinese (潜在客户, 新客户, 成长期, 成熟期, 衰退期, 已流失, 已违约)."),
        _c("lifecycle_reason", "VARCHAR", "The lifecycle rule that applied."),
        _c("usage_pattern", "VARCHAR", "Product usage pattern: none, non_credit_only, credit_only, credit_and_deposit, trade_active, full_relationship."),
        _c("cluster_id", "INTEGER", "Behavioural cluster (k-means), stable across runs."),
        _c("cluster_description", "VARCHAR", "What sets the cluster apart from the portfolio, in business terms."),
        _c("next_best_offer", "VARCHAR", "Next best product to offer (product code or limit_increase); null when none is allowed."),
        _c("offer_reason_en", "VARCHAR", "Why that offer, in English."),
        _c("offer_reason_zh", "VARCHAR", "Why that offer, in Chinese."),
        _c("clv_base_cny", "DOUBLE", "Customer lifetime value, baseline scenario: present value of the expected risk-adjusted contribution over the horizon."),
        _c("clv_adverse_cny", "DOUBLE", "CLV under the adverse macro scenario."),
        _c("clv_severe_cny", "DOUBLE", "CLV under the severe macro scenario."),
        _c("clv_previous_cny", "DOUBLE", "Baseline CLV at the previous run; null for a client new since then."),
        _c("clv_change_cny", "DOUBLE", "Baseline CLV change since the previous run (clv_change_attribution splits it)."),
        *_CLV_PARTS,
        *_RISK_FIGURES,
        _c("pit_pd_severe", "DOUBLE", "Point-in-time PD under the severe scenario."),
        _c("open_warnings", "BIGINT", "Early-warning signals open on valuation_date (0 when none)."),
        _c("highest_warning_severity", "VARCHAR", "Highest severity among the open signals: high, medium, low; null when none."),
        _c("watch_list_rank", "INTEGER", "Rank on the watch list of valuation_date (1 = most urgent); null when not on it."),
        _c("clv_params_version", "VARCHAR", "Version of the CLV parameter file the values were computed with."),
        _c("segment_rules_version", "VARCHAR", "Version of the segmentation rules file the segments were assigned with."),
        _RUN_ID,
    ),
    query="""
        WITH latest AS (
            SELECT v.client_id, max(v.as_of_date) AS valuation_date
            FROM valuation.client_values AS v JOIN published_dates AS p ON p.as_of_date = v.as_of_date
            WHERE v.scenario = 'baseline'
            GROUP BY v.client_id
        ), scenarios AS (
            SELECT v.client_id,
                   max(v.clv_cny) FILTER (WHERE v.scenario = 'adverse') AS clv_adverse_cny,
                   max(v.clv_cny) FILTER (WHERE v.scenario = 'severe') AS clv_severe_cny,
                   max(v.pit_pd) FILTER (WHERE v.scenario = 'severe') AS pit_pd_severe
            FROM valuation.client_values AS v
            JOIN latest AS l ON l.client_id = v.client_id AND l.valuation_date = v.as_of_date
            GROUP BY v.client_id
        ), warnings AS (
            SELECT w.client_id, count(*) AS open_warnings,
                   arg_max(w.severity, CASE w.severity WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END)
                       AS highest_warning_severity
            FROM segments.warning_signals AS w
            JOIN latest AS l ON l.client_id = w.client_id AND l.valuation_date = w.as_of_date
            WHERE w.status IN ('new', 'active')
            GROUP BY w.client_id
        )
        SELECT
            l.client_id, l.valuation_date, d.company_name, d.uscc, f.client_status, s.is_prospect,
            f.industry_section_code, d.industry_section_name_en, d.industry_section_name_zh, f.region_code,
            r.region_name_zh, r.province_name_zh, f.region_economic_tier, f.enterprise_size,
            f.relationship_manager_id, f.asset_class, f.current_dpd, f.drawn_balance_cny,
            s.value_tier, s.value_tier_zh, s.value_reason, s.risk_tier, s.risk_tier_zh, s.risk_reason,
            s.strategy, s.strategy_zh, s.review_months, s.lifecycle_stage, s.lifecycle_stage_zh, s.lifecycle_reason,
            s.usage_pattern, s.cluster_id, s.cluster_description, s.next_best_offer, s.offer_reason_en,
            s.offer_reason_zh,
            b.clv_cny AS clv_base_cny, sc.clv_adverse_cny, sc.clv_severe_cny, a.clv_previous_cny,
            a.delta_clv_cny AS clv_change_cny,
            b.pv_nii_cny, b.pv_fee_cny, b.pv_cost_cny, b.pv_expected_loss_cny, b.pv_capital_charge_cny,
            b.acquisition_cost_cny, b.ttc_pd, b.pit_pd, b.pd_source, b.lgd, b.ead_cny, b.capital_cny, b.raroc,
            b.eva_cny, b.expected_lifetime_years, b.nii_12m_cny, b.fee_12m_cny, b.expected_loss_12m_cny,
            b.contribution_12m_cny, sc.pit_pd_severe,
            coalesce(w.open_warnings, 0) AS open_warnings, w.highest_warning_severity,
            wl.priority_rank AS watch_list_rank,
            b.params_version AS clv_params_version, s.params_version AS segment_rules_version, b._run_id AS run_id
        FROM latest AS l
        JOIN valuation.client_values AS b
            ON b.client_id = l.client_id AND b.as_of_date = l.valuation_date AND b.scenario = 'baseline'
        LEFT JOIN scenarios AS sc ON sc.client_id = l.client_id
        LEFT JOIN segments.client_segments AS s ON s.client_id = l.client_id AND s.as_of_date = l.valuation_date
        LEFT JOIN marts.fct_client_profile AS f ON f.client_id = l.client_id AND f.as_of_date = l.valuation_date
        LEFT JOIN marts.dim_client AS d ON d.client_id = l.client_id
        LEFT JOIN marts.dim_region AS r ON r.region_code = f.region_code
        LEFT JOIN valuation.attribution AS a ON a.client_id = l.client_id AND a.as_of_date = l.valuation_date
        LEFT JOIN warnings AS w ON w.client_id = l.client_id
        LEFT JOIN segments.watch_list AS wl ON wl.client_id = l.client_id AND wl.as_of_date = l.valuation_date
    """,
)  # fmt: skip

_CLV_HISTORY = BiTable(
    name="clv_history",
    grain="One row per client, business date and scenario (as_of_date, client_id, scenario).",
    key=("as_of_date", "client_id", "scenario"),
    partition=PARTITION_BY_DATE,
    columns=(
        _AS_OF, _CLIENT_ID,
        _c("scenario", "VARCHAR", "Macro scenario: baseline, adverse or severe."),
        _c("clv_cny", "DOUBLE", "Customer lifetime value under the scenario: the sum of the present values below, less the acquisition cost."),
        *_CLV_PARTS,
        *_RISK_FIGURES,
        _c("growth_rate", "DOUBLE", "Expected annual growth of new business under the scenario."),
        _c("systematic_factor", "DOUBLE", "Macro factor Z of the scenario that made the PD point-in-time (negative = downturn)."),
        _c("segment", "VARCHAR", "The retention segment the client was valued in."),
        _c("params_version", "VARCHAR", "Version of the CLV parameter file."),
        _RUN_ID,
    ),
    query="""
        SELECT v.*, v._run_id AS run_id
        FROM valuation.client_values AS v JOIN published_dates AS p ON p.as_of_date = v.as_of_date
    """,
)  # fmt: skip

_FACTORS = ("exposure", "margin", "pd", "lgd", "retention", "macro", "parameters")
_FACTOR_TEXT = {
    "exposure": "exposure (balances, limits, amortisation)", "margin": "margin (client rate and funds-transfer price)",
    "pd": "probability of default", "lgd": "loss given default (collateral)", "retention": "retention (survival of the relationship)",
    "macro": "macro outlook", "parameters": "parameter-file changes",
}  # fmt: skip

_CLV_CHANGE_ATTRIBUTION = BiTable(
    name="clv_change_attribution",
    grain="One row per client per business date whose baseline CLV can be compared with the previous run.",
    key=("as_of_date", "client_id"),
    partition=PARTITION_BY_DATE,
    columns=(
        _AS_OF, _CLIENT_ID, _COMPANY,
        _c("previous_as_of_date", "DATE", "Business date of the previous run compared with."),
        _c("clv_previous_cny", "DOUBLE", "Baseline CLV at the previous run."),
        _c("clv_cny", "DOUBLE", "Baseline CLV on as_of_date."),
        _c("clv_change_cny", "DOUBLE", "clv_cny − clv_previous_cny: the sum of the effects below."),
        *(_c(f"{f}_effect_cny", "DOUBLE", f"Part of the change due to {_FACTOR_TEXT[f]}.") for f in _FACTORS),
        _c("new_client_effect_cny", "DOUBLE", "Value of a client new since the previous run."),
        _c("lost_client_effect_cny", "DOUBLE", "Value lost with a client gone since the previous run."),
        _c("method", "VARCHAR", "How the change was split over the factors: shapley (average over every order) or sequential (a waterfall in a fixed order), per the CLV parameter file."),
        _RUN_ID,
    ),
    query=f"""
        SELECT a.as_of_date, a.client_id, d.company_name, a.previous_as_of_date, a.clv_previous_cny, a.clv_cny,
               a.delta_clv_cny AS clv_change_cny,
               {", ".join(f"a.{f}_cny AS {f}_effect_cny" for f in _FACTORS)},
               a.new_client_cny AS new_client_effect_cny, a.lost_client_cny AS lost_client_effect_cny,
               a.method, a._run_id AS run_id
        FROM valuation.attribution AS a JOIN published_dates AS p ON p.as_of_date = a.as_of_date
        LEFT JOIN marts.dim_client AS d ON d.client_id = a.client_id
    """,
)  # fmt: skip

_SEGMENT_SUMMARY = BiTable(
    name="segment_summary",
    grain="One row per business date, segmentation (dimension) and segment.",
    key=("as_of_date", "dimension", "segment"),
    partition=PARTITION_BY_DATE,
    columns=(
        _AS_OF,
        _c("dimension", "VARCHAR", "The segmentation: value_tier, risk_tier, strategy, strategy_cell, lifecycle_stage, enterprise_size, industry_section_code, region_economic_tier, usage_pattern or cluster_id."),
        _c("segment", "VARCHAR", "The segment's code within the segmentation (e.g. high, C, 2, 'high value × low risk')."),
        _c("segment_name_en", "VARCHAR", "The segment's English name where one is defined (rules' labels, GB/T 4754 sections, cluster descriptions)."),
        _c("segment_name_zh", "VARCHAR", "The segment's Chinese name where one is defined."),
        _c("clients", "BIGINT", "Clients in the segment (prospects included)."),
        _c("share_of_clients", "DOUBLE", "Clients in the segment / all clients of the date."),
        _c("ead_cny", "DOUBLE", "Sum of exposure at default."),
        _c("clv_base_cny", "DOUBLE", "Sum of baseline CLV."),
        _c("clv_stressed_cny", "DOUBLE", "Sum of stressed CLV (the rules' stressed scenario, severe by default)."),
        _c("share_of_clv", "DOUBLE", "Baseline CLV of the segment / total baseline CLV; null when the total is 0."),
        _c("expected_loss_12m_cny", "DOUBLE", "Sum of twelve-month expected loss."),
        _c("capital_cny", "DOUBLE", "Sum of regulatory capital."),
        _c("raroc", "DOUBLE", "Capital-weighted RAROC of the segment; null without capital."),
        _RUN_ID,
    ),
    query="""
        WITH labels AS (
            SELECT as_of_date, dimension, segment, name_en, name_zh FROM segment_labels
            UNION ALL
            SELECT DISTINCT NULL::DATE, 'industry_section_code', section_code, section_name_en, section_name_zh
            FROM marts.dim_industry
            UNION ALL
            SELECT as_of_date, 'cluster_id', CAST(cluster_id AS VARCHAR), description, NULL FROM segments.cluster_centroids
            UNION ALL  -- enterprise sizes of the national SME classification standard
            SELECT NULL::DATE, 'enterprise_size', code, en, zh FROM (VALUES
                ('large', 'Large enterprise', '大型企业'), ('medium', 'Medium enterprise', '中型企业'),
                ('small', 'Small enterprise', '小型企业'), ('micro', 'Micro enterprise', '微型企业'),
                ('unclassified', 'Not classified', '未分类')) AS sizes (code, en, zh)
        )
        SELECT s.as_of_date, s.dimension, s.segment, l.name_en AS segment_name_en, l.name_zh AS segment_name_zh,
               s.clients, s.share_of_clients, s.ead_cny, s.clv_cny AS clv_base_cny, s.clv_stressed_cny, s.share_of_clv,
               s.expected_loss_12m_cny, s.capital_cny, s.raroc, s._run_id AS run_id
        FROM segments.segment_summary AS s JOIN published_dates AS p ON p.as_of_date = s.as_of_date
        LEFT JOIN labels AS l ON l.dimension = s.dimension AND l.segment = s.segment
            AND (l.as_of_date IS NULL OR l.as_of_date = s.as_of_date)
    """,
)  # fmt: skip

_STRATEGY_MATRIX = BiTable(
    name="strategy_matrix",
    grain="One row per business date, value tier and risk tier: every cell of the rules' matrix.",
    key=("as_of_date", "value_tier", "risk_tier"),
    partition=PARTITION_BY_DATE,
    columns=(
        _AS_OF, _VALUE_TIER, _VALUE_TIER_ZH, _RISK_TIER, _RISK_TIER_ZH, _STRATEGY, _STRATEGY_ZH,
        _c("clients", "BIGINT", "Clients in the cell (0 for an empty cell)."),
        _c("share_of_clients", "DOUBLE", "Clients in the cell / all segmented clients of the date."),
        _c("ead_cny", "DOUBLE", "Sum of exposure at default."),
        _c("clv_base_cny", "DOUBLE", "Sum of baseline CLV."),
        _c("clv_stressed_cny", "DOUBLE", "Sum of stressed CLV (the rules' stressed scenario)."),
        _c("expected_loss_12m_cny", "DOUBLE", "Sum of twelve-month expected loss (baseline)."),
        _c("capital_cny", "DOUBLE", "Sum of regulatory capital."),
        _c("raroc", "DOUBLE", "Capital-weighted RAROC of the cell; null without capital."),
    ),
    query="""
        WITH cells AS (
            SELECT s.as_of_date, s.value_tier, s.risk_tier, any_value(s.strategy) AS strategy,
                   any_value(s.strategy_zh) AS strategy_zh, count(*) AS clients, sum(s.ead_cny) AS ead_cny,
                   sum(s.clv_cny) AS clv_base_cny, sum(s.clv_stressed_cny) AS clv_stressed_cny,
                   sum(v.expected_loss_12m_cny) AS expected_loss_12m_cny, sum(v.capital_cny) AS capital_cny,
                   sum(coalesce(v.raroc * v.capital_cny, 0)) AS raroc_numerator
            FROM segments.client_segments AS s JOIN published_dates AS p ON p.as_of_date = s.as_of_date
            LEFT JOIN valuation.client_values AS v
                ON v.as_of_date = s.as_of_date AND v.client_id = s.client_id AND v.scenario = 'baseline'
            GROUP BY s.as_of_date, s.value_tier, s.risk_tier
        ), grid AS (
            SELECT g.* FROM strategy_grid AS g JOIN published_dates AS p ON p.as_of_date = g.as_of_date
            UNION ALL
            SELECT c.as_of_date, c.value_tier, NULL, c.risk_tier, NULL, c.strategy, c.strategy_zh
            FROM cells AS c ANTI JOIN strategy_grid AS g
                ON g.as_of_date = c.as_of_date AND g.value_tier = c.value_tier AND g.risk_tier = c.risk_tier
        ), totals AS (
            SELECT as_of_date, sum(clients) AS all_clients FROM cells GROUP BY as_of_date
        )
        SELECT g.as_of_date, g.value_tier, g.value_tier_zh, g.risk_tier, g.risk_tier_zh,
               coalesce(c.strategy, g.strategy) AS strategy, coalesce(c.strategy_zh, g.strategy_zh) AS strategy_zh,
               coalesce(c.clients, 0) AS clients, coalesce(c.clients, 0) / t.all_clients AS share_of_clients,
               coalesce(c.ead_cny, 0) AS ead_cny, coalesce(c.clv_base_cny, 0) AS clv_base_cny,
               coalesce(c.clv_stressed_cny, 0) AS clv_stressed_cny,
               coalesce(c.expected_loss_12m_cny, 0) AS expected_loss_12m_cny, coalesce(c.capital_cny, 0) AS capital_cny,
               CASE WHEN c.capital_cny > 0 THEN c.raroc_numerator / c.capital_cny END AS raroc
        FROM grid AS g
        LEFT JOIN cells AS c ON c.as_of_date = g.as_of_date AND c.value_tier = g.value_tier AND c.risk_tier = g.risk_tier
        LEFT JOIN totals AS t ON t.as_of_date = g.as_of_date
    """,
)  # fmt: skip

_SEVERITY = _c("severity", "VARCHAR", "Severity: low, medium or high.")
_EARLY_WARNINGS = BiTable(
    name="early_warnings",
    grain="One row per open signal (status new or active) per client per business date.",
    key=("as_of_date", "client_id", "signal_code"),
    partition=PARTITION_BY_DATE,
    columns=(
        _AS_OF, _CLIENT_ID, _COMPANY,
        _c("signal_code", "VARCHAR", "The rule that fired: clv_drop, dpd_rising, rating_downgrade, covenant_dscr, covenant_leverage, covenant_icr, industry_stress, collateral_falling, maturity_wall."),
        _c("status", "VARCHAR", "new (first raised on as_of_date) or active (raised earlier, still firing)."),
        _SEVERITY,
        _c("is_escalated", "BOOLEAN", "True when the severity rose since the previous run."),
        _c("opened_date", "DATE", "Business date the signal was first raised."),
        _c("days_open", "INTEGER", "Days from opened_date to as_of_date."),
        _c("observed_value", "DOUBLE", "The value the rule saw (e.g. DSCR 0.75)."),
        _c("threshold", "DOUBLE", "The threshold it crossed (e.g. 0.80)."),
        _c("reason_en", "VARCHAR", "Why, in English (e.g. 'DSCR 0.75 below 0.80')."),
        _c("reason_zh", "VARCHAR", "Why, in Chinese (e.g. '偿债覆盖率 0.75 低于 0.80')."),
        _c("watch_list_rank", "INTEGER", "The client's rank on the watch list of as_of_date (1 = most urgent)."),
        _c("priority_score", "DOUBLE", "The client's watch-list priority score (severity weighted by exposure)."),
        _VALUE_TIER, _RISK_TIER, _STRATEGY,
        _c("ead_cny", "DOUBLE", "The client's exposure at default on as_of_date."),
        _RM, _RUN_ID,
    ),
    query="""
        SELECT w.as_of_date, w.client_id, d.company_name, w.signal_code, w.status, w.severity,
               w.escalated AS is_escalated, w.opened_date, w.days_open, w.observed_value, w.threshold, w.reason_en,
               w.reason_zh, wl.priority_rank AS watch_list_rank, wl.priority_score, s.value_tier, s.risk_tier,
               s.strategy, s.ead_cny, f.relationship_manager_id, w._run_id AS run_id
        FROM segments.warning_signals AS w JOIN published_dates AS p ON p.as_of_date = w.as_of_date
        LEFT JOIN segments.watch_list AS wl ON wl.as_of_date = w.as_of_date AND wl.client_id = w.client_id
        LEFT JOIN segments.client_segments AS s ON s.as_of_date = w.as_of_date AND s.client_id = w.client_id
        LEFT JOIN marts.fct_client_profile AS f ON f.as_of_date = w.as_of_date AND f.client_id = w.client_id
        LEFT JOIN marts.dim_client AS d ON d.client_id = w.client_id
        WHERE w.status IN ('new', 'active')
    """,
)  # fmt: skip

_WATCH_LIST = BiTable(
    name="watch_list",
    grain="One row per client with open signals per business date, ranked.",
    key=("as_of_date", "client_id"),
    partition=PARTITION_BY_DATE,
    columns=(
        _AS_OF,
        _c("priority_rank", "INTEGER", "Rank on the watch list (1 = most urgent)."),
        _CLIENT_ID, _COMPANY,
        _c("priority_score", "DOUBLE", "Priority score: open signals' severities weighted by the client's exposure."),
        _c("signals", "VARCHAR", "The open signal codes, most severe first, comma-separated."),
        _c("highest_severity", "VARCHAR", "Highest severity among the open signals."),
        _c("new_signals", "INTEGER", "Signals first raised on as_of_date."),
        _c("reason_en", "VARCHAR", "The signals' reasons, in English."),
        _c("reason_zh", "VARCHAR", "The signals' reasons, in Chinese."),
        _VALUE_TIER, _RISK_TIER, _STRATEGY,
        _c("clv_base_cny", "DOUBLE", "The client's baseline CLV on as_of_date."),
        _c("ead_cny", "DOUBLE", "The client's exposure at default on as_of_date."),
        _RM, _RUN_ID,
    ),
    query="""
        SELECT wl.as_of_date, wl.priority_rank, wl.client_id, d.company_name, wl.priority_score, wl.signals,
               wl.highest_severity, wl.new_signals, wl.reason_en, wl.reason_zh, s.value_tier, s.risk_tier, s.strategy,
               s.clv_cny AS clv_base_cny, s.ead_cny, f.relationship_manager_id, wl._run_id AS run_id
        FROM segments.watch_list AS wl JOIN published_dates AS p ON p.as_of_date = wl.as_of_date
        LEFT JOIN segments.client_segments AS s ON s.as_of_date = wl.as_of_date AND s.client_id = wl.client_id
        LEFT JOIN marts.fct_client_profile AS f ON f.as_of_date = wl.as_of_date AND f.client_id = wl.client_id
        LEFT JOIN marts.dim_client AS d ON d.client_id = wl.client_id
    """,
)  # fmt: skip

_SEGMENT_MIGRATION = BiTable(
    name="segment_migration",
    grain="One row per business date, comparison, segmentation and from → to segment pair.",
    key=("as_of_date", "comparison", "dimension", "from_segment", "to_segment"),
    partition=PARTITION_BY_DATE,
    columns=(
        _AS_OF,
        _c("comparison", "VARCHAR", "run: the previous run against as_of_date; month_end: the last two month ends."),
        _c("from_date", "DATE", "Business date of the 'from' side."),
        _c("to_date", "DATE", "Business date of the 'to' side."),
        _c("dimension", "VARCHAR", "The segmentation: value_tier, risk_tier, lifecycle_stage or cluster_id."),
        _c("from_segment", "VARCHAR", "Segment on from_date; '(new)' for a client not there yet."),
        _c("to_segment", "VARCHAR", "Segment on to_date; '(gone)' for a client no longer there."),
        _c("clients", "BIGINT", "Clients that moved from from_segment to to_segment."),
        _c("share_of_from_segment", "DOUBLE", "clients / all clients of from_segment in the comparison (a row of the migration matrix sums to 1)."),
        _c("exposure_cny", "DOUBLE", "Their exposure at default on to_date."),
        _c("exposure_before_cny", "DOUBLE", "Their exposure at default on from_date."),
        _c("is_changed", "BOOLEAN", "True when from_segment differs from to_segment."),
        _RUN_ID,
    ),
    query="""
        SELECT m.as_of_date, m.comparison, m.from_date, m.to_date, m.dimension, m.from_label AS from_segment,
               m.to_label AS to_segment, m.clients,
               m.clients / sum(m.clients) OVER (PARTITION BY m.as_of_date, m.comparison, m.dimension, m.from_label)
                   AS share_of_from_segment,
               m.exposure_cny, m.exposure_before_cny, m.from_label <> m.to_label AS is_changed, m._run_id AS run_id
        FROM segments.migration AS m JOIN published_dates AS p ON p.as_of_date = m.as_of_date
    """,
)  # fmt: skip


def _data_quality_results() -> BiTable:
    from python_tasks.serving.pii import ID_NUMBER_PATTERN, MOBILE_PATTERN, REDACTED

    def redact(expr: str) -> str:
        # a stand-alone identity number or mobile number in a check's sample or message becomes REDACTED;
        # each pattern twice, as a match consumes the separator the next adjacent number needs ("a,b")
        for pattern in (ID_NUMBER_PATTERN, ID_NUMBER_PATTERN, MOBILE_PATTERN, MOBILE_PATTERN):
            expr = f"regexp_replace({expr}, '(^|[^0-9A-Za-z])({pattern})($|[^0-9A-Za-z])', '\\1{REDACTED}\\3', 'g')"
        return expr

    return BiTable(
        name="data_quality_results",
        grain="One row per check of the latest evaluation of each gate per business date.",
        key=("as_of_date", "gate", "suite", "check_type", "column_name", "check_arguments"),
        partition=PARTITION_BY_DATE,
        columns=(
            _AS_OF,
            _c("gate", "VARCHAR", "The gate: freshness, raw, profile, clv, segments or drift."),
            _c("suite", "VARCHAR", "The suite within the gate (e.g. raw.clients, clv.values)."),
            _c("check_type", "VARCHAR", "The Great Expectations expectation type (or the pipeline's own check)."),
            _c("column_name", "VARCHAR", "The column checked; null for a table-level check."),
            _c("check_arguments", "VARCHAR", "The check's arguments as JSON text (thresholds, allowed values)."),
            _c("contract_rule", "VARCHAR", "The contract or business rule the check enforces."),
            _c(
                "severity",
                "VARCHAR",
                "error (a failure stops the run before publishing) or warn (recorded, run goes on).",
            ),
            _c("passed", "BOOLEAN", "Whether the check passed."),
            _c(
                "observed_value", "VARCHAR", "What the check observed (JSON text); null when withheld as personal data."
            ),
            _c("element_count", "BIGINT", "Rows the check looked at."),
            _c("unexpected_count", "BIGINT", "Rows that broke the check."),
            _c("unexpected_percent", "DOUBLE", "Share of rows that broke the check, percent."),
            _c(
                "unexpected_sample",
                "VARCHAR",
                "A few offending values (JSON text); withheld for personal-data columns, identity and mobile numbers masked everywhere.",
            ),
            _c("exception", "VARCHAR", "Error raised while evaluating the check, if any."),
            _c(
                "is_personal_data_withheld",
                "BOOLEAN",
                "True when the check reads a personal-data column, so its observed values are withheld.",
            ),
            _c("evaluated_at", "TIMESTAMPTZ", "When the check ran (UTC)."),
            _RUN_ID,
        ),
        published_dates_only=False,
        query=f"""
            WITH latest AS (
                SELECT as_of_date, gate, arg_max(run_id, evaluated_at) AS run_id
                FROM audit.dq_results GROUP BY as_of_date, gate
            ), checks AS (
                SELECT q.*, CAST(q.kwargs AS VARCHAR) AS check_arguments,
                       CAST(q.unexpected_sample AS VARCHAR) AS sample_text,
                       (q.column_name IN (SELECT column_name FROM personal_columns)
                        OR EXISTS (SELECT 1 FROM personal_columns AS pc
                                   WHERE contains(CAST(q.kwargs AS VARCHAR), '"' || pc.column_name || '"')))
                           AS is_personal_data_withheld
                FROM audit.dq_results AS q
                JOIN latest AS l ON l.as_of_date = q.as_of_date AND l.gate = q.gate AND l.run_id = q.run_id
            )
            SELECT as_of_date, gate, suite, expectation_type AS check_type, column_name, check_arguments,
                   contract_rule, severity, success AS passed,
                   CASE WHEN is_personal_data_withheld THEN NULL ELSE {redact("observed_value")} END AS observed_value,
                   element_count, unexpected_count, unexpected_percent,
                   CASE WHEN is_personal_data_withheld AND coalesce(sample_text, '[]') <> '[]'
                        THEN '["{REDACTED}"]' ELSE {redact("sample_text")} END AS unexpected_sample,
                   {redact("exception")} AS exception, is_personal_data_withheld, evaluated_at, run_id
            FROM checks
        """,
    )


_RUN_HISTORY = BiTable(
    name="run_history",
    grain="One row per business date the pipeline has loaded, valued, segmented or checked.",
    key=("as_of_date",),
    partition=PARTITION_BY_DATE,
    columns=(
        _AS_OF,
        _c("status", "VARCHAR", "published (visible in BI); failed_gate (an error-level check failed in its latest evaluation: held back); not_segmented (data loaded but the run has not reached the segments stage, e.g. a monthly external delivery date or a run stopped early)."),
        _c("is_published", "BOOLEAN", "Whether BI tables hold this date."),
        _c("pipeline_run_id", "VARCHAR", "The run that produced the date's segments (else its CLV, else its latest load)."),
        _c("files_loaded", "BIGINT", "Source files recorded in the load ledger for the date (latest record per file)."),
        _c("files_missing", "BIGINT", "Deliveries recorded as missing past their deadline."),
        _c("rows_loaded", "BIGINT", "Rows loaded into raw tables."),
        _c("rows_quarantined", "BIGINT", "Rows quarantined with a reason (rows in = loaded + quarantined)."),
        _c("dbt_nodes", "BIGINT", "dbt models, snapshots, seeds and tests run by the latest build of the date."),
        _c("dbt_failures", "BIGINT", "dbt nodes of that build that failed or errored."),
        _c("clv_run_id", "VARCHAR", "Run of the CLV stage."),
        _c("clv_params_version", "VARCHAR", "CLV parameter file version."),
        _c("clients_valued", "BIGINT", "Clients valued."),
        _c("clv_seconds", "DOUBLE", "Duration of the CLV stage, seconds."),
        _c("segments_run_id", "VARCHAR", "Run of the segments stage."),
        _c("segment_rules_version", "VARCHAR", "Segmentation rules version."),
        _c("clients_segmented", "BIGINT", "Clients segmented."),
        _c("signals_new", "BIGINT", "Early-warning signals raised for the first time."),
        _c("signals_active", "BIGINT", "Signals still open from earlier runs."),
        _c("signals_closed", "BIGINT", "Signals closed on the date."),
        _c("watch_list_clients", "BIGINT", "Clients on the watch list."),
        _c("segments_seconds", "DOUBLE", "Duration of the segments stage, seconds."),
        _c("gates_evaluated", "VARCHAR", "The gates with recorded results, comma-separated."),
        _c("dq_checks", "BIGINT", "Checks in the latest evaluation of each gate."),
        _c("dq_failed_errors", "BIGINT", "Error-level checks that failed (any → the date is not published)."),
        _c("dq_failed_warnings", "BIGINT", "Warn-level checks that failed."),
        _c("started_at", "TIMESTAMPTZ", "Earliest recorded start among the date's loads and stages (UTC)."),
        _c("finished_at", "TIMESTAMPTZ", "Latest recorded end among them (UTC)."),
    ),
    published_dates_only=False,
    query="""
        WITH dates AS (
            SELECT as_of_date FROM audit.load_ledger UNION SELECT as_of_date FROM valuation.runs
            UNION SELECT as_of_date FROM segments.runs UNION SELECT as_of_date FROM audit.dq_results
        ), ledger AS (
            SELECT * FROM audit.load_ledger
            QUALIFY row_number() OVER (PARTITION BY as_of_date, source, coalesce(file_name, '')
                                       ORDER BY finished_at DESC) = 1
        ), loads AS (
            SELECT as_of_date, count(*) FILTER (WHERE status <> 'missing') AS files_loaded,
                   count(*) FILTER (WHERE status = 'missing') AS files_missing,
                   sum(rows_loaded) AS rows_loaded, sum(rows_quarantined) AS rows_quarantined,
                   min(started_at) AS started_at, max(finished_at) AS finished_at,
                   arg_max(run_id, finished_at) AS run_id
            FROM ledger GROUP BY as_of_date
        ), dbt_latest AS (
            SELECT as_of_date, arg_max(run_id, finished_at) AS run_id FROM audit.dbt_results GROUP BY as_of_date
        ), dbt AS (
            SELECT r.as_of_date, count(*) AS dbt_nodes,
                   count(*) FILTER (WHERE r.status IN ('error', 'fail', 'runtime error')) AS dbt_failures,
                   min(r.started_at) AS started_at, max(r.finished_at) AS finished_at
            FROM audit.dbt_results AS r JOIN dbt_latest AS l ON l.as_of_date = r.as_of_date AND l.run_id = r.run_id
            GROUP BY r.as_of_date
        ), dq_latest AS (
            SELECT as_of_date, gate, arg_max(run_id, evaluated_at) AS run_id FROM audit.dq_results GROUP BY ALL
        ), dq AS (
            SELECT q.as_of_date, string_agg(DISTINCT q.gate, ', ' ORDER BY q.gate) AS gates_evaluated,
                   count(*) AS dq_checks,
                   count(*) FILTER (WHERE NOT q.success AND q.severity = 'error') AS dq_failed_errors,
                   count(*) FILTER (WHERE NOT q.success AND q.severity <> 'error') AS dq_failed_warnings
            FROM audit.dq_results AS q
            JOIN dq_latest AS l ON l.as_of_date = q.as_of_date AND l.gate = q.gate AND l.run_id = q.run_id
            GROUP BY q.as_of_date
        )
        SELECT d.as_of_date,
               CASE WHEN p.as_of_date IS NOT NULL THEN 'published'
                    WHEN coalesce(dq.dq_failed_errors, 0) > 0 THEN 'failed_gate'
                    ELSE 'not_segmented' END AS status,
               p.as_of_date IS NOT NULL AS is_published,
               coalesce(s.run_id, v.run_id, loads.run_id) AS pipeline_run_id,
               coalesce(loads.files_loaded, 0) AS files_loaded, coalesce(loads.files_missing, 0) AS files_missing,
               coalesce(loads.rows_loaded, 0) AS rows_loaded, coalesce(loads.rows_quarantined, 0) AS rows_quarantined,
               coalesce(dbt.dbt_nodes, 0) AS dbt_nodes, coalesce(dbt.dbt_failures, 0) AS dbt_failures,
               v.run_id AS clv_run_id, v.params_version AS clv_params_version, v.clients AS clients_valued,
               v.seconds AS clv_seconds, s.run_id AS segments_run_id, s.params_version AS segment_rules_version,
               s.clients AS clients_segmented, s.signals_new, s.signals_active, s.signals_closed,
               s.watch_list_clients, s.seconds AS segments_seconds, dq.gates_evaluated,
               coalesce(dq.dq_checks, 0) AS dq_checks, coalesce(dq.dq_failed_errors, 0) AS dq_failed_errors,
               coalesce(dq.dq_failed_warnings, 0) AS dq_failed_warnings,
               least(loads.started_at, dbt.started_at, v.started_at, s.started_at) AS started_at,
               greatest(loads.finished_at, dbt.finished_at, v.finished_at, s.finished_at) AS finished_at
        FROM dates AS d
        LEFT JOIN published_dates AS p ON p.as_of_date = d.as_of_date
        LEFT JOIN loads ON loads.as_of_date = d.as_of_date
        LEFT JOIN dbt ON dbt.as_of_date = d.as_of_date
        LEFT JOIN valuation.runs AS v ON v.as_of_date = d.as_of_date
        LEFT JOIN segments.runs AS s ON s.as_of_date = d.as_of_date
        LEFT JOIN dq ON dq.as_of_date = d.as_of_date
    """,
)  # fmt: skip

#: the publish job fills this table itself (one row per publish, earlier publishes carried over)
PUBLICATIONS = BiTable(
    name="publications",
    grain="One row per publish of the serving database (run_id, as_of_date); a rerun replaces its row.",
    key=("as_of_date", "run_id"),
    partition=PARTITION_BY_DATE,
    columns=(
        _c("as_of_date", "DATE", "Business date of the run that published."),
        _c("run_id", "VARCHAR", "The publishing run."),
        _c("published_at", "TIMESTAMPTZ", "When the serving database was built (UTC)."),
        _c("code_version", "VARCHAR", "Git commit of the pipeline code (null outside a git checkout)."),
        _c("storage_version", "VARCHAR", "DuckDB storage version of the serving file (readable by DuckDB from this version on)."),
        _c("pii_key_id", "VARCHAR", "Fingerprint of the pseudonymisation key: pseudonyms are comparable between publishes with the same value."),
        _c("business_dates", "BIGINT", "Published business dates in the BI tables."),
        _c("first_business_date", "DATE", "Earliest published business date."),
        _c("last_business_date", "DATE", "Latest published business date."),
        _c("table_row_counts", "VARCHAR", "Rows per BI table of this publish, as JSON text."),
        _c("postgres_schema", "VARCHAR", "The PostgreSQL schema published beside the file ('bi'), or null when PostgreSQL is not configured."),
        _c("bi_schema_version", "VARCHAR", "Fingerprint of the BI table definitions and the publish code that built the file: a publish carries earlier dates' rows over only from a file with the same value."),
        _c("build_mode", "VARCHAR", "incremental (the previous file copied and only the dates that changed rebuilt) or full (every table rebuilt from the warehouse)."),
        _c("build_note", "VARCHAR", "Which dates an incremental build rebuilt and removed, or why the build was full."),
    ),
    published_dates_only=False,
    query="",
)  # fmt: skip


@cache
def bi_tables() -> tuple[BiTable, ...]:
    """Every BI table, in build order (publications last: it counts the others)."""
    tables = (
        _clients(), _CURRENT_CLIENT_VALUE, _CLV_HISTORY, _CLV_CHANGE_ATTRIBUTION, _SEGMENT_SUMMARY, _STRATEGY_MATRIX,
        _EARLY_WARNINGS, _WATCH_LIST, _SEGMENT_MIGRATION, _data_quality_results(), _RUN_HISTORY, PUBLICATIONS,
    )  # fmt: skip
    names = [t.name for t in tables]
    if names != list(_DESCRIPTIONS) and sorted(names) != sorted(_DESCRIPTIONS):
        raise RuntimeError(f"BI tables {names} and their descriptions {list(_DESCRIPTIONS)} differ")
    for table in tables:
        bad = sorted({c.type for c in table.columns} - set(POSTGRES_TYPES))
        if bad:
            raise RuntimeError(f"bi.{table.name}: unsupported column types {bad}")
        if table.partition == PARTITION_BY_DATE and "as_of_date" not in table.column_names:
            raise RuntimeError(f"bi.{table.name} is partitioned by as_of_date but has no such column")
        if table.partition == SNAPSHOT and "as_of_date" in table.column_names:
            raise RuntimeError(f"bi.{table.name} is a snapshot: its date column may not be called as_of_date")
    return tables


@cache
def bi_schema_version() -> str:
    """A fingerprint of what decides the rows of the BI tables: every table's columns, key, partitioning and
    query, and the source of the modules that build them (this one, the publish job, pseudonymisation).
    A serving file built under another value is rebuilt in full rather than carried over."""
    import hashlib
    from pathlib import Path

    digest = hashlib.sha256()
    for table in bi_tables():
        digest.update(repr((table.name, table.key, table.partition, table.columns, table.query,
                            table.published_dates_only)).encode())  # fmt: skip
    here = Path(__file__).resolve().parent
    for module in ("bi_schema.py", "publish.py", "pii.py"):
        digest.update((here / module).read_bytes())
    return digest.hexdigest()[:16]


def bi_table(name: str) -> BiTable:
    for table in bi_tables():
        if table.name == name:
            return table
    raise KeyError(f"unknown BI table {name!r}; known: {', '.join(_DESCRIPTIONS)}")
