{#- History of each client's rating in force (SCD2): a new version on every rating decision, valid from
    the rating date. -#}
{% snapshot snap_client_ratings %}

{{
    config(
        unique_key='client_id',
        strategy='timestamp',
        updated_at='rating_updated_at'
    )
}}

select
    client_id,
    rating_id,
    current_grade as grade,
    current_grade_rank as grade_rank,
    ttc_pd,
    rating_date,
    model_version,
    cast(rating_date as timestamp) as rating_updated_at
from {{ ref('int_ratings_resolved_per_client') }}
where as_of_date = cast('{{ var("as_of_date") }}' as date)

{% endsnapshot %}
