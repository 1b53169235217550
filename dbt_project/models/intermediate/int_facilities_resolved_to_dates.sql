{#- Each facility's state on each business date (the latest delivery on or before the date) with its
    product parameters: limit, drawn, undrawn, rate, remaining maturity and the exposure at default that
    the undrawn limit adds through the product's credit conversion factor. -#}
with

facilities as (

    select * from {{ ref('stg_facilities') }}

),

products as (

    select * from {{ ref('ref_products') }}

),

business_dates as (

    {{ business_dates() }}

),

versions as (

    select *
    from facilities
    where as_of_date <= cast('{{ var("as_of_date") }}' as date)

),

resolved as (

    {{ resolve_to_business_dates('versions', 'facility_id') }}

),

final as (

    select
        resolved.facility_id,
        resolved.business_date as as_of_date,
        resolved.client_id,
        resolved.product_code,
        products.product_family,
        resolved.facility_status,
        resolved.facility_status in ('active', 'defaulted') as is_on_book,
        resolved.limit_cny,
        resolved.drawn_balance_cny,
        greatest(resolved.limit_cny - resolved.drawn_balance_cny, 0) as undrawn_cny,
        products.ccf,
        -- exposure at default: drawn plus the undrawn commitment converted by the product's CCF;
        -- closed and written-off facilities carry none
        case
            when resolved.facility_status in ('active', 'defaulted')
                then resolved.drawn_balance_cny
                    + products.ccf * greatest(resolved.limit_cny - resolved.drawn_balance_cny, 0)
            else 0
        end as ead_cny,
        resolved.interest_rate_pct,
        resolved.rate_basis,
        resolved.spread_bps,
        resolved.repayment_type,
        resolved.start_date,
        resolved.maturity_date,
        greatest(datediff('day', resolved.business_date, resolved.maturity_date), 0) as remaining_maturity_days,
        greatest(datediff('day', resolved.business_date, resolved.maturity_date), 0) / 365.25
            as remaining_maturity_years,
        resolved.as_of_date as state_delivered_date
    from resolved
    left join products using (product_code)

)

select * from final
