{#- Clients as the bank knows them on the latest business date built: one row per client, with business
    names for industry and region and the enterprise size. A rerun or backfill that ends before the
    latest date already built leaves the dimension as it is, so it never rolls back to an older state.
    No personal data: the legal representative's name, identity number and phone stay in raw and staging
    (keyed pseudonyms arrive with serving). -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='client_id',
        on_schema_change='sync_all_columns'
    )
}}
with

clients as (

    select * from {{ ref('int_clients_resolved_to_dates') }}
    where as_of_date = cast('{{ var("as_of_date") }}' as date)

),

sizes as (

    select * from {{ ref('int_enterprise_sizes_classified_per_client') }}
    where as_of_date = cast('{{ var("as_of_date") }}' as date)

),

final as (

    select
        clients.client_id,
        clients.uscc,
        clients.company_name,
        clients.client_status,
        clients.industry_code,
        clients.industry_section_code,
        clients.industry_section_name_en,
        clients.industry_section_name_zh,
        clients.industry_division_code,
        clients.industry_division_name_en,
        clients.industry_division_name_zh,
        clients.region_code,
        clients.province_code,
        clients.region_economic_tier,
        clients.registered_capital_cny,
        clients.founded_date,
        clients.onboarded_date,
        clients.relationship_manager_id,
        sizes.enterprise_size,
        sizes.sme_industry_group,
        clients.attributes_delivered_date,
        cast(clients.attributes_delivered_date as timestamp) as attributes_updated_at,
        clients.as_of_date as known_as_of_date
    from clients
    left join sizes using (client_id)
    {% if is_incremental() %}
    where clients.as_of_date >= (select coalesce(max(known_as_of_date), date '1900-01-01') from {{ this }})
    {% endif %}

)

select * from final
