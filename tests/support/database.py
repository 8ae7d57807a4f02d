"""Arranging and reading a workspace's rows with plain SQL, beside the code under test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg2
from psycopg2 import sql
from psycopg2.extras import Json
from sqlalchemy.engine import URL, make_url

from leads_import.db.workspaces import Workspace, create_workspace


@contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[URL]:
    """A new empty database `<prefix>_<random>` on the server of `server_url`, dropped when the
    block ends however it ends; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(server_url)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        yield make_url(server_url).set(database=name)
    finally:
        with admin.cursor() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        admin.close()


def make_workspace(db, contact_limit: int | None = None) -> Workspace:
    """A new workspace with a unique slug."""
    slug = f"ws-{uuid.uuid4().hex[:12]}"
    return create_workspace(db, slug, name=slug, contact_limit=contact_limit)


def query(db, sql: str, params: Any = None) -> list[tuple]:
    with db.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def snapshot(db, workspace_id: int) -> list[tuple]:
    """Every `leads` row of the workspace, all columns, ordered by id."""
    return query(db, "SELECT * FROM leads WHERE workspace_id = %s ORDER BY id", (workspace_id,))


def full_state(db, workspace_id: int) -> dict[str, list[tuple]]:
    """Leads, campaigns and memberships of the workspace."""
    return {
        "leads": snapshot(db, workspace_id),
        "campaigns": query(
            db, "SELECT * FROM campaigns WHERE workspace_id = %s ORDER BY id", (workspace_id,)
        ),
        "campaign_leads": query(
            db,
            "SELECT cl.* FROM campaign_leads cl JOIN campaigns c ON c.id = cl.campaign_id "
            "WHERE c.workspace_id = %s ORDER BY 1, 2",
            (workspace_id,),
        ),
    }


def lead(db, lead_id: int) -> dict[str, Any]:
    with db.cursor() as cur:
        cur.execute("SELECT * FROM leads WHERE id = %s", (lead_id,))
        names = [d.name for d in cur.description]
        return dict(zip(names, cur.fetchone(), strict=True))


def leads_by_email(db, workspace_id: int) -> dict[str, dict[str, Any]]:
    """Active leads of the workspace keyed by email."""
    rows = query(
        db,
        "SELECT id FROM leads WHERE workspace_id = %s AND deleted_at IS NULL ORDER BY id",
        (workspace_id,),
    )
    by_email = {}
    for (lead_id,) in rows:
        row = lead(db, lead_id)
        by_email[row["email"]] = row
    return by_email


def insert_lead(db, workspace: Workspace, email: str, **columns: Any) -> int:
    """Insert a lead directly (columns may include deleted_at, updated_at, ...); return its id."""
    columns = {"status": "active", **columns}
    if "custom_fields" in columns:
        columns["custom_fields"] = Json(columns["custom_fields"])
    names = ["workspace_id", "email", *columns]
    values = [workspace.id, email, *columns.values()]
    sql = (
        f"INSERT INTO leads ({', '.join(names)}) "
        f"VALUES ({', '.join(['%s'] * len(names))}) RETURNING id"
    )
    return query(db, sql, values)[0][0]


def insert_campaign(db, workspace: Workspace, lead_ids: list[int]) -> int:
    """A campaign whose lead_count is its number of active members."""
    (campaign_id,) = query(
        db,
        "INSERT INTO campaigns (workspace_id, name, lead_count) "
        "VALUES (%s, 'c', (SELECT count(*) FROM leads WHERE id = ANY(%s) AND deleted_at IS NULL)) "
        "RETURNING id",
        (workspace.id, lead_ids),
    )[0]
    for lead_id in lead_ids:
        query(db, "INSERT INTO campaign_leads VALUES (%s, %s) RETURNING 1", (campaign_id, lead_id))
    return campaign_id


def lead_count(db, campaign_id: int) -> int:
    return query(db, "SELECT lead_count FROM campaigns WHERE id = %s", (campaign_id,))[0][0]


def db_now(db) -> datetime:
    return query(db, "SELECT now()")[0][0]


def counts(report: dict[str, Any]) -> tuple[int, int, int, int]:
    return report["created"], report["restored"], report["duplicates"], report["errors"]
