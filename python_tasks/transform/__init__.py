"""dbt transformations: run the dbt project in-process for a business date and record what each node did."""
