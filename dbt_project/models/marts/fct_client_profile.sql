{#- The client profile: one row per client per business date with everything the CLV engine, the
    segmentation and a BI analyst need. Incremental by business date: a build replaces exactly the dates
    it computed (build_from_date .. as_of_date) and leaves every other date as it was. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='as_of_date',
        on_schema_change='sync_all_columns'
    )
}}

with

clients as (

    select * from {{ ref('int_clients_resolved_to_dates') }}

),

sizes as (

    select * from {{ ref('int_enterprise_sizes_classified_per_client') }}

),

ratios as (

    select * from {{ ref('int_financial_ratios_computed_per_client') }}

),

ratings as (

    select * from {{ ref('int_ratings_resolved_per_client') }}

),

repayments as (

    select * from {{ ref('int_repayments_aggregated_to_clients') }}

),

exposures as (

    select * from {{ ref('int_exposures_aggregated_to_clients') }}

),

exposure_trends as (

    select * from {{ ref('int_exposure_trends_computed_per_client') }}

),

facility_classes as (

    select * from {{ ref('int_asset_classes_assigned_to_facilities') }}

),

asset_classes as (

    select * from {{ ref('ref_asset_classes') }}

),

relationships as (

    select * from {{ ref('int_relationships_aggregated_to_clients') }}

),

macro as (

    select * from {{ ref('int_macro_indicators_resolved_to_dates') }}

),

industry as (

    select * from {{ ref('int_industry_indicators_resolved_to_dates') }}

),

client_classes as (

    -- a debtor is classed by its worst exposure
    select
        client_id,
        as_of_date,
        max(asset_class_rank) as asset_class_rank,
        count(*) filter (where is_non_performing) as non_performing_facilities
    from facility_classes
    group by client_id, as_of_date

),

final as (

    select
        -- identity and attributes
        clients.client_id,
        clients.as_of_date,
        clients.client_status,
        clients.client_status = 'active' as is_active_client,
        clients.industry_code,
        clients.industry_section_code,
        clients.industry_division_code,
        clients.region_code,
        clients.province_code,
        clients.region_economic_tier,
        clients.onboarded_date,
        clients.relationship_manager_id,

        -- enterprise size (national SME standard)
        sizes.enterprise_size,
        sizes.enterprise_size_reason,
        sizes.sme_industry_group,
        sizes.employees,
        sizes.revenue_cny as size_revenue_cny,
        sizes.total_assets_cny as size_total_assets_cny,

        -- financial ratios (latest annual statement known at the date)
        ratios.statement_id,
        ratios.period_end_date as statement_period_end_date,
        ratios.revenue_cny as statement_revenue_cny,
        ratios.leverage_ratio,
        ratios.current_ratio,
        ratios.interest_coverage_ratio,
        ratios.debt_service_coverage_ratio,
        ratios.return_on_assets,
        ratios.net_margin,
        ratios.revenue_growth_yoy,

        -- internal rating
        ratings.current_grade,
        ratings.current_grade_rank,
        ratings.ttc_pd,
        ratings.rating_date,
        ratings.notches_downgraded_12m,
        coalesce(ratings.is_defaulted_grade, false) as is_defaulted_grade,

        -- repayment behaviour
        coalesce(repayments.current_dpd, 0) as current_dpd,
        coalesce(repayments.max_dpd_3m, 0) as max_dpd_3m,
        coalesce(repayments.max_dpd_12m, 0) as max_dpd_12m,
        {{ dpd_bucket('coalesce(repayments.current_dpd, 0)') }} as dpd_bucket,
        coalesce(repayments.arrears_cny, 0) as arrears_cny,
        coalesce(repayments.instalments_due_12m, 0) as instalments_due_12m,
        repayments.on_time_payment_rate_12m,

        -- exposure
        coalesce(exposures.facilities_on_book, 0) as facilities_on_book,
        coalesce(exposures.facilities_on_book, 0) > 0 as has_credit_exposure,
        coalesce(exposures.limit_cny, 0) as limit_cny,
        coalesce(exposures.drawn_balance_cny, 0) as drawn_balance_cny,
        coalesce(exposures.undrawn_cny, 0) as undrawn_cny,
        coalesce(exposures.ead_cny, 0) as ead_cny,
        exposures.utilisation_ratio,
        exposures.weighted_interest_rate_pct,
        exposures.weighted_remaining_maturity_years,
        exposures.last_maturity_date,
        coalesce(exposures.collateral_value_cny, 0) as collateral_value_cny,
        coalesce(exposure_trends.drawn_balance_12m_ago_cny, 0) as drawn_balance_12m_ago_cny,
        {{ safe_divide('coalesce(exposures.drawn_balance_cny, 0)', 'exposure_trends.drawn_balance_12m_ago_cny') }} - 1
            as exposure_growth_12m,
        exposures.collateral_coverage_ratio,
        {% for product in var('lending_products') -%}
        coalesce(exposures.drawn_{{ product }}_cny, 0) as drawn_{{ product }}_cny,
        {% endfor %}

        -- regulatory five-tier classification: the worst class of the client's on-book or written-off
        -- facilities; null for a client that never had either
        asset_classes.asset_class,
        asset_classes.asset_class_zh,
        client_classes.asset_class_rank,
        asset_classes.is_non_performing,
        coalesce(client_classes.non_performing_facilities, 0) as non_performing_facilities,

        -- relationship
        relationships.tenure_months,
        relationships.products_held,
        relationships.lending_products_held,
        relationships.product_families_held,
        relationships.products_held_list,
        relationships.deposit_balance_cny,
        relationships.fee_income_12m_cny,
        relationships.fee_events_12m,
        relationships.crm_touches_12m,
        relationships.crm_touches_3m,
        relationships.last_contact_date,
        relationships.days_since_last_contact,

        -- external context as known at the date
        macro.macro_month,
        macro.gdp_growth_pct,
        macro.pmi,
        macro.lpr_1y_pct,
        macro.lpr_5y_pct,
        macro.gdp_growth_next_12m_baseline_pct,
        macro.gdp_growth_next_12m_adverse_pct,
        macro.gdp_growth_next_12m_severe_pct,
        industry.industry_quarter_end_date,
        industry.industry_output_growth_pct,
        industry.industry_profit_margin_pct,
        industry.industry_npl_ratio_pct,
        industry.industry_npl_ratio_change_yoy_pp,

        '{{ var("run_id", "manual") }}' as _run_id
    from clients
    left join sizes
        on sizes.client_id = clients.client_id and sizes.as_of_date = clients.as_of_date
    left join ratios
        on ratios.client_id = clients.client_id and ratios.as_of_date = clients.as_of_date
    left join ratings
        on ratings.client_id = clients.client_id and ratings.as_of_date = clients.as_of_date
    left join repayments
        on repayments.client_id = clients.client_id and repayments.as_of_date = clients.as_of_date
    left join exposures
        on exposures.client_id = clients.client_id and exposures.as_of_date = clients.as_of_date
    left join exposure_trends
        on exposure_trends.client_id = clients.client_id
        and exposure_trends.as_of_date = clients.as_of_date
    left join client_classes
        on client_classes.client_id = clients.client_id and client_classes.as_of_date = clients.as_of_date
    left join asset_classes
        on asset_classes.asset_class_rank = client_classes.asset_class_rank
    left join relationships
        on relationships.client_id = clients.client_id and relationships.as_of_date = clients.as_of_date
    left join macro
        on macro.as_of_date = clients.as_of_date
    left join industry
        on industry.section_code = clients.industry_section_code and industry.as_of_date = clients.as_of_date

)

select * from final
