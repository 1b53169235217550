with

source as (

    select * from {{ source('raw', 'repayments') }}

),

renamed as (

    select
        trim(repayment_id) as repayment_id,
        trim(facility_id) as facility_id,
        trim(client_id) as client_id,
        cast(installment_no as integer) as installment_no,
        cast(due_date as date) as due_date,
        cast(scheduled_principal_cny as decimal(18,2)) as scheduled_principal_cny,
        cast(scheduled_interest_cny as decimal(18,2)) as scheduled_interest_cny,
        cast(paid_date as date) as paid_date,
        cast(paid_principal_cny as decimal(18,2)) as paid_principal_cny,
        cast(paid_interest_cny as decimal(18,2)) as paid_interest_cny,
        {{ pipeline_metadata_columns() }}
    from source

)

select * from renamed
