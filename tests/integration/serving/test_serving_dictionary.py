"""docs/bi.md is generated from the BI schema and the dbt docs and is up to date; every BI column is
described (dbt references resolve); PUBLISHED_TABLES keeps its shape and imports cheaply."""

from __future__ import annotations

import subprocess
import sys

from python_tasks.serving.bi_schema import BI_SCHEMA, POSTGRES_TYPES, PUBLISHED_TABLES, bi_tables
from python_tasks.serving.dictionary import BI_DOC, column_description, main, render_dictionary, updated_document


def test_docs_bi_md_is_up_to_date():
    text = BI_DOC.read_text(encoding="utf-8")
    assert text == updated_document(text), "docs/bi.md is out of date: run python -m python_tasks.serving.dictionary"
    assert main(["--check"]) == 0


def test_every_column_is_described_and_dbt_references_resolve():
    for table in bi_tables():
        assert table.description and table.grain and table.key
        assert set(table.key) <= set(table.column_names), table.name
        assert len(set(table.column_names)) == len(table.column_names), table.name
        for column in table.columns:
            assert column.type in POSTGRES_TYPES
            assert len(column_description(column)) > 10, f"{table.name}.{column.name}"
    rendered = render_dictionary()
    for table in bi_tables():
        assert f"### `{BI_SCHEMA}.{table.name}`" in rendered


def test_published_tables_shape_and_cheap_import():
    assert isinstance(PUBLISHED_TABLES, dict)
    assert list(PUBLISHED_TABLES) == [f"bi.{t.name}" for t in bi_tables()]
    assert all(isinstance(v, str) and v for v in PUBLISHED_TABLES.values())
    probe = (
        "import sys; import python_tasks.serving.bi_schema as s; assert s.PUBLISHED_TABLES; "
        "heavy = [m for m in ('duckdb', 'pandas', 'pydantic', 'yaml') if m in sys.modules]; "
        "sys.exit(f'bi_schema imported {heavy}' if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
