with

source as (

    select * from {{ source('raw', 'product_holdings') }}

),

renamed as (

    select
        trim(holding_id) as holding_id,
        trim(client_id) as client_id,
        lower(trim(product_code)) as product_code,
        cast(opened_date as date) as opened_date,
        cast(closed_date as date) as closed_date,
        lower(trim(holding_status)) as holding_status,
        cast(balance_cny as decimal(18,2)) as balance_cny,
        {{ pipeline_metadata_columns() }}
    from source

)

select * from renamed
