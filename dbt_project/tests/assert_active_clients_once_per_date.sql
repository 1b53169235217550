{#- Every client that is active on a business date (its latest raw delivery on or before the date says
    so, read straight from the raw table) appears exactly once in the client profile of that date, and
    the profile holds no active client that raw does not know. Returns the offending clients. -#}
{{ config(severity='error') }}

with

business_dates as (

    {{ business_dates() }}

),

raw_active as (

    select
        business_dates.business_date as as_of_date,
        raw_clients.client_id
    from business_dates
    inner join {{ source('raw', 'clients') }} as raw_clients
        on raw_clients._as_of_date <= business_dates.business_date
    group by business_dates.business_date, raw_clients.client_id
    having lower(trim(arg_max(raw_clients.client_status, raw_clients._as_of_date))) = 'active'

),

profile_rows as (

    select
        as_of_date,
        client_id,
        count(*) as rows_in_profile,
        bool_or(is_active_client) as is_active_in_profile
    from {{ ref('fct_client_profile') }}
    where as_of_date between cast('{{ build_from_date() }}' as date) and cast('{{ var("as_of_date") }}' as date)
    group by as_of_date, client_id

)

select
    coalesce(raw_active.as_of_date, profile_rows.as_of_date) as as_of_date,
    coalesce(raw_active.client_id, profile_rows.client_id) as client_id,
    raw_active.client_id is not null as is_active_in_raw,
    coalesce(profile_rows.rows_in_profile, 0) as rows_in_profile
from raw_active
full outer join (select * from profile_rows where is_active_in_profile) as profile_rows
    on profile_rows.as_of_date = raw_active.as_of_date
    and profile_rows.client_id = raw_active.client_id
where raw_active.client_id is null
   or coalesce(profile_rows.rows_in_profile, 0) <> 1
