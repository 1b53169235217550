{#- Each client's rating in force at D, its through-the-cycle PD, and the change over the last 12 months. -#}
with

ratings as (

    select * from {{ ref('stg_ratings') }}

),

master_scale as (

    select * from {{ ref('ref_rating_master_scale') }}

),

known_at_d as (

    select
        ratings.*,
        master_scale.grade_rank,
        master_scale.ttc_pd
    from ratings
    inner join master_scale using (grade)
    where ratings.rating_date <= cast('{{ var("as_of_date") }}' as date)

),

current_rating as (

    select *
    from known_at_d
    qualify row_number() over (partition by client_id order by rating_date desc, rating_id desc) = 1

),

rating_a_year_ago as (

    select *
    from known_at_d
    where rating_date <= cast('{{ var("as_of_date") }}' as date) - interval 12 month
    qualify row_number() over (partition by client_id order by rating_date desc, rating_id desc) = 1

),

final as (

    select
        current_rating.client_id,
        cast('{{ var("as_of_date") }}' as date) as as_of_date,
        current_rating.rating_id,
        current_rating.grade as current_grade,
        current_rating.grade_rank as current_grade_rank,
        current_rating.ttc_pd,
        current_rating.rating_date,
        current_rating.model_version,
        rating_a_year_ago.grade as grade_12m_ago,
        -- positive: downgraded by that many notches over the year; null without a rating a year ago
        current_rating.grade_rank - rating_a_year_ago.grade_rank as notches_downgraded_12m,
        current_rating.grade = 'D' as is_defaulted_grade
    from current_rating
    left join rating_a_year_ago using (client_id)

)

select * from final
