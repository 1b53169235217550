{#- The financial ratios of an annual statement, one definition for the profile and the scorecard's
    calibration sample. `current` and `prior` are the aliases of the statement and of the one for the
    fiscal year before it (left-joined; growth is null unless the two are exactly twelve months apart). -#}
{% macro financial_ratios(current, prior) %}
        {{ safe_divide(current ~ '.total_liabilities_cny', current ~ '.total_assets_cny') }} as leverage_ratio,
        {{ safe_divide(current ~ '.current_assets_cny', current ~ '.current_liabilities_cny') }} as current_ratio,
        {{ safe_divide(current ~ '.ebit_cny', current ~ '.interest_expense_cny') }} as interest_coverage_ratio,
        {{ safe_divide(current ~ '.ebitda_cny', current ~ '.debt_service_due_cny') }} as debt_service_coverage_ratio,
        {{ safe_divide(current ~ '.net_profit_cny', current ~ '.total_assets_cny') }} as return_on_assets,
        {{ safe_divide(current ~ '.net_profit_cny', current ~ '.revenue_cny') }} as net_margin,
        -- growth only against the fiscal year just before: a gap in the filings gives null, not a
        -- multi-year change labelled as one year
        case
            when datediff('month', {{ prior }}.period_end_date, {{ current }}.period_end_date) = 12
                then {{ safe_divide(current ~ '.revenue_cny', prior ~ '.revenue_cny') }} - 1
        end as revenue_growth_yoy
{%- endmacro %}
