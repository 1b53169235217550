with

source as (

    select * from {{ source('raw', 'industry_indicators') }}

),

renamed as (

    select
        cast(quarter_end_date as date) as quarter_end_date,
        upper(trim(section_code)) as section_code,
        cast(output_growth_pct as double) as output_growth_pct,
        cast(profit_margin_pct as double) as profit_margin_pct,
        cast(npl_ratio_pct as double) as npl_ratio_pct,
        {{ pipeline_metadata_columns() }}
    from source

)

select * from renamed
