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


SYNC_COLUMNS = ("workspace", "name", "cursorColumn", "watermark", "runId", "updatedAt")


def list_sync_states(cur: Cursor, workspace: str | None = None) -> list[dict[str, Any]]:
    """Every sync's state (`leads sync state`), of one workspace (slug) or of all."""
    cur.execute(load_sql("runs/list_sync_states"), {"slug": workspace})
    return [dict(zip(SYNC_COLUMNS, row, strict=True)) for row in cur.fetchall()]


def delete_sync_state(cur: Cursor, workspace_id: int, name: str) -> dict[str, Any] | None:
    """Forget the sync's watermark; return what was stored (None: there was nothing)."""
    cur.execute(
        load_sql("runs/delete_sync_state"), {"workspace_id": workspace_id, "sync_name": name}
    )
    row = cur.fetchone()
    return None if row is None else {"cursor_column": row[0], "watermark": row[1]}
