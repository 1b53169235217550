"""The gates benchmark (benchmarks/gates.py) runs the daily run end to end at S scale in a temporary folder: every
task of clv_daily in its own process for the initial load and one daily delta, every gate measured and broken
down, the shares computed from the stages, the report written; and its sampling detector recognises sampling.

The M run, against the target, is on demand: ``make bench-gates SCALE=M`` or ``pytest -m slow`` here.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def s_scale_run(tmp_path_factory: pytest.TempPathFactory, load_benchmark):
    """The S run with its tasks forked from a preloaded worker, as Airflow runs them (the fresh-interpreter
    path is the other benchmarks' measure.run_stage; the M test below takes it). A process of its own: the
    benchmark forks, which the test process with its threads should not."""
    import subprocess
    import sys

    bench = load_benchmark("gates")
    folder = tmp_path_factory.mktemp("bench_gates")
    subprocess.run(
        [sys.executable, "-m", "benchmarks.gates", "--scale", "S", "--days", "1", "--worker", "warm",
         "--home", str(folder / "work"), "--results", str(folder / "results")],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    results = json.loads((folder / "results" / "gates-S-warm.json").read_text())
    report = (folder / "results" / "gates-S-warm.md").read_text()
    return bench, results["summary"], results, report


def test_every_task_of_the_daily_run_is_measured_on_both_dates(s_scale_run):
    bench, _, results, _ = s_scale_run
    from python_tasks.orchestration.sources import internal_sources

    results = results["results"]
    with_freshness = (ROOT / "python_tasks" / "quality" / "freshness_gate.py").exists()
    expected = bench.daily_stages(internal_sources(), with_freshness)
    assert results["days"] == ["2026-11-20", "2026-11-21"]
    for day in results["days"]:
        run = results["runs"][day]
        assert list(run) == expected, day
        for stage, r in run.items():
            assert r["wall_s"] > 0 and r["cpu_s"] > 0 and r["peak_rss_mb"] > 0, (day, stage)
            assert r["seconds"] <= r["wall_s"], (day, stage)
            if bench.is_gate(stage):
                assert r["status"] == "success", (day, stage, r["error"])
    first, daily = (results["runs"][d] for d in results["days"])
    assert first["ingest.repayments"]["rows_loaded"] > 100 * daily["ingest.repayments"]["rows_loaded"] > 0
    assert first["drift_gate"]["result"]["baseline_date"] is None  # the first run has nothing to drift from
    assert daily["drift_gate"]["result"]["baseline_date"] == "2026-11-20"
    assert daily["clv"]["clients"] > 1_000


def test_tasks_forked_from_the_preloaded_worker_do_not_import_gx_again(s_scale_run):
    bench, _, results, report = s_scale_run
    results = results["results"]
    assert results["worker"] == "warm" and "great_expectations" in results["preloaded"]["modules"]
    for day in results["days"]:
        for stage in bench.GX_GATES:
            assert results["runs"][day][stage]["import_s"] < 1.0, (day, stage)  # a fresh interpreter takes ~6 s
    assert "forked from a warm worker" in report


def test_the_shares_are_the_gates_part_of_the_stages(s_scale_run):
    bench, summary, results, report = s_scale_run
    results = results["results"]
    for day, s in zip(results["days"], summary["dates"], strict=True):
        run = results["runs"][day]
        gates = [r for stage, r in run.items() if bench.is_gate(stage)]
        assert s["pipeline_wall_s"] == pytest.approx(sum(r["wall_s"] for r in run.values()), abs=0.02)
        assert s["gates_wall_s"] == pytest.approx(sum(r["wall_s"] for r in gates), abs=0.02)
        assert s["gates_share"] == pytest.approx(s["gates_wall_s"] / s["pipeline_wall_s"], abs=1e-3)
        assert 0 < s["gates_work_share"] < s["gates_share"] < 1
        assert s["target"]["met"] is None  # judged at M only
    assert summary["dates"][0]["run"] == "initial history load" and summary["dates"][1]["run"] == "daily run"
    assert summary["daily_met"] is None
    for section in ("## Verdict", "## Per stage", "## Per gate", "## Where the gates' time goes", "## Sampling"):
        assert section in report
    assert "is set at M" in report


def test_the_gx_gates_are_broken_down_by_suite_and_statement(s_scale_run):
    bench, summary, results, _ = s_scale_run
    results = results["results"]
    daily = results["runs"][results["days"][1]]
    for gate in bench.GX_GATES:
        r = daily[gate]
        assert r["imports_gx"] and r["import_s"] > 0, gate
        assert r["sql"]["statements"] > 0 and 0 < r["sql"]["seconds"] < r["seconds"], gate
        assert sum(s["seconds"] for s in r["suites"].values()) <= r["steps"]["validate_queries"] + 0.01, gate
        assert all(s["statements"] > 0 for s in r["suites"].values()), gate
        assert r["result"]["expectations"] == sum(s["expectations"] for s in r["suites"].values()), gate
    for gate in ("profile", "clv", "segments"):
        spec = yaml.safe_load((ROOT / "expectations" / f"{gate}.yml").read_text(encoding="utf-8"))
        assert set(daily[f"{gate}_gate"]["suites"]) == set(spec["suites"]), gate
    assert len(daily["raw_gate"]["suites"]) == 9  # every internal source loaded for D
    # forked from the preloaded worker, every task finds GX imported already: the import alone is free
    gx = summary["gx_import"]
    assert gx["great_expectations_s"] < 0.5 and gx["wall_s"] >= gx["seconds"]


def test_the_report_says_whether_a_check_samples(s_scale_run):
    _, summary, _, report = s_scale_run
    sampling = summary["sampling"]
    assert sampling["statements"] > 0
    assert sampling["limited_to_unexpected_values"] <= sampling["with_limit"]
    if sampling["sampling"] or sampling["code"]["hits"]:
        assert "**Sampling found" in report
    else:
        assert "**No check samples" in report


@pytest.mark.parametrize(
    ("sql", "samples"),
    [
        ("SELECT * FROM raw.repayments USING SAMPLE 10%", True),
        ("SELECT avg(x) FROM t TABLESAMPLE BERNOULLI(5)", True),
        ("SELECT * FROM t USING SAMPLE reservoir(1000 ROWS)", True),
        ("SELECT x FROM t ORDER BY random() LIMIT 100", True),
        (
            'SELECT sum(CASE WHEN (x IS NULL) THEN $1 ELSE $2 END) AS "column_values.nonnull.unexpected_count" FROM t',
            False,
        ),
        ("SELECT x AS unexpected_values FROM t WHERE x IS NULL LIMIT $1", False),
    ],
)
def test_the_sampling_detector(load_benchmark, sql: str, samples: bool):
    bench = load_benchmark("gates")
    assert bool(bench.SAMPLING_SQL.search(sql)) is samples


def test_the_verdict_is_judged_on_the_daily_runs_at_m(load_benchmark):
    bench = load_benchmark("gates")

    def stage(wall: float, seconds: float) -> dict:
        return {"wall_s": wall, "cpu_s": wall, "peak_rss_mb": 100.0, "seconds": seconds, "import_s": 0.0}

    stages = {"ingest.clients": stage(50.0, 40.0), "raw_gate": stage(20.0, 5.0), "dbt_build": stage(30.0, 25.0)}
    summary = bench.summarise_date(date(2026, 11, 21), stages, initial=False, judged=True)
    assert summary["gates_share"] == pytest.approx(0.2)
    assert summary["gates_work_share"] == pytest.approx(0.05)
    assert summary["target"] == {"target": 30.0, "measured": 20.0, "met": True}
    stages["raw_gate"] = stage(50.0, 5.0)  # 50 of 130 s
    assert bench.summarise_date(date(2026, 11, 21), stages, initial=False, judged=True)["target"]["met"] is False


@pytest.mark.slow
def test_the_m_scale_run_is_judged(tmp_path: Path, load_benchmark):
    """The long run (several minutes, 1.5 GB of deliveries in a temporary folder); on demand."""
    bench = load_benchmark("gates")
    summary = bench.run("M", home=tmp_path / "work", results_dir=tmp_path / "results", days=1)
    assert summary["daily_met"] is not None
    assert summary["dates"][1]["target"]["met"] is not None
    assert (tmp_path / "results" / "gates-M.md").exists()
