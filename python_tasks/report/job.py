"""Build the run report of one business date: read the warehouse (read-only), draw the charts, write one
self-contained HTML file, and keep the stable entry points up to date.

Layout under ``<CLV_HOME>/reports/``::

    <D>/<run id>/report.html    the report of one run (run id made safe for a path, as for the Data Docs)
    <D>/<run id>/report.json    what the report was built from: run, time, headline figures, chart ids
    <D>/index.html              the runs of D, newest first, pointing at the newest report
    latest.html                 a copy of the newest business date's latest report (links adjusted)

Every file is written next to its target and renamed over it, so a reader never opens a half-written page.
The warehouse is only read: the report can run beside BI readers, after the last writer of the run.
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import UTC, date, datetime
from pathlib import Path

from python_tasks.io.files import write_text_atomic
from python_tasks.settings import get_settings

log = logging.getLogger(__name__)

REPORT_NAME = "report.html"
META_NAME = "report.json"
INDEX_NAME = "index.html"
LATEST_NAME = "latest.html"


def reports_dir() -> Path:
    """Where the run reports live (``<CLV_HOME>/reports``)."""
    return get_settings().home / "reports"


def report_path(as_of_date: date, run_id: str) -> Path:
    """The report file of one run for D, whether it exists or not."""
    from python_tasks.settings import path_component

    return reports_dir() / as_of_date.isoformat() / path_component(run_id) / REPORT_NAME


def _href(target: Path, from_dir: Path) -> str:
    return Path(os.path.relpath(target, from_dir)).as_posix()


def _links(day: date, run_id: str, quality_runs: list[str], from_dir: Path):  # noqa: ANN202 - page.Links
    from python_tasks.quality.data_docs import data_docs_index
    from python_tasks.report.page import Links

    runs = [run_id] + [r for r in quality_runs if r != run_id]
    docs = [(r, _href(data_docs_index(r, day), from_dir)) for r in runs if data_docs_index(r, day).is_file()]
    earlier = sorted(
        (p for p in reports_dir().glob("????-??-??") if p.is_dir() and p.name < day.isoformat() and (p / INDEX_NAME).is_file()),
        key=lambda p: p.name,
    )  # fmt: skip
    previous = (date.fromisoformat(earlier[-1].name), _href(earlier[-1] / INDEX_NAME, from_dir)) if earlier else None
    index = _href(reports_dir() / day.isoformat() / INDEX_NAME, from_dir)
    return Links(data_docs=docs, previous_date=previous, date_index=index)


def _date_runs(day_dir: Path) -> list[dict]:
    runs = []
    for meta in day_dir.glob(f"*/{META_NAME}"):
        try:
            record = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.warning("report metadata %s unreadable: left out of the index", meta)
            continue
        runs.append({**record, "href": f"{meta.parent.name}/{REPORT_NAME}"})
    return sorted(runs, key=lambda r: (r.get("built_at", ""), r.get("run_id", "")), reverse=True)


def build_report(as_of_date: date | str, run_id: str) -> Path:
    """Build the HTML run report of ``run_id`` for ``as_of_date`` and return its path.

    Needs D's CLV and segments outputs (a :class:`~python_tasks.report.queries.ReportDataError` says which
    stage to run otherwise); the first run of the warehouse gets the report with its migration and
    attribution sections saying there is no previous run.
    """
    from python_tasks.io.warehouse import connect
    from python_tasks.report.figures import chart_style, draw_charts
    from python_tasks.report.page import quality_status, render_date_index, render_page
    from python_tasks.report.queries import read_report_data

    day = date.fromisoformat(as_of_date) if isinstance(as_of_date, str) else as_of_date
    started = time.perf_counter()
    settings = get_settings()
    log.info("run report for %s (run %s): reading %s", day, run_id, settings.warehouse_path)
    with connect(settings.warehouse_path, read_only=True) as con:
        data = read_report_data(con, day, run_id)
    read_s = time.perf_counter() - started
    log.info("run report for %s: read %d clients in %.2f s", day, data.headline.clients, read_s)

    style = chart_style()
    charts = draw_charts(data, style)
    drawn_s = time.perf_counter() - started - read_s
    log.info("run report for %s: %d charts drawn in %.2f s", day, len(charts), drawn_s)

    path = report_path(day, run_id)
    built_at = datetime.now(UTC)
    quality_runs = data.quality.gates["run_id"].astype(str).tolist()
    seconds = time.perf_counter() - started
    html = render_page(data, charts, links=_links(day, run_id, quality_runs, path.parent), style=style,
                       built_at=built_at, seconds=seconds)  # fmt: skip
    write_text_atomic(path, html)
    kind, status = quality_status(data)
    meta = {
        "as_of_date": day.isoformat(), "run_id": run_id, "built_at": built_at.strftime("%Y-%m-%d %H:%M:%S"),
        "seconds": round(time.perf_counter() - started, 3), "clients": data.headline.clients,
        "total_clv_cny": data.headline.total_clv_cny, "total_ead_cny": data.headline.total_ead_cny,
        "open_warnings": data.headline.open_warnings, "quality": status, "quality_status": kind,
        "previous_as_of_date": data.previous_date.isoformat() if data.previous_date else None,
        "chart_labels": "zh+en" if style.chinese else "en", "charts": sorted(charts), "bytes": len(html.encode()),
    }  # fmt: skip
    write_text_atomic(path.with_name(META_NAME), json.dumps(meta, indent=2, ensure_ascii=False))

    day_dir = path.parent.parent
    write_text_atomic(day_dir / INDEX_NAME, render_date_index(day, _date_runs(day_dir)))
    newest = max(
        (p.name for p in reports_dir().glob("????-??-??") if (p / INDEX_NAME).is_file()), default=day.isoformat()
    )
    if day.isoformat() >= newest:
        latest = reports_dir() / LATEST_NAME
        write_text_atomic(latest, render_page(data, charts, links=_links(day, run_id, quality_runs, latest.parent), style=style,
                                   built_at=built_at, seconds=seconds))  # fmt: skip
    log.info(
        "run report for %s (run %s) written to %s: %d charts, %.0f KB, %.2f s",
        day, run_id, path, len(charts), len(html.encode()) / 1024, time.perf_counter() - started,
    )  # fmt: skip
    return path
