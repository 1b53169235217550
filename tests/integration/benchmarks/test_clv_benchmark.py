"""The CLV benchmark (benchmarks/clv.py) runs end to end at S scale in a temporary folder: every stage in its
own process, the report written, the per-client loop agreeing with the engine and the speed-up computed.

The loop (benchmarks/clv_loop.py) is the engine's independent check, so the check itself is tested too: a
loop result that differs from the engine's must fail it.
"""

from __future__ import annotations

import argparse
import json
import math

import pandas as pd
import pytest


@pytest.fixture(scope="module")
def s_scale_run(tmp_path_factory: pytest.TempPathFactory, load_benchmark):
    bench = load_benchmark("clv")
    folder = tmp_path_factory.mktemp("bench_clv")
    summary = bench.run("S", home=folder / "work", results_dir=folder / "results")
    return bench, folder, summary


def test_the_s_scale_run_writes_its_report(s_scale_run):
    _, folder, summary = s_scale_run
    results = json.loads((folder / "results" / "clv-S.json").read_text())
    report = (folder / "results" / "clv-S.md").read_text()
    stages = results["stages"]
    for stage in ("generate", "value", "loop", "check"):
        assert stages[stage]["wall_s"] > 0 and stages[stage]["peak_rss_mb"] > 0, stage
    assert stages["value"]["rows"] == 3 * 2_000  # every client under the three scenarios
    assert stages["value"]["periods"] == 60
    assert stages["loop"]["sample_clients"] == 2_000  # all of them at S
    assert results["summary"] == summary
    assert "## Speed-up over the per-client loop" in report and "## Targets" in report


def test_the_loop_agrees_with_the_engine_and_the_speedup_is_computed(s_scale_run):
    _, folder, summary = s_scale_run
    check = json.loads((folder / "results" / "clv-S.json").read_text())["stages"]["check"]
    assert check["passed"] and summary["check_passed"]
    assert check["rows_compared"] == 3 * 2_000 and check["rows_missing_in_engine"] == 0
    assert check["max_rel_diff"] <= 1e-6
    assert math.isfinite(summary["speedup"]) and summary["speedup"] > 0
    assert summary["targets"]["speedup"]["met"] == (summary["speedup"] >= 20)
    assert summary["targets"]["value_wall_s"]["met"] is None  # the time and memory targets are set at L


def test_a_loop_result_that_differs_from_the_engine_fails_the_check(s_scale_run):
    bench, folder, _ = s_scale_run
    home = folder / "work"
    loop = pd.read_parquet(home / "loop.parquet")
    loop.to_parquet(home / "loop-good.parquet", index=False)
    try:
        loop.loc[7, "clv_cny"] = loop.loc[7, "clv_cny"] * (1 + 1e-5) + 1.0
        loop.to_parquet(home / "loop.parquet", index=False)
        check = bench.stage_check(home, argparse.Namespace(scale="S"))
    finally:
        (home / "loop-good.parquet").replace(home / "loop.parquet")
    assert not check["passed"]
    assert check["columns"]["clv_cny"]["max_rel_diff"] > 1e-6
    assert check["columns"]["clv_cny"]["worst"]["client_id"] == loop.loc[7, "client_id"]
