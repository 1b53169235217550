"""Personal data never reaches BI: a scan of every column of every table of the serving file and of every
Parquet file for identity-card numbers, mobile numbers and the raw legal representatives' names (with
checks on personal columns whose failure samples carry such values); pseudonyms are HMAC-SHA256 under the
configured key; production without a key refuses; the demo key is generated once, 0600."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import stat
import unicodedata
from pathlib import Path

import duckdb
import pytest
from serving_support import D0, record_gate

from python_tasks.contracts import load_contracts
from python_tasks.serving.bi_schema import bi_table
from python_tasks.serving.database import open_serving, serving_paths
from python_tasks.serving.pii import PiiKeyError, demo_key_path, load_pii_key, personal_columns
from python_tasks.serving.publish import run_publish
from python_tasks.settings import get_settings

# The scan's own patterns (independent of the code under test): a token standing alone, not part of a
# longer code (an all-digit USCC), of a hex digest (a pseudonym) or of a number's fraction (an amount
# 1234.13570159649 holds no phone; 13570159649.0, a phone stored as a number, does).
_ALONE_BEFORE = r"(?<![0-9A-Za-z])(?<![0-9]\.)"
_ALONE_AFTER = r"(?![0-9A-Za-z]|\.[0-9]*[1-9])"
_ID_TOKEN = re.compile(_ALONE_BEFORE + r"([0-9]{17}[0-9Xx])" + _ALONE_AFTER)
_MOBILE = re.compile(_ALONE_BEFORE + r"1[3-9][0-9]{9}" + _ALONE_AFTER)
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _is_identity_number(token: str) -> bool:
    """GB 11643: 6-digit region, birth date YYYYMMDD, sequence, ISO 7064 MOD 11-2 check character (a USCC
    made of digits only has the same length but not this structure)."""
    birth = token[6:14]
    if not (birth[:2] in ("18", "19", "20") and "01" <= birth[4:6] <= "12" and "01" <= birth[6:8] <= "31"):
        return False
    check = "10X98765432"[sum(int(d) * w for d, w in zip(token[:17], _WEIGHTS, strict=True)) % 11]
    return token[17].upper() == check


def _findings(text: str, names: set[str], company_names: list[str]) -> list[str]:
    found = [f"identity number {t}" for t in _ID_TOKEN.findall(text) if _is_identity_number(t)]
    found += [f"mobile number {m}" for m in _MOBILE.findall(text)]
    # a name can be part of a (public) company name, e.g. 万鑫 in 宜宾万鑫能源股份有限公司: strip those first
    stripped = text
    for company in company_names:
        if company in stripped:
            stripped = stripped.replace(company, " ")
    found += [f"legal representative's name {n}" for n in names if n in stripped]
    return found


@pytest.fixture
def raw_personal(serving_home: Path) -> dict:
    with duckdb.connect(str(get_settings().warehouse_path), read_only=True) as con:
        rows = con.execute(
            "SELECT legal_rep_name, legal_rep_id_number, legal_rep_phone, company_name FROM raw.clients"
        ).fetchall()
    return {
        "names": {r[0].strip() for r in rows if r[0]},
        "ids": {r[1].strip() for r in rows if r[1]},
        "phones": {r[2].strip() for r in rows if r[2]},
        "companies": sorted({r[3] for r in rows if r[3]}, key=len, reverse=True),
    }


def _scan_connection(con: duckdb.DuckDBPyConnection, relation: str, raw: dict) -> list[str]:
    problems = []
    columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()]
    for column in columns:
        values = con.execute(
            f'SELECT DISTINCT CAST("{column}" AS VARCHAR) FROM {relation} WHERE "{column}" IS NOT NULL'
        ).fetchall()
        for (value,) in values:
            for finding in _findings(value, raw["names"], raw["companies"]):
                problems.append(f"{relation}.{column}: {finding}")
    return problems


def test_the_scan_finds_what_it_looks_for(raw_personal):
    """The detector catches every raw identity number, phone and name (else a clean scan means nothing)."""
    assert raw_personal["ids"] and raw_personal["phones"] and raw_personal["names"]
    text = " ".join(sorted(raw_personal["ids"] | raw_personal["phones"] | raw_personal["names"]))
    found = _findings(text, raw_personal["names"], [])
    assert sum(f.startswith("identity") for f in found) == len(raw_personal["ids"])
    assert sum(f.startswith("mobile") for f in found) == len(raw_personal["phones"])


def test_no_personal_data_in_any_published_column_or_parquet_file(serving_home, warehouse_sql, raw_personal):
    # failed checks on personal columns whose samples and messages carry personal data, as a bad delivery would
    phone, phone2 = sorted(raw_personal["phones"])[:2]
    ident, name = sorted(raw_personal["ids"])[0], sorted(raw_personal["names"])[0]
    record_gate(warehouse_sql, D0, "raw", "run-d0", success=True, column="legal_rep_phone",
                sample=json.dumps([phone, f"+86 {phone}"]), observed=json.dumps({"first": phone}),
                at="2026-11-20 08:00:00+00")  # fmt: skip
    record_gate(warehouse_sql, D0, "raw", "run-d0", success=True, column="client_id",
                sample=json.dumps([int(phone), int(phone2), ident], separators=(",", ":")),
                at="2026-11-20 08:00:00+00")  # fmt: skip
    record_gate(warehouse_sql, D0, "raw", "run-d0", success=True, column="legal_rep_name",
                sample=json.dumps([name]), at="2026-11-20 08:00:00+00")  # fmt: skip
    record_gate(warehouse_sql, D0, "raw", "run-d0", success=True, column="uscc",
                sample=json.dumps([f"row with {ident}"]), exception=f"bad value {ident} / {phone}",
                at="2026-11-20 08:00:00+00")  # fmt: skip

    run_publish(D0, "pub-pii")

    problems: list[str] = []
    with open_serving() as con:
        tables = [
            r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'bi'").fetchall()
        ]
        assert "clients" in tables and "data_quality_results" in tables
        for table in tables:
            problems += _scan_connection(con, f"bi.{table}", raw_personal)
        withheld = con.execute(
            "SELECT column_name, unexpected_sample, observed_value FROM bi.data_quality_results "
            "WHERE is_personal_data_withheld ORDER BY ALL"
        ).fetchall()
        masked = con.execute(
            "SELECT exception, unexpected_sample FROM bi.data_quality_results WHERE column_name = 'uscc'"
        ).fetchall()
    assert ("legal_rep_phone", '["[personal data withheld]"]', None) in withheld
    assert masked == [
        ("bad value [personal data withheld] / [personal data withheld]", '["row with [personal data withheld]"]')
    ]
    files = sorted(serving_paths().parquet.rglob("*.parquet"))
    assert files
    with duckdb.connect() as con:
        for path in files:
            problems += _scan_connection(con, f"read_parquet('{path}')", raw_personal)
    assert problems == [], problems[:20]


def test_personal_columns_come_from_the_contracts_and_leave_only_their_hashes(serving_home):
    declared = [(c.name, col.name) for c in load_contracts().values() for col in c.columns if col.pii == "personal"]
    assert [(p.source, p.column) for p in personal_columns()] == declared
    assert {column for _, column in declared} >= {"legal_rep_name", "legal_rep_id_number", "legal_rep_phone"}
    clients = bi_table("clients").column_names
    for source, column in declared:
        assert column not in clients
        if source == "clients":
            assert f"{column}_hash" in clients


def test_pseudonyms_are_hmac_sha256_of_the_raw_value_under_the_configured_key(serving_home, monkeypatch):
    secret = "k" * 40
    monkeypatch.setenv("CLV_PII_KEY", secret)
    summary = run_publish(D0, "pub-key")
    with duckdb.connect(str(get_settings().warehouse_path), read_only=True) as con:
        raw = con.execute(
            "SELECT client_id, legal_rep_name, legal_rep_id_number, legal_rep_phone FROM raw.clients "
            "WHERE legal_rep_name IS NOT NULL AND legal_rep_id_number IS NOT NULL AND legal_rep_phone IS NOT NULL "
            "ORDER BY client_id LIMIT 5"
        ).fetchall()
    with open_serving() as con:
        for client_id, name, ident, phone in raw:
            row = con.execute(
                "SELECT legal_rep_name_hash, legal_rep_id_number_hash, legal_rep_phone_hash FROM bi.clients "
                "WHERE client_id = $c", {"c": client_id},
            ).fetchone()  # fmt: skip
            expected = tuple(
                hmac.new(
                    secret.encode(), unicodedata.normalize("NFKC", v).strip().upper().encode(), hashlib.sha256
                ).hexdigest()
                for v in (name, ident, phone)
            )
            assert row == expected
        key_id = con.execute("SELECT pii_key_id FROM bi.publications").fetchone()[0]
    assert key_id == summary["pii_key_id"] == load_pii_key().key_id
    assert not demo_key_path().exists()  # a configured key: no demo key generated

    monkeypatch.setenv("CLV_PII_KEY", "m" * 40)  # another key: other pseudonyms, another fingerprint
    assert run_publish(D0, "pub-key-2")["pii_key_id"] != key_id


def test_production_without_a_key_refuses_and_changes_nothing(serving_home, monkeypatch):
    run_publish(D0, "pub-demo")
    before = serving_paths().database.read_bytes()
    monkeypatch.setenv("CLV_MODE", "production")
    with pytest.raises(PiiKeyError, match="CLV_PII_KEY") as refused:
        run_publish(D0, "pub-prod")
    assert "CLV_PII_KEY_FILE" in str(refused.value) and "production" in str(refused.value)
    assert serving_paths().database.read_bytes() == before

    key_file = serving_home / "pii.key"
    key_file.write_text("s" * 64 + "\n")
    key_file.chmod(0o600)
    monkeypatch.setenv("CLV_PII_KEY_FILE", str(key_file))
    assert run_publish(D0, "pub-prod")["pii_key_id"] == load_pii_key().key_id


def test_demo_key_is_generated_once_private_and_short_keys_are_refused(serving_home, monkeypatch):
    first = load_pii_key()
    path = demo_key_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_pii_key().secret == first.secret
    assert path.is_relative_to(serving_home)
    monkeypatch.setenv("CLV_PII_KEY", "too-short")
    with pytest.raises(PiiKeyError, match="at least 32"):
        load_pii_key()
