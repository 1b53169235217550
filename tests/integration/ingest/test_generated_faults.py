"""Every fault class the generator can inject is caught by the loader as the manifest says it should be:
the right file, row and rule, or the right file-level error, with the counts reconciled."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from python_tasks.ingest.job import ingest_source
from python_tasks.ingest.readers import DeliveryError
from python_tasks.orchestration.sources import internal_sources
from python_tasks.sample_data.faults import FAULT_CLASSES, inject_faults
from python_tasks.sample_data.generate import generate

D0, D1, D2 = date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)

#: What the loader's message says for each file-level fault keyword of the generator's manifest.
FILE_ERROR_WORDS = {
    "truncated": ("truncated", "unreadable"),
    "encoding": ("UTF-8",),
    "empty": ("empty file",),
    "delimiter": ("delimited",),
    "missing column": ("missing column",),
}


@pytest.fixture(scope="module")
def clean_home(tmp_path_factory) -> Path:
    """Sample data for D0..D2 with D0 already loaded: the starting point each fault class is copied from."""
    home = tmp_path_factory.mktemp("clean")
    generate(home / "inbox", clients=200, first_date=D0, days=2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLV_HOME", str(home))
        for source in internal_sources():
            ingest_source(source, D0, "d0")
    return home


def _load_day(day: date) -> dict[str, str]:
    """Load every internal source for ``day``; the error message of each source that failed."""
    errors = {}
    for source in internal_sources():
        try:
            ingest_source(source, day, f"run-{day}")
        except DeliveryError as exc:
            errors[source] = str(exc)
    return errors


@pytest.mark.parametrize("fault", FAULT_CLASSES)
def test_injected_fault_is_caught_as_the_manifest_says(fault, clean_home, tmp_path, monkeypatch):
    home = tmp_path / "home"
    shutil.copytree(clean_home, home, ignore=shutil.ignore_patterns("landing", ".duckdb_tmp"))
    monkeypatch.setenv("CLV_HOME", str(home))
    for var in ("CLV_INBOX_DIR", "CLV_LANDING_DIR", "CLV_WAREHOUSE_PATH"):
        monkeypatch.delenv(var, raising=False)
    entries = inject_faults(home / "inbox", D1, [fault], seed=7)
    assert entries, f"{fault}: nothing injected"
    errors = _load_day(D1)
    if any(e.get("delivery_date") == D2.isoformat() for e in entries):
        errors.update(_load_day(D2))

    with duckdb.connect(str(home / "warehouse" / "clv.duckdb"), read_only=True) as con:
        for entry in entries:
            file_name = Path(entry["file"]).name
            if "expected_rule" in entry:
                rows = con.execute(
                    "SELECT failed_rules FROM audit.quarantine WHERE source = $s AND file_name = $f AND row_number = $r",
                    {"s": entry["source"], "f": file_name, "r": entry["row_number"]},
                ).fetchall()
                assert rows, f"{fault}: {file_name} row {entry['row_number']} not quarantined"
                assert entry["expected_rule"] in rows[0][0], f"{fault}: {rows[0][0]}"
            elif entry["expected_error"] == "no data rows":
                (message,) = con.execute(
                    "SELECT message FROM audit.load_ledger WHERE file_name = $f", {"f": file_name}
                ).fetchone()
                assert "header only" in message
            elif entry["expected_error"] == "duplicate delivery":
                (status, message) = con.execute(
                    "SELECT status, message FROM audit.load_ledger WHERE file_name = $f", {"f": file_name}
                ).fetchone()
                assert status == "duplicate" and Path(entry["duplicate_of"]).name in message
            else:
                message = errors.get(entry["source"], "")
                assert file_name in message, f"{fault}: {entry['source']} did not fail on {file_name}: {message!r}"
                words = FILE_ERROR_WORDS[entry["expected_error"]]
                assert any(w in message for w in words), f"{fault}: {message!r} lacks {words}"
                (status,) = con.execute(
                    "SELECT status FROM audit.load_ledger WHERE file_name = $f ORDER BY finished_at DESC LIMIT 1",
                    {"f": file_name},
                ).fetchone()
                assert status == "rejected"
        unreconciled = con.execute(
            "SELECT file_name FROM audit.load_ledger WHERE status = 'loaded' AND rows_in <> rows_loaded + rows_quarantined"
        ).fetchall()
    assert unreconciled == []
