{#- Each client's rating in force on each business date (the latest rating decision dated and delivered on
    or before it), its through-the-cycle PD, and the change over the twelve months before. -#}
with

ratings as (

    select * from {{ ref('stg_ratings') }}

),

master_scale as (

    select * from {{ ref('ref_rating_master_scale') }}

),

business_dates as (

    {{ business_dates() }}

),

decisions as (

    select
        ratings.*,
        master_scale.grade_rank,
        master_scale.ttc_pd
    from ratings
    inner join master_scale using (grade)
    where ratings.as_of_date <= cast('{{ var("as_of_date") }}' as date)

),

current_rating as (

    select
        business_dates.business_date,
        decisions.*
    from business_dates
    inner join decisions
        on decisions.rating_date <= business_dates.business_date
        and decisions.as_of_date <= business_dates.business_date
    qualify row_number() over (
        partition by business_dates.business_date, decisions.client_id
        order by decisions.rating_date desc, decisions.rating_id desc
    ) = 1

),

rating_a_year_ago as (

    select
        business_dates.business_date,
        decisions.*
    from business_dates
    inner join decisions
        on decisions.rating_date <= business_dates.business_date - interval 12 month
        and decisions.as_of_date <= business_dates.business_date
    qualify row_number() over (
        partition by business_dates.business_date, decisions.client_id
        order by decisions.rating_date desc, decisions.rating_id desc
    ) = 1

),

final as (

    select
        current_rating.client_id,
        current_rating.business_date as as_of_date,
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
    left join rating_a_year_ago
        on rating_a_year_ago.client_id = current_rating.client_id
        and rating_a_year_ago.business_date = current_rating.business_date

)

select * from final
