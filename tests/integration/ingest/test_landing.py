"""Landing: exact copies with checksums, names that cannot escape, external data over HTTP."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from deliveries import D0, client_row, macro_row

from python_tasks.contracts import load_contract
from python_tasks.ingest.job import ingest_source
from python_tasks.ingest.landing import land_delivery, safe_child
from python_tasks.ingest.readers import DeliveryError
from python_tasks.settings import get_settings


def test_landed_files_are_exact_copies_with_sha256(inbox):
    path = inbox.csv("clients", D0, [client_row(1)])
    (landed,) = land_delivery(get_settings(), load_contract("clients"), D0)
    assert landed.path == get_settings().landing_dir / "clients" / "2026-11-20" / path.name
    assert landed.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert landed.path.read_bytes() == path.read_bytes()


def test_relanding_removes_files_of_an_earlier_attempt(inbox):
    inbox.csv("clients", D0, [client_row(1)], part=1)
    second = inbox.csv("clients", D0, [client_row(2)], part=2)
    land_delivery(get_settings(), load_contract("clients"), D0)
    second.unlink()
    landed = land_delivery(get_settings(), load_contract("clients"), D0)
    folder = get_settings().landing_dir / "clients" / "2026-11-20"
    assert [f.name for f in landed] == sorted(p.name for p in folder.iterdir()) == ["clients_20261120_001.csv"]


@pytest.mark.parametrize("name", ["../../etc/passwd", "..", "/etc/passwd", "a/../../b.csv", ".hidden", "x\x00.csv"])
def test_names_that_escape_the_landing_folder_are_refused(tmp_path, name):
    with pytest.raises(DeliveryError) as info:
        safe_child(tmp_path, name)
    assert info.value.rule == "file:path"


def test_inbox_link_pointing_outside_is_refused(inbox, tmp_path):
    secret = tmp_path / "outside.csv"
    secret.write_text("not a delivery")
    (inbox.folder("clients", D0) / "clients_20261120_001.csv").symlink_to(secret)
    with pytest.raises(DeliveryError) as info:
        ingest_source("clients", D0, "r")
    assert info.value.rule == "file:path" and "links outside the inbox" in str(info.value)


def test_file_not_following_the_naming_convention_is_refused(inbox):
    (inbox.folder("clients", D0) / "clients_final_v2.csv").write_text("x")
    with pytest.raises(DeliveryError) as info:
        ingest_source("clients", D0, "r")
    assert info.value.rule == "file:name" and "clients_20261120_NNN.csv" in str(info.value)


def test_missing_delivery_is_a_clear_error_until_its_deadline(home):
    before_deadline = datetime(2026, 11, 21, 5, 29, tzinfo=ZoneInfo("Asia/Shanghai"))
    with pytest.raises(DeliveryError) as info:
        ingest_source("clients", D0, "r", now=before_deadline)
    assert info.value.rule == "file:missing" and "no delivery of clients for 2026-11-20" in str(info.value)
    # past the deadline it is recorded as missing (the freshness gate decides), never loaded
    result = ingest_source("clients", D0, "r", now=before_deadline + timedelta(minutes=1))
    assert (result["status"], result["rows_in"], result["rows_loaded"]) == ("missing", 0, 0)


@pytest.fixture
def api(fake_api):
    """The vendor's API with one macro delivery for D0; the severe path has an out-of-range M2 growth."""
    fake_api["/v1/macro_indicators?as_of_date=2026-11-20"] = {
        "source": "macro_indicators",
        "as_of_date": "2026-11-20",
        "records": [
            macro_row(s, m2_growth_pct=8.1 if s != "severe" else 99.0) for s in ("baseline", "adverse", "severe")
        ],
    }
    return fake_api


def test_external_source_is_fetched_over_http_and_validated(home, api):
    result = ingest_source("macro_indicators", D0, "ext")
    assert (result["rows_in"], result["rows_loaded"], result["rows_quarantined"]) == (3, 2, 1)
    landed = get_settings().landing_dir / "macro_indicators" / "2026-11-20" / "macro_indicators_20261120_001.json"
    assert json.loads(landed.read_text())["source"] == "macro_indicators"


def test_external_api_404_is_a_clear_error(home, api):
    with pytest.raises(DeliveryError) as info:
        ingest_source("macro_indicators", D1 := D0.replace(day=21), "ext")
    assert "HTTP 404" in str(info.value) and D1.isoformat() in str(info.value)
