"""The schema: created or upgraded by `leads db init`, or on first use."""

from __future__ import annotations

from leads_import.db.connection import Connection
from leads_import.sqlfiles import load_sql


def init_schema(conn: Connection) -> None:
    """Create or upgrade the schema; idempotent and safe to run concurrently."""
    with conn.cursor() as cur:
        cur.execute(load_sql("schema/lock_schema"))
        cur.execute(load_sql("schema/schema"))


_schema_ready: set[str] = set()


def ensure_schema(conn: Connection) -> None:
    """Set the schema up on first use, so the first import needs no `leads db init`."""
    key = conn.dsn
    if key in _schema_ready:
        return
    with conn.cursor() as cur:
        cur.execute(load_sql("schema/schema_exists"))
        (ready,) = cur.fetchone()
    if ready:
        _schema_ready.add(key)
    else:
        # Not marked ready here: the schema is only there for other connections once this
        # transaction commits, and a thread that skipped the check before then would not see
        # its tables. The next call checks again (and finds it).
        init_schema(conn)
