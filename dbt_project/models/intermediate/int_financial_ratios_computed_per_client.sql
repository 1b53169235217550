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
        {{ safe_divide('latest.total_liabilities_cny', 'latest.total_assets_cny') }} as leverage_ratio,
        {{ safe_divide('latest.current_assets_cny', 'latest.current_liabilities_cny') }} as current_ratio,
        {{ safe_divide('latest.ebit_cny', 'latest.interest_expense_cny') }} as interest_coverage_ratio,
        {{ safe_divide('latest.ebitda_cny', 'latest.debt_service_due_cny') }} as debt_service_coverage_ratio,
        {{ safe_divide('latest.net_profit_cny', 'latest.total_assets_cny') }} as return_on_assets,
        {{ safe_divide('latest.net_profit_cny', 'latest.revenue_cny') }} as net_margin,
        -- growth only against the fiscal year just before: a gap in the filings gives null, not a
        -- multi-year change labelled as one year
        case
            when datediff('month', prior_year.period_end_date, latest.period_end_date) = 12
                then {{ safe_divide('latest.revenue_cny', 'prior_year.revenue_cny') }} - 1
        end as revenue_growth_yoy
    from latest
    left join prior_year
        on prior_year.client_id = latest.client_id
        and prior_year.business_date = latest.business_date

)

select * from final
