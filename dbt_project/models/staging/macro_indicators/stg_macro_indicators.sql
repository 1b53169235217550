with

source as (

    select * from {{ source('raw', 'macro_indicators') }}

),

renamed as (

    select
        cast(indicator_month as date) as indicator_month,
        lower(trim(scenario)) as scenario,
        cast(is_forecast as boolean) as is_forecast,
        cast(gdp_growth_pct as double) as gdp_growth_pct,
        cast(cpi_yoy_pct as double) as cpi_yoy_pct,
        cast(ppi_yoy_pct as double) as ppi_yoy_pct,
        cast(pmi as double) as pmi,
        cast(lpr_1y_pct as double) as lpr_1y_pct,
        cast(lpr_5y_pct as double) as lpr_5y_pct,
        cast(m2_growth_pct as double) as m2_growth_pct,
        {{ pipeline_metadata_columns() }}
    from source

)

select * from renamed
