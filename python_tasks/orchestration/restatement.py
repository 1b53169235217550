"""Late corrections of past deliveries, and the order in which business dates may run.

Every date's profile depends on the deliveries of earlier dates (a master row counts from its delivery on,
an event once delivered), and the CLV and segments of a date on the previous date's run (attribution,
cluster ids, early-warning history, drift). So a date may only be processed after the date before it, and
a changed delivery for a past date D_past changes D_past and every date after it that was already built.

* ``check_run_allowed(D)`` (called by ``run_pipeline`` before any step): refuses D when the date before it
  was never processed (out of order, ``OutOfOrder``), when D is a past date whose inbox delivery differs
  from what the load ledger loaded (``LateCorrection``: a plain rerun would rebuild D alone and leave the
  later dates built on the old data), and while a restatement is unfinished.
* ``restate()`` (``python -m python_tasks restate``): finds the corrected deliveries (sha256 of the inbox
  files against the ledger), rolls the SCD2 snapshots back to their state before the earliest corrected
  date, replays the daily run of every date from it to the latest processed date in order (ingest reloads
  only the partitions whose files changed; the others come back ``unchanged``), and records one row per
  corrected source in ``audit.restatements`` with the old and new checksums, the dates and run ids
  recomputed and what changed (clients whose CLV moved). Dates before the corrected date are not touched.

Decisions and their reasons: docs/adr/0007-restatements.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb

from python_tasks.io import warehouse
from python_tasks.orchestration.sources import internal_sources
from python_tasks.settings import Settings, get_settings

log = logging.getLogger(__name__)

RESTATEMENTS_DDL = """
CREATE TABLE IF NOT EXISTS audit.restatements (
    restatement_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    as_of_date DATE NOT NULL,
    loaded_files JSON NOT NULL,
    delivered_files JSON NOT NULL,
    first_date DATE NOT NULL,
    last_date DATE NOT NULL,
    dates_recomputed DATE[] NOT NULL,
    run_ids JSON NOT NULL,
    status VARCHAR NOT NULL,
    clients_changed INTEGER,
    summary JSON,
    error VARCHAR,
    started_at TIMESTAMP WITH TIME ZONE NOT NULL,
    finished_at TIMESTAMP WITH TIME ZONE,
    PRIMARY KEY (restatement_id, source, as_of_date)
)
"""
#: a client's CLV "moved" when it changed by more than this (CNY; half a fen absorbs float noise)
CLV_TOLERANCE_CNY = 0.005
#: how many of the largest moves the summary lists
LARGEST_MOVES = 10


class RunRefused(RuntimeError):
    """The run of a business date may not start; the message says why and what to run instead."""


class OutOfOrder(RunRefused):
    """The date before D has not been processed."""


class LateCorrection(RunRefused):
    """D is a past date and its delivery changed since it was loaded: restate, do not rerun D alone."""


class RestatementUnfinished(RunRefused):
    """A restatement stopped part-way: the dates after it are inconsistent until it is run again."""


@dataclass(frozen=True)
class Correction:
    """A past date's delivery of one source that differs from what the ledger says was loaded."""

    source: str
    as_of_date: date
    loaded: dict[str, str]  # file name -> sha256, as last loaded
    delivered: dict[str, str]  # file name -> sha256, in the inbox now

    def describe(self) -> str:
        changed = sorted(n for n in self.loaded.keys() & self.delivered.keys() if self.loaded[n] != self.delivered[n])
        added = sorted(self.delivered.keys() - self.loaded.keys())
        removed = sorted(self.loaded.keys() - self.delivered.keys())
        parts = [f"changed {', '.join(changed)}" if changed else "", f"new {', '.join(added)}" if added else "",
                 f"withdrawn {', '.join(removed)}" if removed else ""]  # fmt: skip
        return f"{self.source} {self.as_of_date}: {'; '.join(p for p in parts if p)}"


# --- pure decisions -------------------------------------------------------------------------------------


def order_problem(day: date, processed: Iterable[date]) -> str | None:
    """Why D may not run yet given the dates processed so far (None: it may).

    The first date ever, a rerun of the first processed date, and the day after a processed date may run;
    anything else would build D without the deliveries of the dates before it."""
    done = set(processed)
    if not done or day - timedelta(days=1) in done or day == min(done):
        return None
    before = [d for d in done if d < day]
    if not before:
        return (f"{day} is before the first processed date {min(done)}: the dates after it were built without "
                f"its deliveries; load history from the first date on instead")  # fmt: skip
    last = max(before)
    return (f"{day} cannot run before {day - timedelta(days=1)}: the latest processed date before it is {last}, "
            f"so {last + timedelta(days=1)} .. {day - timedelta(days=1)} would be missing from its profile; run "
            f"'python -m python_tasks pipeline --date {last + timedelta(days=1)} --to {day}' instead")  # fmt: skip


def compare_deliveries(source: str, day: date, loaded: dict[str, str], delivered: dict[str, str]) -> Correction | None:
    """A correction when the inbox holds a delivery that is not byte for byte what was loaded. A delivery no
    longer in the inbox (cleaned up after loading) is not a correction: there is nothing new to load."""
    if not delivered or delivered == loaded:
        return None
    return Correction(source, day, dict(loaded), dict(delivered))


def summarise_changes(before: dict[tuple[date, str], float], after: dict[tuple[date, str], float],
                      tolerance: float = CLV_TOLERANCE_CNY) -> dict:  # fmt: skip
    """What a restatement changed in the baseline CLV: per date, clients compared, moved, added, removed,
    the portfolio total before and after; overall, the clients that moved and the largest moves."""
    per_date: dict[str, dict] = {}
    moves = []
    clients_changed: set[str] = set()
    for day in sorted({d for d, _ in before} | {d for d, _ in after}):
        old = {c: v for (d, c), v in before.items() if d == day}
        new = {c: v for (d, c), v in after.items() if d == day}
        moved = [c for c in old.keys() & new.keys() if abs(new[c] - old[c]) > tolerance]
        added, removed = sorted(new.keys() - old.keys()), sorted(old.keys() - new.keys())
        clients_changed |= set(moved) | set(added) | set(removed)
        moves += [(abs(new[c] - old[c]), day, c, old[c], new[c]) for c in moved]
        per_date[day.isoformat()] = {
            "clients_before": len(old), "clients_after": len(new), "clients_moved": len(moved),
            "clients_added": added, "clients_removed": removed,
            "total_clv_before_cny": round(sum(old.values()), 2), "total_clv_after_cny": round(sum(new.values()), 2),
        }  # fmt: skip
    moves.sort(key=lambda m: (-m[0], m[1], m[2]))
    return {
        "scenario": "baseline",
        "tolerance_cny": tolerance,
        "clients_changed": len(clients_changed),
        "by_date": per_date,
        "largest_moves": [
            {"as_of_date": d.isoformat(), "client_id": c, "clv_before_cny": round(o, 2), "clv_after_cny": round(n, 2)}
            for _, d, c, o, n in moves[:LARGEST_MOVES]
        ],
    }


# --- reading the deployment ------------------------------------------------------------------------------


def processed_dates(con: duckdb.DuckDBPyConnection) -> list[date]:
    """Business dates with at least one successful run (the run audit's ``success`` rows)."""
    if not warehouse.table_exists(con, "audit", "run_audit"):
        return []
    rows = con.execute("SELECT DISTINCT as_of_date FROM audit.run_audit WHERE status = 'success' ORDER BY 1")
    return [d for (d,) in rows.fetchall()]


def delivered_files(settings: Settings, source: str, day: date) -> dict[str, str]:
    """The inbox delivery of ``source`` for D as {file name: sha256} (what ingest would land)."""
    folder = settings.inbox_dir / source / day.isoformat()
    if not folder.is_dir():
        return {}
    files = {}
    for entry in sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.is_file()):
        with entry.open("rb") as fh:
            files[entry.name] = hashlib.file_digest(fh, "sha256").hexdigest()
    return files


def loaded_files(con: duckdb.DuckDBPyConnection, source: str, day: date) -> dict[str, str]:
    """The files of the last ingest of ``source`` for D that did not fail, as {file name: sha256}; empty when
    the delivery was recorded missing."""
    last = con.execute(
        "SELECT run_id FROM audit.load_ledger WHERE source = $s AND as_of_date = $d "
        "AND status IN ('loaded', 'unchanged', 'duplicate', 'missing') ORDER BY finished_at DESC LIMIT 1",
        {"s": source, "d": day},
    ).fetchone()
    if last is None:
        return {}
    rows = con.execute(
        "SELECT file_name, sha256 FROM audit.load_ledger WHERE source = $s AND as_of_date = $d AND run_id = $r "
        "AND status IN ('loaded', 'unchanged', 'duplicate')",
        {"s": source, "d": day, "r": last[0]},
    ).fetchall()
    return dict(rows)


def find_corrections(con: duckdb.DuckDBPyConnection, settings: Settings, days: Iterable[date]) -> list[Correction]:
    """Every (source, date) among ``days`` whose inbox delivery differs from what was loaded."""
    found = []
    for day in days:
        for source in internal_sources():
            correction = compare_deliveries(
                source, day, loaded_files(con, source, day), delivered_files(settings, source, day)
            )
            if correction is not None:
                found.append(correction)
    return found


def unfinished_restatements(con: duckdb.DuckDBPyConnection) -> list[tuple[str, date, str]]:
    """(restatement id, first date, status) of restatements that did not finish."""
    if not warehouse.table_exists(con, "audit", "restatements"):
        return []
    return con.execute(
        "SELECT DISTINCT restatement_id, first_date, status FROM audit.restatements "
        "WHERE status IN ('running', 'failed') ORDER BY first_date, restatement_id"
    ).fetchall()


def check_run_allowed(day: date) -> None:
    """Refuse the daily run of D (before any step) when it would leave the warehouse inconsistent."""
    settings = get_settings()
    if not settings.warehouse_path.exists():
        return
    with warehouse.connect(settings.warehouse_path, read_only=True) as con:
        processed = processed_dates(con)
        problem = order_problem(day, processed)
        if problem:
            raise OutOfOrder(f"refused: {problem}")
        unfinished = unfinished_restatements(con)
        if unfinished:
            rid, first, status = unfinished[0]
            raise RestatementUnfinished(
                f"refused: restatement {rid} from {first} is {status}: the dates from {first} on are not "
                f"consistent; fix the cause and run 'python -m python_tasks restate --date {first}'"
            )
        if processed and day < max(processed):
            corrections = find_corrections(con, settings, [day])
            if corrections:
                raise LateCorrection(
                    f"refused: {day} is a past date (processed up to {max(processed)}) and its delivery changed "
                    f"since it was loaded ({'; '.join(c.describe() for c in corrections)}); rerunning {day} alone "
                    f"would leave the later dates built on the old data: run "
                    f"'python -m python_tasks restate --date {day}'"
                )


def clv_values(con: duckdb.DuckDBPyConnection, first: date, last: date) -> dict[tuple[date, str], float]:
    """Baseline CLV per (date, client) of the dates first..last."""
    if not warehouse.table_exists(con, "valuation", "client_values"):
        return {}
    rows = con.execute(
        "SELECT as_of_date, client_id, clv_cny FROM valuation.client_values "
        "WHERE scenario = 'baseline' AND as_of_date BETWEEN $a AND $b",
        {"a": first, "b": last},
    ).fetchall()
    return {(d, c): v for d, c, v in rows}


def rollback_snapshots(con: duckdb.DuckDBPyConnection, first: date) -> dict[str, int]:
    """Put the SCD2 snapshots, and the client dimension they are taken from, back in the state they had
    before the build of ``first`` (caller's transaction).

    A daily build adds a client version for each client-master delivery of its date and a rating version for
    each rating delivered that date (valid from the delivery or rating date, never later than the build), and
    closes the version it replaces. So the versions added by builds from ``first`` on are those delivered
    from ``first`` on; once they are gone, each client's latest remaining version is current again.
    ``dim_client`` holds the latest date built and ignores builds of earlier dates, so its rows known from
    ``first`` on go too (the replay of ``first`` writes them again). The replayed builds then add the
    versions a run with the corrected data adds."""
    removed = {}
    if warehouse.table_exists(con, "marts", "dim_client"):
        (removed["dim_client"],) = con.execute(
            "DELETE FROM marts.dim_client WHERE known_as_of_date >= $d", {"d": first}
        ).fetchone()
    if warehouse.table_exists(con, "snapshots", "snap_clients"):
        (removed["snap_clients"],) = con.execute(
            "DELETE FROM snapshots.snap_clients WHERE attributes_delivered_date >= $d OR dbt_valid_from >= $d",
            {"d": first},
        ).fetchone()
        _reopen_latest(con, "snap_clients")
    if warehouse.table_exists(con, "snapshots", "snap_client_ratings"):
        (removed["snap_client_ratings"],) = con.execute(
            "DELETE FROM snapshots.snap_client_ratings WHERE dbt_valid_from >= $d "
            "OR rating_id IN (SELECT rating_id FROM raw.ratings WHERE _as_of_date >= $d)",
            {"d": first},
        ).fetchone()
        _reopen_latest(con, "snap_client_ratings")
    return removed


def _reopen_latest(con: duckdb.DuckDBPyConnection, table: str) -> None:
    con.execute(
        f"""
        UPDATE snapshots.{table} AS s SET dbt_valid_to = NULL
        FROM (SELECT client_id, max(dbt_valid_from) AS valid_from FROM snapshots.{table} GROUP BY client_id) AS latest
        WHERE s.client_id = latest.client_id AND s.dbt_valid_from = latest.valid_from AND s.dbt_valid_to IS NOT NULL
        """
    )


# --- the restatement -------------------------------------------------------------------------------------


def restate(
    first: date | None = None,
    *,
    dry_run: bool = False,
    on_step: Callable[[str, float, object], None] | None = None,
) -> dict:
    """Recompute every processed date from the earliest corrected delivery (on or after ``first``; default
    any processed date) to the latest processed date, under the run lock; record it in audit.restatements.

    Also resumes a restatement that stopped part-way. Returns what was found and done (JSON-serialisable).
    """
    from python_tasks.orchestration.pipeline import run_lock, run_steps

    settings = get_settings()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    with run_lock(f"restatement {stamp}"):
        if not settings.warehouse_path.exists():
            raise RunRefused("refused: nothing has been processed yet; there is nothing to restate")
        with warehouse.connect(settings.warehouse_path, read_only=True) as con:
            processed = processed_dates(con)
            if not processed:
                raise RunRefused("refused: nothing has been processed yet; there is nothing to restate")
            latest = max(processed)
            if first is not None and first > latest:
                raise RunRefused(f"refused: {first} has not been processed yet (latest processed date {latest}): "
                                 f"run the daily pipeline for it, not a restatement")  # fmt: skip
            scanned = [d for d in processed if first is None or d >= first]
            corrections = find_corrections(con, settings, scanned)
            unfinished = unfinished_restatements(con)
        starts = [c.as_of_date for c in corrections] + [f for _, f, _ in unfinished]
        found = {
            "corrections": [{**asdict(c), "as_of_date": c.as_of_date.isoformat()} for c in corrections],
            "unfinished": [rid for rid, _, _ in unfinished],
            "dates_checked": [d.isoformat() for d in scanned],
        }
        if not starts:
            log.info("restate: no delivery changed since it was loaded (%d dates checked)", len(scanned))
            return {"status": "nothing to restate", **found}
        start = min(starts)
        dates = [start + timedelta(days=i) for i in range((latest - start).days + 1)]
        restatement_id = f"restatement__{start.isoformat()}__{stamp}"
        run_ids = {d.isoformat(): f"restate__{d.isoformat()}__{stamp}" for d in dates}
        plan = {"restatement_id": restatement_id, "first_date": start.isoformat(), "last_date": latest.isoformat(),
                "dates": list(run_ids), **found}  # fmt: skip
        if dry_run:
            return {"status": "dry run", **plan}
        for c in corrections:
            log.warning("restate: late correction %s", c.describe())
        log.warning("restate %s: recomputing %s .. %s (%d dates)", restatement_id, start, latest, len(dates))

        with warehouse.connect(settings.warehouse_path) as con:
            con.execute(RESTATEMENTS_DDL)
            before = clv_values(con, start, latest)
            con.execute("BEGIN TRANSACTION")
            _record_started(con, restatement_id, corrections, unfinished, start, latest, dates, run_ids)
            removed = rollback_snapshots(con, start)
            con.execute("COMMIT")
        log.info("restate %s: snapshot versions rolled back to before %s: %s", restatement_id, start, removed)
        try:
            for d in dates:
                run_steps(d, run_ids[d.isoformat()], on_step=on_step)
        except BaseException as exc:
            _record_finished(restatement_id, "failed", error=f"{type(exc).__name__}: {exc}"[:4000])
            raise
        with warehouse.connect(settings.warehouse_path, read_only=True) as con:
            after = clv_values(con, start, latest)
        summary = summarise_changes(before, after)
        _record_finished(restatement_id, "success", summary=summary, superseded=[rid for rid, _, _ in unfinished])
        log.warning("restate %s: done; %d client(s) changed CLV", restatement_id, summary["clients_changed"])
        return {"status": "success", **plan, "snapshot_versions_rolled_back": removed, "summary": summary}


def _record_started(con, restatement_id: str, corrections: list[Correction], unfinished: list,  # noqa: ANN001
                    start: date, latest: date, dates: list[date], run_ids: dict[str, str]) -> None:  # fmt: skip
    """One row per corrected source and date (status running); a resumed restatement gets a row per
    restatement it resumes, so the record says why the dates were recomputed."""
    moment = datetime.now(UTC)
    rows = [(c.source, c.as_of_date, c.loaded, c.delivered) for c in corrections]
    rows += [(f"resumes {rid}", first, {}, {}) for rid, first, _ in unfinished]
    for source, day, loaded, delivered in rows:
        con.execute(
            "INSERT INTO audit.restatements VALUES ($id, $source, $d, $loaded, $delivered, $first, $last, $dates, "
            "$runs, 'running', NULL, NULL, NULL, $at, NULL)",
            {"id": restatement_id, "source": source, "d": day, "loaded": json.dumps(loaded),
             "delivered": json.dumps(delivered), "first": start, "last": latest, "dates": dates,
             "runs": json.dumps(run_ids), "at": moment},
        )  # fmt: skip


def _record_finished(restatement_id: str, status: str, *, summary: dict | None = None, error: str | None = None,
                     superseded: Iterable[str] = ()) -> None:  # fmt: skip
    with warehouse.connect() as con:
        con.execute("BEGIN TRANSACTION")
        con.execute(
            "UPDATE audit.restatements SET status = $status, summary = $summary, clients_changed = $changed, "
            "error = $error, finished_at = $at WHERE restatement_id = $id",
            {"status": status, "summary": json.dumps(summary) if summary else None,
             "changed": summary["clients_changed"] if summary else None, "error": error,
             "at": datetime.now(UTC), "id": restatement_id},
        )  # fmt: skip
        for rid in superseded:
            con.execute(
                "UPDATE audit.restatements SET status = 'superseded', error = coalesce(error, '') || $note "
                "WHERE restatement_id = $id AND status IN ('running', 'failed')",
                {"id": rid, "note": f" (recomputed again by {restatement_id})"},
            )
        con.execute("COMMIT")

