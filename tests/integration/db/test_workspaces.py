"""`leads_import.db.workspaces` against the real PostgreSQL: `default` created on first use, other
slugs must exist, creating is idempotent, and the per-workspace lock serialises."""

from __future__ import annotations

import uuid

import psycopg2.errors
import pytest

from leads_import.db.connection import connect
from leads_import.db.workspaces import (
    Workspace,
    create_workspace,
    find_workspace,
    lock_workspace,
    resolve_workspace,
)
from leads_import.errors import WorkspaceNotFoundError
from tests.support.database import make_workspace


def query(db, sql: str, params=None) -> list[tuple]:
    with db.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def count_slug(db, slug: str) -> int:
    return query(db, "SELECT count(*) FROM workspaces WHERE slug = %s", (slug,))[0][0]


def test_default_workspace_is_created_once(db):
    first = resolve_workspace(db, "default")
    second = resolve_workspace(db, "default")
    assert first == second
    assert (first.slug, first.contact_limit) == ("default", None)
    assert count_slug(db, "default") == 1
    assert query(db, "SELECT name FROM workspaces WHERE id = %s", (first.id,)) == [
        ("Default workspace",)
    ]


def test_other_slugs_must_exist(db):
    slug = f"missing-{uuid.uuid4().hex[:8]}"
    with pytest.raises(WorkspaceNotFoundError, match=slug) as raised:
        resolve_workspace(db, slug)
    assert raised.value.workspace == slug
    assert (raised.value.http_status, raised.value.code) == (404, "workspace_not_found")
    assert count_slug(db, slug) == 0


def test_resolve_finds_an_existing_workspace(db):
    created = make_workspace(db, contact_limit=5)
    assert resolve_workspace(db, created.slug) == Workspace(created.id, created.slug, 5)
    assert find_workspace(db, created.slug) == created


@pytest.mark.parametrize("slug", ["Default", "default ", "DEFAULT"])
def test_only_the_exact_default_slug_is_created(db, slug):
    with pytest.raises(WorkspaceNotFoundError):
        resolve_workspace(db, slug)
    assert count_slug(db, slug) == 0


def test_create_workspace_returns_the_existing_one(db):
    slug = f"ws-{uuid.uuid4().hex[:8]}"
    created = create_workspace(db, slug, name="First", contact_limit=10)
    again = create_workspace(db, slug, name="Second", contact_limit=99)
    assert again == created == Workspace(created.id, slug, 10)
    assert query(db, "SELECT name, contact_limit FROM workspaces WHERE slug = %s", (slug,)) == [
        ("First", 10)
    ]


def test_negative_contact_limit_is_refused(db):
    with pytest.raises(psycopg2.errors.CheckViolation):
        create_workspace(db, f"ws-{uuid.uuid4().hex[:8]}", contact_limit=-1)


def test_workspace_lock_serialises_one_workspace_only(database_url, db):
    first_ws, second_ws = make_workspace(db), make_workspace(db)
    holder, waiter = connect(database_url), connect(database_url)
    try:
        with holder.cursor() as cur:
            lock_workspace(cur, first_ws.id)
        with waiter.cursor() as cur:
            cur.execute("SET LOCAL lock_timeout = '200ms'")
            lock_workspace(cur, second_ws.id)  # another workspace: not blocked
            with pytest.raises(psycopg2.errors.LockNotAvailable):
                lock_workspace(cur, first_ws.id)
        waiter.rollback()
        holder.commit()  # transaction-scoped: released at the end of the transaction
        with waiter.cursor() as cur:
            cur.execute("SET LOCAL lock_timeout = '200ms'")
            lock_workspace(cur, first_ws.id)
        waiter.rollback()
    finally:
        holder.close()
        waiter.close()
