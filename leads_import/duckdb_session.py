"""One in-memory DuckDB database per process; each caller gets its own cursor.

Opening a DuckDB connection costs tens of milliseconds, which a 1000-row API batch cannot pay.
"""

from __future__ import annotations

import threading

import duckdb

_root: duckdb.DuckDBPyConnection | None = None
_lock = threading.Lock()


def duckdb_cursor() -> duckdb.DuckDBPyConnection:
    """A new cursor (a thread-safe handle) on the process's shared in-memory DuckDB."""
    global _root
    with _lock:
        if _root is None:
            _root = duckdb.connect()
        return _root.cursor()
