"""Turn one chunk's simulated lives into delivery rows: per source, an Arrow table and the delivery each
row belongs to (0 = the initial load D0, k = the delta of D0 + k).

Event sources deliver each record on the day it happened (everything up to D0 with the initial load).
Master sources deliver their state on D0 for everything that exists by then, and again on each later day
on which a row changed (new entity, balance after a payment, status change, revaluation, new annual
figures) with its state on that day.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from python_tasks.codes.uscc import CHARSET, make_uscc
from python_tasks.sample_data import arrow_build as ab
from python_tasks.sample_data import names
from python_tasks.sample_data.collateral import TYPES as COLLATERAL_TYPES
from python_tasks.sample_data.collateral import Collateral, simulate_collateral
from python_tasks.sample_data.crm import CHANNELS, OUTCOMES, Interactions, simulate_crm
from python_tasks.sample_data.crm import TYPES as CRM_TYPES
from python_tasks.sample_data.facilities import (
    PRODUCTS,
    RATE_BASES,
    REPAYMENT_TYPES,
    STATUSES,
    Facilities,
    Schedule,
    last_maturity,
    simulate_facilities,
)
from python_tasks.sample_data.holdings import (
    DEPOSIT_LIKE,
    FEE_PRODUCT_CODES,
    FEE_TYPES,
    HOLDING_PRODUCTS,
    Fees,
    Holdings,
    simulate_fees,
    simulate_holdings,
)
from python_tasks.sample_data.lookups import Latest, change_pairs
from python_tasks.sample_data.population import GRADES, Clients, Context, settle_lifecycle, simulate_clients
from python_tasks.sample_data.ratings import REASONS, Ratings, simulate_ratings
from python_tasks.sample_data.statements import Statements, simulate_statements
from python_tasks.sample_data.timeline import NEVER, add_months, month_of

CLIENT_STATUSES = ("prospect", "active", "dormant", "closed", "defaulted")

# id widths after the 4-digit chunk number
_WIDTH = {"F": 7, "CL": 7, "H": 7, "RT": 8, "S": 8, "FE": 9, "I": 9, "R": 10}

Rows = tuple[pa.Table, np.ndarray]


def build_chunk(ctx: Context, chunk: int, first: int, n: int) -> dict[str, Rows]:
    """Simulate clients ``first`` … ``first + n - 1`` and return every source's rows with their delivery."""
    clients = simulate_clients(ctx, chunk, first, n)
    facilities, schedule = simulate_facilities(ctx, chunk, clients)
    settle_lifecycle(ctx, chunk, clients, last_maturity(facilities, clients.n))
    statements = simulate_statements(ctx, chunk, clients)
    ratings = simulate_ratings(ctx, chunk, clients)
    collateral = simulate_collateral(ctx, chunk, clients, facilities)
    holdings = simulate_holdings(ctx, chunk, clients)
    fees = simulate_fees(ctx, chunk, clients, holdings, facilities)
    crm = simulate_crm(ctx, chunk, clients, facilities, schedule)
    client_ids = ab.ids("C", clients.first + np.arange(clients.n) + 1, 9)
    return {
        "clients": client_rows(ctx, chunk, clients, statements, client_ids),
        "financial_statements": statement_rows(ctx, chunk, statements, client_ids),
        "facilities": facility_rows(ctx, chunk, facilities, client_ids),
        "repayments": repayment_rows(ctx, chunk, facilities, schedule, client_ids),
        "ratings": rating_rows(ctx, chunk, ratings, client_ids),
        "collateral": collateral_rows(ctx, chunk, collateral, facilities, client_ids),
        "product_holdings": holding_rows(ctx, chunk, holdings, client_ids),
        "fee_income": fee_rows(ctx, chunk, fees, client_ids),
        "crm_interactions": crm_rows(ctx, chunk, crm, client_ids),
    }


def _take(arr: pa.Array, idx: np.ndarray) -> pa.Array:
    return ab.take(arr, idx)


def _delivered(delivery: np.ndarray) -> np.ndarray:
    """Indices of the delivered rows (delivery >= 0), ordered by delivery (stable): the writer slices them.

    Event ids are numbered in this order, so the rows of the first deliveries keep their ids when more
    days are generated."""
    keep = np.flatnonzero(delivery >= 0)
    return keep[np.argsort(delivery[keep], kind="stable")]


def _master_queries(
    ctx: Context, exists_at_d0: np.ndarray, change_entity: np.ndarray, change_day: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(entity, state day, delivery) for the D0 snapshot and each day's changed rows, by delivery."""
    tl = ctx.timeline
    snap = np.flatnonzero(exists_at_d0)
    ent, day = change_pairs(change_entity, change_day, tl.first_day, tl.last_day)
    order = np.lexsort((ent, day))
    entity = np.concatenate([snap, ent[order]])
    days = np.concatenate([np.full(len(snap), tl.first_day, dtype=np.int64), day[order]])
    return entity, days, days - tl.first_day


# --- clients -------------------------------------------------------------------------------------------


def _uscc(rng: np.random.Generator, region_codes: list[str], invalid_share: float) -> pa.Array:
    """USCCs (department 9, type 1) on valid GB 11714 organisation codes; a share gets a wrong check."""
    n = len(region_codes)
    alphabet = np.array(list("0123456789ABCDEFGHJKLMNPQRTUWXY"))
    body = rng.integers(0, 10, (n, 8))
    letters = rng.random((n, 8)) < 0.08
    chars = np.where(letters, rng.integers(10, 31, (n, 8)), body)
    weights = np.array([3, 7, 9, 10, 5, 8, 4, 2])
    values = np.where(chars < 10, chars, np.vectorize(lambda i: int(alphabet[i], 36))(chars))
    c9 = 11 - (values @ weights) % 11
    check = np.where(c9 == 10, "X", np.where(c9 == 11, "0", c9.astype(str)))
    bodies = ["".join(alphabet[row]) + ch for row, ch in zip(chars, check, strict=True)]
    codes = [make_uscc("9", "1", rc, b) for rc, b in zip(region_codes, bodies, strict=True)]
    bad = np.flatnonzero(rng.random(n) < invalid_share)
    shift = rng.integers(1, 31, len(bad))
    for i, s in zip(bad, shift, strict=True):
        code = codes[i]
        codes[i] = code[:17] + CHARSET[(CHARSET.index(code[17]) + int(s)) % 31]
    return pa.array(codes, pa.string())


def client_rows(ctx: Context, chunk: int, c: Clients, st: Statements, client_ids: pa.Array) -> Rows:
    rng = ctx.rng(chunk, 21)
    tl, ref = ctx.timeline, ctx.ref
    region_codes = [ref.region_codes[i] for i in c.region]
    uscc = _uscc(rng, region_codes, ctx.invalid_uscc_share)
    company = names.company_names(rng, ref, c.region, c.industry, c.size)
    rep_name = names.person_names(rng, c.n)
    age_days = (rng.uniform(25, 70, c.n) * 365.25).astype(np.int64)
    rep_id = names.id_numbers(rng, np.array(region_codes).astype(np.int64), tl.first_day - age_days)
    phone = names.phone_numbers(rng, c.n)
    has_name = rng.random(c.n) >= 0.01
    has_id = has_name & (rng.random(c.n) >= 0.02)
    has_phone = has_name & (rng.random(c.n) >= 0.03)
    has_capital = rng.random(c.n) >= 0.02
    reports_size = ~c.is_prospect | (rng.random(c.n) >= 0.3)
    rm_ids = ab.ids("RM", c.rm, 4)

    # state changes: creation, onboarding, default, dormancy, closing, new annual figures
    annual = np.flatnonzero(st.annual)
    latest_annual = Latest(st.client[annual], st.reported[annual])
    change_entity = np.concatenate([np.arange(c.n)] * 5 + [st.client[annual]])
    change_day = np.concatenate([c.created, c.onboard, c.default_day, c.dormant_day, c.close_day, st.reported[annual]])
    exists = (c.created <= tl.first_day) & (c.close_day >= tl.history_start)
    entity, day, delivery = _master_queries(ctx, exists, change_entity, change_day)
    entity_ok = c.created[entity] <= day  # a change before creation cannot be delivered
    entity, day, delivery = entity[entity_ok], day[entity_ok], delivery[entity_ok]

    status = np.select(
        [day < c.onboard[entity], c.default_day[entity] <= day, c.close_day[entity] <= day, c.dormant_day[entity] <= day],
        [0, 4, 3, 2],
        default=1,
    )
    ev = latest_annual.at(entity, day)
    has_st = ev >= 0
    row = annual[np.maximum(ev, 0)]
    revenue = np.where(has_st, st.money["revenue_cny"][row], np.round(c.revenue_ref[entity] * 100)).astype(np.int64)
    assets = np.where(has_st, st.money["total_assets_cny"][row], np.round(c.assets_ref[entity] * 100)).astype(np.int64)
    employees = np.where(has_st, st.employees[row], c.employees_ref[entity])
    size_ok = reports_size[entity]
    table = ab.build_table(
        ctx.contracts["clients"],
        {
            "client_id": _take(client_ids, entity),
            "uscc": _take(uscc, entity),
            "company_name": _take(company, entity),
            "legal_rep_name": _masked(_take(rep_name, entity), has_name[entity]),
            "legal_rep_id_number": _masked(_take(rep_id, entity), has_id[entity]),
            "legal_rep_phone": _masked(_take(phone, entity), has_phone[entity]),
            "industry_code": ab.pick(ref.industry_codes, c.industry[entity]),
            "region_code": ab.pick(ref.region_codes, c.region[entity]),
            "registered_capital_cny": ab.money(c.registered_capital[entity], has_capital[entity]),
            "employees": ab.ints(employees, size_ok),
            "annual_revenue_cny": ab.money(revenue, size_ok),
            "total_assets_cny": ab.money(assets, size_ok),
            "founded_date": ab.dates(c.founded[entity]),
            "onboarded_date": ab.dates(c.onboard[entity], c.onboard[entity] <= day),
            "relationship_manager_id": _take(rm_ids, entity),
            "client_status": ab.pick(CLIENT_STATUSES, status),
        },
    )
    return table, delivery


def _masked(arr: pa.Array, valid: np.ndarray) -> pa.Array:
    return pc.if_else(ab.bools(valid), arr, pa.scalar(None, arr.type))


# --- statements ----------------------------------------------------------------------------------------


def statement_rows(ctx: Context, chunk: int, st: Statements, client_ids: pa.Array) -> Rows:
    delivery = ctx.timeline.delivery_index(st.reported)
    keep = _delivered(delivery)
    cols: dict[str, pa.Array] = {
        "statement_id": ab.block_ids("S", chunk, np.arange(len(keep)), _WIDTH["S"]),
        "client_id": _take(client_ids, st.client[keep]),
        "period_end_date": ab.dates(st.period_end[keep]),
        "period_type": ab.pick(("quarterly", "annual"), st.annual[keep].astype(np.int64)),
        "is_audited": ab.bools(st.audited[keep]),
        "reported_date": ab.dates(st.reported[keep]),
    }
    for name, cents in st.money.items():
        valid = st.valid.get(name)
        cols[name] = ab.money(cents[keep], None if valid is None else valid[keep])
    return ab.build_table(ctx.contracts["financial_statements"], cols), delivery[keep]


# --- facilities and repayments ---------------------------------------------------------------------------


def facility_rows(ctx: Context, chunk: int, f: Facilities, client_ids: pa.Array) -> Rows:
    tl = ctx.timeline
    change_entity = np.concatenate([np.arange(f.n)] * 4 + [f.balance_event_fac])
    change_day = np.concatenate([f.start, f.default_day, f.writeoff_day, f.close_day, f.balance_event_day])
    exists = f.start <= tl.first_day
    entity, day, delivery = _master_queries(ctx, exists, change_entity, change_day)
    ok = f.start[entity] <= day
    entity, day, delivery = entity[ok], day[ok], delivery[ok]
    fixed = f.basis[entity] == 2
    table = ab.build_table(
        ctx.contracts["facilities"],
        {
            "facility_id": ab.block_ids("F", chunk, entity, _WIDTH["F"]),
            "client_id": _take(client_ids, f.client[entity]),
            "product_code": ab.pick(PRODUCTS, f.product[entity]),
            "currency": ab.pick(("CNY",), np.zeros(len(entity), dtype=np.int64)),
            "limit_cny": ab.money(f.limit[entity]),
            "drawn_balance_cny": ab.money(f.drawn(entity, day)),
            "interest_rate_pct": ab.floats(f.rate[entity]),
            "rate_basis": ab.pick(RATE_BASES, f.basis[entity]),
            "spread_bps": ab.ints(f.spread[entity], ~fixed),
            "start_date": ab.dates(f.start[entity]),
            "maturity_date": ab.dates(f.maturity[entity]),
            "repayment_type": ab.pick(REPAYMENT_TYPES, f.repayment_type[entity]),
            "facility_status": ab.pick(STATUSES, f.status(entity, day)),
        },
    )
    return table, delivery


def repayment_rows(ctx: Context, chunk: int, f: Facilities, s: Schedule, client_ids: pa.Array) -> Rows:
    """One record per instalment on its due date (paid on time, or not yet paid), and one per late payment
    on the day it is paid."""
    tl = ctx.timeline
    on_time = s.paid_day == s.due
    d1 = tl.delivery_index(s.due)
    r1 = np.flatnonzero(d1 >= 0)
    d2 = tl.delivery_index(np.where(s.late, s.paid_day, NEVER))
    r2 = np.flatnonzero(d2 >= 0)
    delivery = np.concatenate([d1[r1], d2[r2]])
    order = np.argsort(delivery, kind="stable")
    rows = np.concatenate([r1, r2])[order]
    second = np.concatenate([np.zeros(len(r1), dtype=bool), np.ones(len(r2), dtype=bool)])[order]
    paid = second | on_time[rows]
    fac = s.fac[rows]
    zero = np.zeros(len(rows), dtype=np.int64)
    table = ab.build_table(
        ctx.contracts["repayments"],
        {
            "repayment_id": ab.block_ids("R", chunk, np.arange(len(rows)), _WIDTH["R"]),
            "facility_id": ab.block_ids("F", chunk, fac, _WIDTH["F"]),
            "client_id": _take(client_ids, f.client[fac]),
            "installment_no": ab.ints(s.k[rows]),
            "due_date": ab.dates(s.due[rows]),
            "scheduled_principal_cny": ab.money(s.principal[rows]),
            "scheduled_interest_cny": ab.money(s.interest[rows]),
            "paid_date": ab.dates(s.paid_day[rows], paid),
            "paid_principal_cny": ab.money(np.where(paid, s.principal[rows], zero)),
            "paid_interest_cny": ab.money(np.where(paid, s.interest[rows], zero)),
        },
    )
    return table, delivery[order]


# --- ratings, collateral, holdings, fees, crm -------------------------------------------------------------


def rating_rows(ctx: Context, chunk: int, r: Ratings, client_ids: pa.Array) -> Rows:
    delivery = ctx.timeline.delivery_index(r.day)
    keep = _delivered(delivery)
    version = ab.concat_strings("CRM-", ab.number_strings(r.model_version()[keep]), ".1")
    table = ab.build_table(
        ctx.contracts["ratings"],
        {
            "rating_id": ab.block_ids("RT", chunk, np.arange(len(keep)), _WIDTH["RT"]),
            "client_id": _take(client_ids, r.client[keep]),
            "rating_date": ab.dates(r.day[keep]),
            "grade": ab.pick(GRADES, r.grade[keep]),
            "score": ab.floats(r.score[keep], r.score_valid[keep]),
            "model_version": version,
            "rating_reason": ab.pick(REASONS, r.reason[keep]),
        },
    )
    return table, delivery[keep]


def collateral_rows(ctx: Context, chunk: int, col: Collateral, f: Facilities, client_ids: pa.Array) -> Rows:
    tl = ctx.timeline
    change_entity = np.concatenate([np.arange(col.n), np.arange(col.n), col.event_item])
    change_day = np.concatenate([col.created_day, col.release_day, col.event_day])
    exists = (col.created_day <= tl.first_day) & (col.release_day >= tl.history_start)
    entity, day, delivery = _master_queries(ctx, exists, change_entity, change_day)
    ok = col.created_day[entity] <= day
    entity, day, delivery = entity[ok], day[ok], delivery[ok]
    value, appraised, released = col.state(entity, day)
    table = ab.build_table(
        ctx.contracts["collateral"],
        {
            "collateral_id": ab.block_ids("CL", chunk, entity, _WIDTH["CL"]),
            "facility_id": ab.block_ids("F", chunk, col.fac[entity], _WIDTH["F"]),
            "client_id": _take(client_ids, col.client[entity]),
            "collateral_type": ab.pick(COLLATERAL_TYPES, col.ctype[entity]),
            "collateral_description": _take(col.description, entity),
            "appraised_value_cny": ab.money(value),
            "appraisal_date": ab.dates(appraised),
            "collateral_status": ab.pick(("active", "released"), released.astype(np.int64)),
        },
    )
    return table, delivery


def _deposit_restatements(ctx: Context, h: Holdings) -> tuple[np.ndarray, np.ndarray]:
    """(holding, day) of the monthly balance restatements of deposit-like holdings in the delta days."""
    tl = ctx.timeline
    deposit = np.flatnonzero(DEPOSIT_LIKE[h.product])
    ents, days = [], []
    for d in range(tl.first_day + 1, tl.last_day + 1):
        months = month_of(d) - month_of(h.opened[deposit])
        hit = (months >= 1) & (add_months(h.opened[deposit], months) == d) & (h.closed[deposit] > d)
        ents.append(deposit[hit])
        days.append(np.full(hit.sum(), d, dtype=np.int64))
    if not ents:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(ents), np.concatenate(days)


def holding_rows(ctx: Context, chunk: int, h: Holdings, client_ids: pa.Array) -> Rows:
    tl = ctx.timeline
    dep_ent, dep_day = _deposit_restatements(ctx, h)
    change_entity = np.concatenate([np.arange(h.n), np.arange(h.n), dep_ent])
    change_day = np.concatenate([h.opened, h.closed, dep_day])
    exists = h.opened <= tl.first_day
    entity, day, delivery = _master_queries(ctx, exists, change_entity, change_day)
    ok = h.opened[entity] <= day
    entity, day, delivery = entity[ok], day[ok], delivery[ok]
    closed = h.closed[entity] <= day
    table = ab.build_table(
        ctx.contracts["product_holdings"],
        {
            "holding_id": ab.block_ids("H", chunk, entity, _WIDTH["H"]),
            "client_id": _take(client_ids, h.client[entity]),
            "product_code": ab.pick(HOLDING_PRODUCTS, h.product[entity]),
            "opened_date": ab.dates(h.opened[entity]),
            "closed_date": ab.dates(h.closed[entity], closed),
            "holding_status": ab.pick(("active", "closed"), closed.astype(np.int64)),
            "balance_cny": ab.money(h.balance(entity, day)),
        },
    )
    return table, delivery


def fee_rows(ctx: Context, chunk: int, fe: Fees, client_ids: pa.Array) -> Rows:
    delivery = ctx.timeline.delivery_index(fe.day)
    keep = _delivered(delivery)
    table = ab.build_table(
        ctx.contracts["fee_income"],
        {
            "fee_id": ab.block_ids("FE", chunk, np.arange(len(keep)), _WIDTH["FE"]),
            "client_id": _take(client_ids, fe.client[keep]),
            "product_code": ab.pick(FEE_PRODUCT_CODES, fe.product[keep]),
            "fee_type": ab.pick(FEE_TYPES, fe.fee_type[keep]),
            "fee_date": ab.dates(fe.day[keep]),
            "amount_cny": ab.money(fe.amount[keep]),
        },
    )
    return table, delivery[keep]


def crm_rows(ctx: Context, chunk: int, it: Interactions, client_ids: pa.Array) -> Rows:
    tl = ctx.timeline
    delivery = tl.delivery_index(it.day)
    keep = _delivered(delivery)
    table = ab.build_table(
        ctx.contracts["crm_interactions"],
        {
            "interaction_id": ab.block_ids("I", chunk, np.arange(len(keep)), _WIDTH["I"]),
            "client_id": _take(client_ids, it.client[keep]),
            "interaction_date": ab.dates(it.day[keep]),
            "channel": ab.pick(CHANNELS, it.channel[keep]),
            "interaction_type": ab.pick(CRM_TYPES, it.itype[keep]),
            "relationship_manager_id": ab.ids("RM", it.rm[keep], 4),
            "outcome": ab.pick(OUTCOMES, it.outcome[keep], it.outcome_valid[keep]),
        },
    )
    return table, delivery[keep]

