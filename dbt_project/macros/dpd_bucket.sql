{#- Days-past-due bucket as credit reports show it: 0, 1-30, 31-60, 61-90, 90+. -#}
{% macro dpd_bucket(dpd) -%}
    case
        when {{ dpd }} is null then null
        when {{ dpd }} <= 0 then '0'
        when {{ dpd }} <= 30 then '1-30'
        when {{ dpd }} <= 60 then '31-60'
        when {{ dpd }} <= 90 then '61-90'
        else '90+'
    end
{%- endmacro %}
