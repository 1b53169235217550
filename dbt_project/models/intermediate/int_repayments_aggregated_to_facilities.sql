{#- Repayment behaviour of each facility on each business date, from the instalment records known by
    then: days past due now, the worst over three and twelve months, arrears, and the share of
    instalments due over twelve months that were paid on or before their due date.

    An instalment is past due from the day after its due date until it is paid; a record delivered after
    the business date is not yet known on it. -#}
{%- set cutoff -%}
    (cast('{{ build_from_date() }}' as date) - interval 12 month)
{%- endset -%}

with

repayments as (

    select * from {{ ref('stg_repayments') }}

),

business_dates as (

    {{ business_dates() }}

),

records as (

    select
        *,
        -- due and paid more than twelve months before the first date built, and the payment delivered by
        -- then (known on every date built): such an instalment can affect no measure of any date built
        due_date < {{ cutoff }}
            and coalesce(
                paid_date < {{ cutoff }} and as_of_date <= cast('{{ build_from_date() }}' as date), false
            ) as is_settled_long_ago
    from repayments
    where as_of_date <= cast('{{ var("as_of_date") }}' as date)

),

settled_long_ago as (

    select facility_id, installment_no from records where is_settled_long_ago

),

unpaid_records_settled_long_ago as (

    -- the due-date record of a late instalment whose payment was settled long ago: it goes too
    select records.repayment_id
    from records
    semi join settled_long_ago using (facility_id, installment_no)
    where records.paid_date is null
      and records.due_date < {{ cutoff }}

),

relevant as (

    select *
    from records
    anti join unpaid_records_settled_long_ago using (repayment_id)
    where not is_settled_long_ago

),

instalments as (

    -- one row per instalment: the record of its due date and, for a late one, the record of its payment
    select
        facility_id,
        installment_no,
        any_value(client_id) as client_id,
        min(due_date) as due_date,
        max(scheduled_principal_cny + scheduled_interest_cny) as scheduled_amount_cny,
        min(as_of_date) as first_delivered_date,
        min(paid_date) as paid_date,
        min(as_of_date) filter (where paid_date is not null) as paid_delivered_date
    from relevant
    group by facility_id, installment_no

),

known_at_date as (

    select
        business_dates.business_date,
        relevant.facility_id,
        relevant.client_id,
        relevant.due_date,
        relevant.scheduled_amount_cny,
        case
            when relevant.paid_delivered_date <= business_dates.business_date
                and relevant.paid_date <= business_dates.business_date
                then relevant.paid_date
        end as paid_date
    from business_dates
    inner join instalments as relevant
        on relevant.first_delivered_date <= business_dates.business_date
        and relevant.due_date <= business_dates.business_date

),

measured as (

    select
        *,
        paid_date is null and due_date < business_date as is_unpaid_past_due,
        -- days past due this instalment reached by the business date (0 when paid on time)
        greatest(datediff('day', due_date, coalesce(paid_date, business_date)), 0) as dpd_reached,
        coalesce(paid_date, business_date) as delinquency_end_date
    from known_at_date

),

final as (

    select
        facility_id,
        business_date as as_of_date,
        any_value(client_id) as client_id,
        coalesce(max(dpd_reached) filter (where is_unpaid_past_due), 0) as current_dpd,
        coalesce(max(dpd_reached) filter (where delinquency_end_date >= business_date - interval 3 month), 0)
            as max_dpd_3m,
        coalesce(max(dpd_reached) filter (where delinquency_end_date >= business_date - interval 12 month), 0)
            as max_dpd_12m,
        coalesce(sum(scheduled_amount_cny) filter (where is_unpaid_past_due), 0) as arrears_cny,
        count(*) filter (where is_unpaid_past_due) as instalments_in_arrears,
        count(*) filter (where due_date > business_date - interval 12 month) as instalments_due_12m,
        count(*) filter (where due_date > business_date - interval 12 month and paid_date <= due_date)
            as instalments_paid_on_time_12m
    from measured
    group by facility_id, business_date

)

select * from final
