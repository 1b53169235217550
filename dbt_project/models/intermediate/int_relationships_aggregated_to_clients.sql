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

holding_versions as (

    select * from holdings
    where as_of_date <= cast('{{ var("as_of_date") }}' as date)

),

holdings_at_date as (

    {{ resolve_to_business_dates('holding_versions', 'holding_id') }}

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
        array_to_string(list_sort(list_distinct(list(product_code))), ',') as products_held_list
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

recent_fees as (

    select * from fees
    where fee_date > cast('{{ build_from_date() }}' as date) - interval 12 month
      and as_of_date <= cast('{{ var("as_of_date") }}' as date)

),

fees_per_client as (

    select
        business_dates.business_date,
        recent_fees.client_id,
        sum(recent_fees.amount_cny) as fee_income_12m_cny,
        count(*) as fee_events_12m
    from business_dates
    inner join recent_fees
        on recent_fees.fee_date <= business_dates.business_date
        and recent_fees.fee_date > business_dates.business_date - interval 12 month
        and recent_fees.as_of_date <= business_dates.business_date
    group by business_dates.business_date, recent_fees.client_id

),

last_contact_before_window as (

    -- the latest contact known on every date built that is too old to count in any window
    select
        client_id,
        max(interaction_date) as last_contact_date
    from interactions
    where interaction_date <= cast('{{ build_from_date() }}' as date) - interval 12 month
      and as_of_date <= cast('{{ build_from_date() }}' as date)
    group by client_id

),

windowed_interactions as (

    -- everything else: contacts inside the windows, and late deliveries of older ones
    select * from interactions
    where as_of_date <= cast('{{ var("as_of_date") }}' as date)
      and (
          interaction_date > cast('{{ build_from_date() }}' as date) - interval 12 month
          or as_of_date > cast('{{ build_from_date() }}' as date)
      )

),

windowed_contacts as (

    select
        business_dates.business_date,
        windowed_interactions.client_id,
        count(*) filter (
            where windowed_interactions.interaction_date > business_dates.business_date - interval 12 month
        ) as crm_touches_12m,
        count(*) filter (
            where windowed_interactions.interaction_date > business_dates.business_date - interval 3 month
        ) as crm_touches_3m,
        max(windowed_interactions.interaction_date) as last_contact_date
    from business_dates
    inner join windowed_interactions
        on windowed_interactions.interaction_date <= business_dates.business_date
        and windowed_interactions.as_of_date <= business_dates.business_date
    group by business_dates.business_date, windowed_interactions.client_id

),

contacts_per_client as (

    select
        clients.as_of_date as business_date,
        clients.client_id,
        coalesce(windowed_contacts.crm_touches_12m, 0) as crm_touches_12m,
        coalesce(windowed_contacts.crm_touches_3m, 0) as crm_touches_3m,
        greatest(windowed_contacts.last_contact_date, last_contact_before_window.last_contact_date)
            as last_contact_date
    from clients
    left join windowed_contacts
        on windowed_contacts.client_id = clients.client_id
        and windowed_contacts.business_date = clients.as_of_date
    left join last_contact_before_window
        on last_contact_before_window.client_id = clients.client_id

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
