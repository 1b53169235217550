"""Personal data never reaches BI: the contract columns classed ``pii: personal`` (the legal
representative's name, identity number and phone) are published only as keyed hashes.

A pseudonym is HMAC-SHA256 (hex) of the normalised value under a secret key. The same value gives the same
pseudonym in every run under one key, so BI can still count or match legal representatives across clients
without seeing them; without the key nobody can confirm a guessed name or number (a plain hash of an
18-digit ID number could be reversed by trying every birth date and region).

The key is configuration, never code: ``CLV_PII_KEY`` (the secret itself) or ``CLV_PII_KEY_FILE`` (a file
holding it). In demo mode a random key is generated once into ``<CLV_HOME>/secrets/pii_hmac.key`` (mode
0600; ``var/`` is outside git). Any other mode (``CLV_MODE=production``) refuses to publish without a key.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import stat
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from python_tasks.contracts import load_contracts
from python_tasks.contracts.render import quote_identifier, raw_table_name
from python_tasks.settings import Settings, get_settings

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

log = logging.getLogger(__name__)

PII_KEY_ENV = "CLV_PII_KEY"
PII_KEY_FILE_ENV = "CLV_PII_KEY_FILE"
#: a shorter secret is refused: 32 characters of a random hex string are 128 bits
MIN_KEY_CHARS = 32
#: suffix of the column that carries a personal column's pseudonym in BI
HASH_SUFFIX = "_hash"

#: RE2 patterns (DuckDB's regexp_* and Python's re agree on them) of an identity-card number and a
#: mainland mobile number standing alone (not inside a longer code or a hex digest); no capturing groups
ID_NUMBER_PATTERN = r"[0-9]{6}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]"
MOBILE_PATTERN = r"1[3-9][0-9]{9}"
REDACTED = "[personal data withheld]"


class PiiKeyError(RuntimeError):
    """No usable pseudonymisation key: the message says which setting to provide."""


@dataclass(frozen=True)
class PersonalColumn:
    source: str
    column: str

    @property
    def hash_column(self) -> str:
        return hash_column_name(self.column)


def hash_column_name(column: str) -> str:
    return f"{column}{HASH_SUFFIX}"


def personal_columns(source: str | None = None) -> list[PersonalColumn]:
    """The columns the contracts class as personal data (of one source, or of all), in contract order."""
    return [
        PersonalColumn(contract.name, col.name)
        for contract in load_contracts().values()
        if source is None or contract.name == source
        for col in contract.columns
        if col.pii == "personal"
    ]


@dataclass(frozen=True)
class PiiKey:
    """The secret, and where it came from (for messages; the secret itself is never logged)."""

    secret: bytes = field(repr=False)
    origin: str

    @property
    def key_id(self) -> str:
        """A short fingerprint that changes when the key changes (published, so BI knows pseudonyms moved)."""
        return hmac.new(self.secret, b"clv-pii-key-id", hashlib.sha256).hexdigest()[:16]


def demo_key_path(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).home / "secrets" / "pii_hmac.key"


def _checked(secret: str, origin: str) -> PiiKey:
    secret = secret.strip()
    if len(secret) < MIN_KEY_CHARS:
        raise PiiKeyError(
            f"the PII pseudonymisation key from {origin} has {len(secret)} characters; at least {MIN_KEY_CHARS} "
            "are required (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
        )
    return PiiKey(secret.encode("utf-8"), origin)


def _read_key_file(path: Path, origin: str) -> PiiKey:
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except OSError as exc:
        raise PiiKeyError(f"cannot read the PII pseudonymisation key file {path} ({origin}): {exc}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("PII key file %s is readable by other users (mode %o); restrict it to 0600", path, mode & 0o777)
    return _checked(text, origin)


def _generate_demo_key(path: Path) -> PiiKey:
    """Create the demo key once (0600, in a 0700 folder); a concurrent creator wins and its key is read."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(path, "the demo key file")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secrets.token_hex(32) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    log.warning("demo mode: generated a PII pseudonymisation key in %s (set %s in production)", path, PII_KEY_ENV)
    return _read_key_file(path, "the demo key file")


def load_pii_key(settings: Settings | None = None) -> PiiKey:
    """The key from ``CLV_PII_KEY`` or ``CLV_PII_KEY_FILE``; in demo mode the local generated key; otherwise
    PiiKeyError (production never publishes personal data under a made-up key)."""
    settings = settings or get_settings()
    secret = os.environ.get(PII_KEY_ENV)
    if secret:
        return _checked(secret, f"the environment variable {PII_KEY_ENV}")
    key_file = os.environ.get(PII_KEY_FILE_ENV)
    if key_file:
        return _read_key_file(Path(key_file), f"{PII_KEY_FILE_ENV}={key_file}")
    if settings.mode == "demo":
        path = demo_key_path(settings)
        return _read_key_file(path, "the demo key file") if path.exists() else _generate_demo_key(path)
    raise PiiKeyError(
        f"CLV_MODE={settings.mode}: no PII pseudonymisation key is configured, so nothing is published. Set "
        f"{PII_KEY_ENV} to a secret of at least {MIN_KEY_CHARS} characters, or {PII_KEY_FILE_ENV} to a file "
        "holding it (readable only by the pipeline's user). Keep the key: a new key changes every pseudonym."
    )


def normalise(value: object) -> str | None:
    """The form that is hashed: Unicode NFKC (full-width digits become ASCII), trimmed, upper case (the
    identity number's check character ``x``); empty means missing."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = unicodedata.normalize("NFKC", str(value)).strip().upper()
    return text or None


def pseudonymise(values: Iterable[object], key: PiiKey) -> list[str | None]:
    """HMAC-SHA256 hex of each normalised value; a missing value stays missing."""
    inner = hmac.new(key.secret, digestmod=hashlib.sha256)
    out: list[str | None] = []
    for value in values:
        text = normalise(value)
        if text is None:
            out.append(None)
            continue
        h = inner.copy()
        h.update(text.encode("utf-8"))
        out.append(h.hexdigest())
    return out


def pseudonymised_clients(con: duckdb.DuckDBPyConnection, as_of_date: date, key: PiiKey) -> pd.DataFrame:
    """One row per client with a pseudonym for each personal column of the client master: the latest
    delivery on or before D (the master's rule: the latest delivery wins). The raw values stay in this
    function's memory; only the hashes leave it."""
    contract = load_contracts()["clients"]
    (key_column,) = contract.primary_key
    columns = personal_columns("clients")
    selected = ", ".join(quote_identifier(c.column) for c in columns)
    frame = con.execute(
        f"""
        SELECT {quote_identifier(key_column)} AS client_id, {selected}
        FROM {raw_table_name(contract)}
        WHERE _as_of_date <= $d
        QUALIFY row_number() OVER (
            PARTITION BY {quote_identifier(key_column)} ORDER BY _as_of_date DESC, _loaded_at DESC, _row_number DESC
        ) = 1
        """,
        {"d": as_of_date},
    ).df()
    frame["client_id"] = frame["client_id"].str.strip()
    for col in columns:
        frame[col.hash_column] = pseudonymise(frame.pop(col.column).tolist(), key)
    return frame
