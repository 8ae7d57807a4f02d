"""Schema migrations: a new database, the database of an earlier release adopted with its data,
idempotence, concurrent inits, an upgrade by a later migration, the upgrade from version 1 to 2
(the foreign key on leads.workspace_id replaced by triggers), and `leads db init`."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg2
import pytest
from sqlalchemy.engine import make_url

from leads_import.cli.main import main
from leads_import.db import schema
from leads_import.db.connection import connect
from leads_import.db.schema import Migration, SchemaUpgrade, ensure_schema, init_schema
from tests.support.paths import DATA

try:  # the engine's Python API (leads_import.engine before the engine's split)
    from leads_import.engine import import_leads
except ImportError:
    from leads_import.engine import import_leads

RELEASES = DATA / "migrations"
RELEASED = schema.migrations()
LATEST = len(RELEASED)
# What an init of a database without a schema (or made by a release before numbered
# migrations) does: every migration, in order.
ALL = SchemaUpgrade(0, LATEST, tuple(m.name for m in RELEASED))
RECORDED = [(m.version, m.name) for m in RELEASED]


@pytest.fixture
def new_database(database_url: str) -> Iterator[Callable[[], str]]:
    """Makes empty databases (no schema) on the test server; drops them afterwards."""
    admin = psycopg2.connect(database_url)
    admin.autocommit = True
    names: list[str] = []

    def make() -> str:
        name = f"leads_migr_{uuid.uuid4().hex[:10]}"
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        names.append(name)
        return make_url(database_url).set(database=name).render_as_string(hide_password=False)

    yield make
    with admin.cursor() as cur:
        for name in names:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def query(url: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall() if cur.description else []
    conn.close()
    return rows


def execute(url: str, sql: str) -> None:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def init(url: str, *, autocommit: bool = False) -> SchemaUpgrade:
    conn = connect(url)
    conn.autocommit = autocommit
    try:
        upgrade = init_schema(conn)
        conn.commit()
    finally:
        conn.close()
    return upgrade


def catalog(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """The public schema as PostgreSQL describes it: columns, constraints, indexes."""
    return {
        "columns": query(
            url,
            "SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default, "
            "is_identity, identity_generation FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
        ),
        "constraints": query(
            url,
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
        ),
        "indexes": query(
            url,
            "SELECT tablename, indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = 'public' ORDER BY 1, 2",
        ),
        "triggers": query(
            url,
            "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger "
            "WHERE NOT tgisinternal ORDER BY 1, 2",
        ),
        "functions": query(
            url,
            "SELECT proname, pg_get_functiondef(oid) FROM pg_proc "
            "WHERE pronamespace = 'public'::regnamespace ORDER BY 1",
        ),
    }


DATA_TABLES = {
    "workspaces": "id",
    "leads": "id",
    "campaigns": "id",
    "campaign_leads": "campaign_id, lead_id",
    "import_runs": "id",
    "sync_state": "workspace_id, sync_name",
    "api_keys": "id",
    "api_rate_limits": "bucket",
}


def contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: query(url, f"SELECT * FROM {table} ORDER BY {order}")
        for table, order in DATA_TABLES.items()
    }


# The data an operator's database of release be19473 holds: a workspace with active and
# soft-deleted leads, a campaign with members of both kinds, a run, a sync, an API key.
SEED_RELEASE_DATA = """
INSERT INTO workspaces (slug, name, contact_limit) VALUES ('acme', 'Acme', 100);
INSERT INTO leads (workspace_id, email, first_name, custom_fields, tags, deleted_at)
SELECT w.id, v.email, v.first_name, v.custom_fields::jsonb, v.tags::text[], v.deleted_at
FROM workspaces w,
    (VALUES ('ann@example.com', 'Ann', '{"plan": "pro"}', '{vip}', NULL::timestamptz),
            ('bob@example.com', 'Bob', '{}', '{}', NULL),
            ('cid@example.com', 'Cid', '{"old": true}', '{lapsed}', now() - interval '1 day'))
        AS v (email, first_name, custom_fields, tags, deleted_at)
WHERE w.slug = 'acme';
INSERT INTO campaigns (workspace_id, name, lead_count)
SELECT id, 'Spring', 1 FROM workspaces WHERE slug = 'acme';
INSERT INTO campaign_leads (campaign_id, lead_id)
SELECT c.id, l.id FROM campaigns c JOIN leads l ON l.workspace_id = c.workspace_id
WHERE l.email IN ('ann@example.com', 'cid@example.com');
INSERT INTO import_runs (workspace_id, kind, source, idempotency_key, status, created, total,
    report, started_at)
SELECT id, 'file', 'leads.csv', 'key-1', 'succeeded', 3, 3, '{"created": 3}', now()
FROM workspaces WHERE slug = 'acme';
INSERT INTO sync_state (workspace_id, sync_name, cursor_column, watermark, run_id)
SELECT w.id, 'crm', 'updated_at', '"2026-01-01"', r.id
FROM workspaces w JOIN import_runs r ON r.workspace_id = w.id WHERE w.slug = 'acme';
INSERT INTO api_keys (workspace_id, key_hash, prefix, name)
SELECT id, repeat('ab', 32), 'lk_abcd', 'ci' FROM workspaces WHERE slug = 'acme';
INSERT INTO api_rate_limits (bucket, hits, allowed) VALUES ('key:1', ARRAY[now()], true);
"""


def test_a_database_of_the_last_release_is_adopted_with_its_data(new_database) -> None:
    url = new_database()
    execute(url, (RELEASES / "release_be19473.sql").read_text())
    execute(url, SEED_RELEASE_DATA)
    before = contents(url)
    assert all(before.values()), before

    assert init(url) == ALL
    assert contents(url) == before
    assert query(url, "SELECT version, name FROM schema_migrations ORDER BY 1") == RECORDED

    # The engine works on it: a duplicate, a restore (a campaign member) and a new lead.
    leads = [
        {"email": "Ann@Example.com", "firstName": "Ann again"},
        {"email": "cid@example.com", "firstName": "Cid"},
        {"email": "dee@example.com", "firstName": "Dee"},
    ]
    report = import_leads(leads, "acme", database=url)
    assert (report["created"], report["restored"], report["duplicates"]) == (1, 1, 1)
    assert query(url, "SELECT email, deleted_at IS NULL, custom_fields FROM leads ORDER BY id") == [
        ("ann@example.com", True, {"plan": "pro"}),
        ("bob@example.com", True, {}),
        ("cid@example.com", True, {"old": True}),
        ("dee@example.com", True, {}),
    ]
    assert query(url, "SELECT lead_count FROM campaigns") == [(2,)]


@pytest.mark.parametrize("release", ["ead802a", "be19473"])
def test_an_adopted_database_has_the_schema_of_a_new_one(new_database, release: str) -> None:
    """Release ead802a had only workspaces, leads and campaigns; be19473 had every table."""
    old, new = new_database(), new_database()
    execute(old, (RELEASES / f"release_{release}.sql").read_text())
    assert init(old) == ALL
    assert init(new) == ALL
    assert catalog(old) == catalog(new)


def test_init_on_an_empty_database(new_database) -> None:
    url = new_database()
    upgrade = init(url)
    assert upgrade == ALL
    assert upgrade.summary() == f"schema at version {LATEST} (applied: {', '.join(ALL.applied)})"
    assert set(DATA_TABLES) <= {t for (t,) in query(url, "SELECT tablename FROM pg_tables")}
    assert query(url, "SELECT version, name FROM schema_migrations ORDER BY 1") == RECORDED


@pytest.mark.parametrize("autocommit", [False, True])
def test_init_twice_changes_nothing(new_database, autocommit: bool) -> None:
    url = new_database()
    assert init(url, autocommit=autocommit) == ALL
    shape, recorded = catalog(url), query(url, "SELECT * FROM schema_migrations")
    again = init(url, autocommit=autocommit)
    assert again == SchemaUpgrade(LATEST, LATEST, ())
    assert again.summary() == f"schema is up to date at version {LATEST}"
    assert catalog(url) == shape
    assert query(url, "SELECT * FROM schema_migrations") == recorded


@pytest.mark.parametrize("start", ["empty", "release_be19473"])
def test_concurrent_inits_apply_each_migration_once(new_database, start: str) -> None:
    """Nine connections set the schema up at once: three by `ensure_schema` (it reads the version
    before it takes the lock, as the first imports of several processes do), three by
    `init_schema` in a transaction, three in autocommit mode. None fails; one applies the
    migrations, the others wait for it and then find the schema up to date."""
    url = new_database()
    if start != "empty":
        execute(url, (RELEASES / f"{start}.sql").read_text())
    threads = 9
    barrier = threading.Barrier(threads)
    outcomes: list[SchemaUpgrade | None] = []
    errors: list[BaseException] = []

    def run(number: int) -> None:
        conn = connect(url)
        conn.autocommit = number % 3 == 2
        try:
            barrier.wait()
            outcomes.append(ensure_schema(conn) if number % 3 == 0 else init_schema(conn))
            conn.commit()
        except BaseException as error:  # reported by the assertion below
            errors.append(error)
        finally:
            conn.close()

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert not errors, errors
    upgrades = [o for o in outcomes if o is not None]
    assert len(outcomes) == threads and len(upgrades) == 6
    assert set(upgrades) <= {ALL, SchemaUpgrade(LATEST, LATEST, ())}, upgrades
    assert upgrades.count(ALL) <= 1
    assert query(url, "SELECT version, name FROM schema_migrations ORDER BY 1") == RECORDED


@dataclass(frozen=True)
class InlineMigration(Migration):
    text: str = ""

    def sql(self) -> str:
        return self.text


def test_a_later_migration_upgrades_on_first_use(new_database, monkeypatch) -> None:
    """A database at the newest version meets a release with one more migration: the first
    `ensure_schema` applies it (in the caller's transaction), a failing one after it leaves
    nothing behind."""
    url = new_database()
    assert init(url) == ALL
    nxt = LATEST + 1
    later = InlineMigration(
        nxt, f"{nxt:04d}_workspace_note", "ALTER TABLE workspaces ADD note text;"
    )
    monkeypatch.setattr(schema, "migrations", lambda: (*RELEASED, later))
    conn = connect(url)
    try:
        ensure_schema(conn)
        conn.commit()
        assert schema.schema_version(conn) == nxt
        broken = InlineMigration(nxt + 1, f"{nxt + 1:04d}_broken", "ALTER TABLE nowhere ADD x int;")
        monkeypatch.setattr(schema, "migrations", lambda: (*RELEASED, later, broken))
        with pytest.raises(psycopg2.errors.UndefinedTable):
            init_schema(conn)
        conn.rollback()
        assert schema.schema_version(conn) == nxt
        conn.rollback()
    finally:
        conn.close()
    assert query(url, "SELECT version, name FROM schema_migrations ORDER BY version") == [
        *RECORDED,
        (nxt, later.name),
    ]
    assert query(
        url, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'note'"
    ) == [(1,)]


def foreign_keys_of_leads(url: str) -> list[tuple[Any, ...]]:
    return query(
        url,
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'leads'::regclass AND contype = 'f'",
    )


def test_version_1_upgrades_to_2_replacing_the_foreign_key(new_database, monkeypatch, capsys):
    """A database at version 1 (release be19473's, adopted, with its data, and a workspace whose
    only lead is soft-deleted) meets 0002 through `leads db init`: the foreign key on
    leads.workspace_id gives way to the triggers, the data is untouched, the schema is a new
    database's, and the guarantee holds for the old rows and new ones."""
    url = new_database()
    execute(url, (RELEASES / "release_be19473.sql").read_text())
    execute(url, SEED_RELEASE_DATA)
    execute(
        url,
        "INSERT INTO workspaces (slug) VALUES ('solo'); "
        "INSERT INTO leads (workspace_id, email, deleted_at) "
        "SELECT id, 'gone@example.com', now() FROM workspaces WHERE slug = 'solo';",
    )
    monkeypatch.setattr(schema, "migrations", lambda: RELEASED[:1])
    assert init(url) == SchemaUpgrade(0, 1, ("0001_initial",))
    monkeypatch.undo()
    assert foreign_keys_of_leads(url) == [
        ("leads_workspace_id_fkey", "FOREIGN KEY (workspace_id) REFERENCES workspaces(id)")
    ]
    before = contents(url)

    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["db", "init"]) == 0
    names = ", ".join(name for _, name in RECORDED[1:])
    assert capsys.readouterr().out == f"schema at version {LATEST} (applied: {names})\n"
    assert query(url, "SELECT version, name FROM schema_migrations ORDER BY 1") == RECORDED
    assert contents(url) == before
    assert foreign_keys_of_leads(url) == []
    assert query(
        url,
        "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid = 'leads'::regclass "
        "ORDER BY 1",
    ) == [("leads_workspace_exists",), ("leads_workspace_exists_on_update",)]
    fresh = new_database()
    assert init(fresh) == ALL
    assert catalog(url) == catalog(fresh)

    (solo,) = query(url, "SELECT id FROM workspaces WHERE slug = 'solo'")[0]
    with pytest.raises(psycopg2.errors.ForeignKeyViolation) as raised:
        execute(url, f"DELETE FROM workspaces WHERE id = {solo}")
    assert raised.value.diag.constraint_name == "workspaces_keep_leads"
    with pytest.raises(psycopg2.errors.ForeignKeyViolation) as raised:
        execute(url, f"INSERT INTO leads (workspace_id, email) VALUES ({solo + 1000}, 'x@y.z')")
    assert raised.value.diag.constraint_name == "leads_workspace_exists"
    report = import_leads([{"email": "eve@example.com"}], "acme", database=url)
    assert report["created"] == 1
    assert contents(url)["workspaces"] == before["workspaces"]


def test_version_2_upgrades_to_3_allowing_dry_run_records(new_database, monkeypatch) -> None:
    """A database at version 2, with its runs, meets 0003: the runs are untouched, status
    `dry_run` is now accepted (anything else still refused), the schema is a new database's,
    and a dry run leaves its record there."""
    url = new_database()
    execute(url, (RELEASES / "release_be19473.sql").read_text())
    execute(url, SEED_RELEASE_DATA)
    monkeypatch.setattr(schema, "migrations", lambda: RELEASED[:2])
    assert init(url).after == 2
    monkeypatch.undo()
    with pytest.raises(psycopg2.errors.CheckViolation):
        execute(url, DRY_RUN_ROW)
    before = contents(url)
    assert before["import_runs"]

    assert init(url) == SchemaUpgrade(2, LATEST, tuple(name for _, name in RECORDED[2:]))
    assert contents(url) == before
    fresh = new_database()
    assert init(fresh) == ALL
    assert catalog(url) == catalog(fresh)
    execute(url, DRY_RUN_ROW)
    with pytest.raises(psycopg2.errors.CheckViolation):
        execute(url, DRY_RUN_ROW.replace("'dry_run'", "'maybe'"))
    report = import_leads([{"email": "eve@example.com"}], "acme", database=url, dry_run=True)
    assert report["created"] == 1


DRY_RUN_ROW = (
    "INSERT INTO import_runs (workspace_id, kind, status, started_at) "
    "SELECT id, 'file', 'dry_run', now() FROM workspaces WHERE slug = 'acme'"
)


class CountingCursor(psycopg2.extensions.cursor):
    executed = 0

    def execute(self, sql: Any, vars: Any = None) -> Any:
        type(self).executed += 1
        return super().execute(sql, vars)


def test_ensure_schema_checks_once_per_process_and_database(new_database) -> None:
    url = new_database()
    assert init(url) == ALL
    conn = psycopg2.connect(url, cursor_factory=CountingCursor)
    try:
        ensure_schema(conn)
        assert CountingCursor.executed == 1
        ensure_schema(conn)
        ensure_schema(conn)
        assert CountingCursor.executed == 1
    finally:
        conn.close()


def test_leads_db_init_prints_the_version(new_database, monkeypatch, capsys) -> None:
    url = new_database()
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["db", "init"]) == 0
    assert capsys.readouterr().out == (
        f"schema at version {LATEST} (applied: {', '.join(ALL.applied)})\n"
    )
    assert main(["db", "init"]) == 0
    assert capsys.readouterr().out == f"schema is up to date at version {LATEST}\n"
