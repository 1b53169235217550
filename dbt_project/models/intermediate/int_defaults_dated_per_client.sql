{#- The first default of each client known at D: the date of its first rating decision at a defaulted
    grade of the master scale (TTC PD of 100 %), dated and delivered on or before D. -#}
with

ratings as (

    select * from {{ ref('stg_ratings') }}
    where rating_date <= cast('{{ var("as_of_date") }}' as date)
      and as_of_date <= cast('{{ var("as_of_date") }}' as date)

),

master_scale as (

    select * from {{ ref('ref_rating_master_scale') }}

),

final as (

    select
        ratings.client_id,
        min(ratings.rating_date) as default_date
    from ratings
    inner join master_scale
        on master_scale.grade = ratings.grade
    where master_scale.ttc_pd >= 1
    group by ratings.client_id

)

select * from final
