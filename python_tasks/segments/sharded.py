"""The segmentation split by client shard, like the CLV stage (python_tasks/clv/sharded.py):

1. ``prepare_segment_shards`` (warehouse pool): reads D's profile, CLV, context and the previous run, makes
   the two portfolio-wide decisions once (``portfolio.fit_portfolio``: the value-tier thresholds and the
   behavioural clusters), and writes each shard's inputs with the clusters of its clients as Parquet files
   of a snapshot folder, with a manifest.
2. ``value_segment_shard`` (one mapped task per shard, the ``compute`` queue): tiers, strategy, lifecycle,
   usage, offers and early-warning signals of its clients (``portfolio.segment_clients``); no warehouse.
3. ``merge_segment_shards`` (warehouse pool): the portfolio-wide results from every shard's rows (watch list,
   summaries, migration; ``portfolio.finish_portfolio``) and D's ``segments`` tables in one transaction.

Every client's rows depend on its own inputs and the portfolio's fits only, so any split gives the rows of
the one-process run. Idempotent per business date like the CLV's steps.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd

from python_tasks.io.snapshots import Snapshot, concat_parquet, write_parquet
from python_tasks.io.warehouse import connect
from python_tasks.segments.clusters import ClusterResult
from python_tasks.segments.job import SegmentRunError, current_params, day_of, gather_inputs, store_results
from python_tasks.segments.params import SegmentParams
from python_tasks.segments.portfolio import (
    PortfolioFits,
    PreviousRun,
    SegmentInputError,
    finish_portfolio,
    fit_portfolio,
    open_signals_before,
    segment_clients,
)
from python_tasks.segments.tiers import ValueThresholds
from python_tasks.settings import get_settings
from python_tasks.sharding import check_shard_count, shards_of

log = logging.getLogger(__name__)

_SHARDED_INPUTS = ("profile", "values", "context", "open_before", "clusters")
_OUTPUTS = ("segments", "history", "signal_inputs")


def _snapshot(day: date, run_id: str) -> Snapshot:
    return Snapshot("segments", "segments", day, run_id, SegmentRunError, "segmented")


def prepared_shards(as_of_date: date | str, run_id: str) -> list[int]:
    """The shard numbers the run's prepare step wrote (from its manifest)."""
    return list(range(_snapshot(day_of(as_of_date), run_id).manifest()["shards"]))


def snapshot_dir(day: date, run_id: str) -> Path:
    """``<CLV_HOME>/shards/segments/<D>/<run>/``."""
    return _snapshot(day, run_id).folder


def _fits(folder: Path, manifest: dict, clusters: pd.DataFrame) -> PortfolioFits:
    """The portfolio's fits as the shards and the merge need them (the clusters of the clients given)."""
    labels = clusters.set_index("client_id")
    result = ClusterResult(
        labels=labels["cluster_id"].astype("int64").rename("cluster_id"),
        fingerprints=labels["fingerprint"].astype("str").rename("fingerprint"),
        centroids=pd.read_parquet(folder / "centroids.parquet"),
        selection=pd.read_parquet(folder / "selection.parquet"),
        kept_by_fingerprint=manifest["clusters_kept_by_fingerprint"],
        matched={int(k): v for k, v in manifest["clusters_matched"].items()},
    )
    return PortfolioFits(ValueThresholds(**manifest["thresholds"]), result)


def prepare_segment_shards(as_of_date: date | str, run_id: str, shards: int | None = None) -> dict:
    """Fit the thresholds and the clusters on the whole portfolio; write D's inputs split into shards."""
    day = day_of(as_of_date)
    count = check_shard_count(shards if shards is not None else get_settings().shards)
    params = current_params()
    started_at, started = datetime.now(UTC), time.perf_counter()
    with connect() as con:
        inputs = gather_inputs(con, day, params)
    previous = inputs.previous
    try:
        fits = fit_portfolio(inputs.profile, inputs.values, params, previous)
    except SegmentInputError as exc:
        raise SegmentRunError(str(exc)) from exc
    clusters = pd.DataFrame({
        "client_id": fits.clusters.labels.index.astype(str), "cluster_id": fits.clusters.labels.to_numpy(),
        "fingerprint": fits.clusters.fingerprints.to_numpy(dtype=object),
    })  # fmt: skip
    frames = {
        "profile": inputs.profile, "values": inputs.values, "context": inputs.context,
        "open_before": open_signals_before(previous), "clusters": clusters,
    }  # fmt: skip
    snapshot = _snapshot(day, run_id)
    partial = snapshot.start()
    counts: dict[str, list[int]] = {}
    for name, frame in frames.items():
        shard = shards_of(frame["client_id"].astype(str), count)
        counts[name] = [int((shard == k).sum()) for k in range(count)]
        for k in range(count):
            write_parquet(frame[shard == k].reset_index(drop=True), snapshot.inputs(k, partial) / f"{name}.parquet")
    write_parquet(inputs.catalogue, partial / "catalogue.parquet")
    write_parquet(fits.clusters.centroids, partial / "centroids.parquet")
    write_parquet(fits.clusters.selection, partial / "selection.parquet")
    if previous is not None:
        write_parquet(previous.segments, partial / "previous_segments.parquet")
    manifest = {
        "snapshot_id": uuid.uuid4().hex, "as_of_date": day.isoformat(), "run_id": run_id, "shards": count,
        "params_json": params.model_dump_json(), "thresholds": asdict(fits.thresholds),
        "clusters_kept_by_fingerprint": fits.clusters.kept_by_fingerprint,
        "clusters_matched": {str(k): int(v) for k, v in fits.clusters.matched.items()},
        "previous_as_of_date": previous.as_of_date.isoformat() if previous else None,
        "clients": len(inputs.profile), "rows": counts, "started_at": started_at.isoformat(),
    }  # fmt: skip
    snapshot.publish(partial, manifest)
    log.info("segments %s: snapshot %s for %d shards (clients per shard %s), %d clusters",
             day, manifest["snapshot_id"], count, counts["profile"], len(fits.clusters.centroids))  # fmt: skip
    return {"as_of_date": day.isoformat(), "run_id": run_id, "snapshot_id": manifest["snapshot_id"],
            "shards": list(range(count)), "clients": len(inputs.profile), "clients_per_shard": counts["profile"],
            "seconds": round(time.perf_counter() - started, 2)}  # fmt: skip


def value_segment_shard(as_of_date: date | str, run_id: str, shard: int) -> dict:
    """Segment the clients of one shard and write its rows beside the snapshot (no warehouse access)."""
    day = day_of(as_of_date)
    snapshot = _snapshot(day, run_id)
    folder = snapshot.folder
    manifest = snapshot.manifest(shard)
    started = time.perf_counter()
    source = snapshot.inputs(shard)
    frames = {name: pd.read_parquet(source / f"{name}.parquet") for name in _SHARDED_INPUTS}
    params = SegmentParams.model_validate_json(manifest["params_json"])
    fits = _fits(folder, manifest, frames["clusters"])
    previous_date = date.fromisoformat(manifest["previous_as_of_date"]) if manifest["previous_as_of_date"] else None
    try:
        segments, history, inputs = segment_clients(
            frames["profile"], frames["values"], pd.read_parquet(folder / "catalogue.parquet"), frames["context"],
            params, day, fits, previous_date, frames["open_before"],
        )  # fmt: skip
    except SegmentInputError as exc:
        raise SegmentRunError(f"shard {shard}: {exc}") from exc
    done = snapshot.write_result(
        shard, manifest, dict(zip(_OUTPUTS, (segments, history, inputs), strict=True)),
        {"clients": len(segments), "signals": len(history), "seconds": round(time.perf_counter() - started, 2)},
    )  # fmt: skip
    log.info("segments %s shard %d of %d: %d clients, %d signals in %.1f s",
             day, shard, manifest["shards"], len(segments), len(history), done["seconds"])  # fmt: skip
    return done


def merge_segment_shards(as_of_date: date | str, run_id: str, *, keep_snapshot: bool = False) -> dict:
    """The portfolio-wide tables from every shard's rows, written with D's ``segments`` tables in one transaction."""
    day = day_of(as_of_date)
    snapshot = _snapshot(day, run_id)
    folder = snapshot.folder
    manifest = snapshot.manifest()
    outputs = snapshot.finished(manifest)
    params = SegmentParams.model_validate_json(manifest["params_json"])
    segments = concat_parquet([p / "segments.parquet" for p in outputs]).sort_values("client_id", kind="stable")
    history = concat_parquet([p / "history.parquet" for p in outputs]).sort_values(["client_id", "signal_code"], kind="stable")
    inputs = concat_parquet([p / "signal_inputs.parquet" for p in outputs]).sort_values("client_id", kind="stable")
    if len(segments) != manifest["clients"]:
        raise SegmentRunError(f"segments {day}: the shards segmented {len(segments)} clients, the snapshot has "
                              f"{manifest['clients']}")  # fmt: skip
    clusters = concat_parquet([snapshot.inputs(k) / "clusters.parquet" for k in range(manifest["shards"])])
    fits = _fits(folder, manifest, clusters)
    previous_date = date.fromisoformat(manifest["previous_as_of_date"]) if manifest["previous_as_of_date"] else None
    previous = None
    if previous_date is not None:  # the merge needs the previous run's segments (migration) and date only
        previous = PreviousRun(previous_date, None, pd.DataFrame(), pd.read_parquet(folder / "previous_segments.parquet"))
    result = finish_portfolio(
        segments.reset_index(drop=True), history.reset_index(drop=True), inputs.reset_index(drop=True),
        fits, params, day, previous,
    )  # fmt: skip
    started_at = datetime.fromisoformat(manifest["started_at"])
    with connect() as con:
        summary = store_results(con, day, run_id, params, result, previous_date, manifest["clients"], started_at)
    summary["shards"] = manifest["shards"]
    if not keep_snapshot:
        snapshot.remove()
    return summary


def run_segments_sharded(as_of_date: date | str, run_id: str, shards: int | None = None) -> dict:
    """The three steps one after another in this process (CLI, tests)."""
    prepared = prepare_segment_shards(as_of_date, run_id, shards)
    for shard in prepared["shards"]:
        value_segment_shard(as_of_date, run_id, shard)
    return merge_segment_shards(as_of_date, run_id)
