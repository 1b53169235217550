"""kill -9 of the daily run at chosen points inside the work, then a rerun: the rerun's tables equal a clean
run's, with no duplicate rows and nothing temporary left behind; right after the kill the warehouse opens and the
serving file is the old publication or the new one, whole.

Each crash starts from a copy of the clean reference just before the work it kills (crash_support.PARTS) and
runs the rest of the date in a child that kills itself at the point (crash_points.POINTS: inside an open
transaction, between a new file and its rename, half-way through a shard's files). The rerun is what Airflow
does: a retry of the killed task and those after it under the same run id, or (slow variants) the whole date
again under the same or a new run id. Timing kills (slow) kill the process group a random fraction into a step.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import duckdb
import pytest
from crash_points import POINTS
from crash_support import (
    BEFORE,
    D1,
    PARTS,
    RUN_D1,
    assert_readable_after_kill,
    assert_recovered,
    assert_tables_as_in,
    clean_reference,
    run_crash,
    serving_fingerprint,
)
from harness import fingerprint, kill_group, wait_for_step

from python_tasks.io.files import replace_dir, write_text_atomic
from python_tasks.io.snapshots import Snapshot
from python_tasks.io.warehouse import AUDIT_DDL
from python_tasks.quality.data_docs import DataDocsTarget, write_suite_pages
from python_tasks.quality.freshness_gate import delivery_states

ALL_STEPS = [name for part in PARTS.values() for name in part]


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    return clean_reference(tmp_path_factory)


def _from(part: str) -> list[str]:
    """The steps of ``part`` and every part after it."""
    names = list(PARTS)
    return [s for p in names[names.index(part) :] for s in PARTS[p]]


def _retry(point: str) -> list[str]:
    """Airflow's retry of the killed task, then the tasks after it."""
    return ALL_STEPS[ALL_STEPS.index(POINTS[point].step) :]


def test_kill_inside_a_raw_load_transaction(ref, tmp_path):
    dep = ref.copy("d0", tmp_path / "home")
    run_crash(dep, "raw_load", PARTS["ingest"])
    assert_readable_after_kill(dep, ref, before="d0")
    # the killed load had deleted and re-inserted partition D1 of raw.facilities: none of it may survive
    assert_tables_as_in(dep, ref, "d0", ("raw.facilities",))
    dep.run(D1, run_id=RUN_D1, steps=PARTS["ingest"])
    assert_recovered(dep, ref, "ingest")


def test_kill_inside_the_clv_merge_transaction(ref, tmp_path):
    dep = ref.copy("prepare", tmp_path / "home")
    run_crash(dep, "clv_merge", _from("merge"))
    assert_readable_after_kill(dep, ref, before="prepare")
    assert_tables_as_in(dep, ref, "prepare", ("valuation.",))
    dep.run(D1, run_id=RUN_D1, steps=_from("merge"))
    assert_recovered(dep, ref)


def test_kill_between_the_new_serving_file_and_its_rename(ref, tmp_path):
    dep = ref.copy("merge", tmp_path / "home")
    run_crash(dep, "publish_swap", PARTS["d1"])
    assert_readable_after_kill(dep, ref, before="merge")
    assert serving_fingerprint(dep.serving) == ref.states["merge"].serving, "the serving file changed before its rename"
    assert fingerprint(dep.warehouse) == ref.states["merge"].warehouse
    dep.run(D1, run_id=RUN_D1, steps=PARTS["d1"])
    assert_recovered(dep, ref)


#: (point, the part it kills, tables the killed work may not have changed (prefixes), or None)
RETRIED = [
    ("raw_landing", "ingest", None),
    ("dbt_incremental", "prepare", ("marts.fct_client_profile",)),
    ("dbt_snapshot", "prepare", ("snapshots.",)),
    ("clv_prepare", "prepare", None),
    ("clv_shard", "prepare", None),
    ("clv_merge_committed", "merge", None),
    ("gate_docs", "merge", None),
    ("segments_merge", "merge", ("segments.",)),
    ("publish_build", "d1", ()),
    ("publish_renamed", "d1", ()),
    ("report_write", "d1", ()),
    ("audit_evidence", "d1", ()),
    ("audit_docs", "d1", ()),
]


@pytest.mark.slow
@pytest.mark.parametrize(("point", "part", "untouched"), RETRIED, ids=[p for p, *_ in RETRIED])
def test_kill_and_retry_from_the_killed_task(ref, tmp_path, point, part, untouched):
    before = BEFORE[part]
    dep = ref.copy(before, tmp_path / "home")
    run_crash(dep, point, _from(part))
    assert_readable_after_kill(dep, ref, before=before)
    if untouched:
        assert_tables_as_in(dep, ref, before, untouched)
    elif untouched == ():  # publish and after: the warehouse is only read
        assert fingerprint(dep.warehouse) == ref.states[before].warehouse
    dep.run(D1, run_id=RUN_D1, steps=_retry(point))
    assert_recovered(dep, ref)


WHOLE_DAY = ["raw_load", "dbt_incremental", "clv_shard", "clv_merge", "segments_merge", "publish_renamed"]


@pytest.mark.slow
@pytest.mark.parametrize("point", WHOLE_DAY)
@pytest.mark.parametrize("rerun_id", [RUN_D1, "r1-again"], ids=["same_run", "new_run"])
def test_kill_and_rerun_the_whole_date(ref, tmp_path, point, rerun_id):
    """Airflow's "clear" of the date (same run id) or a new manual run (new run id): every step again."""
    dep = ref.copy("d0", tmp_path / "home")
    run_crash(dep, point, [])
    assert_readable_after_kill(dep, ref, before="d0")
    dep.run(D1, run_id=rerun_id)
    assert_recovered(dep, ref, same_run=rerun_id == RUN_D1)


#: steps to kill by timing: the group is killed a random fraction of the step's clean duration after it starts
TIMED = ["ingest.financial_statements", "dbt_build", "clv.value", "segments.merge", "publish", "audit"]


@pytest.mark.slow
@pytest.mark.parametrize("step", TIMED)
def test_kill_at_a_random_moment_of_a_step(ref, tmp_path, step):
    seed = random.randrange(1_000_000)
    fraction = random.Random(seed).uniform(0.1, 0.9)
    previous = ALL_STEPS[ALL_STEPS.index(step) - 1]
    # the step may run faster than in the reference (built on a busier machine): a run that ends before the
    # kill tested nothing, so it is tried again from the same state, killed twice as early
    for attempt in range(3):
        dep = ref.copy("d0", tmp_path / f"home{attempt}")
        proc = dep.start(D1, run_id=RUN_D1)
        wait_for_step(proc, previous)
        time.sleep(fraction * ref.step_seconds[step])
        status = kill_group(proc)
        print(f"{step}: killed {fraction:.2f} of {ref.step_seconds[step]} s into it (seed {seed}), exit {status}")
        if status == -9:
            break
        fraction /= 2
    assert status == -9, f"the run ended on its own before the kill, three times (exit {status}, seed {seed})"
    assert_readable_after_kill(dep, ref, before="d0")
    dep.run(D1, run_id=RUN_D1)
    assert_recovered(dep, ref)


def test_a_load_retried_in_the_same_run_is_one_delivery_to_the_freshness_gate():
    """A worker killed after its load committed: the retry (same run) finds the delivery unchanged and records
    a second attempt. The gate must report the delivery once (it summed both attempts: 2 files, twice the rows)
    and as the attempt that loaded it, as in a run without the kill."""
    con = duckdb.connect()
    for statement in AUDIT_DDL:
        con.execute(statement)
    first = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
    for started, status, message in ((first, "loaded", None), (first + timedelta(minutes=5), "unchanged",
                                                                 "identical to the loaded delivery")):  # fmt: skip
        con.execute(
            "INSERT INTO audit.load_ledger VALUES ('r1', 'facilities', DATE '2026-11-21', 'facilities_20261121_001.csv', "
            "'/landing/f.csv', 'abc', 100, 5, 5, 0, $status, $message, $at, $at + INTERVAL 1 SECOND)",
            {"status": status, "message": message, "at": started},
        )
    state = delivery_states(con, D1)["facilities"]
    assert (state.status, state.files, state.rows_in, state.message) == ("loaded", 1, 5, None)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_next_writer_removes_work_files_of_killed_writers(tmp_path):
    """What a kill -9 between a write and its rename leaves (``.<name>.<pid>.partial``, ``.<name>-retired-<pid>``)
    is removed by the next writer of the same path; work files of a process still running are kept."""
    dead, alive = _dead_pid(), subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        report = tmp_path / "report.html"
        left = [tmp_path / f".report.html.{dead}.partial", tmp_path / f".docs-retired-{dead}"]
        running = [tmp_path / f".report.html.{alive.pid}.partial", tmp_path / f".docs-retired-{alive.pid}"]
        for path in left + running:
            path.write_text("half")
        write_text_atomic(report, "whole")
        (tmp_path / ".docs.new").mkdir()
        replace_dir(tmp_path / ".docs.new", tmp_path / "docs")
        assert report.read_text() == "whole" and (tmp_path / "docs").is_dir()
        assert [p for p in left if p.exists()] == []
        assert all(p.exists() for p in running)
    finally:
        alive.kill()
        alive.wait()


def test_a_snapshot_removes_the_work_folders_of_runs_killed_while_preparing(tmp_path, monkeypatch):
    """clv.prepare killed before its swap leaves ``shards/clv/<D>/.<run>.<pid>.partial``; the next prepare of D,
    under the same or another run id, removes it (the merge then removes the date's folder, now empty)."""
    monkeypatch.setenv("CLV_HOME", str(tmp_path))
    dead = _dead_pid()
    snapshot = Snapshot("clv", "CLV", D1, "r1-again", RuntimeError, "valued")
    killed = [snapshot.folder.with_name(f".r1.{dead}.partial"), snapshot.folder.with_name(f".r1-again.{dead}.partial")]
    for folder in killed:
        (folder / "inputs").mkdir(parents=True)
        (folder / "inputs" / "clients.parquet").write_text("half")
    partial = snapshot.start()
    snapshot.publish(partial, {"snapshot_id": "s", "shards": 0})
    snapshot.remove()
    assert not snapshot.folder.parent.exists(), list(snapshot.folder.parent.rglob("*"))


def test_a_gate_removes_the_data_docs_work_folder_of_its_killed_attempt(tmp_path, monkeypatch):
    """A gate killed while writing its Data Docs pages leaves their work folder beside the gate's folder; the
    retried gate removes it."""
    monkeypatch.setenv("CLV_HOME", str(tmp_path))
    target = DataDocsTarget("r1", D1, "clv")
    killed = target.gate_dir.with_name(f".{target.gate_dir.name}.{_dead_pid()}.partial")
    killed.mkdir(parents=True)
    (killed / "clv.html").write_text("half a page")
    write_suite_pages(target, [])
    assert target.gate_dir.is_dir()
    assert sorted(p.name for p in target.gate_dir.parent.iterdir()) == [target.gate_dir.name]
