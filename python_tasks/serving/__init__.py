"""Serving for BI: the stable ``bi`` tables, PII pseudonymisation, and the atomic publish of the read-only
serving DuckDB file, its Parquet exports and (optionally) a PostgreSQL schema. See docs/bi.md.

``bi_schema`` (the table definitions and ``PUBLISHED_TABLES``) imports only the standard library, so the
DAG and the lineage code can import it cheaply.
"""
