{#- The macroeconomic picture as it was known on each business date: the latest published actual month,
    and the average of each scenario's forecast over the next twelve months. Only values delivered on or
    before the date are used (a month re-published later replaces the earlier value from its delivery on),
    so a rerun of a past date sees what the bank saw then. -#}
with

macro as (

    select * from {{ ref('stg_macro_indicators') }}

),

business_dates as (

    {{ business_dates() }}

),

known_at_date as (

    select
        business_dates.business_date,
        macro.*
    from business_dates
    inner join macro
        on macro.as_of_date <= business_dates.business_date
    qualify row_number() over (
        partition by business_dates.business_date, macro.indicator_month, macro.scenario
        order by macro.as_of_date desc
    ) = 1

),

latest_actual as (

    select *
    from known_at_date
    where not is_forecast
      and scenario = 'baseline'
      and indicator_month <= business_date
    qualify row_number() over (partition by business_date order by indicator_month desc) = 1

),

outlook as (

    select
        business_date,
        {% for scenario in ['baseline', 'adverse', 'severe'] -%}
        cast(avg(cast(gdp_growth_pct as decimal(9, 4))) filter (where scenario = '{{ scenario }}') as double) as gdp_growth_next_12m_{{ scenario }}_pct,
        {% endfor -%}
        count(distinct indicator_month) as forecast_months
    from known_at_date
    where is_forecast
      and indicator_month > business_date
      and indicator_month <= business_date + interval 12 month
    group by business_date

),

final as (

    select
        latest_actual.business_date as as_of_date,
        latest_actual.indicator_month as macro_month,
        latest_actual.gdp_growth_pct,
        latest_actual.cpi_yoy_pct,
        latest_actual.ppi_yoy_pct,
        latest_actual.pmi,
        latest_actual.lpr_1y_pct,
        latest_actual.lpr_5y_pct,
        latest_actual.m2_growth_pct,
        outlook.gdp_growth_next_12m_baseline_pct,
        outlook.gdp_growth_next_12m_adverse_pct,
        outlook.gdp_growth_next_12m_severe_pct,
        coalesce(outlook.forecast_months, 0) as forecast_months
    from latest_actual
    left join outlook using (business_date)

)

select * from final
