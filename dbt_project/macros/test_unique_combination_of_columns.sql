{#-
    Generic test: the combination of the given columns is unique in the model (a composite key).
    Returns one row per duplicated combination. Own implementation (dbt hub packages are unavailable),
    same name and argument as dbt_utils.unique_combination_of_columns.
-#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

{%- set column_list = combination_of_columns | join(', ') %}

with

validation as (

    select
        {{ column_list }},
        count(*) as n_rows
    from {{ model }}
    group by {{ column_list }}
    having count(*) > 1

)

select * from validation

{% endtest %}
