{#- Repayment behaviour of each client on each business date, over all its facilities: the worst days
    past due, the DPD bucket, arrears and the on-time payment rate over twelve months. -#}
with

facility_repayments as (

    select * from {{ ref('int_repayments_aggregated_to_facilities') }}

),

per_client as (

    select
        client_id,
        as_of_date,
        max(current_dpd) as current_dpd,
        max(max_dpd_3m) as max_dpd_3m,
        max(max_dpd_12m) as max_dpd_12m,
        sum(arrears_cny) as arrears_cny,
        sum(instalments_in_arrears) as instalments_in_arrears,
        sum(instalments_due_12m) as instalments_due_12m,
        sum(instalments_paid_on_time_12m) as instalments_paid_on_time_12m
    from facility_repayments
    group by client_id, as_of_date

),

final as (

    select
        *,
        {{ dpd_bucket('current_dpd') }} as dpd_bucket,
        {{ safe_divide('instalments_paid_on_time_12m', 'instalments_due_12m') }} as on_time_payment_rate_12m
    from per_client

)

select * from final
