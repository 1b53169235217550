with

source as (

    select * from {{ source('raw', 'financial_statements') }}

),

renamed as (

    select
        trim(statement_id) as statement_id,
        trim(client_id) as client_id,
        cast(period_end_date as date) as period_end_date,
        lower(trim(period_type)) as period_type,
        cast(is_audited as boolean) as is_audited,
        cast(revenue_cny as decimal(18,2)) as revenue_cny,
        cast(cost_of_sales_cny as decimal(18,2)) as cost_of_sales_cny,
        cast(ebit_cny as decimal(18,2)) as ebit_cny,
        cast(ebitda_cny as decimal(18,2)) as ebitda_cny,
        cast(interest_expense_cny as decimal(18,2)) as interest_expense_cny,
        cast(net_profit_cny as decimal(18,2)) as net_profit_cny,
        cast(current_assets_cny as decimal(18,2)) as current_assets_cny,
        cast(total_assets_cny as decimal(18,2)) as total_assets_cny,
        cast(current_liabilities_cny as decimal(18,2)) as current_liabilities_cny,
        cast(total_liabilities_cny as decimal(18,2)) as total_liabilities_cny,
        cast(equity_cny as decimal(18,2)) as equity_cny,
        cast(cash_cny as decimal(18,2)) as cash_cny,
        cast(operating_cash_flow_cny as decimal(18,2)) as operating_cash_flow_cny,
        cast(debt_service_due_cny as decimal(18,2)) as debt_service_due_cny,
        cast(reported_date as date) as reported_date,
        {{ pipeline_metadata_columns() }}
    from source

)

select * from renamed
