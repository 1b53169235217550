"""Fixtures for integration tests: a private CLV_HOME per test and an inbox to deliver files into."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from deliveries import D0, Inbox, client_row

from python_tasks.settings import get_settings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private CLV_HOME (inbox, landing, warehouse) for one test."""
    monkeypatch.setenv("CLV_HOME", str(tmp_path))
    for var in ("CLV_INBOX_DIR", "CLV_LANDING_DIR", "CLV_WAREHOUSE_PATH", "CLV_EXTERNAL_API_URL"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


@pytest.fixture
def inbox(home: Path) -> Inbox:
    return Inbox(get_settings().inbox_dir)


@pytest.fixture
def loaded_clients(inbox: Inbox) -> Callable[..., dict]:
    """Deliver and load two good clients for D0 (most other sources reference clients)."""
    from python_tasks.ingest.job import ingest_source

    def _load() -> dict:
        inbox.csv("clients", D0, [client_row(1), client_row(2)])
        return ingest_source("clients", D0, "run-clients")

    return _load
