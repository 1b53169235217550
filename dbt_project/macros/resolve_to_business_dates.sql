{#- The state of each entity of a master source on each business date: the version delivered last on or
    before the date. `versions` is a relation or CTE with one row per key per delivery (`as_of_date`);
    the caller's query must define the `business_dates` CTE. Each version is valid from its delivery to
    the next one, so the join touches each (entity, date) once instead of ranking every earlier version
    on every date. -#}
{% macro resolve_to_business_dates(versions, key) -%}
    select
        business_dates.business_date,
        valid.* exclude (valid_until)
    from (
        select
            *,
            lead(as_of_date) over (partition by {{ key }} order by as_of_date) as valid_until
        from {{ versions }}
    ) as valid
    inner join business_dates
        on valid.as_of_date <= business_dates.business_date
        and (valid.valid_until is null or valid.valid_until > business_dates.business_date)
{%- endmacro %}
