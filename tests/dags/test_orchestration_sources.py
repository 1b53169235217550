"""The cheap contract reader the DAG files use (no Airflow needed)."""

from __future__ import annotations

import textwrap

import pytest

from python_tasks.orchestration.sources import (
    external_sources,
    internal_sources,
    read_sources,
    upstream_sources,
)


def test_internal_and_external_sources_split_by_delivery_format():
    assert external_sources() == ["industry_indicators", "macro_indicators"]
    assert set(internal_sources()) == {
        "clients", "collateral", "crm_interactions", "facilities", "fee_income",
        "financial_statements", "product_holdings", "ratings", "repayments",
    }  # fmt: skip
    assert not set(internal_sources()) & set(external_sources())


def test_upstream_sources_follow_the_foreign_keys():
    assert upstream_sources("clients") == []
    assert upstream_sources("facilities") == ["clients"]
    assert upstream_sources("repayments") == ["clients", "facilities"]
    assert upstream_sources("collateral") == ["clients", "facilities"]
    assert upstream_sources("ratings") == ["clients"]
    for name in read_sources():
        assert name not in upstream_sources(name)


def test_every_source_comes_after_the_sources_it_references():
    order = internal_sources()
    assert order[0] == "clients"
    for name in order:
        for upstream in upstream_sources(name):
            assert order.index(upstream) < order.index(name)


def test_unknown_source_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown source 'nope'"):
        upstream_sources("nope")


def test_agrees_with_the_full_contract_loader():
    from python_tasks.contracts.loader import load_contracts, load_order

    contracts = load_contracts()
    sources = read_sources()
    assert list(sources) == load_order()
    for name, info in sources.items():
        assert info.delivery_format == contracts[name].delivery.format
        assert set(info.references) == {fk.references for fk in contracts[name].foreign_keys} - {name}


def _write(tmp_path, name, body=""):
    (tmp_path / f"{name}.yml").write_text(f"name: {name}\ndelivery: {{format: csv}}\n" + textwrap.dedent(body))


def test_self_references_are_not_dependencies(tmp_path):
    _write(tmp_path, "groups", "foreign_keys:\n  - {columns: [parent_id], references: groups}\n")
    assert read_sources(tmp_path)["groups"].references == ()


def test_cycles_and_unknown_references_fail_loudly(tmp_path):
    _write(tmp_path, "a", "foreign_keys:\n  - {columns: [b_id], references: b}\n")
    _write(tmp_path, "b", "foreign_keys:\n  - {columns: [a_id], references: a}\n")
    with pytest.raises(ValueError, match="cycle"):
        read_sources(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _write(other, "a", "foreign_keys:\n  - {columns: [z_id], references: z}\n")
    with pytest.raises(ValueError, match="unknown source"):
        read_sources(other)


def test_a_contract_without_name_or_format_fails_loudly(tmp_path):
    (tmp_path / "x.yml").write_text("name: y\ndelivery: {format: csv}\n")
    with pytest.raises(ValueError, match="x.yml"):
        read_sources(tmp_path)
