{#- The business dates a build computes: every calendar day from var build_from_date (default: the
    run's as_of_date) to var as_of_date. A daily run builds one date; a backfill or a full rebuild
    passes build_from_date and builds the whole range in one pass (ADR 0005). -#}
{% macro business_dates() -%}
    select cast(range as date) as business_date
    from range(
        cast('{{ build_from_date() }}' as date),
        cast('{{ var("as_of_date") }}' as date) + interval 1 day,
        interval 1 day
    )
{%- endmacro %}

{% macro build_from_date() -%}
    {{ var("build_from_date", var("as_of_date")) }}
{%- endmacro %}
