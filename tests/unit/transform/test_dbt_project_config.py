"""The dbt project's hand-kept lists agree with the contracts and seeds they mirror."""

from __future__ import annotations

import csv

import yaml

from python_tasks.contracts import load_contracts
from python_tasks.settings import DBT_PROJECT_DIR


def _project() -> dict:
    return yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))


def _seed(name: str) -> list[dict]:
    with (DBT_PROJECT_DIR / "seeds" / f"{name}.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_lending_products_var_lists_the_facility_products_of_the_contract():
    facility = load_contracts()["facilities"]
    allowed = next(c for c in facility.columns if c.name == "product_code").allowed_values
    assert _project()["vars"]["lending_products"] == list(allowed)


def test_every_facility_product_is_in_the_product_catalogue_as_credit():
    catalogue = {r["product_code"]: r for r in _seed("ref_products")}
    for product in _project()["vars"]["lending_products"]:
        assert catalogue[product]["is_credit"] == "true", product
        assert catalogue[product]["ccf"], product


def test_every_holding_product_is_in_the_product_catalogue():
    holdings = load_contracts()["product_holdings"]
    allowed = next(c for c in holdings.columns if c.name == "product_code").allowed_values
    assert set(allowed) <= {r["product_code"] for r in _seed("ref_products")}


def test_size_thresholds_rise_from_micro_to_large_in_every_industry_line():
    order = ["micro", "small", "medium", "large"]
    by_group: dict[str, dict[str, dict]] = {}
    for row in _seed("ref_sme_size_thresholds"):
        by_group.setdefault(row["industry_group"], {})[row["size_class"]] = row
    mapped = {r["industry_group"] for r in _seed("ref_sme_industry_groups")}
    for group, tiers in by_group.items():
        assert sorted(tiers, key=order.index) == order, group
        assert group in mapped, f"{group} has thresholds but no industry code maps to it"
        for measure in ("employees_min", "revenue_min_cny", "total_assets_min_cny"):
            values = [tiers[t][measure] for t in order]
            listed = [float(v) for v in values if v != ""]
            assert len(listed) in (0, 4), (group, measure)  # a line lists a measure for every tier or none
            assert listed == sorted(listed), (group, measure)


def test_industry_prefixes_cover_every_gbt4754_division():
    prefixes = {r["code_prefix"] for r in _seed("ref_sme_industry_groups")}
    divisions = {r["division_code"] for r in _seed("ref_gbt4754_divisions")}
    assert divisions <= prefixes
