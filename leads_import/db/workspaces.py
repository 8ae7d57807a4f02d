"""Workspaces: the unit of isolation, locking and plan limits."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg2.extensions import cursor as Cursor

from leads_import.db.connection import Connection
from leads_import.db.schema import ensure_schema
from leads_import.db.settings import DEFAULT_WORKSPACE
from leads_import.errors import WorkspaceNotFoundError
from leads_import.sqlfiles import load_sql


@dataclass(frozen=True)
class Workspace:
    """A workspace row."""

    id: int
    slug: str
    contact_limit: int | None


def find_workspace(conn: Connection, slug: str) -> Workspace:
    """The workspace with this slug, or WorkspaceNotFoundError."""
    with conn.cursor() as cur:
        cur.execute(load_sql("workspaces/find_workspace"), {"slug": slug})
        row = cur.fetchone()
    if row is None:
        raise WorkspaceNotFoundError(slug)
    return Workspace(*row)


def create_workspace(
    conn: Connection, slug: str, *, name: str | None = None, contact_limit: int | None = None
) -> Workspace:
    """Create a workspace, or return the existing one with that slug."""
    with conn.cursor() as cur:
        cur.execute(
            load_sql("workspaces/create_workspace"),
            {"slug": slug, "name": name, "contact_limit": contact_limit},
        )
        row = cur.fetchone()
    return Workspace(*row) if row is not None else find_workspace(conn, slug)


def resolve_workspace(conn: Connection, slug: str) -> Workspace:
    """The workspace with this slug; `default` is created on first use, others must exist."""
    ensure_schema(conn)
    if slug == DEFAULT_WORKSPACE:
        return create_workspace(conn, slug, name="Default workspace")
    return find_workspace(conn, slug)


def lock_workspace(cur: Cursor, workspace_id: int) -> None:
    """Take the workspace's transaction-scoped advisory lock (imports into it serialise here)."""
    cur.execute(load_sql("workspaces/lock_workspace"), {"workspace_id": workspace_id})
