{#- Each client's enterprise size on each business date under the national SME standard
    (工信部联企业〔2011〕300号, large-enterprise bounds of 国统字〔2017〕213号):

    - the industry line of the standard is found by the longest code prefix (ref_sme_industry_groups);
    - large, medium and small: every minimum the line lists (employees, operating revenue, total assets)
      is met, else the client drops a tier;
    - micro: at least one listed measure is known and below the small minimum;
    - unclassified: the industry is outside the standard (finance, public administration), or the
      measures needed are missing so that no tier can be decided.

    Measures come from the client master (the bank's KYC record of the last fiscal year), each falling
    back to the latest annual statement known at the date when the master leaves it empty. -#}
with

clients as (

    select * from {{ ref('int_clients_resolved_to_dates') }}

),

ratios as (

    select * from {{ ref('int_financial_ratios_computed_per_client') }}

),

industry_groups as (

    select * from {{ ref('ref_sme_industry_groups') }}

),

thresholds as (

    select * from {{ ref('ref_sme_size_thresholds') }}

),

bounds as (

    -- one row per industry line: the minimums of each tier side by side
    select
        industry_group,
        {% for tier in ['large', 'medium', 'small'] -%}
        max(employees_min) filter (where size_class = '{{ tier }}') as {{ tier }}_employees_min,
        max(revenue_min_cny) filter (where size_class = '{{ tier }}') as {{ tier }}_revenue_min_cny,
        max(total_assets_min_cny) filter (where size_class = '{{ tier }}') as {{ tier }}_total_assets_min_cny{{ "," if not loop.last }}
        {% endfor %}
    from thresholds
    group by industry_group

),

measures as (

    select
        clients.client_id,
        clients.as_of_date,
        clients.industry_code,
        clients.employees,
        coalesce(clients.annual_revenue_cny, ratios.revenue_cny) as revenue_cny,
        coalesce(clients.total_assets_cny, ratios.total_assets_cny) as total_assets_cny,
        case
            when clients.annual_revenue_cny is null and ratios.revenue_cny is not null
                or clients.total_assets_cny is null and ratios.total_assets_cny is not null
                then 'client_master_and_statement'
            else 'client_master'
        end as size_measures_source
    from clients
    left join ratios
        on ratios.client_id = clients.client_id
        and ratios.as_of_date = clients.as_of_date

),

with_group as (

    select
        measures.*,
        industry_groups.industry_group
    from measures
    left join industry_groups
        on starts_with(substr(measures.industry_code, 2), industry_groups.code_prefix)
    qualify row_number() over (
        partition by measures.client_id, measures.as_of_date
        order by length(industry_groups.code_prefix) desc nulls last
    ) = 1

),

tested as (

    select
        with_group.*,
        {% for tier in ['large', 'medium', 'small'] -%}
        coalesce(
            (bounds.{{ tier }}_employees_min is null or with_group.employees >= bounds.{{ tier }}_employees_min)
            and (bounds.{{ tier }}_revenue_min_cny is null or with_group.revenue_cny >= bounds.{{ tier }}_revenue_min_cny)
            and (bounds.{{ tier }}_total_assets_min_cny is null
                 or with_group.total_assets_cny >= bounds.{{ tier }}_total_assets_min_cny),
            false
        ) as meets_{{ tier }},
        {% endfor -%}
        coalesce(
            with_group.employees < bounds.small_employees_min
            or with_group.revenue_cny < bounds.small_revenue_min_cny
            or with_group.total_assets_cny < bounds.small_total_assets_min_cny,
            false
        ) as is_below_a_small_minimum,
        bounds.industry_group is not null as is_in_standard
    from with_group
    left join bounds using (industry_group)

),

final as (

    select
        client_id,
        as_of_date,
        industry_group as sme_industry_group,
        employees,
        revenue_cny,
        total_assets_cny,
        size_measures_source,
        case
            when not is_in_standard then 'unclassified'
            when meets_large then 'large'
            when meets_medium then 'medium'
            when meets_small then 'small'
            when is_below_a_small_minimum then 'micro'
            else 'unclassified'
        end as enterprise_size,
        case
            when industry_group is null then 'industry_code_not_mapped'
            when not is_in_standard then 'industry_outside_standard'
            when meets_large then 'meets_every_large_minimum'
            when meets_medium then 'meets_every_medium_minimum'
            when meets_small then 'meets_every_small_minimum'
            when is_below_a_small_minimum then 'below_a_small_minimum'
            else 'measures_missing'
        end as enterprise_size_reason
    from tested

)

select * from final
