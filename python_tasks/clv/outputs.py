"""The CLV engine's output tables (schema ``valuation``; the warehouse file is clv.duckdb, so a schema named clv would be ambiguous): one definition of their columns, used by the job that
writes them and by the tests and documents that read them (docs/clv.md lists each with its grain).

Every table is partitioned by ``as_of_date``: a run for D replaces exactly D's rows, in one transaction.
"""

from __future__ import annotations

from python_tasks.io.warehouse import ddl_columns

TABLES: dict[str, str] = {
    # one row per client per scenario per business date
    "client_values": """
        as_of_date DATE NOT NULL, client_id VARCHAR NOT NULL, scenario VARCHAR NOT NULL,
        clv_cny DOUBLE NOT NULL, pv_nii_cny DOUBLE NOT NULL, pv_fee_cny DOUBLE NOT NULL, pv_cost_cny DOUBLE NOT NULL,
        pv_expected_loss_cny DOUBLE NOT NULL, pv_capital_charge_cny DOUBLE NOT NULL,
        acquisition_cost_cny DOUBLE NOT NULL, ttc_pd DOUBLE NOT NULL, pit_pd DOUBLE NOT NULL, pd_source VARCHAR NOT NULL,
        lgd DOUBLE NOT NULL, ead_cny DOUBLE NOT NULL, capital_cny DOUBLE NOT NULL, systematic_factor DOUBLE NOT NULL,
        growth_rate DOUBLE NOT NULL, expected_lifetime_years DOUBLE NOT NULL, raroc DOUBLE, eva_cny DOUBLE NOT NULL,
        nii_12m_cny DOUBLE NOT NULL, interest_income_12m_cny DOUBLE NOT NULL, fee_12m_cny DOUBLE NOT NULL,
        expected_loss_12m_cny DOUBLE NOT NULL, contribution_12m_cny DOUBLE NOT NULL, segment VARCHAR NOT NULL,
        params_version VARCHAR NOT NULL, _run_id VARCHAR NOT NULL, _computed_at TIMESTAMP WITH TIME ZONE NOT NULL,
        PRIMARY KEY (as_of_date, client_id, scenario)
    """,
    # the exact inputs the engine valued, per client and per facility (audit trail; attribution reads them)
    "engine_inputs_clients": """
        as_of_date DATE NOT NULL, client_id VARCHAR NOT NULL, is_prospect BOOLEAN NOT NULL,
        is_defaulted BOOLEAN NOT NULL, ttc_pd DOUBLE NOT NULL, turnover_cny DOUBLE, fee_income_12m_cny DOUBLE NOT NULL,
        revenue_growth_yoy DOUBLE, industry_output_growth_pct DOUBLE, gdp_outlook_baseline_pct DOUBLE NOT NULL,
        gdp_outlook_adverse_pct DOUBLE NOT NULL, gdp_outlook_severe_pct DOUBLE NOT NULL, lpr_1y_pct DOUBLE NOT NULL,
        lpr_5y_pct DOUBLE NOT NULL, asset_class VARCHAR NOT NULL, tenure_years DOUBLE NOT NULL,
        sbg_alpha DOUBLE NOT NULL, sbg_beta DOUBLE NOT NULL, pd_source VARCHAR NOT NULL, segment VARCHAR NOT NULL,
        _run_id VARCHAR NOT NULL, PRIMARY KEY (as_of_date, client_id)
    """,
    "engine_inputs_facilities": """
        as_of_date DATE NOT NULL, facility_id VARCHAR NOT NULL, product_code VARCHAR NOT NULL,
        client_id VARCHAR NOT NULL, drawn_balance_cny DOUBLE NOT NULL, undrawn_cny DOUBLE NOT NULL, ccf DOUBLE NOT NULL,
        interest_rate_pct DOUBLE NOT NULL, repayment_type VARCHAR NOT NULL, remaining_maturity_years DOUBLE NOT NULL,
        collateral_value_cny DOUBLE NOT NULL, main_collateral_type VARCHAR, servicing_cost_bps DOUBLE NOT NULL,
        monitoring_cost_bps DOUBLE NOT NULL, origination_cost_cny DOUBLE NOT NULL, _run_id VARCHAR NOT NULL,
        PRIMARY KEY (as_of_date, facility_id)
    """,
    # every calibration of the run: retention per segment, the scorecard
    "model_fits": """
        as_of_date DATE NOT NULL, model VARCHAR NOT NULL, segment VARCHAR NOT NULL, source VARCHAR NOT NULL,
        observations BIGINT NOT NULL, events BIGINT NOT NULL, alpha DOUBLE, beta DOUBLE, log_likelihood DOUBLE,
        holdout_auc DOUBLE, holdout_gini DOUBLE, fallback_pd DOUBLE, coefficients JSON, note VARCHAR,
        params_version VARCHAR NOT NULL, _run_id VARCHAR NOT NULL, PRIMARY KEY (as_of_date, model, segment)
    """,
    # one row per client whose baseline CLV can be compared with the previous run's
    "attribution": """
        as_of_date DATE NOT NULL, client_id VARCHAR NOT NULL, previous_as_of_date DATE NOT NULL,
        clv_previous_cny DOUBLE NOT NULL, clv_cny DOUBLE NOT NULL, delta_clv_cny DOUBLE NOT NULL,
        exposure_cny DOUBLE NOT NULL, margin_cny DOUBLE NOT NULL, pd_cny DOUBLE NOT NULL, lgd_cny DOUBLE NOT NULL,
        retention_cny DOUBLE NOT NULL, macro_cny DOUBLE NOT NULL, parameters_cny DOUBLE NOT NULL,
        new_client_cny DOUBLE NOT NULL, lost_client_cny DOUBLE NOT NULL, method VARCHAR NOT NULL,
        _run_id VARCHAR NOT NULL, PRIMARY KEY (as_of_date, client_id)
    """,
    # projections of earlier runs against what then happened, by segment
    "backtest": """
        as_of_date DATE NOT NULL, projection_date DATE NOT NULL, segment VARCHAR NOT NULL, clients BIGINT NOT NULL,
        window_days INTEGER NOT NULL, projected_revenue_cny DOUBLE NOT NULL, realised_revenue_cny DOUBLE NOT NULL,
        revenue_bias_cny DOUBLE NOT NULL, revenue_bias_pct DOUBLE, revenue_mae_cny DOUBLE NOT NULL,
        projected_defaults DOUBLE NOT NULL, realised_defaults BIGINT NOT NULL,
        _run_id VARCHAR NOT NULL, PRIMARY KEY (as_of_date, projection_date, segment)
    """,
    # one row per run: what ran, with which parameters, and how long it took
    "runs": """
        as_of_date DATE NOT NULL, run_id VARCHAR NOT NULL, params_version VARCHAR NOT NULL,
        params_sha256 VARCHAR NOT NULL, params_json JSON NOT NULL, clients BIGINT NOT NULL, facilities BIGINT NOT NULL,
        rows_written BIGINT NOT NULL, seconds DOUBLE NOT NULL, started_at TIMESTAMP WITH TIME ZONE NOT NULL,
        finished_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (as_of_date)
    """,
}

ATTRIBUTION_FACTORS = ("exposure", "margin", "pd", "lgd", "retention", "macro", "parameters")


def ddl() -> list[str]:
    """CREATE statements for the schema and every table (idempotent)."""
    return ["CREATE SCHEMA IF NOT EXISTS valuation"] + [
        f"CREATE TABLE IF NOT EXISTS valuation.{name} ({columns.strip()})" for name, columns in TABLES.items()
    ]


def columns(table: str) -> list[str]:
    """Column names of an output table, in order."""
    return ddl_columns(TABLES[table])
