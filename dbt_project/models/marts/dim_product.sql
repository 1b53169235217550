{#- The bank's product catalogue with the parameters the CLV engine uses. One row per product. -#}
with

products as (

    select * from {{ ref('ref_products') }}

),

final as (

    select
        product_code,
        product_family,
        product_name_en,
        product_name_zh,
        is_credit,
        typical_tenor_months,
        servicing_cost_bps,
        monitoring_cost_bps,
        origination_cost_cny,
        default_lgd,
        ccf
    from products

)

select * from final
