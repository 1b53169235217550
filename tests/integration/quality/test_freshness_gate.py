"""The freshness gate on a generated deployment: a full, on-time delivery passes with every check recorded;
a delivery missing past its deadline is recorded as missing and warns (a `warn` source) or stops the run
naming the source and the deadline (a `stop` source); before the deadline a missing delivery is an error
the DAG retries; a late delivery loaded by a rerun passes; stale external data is reported by its age."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from generated import generated_home

from python_tasks.ingest.job import ingest_source
from python_tasks.ingest.readers import DeliveryError
from python_tasks.orchestration.sources import internal_sources
from python_tasks.quality import freshness_gate
from python_tasks.quality.freshness import deadline, default_rules, load_rules
from python_tasks.quality.results import GateFailed

D0 = date(2026, 11, 20)
D1 = D0 + timedelta(days=1)


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """D0 delivered and ingested, D1 delivered to the inbox but not ingested yet (150 clients)."""
    root = tmp_path_factory.mktemp("freshness")
    with generated_home(root, clients=150, first=D0, days=1, ingest_days=1):
        pass
    return root


@pytest.fixture
def home(delivered: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the deployment (inbox, landing, warehouse) for one test."""
    root = tmp_path / "home"
    shutil.copytree(delivered, root)
    monkeypatch.setenv("CLV_HOME", str(root))
    for var in ("CLV_INBOX_DIR", "CLV_LANDING_DIR", "CLV_WAREHOUSE_PATH", "CLV_EXTERNAL_API_URL"):
        monkeypatch.delenv(var, raising=False)
    return root


def _after_deadline(source: str) -> object:
    return deadline(default_rules(), source, D1) + timedelta(minutes=1)


def _ingest_all(run_id: str) -> dict[str, str]:
    return {s: ingest_source(s, D1, run_id, now=_after_deadline(s))["status"] for s in internal_sources()}


def _hold_back(home: Path, source: str) -> Path:
    """Take ``source``'s D1 delivery out of the inbox (it has not arrived); returns where it was put."""
    held = home / "held" / source
    held.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(home / "inbox" / source / D1.isoformat(), held)
    return held


def _freshness(home: Path, run_id: str) -> dict[str, tuple]:
    with duckdb.connect(str(home / "warehouse" / "clv.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT json_extract_string(kwargs, '$.source'), expectation_type, severity, success, exception "
            "FROM audit.dq_results WHERE gate = 'freshness' AND run_id = $r AND as_of_date = $d",
            {"r": run_id, "d": D1},
        ).fetchall()
    return {(r[0], r[1]): r[2:] for r in rows}


def test_an_on_time_delivery_passes_with_every_check_recorded(home):
    assert set(_ingest_all("run1").values()) == {"loaded"}
    summary = freshness_gate.run_freshness_gate(D1, "run1")
    assert summary["failed_errors"] == summary["failed_warnings"] == 0
    results = _freshness(home, "run1")
    rules = default_rules()
    assert len(results) == len(rules.deliveries.sources) + 2 * len(rules.external) == summary["expectations"]
    assert all(success for _, success, _ in results.values())


def test_a_missing_warn_source_is_recorded_and_the_run_goes_on(home):
    _hold_back(home, "crm_interactions")
    statuses = _ingest_all("run1")
    assert statuses.pop("crm_interactions") == "missing" and set(statuses.values()) == {"loaded"}
    summary = freshness_gate.run_freshness_gate(D1, "run1")
    assert summary["failed_errors"] == 0 and summary["failed_warnings"] == 1
    severity, success, exception = _freshness(home, "run1")[("crm_interactions", "expect_delivery_by_deadline")]
    assert (severity, success) == ("warn", False)
    assert "no delivery of crm_interactions for 2026-11-21 by the deadline 2026-11-22 05:30" in exception
    with duckdb.connect(str(home / "warehouse" / "clv.duckdb"), read_only=True) as con:
        ledger = con.execute(
            "SELECT status, rows_in, rows_loaded, rows_quarantined FROM audit.load_ledger "
            "WHERE source = 'crm_interactions' AND as_of_date = $d", {"d": D1}
        ).fetchall()  # fmt: skip
        partition = con.execute("SELECT count(*) FROM raw.crm_interactions WHERE _as_of_date = $d", {"d": D1})
        assert ledger == [("missing", 0, 0, 0)] and partition.fetchone()[0] == 0
    # the task rerun in the same run records it once
    assert ingest_source("crm_interactions", D1, "run1", now=_after_deadline("crm_interactions"))["status"] == "missing"
    with duckdb.connect(str(home / "warehouse" / "clv.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT count(*) FROM audit.load_ledger WHERE source = 'crm_interactions' AND as_of_date = $d",
                           {"d": D1}).fetchone()  # fmt: skip
    assert rows == (1,)


def test_a_missing_delivery_before_its_deadline_is_an_error_to_retry(home):
    _hold_back(home, "clients")
    early = deadline(default_rules(), "clients", D1) - timedelta(minutes=1)
    with pytest.raises(DeliveryError) as info:
        ingest_source("clients", D1, "run1", now=early)
    assert info.value.rule == "file:missing"
    with duckdb.connect(str(home / "warehouse" / "clv.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM audit.load_ledger WHERE as_of_date = $d", {"d": D1}).fetchone() == (0,)


def test_a_missing_stop_source_stops_the_run_and_a_rerun_with_the_late_file_passes(home):
    held = _hold_back(home, "facilities")
    assert _ingest_all("run1")["facilities"] == "missing"
    with pytest.raises(GateFailed) as info:
        freshness_gate.run_freshness_gate(D1, "run1")
    message = str(info.value)
    assert message.startswith("freshness gate failed for 2026-11-21 (1 error-level checks)")
    assert "expect_delivery_by_deadline" in message and "no delivery of facilities for 2026-11-21" in message
    assert _freshness(home, "run1")[("facilities", "expect_delivery_by_deadline")][:2] == ("error", False)

    shutil.move(held, home / "inbox" / "facilities" / D1.isoformat())  # the file arrives late
    assert ingest_source("facilities", D1, "run2", now=_after_deadline("facilities"))["status"] == "loaded"
    assert freshness_gate.run_freshness_gate(D1, "run2")["failed_errors"] == 0
    # a later attempt that finds the inbox empty again does not undo the load
    shutil.rmtree(home / "inbox" / "facilities" / D1.isoformat())
    assert ingest_source("facilities", D1, "run3", now=_after_deadline("facilities"))["status"] == "missing"
    assert freshness_gate.run_freshness_gate(D1, "run3")["failed_errors"] == 0


def test_external_data_older_than_its_cadence_is_reported(home, monkeypatch, tmp_path):
    _ingest_all("run1")
    with duckdb.connect(str(home / "warehouse" / "clv.duckdb"), read_only=True) as con:
        states = freshness_gate.external_states(con, default_rules(), D1)
    assert states["macro_indicators"].latest_delivery == date(2026, 11, 1)
    assert states["industry_indicators"].latest_data == date(2026, 9, 30)

    strict = tmp_path / "freshness.yml"
    text = (Path(freshness_gate.__file__).parents[2] / "expectations" / "freshness.yml").read_text(encoding="utf-8")
    strict.write_text(text.replace("max_delivery_age_days: 45", "max_delivery_age_days: 14"), encoding="utf-8")
    monkeypatch.setattr(freshness_gate, "default_rules", lambda: load_rules(strict))
    with pytest.raises(GateFailed) as info:
        freshness_gate.run_freshness_gate(D1, "run1")
    assert "macro_indicators: latest delivery 2026-11-01 is 20 days old at 2026-11-21, more than 14 (monthly)" in str(
        info.value
    )
