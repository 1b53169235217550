"""Every fault class mutates the delivery and says exactly where, in the loader's vocabulary."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from datetime import timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sample_data_testkit import FIRST

from python_tasks.contracts import load_contracts
from python_tasks.sample_data.faults import FAULT_CLASSES, FILE_LEVEL, inject_faults
from python_tasks.sample_data.generate import generate

DAY = (FIRST + timedelta(days=1)).isoformat()
RULE = re.compile(
    r"^(type|not_null|unique|format|range|allowed_values|not_after_business_date|not_before|foreign_key|pattern)"
    r":[a-z_]+(\+[a-z_]+)*$"
)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults") / "inbox"
    generate(root, clients=300, first_date=FIRST, days=2, seed=3)
    return root


def _digests(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


def _csv_field(path, encoding, row, column) -> str:
    lines = path.read_bytes().split(b"\n")
    header = lines[0].decode().split(",")
    return lines[row].split(b",")[header.index(column)].decode(encoding, "replace")


@pytest.mark.parametrize("fault", FAULT_CLASSES)
def test_fault_class(base, tmp_path, fault):
    inbox = tmp_path / "inbox"
    shutil.copytree(base, inbox)
    before = _digests(inbox)
    entries = inject_faults(inbox, DAY, [fault], seed=1)
    assert entries and all(e["fault"] == fault for e in entries)
    contracts = load_contracts()
    after = _digests(inbox)
    for e in entries:
        assert {"fault", "source", "file", "row_number", "column", "isolated"} <= set(e)
        assert ("expected_rule" in e) != ("expected_error" in e)
        assert e["isolated"] is True  # one fault class alone hides nothing
        path = inbox / e["file"]
        assert path.exists()
        assert before.get(e["file"]) != after[e["file"]], "the fault file is unchanged"
        contract = contracts[e["source"]]
        if "expected_rule" in e:
            assert fault not in FILE_LEVEL and RULE.match(e["expected_rule"])
            assert e["expected_rule"].split(":")[1].split("+")[0] == e["column"] or e["expected_rule"].startswith("unique:")
            assert e["row_number"] >= 1 and e["file"].startswith(f"{e['source']}/{DAY}/")
            if contract.delivery.format == "csv":
                assert _csv_field(path, contract.delivery.encoding, e["row_number"], e["column"]) == e["value"]
            else:
                value = pq.read_table(path).column(e["column"])[e["row_number"] - 1].as_py()
                assert value.isoformat() == e["value"]
        else:
            assert e["row_number"] is None and e["expected_error"] == e["expected_error"].lower()
    _check_file_level(inbox, base, fault, entries, contracts)
    manifest_faults = json.loads((inbox / "_manifest.json").read_text(encoding="utf-8"))["faults"]
    assert manifest_faults == entries


def _check_file_level(inbox, base, fault, entries, contracts):
    for e in entries:
        path = inbox / e["file"]
        data = path.read_bytes()
        contract = contracts[e["source"]]
        if fault == "truncated_file":
            if path.suffix == ".csv":
                assert not data.endswith(b"\n")
                assert len(data.split(b"\n")[-1].split(b",")) < len(contract.column_names)
            else:
                with pytest.raises(pa.ArrowInvalid):
                    pq.read_table(path)
        elif fault == "wrong_encoding":
            if contract.delivery.encoding == "gbk":
                assert any(b > 0x7F for b in data) and data.decode("utf-8")
            else:
                with pytest.raises(UnicodeDecodeError):
                    data.decode("utf-8")
        elif fault == "empty_file":
            assert data == b""
        elif fault == "header_only":
            assert data == (",".join(contract.column_names) + "\n").encode()
        elif fault == "wrong_delimiter":
            assert data.split(b"\n")[0].decode() == ";".join(contract.column_names) and b"," not in data
        elif fault == "header_mismatch":
            header = data.split(b"\n")[0].decode().split(",")
            assert e["column"] not in header
            assert len(header) == len(contract.column_names) - (0 if "staff_count" in header else 1)
        elif fault == "duplicate_delivery":
            next_day = (FIRST + timedelta(days=2)).isoformat()
            assert e["file"].startswith(f"{e['source']}/{next_day}/{e['source']}_{next_day.replace('-', '')}_")
            assert data == (base / e["duplicate_of"]).read_bytes() == (inbox / e["duplicate_of"]).read_bytes()
    kinds = {e["fault"] for e in entries}
    if kinds & {"truncated_file", "wrong_encoding", "header_mismatch"}:
        assert len(entries) == 2  # CSV and Parquet, both encodings, renamed and dropped column
    if "unknown_industry" in kinds:
        assert {e["value"] for e in entries} == {"Z99", "C05"}


def test_generate_records_all_faults_in_the_manifest(tmp_path):
    summary = generate(tmp_path / "inbox", clients=300, first_date=FIRST, days=2, faults=list(FAULT_CLASSES), fault_date=DAY)
    manifest = json.loads((tmp_path / "inbox" / "_manifest.json").read_text(encoding="utf-8"))
    assert manifest["faults"] == summary.faults
    assert {e["fault"] for e in summary.faults} == set(FAULT_CLASSES)
    files = {f["path"] for s in manifest["deliveries"].values() for e in s.values() for f in e["files"]}
    assert all(e["file"] in files for e in summary.faults)
    # file-level faults go into files of their own, so some row-level faults stay visible to the loader
    assert len({e["file"] for e in summary.faults if e["fault"] in FILE_LEVEL}) == sum(
        e["fault"] in FILE_LEVEL for e in summary.faults
    )
    assert any(e["isolated"] for e in summary.faults if e["fault"] in FILE_LEVEL)


def test_faults_on_the_history_load(tmp_path):
    summary = generate(tmp_path / "inbox", clients=200, first_date=FIRST, days=0, faults=list(FAULT_CLASSES))
    assert {e["fault"] for e in summary.faults} == set(FAULT_CLASSES)
    assert all(e["file"].split("/")[1] == FIRST.isoformat() for e in summary.faults if e["fault"] != "duplicate_delivery")
