"""The evidence bundle of a run: everything a reviewer needs to check run ``run_id`` of business date D,
in one folder with checksums, kept for a retention period.

``<CLV_HOME>/evidence/<D>/<run id>/``::

    bundle.json                the index: run, date, code version, what is inside, notes
    audit/run_audit.json       the run's row of audit.run_audit
    audit/dbt_results.json     every dbt node and test of the run (audit.dbt_results)
    ingest/load_ledger.json    the run's deliveries (audit.load_ledger) and the external ones in force at D
    quality/dq_results.json    every check of every gate of the run (audit.dq_results)
    quality/data_docs/         the GX Data Docs of the run and date, when the gates wrote them
    dbt/manifest.json          dbt's manifest and run results of the build
    dbt/run_results.json
    lineage/<run id>.ndjson    the run's OpenLineage events
    parameters/...             config/clv_params.yml, config/segment_rules.yml, expectations/*.yml as used
    alerts/*.json              the failure alerts of the run, if any
    MANIFEST.sha256            sha256 of every other file (``sha256sum -c MANIFEST.sha256`` checks them)

A rerun replaces the run's bundle whole (built beside it, then swapped in). Bundles whose business date
is more than ``CLV_EVIDENCE_RETENTION_DAYS`` (default 400) before D are deleted when a bundle is built;
the dates are business dates, never the clock.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from python_tasks.io import warehouse
from python_tasks.io.files import partial_path, remove_work_of_dead_writers, replace_dir
from python_tasks.lineage import naming
from python_tasks.lineage.dbt_lineage import run_results_belong_to, target_dir
from python_tasks.lineage.recorded import jsonable, read_run
from python_tasks.lineage.run_audit import code_version, parameter_files, read_run_audit, sha256_file
from python_tasks.settings import get_settings

log = logging.getLogger(__name__)

MANIFEST_NAME = "MANIFEST.sha256"
DEFAULT_RETENTION_DAYS = 400


def retention_days() -> int:
    value = os.environ.get("CLV_EVIDENCE_RETENTION_DAYS", str(DEFAULT_RETENTION_DAYS))
    days = int(value)
    if days < 1:
        raise ValueError(f"CLV_EVIDENCE_RETENTION_DAYS must be at least 1, not {value}")
    return days


def _write_json(path: Path, payload: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(jsonable(payload), ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")


def _data_docs(run_id: str, day: date) -> Path | None:
    """The run's GX Data Docs folder (python_tasks/quality/data_docs.py), when that module and folder exist."""
    try:
        from python_tasks.quality.data_docs import data_docs_run_dir
    except ImportError:
        return None
    folder = data_docs_run_dir(run_id, day)
    return folder if folder.is_dir() else None


def write_manifest(folder: Path) -> int:
    """``MANIFEST.sha256`` of every file under ``folder`` (sha256sum's format); returns the file count."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST_NAME)
    lines = [f"{sha256_file(p)}  {p.relative_to(folder).as_posix()}" for p in files]
    (folder / MANIFEST_NAME).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(files)


def verify_bundle(folder: Path) -> list[str]:
    """Problems with a bundle: a file missing, changed or not listed in its manifest (empty when intact)."""
    manifest = folder / MANIFEST_NAME
    if not manifest.exists():
        return [f"{manifest} is missing"]
    listed = {}
    for line in manifest.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line.split("  ", 1)
            listed[name] = digest
    problems = []
    for name, digest in listed.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif sha256_file(path) != digest:
            problems.append(f"{name}: checksum differs")
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST_NAME}
    problems += [f"{name}: not in the manifest" for name in sorted(present - set(listed))]
    return problems


def build_evidence_bundle(as_of_date: str | date, run_id: str) -> dict:
    """Build (or rebuild) the run's evidence bundle and apply the retention; return what it holds."""
    day = date.fromisoformat(as_of_date) if isinstance(as_of_date, str) else as_of_date
    settings = get_settings()
    target = naming.evidence_dir(day, run_id)
    # built under this process's work name; those of the date's builders that died (killed mid-bundle, under
    # this or another run id) are removed first, so none stays behind
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_work_of_dead_writers(target.parent, ".*.partial")
    work = partial_path(target)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    notes: list[str] = []

    with warehouse.connect(settings.warehouse_path, read_only=True) as con:
        record = read_run(con, day, run_id, home=settings.home)
        audit_row = read_run_audit(con, day, run_id)
    if audit_row is None:
        notes.append("audit.run_audit has no row for this run: record_run_audit was not called before the bundle")
    _write_json(work / "audit" / "run_audit.json", audit_row)
    _write_json(work / "audit" / "dbt_results.json", record.dbt_results)
    _write_json(
        work / "ingest" / "load_ledger.json", {"run": record.ledger, "external_in_force": record.external_ledger}
    )
    _write_json(work / "quality" / "dq_results.json", record.dq_results)

    docs = _data_docs(run_id, day)
    if docs is not None:
        shutil.copytree(docs, work / "quality" / "data_docs")
    else:
        notes.append("no GX Data Docs folder for this run and date")

    dbt = target_dir()
    run_results = None
    for name in ("manifest.json", "run_results.json"):
        source = dbt / name
        if source.exists():
            (work / "dbt").mkdir(exist_ok=True)
            shutil.copy2(source, work / "dbt" / name)
            if name == "run_results.json":
                run_results = json.loads(source.read_text(encoding="utf-8"))
        else:
            notes.append(f"dbt {name} not found in {dbt}")
    if run_results is not None and not run_results_belong_to(run_results, run_id, day.isoformat()):
        notes.append("dbt/run_results.json is that of a later dbt invocation, not this run's build: "
                     "audit/dbt_results.json holds this run's node results")  # fmt: skip

    events = naming.lineage_file(day, run_id)
    if events.exists():
        (work / "lineage").mkdir()
        shutil.copy2(events, work / "lineage" / events.name)
    else:
        notes.append(f"no lineage events at {events}: emit_run_lineage was not called before the bundle")

    for name, path in parameter_files().items():
        destination = work / "parameters" / (name if not Path(name).is_absolute() else path.name)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)

    for alert in record.alerts:
        source = settings.home / "alerts" / alert["file"]
        if source.exists():
            (work / "alerts").mkdir(exist_ok=True)
            shutil.copy2(source, work / "alerts" / alert["file"])

    version, version_source, dirty = code_version()
    _write_json(work / "bundle.json", {
        "run_id": run_id, "as_of_date": day, "created_at": datetime.now(UTC), "status": (audit_row or {}).get("status"),
        "code_version": version, "code_version_source": version_source, "code_dirty": dirty,
        "input_files": len(record.input_files), "gates": {g: o.outcome for g, o in record.gates().items()},
        "notes": notes,
    })  # fmt: skip
    files = write_manifest(work)
    replace_dir(work, target)
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    deleted = prune_evidence(day)
    log.info("evidence %s %s: %d files, %.1f MB in %s; %d old bundle date(s) deleted", run_id, day, files + 1,
             size / 1e6, target, len(deleted))  # fmt: skip
    return {"path": str(target), "files": files + 1, "bytes": size, "notes": notes, "deleted": deleted}


def prune_evidence(reference_date: date, days: int | None = None, root: Path | None = None) -> list[str]:
    """Delete the bundles of business dates more than ``days`` (default: the retention setting) before
    ``reference_date``; returns the dates deleted. Folders not named by a date are left alone."""
    days = retention_days() if days is None else days
    root = root or naming.evidence_root()
    if not root.is_dir():
        return []
    cutoff = reference_date - timedelta(days=days)
    deleted = []
    for folder in sorted(root.iterdir()):
        try:
            business_date = date.fromisoformat(folder.name)
        except ValueError:
            continue
        if folder.is_dir() and business_date < cutoff:
            shutil.rmtree(folder)
            deleted.append(folder.name)
    return deleted
