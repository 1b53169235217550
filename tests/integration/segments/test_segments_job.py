"""The segments run on a generated warehouse: every client segmented once per date with allowed labels,
offers that obey their constraints, signals that open, stay and close across runs, migration matrices
that reconcile, stable clusters, identical reruns, and a clear error when the CLV is missing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from generated import generated_home

from python_tasks.clv.job import run_clv
from python_tasks.segments.job import SegmentRunError, run_segments
from python_tasks.segments.params import (
    LIFECYCLE_STAGES,
    RISK_TIERS,
    STRATEGIES,
    USAGE_PATTERNS,
    VALUE_TIERS,
    load_segment_params,
)
from python_tasks.settings import SEEDS_DIR, SEGMENT_RULES_FILE, get_settings
from python_tasks.transform.dbt_job import run_dbt_build

D0 = date(2026, 11, 20)
DAYS = [D0, D0 + timedelta(days=1), D0 + timedelta(days=2)]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """S-scale data (400 clients) for three business dates, profiled, valued and segmented."""
    root = tmp_path_factory.mktemp("segments")
    with generated_home(root, clients=400, first=D0, days=2):
        for day in DAYS:
            run_dbt_build(day, f"daily-{day}")
        with pytest.raises(SegmentRunError, match="run the clv stage first"):
            run_segments(D0, "too-early")
        for day in DAYS:
            run_clv(day, f"clv-{day}")
            run_segments(day, f"segments-{day}")
        yield root


def _frame(sql: str, *params: object) -> pd.DataFrame:
    with duckdb.connect(str(get_settings().warehouse_path), read_only=True) as con:
        return con.execute(sql, list(params)).df()


def test_every_client_has_every_segmentation_with_an_allowed_label(home):
    for day in DAYS:
        profile = _frame("SELECT client_id FROM marts.fct_client_profile WHERE as_of_date = ?", day)
        seg = _frame("SELECT * FROM segments.client_segments WHERE as_of_date = ?", day)
        assert sorted(seg["client_id"]) == sorted(profile["client_id"])
        for column, allowed in (("value_tier", VALUE_TIERS), ("risk_tier", RISK_TIERS), ("strategy", STRATEGIES),
                                ("lifecycle_stage", LIFECYCLE_STAGES), ("usage_pattern", USAGE_PATTERNS)):  # fmt: skip
            assert set(seg[column]) <= set(allowed), column
        required = ["value_tier_zh", "risk_reason", "policy_terms_zh", "lifecycle_reason", "cluster_id",
                    "cluster_description", "feature_fingerprint"]  # fmt: skip
        assert seg[required].notna().all().all()
        assert {"高价值", "中价值", "低价值"} == set(seg["value_tier_zh"])


def test_strategies_follow_the_matrix_and_offers_obey_their_constraints(home):
    rules = load_segment_params(SEGMENT_RULES_FILE)
    seg = _frame(
        "SELECT s.*, p.products_held_list FROM segments.client_segments s "
        "JOIN marts.fct_client_profile p USING (as_of_date, client_id)"
    )
    expected = [rules.strategy_matrix[v][r] for v, r in zip(seg["value_tier"], seg["risk_tier"], strict=True)]
    assert seg["strategy"].tolist() == expected
    offered = seg[seg["next_best_offer"].notna()]
    assert len(offered) > 0.2 * len(seg)
    held = offered["products_held_list"].fillna("").str.split(",")
    assert not any(o in h for o, h in zip(offered["next_best_offer"], held, strict=True))
    credit = set(pd.read_csv(SEEDS_DIR / "ref_products.csv").query("is_credit")["product_code"]) | {"limit_increase"}
    assert not offered[offered["risk_tier"].isin(["high", "default"])]["next_best_offer"].isin(credit).any()
    assert offered["strategy"].isin(["grow", "maintain", "monitor"]).all()
    assert offered["offer_reason_en"].notna().all() and offered["offer_reason_zh"].notna().all()


def test_signals_open_stay_and_close_across_runs(home):
    signals = _frame("SELECT * FROM segments.warning_signals ORDER BY as_of_date")
    assert len(signals) > 0 and set(signals["status"]) <= {"new", "active", "closed"}
    for before, after in zip(DAYS, DAYS[1:], strict=False):
        was_open = signals[(signals["as_of_date"] == pd.Timestamp(before)) & signals["status"].isin(["new", "active"])]
        now = signals[signals["as_of_date"] == pd.Timestamp(after)]
        key = ["client_id", "signal_code"]
        open_keys = set(map(tuple, was_open[key].to_numpy()))
        for status, frame in now.groupby("status"):
            keys = set(map(tuple, frame[key].to_numpy()))
            if status == "new":
                assert not keys & open_keys  # a signal that stays open is not raised again as new
            else:
                assert keys <= open_keys  # only an open signal can be active or close
        assert open_keys == set(map(tuple, now[now["status"] != "new"][key].to_numpy()))  # none is lost
        carried = now[now["status"] == "active"].merge(was_open, on=key, suffixes=("", "_before"))
        assert (carried["opened_date"] == carried["opened_date_before"]).all()
        closed = now[now["status"] == "closed"]
        assert (closed["closed_date"] == pd.Timestamp(after)).all()
    watch = _frame("SELECT * FROM segments.watch_list WHERE as_of_date = ? ORDER BY priority_rank", DAYS[-1])
    open_today = signals[(signals["as_of_date"] == pd.Timestamp(DAYS[-1])) & (signals["status"] != "closed")]
    assert set(watch["client_id"]) == set(open_today["client_id"])
    assert watch["priority_rank"].tolist() == list(range(1, len(watch) + 1))
    assert watch["priority_score"].is_monotonic_decreasing


def test_migration_rows_reconcile_with_the_previous_run(home):
    for before, after in zip(DAYS, DAYS[1:], strict=False):
        m = _frame("SELECT * FROM segments.migration WHERE as_of_date = ? AND comparison = 'run'", after)
        assert set(m["dimension"]) == {"value_tier", "risk_tier", "lifecycle_stage", "cluster_id"}
        previous = _frame("SELECT * FROM segments.client_segments WHERE as_of_date = ?", before)
        today = _frame("SELECT * FROM segments.client_segments WHERE as_of_date = ?", after)
        for dimension, part in m.groupby("dimension"):
            rows = part[part["from_label"] != "(new)"].groupby("from_label")["clients"].sum()
            assert rows.to_dict() == previous[dimension].astype(str).value_counts().to_dict(), dimension
            cols = part[part["to_label"] != "(gone)"].groupby("to_label")["clients"].sum()
            assert cols.to_dict() == today[dimension].astype(str).value_counts().to_dict(), dimension


def test_clusters_keep_their_ids_and_unchanged_clients_keep_their_cluster(home):
    a = _frame(
        "SELECT client_id, cluster_id, feature_fingerprint FROM segments.client_segments WHERE as_of_date = ?", DAYS[1]
    )
    b = _frame(
        "SELECT client_id, cluster_id, feature_fingerprint FROM segments.client_segments WHERE as_of_date = ?", DAYS[2]
    )
    both = a.merge(b, on="client_id", suffixes=("_a", "_b"))
    unchanged = both[both["feature_fingerprint_a"] == both["feature_fingerprint_b"]]
    assert len(unchanged) > 0 and (unchanged["cluster_id_a"] == unchanged["cluster_id_b"]).all()
    assert (both["cluster_id_a"] == both["cluster_id_b"]).mean() > 0.9
    selection = _frame("SELECT * FROM segments.cluster_selection WHERE as_of_date = ?", DAYS[2])
    assert selection["is_chosen"].sum() == 1


def test_summaries_cover_every_client_in_every_dimension(home):
    summary = _frame("SELECT dimension, sum(clients) AS clients FROM segments.segment_summary WHERE as_of_date = ? "
                     "GROUP BY 1", DAYS[-1])  # fmt: skip
    clients = _frame("SELECT count(*) AS n FROM segments.client_segments WHERE as_of_date = ?", DAYS[-1])["n"][0]
    assert len(summary) == 10 and (summary["clients"] == clients).all()


def test_a_rerun_replaces_the_date_with_identical_rows(home):
    def content(table: str) -> pd.DataFrame:
        frame = _frame(f"SELECT * EXCLUDE (_run_id) FROM segments.{table} WHERE as_of_date = ?", DAYS[1])
        return frame.sort_values(list(frame.columns[:3])).reset_index(drop=True)

    tables = ("client_segments", "warning_signals", "watch_list", "migration", "segment_summary", "cluster_centroids")
    before = {t: content(t) for t in tables}
    run_segments(DAYS[1], "rerun")
    for table in tables:
        pd.testing.assert_frame_equal(content(table), before[table], obj=table)
    runs = _frame("SELECT as_of_date, run_id FROM segments.runs ORDER BY 1")
    assert runs["run_id"].tolist() == [f"segments-{DAYS[0]}", "rerun", f"segments-{DAYS[2]}"]
