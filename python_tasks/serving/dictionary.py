"""The BI data dictionary (docs/bi.md), generated from the BI schema and, for columns that come from the
dbt marts, from the dbt documentation (model YAML and ``{% docs %}`` blocks), so the dictionary says what
dbt docs say and cannot drift from the tables the publish job writes.

``python -m python_tasks.serving.dictionary`` rewrites the generated part of docs/bi.md;
``--check`` exits 1 when it is out of date (a test runs the same check).
"""

from __future__ import annotations

import argparse
import re
import sys
from functools import cache
from pathlib import Path

import yaml

from python_tasks.serving.bi_schema import PARTITION_BY_DATE, BiColumn, BiTable, bi_tables
from python_tasks.settings import DBT_PROJECT_DIR, PROJECT_ROOT

BI_DOC = PROJECT_ROOT / "docs" / "bi.md"
BEGIN = "<!-- BEGIN GENERATED DATA DICTIONARY: python -m python_tasks.serving.dictionary -->"
END = "<!-- END GENERATED DATA DICTIONARY -->"

_DOC_BLOCK = re.compile(r"{%-?\s*docs\s+(\w+)\s*-?%}(.*?){%-?\s*enddocs\s*-?%}", re.DOTALL)
_DOC_REF = re.compile(r"""{{\s*doc\(\s*['"](\w+)['"]\s*\)\s*}}""")


def _one_line(text: str) -> str:
    return " ".join(text.split())


@cache
def dbt_doc_blocks(project: Path = DBT_PROJECT_DIR) -> dict[str, str]:
    blocks: dict[str, str] = {}
    for path in sorted((project / "models").rglob("*.md")):
        for name, body in _DOC_BLOCK.findall(path.read_text(encoding="utf-8")):
            blocks[name] = _one_line(body)
    return blocks


@cache
def dbt_column_descriptions(project: Path = DBT_PROJECT_DIR) -> dict[str, str]:
    """``model.column`` → its documented description, doc blocks resolved."""
    blocks = dbt_doc_blocks(project)
    out: dict[str, str] = {}
    for path in sorted((project / "models").rglob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for model in document.get("models", []) or []:
            for column in model.get("columns", []) or []:
                text = column.get("description") or ""
                text = _DOC_REF.sub(lambda m: blocks.get(m.group(1), m.group(0)), text)
                out[f"{model['name']}.{column['name']}"] = _one_line(text)
    return out


def column_description(column: BiColumn) -> str:
    """The column's meaning: the dbt description where it carries a dbt column (plus any note), else its own."""
    if column.dbt is None:
        if not column.description:
            raise ValueError(f"BI column {column.name} has no description")
        return column.description
    described = dbt_column_descriptions()
    if column.dbt not in described or not described[column.dbt]:
        raise ValueError(f"BI column {column.name}: dbt column {column.dbt} is not documented in dbt_project/models")
    return " ".join(part for part in (described[column.dbt], column.description) if part)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_table(table: BiTable) -> str:
    if table.partition == PARTITION_BY_DATE:
        parquet = f"`parquet/{table.name}/as_of_date=YYYY-MM-DD/` holds the rows of that business date."
    else:
        parquet = (
            f"`parquet/{table.name}/as_of_date=YYYY-MM-DD/` holds the whole table as published by the run of "
            "that date (a snapshot)."
        )
    lines = [
        f"### `bi.{table.name}`",
        "",
        table.description,
        "",
        f"*Grain:* {table.grain} *Key:* {', '.join(f'`{k}`' for k in table.key)}. *Parquet:* {parquet}",
        "",
        "| column | type | meaning |",
        "| --- | --- | --- |",
    ]
    for column in table.columns:
        source = f" *(dbt: `{column.dbt}`)*" if column.dbt else ""
        lines.append(f"| `{column.name}` | {column.type} | {_cell(column_description(column))}{source} |")
    return "\n".join(lines)


def render_dictionary() -> str:
    """The generated part of docs/bi.md: an index of the tables, then one section per table."""
    tables = bi_tables()
    index = ["| table | what it holds |", "| --- | --- |"]
    index += [f"| [`bi.{t.name}`](#bi{t.name}) | {_cell(t.description)} |" for t in tables]
    return "\n\n".join(["\n".join(index), *(render_table(t) for t in tables)])


def updated_document(text: str) -> str:
    """``text`` with the part between the markers replaced by the current dictionary."""
    if BEGIN not in text or END not in text:
        raise ValueError(f"{BI_DOC} lacks the markers {BEGIN!r} … {END!r}")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n\n{render_dictionary()}\n\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/bi.md is out of date; change nothing")
    args = parser.parse_args(argv)
    current = BI_DOC.read_text(encoding="utf-8")
    wanted = updated_document(current)
    if args.check:
        if current != wanted:
            print(f"{BI_DOC} is out of date: run python -m python_tasks.serving.dictionary", file=sys.stderr)
            return 1
        return 0
    if current != wanted:
        BI_DOC.write_text(wanted, encoding="utf-8")
        print(f"updated {BI_DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
