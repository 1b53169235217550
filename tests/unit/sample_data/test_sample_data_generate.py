"""The generator's contract with the loader: layout, headers, types, encodings, manifest, determinism."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sample_data_testkit import FIRST, read_file

from python_tasks.contracts import load_contracts
from python_tasks.sample_data.arrow_build import schema_of
from python_tasks.sample_data.generate import generate

CLIENTS = 300
DAYS = 3


def _generate(path: Path, **kw) -> object:
    args = {"clients": CLIENTS, "first_date": FIRST, "days": DAYS, "seed": 42} | kw
    return generate(path, **args)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    inbox = tmp_path_factory.mktemp("gen") / "inbox"
    return inbox, _generate(inbox)


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _internal():
    return {n: c for n, c in load_contracts().items() if c.delivery.format != "api"}


def test_every_source_has_a_delivery_every_day(run):
    inbox, summary = run
    days = [(FIRST + timedelta(days=k)).isoformat() for k in range(DAYS + 1)]
    for name, contract in _internal().items():
        for day in days:
            files = sorted((inbox / name / day).iterdir())
            stamp = day.replace("-", "")
            assert [f.name for f in files][0] == f"{name}_{stamp}_001.{contract.file_extension}"
            assert all(re.fullmatch(rf"{name}_{stamp}_\d{{3}}\.{contract.file_extension}", f.name) for f in files)
    assert summary.rows("repayments", days[0]) > 10_000
    assert all(summary.rows("repayments", d) > 0 for d in days[1:])


def test_headers_and_types_are_the_contracts(run):
    inbox, _ = run
    for name, contract in _internal().items():
        for path in sorted((inbox / name).rglob(f"*.{contract.file_extension}")):
            if contract.delivery.format == "csv":
                with path.open("rb") as fh:
                    header = fh.readline()
                assert header == (",".join(contract.column_names) + "\n").encode()
            else:
                assert pq.read_schema(path).names == contract.column_names
                assert [f.type for f in pq.read_schema(path)] == [f.type for f in schema_of(contract)]


def test_csv_files_decode_with_their_encoding_and_need_no_quoting(run):
    inbox, _ = run
    for name, contract in _internal().items():
        if contract.delivery.format != "csv":
            continue
        for path in sorted((inbox / name).rglob("*.csv")):
            data = path.read_bytes()
            text = data.decode(contract.delivery.encoding)  # strict: raises on a bad byte
            assert b"\r" not in data and b'"' not in data
            if contract.delivery.encoding == "gbk" and path.stat().st_size > 1000:
                assert any(ord(ch) > 0x7F for ch in text), f"{path.name}: GBK file without Chinese text"
                with pytest.raises(UnicodeDecodeError):
                    data.decode("utf-8")
            fields = {len(line.split(",")) for line in text.splitlines()}
            assert fields == {len(contract.column_names)}, path.name


def test_manifest_lists_every_file_with_its_rows(run):
    inbox, summary = run
    manifest = json.loads((inbox / "_manifest.json").read_text(encoding="utf-8"))
    assert manifest["parameters"]["clients"] == CLIENTS and manifest["parameters"]["seed"] == 42
    assert manifest["faults"] == []
    listed = set()
    for day, sources in manifest["deliveries"].items():
        for source, entry in sources.items():
            assert entry["rows"] == sum(f["rows"] for f in entry["files"])
            for f in entry["files"]:
                listed.add(f["path"])
                assert read_file(source, inbox / f["path"]).num_rows == f["rows"], f["path"]
                assert (inbox / f["path"]).stat().st_size == f["bytes"]
                assert f["path"].startswith(f"{source}/{day}/")
    on_disk = {p.relative_to(inbox).as_posix() for p in inbox.rglob("*") if p.is_file() and p.parts[-4:][0] != "_api"}
    on_disk = {p for p in on_disk if not p.startswith("_")}
    assert listed == on_disk
    assert summary.rows() == sum(e["rows"] for s in manifest["deliveries"].values() for e in s.values())
    api = manifest["api"]
    assert [f["path"] for f in api["macro_indicators"]] == ["_api/macro_indicators/2026-11-01.json"]


def test_same_seed_same_bytes_other_seed_other_bytes(run, tmp_path):
    inbox, _ = run
    again = tmp_path / "again"
    _generate(again)
    assert _digests(inbox) == _digests(again)
    other = tmp_path / "other"
    _generate(other, seed=7)
    a, b = _digests(inbox), _digests(other)
    assert a.keys() == b.keys()
    assert a["clients/2026-11-20/clients_20261120_001.csv"] != b["clients/2026-11-20/clients_20261120_001.csv"]
    assert a["repayments/2026-11-20/repayments_20261120_001.csv"] != b["repayments/2026-11-20/repayments_20261120_001.csv"]


def test_more_days_keep_the_first_deliveries(run, tmp_path):
    """The simulated lives do not depend on how many delta days are asked for."""
    inbox, _ = run
    shorter = tmp_path / "shorter"
    _generate(shorter, days=1)
    a, b = _digests(inbox), _digests(shorter)
    for path, digest in b.items():
        if path == "_manifest.json":
            continue
        assert a[path] == digest, path


def test_parts_are_split_at_part_rows(tmp_path):
    summary = _generate(tmp_path / "parts", clients=100, days=0, part_rows=1_000)
    files = summary.files("repayments", FIRST.isoformat())
    assert len(files) > 2
    rows = [read_file("repayments", f).num_rows for f in files]
    assert all(r == 1_000 for r in rows[:-1]) and 0 < rows[-1] <= 1_000
    assert sum(rows) == summary.rows("repayments")


def test_refuses_a_non_empty_inbox_unless_overwrite(tmp_path):
    inbox = tmp_path / "inbox"
    _generate(inbox, clients=20, days=0)
    with pytest.raises(FileExistsError):
        _generate(inbox, clients=20, days=0)
    (inbox / "clients" / "stale.txt").write_text("x")
    _generate(inbox, clients=20, days=0, overwrite=True)
    assert not (inbox / "clients" / "stale.txt").exists()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        _generate(foreign, clients=20, days=0, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        _generate(tmp_path / "a", scale="XL")
    with pytest.raises(ValueError):
        _generate(tmp_path / "b", faults=["no_such_fault"])
    with pytest.raises(ValueError):
        _generate(tmp_path / "c", faults=["empty_file"], fault_date=FIRST + timedelta(days=30))


def test_chunks_and_worker_processes_give_the_same_bytes(tmp_path, monkeypatch):
    """Several chunks: ids stay unique across them, and parallel workers write the same files as one."""
    import python_tasks.sample_data.generate as gen

    monkeypatch.setattr(gen, "CHUNK_CLIENTS", 120)
    one = tmp_path / "one"
    summary = _generate(one, clients=300, days=1)
    two = tmp_path / "two"
    _generate(two, clients=300, days=1, workers=2)
    assert _digests(one) == _digests(two)
    clients = read_file("clients", one / "clients" / FIRST.isoformat() / f"clients_{FIRST:%Y%m%d}_001.csv")
    ids = clients.column("client_id").to_pylist()
    assert len(ids) == len(set(ids)) and max(ids) <= "C000000300"
    facilities = [read_file("facilities", p) for p in summary.files("facilities")]
    chunks = {fid[1:5] for t in facilities for fid in t.column("facility_id").to_pylist()}
    assert chunks == {"0000", "0001", "0002"}
