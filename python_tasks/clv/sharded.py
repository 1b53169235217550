"""The CLV run split by client shard, so that Celery workers on the ``compute`` queue share the per-client
work while the warehouse keeps its single writer (docs/architecture.md, "Scale-out"):

1. ``prepare_clv_shards`` (warehouse pool): reads D's profile and the calibration marts, fits retention and
   the scorecard once for the whole portfolio, and writes the engine's inputs split by client shard
   (``python_tasks.sharding.shard_of``) as Parquet files of a *snapshot* folder, with a manifest naming the snapshot.
2. ``value_clv_shard`` (one mapped task per shard, any worker): reads only its shard's files, values its
   clients under every scenario and attributes their change, and writes its results beside them. It never
   opens the warehouse, so shards run side by side; a failed shard is retried alone.
3. ``merge_clv_shards`` (warehouse pool): checks that every shard finished on this snapshot, and writes all
   results into the ``valuation`` tables in one transaction, exactly as ``job.run_clv`` does; then removes
   the snapshot folder.

Every client's rows depend on that client's inputs only (``job.value_inputs``), so the merged result equals
the unsharded run's row for row. Each step is idempotent for its business date: a new ``prepare`` replaces
the snapshot (and so voids earlier shard results), a shard rewrites its own files, a merge replaces D.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd

from python_tasks.clv.job import (
    ClvRunError,
    EngineInputs,
    PreviousRun,
    current_params,
    day_of,
    gather_inputs,
    store_results,
    value_inputs,
)
from python_tasks.clv.params import ClvParams
from python_tasks.io.snapshots import Snapshot, concat_parquet, write_parquet
from python_tasks.io.warehouse import connect
from python_tasks.settings import get_settings
from python_tasks.sharding import check_shard_count, shards_of

log = logging.getLogger(__name__)

#: the frames of a shard's inputs, by file name
_INPUT_FRAMES = ("clients", "facilities", "previous_clients", "previous_facilities")
_OUTPUT_FRAMES = ("values", "attribution")


def _snapshot(day: date, run_id: str) -> Snapshot:
    return Snapshot("clv", "CLV", day, run_id, ClvRunError, "valued")


def prepared_shards(as_of_date: date | str, run_id: str) -> list[int]:
    """The shard numbers the run's prepare step wrote (from its manifest)."""
    return list(range(_snapshot(day_of(as_of_date), run_id).manifest()["shards"]))


def snapshot_dir(day: date, run_id: str) -> Path:
    """The snapshot folder of one run and business date: ``<CLV_HOME>/shards/clv/<D>/<run>/``."""
    return _snapshot(day, run_id).folder


def prepare_clv_shards(as_of_date: date | str, run_id: str, shards: int | None = None) -> dict:
    """Calibrate once and write D's engine inputs split into ``shards`` (default ``CLV_SHARDS``) files."""
    day = day_of(as_of_date)
    count = check_shard_count(shards if shards is not None else get_settings().shards)
    params = current_params()
    started_at, started = datetime.now(UTC), time.perf_counter()
    with connect() as con:
        inputs = gather_inputs(con, day, params)
    snapshot = _snapshot(day, run_id)
    partial = snapshot.start()
    previous = inputs.previous
    frames = {
        "clients": inputs.clients,
        "facilities": inputs.facilities,
        "previous_clients": previous.clients if previous else None,
        "previous_facilities": previous.facilities if previous else None,
    }
    counts: dict[str, list[int]] = {}
    for name, frame in frames.items():
        if frame is None:
            continue
        shard = shards_of(frame["client_id"].astype(str), count)
        counts[name] = [0] * count
        for k, part in frame.groupby(shard, sort=True):
            counts[name][int(k)] = len(part)
            write_parquet(part.reset_index(drop=True), snapshot.inputs(int(k), partial) / f"{name}.parquet")
        for k in range(count):  # a shard without clients still gets its (empty) files
            path = snapshot.inputs(k, partial) / f"{name}.parquet"
            if not path.exists():
                write_parquet(frame.iloc[0:0], path)
    write_parquet(inputs.fits, partial / "fits.parquet")
    manifest = {
        "snapshot_id": uuid.uuid4().hex,
        "as_of_date": day.isoformat(),
        "run_id": run_id,
        "shards": count,
        "params_json": params.model_dump_json(),
        "scorecard_note": inputs.scorecard_note,
        "previous": None
        if previous is None
        else {"as_of_date": previous.as_of_date.isoformat(), "params_json": previous.params.model_dump_json()},
        "rows": counts,
        "started_at": started_at.isoformat(),
    }
    snapshot.publish(partial, manifest)
    summary = {
        "as_of_date": day.isoformat(), "run_id": run_id, "snapshot_id": manifest["snapshot_id"],
        "shards": list(range(count)), "clients": len(inputs.clients), "facilities": len(inputs.facilities),
        "clients_per_shard": counts["clients"], "seconds": round(time.perf_counter() - started, 2),
    }  # fmt: skip
    log.info("CLV %s: snapshot %s for %d shards written to %s (clients per shard %s)",
             day, manifest["snapshot_id"], count, snapshot.folder, counts["clients"])  # fmt: skip
    return summary


def value_clv_shard(as_of_date: date | str, run_id: str, shard: int, *, clients_per_chunk: int = 10_000) -> dict:
    """Value the clients of one shard of the snapshot and write the results beside it (no warehouse access)."""
    day = day_of(as_of_date)
    snapshot = _snapshot(day, run_id)
    manifest = snapshot.manifest(shard)
    started = time.perf_counter()
    source = snapshot.inputs(shard)
    frames = {n: pd.read_parquet(source / f"{n}.parquet") for n in _INPUT_FRAMES if (source / f"{n}.parquet").exists()}
    params = ClvParams.model_validate_json(manifest["params_json"])
    previous = None
    if manifest["previous"] is not None:
        previous = PreviousRun(
            as_of_date=date.fromisoformat(manifest["previous"]["as_of_date"]),
            clients=frames["previous_clients"],
            facilities=frames["previous_facilities"],
            params=ClvParams.model_validate_json(manifest["previous"]["params_json"]),
        )
    clients = frames["clients"]

    def progress(done: int, total: int) -> None:
        log.info("CLV %s shard %d: valued %d / %d clients", day, shard, done, total)

    values, change = value_inputs(
        clients, frames["facilities"], previous, params, clients_per_chunk=clients_per_chunk, progress=progress
    )
    done = snapshot.write_result(
        shard, manifest, {"values": values, "attribution": change},
        {"clients": len(clients), "values": len(values), "attribution": len(change),
         "seconds": round(time.perf_counter() - started, 2)},
    )  # fmt: skip
    log.info("CLV %s shard %d of %d: %d clients, %d rows in %.1f s",
             day, shard, manifest["shards"], len(clients), len(values), done["seconds"])  # fmt: skip
    return done


def merge_clv_shards(as_of_date: date | str, run_id: str, *, keep_snapshot: bool = False) -> dict:
    """Write every shard's results into D's ``valuation`` tables in one transaction (the single writer)."""
    day = day_of(as_of_date)
    snapshot = _snapshot(day, run_id)
    folder = snapshot.folder
    manifest = snapshot.manifest()
    outputs = snapshot.finished(manifest)
    params = ClvParams.model_validate_json(manifest["params_json"])
    if params.version != current_params().version:
        log.warning("CLV %s: merging shards valued with parameters %s (the parameter file now says %s)",
                    day, params.version, current_params().version)  # fmt: skip
    shard_inputs = [snapshot.inputs(k) for k in range(manifest["shards"])]

    def by_client(frame: pd.DataFrame) -> pd.DataFrame:
        # a stable sort keeps each client's scenarios in the engine's order
        return frame.sort_values("client_id", kind="stable").reset_index(drop=True) if len(frame) else frame

    clients = by_client(concat_parquet([p / "clients.parquet" for p in shard_inputs]))
    facilities = concat_parquet([p / "facilities.parquet" for p in shard_inputs])
    values = by_client(concat_parquet([p / "values.parquet" for p in outputs]))
    change = by_client(concat_parquet([p / "attribution.parquet" for p in outputs]))
    if values["client_id"].nunique() != len(clients):
        raise ClvRunError(
            f"CLV {day}: the shards valued {values['client_id'].nunique()} clients, the snapshot has {len(clients)}"
        )
    previous = manifest["previous"]
    inputs = EngineInputs(
        clients=clients,
        facilities=facilities,
        fits=pd.read_parquet(folder / "fits.parquet"),
        scorecard_note=manifest["scorecard_note"],
        # the merge needs only the previous run's date (the shards did the attribution with its inputs)
        previous=None
        if previous is None
        else PreviousRun(date.fromisoformat(previous["as_of_date"]), clients.iloc[0:0], facilities.iloc[0:0], params),
    )
    started_at = datetime.fromisoformat(manifest["started_at"])
    with connect() as con:
        summary = store_results(con, day, run_id, params, inputs, values, change, started_at)
    summary["shards"] = manifest["shards"]
    if not keep_snapshot:
        snapshot.remove()
    return summary


def run_clv_sharded(as_of_date: date | str, run_id: str, shards: int | None = None) -> dict:
    """The three steps one after another in this process: what the DAG does across workers (CLI, tests)."""
    prepared = prepare_clv_shards(as_of_date, run_id, shards)
    for shard in prepared["shards"]:
        value_clv_shard(as_of_date, run_id, shard)
    return merge_clv_shards(as_of_date, run_id)
