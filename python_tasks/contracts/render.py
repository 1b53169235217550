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


DBT_SOURCES_HEADER = (
    "# GENERATED from contracts/raw/*.yml by `python -m python_tasks render-dbt-sources`: do not edit by hand.\n"
    "# A test fails when this file and the contracts drift apart.\n"
)


def dbt_sources(contracts: dict[str, Contract]) -> dict:
    """dbt ``sources`` documentation of the raw schema: descriptions, types, keys and PII classes."""
    tables = []
    for contract in contracts.values():
        columns = [
            {
                "name": c.name,
                "description": c.description.strip(),
                "data_type": c.type.lower(),
                "config": {"meta": {"pii": c.pii, "nullable": c.nullable}},
            }
            for c in contract.columns
        ]
        columns += [
            {"name": name, "description": RAW_METADATA_DESCRIPTIONS[name], "data_type": ddl.split()[0].lower()}
            for name, ddl in RAW_METADATA_COLUMNS
        ]
        tables.append(
            {
                "name": contract.name,
                "description": " ".join(contract.description.split())
                + f" Grain: one row per {' + '.join(contract.primary_key)} per delivery (_as_of_date).",
                "config": {
                    "meta": {
                        "system": contract.system,
                        "kind": contract.kind,
                        "primary_key": contract.primary_key,
                        "delivery_format": contract.delivery.format,
                        "contract": f"contracts/raw/{contract.name}.yml",
                    }
                },
                "columns": columns,
            }
        )
    return {
        "version": 2,
        "sources": [
            {
                "name": "raw",
                "schema": "raw",
                "description": "Raw partitions loaded by python_tasks.ingest from the source deliveries, one partition "
                "per business date (_as_of_date); validated against the contracts, bad rows in audit.quarantine.",
                "tables": tables,
            }
        ],
    }


RAW_METADATA_DESCRIPTIONS = {
    "_as_of_date": "Business date of the delivery this row came in (the partition key).",
    "_source_file": "Name of the delivered file the row was read from.",
    "_row_number": "1-based data row number within the delivered file (header excluded).",
    "_run_id": "Pipeline run that loaded the row.",
    "_loaded_at": "When the row was loaded (UTC).",
}


def dbt_sources_yaml(contracts: dict[str, Contract]) -> str:
    import yaml

    body = yaml.safe_dump(dbt_sources(contracts), allow_unicode=True, sort_keys=False, width=100)
    return DBT_SOURCES_HEADER + body
