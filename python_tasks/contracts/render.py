"""Render what other tools need from a contract: warehouse DDL today, dbt sources and GX suites later.

Identifiers come from the (validated) contracts only; they are quoted all the same.
"""

from __future__ import annotations

from python_tasks.contracts.model import Contract

#: Pipeline metadata columns every raw table carries after the contract's own columns.
RAW_METADATA_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_as_of_date", "DATE NOT NULL"),
    ("_source_file", "VARCHAR NOT NULL"),
    ("_row_number", "BIGINT NOT NULL"),
    ("_run_id", "VARCHAR NOT NULL"),
    ("_loaded_at", "TIMESTAMP WITH TIME ZONE NOT NULL"),
)


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def raw_table_name(contract: Contract) -> str:
    return f"raw.{quote_identifier(contract.name)}"


def raw_table_ddl(contract: Contract) -> str:
    """CREATE TABLE statement of ``raw.<source>``: contract columns, then pipeline metadata.

    Nullability is not declared as a constraint: the loader quarantines null keys with a clear reason
    before inserting, and a constraint would turn that into an opaque failure.
    """
    lines = [f"    {quote_identifier(c.name)} {c.type}" for c in contract.columns]
    lines += [f"    {name} {ddl}" for name, ddl in RAW_METADATA_COLUMNS]
    return f"CREATE TABLE IF NOT EXISTS {raw_table_name(contract)} (\n" + ",\n".join(lines) + "\n)"
