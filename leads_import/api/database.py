"""The API's database: its URL, its schema set up once it answers, and the health check."""

from __future__ import annotations

import threading

import psycopg2

from leads_import.db import schema
from leads_import.db.connection import transaction
from leads_import.sqlfiles import load_sql

# SQLSTATE classes and codes that mean the server is gone or not accepting connections
# (08: connection exception; 57P01-57P03: shutting down, crashed, starting up).
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03")


def database_unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the database does not answer (as opposed to a failed statement)."""
    if not isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError):
        return False
    state = getattr(exc, "pgcode", None)
    return state is None or state.startswith(_UNAVAILABLE_STATES)


class ApiDatabase:
    """One API process's database. The schema is set up at startup when the database answers
    then, otherwise by the first request that finds it answering."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._ready = False
        self._lock = threading.Lock()

    def ensure_schema(self) -> None:
        """Set the schema up or upgrade it, once per process (raises when the database does
        not answer)."""
        if self._ready:
            return
        with self._lock:
            if not self._ready:
                with transaction(self.url) as conn:
                    schema.ensure_schema(conn)
                self._ready = True

    def check(self) -> None:
        """Raise unless the database answers a query (and its schema is set up)."""
        self.ensure_schema()
        with transaction(self.url) as conn, conn.cursor() as cur:
            cur.execute(load_sql("api/health"))
            cur.fetchone()
