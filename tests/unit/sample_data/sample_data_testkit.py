"""Readers shared by the sample-data tests: a generated source as one Arrow table with its delivery date."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from python_tasks.contracts import load_contracts
from python_tasks.sample_data.arrow_build import schema_of

FIRST = date(2026, 11, 20)


def read_file(source: str, path: Path) -> pa.Table:
    contract = load_contracts()[source]
    if contract.delivery.format == "parquet":
        return pq.read_table(path)
    schema = schema_of(contract)
    return pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(encoding=contract.delivery.encoding),
        convert_options=pacsv.ConvertOptions(
            column_types={f.name: f.type for f in schema}, strings_can_be_null=True, quoted_strings_can_be_null=True
        ),
    )


def read_source(inbox: Path, source: str) -> pa.Table:
    """Every delivery of ``source``, with ``_delivery`` (date32) and ``_file`` columns appended."""
    tables = []
    for folder in sorted((inbox / source).iterdir()):
        for path in sorted(folder.iterdir()):
            t = read_file(source, path)
            t = t.append_column("_delivery", pa.array([date.fromisoformat(folder.name)] * t.num_rows, pa.date32()))
            t = t.append_column("_file", pa.array([path.name] * t.num_rows, pa.string()))
            tables.append(t)
    return pa.concat_tables(tables)
