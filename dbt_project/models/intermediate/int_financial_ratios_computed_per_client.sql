{#- Financial ratios of each client on each business date, from its latest annual statement the bank
    had received by then. -#}
with

statements as (

    select * from {{ ref('stg_financial_statements') }}

),

business_dates as (

    {{ business_dates() }}

),

annual as (

    select *
    from statements
    where period_type = 'annual'
      and reported_date <= cast('{{ var("as_of_date") }}' as date)
      and as_of_date <= cast('{{ var("as_of_date") }}' as date)

),

ranked as (

    select
        business_dates.business_date,
        annual.*,
        row_number() over (
            partition by business_dates.business_date, annual.client_id
            order by annual.period_end_date desc, annual.reported_date desc, annual.statement_id desc
        ) as recency
    from business_dates
    inner join annual
        on annual.reported_date <= business_dates.business_date
        and annual.as_of_date <= business_dates.business_date

),

latest as (

    select * from ranked where recency = 1

),

prior_year as (

    select * from ranked where recency = 2

),

final as (

    select
        latest.client_id,
        latest.business_date as as_of_date,
        latest.statement_id,
        latest.period_end_date,
        latest.reported_date,
        latest.revenue_cny,
        latest.total_assets_cny,
        {{ financial_ratios('latest', 'prior_year') }}
    from latest
    left join prior_year
        on prior_year.client_id = latest.client_id
        and prior_year.business_date = latest.business_date

)

select * from final
