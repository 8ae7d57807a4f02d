"""Where each warehouse sync stands (`sync_state`): its cursor column and watermark, per
workspace."""

from __future__ import annotations

from typing import Any

from psycopg2.extensions import cursor as Cursor
from psycopg2.extras import Json

from leads_import.sqlfiles import load_sql


def read_sync_state(cur: Cursor, workspace_id: int, name: str) -> dict[str, Any] | None:
    """`{"cursor_column", "watermark"}` of the sync; None before its first committed run."""
    cur.execute(load_sql("runs/read_sync_state"), {"workspace_id": workspace_id, "sync_name": name})
    row = cur.fetchone()
    return None if row is None else {"cursor_column": row[0], "watermark": row[1]}


def save_watermark(
    cur: Cursor,
    workspace_id: int,
    name: str,
    cursor_column: str,
    watermark: dict[str, str],
    run_id: int | None,
) -> None:
    """Store the sync's new watermark (in the caller's transaction: the import's)."""
    cur.execute(
        load_sql("runs/save_sync_watermark"),
        {
            "workspace_id": workspace_id,
            "sync_name": name,
            "cursor_column": cursor_column,
            "watermark": Json(watermark),
            "run_id": run_id,
        },
    )
