"""Fixtures for integration tests: a private CLV_HOME per test and an inbox to deliver files into."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, dict]]:
    """A stand-in for the external data vendor's JSON API on a free local port.

    Fill the returned dict with ``{"/v1/<source>?as_of_date=D": payload}``; other paths answer 404.
    ``CLV_EXTERNAL_API_URL`` points at it for the test.
    """
    routes: dict[str, dict] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            payload = routes.get(self.path)
            body = json.dumps(payload if payload is not None else {"error": "not found"}).encode()
            self.send_response(200 if payload is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("CLV_EXTERNAL_API_URL", f"http://127.0.0.1:{server.server_address[1]}")
    yield routes
    server.shutdown()
    server.server_close()
