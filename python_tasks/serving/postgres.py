"""Optional publish of the BI tables into PostgreSQL, for BI tools that want a server and many users.

Set ``CLV_SERVING_POSTGRES_URL`` (a libpq URL, e.g. ``postgresql://clv_publisher@db:5432/bi``) to enable
it, and ``CLV_SERVING_POSTGRES_READERS`` (comma-separated roles) to grant those roles read access to each
new schema. Each publish bulk-loads (COPY) every table into a fresh schema ``bi_new_<stamp>``; then one
transaction renames ``bi`` away, renames the new schema to ``bi`` and drops the old one. A query sees
either the old or the new complete schema; a load that fails leaves ``bi`` as it was.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from python_tasks.serving.bi_schema import BI_SCHEMA, POSTGRES_TYPES, BiTable

log = logging.getLogger(__name__)

POSTGRES_URL_ENV = "CLV_SERVING_POSTGRES_URL"
POSTGRES_READERS_ENV = "CLV_SERVING_POSTGRES_READERS"
#: how long the swap keeps trying to lock the old tables away from readers before giving up (the publish
#: then fails and leaves everything as it was; the task's retry tries again)
SWAP_LOCK_TIMEOUT = "30s"
#: one attempt's lock wait: below PostgreSQL's default deadlock_timeout (1 s), so the swap backs off first
_ATTEMPT_LOCK_TIMEOUT = "200ms"
_WORK_SCHEMA = re.compile(r"^bi_(new|old)_[0-9a-z_]+$")
_COPY_CHUNK = 1 << 20


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_URL_ENV) or None


def reader_roles() -> list[str]:
    return [r.strip() for r in os.environ.get(POSTGRES_READERS_ENV, "").split(",") if r.strip()]


@dataclass(frozen=True)
class LoadedSchema:
    url: str
    schema: str
    rows: dict[str, int]


def schema_suffix(run_id: str, stamp: str) -> str:
    """A short, valid identifier suffix for this publish's work schemas (PostgreSQL allows 63 bytes)."""
    return f"{stamp}_{hashlib.sha256(run_id.encode()).hexdigest()[:8]}"


def work_schema(suffix: str) -> str:
    """The schema a publish loads into before the swap."""
    return f"bi_new_{suffix}"


def _connect(url: str):  # noqa: ANN202 - psycopg.Connection, imported lazily
    import psycopg

    return psycopg.connect(url, connect_timeout=10)


def drop_leftover_schemas(url: str) -> list[str]:
    """Drop work schemas a crashed publish left behind (publishes are serialised, so none is in use)."""
    from psycopg import sql

    with _connect(url) as pg:
        names = [
            r[0]
            for r in pg.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bi\\_%'").fetchall()
            if _WORK_SCHEMA.match(r[0])
        ]
        for name in names:
            pg.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
    if names:
        log.warning("dropped leftover PostgreSQL work schemas %s", names)
    return names


def load_schema(
    url: str, source: duckdb.DuckDBPyConnection, tables: list[BiTable], suffix: str, work_dir: Path
) -> LoadedSchema:
    """COPY every table of the new serving file (``source``, read-only) into a new schema ``bi_new_<suffix>``."""
    from psycopg import sql

    schema = work_schema(suffix)
    work_dir.mkdir(parents=True, exist_ok=True)
    rows: dict[str, int] = {}
    try:
        with _connect(url) as pg:
            pg.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            for table in tables:
                target = sql.Identifier(schema, table.name)
                columns = sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(POSTGRES_TYPES[c.type]))
                    for c in table.columns
                )
                pg.execute(sql.SQL("CREATE TABLE {} ({})").format(target, columns))
                csv = work_dir / f"{table.name}.csv"
                quoted = "'" + csv.as_posix().replace("'", "''") + "'"
                source.execute(f"COPY {BI_SCHEMA}.{table.name} TO {quoted} (FORMAT csv, HEADER false)")
                names = sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns)
                with pg.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(target, names)) as copy:
                    with csv.open("rb") as fh:
                        while chunk := fh.read(_COPY_CHUNK):
                            copy.write(chunk)
                csv.unlink()
                (rows[table.name],) = pg.execute(sql.SQL("SELECT count(*) FROM {}").format(target)).fetchone()
                key = sql.SQL(", ").join(sql.Identifier(k) for k in table.key)
                pg.execute(sql.SQL("CREATE INDEX ON {} ({})").format(target, key))
                pg.execute(sql.SQL("ANALYZE {}").format(target))
            for role in reader_roles():
                pg.execute(
                    sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), sql.Identifier(role))
                )
                pg.execute(
                    sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(
                        sql.Identifier(schema), sql.Identifier(role)
                    )
                )
    except BaseException:
        drop_schema(url, schema)
        raise
    return LoadedSchema(url, schema, rows)


def swap_schema(loaded: LoadedSchema, suffix: str) -> None:
    """In one transaction: lock the old tables, ``bi`` → ``bi_old_<suffix>``, the new schema → ``bi``, drop
    the old one.

    Locking every old table first is what keeps a reader's statement on one side: a statement that already
    holds one old table finishes on the old schema before the swap can commit, one that starts later waits
    a moment and then resolves every name to the new schema. The locks are taken with a short lock timeout
    (below PostgreSQL's deadlock_timeout) and the whole transaction is retried, so a reader holding one
    table while waiting for another is never chosen as a deadlock victim; the swap gives up after
    ``SWAP_LOCK_TIMEOUT`` in total.
    """
    import psycopg
    from psycopg import sql

    old = f"bi_old_{suffix}"
    deadline = time.monotonic() + _seconds(SWAP_LOCK_TIMEOUT)
    attempt = 0
    with _connect(loaded.url) as pg:
        while True:
            attempt += 1
            try:
                with pg.transaction():
                    pg.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(_ATTEMPT_LOCK_TIMEOUT)))
                    tables = [r[0] for r in pg.execute(
                        "SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = %s AND c.relkind IN ('r', 'v', 'm', 'p') ORDER BY c.relname", (BI_SCHEMA,),
                    ).fetchall()]  # fmt: skip
                    exists = pg.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (BI_SCHEMA,)).fetchone()
                    if tables:
                        names = sql.SQL(", ").join(sql.Identifier(BI_SCHEMA, t) for t in tables)
                        pg.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(names))
                    if exists:
                        pg.execute(
                            sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
                                sql.Identifier(BI_SCHEMA), sql.Identifier(old)
                            )
                        )
                    pg.execute(
                        sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
                            sql.Identifier(loaded.schema), sql.Identifier(BI_SCHEMA)
                        )
                    )
                    if exists:
                        pg.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(old)))
                break
            except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected):
                if time.monotonic() > deadline:
                    raise
                time.sleep(min(0.05 * attempt, 0.5))
    if attempt > 1:
        log.info("PostgreSQL schema swap took %d attempts (readers held the old tables)", attempt)


def _seconds(timeout: str) -> float:
    return float(timeout.removesuffix("s"))


def drop_schema(url: str, schema: str) -> None:
    from psycopg import sql

    try:
        with _connect(url) as pg:
            pg.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    except Exception:  # cleanup after a failure must not hide the failure
        log.exception("could not drop PostgreSQL schema %s", schema)
