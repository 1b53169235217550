"""GX Data Docs per run: after a gate on a generated warehouse its suite pages (GX's HTML and JSON) and the
run's index exist, every local link resolves, a failed check shows as failed, values are escaped (Chinese
text, ``<``), a rerun replaces the pages, and the drift gate's outcomes are listed from audit.dq_results."""

from __future__ import annotations

import json
import logging
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from generated import generated_home

from python_tasks.clv.job import run_clv
from python_tasks.quality.data_docs import DataDocsTarget, data_docs_index
from python_tasks.quality.raw_gate import run_raw_gate
from python_tasks.quality.results import GateFailed
from python_tasks.quality.stage_gates import gate_suites, run_drift_gate, run_stage_gate
from python_tasks.segments.job import run_segments
from python_tasks.settings import path_component
from python_tasks.transform.dbt_job import run_dbt_build

D0 = date(2026, 11, 20)
RUN = "scheduled__2026-11-20T00:00:00+00:00"  # an Airflow run id: ``:`` and ``+`` cannot name a folder everywhere


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse with D0 ingested, profiled, valued and segmented (300 clients); tests work on copies."""
    root = tmp_path_factory.mktemp("docs")
    with generated_home(root, clients=300, first=D0, days=0):
        run_dbt_build(D0, "daily")
        run_clv(D0, "clv")
        run_segments(D0, "segments")
    return root / "warehouse" / "clv.duckdb"


@pytest.fixture
def warehouse(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the built warehouse, with CLV_HOME (where the Data Docs go) in the test's folder."""
    copy = tmp_path / "warehouse" / "clv.duckdb"
    copy.parent.mkdir()
    shutil.copy(built, copy)
    monkeypatch.setenv("CLV_HOME", str(tmp_path))
    monkeypatch.setenv("CLV_WAREHOUSE_PATH", str(copy))
    return copy


def _execute(path: Path, sql: str) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute(sql)


def _local_links(page: Path) -> list[str]:
    links = re.findall(r'(?:href|src)="([^"#][^"]*)"', page.read_text(encoding="utf-8"))
    return [link for link in links if not re.match(r"[a-z]+:", link)]


def _column_section(page: Path, column: str) -> str:
    """The part of a GX validation page about one column (its header is an ``<h5>``)."""
    sections = re.split(r'<div id="section-\d+" class="ge-section', page.read_text(encoding="utf-8"))
    return next(s for s in sections if re.search(rf"<h5[^>]*>\s*{re.escape(column)}\s*</h5>", s))


def _ingest_run_id(path: Path) -> str:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT max(run_id) FROM audit.load_ledger WHERE as_of_date = $d", {"d": D0}).fetchone()[0]


def test_run_ids_become_distinct_safe_folder_names():
    names = {path_component(r) for r in (RUN, "scheduled__2026-11-20T00_00_00_00_00", "../etc", "a/b", "a_b", "")}
    assert len(names) == 6
    assert all(re.fullmatch(r"\w[\w.-]*", n, re.ASCII) for n in names), names
    assert path_component("clean-run_1.2") == "clean-run_1.2"


@pytest.mark.parametrize("gate", ["raw", "profile", "clv", "segments"])
def test_a_gate_writes_its_suite_pages_and_an_index_whose_links_resolve(warehouse, gate, caplog):
    caplog.set_level(logging.WARNING)
    if gate == "raw":
        run_id = _ingest_run_id(warehouse)
        summary = run_raw_gate(D0, run_id)
    else:
        run_id = RUN
        summary = run_stage_gate(gate, D0, run_id)
    assert summary["failed_errors"] == 0

    index = data_docs_index(run_id, D0)
    gate_dir = index.parent / gate
    assert (
        index == warehouse.parents[1] / "quality" / "data_docs" / path_component(run_id) / "2026-11-20" / "index.html"
    )
    assert index.is_file()
    pages = sorted(gate_dir.glob("*.html"))
    assert len(pages) == summary["suites"] == len(list(gate_dir.glob("*.json")))
    if gate != "raw":
        assert [p.stem for p in pages] == sorted(s.name for s in gate_suites(gate, D0))
    # every link of the index and of the pages that stays on this machine leads to a file
    for page in [index, *pages]:
        for link in _local_links(page):
            assert (page.parent / link).resolve().is_file(), (page.name, link)
    linked = {(index.parent / link).resolve() for link in _local_links(index)}
    assert {p.resolve() for p in pages} | {p.with_suffix(".json").resolve() for p in pages} <= linked
    # the JSON is GX's validation result, labelled with the run
    evidence = json.loads(pages[0].with_suffix(".json").read_text(encoding="utf-8"))
    assert evidence["success"] is True and evidence["suite_name"] == pages[0].stem
    assert evidence["meta"]["clv"] == {
        **evidence["meta"]["clv"],
        "run_id": run_id,
        "gate": gate,
        "as_of_date": "2026-11-20",
    }
    assert len(evidence["results"]) > 0
    # GX renders every expectation without an error (it only logs one and leaves the part out)
    assert not [r for r in caplog.records if r.name.startswith("great_expectations") and r.levelno >= logging.ERROR]
    html = index.read_text(encoding="utf-8")
    assert f'id="gate-{gate}"' in html and "passed" in html and "stops the run</span>" not in html


def test_a_failed_check_shows_as_failed_with_its_values_escaped(warehouse):
    """A Chinese label with markup in it: shown failed, as text, on the suite page and on the index."""
    _execute(warehouse, "UPDATE segments.client_segments SET lifecycle_stage = '<b>成长</b>' "
                        "WHERE client_id = (SELECT min(client_id) FROM segments.client_segments)")  # fmt: skip
    with pytest.raises(GateFailed, match="lifecycle_stage"):
        run_stage_gate("segments", D0, RUN)
    index = data_docs_index(RUN, D0)
    page = index.parent / "segments" / "segments.client_segments.html"
    text = page.read_text(encoding="utf-8")
    assert "<b>成长" not in text and "&lt;b&gt;成长&lt;/b&gt;" in text
    assert re.search(r"Status:</span>\s*<i class=\"fas fa-times text-danger\"[^>]*></i>\s*Failed", text)
    failed = _column_section(page, "lifecycle_stage")
    assert "fa-times text-danger" in failed and "&lt;b&gt;成长&lt;/b&gt;" in failed and ">error<" in failed
    assert "fa-times text-danger" not in _column_section(page, "risk_tier")
    html = index.read_text(encoding="utf-8")
    assert "<b>成长" not in html and "&lt;b&gt;成长&lt;/b&gt;" in html
    assert "failed: stops the run" in html
    row = next(r for r in html.split("<tr") if "lifecycle_stage" in r and "expect_column_values_to_be_in_set" in r)
    assert 'class="failed-error"' in row and ">failed<" in row


def test_a_rerun_of_a_gate_replaces_its_pages(warehouse):
    _execute(warehouse, "UPDATE marts.fct_client_profile SET utilisation_ratio = 1.5 "
                        "WHERE client_id = (SELECT min(client_id) FROM marts.fct_client_profile WHERE utilisation_ratio > 0)")  # fmt: skip
    with pytest.raises(GateFailed):
        run_stage_gate("profile", D0, RUN)
    gate_dir = DataDocsTarget(RUN, D0, "profile").gate_dir
    (gate_dir / "left.over.html").write_text("from an attempt before", encoding="utf-8")
    assert "Failed" in (gate_dir / "profile.fct_client_profile.html").read_text(encoding="utf-8")

    _execute(warehouse, "UPDATE marts.fct_client_profile SET utilisation_ratio = 1.0 WHERE utilisation_ratio > 1")
    assert run_stage_gate("profile", D0, RUN)["failed_errors"] == 0
    assert sorted(p.name for p in gate_dir.parent.iterdir()) == ["index.html", "profile"]  # nothing half-done
    assert sorted(p.name for p in gate_dir.iterdir()) == [
        "profile.fct_client_profile.html",
        "profile.fct_client_profile.json",
    ]
    page = (gate_dir / "profile.fct_client_profile.html").read_text(encoding="utf-8")
    assert "Succeeded" in page and "fa-times text-danger" not in page
    html = data_docs_index(RUN, D0).read_text(encoding="utf-8")
    assert html.count('id="gate-profile"') == 1 and html.count("profile.fct_client_profile.html") == 1
    assert "failed: stops the run" not in html


def test_the_drift_gate_is_listed_from_the_recorded_outcomes_after_the_gx_gates(warehouse):
    """D1 = D0's outputs with every CLV doubled: the profile gate passes (GX pages), drift stops (a table)."""
    d1 = D0 + timedelta(days=1)
    with duckdb.connect(str(warehouse)) as con:
        for table, replace in [("marts.fct_client_profile", ""), ("valuation.client_values", ", clv_cny * 2 AS clv_cny"),
                               ("segments.client_segments", "")]:  # fmt: skip
            con.execute(f"INSERT INTO {table} SELECT * REPLACE (as_of_date + 1 AS as_of_date{replace}) "
                        f"FROM {table} WHERE as_of_date = $d", {"d": D0})  # fmt: skip
    run_stage_gate("profile", d1, RUN)
    with pytest.raises(GateFailed, match="total_clv_baseline_cny"):
        run_drift_gate(d1, RUN)
    index = data_docs_index(RUN, d1)
    assert sorted(p.name for p in index.parent.iterdir()) == ["index.html", "profile"]  # no pages for drift
    html = index.read_text(encoding="utf-8")
    assert html.index('id="gate-profile"') < html.index('id="gate-drift"')
    drift = html[html.index('id="gate-drift"') :]
    assert "expect_metric_to_stay_within_drift_bound" in drift and "audit.dq_results" in html
    rows = [r for r in drift.split("<tr") if "total_clv_baseline_cny" in r]
    assert {("failed-error" in r, "failed-warn" in r) for r in rows} == {(True, False), (False, True)}
    assert all("&quot;change&quot;: 1.0" in r for r in rows)
    assert not data_docs_index(RUN, D0).exists()  # another business date, another index


def test_a_gate_without_pages_that_ran_before_is_listed_from_the_recorded_outcomes(warehouse):
    """The freshness gate records outcomes only; the next gate's index shows them first, escaped."""
    from python_tasks.quality.results import Outcome, record_outcomes
    from python_tasks.quality.suites import Expectation

    late = Expectation("expect_source_to_be_delivered_by_deadline", {"source": "clients"}, severity="warn")
    outcome = Outcome(late, False, 1, 1, 100.0, '{"状态": "<late>"}', [], None)
    record_outcomes(warehouse, "freshness", D0, RUN, {"freshness.deliveries": [outcome]})
    run_stage_gate("profile", D0, RUN)
    html = data_docs_index(RUN, D0).read_text(encoding="utf-8")
    assert html.index('id="gate-freshness"') < html.index('id="gate-profile"')
    assert "<late>" not in html and "状态&quot;: &quot;&lt;late&gt;" in html
    summary_row = next(r for r in html.split("<tr") if 'href="#gate-freshness"' in r)
    assert "passed with warnings" in summary_row
