{#- Collateral securing each facility on each business date: the latest delivery of every item on or
    before the date, active items only, summed per facility. -#}
with

collateral as (

    select * from {{ ref('stg_collateral') }}

),

business_dates as (

    {{ business_dates() }}

),

versions as (

    select *
    from collateral
    where as_of_date <= cast('{{ var("as_of_date") }}' as date)

),

resolved as (

    {{ resolve_to_business_dates('versions', 'collateral_id') }}

),

final as (

    select
        facility_id,
        business_date as as_of_date,
        any_value(client_id) as client_id,
        count(*) as collateral_items,
        sum(appraised_value_cny) as collateral_value_cny,
        -- the type carrying most of the value names the facility's security in reports
        first(collateral_type order by appraised_value_cny desc, collateral_id) as main_collateral_type,
        min(appraisal_date) as oldest_appraisal_date
    from resolved
    where collateral_status = 'active'
    group by facility_id, business_date

)

select * from final
