"""Publishing the serving database and Parquet: every BI table as declared, an atomic swap under a reader
that keeps its snapshot and is never blocked, stale WAL refused and removed, a failed publish that changes
nothing, idempotent reruns, failed gates that keep a date out of BI."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest
from serving_support import D0, D1, copy_business_date, record_gate

from python_tasks.serving import publish
from python_tasks.serving.bi_schema import PARTITION_BY_DATE, PUBLISHED_TABLES, bi_tables
from python_tasks.serving.database import StaleWalError, open_serving, serving_paths
from python_tasks.serving.publish import PublishRefused, run_publish

DOC = Path(__file__).resolve().parents[3] / "docs" / "bi.md"


def _table_digest(con: duckdb.DuckDBPyConnection, table: str, exclude: tuple[str, ...] = ()) -> str:
    frame = con.execute(f"SELECT * EXCLUDE ({', '.join(exclude)}) FROM bi.{table} ORDER BY ALL" if exclude
                        else f"SELECT * FROM bi.{table} ORDER BY ALL").df()  # fmt: skip
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()


def _tree(root: Path) -> dict[str, str]:
    """Relative path → sha256 of every file under ``root``."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _serving_state(home: Path) -> tuple[str, dict[str, str]]:
    paths = serving_paths()
    return hashlib.sha256(paths.database.read_bytes()).hexdigest(), _tree(paths.parquet)


def _assert_no_leftovers() -> None:
    paths = serving_paths()
    assert not list(paths.root.glob(".clv_serving.*")), "temporary serving files left behind"
    assert not paths.wal.exists()
    assert not paths.staging.exists() or not any(paths.staging.iterdir()), "staging left behind"


def test_publish_writes_every_bi_table_as_declared(serving_home):
    summary = run_publish(D0, "pub-1")

    assert summary["published_dates"] == [D0.isoformat()]
    assert set(PUBLISHED_TABLES) == {f"bi.{t.name}" for t in bi_tables()}
    assert all(
        isinstance(k, str) and k.startswith("bi.") and isinstance(v, str) and v for k, v in PUBLISHED_TABLES.items()
    )
    with open_serving() as con:
        columns: dict[str, list[tuple[str, str]]] = {}
        for table, column, data_type in con.execute(
            "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE schema_name = 'bi' "
            "ORDER BY table_name, column_index"
        ).fetchall():
            columns.setdefault(table, []).append((column, data_type))
        assert set(columns) == {t.name for t in bi_tables()}
        for table in bi_tables():
            declared = [
                (c.name, {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}.get(c.type, c.type)) for c in table.columns
            ]
            assert columns[table.name] == declared, table.name
            (rows,) = con.execute(f"SELECT count(*) FROM bi.{table.name}").fetchone()
            assert rows == summary["tables"][table.name]
        # the tables BI lives on are not empty
        for table in ("clients", "current_client_value", "clv_history", "segment_summary", "strategy_matrix",
                      "early_warnings", "watch_list", "data_quality_results", "run_history", "publications"):  # fmt: skip
            assert summary["tables"][table] > 0, table
        clients = con.execute("SELECT count(*) FROM bi.current_client_value").fetchone()[0]
        assert con.execute("SELECT count(DISTINCT client_id) FROM bi.clv_history").fetchone()[0] == clients
        assert con.execute("SELECT DISTINCT scenario FROM bi.clv_history ORDER BY 1").fetchall() == [
            ("adverse",), ("baseline",), ("severe",)]  # fmt: skip
        # the strategy matrix is the rules' full grid, and its cells hold every segmented client
        assert con.execute("SELECT count(*), sum(clients) FROM bi.strategy_matrix").fetchone() == (12, clients)
        publication = con.execute(
            "SELECT run_id, as_of_date, storage_version, business_dates FROM bi.publications"
        ).fetchall()
        assert publication == [("pub-1", D0, "v1.4.0", 1)]
        assert con.execute("SELECT status, is_published FROM bi.run_history WHERE as_of_date = $d", {"d": D0}).fetchall() == [
            ("published", True)]  # fmt: skip

        # Parquet: a partition per table for D, with the rows of D (the whole table for snapshots)
        parquet = serving_paths().parquet
        for table in bi_tables():
            files = list((parquet / table.name / f"as_of_date={D0}").glob("*.parquet"))
            assert len(files) == 1, table.name
            (in_file,) = con.execute(f"SELECT count(*) FROM read_parquet('{files[0]}')").fetchone()
            where = f" WHERE as_of_date = DATE '{D0}'" if table.partition == PARTITION_BY_DATE else ""
            assert in_file == con.execute(f"SELECT count(*) FROM bi.{table.name}{where}").fetchone()[0], table.name
        hive = con.execute(
            f"SELECT DISTINCT as_of_date FROM read_parquet('{parquet}/clv_history/*/*.parquet', hive_partitioning = true)"
        ).fetchall()
        assert hive == [(D0,)]
    _assert_no_leftovers()

    # every published column is in the data dictionary, under its table
    doc = DOC.read_text(encoding="utf-8")
    for table in bi_tables():
        section = doc.split(f"### `bi.{table.name}`", 1)[1].split("\n### ", 1)[0]
        for name, _ in columns[table.name]:
            assert f"| `{name}` |" in section, f"bi.{table.name}.{name} missing from docs/bi.md"


def test_rerun_is_idempotent(serving_home):
    run_publish(D0, "pub-1")
    with open_serving() as con:
        before = _content(con)
    parquet_before = _tree(serving_paths().parquet)

    assert run_publish(D0, "pub-1")["build"] == "incremental"  # the first was full: the content is the same
    with open_serving() as con:
        after = _content(con)
        assert con.execute("SELECT count(*) FROM bi.publications").fetchone()[0] == 1
    assert after == before
    parquet_after = _tree(serving_paths().parquet)
    assert set(parquet_after) == set(parquet_before)
    changed = {p for p in parquet_after if parquet_after[p] != parquet_before[p]}
    assert changed <= {f"publications/as_of_date={D0}/part-0.parquet"}  # only published_at and how it was built
    _assert_no_leftovers()

    run_publish(D0, "pub-2")  # another run of the same day adds its own row to the history
    with open_serving() as con:
        assert con.execute("SELECT run_id FROM bi.publications ORDER BY published_at").fetchall() == [
            ("pub-1",),
            ("pub-2",),
        ]


_READER = textwrap.dedent(
    """
    import json, sys, threading, time
    import duckdb

    path = sys.argv[1]
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()

    def snapshot(con):
        return con.execute(
            "SELECT (SELECT string_agg(run_id, ',' ORDER BY published_at) FROM bi.publications), "
            "(SELECT count(*) FROM bi.clv_history), (SELECT sum(clv_base_cny) FROM bi.current_client_value)"
        ).fetchone()

    con = duckdb.connect(path, read_only=True)
    first = snapshot(con)
    print(json.dumps({"ready": True}), flush=True)
    seen, slowest, n = set(), 0.0, 0
    while not stop.is_set():
        t = time.perf_counter()
        seen.add(json.dumps(snapshot(con)))
        slowest = max(slowest, time.perf_counter() - t)
        n += 1
        time.sleep(0.005)
    last = snapshot(con)
    con.close()
    con = duckdb.connect(path, read_only=True)
    fresh = snapshot(con)
    con.close()
    print(json.dumps({"first": first, "seen": sorted(seen), "last": last, "fresh": fresh, "queries": n,
                      "slowest": slowest}), flush=True)
    """
)


def test_reader_keeps_its_snapshot_through_a_publish_and_a_reconnect_sees_the_new_one(serving_home):
    run_publish(D0, "pub-1")
    reader = subprocess.Popen(
        [sys.executable, "-c", _READER, str(serving_paths().database)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert json.loads(reader.stdout.readline()) == {"ready": True}, reader.stderr.read()
        started = time.perf_counter()
        run_publish(D0, "pub-2")
        publish_seconds = time.perf_counter() - started
        reader.stdin.write("stop\n")
        reader.stdin.flush()
        out, err = reader.communicate(timeout=60)
    finally:
        reader.kill()
    result = json.loads(out.strip().splitlines()[-1])
    first = json.dumps(result["first"])
    assert result["first"][0] == "pub-1"
    assert result["seen"] == [first], "the open connection saw something other than its snapshot"
    assert result["last"] == result["first"]
    assert result["fresh"][0] == "pub-1,pub-2" and result["fresh"][1:] == result["first"][1:]
    # the reader went on querying during the whole publish, never waiting for it
    assert result["queries"] >= 5, err
    assert result["slowest"] < min(1.0, publish_seconds), result


_ROGUE_WRITER = textwrap.dedent(
    """
    import os, sys
    import duckdb
    con = duckdb.connect(sys.argv[1])  # read-write: what nobody may do
    con.execute("SET checkpoint_threshold = '1GB'")
    con.execute("CREATE TABLE bi.rogue AS SELECT 42 AS answer")
    os._exit(0)  # no checkpoint: the change stays in the .wal
    """
)


def test_stale_wal_is_refused_by_readers_and_removed_by_publish(serving_home, caplog):
    run_publish(D0, "pub-1")
    paths = serving_paths()
    subprocess.run([sys.executable, "-c", _ROGUE_WRITER, str(paths.database)], check=True, timeout=60)
    assert paths.wal.exists() and paths.wal.stat().st_size > 0

    with pytest.raises(StaleWalError, match="read-write"):
        with open_serving():
            pass
    with pytest.raises(ValueError, match="never opened read-write"):
        with open_serving(read_only=False):
            pass

    with caplog.at_level(logging.WARNING, logger="python_tasks.serving.publish"):
        summary = run_publish(D0, "pub-2")
    assert summary["stale_wal_removed"] is True
    assert any("stale" in r.getMessage() and ".wal" in r.getMessage() for r in caplog.records)
    assert not paths.wal.exists()
    with open_serving() as con:
        tables = {
            r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'bi'").fetchall()
        }
        assert "rogue" not in tables  # the log was discarded, not replayed into the new file
        assert con.execute("SELECT count(*) FROM bi.publications").fetchone()[0] == 2


@pytest.mark.parametrize("failing_step", ["verify_serving_file", "_replace_file"])
def test_failed_publish_leaves_the_previous_state_untouched(serving_home, failing_step):
    run_publish(D0, "pub-1")
    before = _serving_state(serving_home)

    def fail(*args, **kwargs):
        raise RuntimeError(f"injected failure in {failing_step}")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(publish, failing_step, fail)
        with pytest.raises(RuntimeError, match="injected failure"):
            run_publish(D0, "pub-2")

    assert _serving_state(serving_home) == before
    _assert_no_leftovers()
    with open_serving() as con:
        assert con.execute("SELECT run_id FROM bi.publications").fetchall() == [("pub-1",)]
    run_publish(D0, "pub-2")  # the retry then publishes
    with open_serving() as con:
        assert con.execute("SELECT count(*) FROM bi.publications").fetchone()[0] == 2


def test_a_failed_gate_keeps_the_date_out_of_bi(serving_home, warehouse_sql):
    run_publish(D0, "pub-d0")
    copy_business_date(serving_home / "warehouse" / "clv.duckdb", D0, D1, "run-d1")
    record_gate(warehouse_sql, D1, "clv", "run-d1", success=False)
    before = _serving_state(serving_home)

    # D1 itself is refused, nothing changes
    with pytest.raises(PublishRefused, match="clv"):
        run_publish(D1, "run-d1")
    assert _serving_state(serving_home) == before

    # a publish of D0 leaves D1 out of every table, and says why
    summary = run_publish(D0, "pub-d0-again")
    assert summary["published_dates"] == [D0.isoformat()]
    with open_serving() as con:
        for table in bi_tables():
            if table.partition == PARTITION_BY_DATE and table.published_dates_only:
                dates = con.execute(f"SELECT DISTINCT as_of_date FROM bi.{table.name}").fetchall()
                assert dates in ([(D0,)], []), table.name
        assert con.execute("SELECT status FROM bi.run_history WHERE as_of_date = $d", {"d": D1}).fetchall() == [
            ("failed_gate",)]  # fmt: skip
        assert (
            con.execute(
                "SELECT count(*) FROM bi.data_quality_results WHERE as_of_date = $d AND NOT passed", {"d": D1}
            ).fetchone()[0]
            == 1
        )

    # the rerun of D1 passes its gate: D1 is published, its partitions appear
    record_gate(warehouse_sql, D1, "clv", "run-d1-fixed", success=True, at="2030-01-02 00:00:00+00")
    summary = run_publish(D1, "run-d1-fixed")
    assert summary["published_dates"] == [D0.isoformat(), D1.isoformat()]
    assert (serving_paths().parquet / "clv_history" / f"as_of_date={D1}" / "part-0.parquet").exists()
    with open_serving() as con:
        assert con.execute("SELECT max(valuation_date) FROM bi.current_client_value").fetchone()[0] == D1


def _content(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Digest of every BI table; of the publication history without what differs between two builds."""
    return {t.name: _table_digest(con, t.name, ("published_at", "build_mode", "build_note")
                                  if t.name == "publications" else ()) for t in bi_tables()}  # fmt: skip


def _rebuilt_in_full(monkeypatch, day, run_id: str) -> dict[str, str]:
    """The same publish again, every table rebuilt from the warehouse: its content."""
    with monkeypatch.context() as m:
        m.setenv(publish.FULL_REBUILD_VARIABLE, "1")
        summary = run_publish(day, run_id)
    assert summary["build"] == "full" and publish.FULL_REBUILD_VARIABLE in summary["build_note"]
    with open_serving() as con:
        return _content(con)


def test_a_daily_publish_rebuilds_only_the_changed_dates_and_equals_a_full_build(serving_home, warehouse_sql,
                                                                                   monkeypatch):  # fmt: skip
    first = run_publish(D0, "pub-d0")
    assert (first["build"], first["build_note"]) == ("full", "there is no serving file yet")
    copy_business_date(serving_home / "warehouse" / "clv.duckdb", D0, D1, "run-d1")
    warehouse_sql("UPDATE valuation.client_values SET clv_cny = clv_cny + 1 WHERE as_of_date = $d", {"d": D1})

    daily = run_publish(D1, "run-d1")
    assert (daily["build"], daily["build_note"]) == ("incremental", f"rebuilt {D1}; carried over 1 business dates")
    with open_serving() as con:
        incremental = _content(con)
        assert con.execute("SELECT run_id, build_mode FROM bi.publications ORDER BY published_at").fetchall() == [
            ("pub-d0", "full"), ("run-d1", "incremental")]  # fmt: skip
        assert con.execute("SELECT count(DISTINCT as_of_date) FROM bi.clv_history").fetchone()[0] == 2
    _assert_no_leftovers()
    assert _rebuilt_in_full(monkeypatch, D1, "run-d1") == incremental

    # a later evaluation fails D0's gate: the next publish removes D0 from the history tables
    record_gate(warehouse_sql, D0, "clv", "recheck-d0", success=False, at="2030-01-03 00:00:00+00")
    held_back = run_publish(D1, "run-d1-again")
    assert (held_back["build"], held_back["build_note"]) == ("incremental", f"rebuilt {D1}; removed {D0}; "
                                                                            "carried over 0 business dates")  # fmt: skip
    assert held_back["published_dates"] == [D1.isoformat()]
    with open_serving() as con:
        incremental = _content(con)
        assert con.execute("SELECT DISTINCT as_of_date FROM bi.clv_history").fetchall() == [(D1,)]
    assert _rebuilt_in_full(monkeypatch, D1, "run-d1-again") == incremental


def test_a_serving_file_changed_after_publishing_is_rebuilt_not_carried_over(serving_home):
    run_publish(D0, "pub-d0")
    with duckdb.connect(str(serving_paths().database)) as con:  # a tool that opened it read-write, and wrote
        con.execute("DELETE FROM bi.clv_history WHERE scenario = 'severe'")
    summary = run_publish(D0, "pub-d0-again")
    assert summary["build"] == "full" and summary["build_note"].startswith("bi.clv_history holds ")
    with open_serving() as con:
        assert con.execute("SELECT count(*) FROM bi.clv_history WHERE scenario = 'severe'").fetchone()[0] > 0


def test_an_unsegmented_date_is_refused(serving_home):
    with pytest.raises(PublishRefused, match="not been segmented"):
        run_publish(D1, "too-early")
    assert not serving_paths().database.exists()
