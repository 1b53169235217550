"""CLV engine benchmark: the vectorised engine against a per-client Python loop, at S, M or L scale.

    python -m benchmarks.clv --scale L [--loop-sample N] [--home DIR]      (or: make bench-clv SCALE=L)

Generates (or reuses) a synthetic portfolio shaped like the warehouse's (S 2 000, M 100 000, L 1 000 000
clients, about 2.6 facilities per borrowing client, prospects with one synthetic facility, defaulted
clients, every repayment type, collateral type and asset class) as Parquet under ``var/bench/clv/<scale>``,
then measures each stage in its own child process, so that each peak-memory figure is its own:

1. ``generate``: the synthetic portfolio (reused when the cache holds the same scale, seed and version);
2. ``value``: read the Parquet, ``python_tasks.clv.engine.value_portfolio`` for every client under the
   parameters' scenarios (config/clv_params.yml: monthly periods over 5 years, 3 scenarios), write the
   result to Parquet;
3. ``loop``: ``benchmarks/clv_loop.py``, the same model as a plain per-client, per-period Python loop, on
   a seeded sample of clients (2 000 by default; all of them at S); its time per client is extrapolated to
   the whole portfolio and compared with the engine's time;
4. ``check``: the loop's values against the engine's for the sample's clients, every scenario: CLV and its
   present-value components must agree within 1e-6 relative; the run fails (exit status 1) otherwise.

Writes ``benchmarks/results/clv-<scale>.json`` and ``.md`` (and ``.png`` when matplotlib is installed):
wall, CPU and peak RSS per stage, rows/s, the speed-up, the agreement, and the targets (at L: the value
stage under 90 s and 6 GiB; at every scale: the engine at least 20× faster than the loop).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

from benchmarks.measure import machine, pyplot, run_stage, verdict

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PRODUCTS_CSV = ROOT / "dbt_project" / "seeds" / "ref_products.csv"
SCALES = {"S": 2_000, "M": 100_000, "L": 1_000_000}
DEFAULT_LOOP_SAMPLE = 2_000
#: bump when the synthetic portfolio changes: a cached portfolio of another version is generated again
GENERATOR_VERSION = 2
TOLERANCE = 1e-6
#: compared between the loop and the engine; relative difference |loop − engine| / max(|engine|, 1 CNY)
COMPARED = (
    "clv_cny", "pv_nii_cny", "pv_fee_cny", "pv_cost_cny", "pv_expected_loss_cny", "pv_capital_charge_cny",
    "acquisition_cost_cny",
)  # fmt: skip
TARGETS = {"value_wall_s": 90.0, "value_peak_rss_mb": 6 * 1024.0, "speedup": 20.0, "target_scale": "L"}


def _child(stage: str, args: argparse.Namespace, home: Path) -> dict:
    """Run one stage in a fresh interpreter; its own peak RSS and CPU time come from wait4().

    The parent only spawns and waits (no NumPy or pandas imported here): a child would otherwise start
    from a larger address space and report it as its own peak.
    """
    argv = ["-m", "benchmarks.clv", "--stage", stage, "--home", str(home), "--scale", args.scale,
            "--seed", str(args.seed), "--loop-sample", str(args.loop_sample)]  # fmt: skip
    if args.clients_per_chunk:
        argv += ["--clients-per-chunk", str(args.clients_per_chunk)]
    return run_stage(argv, stage, home / f".clv-{stage}", dict(os.environ))


# --- the synthetic portfolio -------------------------------------------------------------------------

#: lending products (ref_products) and their share of facilities
PRODUCT_MIX = {
    "working_capital_loan": 0.38, "credit_line": 0.20, "trade_finance": 0.13, "fixed_asset_loan": 0.15,
    "project_finance": 0.08, "ip_pledge_loan": 0.06,
}  # fmt: skip
#: original tenor range in years by product (remaining maturity is a uniform share of it)
TENOR_YEARS = {
    "working_capital_loan": (0.5, 3.0), "credit_line": (1.0, 3.0), "trade_finance": (0.25, 1.0),
    "fixed_asset_loan": (3.0, 10.0), "project_finance": (5.0, 15.0), "ip_pledge_loan": (1.0, 3.0),
}  # fmt: skip
#: median drawn balance by product, CNY
MEDIAN_DRAWN = {
    "working_capital_loan": 5e6, "credit_line": 4e6, "trade_finance": 2e6, "fixed_asset_loan": 20e6,
    "project_finance": 80e6, "ip_pledge_loan": 3e6,
}  # fmt: skip
#: share of facilities with collateral, by product (as the sample-data generator)
SECURED = {
    "working_capital_loan": 0.5, "credit_line": 0.3, "trade_finance": 0.6, "fixed_asset_loan": 0.9,
    "project_finance": 1.0, "ip_pledge_loan": 1.0,
}  # fmt: skip
COLLATERAL_MIX = {
    "real_estate": 0.35, "land_use_right": 0.10, "equipment": 0.12, "receivables": 0.13, "deposit_pledge": 0.05,
    "ip_rights": 0.04, "guarantee": 0.16, "equity_pledge": 0.05,
}  # fmt: skip
#: rating master scale (annual PD by grade) and the share of rated clients in each grade
MASTER_SCALE = (0.0005, 0.001, 0.0018, 0.003, 0.005, 0.009, 0.016, 0.03, 0.06, 0.12, 0.2)
GRADE_MIX = (0.03, 0.06, 0.10, 0.15, 0.18, 0.17, 0.13, 0.09, 0.05, 0.025, 0.015)
ASSET_CLASS_MIX = {"normal": 0.94, "special_mention": 0.045, "substandard": 0.01, "doubtful": 0.005}
#: sBG retention (alpha, beta) by enterprise size segment (large, medium, small, micro)
SEGMENTS = ("large", "medium", "small", "micro")
SBG_BY_SEGMENT = ((0.70, 4.6), (0.78, 4.1), (0.85, 3.8), (0.92, 3.4))
GDP_OUTLOOK = {"baseline": 4.8, "adverse": 3.6, "severe": 2.1}
LPR_1Y, LPR_5Y = 3.0, 3.5


def _products() -> dict[str, dict]:
    """Cost columns and CCF of the lending products, from the dbt seed."""
    with PRODUCTS_CSV.open(encoding="utf-8") as fh:
        return {row["product_code"]: row for row in csv.DictReader(fh) if row["product_code"] in PRODUCT_MIX}


def synthetic_portfolio(n_clients: int, seed: int, collateral_types: list[str], asset_classes: list[str]):  # noqa: ANN201 - (clients, facilities) DataFrames
    """A deterministic portfolio in the engine's input shape (engine.CLIENT_COLUMNS, FACILITY_COLUMNS).

    3 % prospects (one synthetic facility each, as ``python_tasks.clv.inputs.prospect_facilities`` builds
    it: a bullet working-capital loan of the median size and rate of those on book, the product's typical
    tenor, unsecured), of the others 1.5 % defaulted and 12 % without any facility (deposit or fee-only
    clients); a borrower has 1 + Poisson(1.6) facilities. The frames carry the extra columns the CLV job
    passes along (``pd_source`` and ``segment``; ``facility_id`` and ``product_code``). Facilities come
    shuffled, as from a warehouse query.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = n_clients
    products = _products()

    # clients
    is_prospect = rng.random(n) < 0.03
    is_defaulted = ~is_prospect & (rng.random(n) < 0.015)
    borrows = ~is_prospect & ((rng.random(n) >= 0.12) | is_defaulted)
    segment = rng.choice(4, n, p=[0.05, 0.20, 0.45, 0.30])
    rated = rng.random(n) < 0.75
    grade_pd = np.array(MASTER_SCALE)[rng.choice(len(MASTER_SCALE), n, p=np.array(GRADE_MIX) / sum(GRADE_MIX))]
    scorecard_pd = np.clip(np.exp(rng.normal(np.log(0.01), 1.2, n)), 0.0005, 0.2)
    ttc_pd = np.where(is_defaulted, 1.0, np.where(rated, grade_pd, scorecard_pd))
    classes = [c for c in ASSET_CLASS_MIX if c in asset_classes]
    weights = np.array([ASSET_CLASS_MIX[c] for c in classes])
    asset_class = np.array(classes, dtype=object)[rng.choice(len(classes), n, p=weights / weights.sum())]
    bad = [c for c in ("substandard", "doubtful", "loss") if c in asset_classes]
    asset_class = np.where(is_defaulted, np.array(bad, dtype=object)[rng.integers(0, len(bad), n)], asset_class)
    asset_class = np.where(~is_defaulted & (rng.random(n) < 0.003), None, asset_class)  # not yet classified
    size_factor = np.exp(np.array([1.2, 0.5, 0.0, -0.6])[segment] + rng.normal(0.0, 0.6, n))
    turnover = np.exp(rng.normal(np.log(1.2e8), 1.0, n)) * size_factor
    turnover = np.where(rng.random(n) < 0.05, np.nan, turnover)
    fees = np.where(rng.random(n) < 0.35, 0.0, np.exp(rng.normal(np.log(4e4), 1.2, n)) * size_factor)
    section_growth = rng.normal(4.5, 2.5, 20)
    industry_growth = np.where(rng.random(n) < 0.01, np.nan, section_growth[rng.integers(0, 20, n)])
    revenue_growth = np.where(rng.random(n) < 0.15, np.nan, rng.normal(0.05, 0.12, n))
    tenure = np.where(is_prospect, 0.0, np.minimum(rng.exponential(6.0, n), 30.0))
    alpha, beta = (np.array(SBG_BY_SEGMENT)[segment, i] for i in (0, 1))
    clients = pd.DataFrame(
        {
            "client_id": pd.Series(np.arange(1, n + 1)).map("C{:09d}".format),
            "is_prospect": is_prospect,
            "is_defaulted": is_defaulted,
            "ttc_pd": ttc_pd,
            "turnover_cny": turnover,
            "fee_income_12m_cny": fees,
            "revenue_growth_yoy": revenue_growth,
            "industry_output_growth_pct": industry_growth,
            **{f"gdp_outlook_{name}_pct": np.full(n, value) for name, value in GDP_OUTLOOK.items()},
            "lpr_1y_pct": np.full(n, LPR_1Y),
            "lpr_5y_pct": np.full(n, LPR_5Y),
            "asset_class": asset_class,
            "tenure_years": tenure,
            "sbg_alpha": alpha,
            "sbg_beta": beta,
            "pd_source": np.where(is_defaulted, "default", np.where(rated, "rating", "scorecard")),
            "segment": np.array(SEGMENTS)[segment],
        }
    )

    # facilities of the borrowers
    count = np.where(borrows, 1 + rng.poisson(1.6, n), 0)
    owner = np.repeat(np.arange(n), count)
    nf = owner.size
    names = list(PRODUCT_MIX)
    product = rng.choice(len(names), nf, p=np.array(list(PRODUCT_MIX.values())))
    code = np.array(names, dtype=object)[product]
    u = rng.random(nf)
    repayment = np.select(
        [code == "project_finance", code == "credit_line", code == "trade_finance", code == "fixed_asset_loan",
         code == "ip_pledge_loan"],
        ["equal_principal", "revolving", "bullet", np.where(u < 0.5, "equal_principal", "equal_installment"),
         np.where(u < 0.6, "equal_installment", "interest_only")],
        default=np.where(u < 0.5, "interest_only", np.where(u < 0.8, "equal_installment", "equal_principal")),
    ).astype(object)  # fmt: skip
    lo, hi = (np.array([TENOR_YEARS[c][i] for c in names])[product] for i in (0, 1))
    remaining = np.clip(rng.uniform(lo, hi) * rng.random(nf), 0.1, 10.0)
    drawn = np.array([MEDIAN_DRAWN[c] for c in names])[product] * size_factor[owner] * np.exp(rng.normal(0, 0.8, nf))
    revolving = repayment == "revolving"
    utilisation = rng.uniform(0.2, 0.95, nf)
    limit = drawn / utilisation
    unused_line = revolving & (rng.random(nf) < 0.05)
    undrawn = np.where(revolving, limit - drawn, 0.0)
    drawn = np.where(unused_line, 0.0, drawn)
    undrawn = np.where(unused_line, limit, undrawn)
    tranche = np.isin(code, ["project_finance", "fixed_asset_loan"]) & (rng.random(nf) < 0.25)
    undrawn = np.where(tranche, drawn * rng.uniform(0.1, 0.5, nf), undrawn)
    product_ccf = np.array([float(products[c]["ccf"]) for c in names])[product]
    ccf = np.where(rng.random(nf) < 0.8, product_ccf, rng.uniform(0.2, 0.5, nf))
    grade_spread = 0.5 + 40.0 * ttc_pd[owner].clip(max=0.2) / 2.0  # pp over the LPR, rising with the PD
    rate = np.clip(LPR_1Y + grade_spread + rng.normal(0.3, 0.5, nf), 2.5, 8.0)
    types = [t for t in COLLATERAL_MIX if t in collateral_types]
    weights = np.array([COLLATERAL_MIX[t] for t in types])
    kind = np.array(types, dtype=object)[rng.choice(len(types), nf, p=weights / weights.sum())]
    kind = np.where(code == "ip_pledge_loan", "ip_rights", kind)
    secured = rng.random(nf) < np.array([SECURED[c] for c in names])[product]
    kind = np.where(secured, kind, None)
    collateral = np.where(secured, (drawn + ccf * undrawn) * np.exp(rng.normal(np.log(0.9), 0.5, nf)), 0.0)
    cost = {col: np.array([float(products[c][col]) for c in names])[product]
            for col in ("servicing_cost_bps", "monitoring_cost_bps", "origination_cost_cny")}  # fmt: skip

    # one synthetic facility per prospect: a bullet working-capital loan of the median size and rate
    prospects = np.flatnonzero(is_prospect)
    npr = prospects.size
    wc = products["working_capital_loan"]
    wc_loans = (code == "working_capital_loan") & (drawn > 0)
    synthetic = {
        "facility_id": "PROSPECT:" + clients["client_id"].to_numpy()[prospects].astype(object),
        "product_code": np.full(npr, "working_capital_loan", dtype=object),
        "client_id": clients["client_id"].to_numpy()[prospects],
        "drawn_balance_cny": np.full(npr, np.median(drawn[wc_loans])),
        "undrawn_cny": np.zeros(npr),
        "ccf": np.full(npr, float(wc["ccf"])),
        "interest_rate_pct": np.full(npr, np.median(rate[wc_loans])),
        "repayment_type": np.full(npr, "bullet", dtype=object),
        "remaining_maturity_years": np.full(npr, float(wc["typical_tenor_months"]) / 12.0),
        "collateral_value_cny": np.zeros(npr),
        "main_collateral_type": np.full(npr, None, dtype=object),
        "servicing_cost_bps": np.full(npr, float(wc["servicing_cost_bps"])),
        "monitoring_cost_bps": np.full(npr, float(wc["monitoring_cost_bps"])),
        "origination_cost_cny": np.full(npr, float(wc["origination_cost_cny"])),
    }
    on_book = {
        "facility_id": pd.Series(np.arange(1, nf + 1)).map("F{:011d}".format).to_numpy(dtype=object),
        "product_code": code,
        "client_id": clients["client_id"].to_numpy()[owner],
        "drawn_balance_cny": drawn,
        "undrawn_cny": undrawn,
        "ccf": ccf,
        "interest_rate_pct": rate,
        "repayment_type": repayment,
        "remaining_maturity_years": remaining,
        "collateral_value_cny": collateral,
        "main_collateral_type": kind,
        **cost,
    }
    facilities = pd.concat([pd.DataFrame(on_book), pd.DataFrame(synthetic)], ignore_index=True)
    facilities = facilities.iloc[rng.permutation(len(facilities))].reset_index(drop=True)
    return clients, facilities


# --- stages (each runs in its own child process) -----------------------------------------------------


def _paths(home: Path) -> dict[str, Path]:
    names = ("clients", "facilities", "engine", "loop")
    return {name: home / f"{name}.parquet" for name in names} | {"manifest": home / "portfolio.json"}


def stage_generate(home: Path, args: argparse.Namespace) -> dict:
    """The synthetic portfolio, unless the cache already holds the same scale, seed and generator version."""
    paths = _paths(home)
    wanted = {"version": GENERATOR_VERSION, "scale": args.scale, "seed": args.seed, "clients": SCALES[args.scale]}
    if paths["manifest"].exists() and paths["clients"].exists() and paths["facilities"].exists():
        manifest = json.loads(paths["manifest"].read_text())
        if {k: manifest.get(k) for k in wanted} == wanted:
            return {"stage": "generate", "reused": True, "seconds": 0.0, "portfolio": manifest["portfolio"]}
    from python_tasks.clv.params import load_params
    from python_tasks.settings import CLV_PARAMS_FILE

    params = load_params(CLV_PARAMS_FILE)
    paths["manifest"].unlink(missing_ok=True)  # written last: a half-written portfolio is never reused
    started = time.perf_counter()
    clients, facilities = synthetic_portfolio(
        SCALES[args.scale],
        args.seed,
        [t for t in params.lgd_floors if t != "unsecured"],
        list(params.monitoring_multipliers),
    )
    clients.to_parquet(paths["clients"], index=False)
    facilities.to_parquet(paths["facilities"], index=False)
    seconds = time.perf_counter() - started
    borrowers = facilities.loc[~facilities["client_id"].isin(clients.loc[clients["is_prospect"], "client_id"])]
    portfolio = {
        "clients": len(clients),
        "facilities": len(facilities),
        "prospects": int(clients["is_prospect"].sum()),
        "defaulted": int(clients["is_defaulted"].sum()),
        "without_facilities": int((~clients["client_id"].isin(facilities["client_id"])).sum()),
        "facilities_per_borrower": round(len(borrowers) / borrowers["client_id"].nunique(), 2),
        "repayment_types": facilities["repayment_type"].value_counts(normalize=True).round(3).to_dict(),
        "drawn_balance_cny": round(float(facilities["drawn_balance_cny"].sum()), 0),
        "parquet_mb": round(sum(paths[p].stat().st_size for p in ("clients", "facilities")) / 2**20, 1),
    }
    paths["manifest"].write_text(json.dumps({**wanted, "portfolio": portfolio}, indent=2))
    return {"stage": "generate", "reused": False, "seconds": round(seconds, 2), "portfolio": portfolio}


def stage_value(home: Path, args: argparse.Namespace) -> dict:
    """Read the portfolio, value every client under every scenario with the engine, write the result."""
    import numpy as np
    import pandas as pd
    import scipy

    from python_tasks.clv.engine import value_portfolio
    from python_tasks.clv.params import load_params
    from python_tasks.settings import CLV_PARAMS_FILE

    paths = _paths(home)
    started = time.perf_counter()
    clients = pd.read_parquet(paths["clients"])
    facilities = pd.read_parquet(paths["facilities"])
    read = time.perf_counter()
    params = load_params(CLV_PARAMS_FILE)

    def progress(done: int, total: int) -> None:
        print(f"valued {done:,} of {total:,} clients, {time.perf_counter() - read:.1f} s", file=sys.stderr, flush=True)

    chunking = {"clients_per_chunk": args.clients_per_chunk} if args.clients_per_chunk else {}
    result = value_portfolio(clients, facilities, params, progress=progress, **chunking)
    valued = time.perf_counter()
    result.to_parquet(paths["engine"], index=False)
    written = time.perf_counter()
    value_s = valued - read
    return {
        "stage": "value",
        "clients": len(clients),
        "facilities": len(facilities),
        "scenarios": list(params.scenarios),
        "clients_per_chunk": args.clients_per_chunk or _default_chunk(),
        "default_clients_per_chunk": _default_chunk(),
        "periods": params.periods,
        "rows": len(result),
        "read_s": round(read - started, 3),
        "value_s": round(value_s, 3),
        "write_s": round(written - valued, 3),
        "seconds": round(written - started, 3),
        "rows_per_s": round(len(result) / value_s),
        "clients_per_s": round(len(clients) / value_s),
        "versions": {"numpy": np.__version__, "pandas": pd.__version__, "scipy": scipy.__version__},
    }


def _default_chunk() -> int:
    """The engine's default ``clients_per_chunk``."""
    import inspect

    from python_tasks.clv.engine import value_portfolio

    return inspect.signature(value_portfolio).parameters["clients_per_chunk"].default


def _sample(client_ids, size: int, seed: int):  # noqa: ANN001, ANN202 - a pandas Series in, a sorted array out
    """A seeded sample of ``size`` client ids (all of them when the portfolio is no larger)."""
    import numpy as np

    ids = client_ids.to_numpy()
    if size >= len(ids):
        return ids
    return ids[np.sort(np.random.default_rng(seed + 1).choice(len(ids), size, replace=False))]


def stage_loop(home: Path, args: argparse.Namespace) -> dict:
    """The per-client loop on a sample of clients; its time per client."""
    import pandas as pd

    from benchmarks.clv_loop import value_portfolio_loop
    from python_tasks.clv.params import load_params
    from python_tasks.settings import CLV_PARAMS_FILE

    paths = _paths(home)
    clients = pd.read_parquet(paths["clients"])
    sample = _sample(clients["client_id"], args.loop_sample, args.seed)
    chosen = clients["client_id"].isin(sample)
    facilities = pd.read_parquet(paths["facilities"], filters=[("client_id", "in", list(sample))])
    params = load_params(CLV_PARAMS_FILE)
    started = time.perf_counter()
    result = value_portfolio_loop(clients.loc[chosen], facilities, params)
    seconds = time.perf_counter() - started
    result.to_parquet(paths["loop"], index=False)
    per_client = seconds / len(sample)
    return {
        "stage": "loop",
        "sample_clients": len(sample),
        "sample_facilities": len(facilities),
        "rows": len(result),
        "seconds": round(seconds, 3),
        "per_client_ms": round(per_client * 1000, 4),
        "portfolio_clients": len(clients),
        "extrapolated_s": round(per_client * len(clients), 1),
    }


def stage_check(home: Path, args: argparse.Namespace) -> dict:
    """The loop's values against the engine's for the sample's clients: max relative difference per column."""
    import numpy as np
    import pandas as pd

    paths = _paths(home)
    loop = pd.read_parquet(paths["loop"])
    ids = list(loop["client_id"].unique())
    engine = pd.read_parquet(paths["engine"], columns=["client_id", "scenario", *COMPARED],
                             filters=[("client_id", "in", ids)])  # fmt: skip
    both = loop.merge(engine, on=["client_id", "scenario"], how="left", suffixes=("_loop", "_engine"),
                      indicator=True)  # fmt: skip
    missing = int((both["_merge"] != "both").sum())
    columns = {}
    for column in COMPARED:
        a, b = both[f"{column}_loop"].to_numpy(dtype=float), both[f"{column}_engine"].to_numpy(dtype=float)
        rel = np.abs(a - b) / np.maximum(np.abs(b), 1.0)
        rel = np.where(np.isnan(rel), np.inf, rel)
        worst = int(np.argmax(rel)) if len(rel) else 0
        columns[column] = {
            "max_rel_diff": float(rel.max()) if len(rel) else 0.0,
            "worst": {"client_id": str(both["client_id"].iloc[worst]), "scenario": str(both["scenario"].iloc[worst]),
                      "loop": float(a[worst]), "engine": float(b[worst])} if len(rel) else None,
        }  # fmt: skip
    passed = missing == 0 and len(both) > 0 and all(c["max_rel_diff"] <= TOLERANCE for c in columns.values())
    return {
        "stage": "check",
        "rows_compared": len(both) - missing,
        "rows_missing_in_engine": missing,
        "tolerance": TOLERANCE,
        "max_rel_diff": max((c["max_rel_diff"] for c in columns.values()), default=0.0),
        "columns": columns,
        "passed": passed,
    }


STAGES = {"generate": stage_generate, "value": stage_value, "loop": stage_loop, "check": stage_check}


# --- summary and report ------------------------------------------------------------------------------


def summarise(scale: str, results: dict) -> dict:
    """Speed-ups and the verdicts against the targets."""
    value, loop, check = results["value"], results["loop"], results["check"]
    loop_full = loop["per_client_ms"] / 1000 * value["clients"]
    at_target_scale = scale == TARGETS["target_scale"]
    speedup = loop_full / value["value_s"]
    return {
        "scale": scale,
        "clients": value["clients"],
        "loop_extrapolated_s": round(loop_full, 1),
        "speedup": round(speedup, 1),
        "speedup_vs_stage_wall": round(loop_full / value["wall_s"], 1),
        "check_passed": check["passed"],
        "max_rel_diff": check["max_rel_diff"],
        "targets": {
            "value_wall_s": {
                "target": TARGETS["value_wall_s"],
                "measured": value["wall_s"],
                "met": value["wall_s"] < TARGETS["value_wall_s"] if at_target_scale else None,
            },
            "value_peak_rss_mb": {
                "target": TARGETS["value_peak_rss_mb"],
                "measured": value["peak_rss_mb"],
                "met": value["peak_rss_mb"] < TARGETS["value_peak_rss_mb"] if at_target_scale else None,
            },
            "speedup": {
                "target": TARGETS["speedup"],
                "measured": round(speedup, 1),
                "met": speedup >= TARGETS["speedup"],
            },
        },  # fmt: skip
        "machine": machine(value.get("versions", {})),
    }


def _duration(seconds: float) -> str:
    return f"{seconds:,.1f} s" if seconds < 120 else f"{seconds:,.0f} s ({seconds / 60:,.1f} min)"


def report(scale: str, results: dict, summary: dict) -> str:
    """The Markdown report."""
    gen, value, loop, check = (results[s] for s in ("generate", "value", "loop", "check"))
    p, mach, t = gen["portfolio"], summary["machine"], summary["targets"]
    mix = ", ".join(f"{k} {v:.0%}" for k, v in sorted(p["repayment_types"].items(), key=lambda kv: -kv[1]))
    lines = [
        f"# CLV engine benchmark, scale {scale}",
        "",
        f"Machine: {mach['processor']}, {mach['cores']} cores, Python {mach['python']}, NumPy "
        f"{mach.get('numpy', '?')}, pandas {mach.get('pandas', '?')}, SciPy {mach.get('scipy', '?')}.",
        "",
        f"Portfolio (synthetic, seeded): {p['clients']:,} clients ({p['prospects']:,} prospects, {p['defaulted']:,} "
        f"defaulted, {p['without_facilities']:,} without a facility), {p['facilities']:,} facilities "
        f"({p['facilities_per_borrower']} per borrowing client; {mix}), {p['parquet_mb']} MB of Parquet. "
        f"Projection: {value['periods']} monthly periods, {len(value['scenarios'])} scenarios "
        f"({', '.join(value['scenarios'])}): {value['rows']:,} client-scenario rows. Engine chunks: "
        f"{value['clients_per_chunk']:,} clients"
        + (" (the engine's default)." if value["clients_per_chunk"] == value["default_clients_per_chunk"] else "."),
        "",
        "| stage | what | s (the work) | process wall s | CPU s | peak RSS MiB | rows/s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        f"| generate | synthetic portfolio to Parquet{' (reused from the cache)' if gen['reused'] else ''} | "
        f"{gen['seconds']:.1f} | {gen['wall_s']:.1f} | {gen['cpu_s']:.1f} | {gen['peak_rss_mb']:,.0f} | |",
        f"| value | read Parquet {value['read_s']:.1f} s + `value_portfolio` {value['value_s']:.1f} s + write "
        f"{value['write_s']:.1f} s | {value['seconds']:.1f} | {value['wall_s']:.1f} | {value['cpu_s']:.1f} | "
        f"{value['peak_rss_mb']:,.0f} | {value['rows_per_s']:,} |",
        f"| loop | per-client Python loop, {loop['sample_clients']:,} clients ({loop['sample_facilities']:,} "
        f"facilities) | {loop['seconds']:.1f} | {loop['wall_s']:.1f} | {loop['cpu_s']:.1f} | "
        f"{loop['peak_rss_mb']:,.0f} | {loop['rows'] / loop['seconds']:,.0f} |",
        f"| check | loop against engine, {check['rows_compared']:,} client-scenario rows | | {check['wall_s']:.1f} | "
        f"{check['cpu_s']:.1f} | {check['peak_rss_mb']:,.0f} | |",
        "",
        '"s (the work)" is measured inside the child around the work itself; the process wall adds the '
        "interpreter start and imports; CPU and peak RSS (wait4) are the whole child process's. rows/s: "
        "client-scenario rows per second of `value_portfolio` (or of the loop).",
        "",
        "## Speed-up over the per-client loop",
        "",
        f"The loop takes {loop['per_client_ms']:.3f} ms per client (all 3 scenarios), so "
        f"{_duration(summary['loop_extrapolated_s'])} for the "
        f"{summary['clients']:,} clients; `value_portfolio` took {value['value_s']:.1f} s: **{summary['speedup']:,.1f}×** "
        f"faster ({summary['speedup_vs_stage_wall']:,.1f}× against the whole value stage, Parquet and "
        "interpreter start included).",
        "",
        "## Agreement of the loop with the engine",
        "",
        f"Overall: **{'agree' if check['passed'] else 'DISAGREE'}** (every column within {TOLERANCE:g} relative; "
        f"relative difference = |loop − engine| / max(|engine|, 1 CNY); "
        f"{check['rows_missing_in_engine']} loop rows missing from the engine's output).",
        "",
        "| column | max relative difference | worst row (client, scenario): loop / engine |",
        "| --- | ---: | --- |",
    ]
    for column, c in check["columns"].items():
        w = c["worst"]
        where = f"{w['client_id']}, {w['scenario']}: {w['loop']:,.4f} / {w['engine']:,.4f}" if w else ""
        lines.append(f"| {column} | {c['max_rel_diff']:.2e} | {where} |")
    lines += [
        "",
        "## Targets",
        "",
        f"* value stage wall time: {verdict(t['value_wall_s'], 's')};",
        f"* value stage peak memory: {verdict(t['value_peak_rss_mb'], 'MiB')};",
        f"* speed-up over the loop: {verdict(t['speedup'], '×', below=False)};",
        f"* loop and engine agree within {TOLERANCE:g}: {'**met**' if check['passed'] else '**missed**'} "
        f"(max {check['max_rel_diff']:.2e}).",
    ]
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> Path | None:
    """Bar chart of wall time and peak memory per stage; None when matplotlib is not installed."""
    plt = pyplot()
    if plt is None:
        return None
    stages = [s for s in ("generate", "value", "loop", "check") if s in results]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.bar(stages, [results[s]["wall_s"] for s in stages])
    ax1.set_ylabel("process wall s")
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
    loop_sample: int | None = None,
    clients_per_chunk: int | None = None,
) -> dict:
    """All stages, each in its own process, then the report; returns the summary. Exits with status 1
    (after writing the report) when the loop and the engine disagree. ``clients_per_chunk`` overrides the
    engine's default chunk size (the report's name then says so)."""
    args = argparse.Namespace(
        scale=scale,
        seed=seed,
        loop_sample=min(loop_sample or DEFAULT_LOOP_SAMPLE, SCALES[scale]),
        clients_per_chunk=clients_per_chunk,
    )
    name = f"clv-{scale}" + (f"-chunk{clients_per_chunk}" if clients_per_chunk else "")
    home.mkdir(parents=True, exist_ok=True)
    print(f"CLV benchmark, {scale} scale: {SCALES[scale]:,} clients, working folder {home}", flush=True)
    results = {}
    for stage, what in (
        ("generate", "synthetic portfolio"),
        ("value", "value_portfolio on every client"),
        ("loop", f"per-client loop on {args.loop_sample:,} clients"),
        ("check", "loop against engine"),
    ):
        print(f"running {stage}: {what} …", flush=True)
        r = results[stage] = _child(stage, args, home)
        extra = {
            "generate": lambda r: "reused" if r["reused"] else f"generated in {r['seconds']} s",
            "value": lambda r: f"value_portfolio {r['value_s']} s, {r['rows_per_s']:,} rows/s",
            "loop": lambda r: f"{r['per_client_ms']} ms per client",
            "check": lambda r: (
                f"{'agree' if r['passed'] else 'DISAGREE'}, max relative difference {r['max_rel_diff']:.2e}"
            ),
        }[stage](r)
        print(
            f"  {stage}: wall {r['wall_s']} s, CPU {r['cpu_s']} s, peak {r['peak_rss_mb']:,} MiB; {extra}", flush=True
        )
    summary = summarise(scale, results)
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"{name}.json").write_text(json.dumps({"summary": summary, "stages": results}, indent=2))
    text = report(scale, results, summary)
    (results_dir / f"{name}.md").write_text(text)
    chart = plot(results, results_dir / f"{name}.png")
    print(text)
    print(f"written: {results_dir / f'{name}.md'}, .json" + (", .png" if chart else " (no chart: matplotlib absent)"))
    if not summary["check_passed"]:
        raise SystemExit(
            f"CHECK FAILED: the per-client loop and the engine differ by up to {summary['max_rel_diff']:.3g} "
            f"relative (tolerance {TOLERANCE:g}); see {results_dir / f'{name}.md'}"
        )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=sorted(SCALES), default="M")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--loop-sample", type=int, help=f"clients valued by the loop (default {DEFAULT_LOOP_SAMPLE:,}; all at S)"
    )
    parser.add_argument(
        "--clients-per-chunk", type=int, help="the engine's clients_per_chunk (default: the engine's own default)"
    )
    parser.add_argument("--home", help="working folder with the cached portfolio (default var/bench/clv/<scale>)")
    parser.add_argument("--results", help="folder of the report (default benchmarks/results)")
    parser.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loop_sample is not None and args.loop_sample < 1:
        parser.error("--loop-sample must be at least 1")
    if args.clients_per_chunk is not None and args.clients_per_chunk < 1:
        parser.error("--clients-per-chunk must be at least 1")
    home = (Path(args.home) if args.home else ROOT / "var" / "bench" / "clv" / args.scale).resolve()
    if args.stage:
        print(json.dumps(STAGES[args.stage](home, args), default=str))
        return
    results_dir = Path(args.results).resolve() if args.results else RESULTS
    run(
        args.scale,
        home=home,
        results_dir=results_dir,
        seed=args.seed,
        loop_sample=args.loop_sample,
        clients_per_chunk=args.clients_per_chunk,
    )


if __name__ == "__main__":
    main()
