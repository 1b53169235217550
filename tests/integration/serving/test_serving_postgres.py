"""The optional PostgreSQL publish against the PostgreSQL on this machine (127.0.0.1:5432, user postgres,
a throwaway database per test run): the same tables and rows as the serving file, a schema swap that a
reader in another connection sees as the old or the new complete schema, a failed load that leaves ``bi``
as it was. Skipped, saying why, when no PostgreSQL answers."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator

import pytest
from serving_support import D0

from python_tasks.serving import postgres
from python_tasks.serving.bi_schema import bi_tables
from python_tasks.serving.database import open_serving
from python_tasks.serving.publish import run_publish

pytestmark = pytest.mark.services

ADMIN_URL = os.environ.get("CLV_TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {ADMIN_URL} ({str(exc).strip()[:200]}); set CLV_TEST_POSTGRES_ADMIN_URL")
    name = f"clv_serving_test_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg(url: str):  # noqa: ANN202
    import psycopg

    return psycopg.connect(url, autocommit=True)


def _schemas(url: str) -> list[str]:
    with _pg(url) as pg:
        return [
            r[0] for r in pg.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bi%' ORDER BY 1").fetchall()
        ]


def test_postgres_gets_the_same_tables_and_swaps_them_atomically(serving_home, monkeypatch, database_url):
    monkeypatch.setenv("CLV_SERVING_POSTGRES_URL", database_url)
    first = run_publish(D0, "pg-1")
    assert first["postgres_schema"] == "bi"
    assert _schemas(database_url) == ["bi"]
    with _pg(database_url) as pg:
        for table in bi_tables():
            (rows,) = pg.execute(f"SELECT count(*) FROM bi.{table.name}").fetchone()
            assert rows == first["tables"][table.name], table.name
            columns = [r[0] for r in pg.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'bi' AND table_name = %s "
                "ORDER BY ordinal_position", (table.name,)).fetchall()]  # fmt: skip
            assert columns == table.column_names
        pg_values = pg.execute(
            "SELECT client_id, value_tier, clv_base_cny, valuation_date FROM bi.current_client_value ORDER BY client_id LIMIT 20"
        ).fetchall()
        assert pg.execute("SELECT postgres_schema FROM bi.publications").fetchall() == [("bi",)]
    with open_serving() as con:
        assert (
            con.execute(
                "SELECT client_id, value_tier, clv_base_cny, valuation_date FROM bi.current_client_value ORDER BY client_id LIMIT 20"
            ).fetchall()
            == pg_values
        )

    # a reader in another connection, querying all through the second publish, sees one complete schema
    seen: set[tuple] = set()
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        try:
            with _pg(database_url) as pg:
                while not stop.is_set():
                    seen.add(pg.execute(
                        "SELECT (SELECT string_agg(run_id, ',' ORDER BY published_at) FROM bi.publications), "
                        "(SELECT count(*) FROM bi.clv_history), (SELECT count(*) FROM bi.clients)"
                    ).fetchone())  # fmt: skip
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        second = run_publish(D0, "pg-2")
    finally:
        stop.set()
        reader.join(timeout=60)
    assert not errors, errors
    old = ("pg-1", first["tables"]["clv_history"], first["tables"]["clients"])
    new = ("pg-1,pg-2", second["tables"]["clv_history"], second["tables"]["clients"])
    assert seen <= {old, new} and new in seen, seen
    assert _schemas(database_url) == ["bi"], "work schemas left behind"


def test_a_failed_postgres_load_leaves_bi_and_the_serving_file_as_they_were(serving_home, monkeypatch, database_url):
    monkeypatch.setenv("CLV_SERVING_POSTGRES_URL", database_url)
    run_publish(D0, "pg-ok")
    with _pg(database_url) as pg:
        before = pg.execute("SELECT string_agg(run_id, ',') FROM bi.publications").fetchone()
    original = postgres.load_schema

    def failing_load(url, source, tables, suffix, work_dir):  # noqa: ANN001, ANN202
        original(url, source, tables[:2], suffix, work_dir)  # a partial load, then the failure
        raise RuntimeError("injected PostgreSQL failure")

    monkeypatch.setattr(postgres, "load_schema", failing_load)
    with pytest.raises(RuntimeError, match="injected PostgreSQL failure"):
        run_publish(D0, "pg-broken")
    with _pg(database_url) as pg:
        assert pg.execute("SELECT string_agg(run_id, ',') FROM bi.publications").fetchone() == before
    with open_serving() as con:
        assert con.execute("SELECT string_agg(run_id, ',') FROM bi.publications").fetchone() == before
    assert _schemas(database_url) == ["bi"], "the partial schema was not dropped"
    monkeypatch.setattr(postgres, "load_schema", original)
    assert run_publish(D0, "pg-ok-2")["postgres_schema"] == "bi"
