{#- The calibration sample of the retention model (python_tasks/clv/retention.py): each relationship the
    bank has had, from onboarding to its end, as known at D. A relationship ends when the client is
    closed: on the last closing date of its product holdings, or, without one, on the first delivery that
    reported it closed. Clients that defaulted are marked: their exit is credit loss, not attrition, and
    the retention fit censors them at their default date. Rebuilt on every run. -#}
with

clients as (

    select * from {{ ref('int_clients_resolved_to_dates') }}
    where as_of_date = cast('{{ var("as_of_date") }}' as date)
      and onboarded_date is not null

),

sizes as (

    select * from {{ ref('int_enterprise_sizes_classified_per_client') }}
    where as_of_date = cast('{{ var("as_of_date") }}' as date)

),

holdings as (

    select
        client_id,
        max(closed_date) as last_closed_date
    from {{ ref('stg_product_holdings') }}
    where as_of_date <= cast('{{ var("as_of_date") }}' as date)
    group by client_id

),

first_reported_closed as (

    select
        client_id,
        min(as_of_date) as first_closed_delivery_date
    from {{ ref('stg_clients') }}
    where client_status = 'closed'
      and as_of_date <= cast('{{ var("as_of_date") }}' as date)
    group by client_id

),

defaults as (

    select * from {{ ref('int_defaults_dated_per_client') }}

),

final as (

    select
        clients.client_id,
        clients.onboarded_date,
        case
            when clients.client_status = 'closed'
                then greatest(
                    clients.onboarded_date,
                    coalesce(holdings.last_closed_date, first_reported_closed.first_closed_delivery_date)
                )
        end as relationship_end_date,
        defaults.default_date,
        clients.client_status,
        sizes.enterprise_size,
        clients.industry_section_code,
        clients.region_economic_tier,
        cast('{{ var("as_of_date") }}' as date) as observed_through_date
    from clients
    left join sizes
        on sizes.client_id = clients.client_id
    left join holdings
        on holdings.client_id = clients.client_id
    left join first_reported_closed
        on first_reported_closed.client_id = clients.client_id
    left join defaults
        on defaults.client_id = clients.client_id

)

select * from final
