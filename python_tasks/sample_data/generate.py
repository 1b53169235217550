"""Generate a deterministic set of sample deliveries: the initial history load on D0 and daily deltas.

Clients are simulated and written chunk by chunk (``presets.CHUNK_CLIENTS`` at a time), so memory stays
bounded at any scale; every chunk has its own random streams seeded from (seed, chunk, purpose), so the
same arguments always give byte-identical files. ``workers > 1`` simulates chunks in parallel processes
while the main process writes them in chunk order (same bytes as one worker).

    python -m python_tasks.sample_data.generate --inbox var/inbox --scale S --first-date 2026-11-20
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections import deque
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from python_tasks.contracts import load_contracts
from python_tasks.sample_data.deliveries import build_chunk
from python_tasks.sample_data.economy import build_economy
from python_tasks.sample_data.faults import FAULT_CLASSES, inject_faults, rescan_delivery
from python_tasks.sample_data.population import Context
from python_tasks.sample_data.presets import CHUNK_CLIENTS, DEFAULT_PART_ROWS, preset
from python_tasks.sample_data.progress import Progress
from python_tasks.sample_data.reference import load_reference
from python_tasks.sample_data.timeline import Timeline, from_day, month_of, month_start, to_day
from python_tasks.sample_data.writers import DeliveryWriter, write_api_payload

MANIFEST = "_manifest.json"
API_DIR = "_api"


@dataclass
class GenerationSummary:
    """What was written: per business date and source, the files and their row counts."""

    inbox: Path
    scale: str
    seed: int
    clients: int
    first_date: date
    days: int
    deliveries: dict[str, dict[str, list[dict]]]
    api_files: dict[str, list[dict]]
    faults: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def rows(self, source: str | None = None, day: str | None = None) -> int:
        return sum(
            f["rows"] or 0
            for d, by_source in self.deliveries.items()
            if day is None or d == day
            for s, files in by_source.items()
            if source is None or s == source
            for f in files
        )

    def files(self, source: str | None = None, day: str | None = None) -> list[Path]:
        return [
            self.inbox / f["path"]
            for d, by_source in self.deliveries.items()
            if day is None or d == day
            for s, files in by_source.items()
            if source is None or s == source
            for f in files
        ]

    def rows_by_source(self) -> dict[str, int]:
        sources = sorted({s for by_source in self.deliveries.values() for s in by_source})
        return {s: self.rows(s) for s in sources}

    def __str__(self) -> str:
        per_source = ", ".join(f"{s} {n:,}" for s, n in self.rows_by_source().items())
        return (
            f"{self.clients:,} clients, {len(self.deliveries)} delivery dates from {self.first_date}, "
            f"{len(self.faults)} faults, {self.seconds:.1f}s: {per_source}"
        )


def _prepare_inbox(inbox: Path, overwrite: bool, sources: set[str]) -> None:
    if inbox.exists() and not inbox.is_dir():
        raise ValueError(f"{inbox} exists and is not a folder")
    inbox.mkdir(parents=True, exist_ok=True)
    entries = sorted(inbox.iterdir())
    if not entries:
        return
    if not overwrite:
        raise FileExistsError(f"{inbox} is not empty; pass overwrite=True to replace its contents")
    ours = sources | {API_DIR, MANIFEST}
    foreign = [e.name for e in entries if e.name not in ours]
    if foreign:
        raise FileExistsError(
            f"{inbox} holds entries the generator did not write ({', '.join(foreign[:5])}); refusing to clear it"
        )
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _chunk_job(ctx: Context, chunk: int, first: int, n: int) -> dict:
    return build_chunk(ctx, chunk, first, n)


class _Inline(Executor):
    """Runs a job when it is submitted: the one-worker path without a process pool."""

    def submit(self, fn, /, *args, **kwargs) -> Future:  # type: ignore[override]
        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def publication_days(timeline: Timeline) -> list[int]:
    """First of the month of D0, and every first of a month after D0 up to the last delivery date."""
    first_month = int(month_of(timeline.first_day))
    out = [int(month_start(first_month))]
    m = first_month + 1
    while int(month_start(m)) <= timeline.last_day:
        out.append(int(month_start(m)))
        m += 1
    return out


def generate(
    inbox: Path,
    *,
    scale: str = "S",
    seed: int = 42,
    first_date: date | str,
    days: int = 3,
    history_years: int = 5,
    faults: list[str] | None = None,
    fault_date: date | str | None = None,
    part_rows: int = DEFAULT_PART_ROWS,
    progress: bool = False,
    clients: int | None = None,
    overwrite: bool = False,
    invalid_uscc_share: float = 0.002,
    workers: int = 1,
) -> GenerationSummary:
    """Write the sample deliveries of ``first_date`` (history load) and ``days`` daily deltas into ``inbox``.

    Faults (see :data:`faults.FAULT_CLASSES`) are injected into the delivery of ``fault_date`` (default:
    ``first_date``) after normal generation and listed in ``_manifest.json``.
    """
    started = time.perf_counter()
    inbox = Path(inbox)
    first = date.fromisoformat(first_date) if isinstance(first_date, str) else first_date
    if days < 0:
        raise ValueError("days must be >= 0")
    if history_years < 1:
        raise ValueError("history_years must be >= 1")
    faults = list(faults or [])
    unknown = [f for f in faults if f not in FAULT_CLASSES]
    if unknown:
        raise ValueError(f"unknown fault class(es) {unknown}; known: {', '.join(FAULT_CLASSES)}")
    f_date = first if fault_date is None else (
        date.fromisoformat(fault_date) if isinstance(fault_date, str) else fault_date
    )
    if faults and not (first <= f_date <= first + timedelta(days=days)):
        raise ValueError(f"fault_date {f_date} is outside the generated dates {first} … {first + timedelta(days=days)}")
    spec = preset(scale)
    n_clients = int(clients if clients is not None else spec.clients)
    if n_clients < 1:
        raise ValueError("clients must be >= 1")

    contracts = load_contracts()
    internal = {name for name, c in contracts.items() if c.delivery.format != "api"}
    external = sorted(name for name, c in contracts.items() if c.delivery.format == "api")
    _prepare_inbox(inbox, overwrite, set(contracts))

    ref = load_reference()
    timeline = Timeline(to_day(first), days, history_years)
    ctx = Context(
        seed=seed,
        timeline=timeline,
        ref=ref,
        economy=build_economy(seed, ref),
        contracts=contracts,
        total_clients=n_clients,
        invalid_uscc_share=invalid_uscc_share,
    )
    day_names = [from_day(d).isoformat() for d in timeline.delivery_days]
    writer = DeliveryWriter(inbox, contracts, part_rows)
    chunks = [(i, start, min(CHUNK_CLIENTS, n_clients - start)) for i, start in enumerate(range(0, n_clients, CHUNK_CLIENTS))]
    bar = Progress(progress, sorted(internal), len(chunks))
    executor: Executor = ProcessPoolExecutor(max_workers=workers) if workers > 1 else _Inline()
    try:
        pending: deque[Future] = deque()
        queue = deque(chunks)
        with bar:
            while queue or pending:
                while queue and len(pending) < (workers + 1 if workers > 1 else 1):
                    pending.append(executor.submit(_chunk_job, ctx, *queue.popleft()))
                result = pending.popleft().result()
                for source, (table, delivery) in result.items():
                    if len(delivery) and np.any(np.diff(delivery) < 0):  # builders order rows by delivery
                        order = np.argsort(delivery, kind="stable")
                        table, delivery = table.take(order), delivery[order]
                    counts = np.bincount(delivery, minlength=len(day_names))
                    offset = 0
                    for k, count in enumerate(counts):
                        if count:
                            writer.write(source, day_names[k], table.slice(offset, int(count)))
                        offset += int(count)
                    bar.advance(source, table.num_rows)
                del result
                bar.advance_chunk()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    listing = writer.finish(day_names)

    api_files: dict[str, list[dict]] = {name: [] for name in external}
    history_month = int(month_of(timeline.history_start))
    for pub in publication_days(timeline):
        month = int(month_of(pub))
        as_of = from_day(pub).isoformat()
        if "macro_indicators" in api_files:
            api_files["macro_indicators"].append(
                write_api_payload(inbox, "macro_indicators", as_of, ctx.economy.macro_records(month, history_month))
            )
        if "industry_indicators" in api_files:
            api_files["industry_indicators"].append(
                write_api_payload(inbox, "industry_indicators", as_of, ctx.economy.industry_records(month, history_month))
            )

    injected: list[dict] = []
    if faults:
        injected = inject_faults(inbox, f_date.isoformat(), faults, seed, update_manifest=False)
        for day in (f_date.isoformat(), (f_date + timedelta(days=1)).isoformat()):
            rescanned = rescan_delivery(inbox, day, contracts)
            if rescanned:
                listing[day] = rescanned
    summary = GenerationSummary(
        inbox=inbox,
        scale=spec.name,
        seed=seed,
        clients=n_clients,
        first_date=first,
        days=days,
        deliveries=dict(sorted(listing.items())),
        api_files=api_files,
        faults=injected,
    )
    write_manifest(summary, timeline, part_rows, invalid_uscc_share)
    summary.seconds = time.perf_counter() - started
    return summary


def write_manifest(summary: GenerationSummary, timeline: Timeline, part_rows: int, invalid_uscc_share: float) -> None:
    manifest = {
        "generator": "python_tasks.sample_data",
        "parameters": {
            "scale": summary.scale,
            "seed": summary.seed,
            "clients": summary.clients,
            "first_date": summary.first_date.isoformat(),
            "days": summary.days,
            "last_date": from_day(timeline.last_day).isoformat(),
            "history_years": timeline.history_years,
            "history_start": from_day(timeline.history_start).isoformat(),
            "part_rows": part_rows,
            "chunk_clients": CHUNK_CLIENTS,
            "invalid_uscc_share": invalid_uscc_share,
        },
        "deliveries": {
            day: {
                source: {"rows": sum(f["rows"] or 0 for f in files), "files": files}
                for source, files in by_source.items()
            }
            for day, by_source in summary.deliveries.items()
        },
        "api": summary.api_files,
        "faults": summary.faults,
    }
    (summary.inbox / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inbox", required=True)
    parser.add_argument("--scale", default="S", choices=["S", "M", "L"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--first-date", required=True, type=date.fromisoformat)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--history-years", type=int, default=5)
    parser.add_argument("--clients", type=int)
    parser.add_argument("--part-rows", type=int, default=DEFAULT_PART_ROWS)
    parser.add_argument("--faults", default="", help="comma-separated fault classes")
    parser.add_argument("--fault-date", type=date.fromisoformat)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    summary = generate(
        Path(args.inbox),
        scale=args.scale,
        seed=args.seed,
        first_date=args.first_date,
        days=args.days,
        history_years=args.history_years,
        clients=args.clients,
        part_rows=args.part_rows,
        faults=[f for f in args.faults.split(",") if f],
        fault_date=args.fault_date,
        workers=args.workers,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    print(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
