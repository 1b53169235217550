{#- Several not-null checks in one query. One node per model instead of one per column: dbt's cost per
    node (about 20 ms) made a few hundred one-column tests a quarter of a daily build
    (docs/performance.md). Primary-key columns keep their own `not_null`. Returns each offending row's
    null columns. -#}
{% test not_null_columns(model, columns) %}

select
    array_to_string(
        list_filter(
            [{% for column in columns %}case when {{ column }} is null then '{{ column }}' end{{ ", " if not loop.last }}{% endfor %}],
            lambda x: x is not null
        ),
        ', '
    ) as null_columns
from {{ model }}
where {% for column in columns %}{{ column }} is null{{ " or " if not loop.last }}{% endfor %}

{% endtest %}
