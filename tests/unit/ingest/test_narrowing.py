"""Which Parquet column types narrow a contract type (the file is rejected) and which are fine."""

import pytest

from python_tasks.ingest.readers import narrowing


@pytest.mark.parametrize(
    ("contract_type", "file_type"),
    [
        ("DECIMAL(18,2)", "DECIMAL(18,2)"),
        ("DECIMAL(18,2)", "DECIMAL(38,4)"),
        ("DECIMAL(18,2)", "DOUBLE"),
        ("DOUBLE", "DECIMAL(18,2)"),
        ("DOUBLE", "INTEGER"),
        ("BIGINT", "BIGINT"),
        ("INTEGER", "BIGINT"),
        ("DATE", "DATE"),
        ("DATE", "VARCHAR"),  # values are cast row by row; bad ones are quarantined as type errors
    ],
)
def test_widening_or_same_type_is_accepted(contract_type, file_type):
    assert narrowing(contract_type, file_type) is None


@pytest.mark.parametrize(
    ("contract_type", "file_type", "why"),
    [
        ("DECIMAL(18,2)", "DECIMAL(18,0)", "narrowed from DECIMAL(18,2) to DECIMAL(18,0)"),
        ("DECIMAL(18,2)", "DECIMAL(10,2)", "narrowed"),
        ("DECIMAL(18,2)", "INTEGER", "cents lost"),
        ("BIGINT", "INTEGER", "narrowed from BIGINT to INTEGER"),
        ("INTEGER", "SMALLINT", "narrowed"),
        ("DOUBLE", "FLOAT", "narrowed"),
        ("DATE", "INTEGER", "changed from DATE to INTEGER"),
    ],
)
def test_narrowed_types_are_named(contract_type, file_type, why):
    assert why in narrowing(contract_type, file_type)
