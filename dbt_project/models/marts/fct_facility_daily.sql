{#- Facility positions: one row per facility per business date for every facility on book (active or
    defaulted) or still carrying a balance, with exposure, collateral, repayment behaviour and the
    regulatory class. Incremental by business date like fct_client_profile. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='as_of_date',
        on_schema_change='sync_all_columns'
    )
}}

with

facilities as (

    select * from {{ ref('int_facilities_resolved_to_dates') }}

),

collateral as (

    select * from {{ ref('int_collateral_aggregated_to_facilities') }}

),

repayments as (

    select * from {{ ref('int_repayments_aggregated_to_facilities') }}

),

classes as (

    select * from {{ ref('int_asset_classes_assigned_to_facilities') }}

),

final as (

    select
        facilities.facility_id,
        facilities.as_of_date,
        facilities.client_id,
        facilities.product_code,
        facilities.product_family,
        facilities.facility_status,
        facilities.is_on_book,
        facilities.limit_cny,
        facilities.drawn_balance_cny,
        facilities.undrawn_cny,
        facilities.ccf,
        facilities.ead_cny,
        facilities.interest_rate_pct,
        facilities.rate_basis,
        facilities.spread_bps,
        facilities.repayment_type,
        facilities.start_date,
        facilities.maturity_date,
        facilities.remaining_maturity_years,
        coalesce(collateral.collateral_items, 0) as collateral_items,
        coalesce(collateral.collateral_value_cny, 0) as collateral_value_cny,
        collateral.main_collateral_type,
        {{ safe_divide('coalesce(collateral.collateral_value_cny, 0)', 'facilities.ead_cny') }} as collateral_coverage_ratio,
        coalesce(repayments.current_dpd, 0) as current_dpd,
        coalesce(repayments.max_dpd_3m, 0) as max_dpd_3m,
        coalesce(repayments.max_dpd_12m, 0) as max_dpd_12m,
        {{ dpd_bucket('coalesce(repayments.current_dpd, 0)') }} as dpd_bucket,
        coalesce(repayments.arrears_cny, 0) as arrears_cny,
        classes.asset_class,
        classes.asset_class_zh,
        classes.asset_class_rank,
        classes.is_non_performing,
        classes.classification_reason,
        facilities.state_delivered_date,
        '{{ var("run_id", "manual") }}' as _run_id
    from facilities
    left join collateral
        on collateral.facility_id = facilities.facility_id and collateral.as_of_date = facilities.as_of_date
    left join repayments
        on repayments.facility_id = facilities.facility_id and repayments.as_of_date = facilities.as_of_date
    left join classes
        on classes.facility_id = facilities.facility_id and classes.as_of_date = facilities.as_of_date
    where facilities.is_on_book or facilities.drawn_balance_cny > 0

)

select * from final
