{#- For each business date built, the drawn balance of the marts equals raw: the facility fact's total
    equals the latest raw delivery of every facility on or before the date (read straight from the raw
    table, independently of the staging and intermediate models), and the client profile's total equals
    the facility fact's on-book total. Returns the dates and checks that disagree by more than 0.01 CNY. -#}
{{ config(severity='error') }}

with

business_dates as (

    {{ business_dates() }}

),

raw_latest as (

    select
        business_dates.business_date,
        arg_max(raw_facilities.drawn_balance_cny, raw_facilities._as_of_date) as drawn_balance_cny,
        arg_max(raw_facilities.facility_status, raw_facilities._as_of_date) as facility_status
    from business_dates
    inner join {{ source('raw', 'facilities') }} as raw_facilities
        on raw_facilities._as_of_date <= business_dates.business_date
    group by business_dates.business_date, raw_facilities.facility_id

),

raw_totals as (

    select
        business_date as as_of_date,
        sum(drawn_balance_cny) as raw_drawn_cny,
        sum(drawn_balance_cny) filter (where facility_status in ('active', 'defaulted')) as raw_on_book_drawn_cny
    from raw_latest
    group by business_date

),

facility_totals as (

    select
        as_of_date,
        sum(drawn_balance_cny) as facility_drawn_cny,
        sum(drawn_balance_cny) filter (where is_on_book) as facility_on_book_drawn_cny
    from {{ ref('fct_facility_daily') }}
    where as_of_date between cast('{{ build_from_date() }}' as date) and cast('{{ var("as_of_date") }}' as date)
    group by as_of_date

),

profile_totals as (

    select
        as_of_date,
        sum(drawn_balance_cny) as profile_drawn_cny
    from {{ ref('fct_client_profile') }}
    where as_of_date between cast('{{ build_from_date() }}' as date) and cast('{{ var("as_of_date") }}' as date)
    group by as_of_date

),

compared as (

    select
        raw_totals.as_of_date,
        raw_totals.raw_drawn_cny,
        raw_totals.raw_on_book_drawn_cny,
        facility_totals.facility_drawn_cny,
        facility_totals.facility_on_book_drawn_cny,
        profile_totals.profile_drawn_cny
    from raw_totals
    full outer join facility_totals using (as_of_date)
    full outer join profile_totals using (as_of_date)

)

select *
from compared
where abs(coalesce(raw_drawn_cny, 0) - coalesce(facility_drawn_cny, 0)) > 0.01
   or abs(coalesce(raw_on_book_drawn_cny, 0) - coalesce(facility_on_book_drawn_cny, 0)) > 0.01
   or abs(coalesce(facility_on_book_drawn_cny, 0) - coalesce(profile_drawn_cny, 0)) > 0.01
