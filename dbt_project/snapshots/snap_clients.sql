{#- History of client attributes (SCD2): a new version whenever a later delivery changes the client's
    master record. Valid-from is the business date of the delivery, not the wall clock, so a rerun or a
    backfill gives the same history. -#}
{% snapshot snap_clients %}

{{
    config(
        unique_key='client_id',
        strategy='timestamp',
        updated_at='attributes_updated_at'
    )
}}

select * exclude (known_as_of_date) from {{ ref('dim_client') }}

{% endsnapshot %}
