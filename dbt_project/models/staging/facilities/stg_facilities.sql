with

source as (

    select * from {{ source('raw', 'facilities') }}

),

renamed as (

    select
        trim(facility_id) as facility_id,
        trim(client_id) as client_id,
        lower(trim(product_code)) as product_code,
        upper(trim(currency)) as currency,
        cast(limit_cny as decimal(18,2)) as limit_cny,
        cast(drawn_balance_cny as decimal(18,2)) as drawn_balance_cny,
        cast(interest_rate_pct as double) as interest_rate_pct,
        upper(trim(rate_basis)) as rate_basis,
        cast(spread_bps as integer) as spread_bps,
        cast(start_date as date) as start_date,
        cast(maturity_date as date) as maturity_date,
        lower(trim(repayment_type)) as repayment_type,
        lower(trim(facility_status)) as facility_status,
        {{ pipeline_metadata_columns() }}
    from source

)

select * from renamed
