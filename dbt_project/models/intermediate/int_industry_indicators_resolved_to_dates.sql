{#- Each industry section's latest quarterly indicators as known on each business date: the latest
    quarter ended on or before the date among the values delivered by then, with the change in the
    industry's NPL ratio against the quarter a year earlier. -#}
with

industry as (

    select * from {{ ref('stg_industry_indicators') }}

),

business_dates as (

    {{ business_dates() }}

),

known_at_date as (

    select
        business_dates.business_date,
        industry.*
    from business_dates
    inner join industry
        on industry.as_of_date <= business_dates.business_date
        and industry.quarter_end_date <= business_dates.business_date
    qualify row_number() over (
        partition by business_dates.business_date, industry.quarter_end_date, industry.section_code
        order by industry.as_of_date desc
    ) = 1

),

ranked as (

    select
        *,
        row_number() over (partition by business_date, section_code order by quarter_end_date desc) as recency
    from known_at_date

),

latest as (

    select * from ranked where recency = 1

),

final as (

    select
        latest.section_code,
        latest.business_date as as_of_date,
        latest.quarter_end_date as industry_quarter_end_date,
        latest.output_growth_pct as industry_output_growth_pct,
        latest.profit_margin_pct as industry_profit_margin_pct,
        latest.npl_ratio_pct as industry_npl_ratio_pct,
        latest.npl_ratio_pct - year_before.npl_ratio_pct as industry_npl_ratio_change_yoy_pp
    from latest
    left join known_at_date as year_before
        on year_before.section_code = latest.section_code
        and year_before.business_date = latest.business_date
        and year_before.quarter_end_date = last_day(latest.quarter_end_date - interval 12 month)

)

select * from final
