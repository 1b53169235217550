"""The CLV and segments stages split by client shard (what the DAG runs across Celery workers) write the rows
of the run in one process; a missing or stale shard stops the merge naming it; the snapshot is removed after."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from generated import generated_home

from python_tasks.clv import outputs
from python_tasks.clv.job import ClvRunError, run_clv
from python_tasks.clv.sharded import (
    merge_clv_shards,
    prepare_clv_shards,
    run_clv_sharded,
    snapshot_dir,
    value_clv_shard,
)
from python_tasks.segments import outputs as segment_outputs
from python_tasks.segments import sharded as segments_sharded
from python_tasks.segments.job import SegmentRunError, run_segments
from python_tasks.settings import get_settings
from python_tasks.transform.dbt_job import run_dbt_build

D0 = date(2026, 11, 20)
D1 = D0 + timedelta(days=1)
#: amounts may differ in their last bits: NumPy's sums depend on how arrays are laid out in memory, which
#: differs between processes and array sizes (1e-14 relative seen); keys, labels and counts are exact
RTOL = 1e-12
#: columns that differ between two runs of the same inputs by design
_RUN_COLUMNS = {"_run_id", "_computed_at", "run_id", "seconds", "started_at", "finished_at"}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """300 generated clients, two business dates profiled; D0 valued and segmented (so D1 has a previous run)."""
    root = tmp_path_factory.mktemp("sharded")
    with generated_home(root, clients=300, first=D0, days=1):
        for day in (D0, D1):
            run_dbt_build(day, f"daily-{day}")
        run_clv(D0, "clv-d0")
        run_segments(D0, "segments-d0")
        yield root


def _keys(ddl: str) -> list[str]:
    return [k.strip() for k in re.search(r"PRIMARY KEY \(([^)]*)\)", ddl).group(1).split(",")]


def _tables(day: date, schema: str = "valuation") -> dict[str, pd.DataFrame]:
    """Every table's rows of ``day`` in a stage's schema, run columns dropped, in key order."""
    definitions = outputs.TABLES if schema == "valuation" else segment_outputs.TABLES
    columns = outputs.columns if schema == "valuation" else segment_outputs.columns
    out = {}
    with duckdb.connect(str(get_settings().warehouse_path), read_only=True) as con:
        for table, ddl in definitions.items():
            cols = [c for c in columns(table) if c not in _RUN_COLUMNS]
            frame = con.execute(f"SELECT {', '.join(cols)} FROM {schema}.{table} WHERE as_of_date = ?", [day]).df()
            out[table] = frame.sort_values(_keys(ddl)).reset_index(drop=True)
    return out


def test_sharded_equals_unsharded_row_for_row(home):
    run_clv(D1, "clv-one-process")
    expected = _tables(D1)
    assert len(expected["client_values"]) > 500 and len(expected["attribution"]) > 100
    for shards in (1, 3):
        summary = run_clv_sharded(D1, f"clv-{shards}-shards", shards=shards)
        assert summary["shards"] == shards
        got = _tables(D1)
        for table, frame in expected.items():
            pd.testing.assert_frame_equal(got[table], frame, rtol=RTOL, obj=f"{table} with {shards} shards")
        assert not snapshot_dir(D1, f"clv-{shards}-shards").parent.exists()  # nothing left behind


def test_empty_shards_and_a_first_run_without_previous(home):
    expected = _tables(D0)
    prepared = prepare_clv_shards(D0, "clv-many", shards=256)
    assert 0 in prepared["clients_per_shard"] and sum(prepared["clients_per_shard"]) == prepared["clients"]
    for shard in prepared["shards"]:
        value_clv_shard(D0, "clv-many", shard)
    merge_clv_shards(D0, "clv-many")
    got = _tables(D0)
    for table, frame in expected.items():
        pd.testing.assert_frame_equal(got[table], frame, rtol=RTOL, obj=table)


def test_a_missing_or_stale_shard_stops_the_merge_and_changes_nothing(home):
    before = _tables(D1)
    run = "clv-incomplete"
    prepare_clv_shards(D1, run, shards=3)
    value_clv_shard(D1, run, 0)
    value_clv_shard(D1, run, 0)  # a retried shard rewrites its own results
    value_clv_shard(D1, run, 2)
    with pytest.raises(ClvRunError, match=r"shard\(s\) \[1\] have no results"):
        merge_clv_shards(D1, run)
    earlier = snapshot_dir(D1, run) / "outputs" / "shard-0000"
    kept = home / "kept-shard-0000"
    shutil.copytree(earlier, kept)
    prepare_clv_shards(D1, run, shards=3)  # a rerun of prepare voids the earlier results
    assert not earlier.exists()
    value_clv_shard(D1, run, 1)
    shutil.copytree(kept, earlier)  # a shard of the earlier snapshot finishing late
    with pytest.raises(ClvRunError, match=r"shard\(s\) \[2\] have no results and shard\(s\) \[0\] were valued on an earlier"):
        merge_clv_shards(D1, run)
    after = _tables(D1)
    for table, frame in before.items():
        pd.testing.assert_frame_equal(after[table], frame, obj=table)
    manifest = json.loads((snapshot_dir(D1, run) / "manifest.json").read_text())
    assert manifest["shards"] == 3 and manifest["previous"]["as_of_date"] == D0.isoformat()
    with pytest.raises(ClvRunError, match="not one of the snapshot's 3 shards"):
        value_clv_shard(D1, run, 3)
    with pytest.raises(ClvRunError, match="run the prepare step"):
        value_clv_shard(D1, "never-prepared", 0)
    # a new run of D supersedes this one: its prepare removes the earlier snapshot
    prepare_clv_shards(D1, "clv-superseding", shards=2)
    assert not snapshot_dir(D1, run).exists() and snapshot_dir(D1, "clv-superseding").exists()


# --------------------------------------------------------------------------------------------- segments
def test_segments_sharded_equal_unsharded(home):
    run_clv(D1, "clv-d1")
    for day in (D0, D1):  # D0: the first run (no previous); D1: signals carried over, migration
        run_segments(day, f"segments-one-{day}")
        expected = _tables(day, "segments")
        assert len(expected["client_segments"]) > 250 and len(expected["warning_signals"]) > 0
        for shards in (1, 4):
            summary = segments_sharded.run_segments_sharded(day, f"segments-{shards}-{day}", shards=shards)
            assert summary["shards"] == shards
            got = _tables(day, "segments")
            for table, frame in expected.items():
                pd.testing.assert_frame_equal(got[table], frame, rtol=RTOL, obj=f"{day} {table} with {shards} shards")
            assert not segments_sharded.snapshot_dir(day, f"segments-{shards}-{day}").parent.exists()
    assert len(expected["migration"]) > 0


def test_segments_missing_shard_stops_the_merge(home):
    run = "segments-incomplete"
    prepared = segments_sharded.prepare_segment_shards(D1, run, shards=2)
    assert sum(prepared["clients_per_shard"]) == prepared["clients"]
    segments_sharded.value_segment_shard(D1, run, 1)
    with pytest.raises(SegmentRunError, match=r"shard\(s\) \[0\] have no results"):
        segments_sharded.merge_segment_shards(D1, run)
