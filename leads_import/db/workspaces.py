"""Workspaces: the unit of isolation, locking and plan limits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from psycopg2.extensions import cursor as Cursor

from leads_import.db.connection import Connection
from leads_import.db.schema import ensure_schema
from leads_import.db.settings import DEFAULT_WORKSPACE
from leads_import.errors import WorkspaceConflictError, WorkspaceNotFoundError
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


class _Keep(Enum):
    KEEP = "keep"


KEEP: Final = _Keep.KEEP  # an update leaves this value as it is


@dataclass(frozen=True)
class WorkspaceInfo:
    """A workspace as `leads workspace list` shows it."""

    id: int
    slug: str
    name: str | None
    contact_limit: int | None
    created_at: dt.datetime
    active_leads: int

    def to_json(self) -> dict[str, Any]:
        """camelCase, the id as text (as reports and the HTTP API give ids)."""
        return {
            "id": str(self.id),
            "slug": self.slug,
            "name": self.name,
            "contactLimit": self.contact_limit,
            "activeLeads": self.active_leads,
            "createdAt": self.created_at.isoformat(),
        }


def list_workspaces(conn: Connection, slug: str | None = None) -> list[WorkspaceInfo]:
    """Every workspace (or the one with `slug`), by slug, with its active leads."""
    with conn.cursor() as cur:
        cur.execute(load_sql("workspaces/list_workspaces"), {"slug": slug})
        return [WorkspaceInfo(*row) for row in cur.fetchall()]


def _describe_limit(limit: int | None) -> str:
    return "no contact limit" if limit is None else f"contact limit {limit}"


def ensure_workspace(
    conn: Connection,
    slug: str,
    *,
    name: str | _Keep | None = KEEP,
    contact_limit: int | _Keep | None = KEEP,
) -> tuple[WorkspaceInfo, bool]:
    """`leads workspace create`: create the workspace, or find it unchanged when it exists with
    the values given (values not given are not compared). Returns it and whether it is new;
    raises WorkspaceConflictError naming each difference otherwise."""
    with conn.cursor() as cur:
        cur.execute(
            load_sql("workspaces/create_workspace"),
            {
                "slug": slug,
                "name": None if name is KEEP else name,
                "contact_limit": None if contact_limit is KEEP else contact_limit,
            },
        )
        created = cur.fetchone() is not None
    [found] = list_workspaces(conn, slug)
    differences = []
    if name is not KEEP and name != found.name:
        shown = "no name" if found.name is None else f'name "{found.name}"'
        differences.append(f'{shown}, not "{name}"')
    if contact_limit is not KEEP and contact_limit != found.contact_limit:
        wanted = "none" if contact_limit is None else contact_limit
        differences.append(f"{_describe_limit(found.contact_limit)}, not {wanted}")
    if differences:
        raise WorkspaceConflictError(slug, " and ".join(differences))
    return found, created


def update_workspace(
    conn: Connection,
    slug: str,
    *,
    name: str | _Keep | None = KEEP,
    contact_limit: int | _Keep | None = KEEP,
) -> WorkspaceInfo:
    """`leads workspace update`: change the values given; WorkspaceNotFoundError for an
    unknown slug."""
    with conn.cursor() as cur:
        cur.execute(
            load_sql("workspaces/update_workspace"),
            {
                "slug": slug,
                "set_name": name is not KEEP,
                "name": None if name is KEEP else name,
                "set_limit": contact_limit is not KEEP,
                "contact_limit": None if contact_limit is KEEP else contact_limit,
            },
        )
        if cur.fetchone() is None:
            raise WorkspaceNotFoundError(slug)
    [found] = list_workspaces(conn, slug)
    return found


def resolve_workspace(conn: Connection, slug: str) -> Workspace:
    """The workspace with this slug; `default` is created on first use, others must exist."""
    ensure_schema(conn)
    if slug == DEFAULT_WORKSPACE:
        return create_workspace(conn, slug, name="Default workspace")
    return find_workspace(conn, slug)


def lock_workspace(
    cur: Cursor, workspace_id: int, on_wait: Callable[[], None] | None = None
) -> bool:
    """Take the workspace's transaction-scoped advisory lock (imports into it serialise here).
    With `on_wait`: it is called first when another transaction holds the lock; whether it
    was (the caller waited) is returned."""
    params = {"workspace_id": workspace_id}
    if on_wait is not None:
        cur.execute(load_sql("workspaces/try_lock_workspace"), params)
        row = cur.fetchone()
        if row and row[0]:
            return False
        on_wait()
    cur.execute(load_sql("workspaces/lock_workspace"), params)
    return on_wait is not None
