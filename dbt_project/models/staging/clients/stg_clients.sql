with

source as (

    select * from {{ source('raw', 'clients') }}

),

renamed as (

    select
        trim(client_id) as client_id,
        upper(trim(uscc)) as uscc,
        company_name,
        legal_rep_name,
        upper(trim(legal_rep_id_number)) as legal_rep_id_number,
        legal_rep_phone,
        upper(trim(industry_code)) as industry_code,
        trim(region_code) as region_code,
        cast(registered_capital_cny as decimal(18,2)) as registered_capital_cny,
        cast(employees as integer) as employees,
        cast(annual_revenue_cny as decimal(18,2)) as annual_revenue_cny,
        cast(total_assets_cny as decimal(18,2)) as total_assets_cny,
        cast(founded_date as date) as founded_date,
        cast(onboarded_date as date) as onboarded_date,
        trim(relationship_manager_id) as relationship_manager_id,
        lower(trim(client_status)) as client_status,
        {{ pipeline_metadata_columns() }}
    from source

)

select * from renamed
