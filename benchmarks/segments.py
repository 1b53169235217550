"""Segmentation benchmark: the daily ``segment_portfolio`` on two consecutive business dates, at S, M or L scale.

    python -m benchmarks.segments --scale L [--repeat N] [--home DIR]      (or: make bench-segments SCALE=L)

Measures exactly what the daily job (python_tasks/segments/job.py) runs between reading the warehouse and
writing it: ``python_tasks.segments.portfolio.segment_portfolio(profile, values, catalogue, context, params,
day, previous)`` under config/segment_rules.yml. Generates (or reuses) a synthetic portfolio shaped like the
warehouse's (S 2 000, M 100 000, L 1 000 000 clients) as Parquet under ``var/bench/segments/<scale>``
(``<scale>-changed<share>`` with ``--changed-share``), then runs each stage in its own child process, so that
each peak-memory figure is its own:

1. ``generate``: for two business dates, the frames the job reads: ``profile`` (every column of
   ``marts.fct_client_profile``, with the warehouse's types and missing values), ``values`` (the job's CLV
   query: base and stressed CLV, PIT PD, capital, EL, RAROC numerator, default flag) and ``context``
   (``portfolio.CONTEXT_COLUMNS``: the previous date's facts, the CLV attribution's main factor, the share
   maturing soon); day 2 is day 1 one business day later: overdue clients one day further past due (a few
   cure, a few fall overdue), about 2 % of the clients with changed balances, CLV, PD, ratings or collateral,
   a few new clients and a few gone. Reused when the cache holds the same scale, seed, change rate and
   generator version;
2. ``day1``: read day 1's Parquet, ``segment_portfolio`` with no previous run (the first run), then store its
   tables the way the job does (``replace_partition`` into the ``segments`` tables, here of an in-memory
   DuckDB, so the warehouse's column types and NOT NULL / primary-key constraints are checked) and copy them
   to Parquet;
3. ``day2``: read day 2's Parquet, build the ``PreviousRun`` from day 1's stored tables with the job's own
   ``_previous_run`` (DuckDB views over day 1's Parquet: the clusters from the stored centroid JSON, the
   signals still new or active, the segments), then ``segment_portfolio``: the daily steady state, the
   figure the target is about. ``--repeat N`` runs it N times (each in a fresh process) and reports the
   median run.

The time inside ``segment_portfolio`` is split twice: by its ``progress`` messages (tiers, strategy,
lifecycle, usage and offers | clusters | signals and watch list | summaries, migration and output tables) and
by timers wrapped around the functions it calls (module attributes of python_tasks.segments.portfolio, so the
code measured is unchanged). Memory is split by the same steps: resident memory at the end of each and its
peak during it (see ``_Memory``). The CPU time the rest of the machine used during each stage is reported
too, so that a run disturbed by another process shows.

Writes ``benchmarks/results/segments-<scale>.json`` and ``.md`` (and ``.png`` when matplotlib is installed):
wall, CPU and peak RSS per stage, clients/s, the breakdowns, the commit measured, and the target (at L, on
the machine described: day 2's ``segment_portfolio`` under 60 s and under 4 GiB peak RSS; the whole day-2
process is judged against the same figures).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

from benchmarks.measure import machine, pyplot, run_stage, verdict

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SEEDS = ROOT / "dbt_project" / "seeds"
SCALES = {"S": 2_000, "M": 100_000, "L": 1_000_000}
#: bump when the synthetic portfolio changes: a cached portfolio of another version is generated again
GENERATOR_VERSION = 1
DAYS = {"day1": date(2026, 11, 26), "day2": date(2026, 11, 27)}
TARGETS = {"segment_s": 60.0, "peak_rss_mb": 4 * 1024.0, "target_scale": "L"}
DEFAULT_CHANGED_SHARE = 0.02  # clients whose features change from day 1 to day 2
NEW_SHARE, GONE_SHARE = 0.001, 0.0005  # clients appearing in / leaving the profile on day 2
#: the progress messages of segment_portfolio, in order: the phase each one closes
PHASES = ("classify: tiers, strategy, lifecycle, usage, offers", "clusters", "signals and watch list")
LAST_PHASE = "summaries, migration, output tables"
#: functions segment_portfolio (and classify) call through python_tasks.segments.portfolio's namespace
TIMED = (
    "classify", "value_thresholds", "value_tiers", "risk_tiers", "strategies", "lifecycle_stages", "holdings",
    "usage_patterns", "next_best_offers", "assign_clusters", "signal_inputs", "evaluate_signals",
    "update_signal_history", "build_watch_list", "segment_summary", "migrations",
)  # fmt: skip
IN_CLASSIFY = TIMED[1:9]


def _child(stage: str, args: argparse.Namespace, home: Path, run: int = 1) -> dict:
    """Run one stage in a fresh interpreter; its own peak RSS and CPU time come from wait4().

    The parent only spawns and waits (no NumPy or pandas imported here): a child would otherwise start
    from a larger address space and report it as its own peak.
    """
    argv = ["-m", "benchmarks.segments", "--stage", stage, "--home", str(home), "--scale", args.scale,
            "--seed", str(args.seed), "--changed-share", str(args.changed_share)]  # fmt: skip
    busy = _busy_cpu_s()
    measured = run_stage(argv, stage, home / f".segments-{stage}-{run}", dict(os.environ))
    if busy is not None:  # CPU time the rest of the machine used meanwhile: another busy process shows here
        measured["others_cpu_s"] = round(max(_busy_cpu_s() - busy - measured["cpu_s"], 0.0), 1)
    own = measured.get("memory", {}).get("peak_mb")
    if own:  # the stage reset its peak at each checkpoint (see _Memory): its own record holds the overall peak
        measured["wait4_peak_rss_mb"] = measured["peak_rss_mb"]
        measured["peak_rss_mb"] = max(measured["peak_rss_mb"], own)
    return measured


def _busy_cpu_s() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (/proc/stat), None where unavailable."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle and iowait
    busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal (guest is inside user)
    return busy / os.sysconf("SC_CLK_TCK")


# --- the synthetic portfolio -------------------------------------------------------------------------

STATUS_MIX = {"prospect": 0.09, "active": 0.75, "dormant": 0.08, "closed": 0.05, "defaulted": 0.03}
NEW_CLIENT_STATUS_MIX = {"prospect": 0.7, "active": 0.3, "dormant": 0.0, "closed": 0.0, "defaulted": 0.0}
#: share of clients per GB/T 4754 section (A-T): manufacturing and wholesale/retail dominate a corporate book
SECTION_MIX = {
    "A": 0.03, "B": 0.02, "C": 0.30, "D": 0.03, "E": 0.08, "F": 0.22, "G": 0.05, "H": 0.02, "I": 0.06, "J": 0.01,
    "K": 0.03, "L": 0.05, "M": 0.05, "N": 0.02, "O": 0.01, "P": 0.004, "Q": 0.01, "R": 0.01, "S": 0.005, "T": 0.001,
}  # fmt: skip
#: industry indicators of the latest quarter by section (output growth %, NPL ratio change pp): real estate
#: and mining under stress, as the early-warning rule reads them
STRESSED_SECTIONS = {"K": (-3.5, 0.85), "B": (-1.2, 0.30)}
SIZES = ("large", "medium", "small", "micro", "unclassified")
SIZE_MIX = (0.07, 0.17, 0.42, 0.31, 0.03)
SIZE_LOG_FACTOR = (2.0, 0.8, 0.0, -0.9, -0.3)
SIZE_REASONS = ("meets_every_large_minimum", "meets_every_medium_minimum", "meets_every_small_minimum",
                "below_a_small_minimum", "industry_outside_standard")  # fmt: skip
#: rated clients by grade rank 1..9 (AAA..C); rank 10 (D) is the defaulted clients'
GRADE_MIX = (0.04, 0.08, 0.14, 0.22, 0.20, 0.15, 0.08, 0.05, 0.04)
ASSET_CLASSES = ("normal", "special_mention", "substandard", "doubtful", "loss")
ASSET_CLASSES_ZH = ("正常", "关注", "次级", "可疑", "损失")
LENDING_MIX = {
    "working_capital_loan": 0.38, "credit_line": 0.20, "trade_finance": 0.13, "fixed_asset_loan": 0.15,
    "project_finance": 0.08, "ip_pledge_loan": 0.06,
}  # fmt: skip
#: the profile's drawn-balance-by-product columns, in the mart's order
DRAWN_COLUMNS_ORDER = (
    "project_finance", "working_capital_loan", "fixed_asset_loan", "trade_finance", "ip_pledge_loan", "credit_line",
)  # fmt: skip
MACRO = {
    "gdp_growth_pct": 5.1, "pmi": 49.8, "lpr_1y_pct": 3.0, "lpr_5y_pct": 3.5, "gdp_growth_next_12m_baseline_pct": 4.8,
    "gdp_growth_next_12m_adverse_pct": 3.6, "gdp_growth_next_12m_severe_pct": 2.1,
}  # fmt: skip


def _seed(name: str) -> list[dict]:
    with (SEEDS / f"{name}.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def catalogue():  # noqa: ANN201 - a DataFrame
    """reference.ref_products as the job reads it: product_code, product_family, is_credit."""
    import pandas as pd

    rows = _seed("ref_products")
    return pd.DataFrame({
        "product_code": [r["product_code"] for r in rows],
        "product_family": [r["product_family"] for r in rows],
        "is_credit": [r["is_credit"] == "true" for r in rows],
    })  # fmt: skip


def _client_ids(first: int, n: int):  # noqa: ANN202
    import numpy as np
    import pandas as pd

    return pd.array(np.char.add("C", np.char.zfill(np.arange(first, first + n).astype(str), 9)), dtype="str")


def _pick(rng, options, weights, n: int):  # noqa: ANN001, ANN202 - numpy object array of the options
    import numpy as np

    w = np.asarray(weights, dtype=float)
    return np.asarray(options, dtype=object)[rng.choice(len(options), n, p=w / w.sum())]


def _dates(day: date, days_before, missing=None):  # noqa: ANN001, ANN202 - datetime64[us] array, NaT where missing
    import numpy as np

    out = (np.datetime64(day, "D") - np.asarray(days_before, dtype=np.int64).astype("timedelta64[D]")).astype(
        "datetime64[us]"
    )
    if missing is not None:
        out[missing] = np.datetime64("NaT")
    return out


def _nullable(values, missing, dtype: str):  # noqa: ANN001, ANN202 - a pandas nullable integer array
    import numpy as np
    import pandas as pd

    numpy_type = np.int32 if dtype == "Int32" else np.int64
    clean = np.where(missing, 0, np.nan_to_num(np.asarray(values, dtype=float))).astype(numpy_type)
    return pd.arrays.IntegerArray(clean, np.asarray(missing, dtype=bool))


def _text(values, missing=None):  # noqa: ANN001, ANN202 - a pandas str array, NA where missing
    import numpy as np
    import pandas as pd

    values = np.asarray(values, dtype=object).copy()
    if missing is not None:
        values[np.asarray(missing, dtype=bool)] = None
    return pd.array(values, dtype="str")


def _dpd_bucket(dpd):  # noqa: ANN001, ANN202 - the dbt macro dpd_bucket
    import numpy as np

    return np.select([dpd <= 0, dpd <= 30, dpd <= 60, dpd <= 90], ["0", "1-30", "31-60", "61-90"], "90+").astype(object)


def _asset_class_of(dpd, defaulted):  # noqa: ANN001, ANN202 - rank 1..5 from the days past due (ref_asset_classes)
    import numpy as np

    rank = np.select([dpd > 720, dpd > 270, dpd > 90, dpd > 0], [5, 4, 3, 2], 1)
    return np.where(defaulted, np.maximum(rank, 3), rank)


def _products_held(held, codes, families):  # noqa: ANN001, ANN202 - (list text, count, lending count, families)
    """Per client: the sorted comma-separated codes (NA when none) and the counts, as the profile has them;
    each distinct holding is spelled once."""
    import numpy as np

    bits = held.astype(np.int64) @ (np.int64(1) << np.arange(len(codes), dtype=np.int64))
    distinct, inverse = np.unique(bits, return_inverse=True)
    order = np.argsort(codes)
    spelled = np.array(
        [",".join(codes[j] for j in order if (b >> j) & 1) or None for b in distinct.tolist()], dtype=object
    )
    family_index = {f: i for i, f in enumerate(sorted(set(families)))}
    family_of = np.array([family_index[f] for f in families])
    family_held = np.zeros((len(held), len(family_index)), dtype=bool)
    for j in range(len(codes)):
        family_held[:, family_of[j]] |= held[:, j]
    lending = np.array([f == "lending" for f in families])
    return (
        spelled[inverse.reshape(-1)],
        held.sum(axis=1).astype(np.int64),
        held[:, lending].sum(axis=1).astype(np.int64),
        family_held.sum(axis=1).astype(np.int64),
    )


def synthetic_day(n: int, seed: int, day: date, *, first_id: int = 1, status_mix: dict | None = None):  # noqa: ANN201 - (profile, values, facts)
    """One business date of a deterministic portfolio: the profile (every column of marts.fct_client_profile,
    in its order and with the types the job's query returns), the job's CLV frame, and the per-client facts
    the context is built from (maturing share, recent renewal).

    Clients: 9 % prospects (no statement, rating, tenure or exposure; valued as if won), active (nine in ten
    borrow, 1 + Poisson(1.6) facilities), dormant and closed (no exposure left), 3 % defaulted (grade D,
    substandard or worse, long arrears). Money amounts scale with the enterprise size and are log-normal;
    covenants, arrears, downgrades, industry stress and maturing balances occur at about the rates of the
    sample warehouse.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    mix = status_mix or STATUS_MIX
    status = _pick(rng, list(mix), list(mix.values()), n)
    prospect, active, dormant = status == "prospect", status == "active", status == "dormant"
    closed, defaulted = status == "closed", status == "defaulted"
    newcomer = first_id > 1  # clients appearing on a later date: new relationships

    # industry, region, size
    sections = [r["section_code"] for r in _seed("ref_gbt4754_sections")]
    section = _pick(rng, sections, [SECTION_MIX.get(s, 0.0) for s in sections], n)
    divisions = _seed("ref_gbt4754_divisions")
    by_section = {s: [d["division_code"] for d in divisions if d["section_code"] == s] for s in sections}
    division = np.empty(n, dtype=object)
    for s in sections:
        rows = np.flatnonzero(section == s)
        if len(rows):
            division[rows] = np.asarray(by_section[s], dtype=object)[rng.integers(0, len(by_section[s]), len(rows))]
    groups = {}
    for g in _seed("ref_sme_industry_groups"):
        if len(g["code_prefix"]) == 2:
            groups[g["code_prefix"]] = g["industry_group"]
    regions = _seed("ref_regions")
    region_weight = [
        {"1": 8.0, "2": 3.0, "3": 1.0}.get(r["economic_tier"], 0.3) * (1.0 if r["level"] == "prefecture" else 0.3)
        for r in regions
    ]
    region_row = rng.choice(len(regions), n, p=np.array(region_weight) / sum(region_weight))
    size = rng.choice(len(SIZES), n, p=SIZE_MIX)
    size_factor = np.exp(np.array(SIZE_LOG_FACTOR)[size] + rng.normal(0.0, 0.6, n))

    # relationship length
    tenure = np.minimum(rng.exponential(55.0, n), 240.0) + np.where(dormant | closed, 12.0, 0.0)
    tenure = np.where(newcomer, rng.integers(0, 2, n), np.floor(tenure))
    tenure_missing = prospect

    # financial statements and ratios (the latest annual statement): none for prospects, a few others lack one
    has_statement = ~prospect & ((rng.random(n) >= 0.02) | defaulted)
    no_statement = ~has_statement
    revenue = np.exp(rng.normal(np.log(6.6e6), 1.1, n)) * size_factor**2
    assets = revenue * np.exp(rng.normal(0.0, 0.5, n))
    size_missing = rng.random(n) < 0.034
    leverage = np.clip(rng.normal(0.55, 0.15, n) + np.where(defaulted, 0.25, 0.0), 0.05, 1.3)
    icr = np.exp(rng.normal(np.log(4.9), 1.0, n)) * np.where(rng.random(n) < 0.12, -1.0, 1.0)
    dscr = np.exp(rng.normal(np.log(1.3), 0.6, n)) * np.where(rng.random(n) < 0.05, -1.0, 1.0)
    dscr = np.where(defaulted, dscr * 0.3, dscr)
    growth = rng.normal(0.0, 0.12, n)

    # rating: every client with a statement is rated; defaulted clients are D
    rank = rng.choice(9, n, p=GRADE_MIX) + 1
    rank = np.where(defaulted, 10, rank)
    scale = _seed("ref_rating_master_scale")
    grade_names = np.array([r["grade"] for r in scale], dtype=object)
    grade_pd = np.array([float(r["ttc_pd"]) for r in scale])
    notches = rng.choice([0, -1, 1, 2, 3, 4], n, p=[0.80, 0.08, 0.07, 0.03, 0.015, 0.005])
    notches = np.where(defaulted, rng.integers(2, 7, n), notches)
    notches_missing = no_statement | (rng.random(n) < 0.15)

    # exposure
    borrower = (active & (rng.random(n) < 0.9)) | defaulted
    facilities = np.where(borrower, 1 + rng.poisson(1.6, n), 0)
    limit = np.where(borrower, facilities * 4e6 * size_factor * np.exp(rng.normal(0.0, 0.8, n)), 0.0)
    utilisation = np.where(borrower, np.clip(rng.beta(3.0, 2.0, n), 0.02, 1.0), np.nan)
    utilisation = np.where(defaulted, 1.0, utilisation)
    drawn = np.where(borrower, limit * utilisation, 0.0)
    undrawn = limit - drawn
    ead = drawn + 0.5 * undrawn
    secured = borrower & (rng.random(n) < 0.65)
    collateral = np.where(secured, drawn * np.exp(rng.normal(np.log(1.1), 0.5, n)), 0.0)
    coverage = np.where(borrower, np.clip(collateral / np.maximum(drawn, 1.0), 0.0, 3.5), np.nan)
    had_credit = borrower | ((dormant | closed) & (rng.random(n) < 0.3))
    drawn_before = np.where(
        had_credit & (tenure >= 12), np.maximum(drawn, limit * 0.5) * np.exp(rng.normal(-0.05, 0.35, n)), 0.0
    )
    drawn_before = np.where(borrower & (rng.random(n) < 0.12), 0.0, drawn_before)  # credit drawn only this year
    with np.errstate(divide="ignore", invalid="ignore"):
        exposure_growth = np.where(drawn_before > 0, drawn / drawn_before - 1.0, np.nan)
    lending = list(LENDING_MIX)
    primary = rng.choice(len(lending), n, p=list(LENDING_MIX.values()))
    secondary = rng.choice(len(lending), n, p=list(LENDING_MIX.values()))
    first_share = np.where(facilities > 1, rng.uniform(0.5, 1.0, n), 1.0)
    drawn_share = {
        code: np.where(primary == k, first_share, 0.0)
        + np.where((secondary == k) & (facilities > 1), 1 - first_share, 0.0)
        for k, code in enumerate(lending)
    }

    # repayment behaviour
    overdue = borrower & ~defaulted & (rng.random(n) < 0.04)
    dpd = np.where(overdue, rng.choice([1, 31, 91], n, p=[0.6, 0.3, 0.1]) + rng.integers(0, 30, n), 0)
    dpd = np.where(defaulted, 90 + rng.exponential(300.0, n).astype(np.int64), dpd)
    past = borrower & (rng.random(n) < 0.05)
    max_3m = np.maximum(dpd, np.where(past & (rng.random(n) < 0.4), rng.integers(1, 120, n), 0))
    max_12m = np.maximum(max_3m, np.where(past, rng.integers(1, 200, n), 0))

    # five-tier classification: borrowers and former borrowers; a few performing loans on the watch list
    class_rank = _asset_class_of(dpd, defaulted)
    class_rank = np.where((class_rank == 1) & (rng.random(n) < 0.015), 2, class_rank)
    class_missing = ~had_credit

    # products held: lending products match the facilities; deposits, transactions, trade services, others
    product_rows = _seed("ref_products")
    codes = [r["product_code"] for r in product_rows]
    families = [r["product_family"] for r in product_rows]
    col = {c: j for j, c in enumerate(codes)}
    held = np.zeros((n, len(codes)), dtype=bool)
    for k, code in enumerate(lending):
        held[:, col[code]] = borrower & ((primary == k) | ((facilities > 1) & (secondary == k)))
    relationship = active | dormant | defaulted
    u = rng.random((n, 8))
    held[:, col["demand_deposit"]] = relationship & (u[:, 0] < np.where(active, 0.85, 0.6))
    held[:, col["time_deposit"]] = held[:, col["demand_deposit"]] & (u[:, 1] < 0.3)
    held[:, col["settlement_account"]] = active & (u[:, 2] < 0.6)
    held[:, col["cash_management"]] = active & (u[:, 3] < np.array([0.5, 0.2, 0.05, 0.02, 0.05])[size])
    trader = np.isin(section, ["C", "F"])
    held[:, col["fx_services"]] = active & (u[:, 4] < np.where(trader, 0.15, 0.05))
    held[:, col["bank_acceptance_bill"]] = borrower & (u[:, 5] < 0.2)
    held[:, col["letter_of_credit"]] = borrower & (u[:, 6] < np.where(trader, 0.2, 0.05))
    held[:, col["bank_guarantee"]] = borrower & (u[:, 7] < np.where(section == "E", 0.4, 0.08))
    held[:, col["supply_chain_finance"]] = borrower & (rng.random(n) < 0.05)
    held[:, col["advisory"]] = active & (rng.random(n) < 0.03)
    held[:, col["wealth_management"]] = held[:, col["demand_deposit"]] & (rng.random(n) < 0.08)
    products_list, products_count, lending_count, family_count = _products_held(held, codes, families)
    depositor = held[:, col["demand_deposit"]] | held[:, col["time_deposit"]]
    deposits = np.where(depositor, np.round(np.exp(rng.normal(np.log(8e5), 1.3, n)) * size_factor), 0.0)
    fees = np.where(relationship & (rng.random(n) >= 0.35), np.exp(rng.normal(np.log(2e4), 1.3, n)) * size_factor, 0.0)
    fee_events = np.where(fees > 0, 1 + rng.poisson(11.0, n), 0)
    touches = rng.poisson(np.array([7.0, 4.5, 3.0, 2.0, 2.5])[size] * np.where(closed, 0.1, 1.0))
    touches_3m = rng.binomial(touches, 0.25)
    quiet = np.where(
        touches > 0,
        rng.uniform(0.0, 1.0, n) * np.minimum(730.0 / (touches + 1), 364.0),
        365 + rng.exponential(500.0, n),
    ).astype(np.int64)
    never_contacted = (touches == 0) & (rng.random(n) < 0.5)

    # industry indicators of the latest quarter, one set per section
    section_rng = np.random.default_rng(7_000 + seed % 1_000)
    section_index = {s: i for i, s in enumerate(sections)}
    output_growth = np.round(section_rng.normal(5.5, 1.8, len(sections)), 2)
    npl_change = np.round(section_rng.normal(0.15, 0.15, len(sections)), 2)
    for s, (g, c) in STRESSED_SECTIONS.items():
        output_growth[section_index[s]], npl_change[section_index[s]] = g, c
    npl = np.round(section_rng.uniform(0.6, 4.2, len(sections)), 2)
    margin = np.round(section_rng.uniform(2.8, 11.0, len(sections)), 2)
    sec = np.array([section_index[s] for s in section])

    ids = _client_ids(first_id, n)
    ttc = np.where(has_statement, grade_pd[rank - 1], np.nan)
    day64 = np.datetime64(day, "D")
    profile = pd.DataFrame({
        "client_id": ids,
        "as_of_date": np.full(n, day64).astype("datetime64[us]"),
        "client_status": _text(status),
        "is_active_client": active,
        "industry_code": _text(section + division),
        "industry_section_code": _text(section),
        "industry_division_code": _text(division),
        "region_code": _text(np.array([r["region_code"] for r in regions], dtype=object)[region_row]),
        "province_code": _text(np.array([r["province_code"] for r in regions], dtype=object)[region_row]),
        "region_economic_tier": np.array([int(r["economic_tier"]) for r in regions], dtype=np.int32)[region_row],
        "onboarded_date": _dates(day, np.round(tenure * 30.44), tenure_missing),
        "relationship_manager_id": _text(np.char.add("RM", np.char.zfill(rng.integers(1, n // 60 + 2, n).astype(str), 4))),
        "enterprise_size": _text(np.array(SIZES, dtype=object)[size]),
        "enterprise_size_reason": _text(np.array(SIZE_REASONS, dtype=object)[size]),
        "sme_industry_group": _text(pd.Series(division).map(groups).fillna("other").to_numpy(dtype=object)),
        "employees": _nullable(np.ceil(np.exp(rng.normal(np.log(25), 1.2, n)) * size_factor), size_missing, "Int32"),
        "size_revenue_cny": np.where(size_missing, np.nan, np.round(revenue, 2)),
        "size_total_assets_cny": np.where(size_missing, np.nan, np.round(assets, 2)),
        "statement_id": _text(np.char.add("S", np.char.zfill(np.arange(first_id, first_id + n).astype(str), 12)), no_statement),
        "statement_period_end_date": np.where(
            no_statement, np.datetime64("NaT"), np.where(rng.random(n) < 0.8, np.datetime64("2025-12-31"), np.datetime64("2024-12-31"))
        ).astype("datetime64[us]"),
        "statement_revenue_cny": np.where(no_statement, np.nan, np.round(revenue * np.exp(rng.normal(0, 0.05, n)), 2)),
        "leverage_ratio": np.where(no_statement, np.nan, leverage),
        "current_ratio": np.where(no_statement | (rng.random(n) < 0.06), np.nan, np.exp(rng.normal(np.log(1.5), 0.4, n))),
        "interest_coverage_ratio": np.where(no_statement | (rng.random(n) < 0.06), np.nan, icr),
        "debt_service_coverage_ratio": np.where(no_statement | (rng.random(n) < 0.09), np.nan, dscr),
        "return_on_assets": np.where(no_statement | (rng.random(n) < 0.04), np.nan, rng.normal(0.035, 0.05, n)),
        "net_margin": np.where(no_statement | (rng.random(n) < 0.04), np.nan, rng.normal(0.03, 0.06, n)),
        "revenue_growth_yoy": np.where(no_statement | (rng.random(n) < 0.13), np.nan, growth),
        "current_grade": _text(grade_names[rank - 1], no_statement),
        "current_grade_rank": _nullable(rank, no_statement, "Int32"),
        "ttc_pd": ttc,
        "rating_date": _dates(day, rng.integers(0, 365, n), no_statement),
        "notches_downgraded_12m": _nullable(notches, notches_missing, "Int32"),
        "is_defaulted_grade": defaulted.copy(),
        "current_dpd": dpd.astype(np.int64),
        "max_dpd_3m": max_3m.astype(np.int64),
        "max_dpd_12m": max_12m.astype(np.int64),
        "dpd_bucket": _text(_dpd_bucket(dpd)),
        "arrears_cny": np.where(dpd > 0, np.round(drawn * np.minimum(dpd / 365.0, 1.0) * 0.1, 2), 0.0),
        "instalments_due_12m": np.where(borrower, np.round(facilities * 12 * rng.uniform(0.3, 1.0, n)), 0.0),
        "on_time_payment_rate_12m": np.where(
            borrower, np.where(max_12m > 0, rng.uniform(0.5, 0.98, n), 1.0), np.nan
        ),
        "facilities_on_book": facilities.astype(np.int64),
        "has_credit_exposure": borrower.copy(),
        "limit_cny": np.round(limit, 2),
        "drawn_balance_cny": np.round(drawn, 2),
        "undrawn_cny": np.round(undrawn, 2),
        "ead_cny": np.round(ead, 3),
        "utilisation_ratio": utilisation,
        "weighted_interest_rate_pct": np.where(borrower, np.clip(rng.normal(4.3, 0.7, n), 3.0, 8.0), np.nan),
        "weighted_remaining_maturity_years": np.where(borrower, np.exp(rng.normal(np.log(2.2), 0.8, n)), np.nan),
        "last_maturity_date": _dates(day, -rng.integers(30, 3_650, n), ~borrower),
        "collateral_value_cny": np.round(collateral, 2),
        "drawn_balance_12m_ago_cny": np.round(drawn_before, 2),
        "exposure_growth_12m": exposure_growth,
        "collateral_coverage_ratio": coverage,
        **{f"drawn_{code}_cny": np.round(drawn * drawn_share[code], 2) for code in DRAWN_COLUMNS_ORDER},
        "asset_class": _text(np.array(ASSET_CLASSES, dtype=object)[class_rank - 1], class_missing),
        "asset_class_zh": _text(np.array(ASSET_CLASSES_ZH, dtype=object)[class_rank - 1], class_missing),
        "asset_class_rank": _nullable(class_rank, class_missing, "Int32"),
        "is_non_performing": pd.array(np.where(class_missing, None, class_rank >= 3), dtype="boolean"),
        "non_performing_facilities": np.where(class_rank >= 3, facilities, 0).astype(np.int64),
        "tenure_months": _nullable(tenure, tenure_missing, "Int64"),
        "products_held": products_count,
        "lending_products_held": lending_count,
        "product_families_held": family_count,
        "products_held_list": _text(products_list),
        "deposit_balance_cny": deposits,
        "fee_income_12m_cny": np.round(fees, 2),
        "fee_events_12m": fee_events.astype(np.int64),
        "crm_touches_12m": touches.astype(np.int64),
        "crm_touches_3m": touches_3m.astype(np.int64),
        "last_contact_date": _dates(day, quiet, never_contacted),
        "days_since_last_contact": _nullable(quiet, never_contacted, "Int64"),
        "macro_month": np.full(n, np.datetime64(day.replace(day=1), "D")).astype("datetime64[us]"),
        **{name: np.full(n, value) for name, value in MACRO.items()},
        "industry_quarter_end_date": np.full(n, np.datetime64("2026-09-30", "D")).astype("datetime64[us]"),
        "industry_output_growth_pct": output_growth[sec],
        "industry_profit_margin_pct": margin[sec],
        "industry_npl_ratio_pct": npl[sec],
        "industry_npl_ratio_change_yoy_pp": npl_change[sec],
    })  # fmt: skip

    # the CLV job's figures: PIT PD from the rating (a scorecard PD without one), base and stressed CLV
    pit_pd = np.where(
        has_statement,
        np.clip(np.nan_to_num(ttc, nan=0.01) * np.exp(rng.normal(0.1, 0.3, n)), 0.0003, 0.99),
        np.clip(np.exp(rng.normal(np.log(0.01), 1.0, n)), 0.0005, 0.3),
    )
    pit_pd = np.where(defaulted, 1.0, pit_pd)
    nii = 0.015 * ead * np.exp(rng.normal(0.0, 0.4, n))
    yearly = nii + fees + 0.006 * deposits - 0.45 * pit_pd * ead - 3_000.0 * np.exp(rng.normal(0.0, 0.3, n))
    won = 0.015 * 5e6 - 0.45 * pit_pd * 5e6 - 3_000.0
    clv = np.select(
        [defaulted, closed, prospect, dormant],
        [-0.45 * ead * rng.uniform(0.2, 1.0, n), 0.0, 4.0 * won * np.exp(rng.normal(0, 0.3, n)) - 20_000.0,
         2.0 * (0.006 * deposits - 1_500.0)],
        4.0 * yearly,
    )  # fmt: skip
    stressed = clv - 0.25 * np.abs(clv) - 0.5 * 0.45 * ead * np.minimum(1.5 * pit_pd, 1.0)
    capital = ead * 0.08 * np.clip(0.5 + 10.0 * pit_pd, 0.5, 1.5)
    expected_loss = ead * pit_pd * 0.45
    values = pd.DataFrame({
        "client_id": ids,
        "clv_cny": clv,
        "clv_stressed_cny": stressed,
        "pit_pd": pit_pd,
        "capital_cny": capital,
        "expected_loss_12m_cny": expected_loss,
        "raroc_numerator_cny": np.where(capital > 0, clv / 4.0 - expected_loss, 0.0),
        "is_defaulted": defaulted.copy(),
    })  # fmt: skip

    # fct_facility_daily's view of the borrowers: share of the drawn balance maturing within the window (null
    # when none matures), a facility started recently (null without facilities)
    maturing = borrower & (rng.random(n) < 0.36)
    facts = pd.DataFrame({
        "client_id": ids,
        "maturing_share": np.where(maturing, np.where(facilities == 1, 1.0, rng.beta(1.2, 2.0, n)), np.nan),
        "has_recent_renewal": np.where(borrower, rng.random(n) < 0.3, None).astype(object),
    })  # fmt: skip
    return profile, values, facts


def next_day(profile, values, facts, seed: int, day: date, changed_share: float):  # noqa: ANN001, ANN201 - (profile, values, facts, what changed)
    """The next business date: time moves on by a day for everyone (overdue clients one day further past due,
    a few cured, a few newly overdue; one more day since the last contact), ``changed_share`` of the clients
    change features (balances, deposits, fees, CRM touches, CLV; some also a downgrade, a collateral fall or
    their maturing share), a few clients leave the profile and a few new ones (mostly prospects) join."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed + 1)
    n = len(profile)
    stay = rng.random(n) >= GONE_SHARE
    p, v, f = (frame.loc[stay].reset_index(drop=True).copy() for frame in (profile, values, facts))
    m = len(p)
    p["as_of_date"] = p["as_of_date"] + pd.Timedelta(days=(day - p["as_of_date"].iloc[0].date()).days)

    # time passes: arrears age, a few cure, a few borrowers fall overdue
    borrower = p["has_credit_exposure"].to_numpy(dtype=bool)
    defaulted = v["is_defaulted"].to_numpy(dtype=bool)
    dpd = p["current_dpd"].to_numpy().copy()
    overdue = dpd > 0
    cure = overdue & ~defaulted & (rng.random(m) < 0.07)
    fresh = borrower & ~overdue & ~defaulted & (rng.random(m) < 0.001)
    dpd = np.where(cure, 0, np.where(overdue, dpd + 1, np.where(fresh, 1, 0)))
    p["current_dpd"] = dpd.astype(np.int64)
    p["max_dpd_3m"] = np.maximum(p["max_dpd_3m"].to_numpy(), dpd)
    p["max_dpd_12m"] = np.maximum(p["max_dpd_12m"].to_numpy(), dpd)
    p["dpd_bucket"] = _text(_dpd_bucket(dpd))
    worse = fresh & (p["asset_class_rank"].fillna(1).to_numpy(dtype=int) < 2)
    p.loc[worse, ["asset_class", "asset_class_zh"]] = ["special_mention", "关注"]
    p.loc[worse, "asset_class_rank"] = 2
    p["days_since_last_contact"] = p["days_since_last_contact"] + 1

    # a share of the clients changes
    changed = rng.random(m) < changed_share
    i = np.flatnonzero(changed)
    k = len(i)
    factor = np.exp(rng.normal(0.0, 0.15, k))
    for column in ("limit_cny", "drawn_balance_cny", "undrawn_cny", "ead_cny", "collateral_value_cny"):
        p.loc[i, column] = p.loc[i, column].to_numpy() * factor
    for column in ("capital_cny", "expected_loss_12m_cny"):
        v.loc[i, column] = v.loc[i, column].to_numpy() * factor
    util = p.loc[i, "utilisation_ratio"].to_numpy()
    p.loc[i, "utilisation_ratio"] = np.where(
        np.isnan(util), np.nan, np.clip(util * np.exp(rng.normal(0, 0.1, k)), 0.02, 1.0)
    )
    p.loc[i, "deposit_balance_cny"] = np.round(
        p.loc[i, "deposit_balance_cny"].to_numpy() * np.exp(rng.normal(0, 0.3, k))
    )
    p.loc[i, "fee_income_12m_cny"] = p.loc[i, "fee_income_12m_cny"].to_numpy() + np.where(
        rng.random(k) < 0.3, np.round(rng.exponential(5_000.0, k), 2), 0.0
    )
    touched = rng.random(k) < 0.5
    p.loc[i, "crm_touches_12m"] = p.loc[i, "crm_touches_12m"].to_numpy() + touched
    p.loc[i[touched], "days_since_last_contact"] = 0
    p.loc[i[touched], "last_contact_date"] = np.datetime64(day, "us")
    clv = v.loc[i, "clv_cny"].to_numpy()
    new_clv = clv * np.exp(rng.normal(0.0, 0.1, k)) + rng.normal(0.0, 20_000.0, k)
    new_clv = np.where((rng.random(k) < 0.1) & (clv > 0), clv * rng.uniform(0.3, 0.7, k), new_clv)  # sharp falls
    v.loc[i, "clv_stressed_cny"] = v.loc[i, "clv_stressed_cny"].to_numpy() + (new_clv - clv) * 1.2
    v.loc[i, "clv_cny"] = new_clv
    top = np.full(k, "exposure", dtype=object)

    rank = p.loc[i, "current_grade_rank"].to_numpy(dtype=float, na_value=np.nan)
    down = (rng.random(k) < 0.05) & np.isfinite(rank) & (rank <= 8) & ~defaulted[i]
    scale = _seed("ref_rating_master_scale")
    grade_names = np.array([r["grade"] for r in scale], dtype=object)
    grade_pd = np.array([float(r["ttc_pd"]) for r in scale])
    j = i[down]
    new_rank = rank[down].astype(int) + 1
    p.loc[j, "current_grade_rank"] = new_rank
    p.loc[j, "current_grade"] = grade_names[new_rank - 1]
    p.loc[j, "ttc_pd"] = grade_pd[new_rank - 1]
    p.loc[j, "rating_date"] = np.datetime64(day, "us")
    p.loc[j, "notches_downgraded_12m"] = p.loc[j, "notches_downgraded_12m"].fillna(0) + 1
    v.loc[j, "pit_pd"] = np.minimum(
        v.loc[j, "pit_pd"].to_numpy() * grade_pd[new_rank - 1] / grade_pd[new_rank - 2], 0.99
    )
    top[down] = "pd"

    coverage = p.loc[i, "collateral_coverage_ratio"].to_numpy()
    falls = (rng.random(k) < 0.05) & (coverage > 0)
    p.loc[i[falls], "collateral_coverage_ratio"] = coverage[falls] * rng.uniform(0.4, 0.75, int(falls.sum()))
    top[falls & ~down] = "lgd"
    moves = rng.random(k) < 0.1
    f.loc[i[moves], "maturing_share"] = np.where(
        p.loc[i[moves], "has_credit_exposure"].to_numpy(dtype=bool), rng.uniform(0.0, 1.0, int(moves.sum())), np.nan
    )

    # new clients (mostly prospects), with ids after the last one
    n_new = max(1, round(n * NEW_SHARE))
    new_p, new_v, new_f = synthetic_day(n_new, seed + 2, day, first_id=n + 1, status_mix=NEW_CLIENT_STATUS_MIX)
    profile2 = pd.concat([p, new_p], ignore_index=True)
    values2 = pd.concat([v, new_v], ignore_index=True)
    facts2 = pd.concat([f, new_f], ignore_index=True)
    facts2["has_recent_renewal"] = facts2["has_recent_renewal"].astype(object)
    # the CLV attribution's main factor and amount (valuation.attribution as the job reads it)
    amount = np.zeros(len(profile2))
    amount[i] = new_clv - clv
    factor_text = np.full(len(profile2), "exposure", dtype=object)
    factor_text[i] = top
    factor_text[m:] = "new_client"
    amount[m:] = new_v["clv_cny"].to_numpy()
    facts2["clv_change_top_factor"] = _text(factor_text)
    facts2["clv_change_top_factor_cny"] = amount
    changes = {"gone": int(n - m), "new": int(n_new), "changed": int(k), "downgraded": int(down.sum()),
               "collateral_falls": int(falls.sum()), "cured": int(cure.sum()), "newly_overdue": int(fresh.sum())}  # fmt: skip
    return profile2, values2, facts2, changes


def build_context(profile, values, facts, previous_profile=None, previous_values=None):  # noqa: ANN001, ANN201
    """portfolio.CONTEXT_COLUMNS as job._context builds them: the previous date's DPD, grade and collateral
    coverage (profile) and CLV (values), left-joined on today's clients (all null on the first run), the CLV
    attribution's main factor, the maturing share and a recent renewal (null without facilities)."""
    import numpy as np
    import pandas as pd

    context = pd.DataFrame({"client_id": profile["client_id"]})
    if previous_profile is not None:
        before = pd.DataFrame({
            "client_id": previous_profile["client_id"],
            "current_dpd_prev": previous_profile["current_dpd"].astype(float),
            "current_grade_prev": previous_profile["current_grade"],
            "current_grade_rank_prev": previous_profile["current_grade_rank"],
            "collateral_coverage_ratio_prev": previous_profile["collateral_coverage_ratio"],
        }).merge(previous_values[["client_id", "clv_cny"]].rename(columns={"clv_cny": "clv_prev_cny"}), on="client_id")  # fmt: skip
        context = context.merge(before, on="client_id", how="left", validate="one_to_one")
    else:
        n = len(context)
        context["current_dpd_prev"] = np.nan
        context["current_grade_prev"] = pd.array([None] * n, dtype="str")
        context["current_grade_rank_prev"] = pd.array([None] * n, dtype="Int32")
        context["collateral_coverage_ratio_prev"] = np.nan
        context["clv_prev_cny"] = np.nan
    if "clv_change_top_factor" not in facts.columns:  # the first date: the CLV attribution of a quiet day
        facts = facts.assign(clv_change_top_factor=_text(np.full(len(facts), "exposure", dtype=object)),
                             clv_change_top_factor_cny=0.0)  # fmt: skip
    context = context.merge(facts, on="client_id", how="left", validate="one_to_one")
    from python_tasks.segments.portfolio import CONTEXT_COLUMNS

    return context[list(CONTEXT_COLUMNS)]


# --- stages (each runs in its own child process) -----------------------------------------------------


def _paths(home: Path) -> dict[str, Path]:
    paths = {"manifest": home / "portfolio.json", "catalogue": home / "catalogue.parquet"}
    for day in DAYS:
        for frame in ("profile", "values", "context"):
            paths[f"{day}_{frame}"] = home / day / f"{frame}.parquet"
        paths[f"{day}_out"] = home / day / "out"
    return paths


def _wanted(args: argparse.Namespace) -> dict:
    return {"version": GENERATOR_VERSION, "scale": args.scale, "seed": args.seed, "clients": SCALES[args.scale],
            "changed_share": args.changed_share}  # fmt: skip


def stage_generate(home: Path, args: argparse.Namespace) -> dict:
    """The two dates' inputs, unless the cache already holds the same scale, seed, change rate and version."""
    paths = _paths(home)
    wanted = _wanted(args)
    inputs = [p for name, p in paths.items() if name != "manifest" and not name.endswith("_out")]
    if paths["manifest"].exists() and all(p.exists() for p in inputs):
        manifest = json.loads(paths["manifest"].read_text())
        if {k: manifest.get(k) for k in wanted} == wanted:
            return {"stage": "generate", "reused": True, "seconds": 0.0, "portfolio": manifest["portfolio"]}
    paths["manifest"].unlink(missing_ok=True)  # written last: a half-written portfolio is never reused
    started = time.perf_counter()
    n = SCALES[args.scale]
    profile1, values1, facts1 = synthetic_day(n, args.seed, DAYS["day1"])
    context1 = build_context(profile1, values1, facts1)
    profile2, values2, facts2, changes = next_day(
        profile1, values1, facts1, args.seed, DAYS["day2"], args.changed_share
    )
    context2 = build_context(profile2, values2, facts2, profile1, values1)
    for day, frames in (("day1", (profile1, values1, context1)), ("day2", (profile2, values2, context2))):
        (home / day).mkdir(parents=True, exist_ok=True)
        for name, frame in zip(("profile", "values", "context"), frames, strict=True):
            frame.to_parquet(paths[f"{day}_{name}"], index=False)
    catalogue().to_parquet(paths["catalogue"], index=False)
    seconds = time.perf_counter() - started
    status = profile1["client_status"].value_counts(normalize=True).round(3).to_dict()
    portfolio = {
        "clients_day1": len(profile1),
        "clients_day2": len(profile2),
        "profile_columns": profile1.shape[1],
        "status_mix": status,
        "borrowers": int(profile1["has_credit_exposure"].sum()),
        "ead_cny": round(float(profile1["ead_cny"].sum()), 0),
        "changes": changes,
        "parquet_mb": round(sum(p.stat().st_size for p in inputs) / 2**20, 1),
        "profile_mb_in_memory": round(profile1.memory_usage(deep=True).sum() / 2**20, 1),
    }
    paths["manifest"].write_text(json.dumps({**wanted, "portfolio": portfolio}, indent=2))
    return {"stage": "generate", "reused": False, "seconds": round(seconds, 2), "portfolio": portfolio}


class _Clock:
    """Timestamps of segment_portfolio's progress messages and time spent in the functions it calls."""

    def __init__(self, memory: _Memory) -> None:
        self.marks: list[tuple[str, float]] = []
        self.calls: dict[str, list[float]] = {}
        self.memory = memory

    def progress(self, message: str) -> None:
        self.marks.append((message, time.perf_counter()))
        phase = PHASES[len(self.marks) - 1] if len(self.marks) <= len(PHASES) else f"step {len(self.marks)}"
        self.memory.checkpoint(f"segment_portfolio: {phase}")
        print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)

    def wrap(self, module) -> None:  # noqa: ANN001 - python_tasks.segments.portfolio
        """Replace the module's references to TIMED by timed wrappers (the functions themselves are unchanged)."""
        import functools

        for name in TIMED:
            original = getattr(module, name)

            @functools.wraps(original)
            def timed(*a, _original=original, _name=name, **kw):  # noqa: ANN002, ANN003, ANN202
                started = time.perf_counter()
                try:
                    return _original(*a, **kw)
                finally:
                    self.calls.setdefault(_name, []).append(time.perf_counter() - started)

            setattr(module, name, timed)

    def phases(self, started: float, finished: float) -> dict[str, float]:
        names = [*PHASES[: len(self.marks)], *(f"step {i + 1}" for i in range(len(PHASES), len(self.marks)))]
        edges = [started, *(t for _, t in self.marks), finished]
        out = {name: round(edges[i + 1] - edges[i], 3) for i, name in enumerate(names)}
        out[LAST_PHASE] = round(edges[-1] - edges[-2], 3)
        return out


class _Memory:
    """Resident memory at checkpoints and the peak of each step between them.

    Linux keeps a process's peak (VmHWM); writing 5 to /proc/self/clear_refs resets it, so each step's own
    peak can be read. The reset also clears the figure wait4() reports for the whole process, so the
    process's overall peak is kept here (``peak_mb``) and the parent takes the larger of the two. Where the
    reset is not allowed, each checkpoint shows the peak so far instead.
    """

    def __init__(self) -> None:
        self.steps: dict[str, dict[str, float]] = {}
        self.peak_mb = 0.0
        self.resettable = True

    @staticmethod
    def _status() -> tuple[float, float]:
        fields = {}
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    fields[line.split(":")[0]] = int(line.split()[1]) / 1024  # kB
        return round(fields["VmRSS"], 1), round(fields["VmHWM"], 1)

    def checkpoint(self, step: str) -> None:
        """Close ``step``: resident memory now and the peak since the previous checkpoint."""
        rss, hwm = self._status()
        self.peak_mb = max(self.peak_mb, hwm)
        self.steps[step] = {"rss_mb": rss, "step_peak_mb": hwm}
        if self.resettable:
            try:
                with open("/proc/self/clear_refs", "w") as fh:
                    fh.write("5")
            except OSError:
                self.resettable = False

    def record(self) -> dict:
        return {"steps": self.steps, "peak_mb": self.peak_mb, "step_peaks": self.resettable}


def _read_day(home: Path, day: str, profile_columns: list[str]):  # noqa: ANN202 - (profile, values, context, catalogue)
    """The day's inputs; of the profile only the columns the job selects (portfolio.profile_columns)."""
    import pandas as pd

    paths = _paths(home)
    profile = pd.read_parquet(paths[f"{day}_profile"], columns=profile_columns)
    return (profile, *(pd.read_parquet(paths[k]) for k in (f"{day}_values", f"{day}_context", "catalogue")))


def _segment(home: Path, day: str, previous_from: Path | None, memory: _Memory) -> tuple[dict, object]:
    """Read the day's inputs, build the previous run (if any), run segment_portfolio; timings and memory."""
    import numpy as np
    import pandas as pd
    import pyarrow
    import sklearn

    from python_tasks.segments import portfolio
    from python_tasks.segments.params import load_segment_params
    from python_tasks.settings import SEGMENT_RULES_FILE

    memory.checkpoint("interpreter and imports")
    params = load_segment_params(SEGMENT_RULES_FILE)
    started = time.perf_counter()
    profile, values, context, products = _read_day(home, day, portfolio.profile_columns(params))
    read = time.perf_counter()
    memory.checkpoint("read the inputs (Parquet)")
    previous = _previous_run(previous_from, DAYS[day], params) if previous_from else None
    built = time.perf_counter()
    if previous_from:
        memory.checkpoint("previous run (job._previous_run)")
    clock = _Clock(memory)
    clock.wrap(portfolio)
    began = time.perf_counter()
    result = portfolio.segment_portfolio(
        profile, values, products, context, params, DAYS[day], previous, progress=clock.progress
    )
    finished = time.perf_counter()
    memory.checkpoint(f"segment_portfolio: {LAST_PHASE}")
    tables = result.tables
    segment_s = finished - began
    record = {
        "clients": len(profile),
        "profile_columns": profile.shape[1],
        "read_s": round(read - started, 3),
        "previous_s": round(built - read, 3),
        "segment_s": round(segment_s, 3),
        "clients_per_s": round(len(profile) / segment_s),
        "phases": clock.phases(began, finished),
        "calls": {name: {"s": round(sum(t), 3), "calls": len(t)} for name, t in clock.calls.items()},
        "rows": {name: len(frame) for name, frame in tables.items()},
        "clusters": result.clusters,
        "kept_by_fingerprint": result.kept_by_fingerprint,
        "signals": result.signal_counts,
        "previous": None
        if previous is None
        else {
            "as_of_date": previous.as_of_date.isoformat(),
            "segments": len(previous.segments),
            "open_signals": len(previous.open_signals),
            "clusters": None if previous.clusters is None else len(previous.clusters.centroids),
        },
        "versions": {
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "scikit-learn": sklearn.__version__,
            "pyarrow": pyarrow.__version__,
        },  # fmt: skip
    }
    return record, result


def _previous_run(folder: Path, day: date, params):  # noqa: ANN001, ANN202 - PreviousRun | None
    """The job's own ``_previous_run`` over DuckDB views of the stored tables (Parquet in ``folder``)."""
    import duckdb

    from python_tasks.segments import job, outputs

    con = duckdb.connect()
    try:
        con.execute(f"CREATE SCHEMA {outputs.SCHEMA}")
        for table in ("runs", "client_segments", "warning_signals", "cluster_centroids"):
            path = str(folder / f"{table}.parquet").replace("'", "''")
            con.execute(f"CREATE VIEW {outputs.SCHEMA}.{table} AS SELECT * FROM read_parquet('{path}')")
        return job._previous_run(con, day, params)
    finally:
        con.close()


def _store(result, params, day: date, run_id: str, folder: Path, seconds: float) -> dict:  # noqa: ANN001
    """Write the run's tables as the job does (replace_partition into the segments tables: types and
    constraints checked), here into an in-memory DuckDB, then copy each to Parquet for the next date."""
    import hashlib
    from datetime import UTC, datetime

    import duckdb
    import pandas as pd

    from python_tasks.io.warehouse import replace_partition
    from python_tasks.segments import outputs

    folder.mkdir(parents=True, exist_ok=True)
    counts, written = result.signal_counts, {}
    params_json = params.model_dump_json()
    now = datetime.now(UTC)
    run = pd.DataFrame([{
        "as_of_date": day, "run_id": run_id, "params_version": params.version,
        "params_sha256": hashlib.sha256(params_json.encode()).hexdigest(), "params_json": params_json,
        "previous_as_of_date": None, "clients": len(result.tables["client_segments"]),
        "value_high_min_cny": result.thresholds.high_min_cny, "value_low_max_cny": result.thresholds.low_max_cny,
        "clusters": result.clusters, "clusters_kept_by_fingerprint": result.kept_by_fingerprint,
        "signals_new": counts.get("new", 0), "signals_active": counts.get("active", 0),
        "signals_closed": counts.get("closed", 0), "watch_list_clients": len(result.tables["watch_list"]),
        "rows_written": sum(len(t) for t in result.tables.values()), "seconds": seconds, "started_at": now,
        "finished_at": now,
    }])  # fmt: skip
    con = duckdb.connect()
    try:
        for statement in outputs.ddl():
            con.execute(statement)
        for table, data in [*result.tables.items(), ("runs", run)]:
            if table != "runs":
                data = data.assign(as_of_date=day, _run_id=run_id)
            written[table] = replace_partition(con, f"{outputs.SCHEMA}.{table}", outputs.columns(table), day, data)
            path = str(folder / f"{table}.parquet").replace("'", "''")
            con.execute(f"COPY {outputs.SCHEMA}.{table} TO '{path}' (FORMAT parquet)")
            con.execute(f"DELETE FROM {outputs.SCHEMA}.{table}")
    finally:
        con.close()
    return written


def stage_day1(home: Path, args: argparse.Namespace) -> dict:
    """The first run: segment_portfolio without a previous run; its tables stored for day 2."""
    from python_tasks.segments.params import load_segment_params
    from python_tasks.settings import SEGMENT_RULES_FILE

    memory = _Memory()
    record, result = _segment(home, "day1", None, memory)
    started = time.perf_counter()
    params = load_segment_params(SEGMENT_RULES_FILE)
    stored = _store(result, params, DAYS["day1"], f"bench-{args.scale}-day1", _paths(home)["day1_out"],
                    record["segment_s"])  # fmt: skip
    record["write_s"] = round(time.perf_counter() - started, 3)
    record["stored_rows"] = stored
    memory.checkpoint("store the tables (DuckDB, Parquet)")
    record["memory"] = memory.record()
    record["seconds"] = round(record["read_s"] + record["segment_s"] + record["write_s"], 3)
    return {"stage": "day1", **record}


def stage_day2(home: Path, args: argparse.Namespace) -> dict:
    """The daily steady state: the previous run from day 1's stored tables, then segment_portfolio."""
    out = _paths(home)["day1_out"]
    if not (out / "runs.parquet").exists():
        raise SystemExit(f"day 1's tables are missing from {out}: run the day1 stage first")
    memory = _Memory()
    record, _ = _segment(home, "day2", out, memory)
    record["memory"] = memory.record()
    record["seconds"] = round(record["read_s"] + record["previous_s"] + record["segment_s"], 3)
    return {"stage": "day2", **record}


STAGES = {"generate": stage_generate, "day1": stage_day1, "day2": stage_day2}


# --- summary and report ------------------------------------------------------------------------------


def _segment_peak(record: dict) -> float:
    """The peak RSS during segment_portfolio: its steps' peaks (the process's peak so far where those are
    not separate)."""
    return max(
        m["step_peak_mb"] for step, m in record["memory"]["steps"].items() if step.startswith("segment_portfolio")
    )


def summarise(scale: str, results: dict) -> dict:
    """The verdicts against the target (set at L; reported, not judged, at S and M)."""
    day2 = results["day2"]
    at_target_scale = scale == TARGETS["target_scale"]
    runs = results.get("day2_runs", [day2])
    segment_peak = _segment_peak(day2)
    return {
        "scale": scale,
        "clients": day2["clients"],
        "day2_segment_s": day2["segment_s"],
        "day2_segment_s_runs": [r["segment_s"] for r in runs],
        "day2_clients_per_s": day2["clients_per_s"],
        "day2_stage_wall_s": day2["wall_s"],
        "day2_peak_rss_mb": day2["peak_rss_mb"],
        "day2_segment_peak_rss_mb": segment_peak,
        "targets": {
            "segment_s": {
                "target": TARGETS["segment_s"],
                "measured": day2["segment_s"],
                "met": day2["segment_s"] < TARGETS["segment_s"] if at_target_scale else None,
            },
            "stage_wall_s": {
                "target": TARGETS["segment_s"],
                "measured": day2["wall_s"],
                "met": day2["wall_s"] < TARGETS["segment_s"] if at_target_scale else None,
            },
            "segment_peak_rss_mb": {
                "target": TARGETS["peak_rss_mb"],
                "measured": segment_peak,
                "met": segment_peak < TARGETS["peak_rss_mb"] if at_target_scale else None,
            },
            "peak_rss_mb": {
                "target": TARGETS["peak_rss_mb"],
                "measured": day2["peak_rss_mb"],
                "met": day2["peak_rss_mb"] < TARGETS["peak_rss_mb"] if at_target_scale else None,
            },
        },
        "machine": machine(day2.get("versions", {})),
    }


def _code_version() -> dict:
    """The commit measured, and whether python_tasks/ or config/ differ from it (the figures then describe
    uncommitted code)."""
    import subprocess

    def git(*argv: str) -> str:
        return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()

    try:
        return {"commit": git("rev-parse", "--short", "HEAD"),
                "uncommitted_code": bool(git("status", "--porcelain", "--", "python_tasks", "config"))}  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return {}


def report(scale: str, results: dict, summary: dict) -> str:
    """The Markdown report."""
    gen, day1, day2 = results["generate"], results["day1"], results["day2"]
    p, mach, t, code = gen["portfolio"], summary["machine"], summary["targets"], summary.get("code")
    ch = p["changes"]
    status = ", ".join(f"{k} {v:.0%}" for k, v in p["status_mix"].items())
    versions = ", ".join(f"{k} {mach[k]}" for k in ("numpy", "pandas", "scikit-learn", "pyarrow") if k in mach)
    lines = [
        f"# Segmentation benchmark, scale {scale}",
        "",
        f"Machine: {mach['processor']}, {mach['cores']} cores, {mach['ram_gib']} GiB RAM, Python {mach['python']}, "
        f"{versions}."
        + (
            f" Code: commit {code['commit']}"
            + (" with uncommitted changes in python_tasks/ or config/." if code["uncommitted_code"] else ".")
            if code
            else ""
        ),
        "",
        f"Portfolio (synthetic, seeded): {p['clients_day1']:,} clients on day 1 ({status}; {p['borrowers']:,} "
        f"borrowers), {p['clients_day2']:,} on day 2 ({ch['new']:,} new, {ch['gone']:,} gone, {ch['changed']:,} "
        f"with changed features of which {ch['downgraded']:,} downgraded and {ch['collateral_falls']:,} with "
        f"falling collateral; overdue clients a day further past due, {ch['cured']:,} cured, {ch['newly_overdue']:,} "
        f"newly overdue). Profile: all {p['profile_columns']} columns of marts.fct_client_profile, "
        f"{p['profile_mb_in_memory']:,} MiB in memory; {p['parquet_mb']} MB of Parquet for both dates.",
        "",
        "| stage | what | s (the work) | process wall s | CPU s | peak RSS MiB | clients/s | others' CPU s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| generate | both dates' inputs to Parquet{' (reused from the cache)' if gen['reused'] else ''} | "
        f"{gen['seconds']:.1f} | {gen['wall_s']:.1f} | {gen['cpu_s']:.1f} | {gen['peak_rss_mb']:,.0f} | | "
        f"{gen.get('others_cpu_s', '')} |",
        f"| day1 | read {day1['read_s']:.1f} s + `segment_portfolio` (first run) {day1['segment_s']:.1f} s + store "
        f"{day1['write_s']:.1f} s | {day1['seconds']:.1f} | {day1['wall_s']:.1f} | {day1['cpu_s']:.1f} | "
        f"{day1['peak_rss_mb']:,.0f} | {day1['clients_per_s']:,} | {day1.get('others_cpu_s', '')} |",
        f"| **day2** | read {day2['read_s']:.1f} s + previous run {day2['previous_s']:.1f} s + `segment_portfolio` "
        f"**{day2['segment_s']:.1f} s** | {day2['seconds']:.1f} | {day2['wall_s']:.1f} | {day2['cpu_s']:.1f} | "
        f"**{day2['peak_rss_mb']:,.0f}** | {day2['clients_per_s']:,} | {day2.get('others_cpu_s', '')} |",
        "",
        '"s (the work)" is measured inside the child around the work itself; the process wall adds the '
        "interpreter start and imports; CPU and peak RSS (wait4) are the whole child process's. clients/s: "
        "clients per second of `segment_portfolio`. others' CPU s: CPU time the rest of the machine used while "
        "the stage ran (/proc/stat): well above 0, another process competed for the cores and the figures are "
        "disturbed.",
    ]
    runs = results.get("day2_runs", [])
    if len(runs) > 1:
        lines += [
            "",
            f"Day 2 ran {len(runs)} times, each in a fresh process; the table shows the median run. "
            "`segment_portfolio` s: "
            + ", ".join(f"{r['segment_s']:.1f}" for r in runs)
            + "; peak RSS MiB: "
            + ", ".join(f"{r['peak_rss_mb']:,.0f}" for r in runs)
            + ".",
        ]
    lines += [
        "",
        "## Where the time goes",
        "",
        "By `segment_portfolio`'s progress messages:",
        "",
        "| phase | day 1 s | day 2 s | day 2 share |",
        "| --- | ---: | ---: | ---: |",
    ]
    for phase, s2 in day2["phases"].items():
        s1 = day1["phases"].get(phase, float("nan"))
        lines.append(f"| {phase} | {s1:.2f} | {s2:.2f} | {s2 / day2['segment_s']:.0%} |")
    lines += [
        "",
        "By the functions it calls (timers around python_tasks.segments.portfolio's references; those of "
        "`classify` are inside it, the rest of `classify` is its merge, policy columns, labels and concat):",
        "",
        "| function | day 1 s | day 2 s | day 2 share |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name in TIMED:
        c2, c1 = day2["calls"].get(name), day1["calls"].get(name)
        if c2 is None:
            continue
        label = f"&nbsp;&nbsp;{name}" if name in IN_CLASSIFY else f"`{name}`"
        lines.append(
            f"| {label} | {c1['s'] if c1 else float('nan'):.2f} | {c2['s']:.2f} | {c2['s'] / day2['segment_s']:.0%} |"
        )
    inner = sum(day2["calls"][n]["s"] for n in IN_CLASSIFY if n in day2["calls"])
    outer = sum(day2["calls"][n]["s"] for n in TIMED if n not in IN_CLASSIFY and n in day2["calls"])
    lines += [
        f"| &nbsp;&nbsp;rest of classify | | {day2['calls']['classify']['s'] - inner:.2f} | "
        f"{(day2['calls']['classify']['s'] - inner) / day2['segment_s']:.0%} |",
        f"| rest of segment_portfolio | | {day2['segment_s'] - outer:.2f} | "
        f"{(day2['segment_s'] - outer) / day2['segment_s']:.0%} |",
        "",
        "## Where the memory goes",
        "",
        "Resident memory at the end of each step of the day stages and the peak during the step"
        + (
            ""
            if day2["memory"]["step_peaks"]
            else " (here: the peak so far, the system did not allow resetting it per step)"
        )
        + ":",
        "",
        "| step | day 1 resident MiB | day 1 peak MiB | day 2 resident MiB | day 2 peak MiB |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    steps1, steps2 = day1["memory"]["steps"], day2["memory"]["steps"]
    for step in [*steps2, *(s for s in steps1 if s not in steps2)]:
        cells = [
            f"{m['rss_mb']:,.0f} | {m['step_peak_mb']:,.0f}" if m else " | "
            for m in (steps1.get(step), steps2.get(step))
        ]
        lines.append(f"| {step} | {cells[0]} | {cells[1]} |")
    prev = day2["previous"] or {}
    signals = ", ".join(f"{k} {v:,}" for k, v in sorted(day2["signals"].items()))
    rows = ", ".join(f"{k} {v:,}" for k, v in day2["rows"].items())
    lines += [
        "",
        "## What day 2 did",
        "",
        f"Previous run {prev.get('as_of_date')}: {prev.get('segments', 0):,} segment rows, "
        f"{prev.get('open_signals', 0):,} open signals, {prev.get('clusters')} clusters. Day 2: {day2['clusters']} "
        f"clusters ({day2['kept_by_fingerprint']:,} clients kept their previous cluster: unchanged features); "
        f"signals {signals}; output rows: {rows}.",
        "",
        "## Target",
        "",
        f"* `segment_portfolio` on day 2 (segmentation, clusters, offers, warnings): {verdict(t['segment_s'], 's')};",
        f"* the whole day-2 process (interpreter, imports, Parquet read, previous run and `segment_portfolio`): "
        f"{verdict(t['stage_wall_s'], 's')};",
        f"* peak RSS during day 2's `segment_portfolio`: {verdict(t['segment_peak_rss_mb'], 'MiB')};",
        f"* peak RSS of the whole day-2 process (with the inputs read and the previous run built): "
        f"{verdict(t['peak_rss_mb'], 'MiB')}.",
    ]
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> Path | None:
    """Bars of day 2's time per phase and of peak memory per stage; None when matplotlib is not installed."""
    plt = pyplot()
    if plt is None:
        return None
    phases = results["day2"]["phases"]
    stages = [s for s in ("generate", "day1", "day2") if s in results]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
    ax1.barh(list(phases), list(phases.values()))
    ax1.set_xlabel("day 2 s")
    ax2.bar(stages, [results[s]["peak_rss_mb"] for s in stages])
    ax2.set_ylabel("peak RSS MiB")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run(
    scale: str,
    *,
    home: Path,
    results_dir: Path,
    seed: int = 42,
    changed_share: float = DEFAULT_CHANGED_SHARE,
    repeat: int = 1,
) -> dict:
    """All stages, each in its own process (day 2 ``repeat`` times), then the report; returns the summary."""
    args = argparse.Namespace(scale=scale, seed=seed, changed_share=changed_share)
    name = f"segments-{scale}" + (f"-changed{changed_share:g}" if changed_share != DEFAULT_CHANGED_SHARE else "")
    home.mkdir(parents=True, exist_ok=True)
    print(f"segmentation benchmark, {scale} scale: {SCALES[scale]:,} clients, working folder {home}", flush=True)
    results: dict = {}
    steps = [("generate", "synthetic portfolio, two dates"), ("day1", "first run, tables stored")]
    steps += [("day2", f"daily run with the previous run (run {i + 1} of {repeat})") for i in range(repeat)]
    for i, (stage, what) in enumerate(steps):
        print(f"running {stage}: {what} …", flush=True)
        r = _child(stage, args, home, run=i)
        if stage == "day2":
            results.setdefault("day2_runs", []).append(r)
        else:
            results[stage] = r
        extra = (
            ("reused" if r["reused"] else f"generated in {r['seconds']} s")
            if stage == "generate"
            else f"segment_portfolio {r['segment_s']} s, {r['clients_per_s']:,} clients/s"
        )
        print(
            f"  {stage}: wall {r['wall_s']} s, CPU {r['cpu_s']} s, peak {r['peak_rss_mb']:,} MiB; {extra}", flush=True
        )
    runs = sorted(results["day2_runs"], key=lambda r: r["segment_s"])
    results["day2"] = runs[(len(runs) - 1) // 2]  # the median run (the lower one of an even count)
    summary = summarise(scale, results)
    summary["code"] = _code_version()
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"{name}.json").write_text(json.dumps({"summary": summary, "stages": results}, indent=2))
    text = report(scale, results, summary)
    (results_dir / f"{name}.md").write_text(text)
    chart = plot(results, results_dir / f"{name}.png")
    print(text)
    print(f"written: {results_dir / f'{name}.md'}, .json" + (", .png" if chart else " (no chart: matplotlib absent)"))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=sorted(SCALES), default="M")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--changed-share",
        type=float,
        default=DEFAULT_CHANGED_SHARE,
        help=f"share of clients whose features change from day 1 to day 2 (default {DEFAULT_CHANGED_SHARE})",
    )
    parser.add_argument("--repeat", type=int, default=1, help="day-2 runs, each in a fresh process (median reported)")
    parser.add_argument(
        "--home", help="working folder with the cached inputs (default var/bench/segments/<scale>[-changed<share>])"
    )
    parser.add_argument("--results", help="folder of the report (default benchmarks/results)")
    parser.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 0.0 <= args.changed_share <= 1.0:
        parser.error("--changed-share must be within [0, 1]")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    folder = args.scale + (f"-changed{args.changed_share:g}" if args.changed_share != DEFAULT_CHANGED_SHARE else "")
    home = (Path(args.home) if args.home else ROOT / "var" / "bench" / "segments" / folder).resolve()
    if args.stage:
        print(json.dumps(STAGES[args.stage](home, args), default=str))
        return
    results_dir = Path(args.results).resolve() if args.results else RESULTS
    run(args.scale, home=home, results_dir=results_dir, seed=args.seed, changed_share=args.changed_share,
        repeat=args.repeat)  # fmt: skip


if __name__ == "__main__":
    main()
