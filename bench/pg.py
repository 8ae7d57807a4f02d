"""The benchmark's PostgreSQL server and its databases: one seeded template, one copy per variant.

With DATABASE_URL unset, the embedded server of `leads_import.db.connection` runs in the
bench's own data directory (LEADS_DATA_DIR is set to it), so the bench never touches
the user's data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import psycopg2
from psycopg2 import sql
from sqlalchemy.engine import make_url

from leads_import.db.settings import DATA_DIR_ENV, DATABASE_URL_ENV

TEMPLATE: Final = "bench_seed"


def server_url(data_dir: Path) -> str:
    """DATABASE_URL when set, else the embedded server kept in `data_dir`."""
    from leads_import.db import connection as database

    if os.environ.get(DATABASE_URL_ENV):
        return database.database_url()
    os.environ[DATA_DIR_ENV] = str(data_dir.resolve())
    data_dir.mkdir(parents=True, exist_ok=True)
    return database.embedded_url()


def admin_connection(url: str) -> psycopg2.extensions.connection:
    conn = psycopg2.connect(url, application_name="leads-bench")
    conn.autocommit = True
    return conn


@dataclass
class Server:
    """Creates and drops the bench databases on one server."""

    url: str
    created: list[str] = field(default_factory=list)

    def db_url(self, name: str) -> str:
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def _execute(self, statement: sql.Composable) -> None:
        conn = admin_connection(self.url)
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()

    def _value(self, query: str) -> str:
        """The one value a query gives, as text."""
        conn = admin_connection(self.url)
        try:
            with conn.cursor() as cur:
                cur.execute(query)
                (value,) = cur.fetchone()
        finally:
            conn.close()
        return str(value)

    def version(self) -> str:
        return self._value("SELECT version()")

    def data_directory(self) -> str:
        """Where the server keeps its data (its processes are found by it, bench/cpu.py)."""
        return self._value("SHOW data_directory")

    def create_empty(self, name: str) -> str:
        """A new empty database (dropped first if a previous run left it); return its URL."""
        self.drop(name)
        self._execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.created.append(name)
        return self.db_url(name)

    def copy_of_template(self, name: str, template: str = TEMPLATE) -> str:
        """An identical copy of a seeded template (file copy: the template must be idle)."""
        self.drop(name)
        self._execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
        self.created.append(name)
        return self.db_url(name)

    def has_database(self, name: str) -> bool:
        conn = admin_connection(self.url)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                return cur.fetchone() is not None
        finally:
            conn.close()

    def drop(self, name: str) -> None:
        self._execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        if name in self.created:
            self.created.remove(name)

    def drop_all(self) -> None:
        """Drop every database this run created, copies first, the template last."""
        for name in sorted(self.created, key=lambda n: n == TEMPLATE):
            self.drop(name)


def active_leads(url: str) -> int:
    """The number of active leads in the database at `url`."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM leads WHERE deleted_at IS NULL")
            (count,) = cur.fetchone()
    finally:
        conn.close()
    return int(count)
