{#- GB/T 2260 regions the bank's clients are registered in, with their province and the bank's regional
    economic tier. One row per region code. -#}
with

regions as (

    select * from {{ ref('ref_regions') }}

),

final as (

    select
        regions.region_code,
        regions.region_name_zh,
        regions.region_name_en,
        regions.level as region_level,
        regions.province_code,
        provinces.region_name_zh as province_name_zh,
        provinces.region_name_en as province_name_en,
        regions.economic_tier
    from regions
    left join regions as provinces
        on provinces.region_code = regions.province_code

)

select * from final
