"""The generated data obey their contracts and hang together the way the later stages need."""

from __future__ import annotations

import re
from datetime import date, timedelta

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sample_data_testkit import FIRST, read_source

from python_tasks.codes.industry import is_valid_industry_code
from python_tasks.codes.region import is_valid_region_code
from python_tasks.codes.uscc import is_valid_uscc
from python_tasks.contracts import load_contracts
from python_tasks.sample_data.generate import generate
from python_tasks.sample_data.reference import SME_STANDARD, load_reference, sme_group

DAYS = 3
SOURCES = [n for n, c in load_contracts().items() if c.delivery.format != "api"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    inbox = tmp_path_factory.mktemp("quality") / "inbox"
    generate(inbox, clients=400, first_date=FIRST, days=DAYS, seed=11)
    return {s: read_source(inbox, s) for s in SOURCES}


@pytest.fixture(scope="module")
def con(data):
    connection = duckdb.connect()
    for name, table in data.items():
        connection.register(name, table)
    return connection


def _one(con, sql: str):
    return con.execute(sql).fetchone()


def test_columns_obey_the_contracts(data):
    for name, table in data.items():
        contract = load_contracts()[name]
        for col in contract.columns:
            values = table.column(col.name)
            if not col.nullable:
                assert values.null_count == 0, f"{name}.{col.name} has nulls"
            if col.allowed_values:
                assert set(pc.unique(values.drop_null()).to_pylist()) <= set(col.allowed_values), f"{name}.{col.name}"
            if col.pattern:
                assert pc.all(pc.match_substring_regex(values.drop_null(), col.pattern)).as_py(), f"{name}.{col.name}"
            for bound, op in ((col.min, pc.greater_equal), (col.max, pc.less_equal)):
                if bound is None:
                    continue
                scalar = pa.scalar(bound, values.type) if isinstance(bound, date) else bound
                assert pc.all(op(values.drop_null(), scalar)).as_py() in (True, None), f"{name}.{col.name} vs {bound}"
            if col.not_after_business_date:
                assert pc.all(pc.less_equal(values, table.column("_delivery"))).as_py() in (True, None), (
                    f"{name}.{col.name} after the delivery date"
                )


def test_code_formats(data):
    clients = data["clients"]
    assert all(is_valid_industry_code(c) for c in clients.column("industry_code").to_pylist())
    assert all(is_valid_region_code(c) for c in clients.column("region_code").to_pylist())
    uscc = clients.column("uscc").to_pylist()
    valid = [is_valid_uscc(u) for u in uscc]
    assert sum(valid) / len(valid) >= 0.98
    assert all(re.fullmatch(r"91[0-9]{6}[0-9A-HJ-NP-RTUW-Y]{10}", u) for u in uscc)
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    for number in clients.column("legal_rep_id_number").drop_null().to_pylist():
        check = "10X98765432"[sum(int(d) * w for d, w in zip(number[:17], weights, strict=True)) % 11]
        assert number[17] == check
        age = FIRST.year - int(number[6:10])
        assert 24 <= age <= 71


def test_invalid_uscc_share_is_configurable(tmp_path):
    generate(tmp_path / "inbox", clients=600, first_date=FIRST, days=0, invalid_uscc_share=0.2)
    uscc = read_source(tmp_path / "inbox", "clients").column("uscc").to_pylist()
    share = 1 - sum(map(is_valid_uscc, uscc)) / len(uscc)
    assert 0.13 <= share <= 0.27


def test_keys_unique_in_each_delivery_and_events_delivered_once(con):
    for name in SOURCES:
        contract = load_contracts()[name]
        key = ", ".join(contract.primary_key)
        dup = _one(con, f"SELECT count(*) FROM (SELECT {key}, _delivery FROM {name} GROUP BY ALL HAVING count(*) > 1)")
        assert dup == (0,), name
        if contract.kind == "event":
            assert _one(con, f"SELECT count(*) - count(DISTINCT ({key})) FROM {name}") == (0,), name


def test_references_resolve_in_the_same_or_an_earlier_delivery(con):
    checks = [
        ("facilities", "client_id", "clients", "client_id"),
        ("repayments", "facility_id", "facilities", "facility_id"),
        ("repayments", "client_id", "clients", "client_id"),
        ("collateral", "facility_id", "facilities", "facility_id"),
        ("financial_statements", "client_id", "clients", "client_id"),
        ("ratings", "client_id", "clients", "client_id"),
        ("product_holdings", "client_id", "clients", "client_id"),
        ("fee_income", "client_id", "clients", "client_id"),
        ("crm_interactions", "client_id", "clients", "client_id"),
    ]
    for child, col, parent, key in checks:
        orphans = _one(
            con,
            f"SELECT count(*) FROM {child} c WHERE NOT EXISTS "
            f"(SELECT 1 FROM {parent} p WHERE p.{key} = c.{col} AND p._delivery <= c._delivery)",
        )
        assert orphans == (0,), f"{child}.{col} -> {parent}"
    assert _one(con, "SELECT count(*) FROM repayments r JOIN facilities f USING (facility_id) "
                     "WHERE r.client_id <> f.client_id") == (0,)


def test_dates_are_consistent(con):
    assert _one(con, "SELECT count(*) FROM clients WHERE onboarded_date < founded_date") == (0,)
    assert _one(con, "SELECT count(*) FROM facilities WHERE maturity_date <= start_date") == (0,)
    assert _one(con, "SELECT count(*) FROM facilities f JOIN clients c USING (client_id) "
                     "WHERE f.start_date < c.founded_date OR f.start_date < c.onboarded_date") == (0,)
    assert _one(con, "SELECT count(*) FROM financial_statements s JOIN clients c USING (client_id) "
                     "WHERE s.period_end_date < c.founded_date") == (0,)
    assert _one(con, "SELECT count(*) FROM product_holdings h JOIN clients c USING (client_id) "
                     "WHERE h.opened_date < c.founded_date OR h.closed_date < h.opened_date") == (0,)
    assert _one(con, "SELECT count(*) FROM financial_statements WHERE reported_date < period_end_date") == (0,)
    # every event of a daily delta happened on that day; the initial load holds the history up to D0
    for name, col in [("repayments", "coalesce(paid_date, due_date)"), ("ratings", "rating_date"),
                      ("fee_income", "fee_date"), ("crm_interactions", "interaction_date"),
                      ("financial_statements", "reported_date")]:
        bad = _one(con, f"SELECT count(*) FROM {name} WHERE _delivery > DATE '{FIRST}' AND {col} <> _delivery")
        assert bad == (0,), name
    assert _one(con, "SELECT count(*) FROM repayments WHERE due_date > _delivery OR paid_date < due_date") == (0,)
    assert _one(con, f"SELECT min(due_date) >= DATE '{FIRST - timedelta(days=5 * 366)}' FROM repayments") == (True,)


def test_balance_sheets_balance_and_margins_make_sense(con):
    assert _one(con, "SELECT count(*) FROM financial_statements "
                     "WHERE total_assets_cny <> total_liabilities_cny + equity_cny") == (0,)
    assert _one(con, "SELECT count(*) FROM financial_statements WHERE ebitda_cny <= ebit_cny") == (0,)
    assert _one(con, "SELECT count(*) FROM financial_statements WHERE current_assets_cny > total_assets_cny "
                     "OR current_liabilities_cny > total_liabilities_cny OR cash_cny > current_assets_cny") == (0,)
    assert _one(con, "SELECT count(*) FROM financial_statements WHERE cost_of_sales_cny > revenue_cny") == (0,)
    # quarterly statements exist for some clients, annual ones for all with a relationship
    kinds = dict(con.execute("SELECT period_type, count(*) FROM financial_statements GROUP BY 1").fetchall())
    assert kinds["annual"] > kinds.get("quarterly", 0) / 3 > 0


def test_client_population(con):
    status = dict(con.execute(
        f"SELECT client_status, count(*) FROM clients WHERE _delivery = DATE '{FIRST}' GROUP BY 1"
    ).fetchall())
    total = sum(status.values())
    assert 0.07 <= status["prospect"] / total <= 0.17
    assert {"active", "dormant", "closed", "defaulted"} <= set(status)
    assert _one(con, "SELECT count(*) FROM clients WHERE client_status = 'prospect' AND onboarded_date IS NOT NULL") == (0,)
    # prospects have no facilities (at their latest delivery)
    assert _one(con, "SELECT count(*) FROM (SELECT client_id, arg_max(client_status, _delivery) s FROM clients GROUP BY 1) c "
                     "JOIN facilities f USING (client_id) WHERE c.s = 'prospect'") == (0,)
    sections = dict(con.execute("SELECT left(industry_code, 1), count(*) FROM clients GROUP BY 1").fetchall())
    assert max(sections, key=sections.get) == "C"
    assert sections["C"] + sections["F"] + sections["E"] > 0.45 * sum(sections.values())
    coastal = _one(con, "SELECT avg((left(region_code, 2) IN ('44', '32', '33', '31', '11', '35', '37'))::int) FROM clients")
    assert coastal[0] > 0.5


def test_size_classes_follow_the_sme_standard(data):
    ref = load_reference()
    clients = data["clients"].to_pylist()
    classes = []
    for c in clients:
        if c["employees"] is None:
            continue
        section, division = c["industry_code"][0], c["industry_code"][1:3]
        metrics = {"employees": c["employees"], "revenue": float(c["annual_revenue_cny"]),
                   "assets": float(c["total_assets_cny"])}
        standard = SME_STANDARD[sme_group(section, division)]
        for i, name in enumerate(("large", "medium", "small")):
            if all(metrics[k] >= t[i] for k, t in standard.items()):
                classes.append(name)
                break
        else:
            classes.append("micro")
    share = {k: classes.count(k) / len(classes) for k in ("large", "medium", "small", "micro")}
    assert share["small"] + share["micro"] > 0.55 and share["large"] < 0.15 and min(share.values()) > 0
    assert ref.sections[0] == "A"


def test_facilities_and_repayments_hang_together(con):
    assert _one(con, "SELECT count(*) FROM facilities WHERE drawn_balance_cny > limit_cny") == (0,)
    products = {r[0] for r in con.execute("SELECT DISTINCT product_code FROM facilities").fetchall()}
    assert products == set(load_contracts()["facilities"].column("product_code").allowed_values)
    assert _one(con, "SELECT count(*) FROM facilities WHERE (rate_basis = 'FIXED') <> (spread_bps IS NULL)") == (0,)
    assert _one(con, "SELECT count(*) FROM facilities WHERE rate_basis = 'LPR5Y' AND "
                     "datediff('month', start_date, maturity_date) <= 60") == (0,)
    assert _one(con, "SELECT count(*) FROM facilities WHERE product_code = 'credit_line' AND repayment_type <> 'revolving' "
                     "OR product_code = 'trade_finance' AND repayment_type <> 'bullet'") == (0,)
    # a late payment is a second record of the same instalment, paid after its due date
    late = con.execute("""
        SELECT count(*), count(*) FILTER (WHERE first.paid_date IS NULL AND late.paid_date > late.due_date)
        FROM repayments late JOIN repayments first
          ON first.facility_id = late.facility_id AND first.installment_no = late.installment_no
         AND first.repayment_id <> late.repayment_id
        WHERE late.paid_date > late.due_date""").fetchone()
    assert late[0] > 0 and late[0] == late[1]
    assert _one(con, "SELECT count(*) FROM repayments WHERE paid_date IS NULL "
                     "AND (paid_principal_cny <> 0 OR paid_interest_cny <> 0)") == (0,)
    # a facility whose balance moved on a delta day is delivered again on that day
    moved = _one(con, f"""
        SELECT count(*) FROM repayments r WHERE r._delivery > DATE '{FIRST}' AND r.paid_principal_cny > 0
          AND NOT EXISTS (SELECT 1 FROM facilities f WHERE f.facility_id = r.facility_id AND f._delivery = r._delivery)""")
    assert moved == (0,)
    # closed facilities are repaid, defaulted clients have defaulted facilities
    assert _one(con, "SELECT count(*) FROM facilities WHERE facility_status IN ('closed', 'written_off') "
                     "AND drawn_balance_cny <> 0") == (0,)


def test_master_deltas_are_redelivered(con):
    for name in ("facilities", "product_holdings"):
        per_day = dict(con.execute(f"SELECT _delivery, count(*) FROM {name} GROUP BY 1").fetchall())
        assert all(per_day.get(FIRST + timedelta(days=k), 0) > 0 for k in range(1, DAYS + 1)), name


def test_delinquency_and_defaults_follow_the_rating(tmp_path):
    """Clients first rated CCC or worse default, or pay more than 30 days late, far more often than those
    first rated A or better."""
    inbox = tmp_path / "inbox"
    generate(inbox, clients=3000, first_date=FIRST, days=0, seed=5)
    con = duckdb.connect()
    con.register("ratings", read_source(inbox, "ratings"))
    con.register("repayments", read_source(inbox, "repayments"))
    rows = con.execute("""
        WITH first AS (SELECT client_id, arg_min(grade, rating_date) AS grade FROM ratings
                       WHERE rating_reason <> 'default' GROUP BY 1),
             bad AS (SELECT DISTINCT client_id FROM repayments WHERE paid_date - due_date > 30
                     UNION SELECT client_id FROM ratings WHERE grade = 'D')
        SELECT CASE WHEN grade IN ('AAA', 'AA', 'A') THEN 'good' WHEN grade IN ('CCC', 'CC', 'C') THEN 'weak' END AS band,
               avg((bad.client_id IS NOT NULL)::int) AS rate, count(*) AS n
        FROM first LEFT JOIN bad USING (client_id) GROUP BY 1""").fetchall()
    rate = {band: (r, n) for band, r, n in rows}
    good, weak = rate["good"], rate["weak"]
    assert good[1] > 100 and weak[1] > 50
    assert weak[0] >= 3 * good[0] and weak[0] > 0.1
    defaults = dict(con.execute("""
        WITH first AS (SELECT client_id, arg_min(grade, rating_date) AS grade FROM ratings
                       WHERE rating_reason <> 'default' GROUP BY 1)
        SELECT CASE WHEN grade IN ('AAA', 'AA', 'A') THEN 'good' WHEN grade IN ('CCC', 'CC', 'C') THEN 'weak' END,
               avg((client_id IN (SELECT client_id FROM ratings WHERE grade = 'D'))::int)
        FROM first GROUP BY 1""").fetchall())
    assert defaults["weak"] >= 3 * defaults["good"] and defaults["weak"] > 0.03
