{#- Assets = liabilities + equity, within half a percent of total assets (at least 1 CNY for rounding),
    for every statement delivered on the business dates of the build. A statement that does not balance
    is a source error the ratios would silently absorb. Returns the statements that fail. -#}
{{ config(severity='error') }}

with

statements as (

    select * from {{ ref('stg_financial_statements') }}
    where as_of_date between cast('{{ build_from_date() }}' as date) and cast('{{ var("as_of_date") }}' as date)

)

select
    statement_id,
    client_id,
    period_end_date,
    _source_file,
    _row_number,
    total_assets_cny,
    total_liabilities_cny,
    equity_cny,
    total_assets_cny - (total_liabilities_cny + equity_cny) as imbalance_cny
from statements
where abs(total_assets_cny - (total_liabilities_cny + equity_cny))
    > greatest(1.0, 0.005 * abs(total_assets_cny))
