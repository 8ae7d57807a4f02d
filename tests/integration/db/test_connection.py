"""`leads_import.db.connection` against the real PostgreSQL: URL spellings, pooled transactions
(commit, rollback, a broken connection replaced) and statements prepared once per connection."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg2
import psycopg2.errors
import pytest
from psycopg2.extensions import parse_dsn

from leads_import.db.connection import connect, libpq_url, prepare_once, transaction
from leads_import.db.connection import database_url as configured_url


def query(db, sql: str, params=None) -> list[tuple]:
    with db.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


@pytest.fixture
def own_pool_url(database_url: str) -> str:
    """The test database's URL, spelled so that it gets a connection pool of its own (pools are
    per URL), whose connections this test alone uses."""
    separator = "&" if "?" in database_url else "?"
    return f"{database_url}{separator}fallback_application_name=t{uuid.uuid4().hex[:12]}"


# --------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql+psycopg2://u:secret@db.internal:5432/leads", "postgresql://u:secret@db.internal:5432/leads"),
        ("postgres+psycopg2://u@h/leads", "postgresql://u@h/leads"),
        ("postgresql+psycopg2://u:p%40ss@h/leads", "postgresql://u:p%40ss@h/leads"),
        ("postgresql+psycopg2://u@/leads?host=/var/run/postgresql", "postgresql://u@/leads?host=/var/run/postgresql"),
    ],
)  # fmt: skip
def test_sqlalchemy_spelling_is_rewritten(given, expected):
    rewritten = libpq_url(given)
    assert rewritten.startswith("postgresql://")
    # As libpq reads it (the socket directory may come back percent-encoded: the same URL).
    assert parse_dsn(rewritten) == parse_dsn(expected)


def test_sqlalchemy_spelling_of_the_test_database_connects(database_url):
    spelled = database_url.replace("postgresql://", "postgresql+psycopg2://", 1)
    conn = psycopg2.connect(libpq_url(spelled))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_database()")
            assert cur.fetchone() == (parse_dsn(database_url)["dbname"],)
    finally:
        conn.close()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:secret@db.internal:5432/leads",
        "postgresql://user@/leads?host=/var/run/postgresql",
        "postgres://u@h/leads",
        "postgresql://u:p%40ss@h/leads?sslmode=require",
    ],
)
def test_plain_url_is_unchanged(url):
    assert libpq_url(url) == url


@pytest.mark.parametrize(
    "url", ["mysql://u@h/leads", "sqlite:///leads.db", "duckdb:///x.duckdb", "mssql+pyodbc://h/db"]
)
def test_other_databases_are_refused(url):
    with pytest.raises(ValueError, match="DATABASE_URL must be a postgresql:// URL"):
        libpq_url(url)


def test_database_url_follows_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://u@h1/one")
    assert configured_url() == "postgresql://u@h1/one"
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h2/two")
    assert configured_url() == "postgresql://u@h2/two"
    monkeypatch.setenv("DATABASE_URL", "mysql://u@h/three")
    with pytest.raises(ValueError):
        configured_url()


def test_database_url_is_the_test_database_during_tests(database_url):
    assert configured_url() == libpq_url(database_url)


# --------------------------------------------------------------------------- transactions


@pytest.fixture
def slug() -> Iterator[str]:
    yield f"conn-{uuid.uuid4().hex[:12]}"


def count_workspaces(db, slug: str) -> int:
    return query(db, "SELECT count(*) FROM workspaces WHERE slug = %s", (slug,))[0][0]


def test_transaction_commits_on_success(db, own_pool_url, slug):
    with transaction(own_pool_url) as conn, conn.cursor() as cur:
        assert conn.autocommit is False
        cur.execute("INSERT INTO workspaces (slug) VALUES (%s)", (slug,))
        assert count_workspaces(db, slug) == 0  # not visible before the commit
    assert count_workspaces(db, slug) == 1


def test_transaction_rolls_back_on_an_exception(db, own_pool_url, slug):
    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction(own_pool_url) as conn:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO workspaces (slug) VALUES (%s)", (slug,))
        raise Boom
    assert count_workspaces(db, slug) == 0
    # The connection went back to the pool clean: the next transaction starts afresh.
    with transaction(own_pool_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM workspaces WHERE slug = %s", (slug,))
        assert cur.fetchone() == (0,)


def test_transaction_rolls_back_on_a_database_error(db, own_pool_url, slug):
    with (
        pytest.raises(psycopg2.errors.UniqueViolation),
        transaction(own_pool_url) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("INSERT INTO workspaces (slug) VALUES (%s)", (slug,))
        cur.execute("INSERT INTO workspaces (slug) VALUES (%s)", (slug,))
    assert count_workspaces(db, slug) == 0


def test_transactions_reuse_pooled_connections(own_pool_url):
    with transaction(own_pool_url) as conn:
        first = conn.get_backend_pid()
    with transaction(own_pool_url) as conn:
        assert conn.get_backend_pid() == first


def backend_pid(url: str) -> int:
    with transaction(url) as conn:
        return conn.get_backend_pid()


def terminate(db, pid: int) -> None:
    assert query(db, "SELECT pg_terminate_backend(%s, 5000)", (pid,)) == [(True,)]


def test_a_connection_terminated_while_idle_is_replaced(db, own_pool_url, slug):
    dead = backend_pid(own_pool_url)
    terminate(db, dead)
    with transaction(own_pool_url) as conn, conn.cursor() as cur:
        assert conn.get_backend_pid() != dead
        cur.execute("INSERT INTO workspaces (slug) VALUES (%s)", (slug,))
    assert count_workspaces(db, slug) == 1


def test_a_connection_lost_inside_a_transaction_is_not_reused(db, own_pool_url, slug):
    # The OperationalError of the lost connection comes out as the InterfaceError of the
    # rollback that follows it ("connection already closed"): both are transient.
    lost = (psycopg2.OperationalError, psycopg2.InterfaceError)
    with pytest.raises(lost), transaction(own_pool_url) as conn:
        dead = conn.get_backend_pid()
        terminate(db, dead)
        with conn.cursor() as cur:
            cur.execute("INSERT INTO workspaces (slug) VALUES (%s)", (slug,))
    assert count_workspaces(db, slug) == 0
    with transaction(own_pool_url) as conn, conn.cursor() as cur:
        assert conn.get_backend_pid() != dead
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)


# --------------------------------------------------------------------------- prepare_once


def counting_prepare(name: str, calls: list[str]):
    def prepare() -> str:
        calls.append(name)
        return f"PREPARE {name} (int) AS SELECT $1 + 1"

    return prepare


def test_prepare_once_prepares_once_per_connection(database_url):
    name = f"t_{uuid.uuid4().hex[:12]}"
    calls: list[str] = []
    first, second = connect(database_url), connect(database_url)
    try:
        with first.cursor() as cur:
            prepare_once(cur, name, counting_prepare(name, calls))
            prepare_once(cur, name, counting_prepare(name, calls))
        with first.cursor() as cur:  # another cursor of the same connection
            prepare_once(cur, name, counting_prepare(name, calls))
            cur.execute(f"EXECUTE {name} (41)")
            assert cur.fetchone() == (42,)
        assert calls == [name]
        with second.cursor() as cur:
            prepare_once(cur, name, counting_prepare(name, calls))
            cur.execute(f"EXECUTE {name} (1)")
            assert cur.fetchone() == (2,)
        assert calls == [name, name]
    finally:
        first.close()
        second.close()


def test_a_prepared_statement_outlives_a_rollback(database_url):
    """What prepare_once relies on: PREPARE is not undone by ROLLBACK."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    calls: list[str] = []
    conn = connect(database_url)
    try:
        with conn.cursor() as cur:
            prepare_once(cur, name, counting_prepare(name, calls))
        conn.rollback()
        with conn.cursor() as cur:
            prepare_once(cur, name, counting_prepare(name, calls))
            cur.execute(f"EXECUTE {name} (1)")
            assert cur.fetchone() == (2,)
        assert calls == [name]
    finally:
        conn.close()


def test_prepare_once_tracks_names_separately(database_url):
    calls: list[str] = []
    names = [f"t_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    conn = connect(database_url)
    try:
        with conn.cursor() as cur:
            for name in [*names, *names]:
                prepare_once(cur, name, counting_prepare(name, calls))
        assert calls == names
    finally:
        conn.close()
