with

source as (

    select * from {{ source('raw', 'crm_interactions') }}

),

renamed as (

    select
        trim(interaction_id) as interaction_id,
        trim(client_id) as client_id,
        cast(interaction_date as date) as interaction_date,
        lower(trim(channel)) as channel,
        lower(trim(interaction_type)) as interaction_type,
        trim(relationship_manager_id) as relationship_manager_id,
        lower(trim(outcome)) as outcome,
        _as_of_date as as_of_date,
        _source_file,
        _row_number,
        _run_id,
        _loaded_at
    from source

)

select * from renamed
