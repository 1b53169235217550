"""The pandas reference of the pipeline benchmark (benchmarks/pandas_reference.py) against the pipeline itself.

Sample deliveries are generated in a temporary CLV_HOME, the daily run builds the warehouse from them
(tests/resilience/harness.py: the DAG's tasks in a child process), and the reference computes the profile and
the baseline CLV from the same files with pandas alone: every client of the profile must agree on every
compared column (``compare``). The check itself is tested too: a reference that differs (an amount, a label, a
missing value, a client) must fail it and name the client.

The CI variant is one date at 150 clients (about a minute). The slow one (``-m slow``) runs the first load and
a daily delta at 2,000 clients (the S preset), where the scorecard is fitted (20+ defaults) and a few clients carry an invalid
USCC (quarantined by the loader, dropped by the reference).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[3]
D0 = date(2026, 11, 20)
#: clients that cannot agree, with the reason: none (every difference found so far was a bug in the reference)
KNOWN_DISAGREEMENTS: dict[str, str] = {}


def _harness():
    """tests/resilience/harness.py (a test folder without __init__.py: loaded by path, once)."""
    if "harness" not in sys.modules:
        spec = importlib.util.spec_from_file_location("harness", ROOT / "tests" / "resilience" / "harness.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["harness"] = module
        spec.loader.exec_module(module)
    return sys.modules["harness"]


def _run_reference(home: Path, day: date, out: Path) -> dict:
    """``python -m benchmarks.pandas_reference`` in a child process, as the benchmark driver runs it."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.pandas_reference", "--home", str(home), "--date", day.isoformat(),
         "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0])


def _profile_clients(warehouse: Path, day: date) -> int:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM marts.fct_client_profile WHERE as_of_date = ?", [day]).fetchone()[0]
    finally:
        con.close()


def assert_agreement(report: dict, clients: int) -> None:
    """Every client on both sides; every compared column within tolerance for every client but the known ones."""
    for table, counts in report["clients"].items():
        assert counts["missing"] == 0, (table, counts)
        assert counts["reference"] == counts["warehouse"] == clients, (table, counts)
    disagreeing = {
        column: {c for c in entry["disagreeing_clients"] if c not in KNOWN_DISAGREEMENTS}
        for column, entry in report["columns"].items()
        if entry["within_tolerance"] != entry["compared"]
    }
    assert not {c: v for c, v in disagreeing.items() if v}, json.dumps(
        {c: report["columns"][c] for c in disagreeing}, indent=1, default=str
    )
    for column, entry in report["columns"].items():
        assert entry["compared"] == clients, (column, entry)


@pytest.fixture(scope="module")
def reference_module(load_benchmark):
    return load_benchmark("pandas_reference")


@pytest.fixture(scope="module")
def one_date(tmp_path_factory: pytest.TempPathFactory):
    """150 clients, the initial history load of D0, the daily run, and the reference's CLI on the same files."""
    home = tmp_path_factory.mktemp("pandas_reference")
    deployment = _harness().Deployment(home / "home")
    deployment.generate(clients=150, first=D0, days=0)
    deployment.run(D0)
    line = _run_reference(deployment.home, D0, home / "reference.parquet")
    return deployment, line, pd.read_parquet(home / "reference.parquet")


def test_the_cli_prints_its_stage_line(one_date):
    deployment, line, reference = one_date
    assert line["stage"] == "pandas_reference"
    assert line["clients"] == len(reference) == _profile_clients(deployment.warehouse, D0) > 100
    for key in ("seconds", "read_s", "profile_s", "clv_s"):
        assert line[key] > 0, key
    assert line["seconds"] >= line["read_s"] + line["profile_s"] + line["clv_s"] - 0.01


def test_the_reference_agrees_with_the_pipeline_on_every_client(one_date, reference_module):
    deployment, _, reference = one_date
    report = reference_module.compare(reference, deployment.warehouse, D0)
    assert_agreement(report, len(reference))
    assert report["passed"] == (not KNOWN_DISAGREEMENTS)
    columns = report["columns"]
    # the CLV, every component, and the profile's credit measures are among the compared columns
    for column in ("clv_cny", "pv_nii_cny", "pv_fee_cny", "pv_cost_cny", "pv_expected_loss_cny",
                   "pv_capital_charge_cny", "acquisition_cost_cny", "value_ttc_pd", "pit_pd", "lgd",
                   "drawn_balance_cny", "ead_cny", "leverage_ratio", "current_dpd", "max_dpd_12m", "asset_class",
                   "enterprise_size", "ttc_pd", "collateral_coverage_ratio", "fee_income_12m_cny", "tenure_months"):  # fmt: skip
        assert column in columns, column
    # the data exercise the cases the formulas distinguish
    status = reference["client_status"].value_counts()
    assert status.get("prospect", 0) > 0 and status.get("defaulted", 0) > 0 and status.get("closed", 0) > 0
    assert (reference["acquisition_cost_cny"] > 0).any() and (reference["current_dpd"] > 0).any()
    assert (
        reference["clv_cny"].abs().sum() > 0 and (reference["clv_cny"] < 0).any() and (reference["clv_cny"] > 0).any()
    )


def test_a_reference_that_differs_fails_the_check_naming_the_client(one_date, reference_module):
    deployment, _, reference = one_date
    broken = reference.copy()
    rows = broken.index[broken["clv_cny"].abs() > 1_000][:3]
    broken.loc[rows[0], "clv_cny"] = broken.loc[rows[0], "clv_cny"] * (1 + 1e-5) + 1.0
    labelled = broken.index[broken["asset_class"].notna()][0]
    broken.loc[labelled, "asset_class"] = "doubtful" if broken.loc[labelled, "asset_class"] != "doubtful" else "loss"
    ratio = broken.index[broken["leverage_ratio"].notna()][0]
    broken.loc[ratio, "leverage_ratio"] = np.nan
    dropped = broken.loc[rows[1], "client_id"]
    broken = broken.drop(index=rows[1])
    report = reference_module.compare(broken, deployment.warehouse, D0)
    assert not report["passed"]
    columns = report["columns"]
    assert columns["clv_cny"]["disagreeing_clients"] == [reference.loc[rows[0], "client_id"]]
    assert columns["clv_cny"]["max_rel_diff"] > 1e-6
    assert columns["asset_class"]["disagreeing_clients"] == [reference.loc[labelled, "client_id"]]
    assert columns["leverage_ratio"]["worst"]["client_id"] == reference.loc[ratio, "client_id"]
    assert columns["leverage_ratio"]["worst"]["reference"] is None
    assert report["clients"]["client_values"]["only_in_warehouse"] == [dropped]
    untouched = {"pv_nii_cny", "lgd", "ead_cny", "tenure_months"}
    assert all(columns[c]["within_tolerance"] == columns[c]["compared"] for c in untouched)


def test_the_uscc_check_is_the_loaders(reference_module):
    """The reference drops the clients the loader quarantines for a wrong check character: the vectorised
    check gives the answer of python_tasks/codes/uscc.py on valid codes, each one broken, and malformed ones."""
    from python_tasks.codes.uscc import CHARSET, is_valid_uscc, make_uscc

    rng = np.random.default_rng(7)
    good = [make_uscc("9", "1", f"{rng.integers(110000, 659000):06d}", "".join(rng.choice(list(CHARSET), 9)))
            for _ in range(200)]  # fmt: skip
    broken = [c[:17] + CHARSET[(CHARSET.index(c[17]) + 1 + i % 30) % 31] for i, c in enumerate(good)]
    odd = ["", "91110000", "91110000MA01ABCDE" + "I", "z1110000MA01ABCDE1", None, "X" * 18]
    codes = pd.Series(good + broken + odd, dtype=object)
    expected = np.array([is_valid_uscc(c) for c in codes])
    assert expected[:200].all() and not expected[200:].any()
    assert (reference_module.valid_uscc(codes) == expected).all()


@pytest.mark.slow
def test_two_dates_at_2000_clients_agree_with_the_scorecard_fitted(tmp_path_factory, reference_module):
    home = tmp_path_factory.mktemp("pandas_reference_slow")
    deployment = _harness().Deployment(home / "home")
    days = deployment.generate(clients=2_000, first=D0, days=1)
    deployment.run(days[0], to=days[-1])
    con = duckdb.connect(str(deployment.warehouse), read_only=True)
    try:
        sources = dict(con.execute(
            "SELECT model, any_value(source) FROM valuation.model_fits WHERE model = 'pd_scorecard' GROUP BY 1"
        ).fetchall())  # fmt: skip
        quarantined = con.execute("SELECT count(*) FROM audit.quarantine WHERE rule = 'format:uscc'").fetchone()[0]
    finally:
        con.close()
    assert sources == {"pd_scorecard": "fitted"}
    for day in days:
        line = _run_reference(deployment.home, day, home / f"reference-{day}.parquet")
        reference = pd.read_parquet(home / f"reference-{day}.parquet")
        assert line["clients"] == len(reference)
        report = reference_module.compare(reference, deployment.warehouse, day)
        assert_agreement(report, _profile_clients(deployment.warehouse, day))
    print(f"clients with an invalid USCC quarantined: {quarantined}")
