{#- The regulatory five-tier class (正常 / 关注 / 次级 / 可疑 / 损失) of each on-book facility on each business
    date, by the floors of the 2023 measures (商业银行金融资产风险分类办法):

    - past due at all: at least special mention; more than 90 days: at least substandard; more than 270:
      at least doubtful; more than 360: loss;
    - a defaulted facility, or a debtor rated D, is at least substandard; a written-off facility is loss;
    - corporate (non-retail) debtors: when more than 10% of a debtor's exposure is non-performing, every
      exposure of that debtor is at least substandard.

    Judgement-based downgrades (restructuring, adverse events) are not in the source data and are not
    modelled. -#}
with

facilities as (

    select * from {{ ref('int_facilities_resolved_to_dates') }}

),

facility_repayments as (

    select * from {{ ref('int_repayments_aggregated_to_facilities') }}

),

ratings as (

    select * from {{ ref('int_ratings_resolved_per_client') }}

),

asset_classes as (

    select * from {{ ref('ref_asset_classes') }}

),

on_book as (

    select
        facilities.facility_id,
        facilities.as_of_date,
        facilities.client_id,
        facilities.facility_status,
        facilities.drawn_balance_cny,
        facilities.ead_cny,
        coalesce(facility_repayments.current_dpd, 0) as current_dpd,
        coalesce(ratings.is_defaulted_grade, false) as is_debtor_rated_default
    from facilities
    left join facility_repayments
        on facility_repayments.facility_id = facilities.facility_id
        and facility_repayments.as_of_date = facilities.as_of_date
    left join ratings
        on ratings.client_id = facilities.client_id
        and ratings.as_of_date = facilities.as_of_date
    where facilities.is_on_book or facilities.facility_status = 'written_off'

),

by_own_status as (

    select
        *,
        greatest(
            case
                when current_dpd > 360 then 5
                when current_dpd > 270 then 4
                when current_dpd > 90 then 3
                when current_dpd > 0 then 2
                else 1
            end,
            case when facility_status = 'written_off' then 5 else 1 end,
            case when facility_status = 'defaulted' or is_debtor_rated_default then 3 else 1 end
        ) as own_class_rank
    from on_book

),

debtor_share as (

    select
        *,
        sum(case when own_class_rank >= 3 then drawn_balance_cny else 0 end)
            over (partition by client_id, as_of_date)
        / nullif(sum(drawn_balance_cny) over (partition by client_id, as_of_date), 0)
            as debtor_non_performing_share
    from by_own_status

),

classified as (

    select
        *,
        case
            when debtor_non_performing_share > 0.10 then greatest(own_class_rank, 3)
            else own_class_rank
        end as asset_class_rank
    from debtor_share

),

final as (

    select
        classified.facility_id,
        classified.as_of_date,
        classified.client_id,
        classified.current_dpd,
        classified.own_class_rank,
        classified.debtor_non_performing_share,
        asset_classes.asset_class,
        classified.asset_class_rank,
        asset_classes.asset_class_zh,
        asset_classes.is_non_performing,
        case
            when classified.asset_class_rank > classified.own_class_rank then 'debtor_non_performing_over_10pct'
            when classified.facility_status = 'written_off' then 'written_off'
            when classified.current_dpd > 90 then 'dpd_over_' || cast(asset_classes.min_dpd_exclusive as varchar)
            when classified.facility_status = 'defaulted' then 'facility_defaulted'
            when classified.is_debtor_rated_default and classified.asset_class_rank = 3 then 'debtor_rated_default'
            when classified.current_dpd > 0 then 'past_due'
            else 'performing'
        end as classification_reason
    from classified
    inner join asset_classes using (asset_class_rank)

)

select * from final
