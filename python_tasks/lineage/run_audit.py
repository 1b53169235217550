"""The run audit: one row per run and business date in ``audit.run_audit`` saying what the run was made of
and how it ended: code version, parameter hashes, every input file with its sha256, rows in and out per
stage, each gate's outcome, start and end, status.

``record_run_audit(D, run_id, status)`` rebuilds the row from the audit tables (python_tasks/lineage/
recorded.py) and replaces this run's row for D in one transaction: recording twice gives one row, the
second. The DAG records ``success`` after publish and ``failed`` when a task failed for good.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

from python_tasks.io import warehouse
from python_tasks.lineage.recorded import RunRecord, jsonable, read_run
from python_tasks.settings import PROJECT_ROOT, get_settings

log = logging.getLogger(__name__)

STATUSES = ("success", "failed", "running")
PACKAGE = "clv-warehouse"

RUN_AUDIT_DDL = """
CREATE TABLE IF NOT EXISTS audit.run_audit (
    run_id VARCHAR NOT NULL,
    as_of_date DATE NOT NULL,
    status VARCHAR NOT NULL,
    started_at TIMESTAMP WITH TIME ZONE,
    finished_at TIMESTAMP WITH TIME ZONE,
    recorded_at TIMESTAMP WITH TIME ZONE NOT NULL,
    code_version VARCHAR NOT NULL,
    code_version_source VARCHAR NOT NULL,
    code_dirty BOOLEAN,
    clv_params_version VARCHAR,
    clv_params_sha256 VARCHAR,
    segment_params_version VARCHAR,
    segment_params_sha256 VARCHAR,
    parameter_files JSON NOT NULL,
    input_files JSON NOT NULL,
    external_inputs JSON NOT NULL,
    stage_rows JSON NOT NULL,
    gates JSON NOT NULL,
    dbt JSON NOT NULL,
    failures JSON NOT NULL,
    PRIMARY KEY (run_id, as_of_date)
)
"""
#: JSON columns of the row (parsed when read back)
JSON_COLUMNS = ("parameter_files", "input_files", "external_inputs", "stage_rows", "gates", "dbt", "failures")


def ensure_table(con) -> None:  # noqa: ANN001 - a read-write DuckDB connection
    con.execute("CREATE SCHEMA IF NOT EXISTS audit")
    con.execute(RUN_AUDIT_DDL)


@functools.cache
def code_version() -> tuple[str, str, bool | None]:
    """(version, source, dirty): ``CLV_CODE_VERSION`` when the deployment sets it (an image built from a
    commit), else the git commit of the checkout (dirty when tracked files differ from it), else the
    installed package's version."""
    pinned = os.environ.get("CLV_CODE_VERSION")
    if pinned:
        return pinned, "environment", None
    try:
        commit = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout  # fmt: skip
        return commit, "git", bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"{PACKAGE} {version(PACKAGE)}", "package", None
        except PackageNotFoundError:
            return "unknown", "none", None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _display(path: Path) -> str:
    try:
        return path.resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def parameter_files() -> dict[str, Path]:
    """The files whose content decides the run's numbers and gates: CLV parameters, segment rules, every
    expectations file. Keys are paths relative to the project (absolute when configured elsewhere)."""
    from python_tasks.quality.suites import EXPECTATIONS_DIR

    settings = get_settings()
    files = [settings.clv_params_path, settings.segment_rules_path, *sorted(EXPECTATIONS_DIR.glob("*.yml"))]
    return {_display(p): p for p in files if p.exists()}


def parameter_hashes() -> dict[str, str]:
    return {name: sha256_file(path) for name, path in parameter_files().items()}


def _file_row(r: dict) -> dict:
    keys = ("source", "as_of_date", "file_name", "landed_path", "sha256", "size_bytes", "rows_in", "rows_loaded",
            "rows_quarantined", "status", "run_id")  # fmt: skip
    return jsonable({k: r.get(k) for k in keys})


def stage_rows(record: RunRecord) -> dict:
    """Rows in and out per stage: ingest per source, dbt per node, the CLV and segment tables."""
    ingest: dict[str, dict] = {}
    for r in record.ledger:
        s = ingest.setdefault(r["source"], {"files": 0, "rows_in": 0, "rows_loaded": 0, "rows_quarantined": 0,
                                            "status": []})  # fmt: skip
        s["files"] += 1 if r.get("landed_path") else 0
        for k in ("rows_in", "rows_loaded", "rows_quarantined"):
            s[k] += int(r[k] or 0)
        if r["status"] not in s["status"]:
            s["status"].append(r["status"])
    for source, s in ingest.items():
        s["status"] = ",".join(s["status"])
        s["raw_rows_for_date"] = record.table_rows.get(f"raw.{source}")
    dbt: dict[str, dict] = {}
    for r in record.dbt_nodes("model", "seed", "snapshot"):
        relation = record.dbt_relations.get(r["unique_id"])
        dbt[r["unique_id"]] = {
            "status": r["status"], "rows_affected": r["rows_affected"], "relation": relation,
            "rows_for_date": record.table_rows.get(relation) if relation else None,
        }  # fmt: skip
    by_schema = {"valuation": {}, "segments": {}}
    for name, rows in record.table_rows.items():
        schema = name.split(".", 1)[0]
        if schema in by_schema:
            by_schema[schema][name] = rows
    return {
        "ingest": ingest,
        "dbt": dbt,
        "clv": {"rows_written": (record.clv_run or {}).get("rows_written"), "tables": by_schema["valuation"],
                "clients": (record.clv_run or {}).get("clients")},
        "segments": {"rows_written": (record.segments_run or {}).get("rows_written"), "tables": by_schema["segments"],
                     "clients": (record.segments_run or {}).get("clients")},
    }  # fmt: skip


def build_row(record: RunRecord, status: str, recorded_at: datetime) -> dict:
    """The audit row of a run (JSON columns as Python objects)."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
    version, source, dirty = code_version()
    times = record.times()
    clv, seg = record.clv_run or {}, record.segments_run or {}
    dbt_status: dict[str, int] = {}
    for r in record.dbt_results:
        key = f"{r['resource_type']}:{r['status']}"
        dbt_status[key] = dbt_status.get(key, 0) + 1
    failures = [*record.alerts]
    failures += [
        {"dbt_node": r["unique_id"], "status": r["status"], "message": r["message"]} for r in record.dbt_failed()
    ]
    failures += [{"file": r["file_name"], "source": r["source"], "status": r["status"], "message": r["message"]}
                 for r in record.ledger if r["status"] not in ("loaded", "unchanged", "missing")]  # fmt: skip
    return {
        "run_id": record.run_id,
        "as_of_date": record.as_of_date,
        "status": status,
        "started_at": min(times) if times else None,
        "finished_at": recorded_at if status == "success" else (max(times) if times else None),
        "recorded_at": recorded_at,
        "code_version": version,
        "code_version_source": source,
        "code_dirty": dirty,
        "clv_params_version": clv.get("params_version"),
        "clv_params_sha256": clv.get("params_sha256"),
        "segment_params_version": seg.get("params_version"),
        "segment_params_sha256": seg.get("params_sha256"),
        "parameter_files": parameter_hashes(),
        "input_files": [_file_row(r) for r in record.ledger],
        "external_inputs": [_file_row(r) for r in record.external_ledger],
        "stage_rows": stage_rows(record),
        "gates": {g: o.as_dict() for g, o in record.gates().items()},
        "dbt": {
            "nodes": len(record.dbt_results),
            "by_status": dbt_status,
            "selectors": sorted({r["selector"] for r in record.dbt_results}),
        },  # fmt: skip
        "failures": jsonable(failures),
    }


def record_run_audit(as_of_date: str | date, run_id: str, status: str = "success") -> dict:
    """Build the run's audit row from what it recorded and replace its row for D; return the row."""
    day = date.fromisoformat(as_of_date) if isinstance(as_of_date, str) else as_of_date
    from python_tasks.lineage.dbt_lineage import load_artifact

    settings = get_settings()
    with warehouse.connect(settings.warehouse_path) as con:
        record = read_run(con, day, run_id, home=settings.home, manifest=load_artifact("manifest.json"))
        row = build_row(record, status, datetime.now(UTC))
        ensure_table(con)
        columns = list(row)
        values = [json.dumps(jsonable(row[c]), ensure_ascii=False) if c in JSON_COLUMNS else row[c] for c in columns]
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DELETE FROM audit.run_audit WHERE run_id = $r AND as_of_date = $d", {"r": run_id, "d": day})
            con.execute(
                f"INSERT INTO audit.run_audit ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})", values
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    log.info("run audit %s %s: %s, %d input files, gates %s", run_id, day, status, len(row["input_files"]),
             {g: o["outcome"] for g, o in row["gates"].items()})  # fmt: skip
    return jsonable(row)


def read_run_audit(con, as_of_date: date, run_id: str) -> dict | None:  # noqa: ANN001
    """The audit row of a run for D, JSON columns parsed (None when not recorded)."""
    if not warehouse.table_exists(con, "audit", "run_audit"):
        return None
    cursor = con.execute("SELECT * FROM audit.run_audit WHERE run_id = $r AND as_of_date = $d",
                         {"r": run_id, "d": as_of_date})  # fmt: skip
    row = cursor.fetchone()
    if row is None:
        return None
    out = dict(zip([d[0] for d in cursor.description], row, strict=True))
    for c in JSON_COLUMNS:
        if isinstance(out.get(c), str):
            out[c] = json.loads(out[c])
    return jsonable(out)
