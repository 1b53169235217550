{#- Each client's credit exposure on each business date over its on-book facilities: drawn, limits,
    undrawn, utilisation, exposure at default, balance-weighted rate and remaining maturity, collateral
    and its coverage, and the drawn balance by lending product. -#}
with

facilities as (

    select * from {{ ref('int_facilities_resolved_to_dates') }}

),

collateral as (

    select * from {{ ref('int_collateral_aggregated_to_facilities') }}

),

on_book as (

    select
        facilities.*,
        coalesce(collateral.collateral_value_cny, 0) as collateral_value_cny
    from facilities
    left join collateral
        on collateral.facility_id = facilities.facility_id
        and collateral.as_of_date = facilities.as_of_date
    where facilities.is_on_book

),

per_client as (

    select
        client_id,
        as_of_date,
        count(*) as facilities_on_book,
        sum(limit_cny) as limit_cny,
        sum(drawn_balance_cny) as drawn_balance_cny,
        sum(undrawn_cny) as undrawn_cny,
        sum(ead_cny) as ead_cny,
        sum(collateral_value_cny) as collateral_value_cny,
        -- exact decimal sums: a float sum depends on the order rows arrive in, and a rerun must
        -- reproduce every figure to the last digit
        sum(cast(interest_rate_pct as decimal(38, 6)) * cast(drawn_balance_cny as decimal(38, 2))) as rate_x_balance,
        sum(cast(drawn_balance_cny as decimal(38, 2)) * remaining_maturity_days) as maturity_days_x_balance,
        max(maturity_date) as last_maturity_date,
        {% for product in var('lending_products') -%}
        coalesce(sum(drawn_balance_cny) filter (where product_code = '{{ product }}'), 0)
            as drawn_{{ product }}_cny{{ "," if not loop.last }}
        {% endfor %}
    from on_book
    group by client_id, as_of_date

),

final as (

    select
        client_id,
        as_of_date,
        facilities_on_book,
        limit_cny,
        drawn_balance_cny,
        undrawn_cny,
        ead_cny,
        {{ safe_divide('drawn_balance_cny', 'limit_cny') }} as utilisation_ratio,
        {{ safe_divide('rate_x_balance', 'drawn_balance_cny') }} as weighted_interest_rate_pct,
        {{ safe_divide('maturity_days_x_balance', 'drawn_balance_cny') }} / 365.25 as weighted_remaining_maturity_years,
        last_maturity_date,
        collateral_value_cny,
        {{ safe_divide('collateral_value_cny', 'ead_cny') }} as collateral_coverage_ratio,
        {% for product in var('lending_products') -%}
        drawn_{{ product }}_cny{{ "," if not loop.last }}
        {% endfor %}
    from per_client

)

select * from final
