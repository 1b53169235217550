{#- Each client's drawn balance twelve months before each business date, rebuilt from what is known at
    the date, for the lifecycle's exposure trend. Facility states are delivered as snapshots (no state
    twelve months old exists), so the balance a year ago is today's balance plus the principal repaid
    since: for each facility that had started by then, drawn now (0 once closed or written off) + principal
    paid in (D − 12 months, D]. A facility that started within the year had nothing drawn a year ago. A
    revolving line's drawn level moves both ways between instalments and is taken as today's (its path
    is not delivered). -#}
with

facilities as (

    select * from {{ ref('int_facilities_resolved_to_dates') }}

),

repayments as (

    select * from {{ ref('stg_repayments') }}

),

business_dates as (

    {{ business_dates() }}

),

principal_paid as (

    -- the latest record of each instalment known at the date, paid within the twelve months before it
    select
        business_dates.business_date,
        repayments.facility_id,
        repayments.installment_no,
        arg_max(repayments.paid_principal_cny, repayments.as_of_date) as paid_principal_cny,
        arg_max(repayments.paid_date, repayments.as_of_date) as paid_date
    from business_dates
    inner join repayments
        on repayments.as_of_date <= business_dates.business_date
        and repayments.paid_date > business_dates.business_date - interval 12 month
        and repayments.paid_date <= business_dates.business_date
    group by business_dates.business_date, repayments.facility_id, repayments.installment_no

),

repaid_per_facility as (

    select
        business_date as as_of_date,
        facility_id,
        sum(paid_principal_cny) as principal_repaid_12m_cny
    from principal_paid
    where paid_date > business_date - interval 12 month
    group by business_date, facility_id

),

per_facility as (

    select
        facilities.client_id,
        facilities.as_of_date,
        facilities.start_date <= facilities.as_of_date - interval 12 month as had_started,
        case when facilities.is_on_book then facilities.drawn_balance_cny else 0 end as drawn_now_cny,
        case
            when facilities.repayment_type = 'revolving'
                then case when facilities.is_on_book then facilities.drawn_balance_cny else 0 end
            else
                case when facilities.is_on_book then facilities.drawn_balance_cny else 0 end
                + coalesce(repaid.principal_repaid_12m_cny, 0)
        end as drawn_12m_ago_cny
    from facilities
    left join repaid_per_facility as repaid
        on repaid.facility_id = facilities.facility_id
        and repaid.as_of_date = facilities.as_of_date

),

final as (

    select
        client_id,
        as_of_date,
        coalesce(sum(drawn_12m_ago_cny) filter (where had_started), 0) as drawn_balance_12m_ago_cny
    from per_facility
    group by client_id, as_of_date

)

select * from final
