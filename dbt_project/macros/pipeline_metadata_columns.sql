{#- The loader's metadata columns as every staging model exposes them (one definition; see
    python_tasks/contracts/render.py RAW_METADATA_COLUMNS for the raw side). -#}
{% macro pipeline_metadata_columns() -%}
        _as_of_date as as_of_date,
        _source_file,
        _row_number,
        _run_id,
        _loaded_at
{%- endmacro %}
