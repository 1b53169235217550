with

source as (

    select * from {{ source('raw', 'ratings') }}

),

renamed as (

    select
        trim(rating_id) as rating_id,
        trim(client_id) as client_id,
        cast(rating_date as date) as rating_date,
        upper(trim(grade)) as grade,
        cast(score as double) as score,
        trim(model_version) as model_version,
        lower(trim(rating_reason)) as rating_reason,
        {{ pipeline_metadata_columns() }}
    from source

)

select * from renamed
