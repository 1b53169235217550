with

source as (

    select * from {{ source('raw', 'collateral') }}

),

renamed as (

    select
        trim(collateral_id) as collateral_id,
        trim(facility_id) as facility_id,
        trim(client_id) as client_id,
        lower(trim(collateral_type)) as collateral_type,
        collateral_description,
        cast(appraised_value_cny as decimal(18,2)) as appraised_value_cny,
        cast(appraisal_date as date) as appraisal_date,
        lower(trim(collateral_status)) as collateral_status,
        {{ pipeline_metadata_columns() }}
    from source

)

select * from renamed
