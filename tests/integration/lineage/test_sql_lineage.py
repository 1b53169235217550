"""Column lineage from DuckDB's parse tree on hand-written statements: stars through CTEs, exclude and
replace, aggregates, CASE conditions, windows, USING joins, set operations, correlated subqueries."""

from __future__ import annotations

import duckdb
import pytest

from python_tasks.lineage.dbt_lineage import upstream
from python_tasks.lineage.sql_lineage import (
    AGGREGATION,
    IDENTITY,
    TRANSFORMATION,
    SqlLineageError,
    analyse,
    tables_read,
)

CATALOG = {
    ("raw", "facilities"): ["facility_id", "client_id", "limit_cny", "drawn_balance_cny", "status"],
    ("raw", "clients"): ["client_id", "name", "region_code"],
    ("reference", "products"): ["product_code", "ccf"],
}


@pytest.fixture(scope="module")
def parse():
    con = duckdb.connect()
    yield lambda sql: con.execute("SELECT json_serialize_sql($s)", {"s": sql}).fetchone()[0]
    con.close()


def test_stars_in_import_ctes_resolve_to_the_base_columns(parse):
    sql = """
    with facilities as (select * from raw.facilities),
    clients as (select * exclude (name) from raw.clients),
    final as (
        select f.facility_id, c.*, f.drawn_balance_cny + 0.5 * (f.limit_cny - f.drawn_balance_cny) as ead_cny
        from facilities as f join clients as c on c.client_id = f.client_id
        where f.status = 'active'
    )
    select * from final
    """
    lineage = analyse(sql, CATALOG, parse)
    assert list(lineage.columns) == ["facility_id", "client_id", "region_code", "ead_cny"]
    assert lineage.columns["facility_id"] == {("raw", "facilities", "facility_id"): {IDENTITY}}
    assert lineage.columns["region_code"] == {("raw", "clients", "region_code"): {IDENTITY}}
    assert lineage.columns["ead_cny"] == {
        ("raw", "facilities", "drawn_balance_cny"): {TRANSFORMATION},
        ("raw", "facilities", "limit_cny"): {TRANSFORMATION},
    }
    assert ("INDIRECT", "FILTER") in lineage.indirect[("raw", "facilities", "status")]
    assert ("INDIRECT", "JOIN") in lineage.indirect[("raw", "clients", "client_id")]
    assert lineage.tables == {("raw", "facilities"), ("raw", "clients")} and not lineage.unresolved


def test_aggregates_conditions_windows_and_replace(parse):
    sql = """
    select client_id,
           sum(drawn_balance_cny) filter (where status = 'active') as drawn_cny,
           case when max(limit_cny) > 0 then 'credit' else 'none' end as kind,
           row_number() over (partition by client_id order by max(limit_cny) desc) as rank_in_client
    from raw.facilities group by all
    """
    lineage = analyse(sql, CATALOG, parse)
    assert lineage.columns["drawn_cny"][("raw", "facilities", "drawn_balance_cny")] == {AGGREGATION}
    assert lineage.columns["drawn_cny"][("raw", "facilities", "status")] == {("INDIRECT", "FILTER")}
    assert lineage.columns["kind"] == {("raw", "facilities", "limit_cny"): {("INDIRECT", "CONDITIONAL")}}
    assert lineage.columns["rank_in_client"][("raw", "facilities", "client_id")] == {("INDIRECT", "WINDOW")}
    assert ("INDIRECT", "GROUP_BY") in lineage.indirect[("raw", "facilities", "client_id")]
    replaced = analyse("select * replace (limit_cny * 2 as limit_cny) from raw.facilities", CATALOG, parse)
    assert replaced.columns["limit_cny"] == {("raw", "facilities", "limit_cny"): {TRANSFORMATION}}


def test_union_using_join_and_correlated_subquery(parse):
    sql = """
    select client_id, (select max(p.ccf) from reference.products p where p.product_code = f.facility_id) as ccf
    from raw.facilities f join raw.clients using (client_id)
    union all
    select client_id, 1.0 from raw.clients
    """
    lineage = analyse(sql, CATALOG, parse)
    assert set(lineage.columns["client_id"]) == {("raw", "facilities", "client_id"), ("raw", "clients", "client_id")}
    assert ("reference", "products", "ccf") in lineage.direct_inputs("ccf")
    assert set(tables_read(sql, parse)) == {("raw", "facilities"), ("reference", "products"), ("raw", "clients")}


def test_unknown_names_are_reported_not_guessed(parse):
    lineage = analyse("select x.nothing_here, name from raw.clients as c, helper as x", CATALOG, parse)
    assert "helper: not in the catalogue" in lineage.unresolved
    assert "x.nothing_here" in lineage.unresolved
    with pytest.raises(SqlLineageError, match="syntax"):
        analyse("select from where", CATALOG, parse)


def test_upstream_walks_through_models(parse):
    from python_tasks.lineage.dbt_lineage import DbtNode, NodeLineage

    catalog = {**CATALOG, ("staging", "stg"): ["client_id", "drawn_balance_cny"]}
    stg = analyse("select client_id, drawn_balance_cny from raw.facilities", catalog, parse)
    mart = analyse("select client_id, sum(drawn_balance_cny) as drawn_cny from staging.stg group by 1", catalog, parse)

    def node(name: str, schema: str, statement) -> NodeLineage:  # noqa: ANN001
        return NodeLineage(DbtNode(name, "model", name, schema, name, "table", (), None), [], statement.columns)

    lineage = {"stg": node("stg", "staging", stg), "mart": node("mart", "marts", mart)}
    reached = upstream(lineage, [("marts", "mart", "drawn_cny")])
    assert reached[("raw", "facilities")] == {"drawn_balance_cny"}
    assert reached[("staging", "stg")] == {"drawn_balance_cny"}
