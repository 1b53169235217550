{#- The calibration sample of the PD scorecard for unrated clients (python_tasks/clv/scorecard.py): every
    annual statement as first reported, with its financial ratios and the client's first default after
    it, as known at D. The CLV job keeps the observations whose outcome window (a parameter) has ended
    by D and labels a default within it. Rebuilt on every run. -#}
with

statements as (

    select * from {{ ref('stg_financial_statements') }}
    where period_type = 'annual'
      and reported_date <= cast('{{ var("as_of_date") }}' as date)
      and as_of_date <= cast('{{ var("as_of_date") }}' as date)

),

first_reported as (

    select *
    from statements
    qualify row_number() over (
        partition by client_id, period_end_date order by reported_date, as_of_date, statement_id
    ) = 1

),

defaults as (

    select * from {{ ref('int_defaults_dated_per_client') }}

),

final as (

    select
        observed.client_id,
        observed.statement_id,
        observed.period_end_date,
        observed.reported_date as observation_date,
        {{ financial_ratios('observed', 'prior_year') }},
        defaults.default_date
    from first_reported as observed
    left join first_reported as prior_year
        on prior_year.client_id = observed.client_id
        and prior_year.period_end_date = observed.period_end_date - interval 1 year
    left join defaults
        on defaults.client_id = observed.client_id
    -- performing when the statement arrived: a client already in default is not a scoring case
    where defaults.default_date is null or defaults.default_date > observed.reported_date

)

select * from final
