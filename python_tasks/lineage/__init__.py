"""Lineage and audit for compliance: where every number of a run came from (docs/lineage.md).

- ``run_audit``: ``audit.run_audit``, one row per run and business date (code version, parameter hashes,
  input files with sha256, rows per stage, gate outcomes, status);
- ``emit``: the run's OpenLineage events (``events``), validated against ``contracts/openlineage``
  (``validate``), written to ``<CLV_HOME>/lineage/<D>/<run id>.ndjson`` and sent to an HTTP backend;
- ``evidence``: the evidence bundle per run with its checksums and retention;
- ``trace``: the chain from one output column of a client on D back to the delivered files;
- ``job.close_run``: the DAG's closing task, all three in order.

Column lineage: ``sql_lineage`` (DuckDB's parser on SQL), ``dbt_lineage`` (the dbt project),
``python_stages`` (declared for the Python stages). ``recorded`` reads what a run left in the audit tables.
"""
