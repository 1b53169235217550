"""Reruns and backfills give identical outputs; two runs at once never interleave their writers.

CI runs a three-day backfill, a rerun of the whole range and a third run of a past date (100 clients), and
the run lock in-process (re-entrant; a waiter gives up naming the holder; no stale lock after kill -9).
``slow`` (``pytest -m slow tests/resilience/test_reruns.py``): two whole runs started together on one
deployment, and the thirty-day backfill with its rerun.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from harness import (
    ROOT,
    TIMEOUT_S,
    Deployment,
    differences,
    duplicate_keys,
    fingerprint,
    leftovers,
    pipeline,
    serving_fingerprint,
    wait_for_step,
)

from python_tasks.orchestration.pipeline import RunLockTimeout, lock_path, run_lock

D0 = date(2026, 11, 20)
D1, D2 = D0 + timedelta(days=1), D0 + timedelta(days=2)
CLIENTS = 100




def _statuses(dep: Deployment, run_like: str) -> dict[str, int]:
    """Ledger statuses of the runs whose id matches ``run_like`` (SQL LIKE)."""
    con = duckdb.connect(str(dep.warehouse), read_only=True)
    try:
        return dict(con.execute(
            "SELECT status, count(*) FROM audit.load_ledger WHERE run_id LIKE $r GROUP BY 1", {"r": run_like}
        ).fetchall())  # fmt: skip
    finally:
        con.close()


def _assert_same(dep: Deployment, warehouse: dict, serving: dict) -> None:
    assert differences(warehouse, fingerprint(dep.warehouse)) == {}
    assert differences(serving, serving_fingerprint(dep)) == {}
    assert duplicate_keys(dep.warehouse) == {}
    assert leftovers(dep.home) == []


def test_the_run_lock_is_reentrant_and_a_waiter_gives_up_naming_the_holder(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("CLV_HOME", str(tmp_path))
    with run_lock("outer"), run_lock("inner"):  # a restatement holds it while each date runs
        assert lock_path().exists()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from python_tasks.orchestration.pipeline import run_lock\n"
         "with run_lock('backfill-a (2026-11-20)'):\n    print('held', flush=True); time.sleep(60)"],
        cwd=ROOT, env={**os.environ, "CLV_HOME": str(tmp_path)}, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(RunLockTimeout, match=r"backfill-b: gave up after \d+ s waiting for run backfill-a "
                                                 r"\(2026-11-20\) \(pid \d+"):  # fmt: skip
            with run_lock("backfill-b", timeout=1.0):
                pass
        assert 1.0 <= time.monotonic() - started < 10
    finally:
        holder.kill()
        holder.wait()
    with run_lock("after a kill -9 of the holder", timeout=5.0):  # the kernel released it: no stale lock
        pass


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Deployment, dict, dict]:
    """D0..D2 processed as one backfill (``pipeline --date D0 --to D2``): the reference fingerprints."""
    dep = Deployment(tmp_path_factory.mktemp("reruns"))
    dep.generate(clients=CLIENTS, first=D0, days=2)
    pipeline(dep, D0, to=D2)
    return dep, fingerprint(dep.warehouse), serving_fingerprint(dep)


def test_a_backfill_rerun_over_the_whole_range_changes_nothing(backfilled):
    dep, warehouse, serving = backfilled
    assert warehouse["marts.fct_client_profile"][0] > 3 * CLIENTS // 2  # three dates of the delivered clients
    started = time.time()
    pipeline(dep, D0, to=D2)
    _assert_same(dep, warehouse, serving)
    # nothing was loaded again: every file of every date came back byte-identical
    assert set(_statuses(dep, "cli__%")) == {"loaded", "unchanged"}
    con = duckdb.connect(str(dep.warehouse), read_only=True)
    try:
        reruns = con.execute("SELECT status, count(*) FROM audit.load_ledger WHERE started_at >= to_timestamp($t) "
                             "GROUP BY 1", {"t": started}).fetchall()  # fmt: skip
    finally:
        con.close()
    assert dict(reruns).keys() == {"unchanged"}


#: marts rebuilt whole by every dbt run as of the run's date (the CLV's calibration samples): after a rerun
#: of a past date they hold that date's sample, as that date's valuation needs, until the next run
CALIBRATION_MARTS = {"marts.fct_relationship_spells", "marts.fct_scorecard_observations"}


def test_the_same_past_date_a_third_time_changes_nothing(backfilled):
    """D1 ran in the backfill and in its rerun; once more now that D2 is built after it. Everything stays as
    it was but the calibration samples, which are D1's now; the next run of D2 puts them back."""
    dep, warehouse, serving = backfilled
    pipeline(dep, D1, run_id="third-run-of-d1")
    assert _statuses(dep, "third-run-of-d1") == {"unchanged": 9}
    assert differences(warehouse, fingerprint(dep.warehouse)).keys() <= CALIBRATION_MARTS
    assert differences(serving, serving_fingerprint(dep)) == {}
    assert duplicate_keys(dep.warehouse) == {} and leftovers(dep.home) == []
    con = duckdb.connect(str(dep.warehouse), read_only=True)
    try:
        observed = con.execute("SELECT DISTINCT observed_through_date FROM marts.fct_relationship_spells").fetchall()
    finally:
        con.close()
    assert observed == [(D1,)]
    pipeline(dep, D2, run_id="back-to-d2")
    _assert_same(dep, warehouse, serving)


@pytest.mark.slow
def test_two_runs_at_once_are_serialised_never_interleaved(backfilled):
    """A second run on the same deployment waits for the first (and says so); one that may wait only briefly
    gives up with a clear error and changes nothing; the waiting run's writes all come after the first's."""
    dep, warehouse, serving = backfilled
    first = dep.start(D2, run_id="lock-first")
    wait_for_step(first, "ingest.clients")
    impatient = dep.start(D2, run_id="lock-impatient", extra_env={"CLV_RUN_LOCK_TIMEOUT": "2"})
    out_impatient = impatient.communicate(timeout=300)[0]
    second = dep.start(D2, run_id="lock-second")
    time.sleep(3)
    assert first.poll() is None, "the first run ended before the second had to wait: nothing was tested"
    out_first = first.communicate(timeout=900)[0]
    out_second = second.communicate(timeout=900)[0]
    assert first.returncode == 0, out_first[-3000:]
    assert impatient.returncode != 0
    assert "gave up after" in out_impatient and "waiting for run lock-first (2026-11-22)" in out_impatient
    assert second.returncode == 0, out_second[-3000:]
    assert "lock-second (2026-11-22) waits for run lock-first (2026-11-22)" in out_second

    con = duckdb.connect(str(dep.warehouse), read_only=True)
    try:
        (first_done,) = con.execute(
            "SELECT recorded_at FROM audit.run_audit WHERE run_id = 'lock-first' AND status = 'success'"
        ).fetchone()
        second_started = con.execute(
            "SELECT min(started_at) FROM (SELECT started_at FROM audit.load_ledger WHERE run_id = 'lock-second' "
            "UNION ALL SELECT started_at FROM audit.dbt_results WHERE run_id = 'lock-second')"
        ).fetchone()[0]
        impatient_rows = con.execute(
            "SELECT count(*) FROM audit.load_ledger WHERE run_id = 'lock-impatient'"
        ).fetchone()[0]
    finally:
        con.close()
    assert second_started > first_done
    assert impatient_rows == 0
    _assert_same(dep, warehouse, serving)


@pytest.mark.slow
def test_a_30_day_backfill_then_a_rerun_of_the_whole_range_is_identical(tmp_path: Path):
    dep = Deployment(tmp_path)
    last = D0 + timedelta(days=29)
    dep.generate(clients=CLIENTS, first=D0, days=29)
    started = time.perf_counter()
    pipeline(dep, D0, to=last, timeout=6 * TIMEOUT_S)
    backfill_s = time.perf_counter() - started
    warehouse, serving = fingerprint(dep.warehouse), serving_fingerprint(dep)
    with duckdb.connect(str(dep.warehouse), read_only=True) as con:  # every date built, valued and published
        built = con.execute(
            "SELECT (SELECT count(DISTINCT as_of_date) FROM marts.fct_client_profile), "
            "(SELECT count(DISTINCT as_of_date) FROM valuation.client_values), "
            "(SELECT count(*) FROM audit.run_audit WHERE status = 'success')"
        ).fetchone()
    assert built == (30, 30, 30)
    started = time.perf_counter()
    pipeline(dep, D0, to=last, timeout=6 * TIMEOUT_S)
    rerun_s = time.perf_counter() - started
    _assert_same(dep, warehouse, serving)
    print(f"30-day backfill at {CLIENTS} clients: {backfill_s:.0f} s; rerun of the range: {rerun_s:.0f} s")
