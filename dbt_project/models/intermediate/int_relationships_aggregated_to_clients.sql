{#- Breadth and depth of each client's relationship on each business date: tenure, products held, fee
    income over twelve months, deposit balances and contact with the relationship manager. -#}
with

clients as (

    select * from {{ ref('int_clients_resolved_to_dates') }}

),

facilities as (

    select * from {{ ref('int_facilities_resolved_to_dates') }}

),

holdings as (

    select * from {{ ref('stg_product_holdings') }}

),

fees as (

    select * from {{ ref('stg_fee_income') }}

),

interactions as (

    select * from {{ ref('stg_crm_interactions') }}

),

products as (

    select * from {{ ref('ref_products') }}

),

business_dates as (

    {{ business_dates() }}

),

holdings_at_date as (

    select
        business_dates.business_date,
        holdings.*
    from business_dates
    inner join holdings
        on holdings.as_of_date <= business_dates.business_date
    where holdings.as_of_date <= cast('{{ var("as_of_date") }}' as date)
    qualify row_number() over (
        partition by business_dates.business_date, holdings.holding_id
        order by holdings.as_of_date desc
    ) = 1

),

open_holdings as (

    select
        holdings_at_date.business_date,
        holdings_at_date.client_id,
        holdings_at_date.product_code,
        products.product_family,
        holdings_at_date.balance_cny
    from holdings_at_date
    left join products using (product_code)
    where holdings_at_date.holding_status = 'active'
      and holdings_at_date.opened_date <= holdings_at_date.business_date
      and (holdings_at_date.closed_date is null or holdings_at_date.closed_date > holdings_at_date.business_date)

),

products_in_use as (

    select business_date, client_id, product_code, product_family from open_holdings
    union all
    select as_of_date, client_id, product_code, product_family from facilities where is_on_book

),

products_per_client as (

    select
        business_date,
        client_id,
        count(distinct product_code) as products_held,
        count(distinct product_code) filter (where product_family = 'lending') as lending_products_held,
        count(distinct product_family) as product_families_held,
        string_agg(distinct product_code, ',' order by product_code) as products_held_list
    from products_in_use
    group by business_date, client_id

),

deposits_per_client as (

    select
        business_date,
        client_id,
        sum(balance_cny) as deposit_balance_cny
    from open_holdings
    where product_family = 'deposit'
    group by business_date, client_id

),

fees_per_client as (

    select
        business_dates.business_date,
        fees.client_id,
        sum(fees.amount_cny) as fee_income_12m_cny,
        count(*) as fee_events_12m
    from business_dates
    inner join fees
        on fees.fee_date <= business_dates.business_date
        and fees.fee_date > business_dates.business_date - interval 12 month
        and fees.as_of_date <= business_dates.business_date
    group by business_dates.business_date, fees.client_id

),

contacts_per_client as (

    select
        business_dates.business_date,
        interactions.client_id,
        count(*) filter (where interactions.interaction_date > business_dates.business_date - interval 12 month)
            as crm_touches_12m,
        count(*) filter (where interactions.interaction_date > business_dates.business_date - interval 3 month)
            as crm_touches_3m,
        max(interactions.interaction_date) as last_contact_date
    from business_dates
    inner join interactions
        on interactions.interaction_date <= business_dates.business_date
        and interactions.as_of_date <= business_dates.business_date
    group by business_dates.business_date, interactions.client_id

),

final as (

    select
        clients.client_id,
        clients.as_of_date,
        clients.onboarded_date,
        case
            when clients.onboarded_date <= clients.as_of_date
                then date_sub('month', clients.onboarded_date, clients.as_of_date)  -- whole months
        end as tenure_months,
        coalesce(products_per_client.products_held, 0) as products_held,
        coalesce(products_per_client.lending_products_held, 0) as lending_products_held,
        coalesce(products_per_client.product_families_held, 0) as product_families_held,
        products_per_client.products_held_list,
        coalesce(deposits_per_client.deposit_balance_cny, 0) as deposit_balance_cny,
        coalesce(fees_per_client.fee_income_12m_cny, 0) as fee_income_12m_cny,
        coalesce(fees_per_client.fee_events_12m, 0) as fee_events_12m,
        coalesce(contacts_per_client.crm_touches_12m, 0) as crm_touches_12m,
        coalesce(contacts_per_client.crm_touches_3m, 0) as crm_touches_3m,
        contacts_per_client.last_contact_date,
        datediff('day', contacts_per_client.last_contact_date, clients.as_of_date) as days_since_last_contact
    from clients
    left join products_per_client
        on products_per_client.client_id = clients.client_id
        and products_per_client.business_date = clients.as_of_date
    left join deposits_per_client
        on deposits_per_client.client_id = clients.client_id
        and deposits_per_client.business_date = clients.as_of_date
    left join fees_per_client
        on fees_per_client.client_id = clients.client_id
        and fees_per_client.business_date = clients.as_of_date
    left join contacts_per_client
        on contacts_per_client.client_id = clients.client_id
        and contacts_per_client.business_date = clients.as_of_date

)

select * from final
