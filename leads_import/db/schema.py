"""The schema: created or upgraded by `leads db init`, or on first use, by numbered migrations.

Why a small runner over numbered SQL files (sql/migrations/NNNN_name.sql), not Alembic: our SQL
lives in sql/ files run over psycopg2 connections, and with no ORM metadata Alembic's autogenerate
has nothing to compare, so its migrations would be hand-written SQL too, plus env.py, a script
folder and SQLAlchemy connections. Migrations must run in the caller's transaction under our
advisory lock (a new release upgrades on first use; concurrent processes wait, not fail), which
Alembic does not do by itself. It is installed only as Prefect's dependency. This is ~80 lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from leads_import.db.connection import Connection
from leads_import.sqlfiles import SQL_DIR, load_sql

MIGRATIONS_DIR = SQL_DIR / "migrations"
_MIGRATION_FILE = re.compile(r"(\d{4})_(\w+)\.sql")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str  # the file's stem, e.g. 0001_initial

    def sql(self) -> str:
        return load_sql(f"migrations/{self.name}")


@cache
def migrations() -> tuple[Migration, ...]:
    """The migrations in sql/migrations/, numbered 1, 2, 3 … without gaps."""
    found = []
    for path in MIGRATIONS_DIR.glob("*.sql"):
        match = _MIGRATION_FILE.fullmatch(path.name)
        if match is None:
            raise RuntimeError(f"{path}: a migration file is named NNNN_name.sql")
        found.append(Migration(int(match.group(1)), path.stem))
    found.sort(key=lambda m: m.version)
    numbers = [m.version for m in found]
    if numbers != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations in {MIGRATIONS_DIR} must be numbered 1..n: {numbers}")
    return tuple(found)


def latest_version() -> int:
    return len(migrations())


@dataclass(frozen=True)
class SchemaUpgrade:
    """What `init_schema` did: the version before and after, the migrations it applied."""

    before: int
    after: int
    applied: tuple[str, ...]

    def summary(self) -> str:
        if self.applied:
            return f"schema at version {self.after} (applied: {', '.join(self.applied)})"
        known = latest_version()
        if self.after > known:
            return f"schema is at version {self.after}, newer than this release's {known}"
        return f"schema is up to date at version {self.after}"


def schema_version(conn: Connection) -> int:
    """The newest migration applied to this database (0: none, or no schema at all)."""
    with conn.cursor() as cur:
        cur.execute(load_sql("schema/schema_version"))
        (version,) = cur.fetchone()
    return version


def init_schema(conn: Connection) -> SchemaUpgrade:
    """Create or upgrade the schema; idempotent and safe to run concurrently.

    The pending migrations run in the connection's transaction (one of their own when it is in
    autocommit mode) under the schema lock, each recorded in `schema_migrations`: they commit
    together, with the caller's work, or not at all. A concurrent init waits on the lock and
    then finds them applied."""
    if conn.autocommit:
        with conn:  # psycopg2 2.9+: a transaction even on an autocommit connection
            return _migrate(conn)
    return _migrate(conn)


def _migrate(conn: Connection) -> SchemaUpgrade:
    with conn.cursor() as cur:
        cur.execute(load_sql("schema/lock_schema"))
        # Read under the lock, so what a transaction that held it before committed is seen.
        cur.execute(load_sql("schema/schema_migrations"))
        (before,) = cur.fetchone()
        pending = [m for m in migrations() if m.version > before]
        for migration in pending:
            cur.execute(migration.sql())
            cur.execute(
                load_sql("schema/record_migration"),
                {"version": migration.version, "name": migration.name},
            )
    after = pending[-1].version if pending else before
    return SchemaUpgrade(before, after, tuple(m.name for m in pending))


_schema_ready: set[str] = set()


def ensure_schema(conn: Connection) -> None:
    """Set the schema up, or upgrade it, on first use, so the first import needs no `leads db
    init`. Each call costs one query until the schema is found at the newest version, and none
    after that (per process and database)."""
    key = conn.dsn
    if key in _schema_ready:
        return
    if schema_version(conn) >= latest_version():
        _schema_ready.add(key)
    else:
        # Not marked ready here: the schema is only there for other connections once this
        # transaction commits, and a thread that skipped the check before then would not see
        # its tables. The next call checks again (and finds it).
        init_schema(conn)
