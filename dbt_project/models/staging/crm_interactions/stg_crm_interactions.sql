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
        {{ pipeline_metadata_columns() }}
    from source

)

select * from renamed
