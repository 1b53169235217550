with

source as (

    select * from {{ source('raw', 'fee_income') }}

),

renamed as (

    select
        trim(fee_id) as fee_id,
        trim(client_id) as client_id,
        trim(product_code) as product_code,
        lower(trim(fee_type)) as fee_type,
        cast(fee_date as date) as fee_date,
        cast(amount_cny as decimal(18,2)) as amount_cny,
        {{ pipeline_metadata_columns() }}
    from source

)

select * from renamed
