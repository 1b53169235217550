"""The external data vendor's JSON API, served locally from the generated payloads.

``GET /v1/<source>?as_of_date=YYYY-MM-DD`` answers ``<root>/<source>/<YYYY-MM-DD>.json`` (200), a JSON error
with 404 for an unknown source or date and 400 for a malformed date. ``GET /v1/<source>`` lists the
available dates; ``GET /`` lists the sources. Names are checked against a strict pattern and the resolved
path must stay inside the root, so nothing outside it is ever served.

    python -m python_tasks.sample_data.api_server --root var/inbox/_api --port 8765
"""

from __future__ import annotations

import argparse
import json
import re
import threading
from datetime import date
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

_SOURCE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _api_root(root: Path) -> Path:
    """Accept the ``_api`` folder itself or an inbox that contains one."""
    root = Path(root).resolve()
    return root / "_api" if (root / "_api").is_dir() else root


class _Handler(BaseHTTPRequestHandler):
    server_version = "clv-sample-api/1.0"
    root: Path  # set on the subclass made by serve()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature of the base class
        pass

    def _send(self, status: HTTPStatus, payload: object | bytes) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._send(status, {"error": message, "status": int(status)})

    def _sources(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _SOURCE.match(p.name))

    def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        if path in ("", "/"):
            self._send(HTTPStatus.OK, {"sources": self._sources()})
            return
        segments = path.strip("/").split("/")
        if len(segments) != 2 or segments[0] != "v1":
            self._error(HTTPStatus.NOT_FOUND, f"no such endpoint: {path}")
            return
        source = segments[1]
        if not _SOURCE.match(source) or source not in self._sources():
            self._error(HTTPStatus.NOT_FOUND, f"unknown source {source!r}")
            return
        folder = (self.root / source).resolve()
        if folder.parent != self.root:
            self._error(HTTPStatus.NOT_FOUND, f"unknown source {source!r}")
            return
        query = parse_qs(parts.query)
        if "as_of_date" not in query:
            dates = sorted(p.stem for p in folder.glob("*.json") if _DATE.match(p.stem))
            self._send(HTTPStatus.OK, {"source": source, "as_of_dates": dates})
            return
        text = query["as_of_date"][0]
        try:
            if not _DATE.match(text):
                raise ValueError(text)
            as_of = date.fromisoformat(text)
        except ValueError:
            self._error(HTTPStatus.BAD_REQUEST, f"as_of_date must be a date YYYY-MM-DD, got {text!r}")
            return
        target = (folder / f"{as_of.isoformat()}.json").resolve()
        if target.parent != folder or not target.is_file():
            self._error(HTTPStatus.NOT_FOUND, f"no {source} publication for {as_of.isoformat()}")
            return
        self._send(HTTPStatus.OK, target.read_bytes())


def serve(root: Path, host: str = "127.0.0.1", port: int = 0) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start the API on a background thread; ``port=0`` picks a free port (``server.server_address[1]``).

    Stop it with ``server.shutdown(); server.server_close()``.
    """
    api_root = _api_root(root)
    if not api_root.is_dir():
        raise FileNotFoundError(f"no API payload folder at {api_root}")
    handler = type("Handler", (_Handler,), {"root": api_root})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="sample-api", daemon=True)
    thread.start()
    return server, thread


def ingest_generated_external(root: Path, as_of_date: date, run_id: str) -> list[dict]:
    """Serve the generated payloads for the moment and load every external source for ``as_of_date``
    (the first of a month) through the real loader, as the monthly external DAG does. For tests and
    local runs outside Airflow."""
    import os

    from python_tasks.ingest.job import ingest_source
    from python_tasks.orchestration.sources import external_sources

    server, _ = serve(root)
    previous = os.environ.get("CLV_EXTERNAL_API_URL")
    os.environ["CLV_EXTERNAL_API_URL"] = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        return [ingest_source(source, as_of_date=as_of_date, run_id=run_id) for source in external_sources()]
    finally:
        if previous is None:
            os.environ.pop("CLV_EXTERNAL_API_URL", None)
        else:
            os.environ["CLV_EXTERNAL_API_URL"] = previous
        server.shutdown()
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="the generated _api folder (or the inbox holding it)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    server, thread = serve(Path(args.root), args.host, args.port)
    print(f"serving {_api_root(Path(args.root))} at http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        thread.join()
    except KeyboardInterrupt:
        server.shutdown()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
