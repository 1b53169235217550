"""The contracts are the single definition of each source: they load, hang together, and nothing drifts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from python_tasks.contracts import load_contract, load_contracts, load_order
from python_tasks.contracts.model import Contract
from python_tasks.contracts.render import RAW_METADATA_COLUMNS, dbt_sources_yaml
from python_tasks.io.warehouse import ensure_schema
from python_tasks.settings import DBT_PROJECT_DIR, DBT_SOURCES_FILE

EXPECTED_SOURCES = {
    "clients",
    "financial_statements",
    "facilities",
    "repayments",
    "ratings",
    "collateral",
    "product_holdings",
    "fee_income",
    "crm_interactions",
    "macro_indicators",
    "industry_indicators",
}


def test_every_required_source_has_a_contract():
    assert set(load_contracts()) == EXPECTED_SOURCES


def test_personal_data_is_classified():
    personal = {c.name for c in load_contract("clients").columns if c.pii == "personal"}
    assert personal == {"legal_rep_name", "legal_rep_id_number", "legal_rep_phone"}


def test_load_order_puts_referenced_sources_first():
    order = load_order()
    for name, contract in load_contracts().items():
        for fk in contract.foreign_keys:
            assert order.index(fk.references) < order.index(name), f"{fk.references} must load before {name}"


def test_product_types_cover_the_lending_products():
    products = set(load_contract("facilities").column("product_code").allowed_values)
    assert products == {
        "project_finance",
        "working_capital_loan",
        "fixed_asset_loan",
        "trade_finance",
        "ip_pledge_loan",
        "credit_line",
    }


def test_macro_scenarios_and_indicators():
    macro = load_contract("macro_indicators")
    assert set(macro.column("scenario").allowed_values) == {"baseline", "adverse", "severe"}
    assert {"gdp_growth_pct", "cpi_yoy_pct", "ppi_yoy_pct", "pmi", "lpr_1y_pct", "lpr_5y_pct", "m2_growth_pct"} <= set(
        macro.column_names
    )


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"primary_key": ["nope"]}, "primary key column 'nope' is not declared"),
        ({"columns": [{"name": "Bad Name", "type": "VARCHAR", "description": "x", "pii": "public"}]}, "snake_case"),
        ({"columns": [{"name": "a", "type": "TEXT", "description": "x", "pii": "public"}]}, "unsupported type"),
    ],
)
def test_inconsistent_contracts_are_refused(patch, message):
    raw = load_contract("ratings").model_dump()
    raw.update(patch)
    with pytest.raises(ValueError, match=message):
        Contract.model_validate(raw)


def test_raw_ddl_matches_the_contracts(tmp_path: Path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        ensure_schema(con)
        for name, contract in load_contracts().items():
            described = [(r[0], r[1]) for r in con.execute(f'DESCRIBE raw."{name}"').fetchall()]
            expected = [(c.name, c.type) for c in contract.columns] + [
                (n, ddl.replace(" NOT NULL", "")) for n, ddl in RAW_METADATA_COLUMNS
            ]
            assert described == expected


def test_dbt_source_docs_are_rendered_from_the_contracts():
    committed = DBT_SOURCES_FILE.read_text(encoding="utf-8")
    assert committed == dbt_sources_yaml(load_contracts()), (
        "dbt_project/models/staging/_raw__sources.yml is stale: run `python -m python_tasks render-dbt-sources`"
    )


def test_dbt_parses_the_project_and_documents_every_source_column(tmp_path: Path):
    env = {**os.environ, "CLV_WAREHOUSE_PATH": str(tmp_path / "w.duckdb"), "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR)}
    dbt = Path(sys.executable).with_name("dbt")
    subprocess.run(
        [
            str(dbt),
            "parse",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(tmp_path / "target"),
            "--quiet",
        ],
        check=True,
        env=env,
        cwd=DBT_PROJECT_DIR,
        capture_output=True,
        timeout=300,
    )
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    sources = {s["name"]: s for s in manifest["sources"].values()}
    assert set(sources) == EXPECTED_SOURCES
    for name, contract in load_contracts().items():
        documented = sources[name]["columns"]
        for column in contract.columns:
            assert documented[column.name]["description"] == column.description.strip()
