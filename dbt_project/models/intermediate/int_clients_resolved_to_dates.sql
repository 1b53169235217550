{#- The client master as the bank knew it on each business date: the latest delivery on or before the
    date, with its industry, region and their reference attributes. The legal representative's personal
    data stops at staging: no model downstream carries it. -#}
with

clients as (

    select * from {{ ref('stg_clients') }}

),

business_dates as (

    {{ business_dates() }}

),

sections as (

    select * from {{ ref('ref_gbt4754_sections') }}

),

divisions as (

    select * from {{ ref('ref_gbt4754_divisions') }}

),

regions as (

    select * from {{ ref('ref_regions') }}

),

versions as (

    select
        client_id,
        uscc,
        company_name,
        industry_code,
        region_code,
        registered_capital_cny,
        employees,
        annual_revenue_cny,
        total_assets_cny,
        founded_date,
        onboarded_date,
        relationship_manager_id,
        client_status,
        as_of_date
    from clients
    where as_of_date <= cast('{{ var("as_of_date") }}' as date)

),

resolved as (

    {{ resolve_to_business_dates('versions', 'client_id') }}

),

final as (

    select
        resolved.client_id,
        resolved.business_date as as_of_date,
        resolved.uscc,
        resolved.company_name,
        resolved.client_status,
        resolved.industry_code,
        left(resolved.industry_code, 1) as industry_section_code,
        substr(resolved.industry_code, 2, 2) as industry_division_code,
        sections.section_name_en as industry_section_name_en,
        sections.section_name_zh as industry_section_name_zh,
        divisions.division_name_en as industry_division_name_en,
        divisions.division_name_zh as industry_division_name_zh,
        resolved.region_code,
        coalesce(regions.province_code, left(resolved.region_code, 2) || '0000') as province_code,
        coalesce(regions.economic_tier, provinces.economic_tier) as region_economic_tier,
        resolved.registered_capital_cny,
        resolved.employees,
        resolved.annual_revenue_cny,
        resolved.total_assets_cny,
        resolved.founded_date,
        resolved.onboarded_date,
        resolved.relationship_manager_id,
        resolved.as_of_date as attributes_delivered_date
    from resolved
    left join sections
        on sections.section_code = left(resolved.industry_code, 1)
    left join divisions
        on divisions.division_code = substr(resolved.industry_code, 2, 2)
    left join regions
        on regions.region_code = resolved.region_code
    left join regions as provinces
        on provinces.region_code = left(resolved.region_code, 2) || '0000'

)

select * from final
