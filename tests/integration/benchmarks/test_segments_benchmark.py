"""The segmentation benchmark (benchmarks/segments.py) runs end to end at S scale in a temporary folder: every
stage in its own process, the report written, one segment row per client on both dates, and day 2 really
built on day 1's stored run (migration between the runs, signals still active, clusters carried over).

The synthetic profile must look like the warehouse's to the code measured, so its columns are checked
against the mart's documented columns.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def s_scale_run(tmp_path_factory: pytest.TempPathFactory, load_benchmark):
    bench = load_benchmark("segments")
    folder = tmp_path_factory.mktemp("bench_segments")
    summary = bench.run("S", home=folder / "work", results_dir=folder / "results")
    results = json.loads((folder / "results" / "segments-S.json").read_text())
    return bench, folder, summary, results


def test_the_s_scale_run_writes_its_report_with_every_stage(s_scale_run):
    _, folder, summary, results = s_scale_run
    stages = results["stages"]
    for stage in ("generate", "day1", "day2"):
        assert stages[stage]["wall_s"] > 0 and stages[stage]["cpu_s"] > 0 and stages[stage]["peak_rss_mb"] > 0, stage
    assert len(stages["day2_runs"]) == 1
    assert results["summary"] == summary
    for day in ("day1", "day2"):
        phases = stages[day]["phases"]
        assert len(phases) == 4 and all(s >= 0 for s in phases.values()), phases
        assert sum(phases.values()) == pytest.approx(stages[day]["segment_s"], abs=0.01)
        for name in ("classify", "assign_clusters", "evaluate_signals", "update_signal_history", "segment_summary"):
            assert stages[day]["calls"][name]["calls"] == 1, (day, name)
    assert summary["targets"]["segment_s"]["met"] is None  # the targets are set at L
    report = (folder / "results" / "segments-S.md").read_text()
    assert "## Where the time goes" in report and "## Target" in report and "| **day2** |" in report


def test_every_client_is_segmented_on_both_dates(s_scale_run):
    _, folder, _, results = s_scale_run
    stages, portfolio = results["stages"], results["stages"]["generate"]["portfolio"]
    assert portfolio["clients_day1"] == 2_000
    assert portfolio["clients_day2"] == 2_000 - portfolio["changes"]["gone"] + portfolio["changes"]["new"]
    assert stages["day1"]["rows"]["client_segments"] == stages["day1"]["clients"] == 2_000
    assert stages["day2"]["rows"]["client_segments"] == stages["day2"]["clients"] == portfolio["clients_day2"]
    stored = pd.read_parquet(folder / "work" / "day1" / "out" / "client_segments.parquet")
    assert len(stored) == 2_000 and stored["client_id"].is_unique
    assert stages["day1"]["stored_rows"]["client_segments"] == 2_000


def test_day_2_builds_on_day_1s_stored_run(s_scale_run):
    _, _, _, results = s_scale_run
    day1, day2 = results["stages"]["day1"], results["stages"]["day2"]
    assert day1["previous"] is None and day1["rows"]["migration"] == 0  # the first run has nothing to migrate from
    assert day2["previous"]["as_of_date"] == "2026-11-26"
    assert day2["previous"]["segments"] == 2_000
    assert day2["previous"]["clusters"] == day1["clusters"]
    assert day2["previous"]["open_signals"] == day1["signals"]["new"] > 0
    assert day2["rows"]["migration"] > 0
    assert day2["signals"]["active"] > 0 and day2["signals"].get("closed", 0) > 0
    assert day2["memory"]["steps"]["previous run (job._previous_run)"]["rss_mb"] > 0


def test_the_synthetic_profile_has_the_marts_columns_and_the_context_the_jobs(s_scale_run):
    bench, folder, _, _ = s_scale_run
    from python_tasks.segments.portfolio import CONTEXT_COLUMNS

    models = yaml.safe_load((ROOT / "dbt_project" / "models" / "marts" / "_marts__models.yml").read_text())
    mart = next(m for m in models["models"] if m["name"] == "fct_client_profile")
    documented = [c["name"] for c in mart["columns"] if c["name"] != "_run_id"]  # the job reads EXCLUDE (_run_id)
    for day in ("day1", "day2"):
        profile = pd.read_parquet(folder / "work" / day / "profile.parquet")
        assert list(profile.columns) == documented, day
        assert profile["client_id"].is_unique
        context = pd.read_parquet(folder / "work" / day / "context.parquet")
        assert tuple(context.columns) == CONTEXT_COLUMNS
        values = pd.read_parquet(folder / "work" / day / "values.parquet")
        assert set(values["client_id"]) == set(profile["client_id"])  # every client is valued
    codes = set(bench.catalogue()["product_code"])
    held = profile["products_held_list"].dropna().str.split(",").explode()
    assert set(held) <= codes
    assert set(profile["client_status"]) == {"prospect", "active", "dormant", "closed", "defaulted"}
