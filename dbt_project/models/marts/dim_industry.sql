{#- GB/T 4754-2017 industries at division level with their section and the line of the SME standard
    that applies to the division. One row per division. -#}
with

divisions as (

    select * from {{ ref('ref_gbt4754_divisions') }}

),

sections as (

    select * from {{ ref('ref_gbt4754_sections') }}

),

industry_groups as (

    select * from {{ ref('ref_sme_industry_groups') }}

),

final as (

    select
        divisions.division_code,
        divisions.division_name_zh,
        divisions.division_name_en,
        divisions.section_code,
        sections.section_name_zh,
        sections.section_name_en,
        industry_groups.industry_group as sme_industry_group
    from divisions
    inner join sections using (section_code)
    left join industry_groups
        on industry_groups.code_prefix = divisions.division_code

)

select * from final
