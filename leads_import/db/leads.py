"""Leads in the database: the lookups and bulk writes of an import (every write step returns
its row count), and the single-lead reads and changes of the HTTP API."""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from psycopg2 import sql
from psycopg2.extensions import cursor as Cursor

from leads_import.db.connection import prepare_once
from leads_import.db.settings import (
    COPY_BUFFER_BYTES,
    COPY_SLICE_ROWS,
    LIST_LOOKUP_MAX_EMAILS,
    MERGE_JSON_MAX_ROWS,
)
from leads_import.errors import PlanLimitExceededError
from leads_import.sqlfiles import load_sql
from transforms.classify import (
    ACTIVE_ID,
    EXISTING_SCHEMA,
    LEAD_ID,
    RESTORE_ID,
    existing_from_halves,
)
from transforms.write_plan import pg_text_array_literal, to_copy_csv


def _copy(cur: Cursor, statement: str, rows: pl.DataFrame) -> int:
    if rows.height:
        cur.copy_expert(load_sql(statement), io.BytesIO(to_copy_csv(rows)), size=COPY_BUFFER_BYTES)
    return rows.height


def _copy_in_slices(cur: Cursor, statement: str, rows: pl.DataFrame) -> int:
    """COPY a large frame a slice at a time (one COPY each), so that only one slice's CSV is
    in memory at once."""
    for part in rows.iter_slices(COPY_SLICE_ROWS):
        _copy(cur, statement, part)
    return rows.height


def fetch_existing(
    cur: Cursor,
    workspace_id: int,
    emails: pl.Series,
    *,
    active_ids: bool = False,
    sending: threading.Event | None = None,
) -> pl.DataFrame:
    """Existing leads of the workspace whose emails occur in the batch, one row per email
    (the active lead's id only when `active_ids`; the soft-deleted lead to restore may be
    left out for an email that has an active lead, as such a row is never restored).
    `sending` is set just before a short list's statement goes to the server (a caller waiting
    on it also watches the lookup's end, which the other paths reach first)."""
    if emails.len() == 0:
        return pl.DataFrame(schema=EXISTING_SCHEMA)
    params = {"workspace_id": workspace_id, "active_ids": active_ids}
    if emails.len() <= LIST_LOOKUP_MAX_EMAILS:
        params["emails"] = pg_text_array_literal(emails)
        if sending is not None:
            sending.set()
        cur.execute(load_sql("engine/existing_leads_in_list"), params)
        return pl.DataFrame(cur.fetchall(), schema=EXISTING_SCHEMA, orient="row")
    cur.execute(load_sql("engine/create_batch_emails"))
    _copy_in_slices(cur, "engine/copy_batch_emails", emails.to_frame())
    cur.execute(load_sql("engine/analyze_batch_emails"))  # a temp table has no statistics otherwise
    cur.execute(load_sql("engine/existing_leads"), params)
    return pl.DataFrame(cur.fetchall(), schema=EXISTING_SCHEMA, orient="row")


def snapshot(cur: Cursor, workspace_id: int, max_leads: int | None = None) -> pl.DataFrame | None:
    """Every email of the workspace with its existing leads (EXISTING_SCHEMA): what a large
    import classifies against, read once under the workspace lock (two scans, joined here).
    None when the workspace holds more than `max_leads` (no more than one over is read)."""
    limit = sql.SQL("ALL") if max_leads is None else sql.Literal(max_leads + 1)
    active = _copy_out(cur, "engine/workspace_snapshot_active", workspace_id, ACTIVE_ID, limit)
    if max_leads is not None and active.height > max_leads:
        return None
    deleted = _copy_out(cur, "engine/workspace_snapshot_deleted", workspace_id, RESTORE_ID, limit)
    if max_leads is not None and active.height + deleted.height > max_leads:
        return None
    return existing_from_halves(active, deleted)


def _copy_out(
    cur: Cursor, statement: str, workspace_id: int, id_column: str, limit: sql.Composable
) -> pl.DataFrame:
    """The (email, id) rows a COPY ... TO STDOUT template gives, the id named `id_column`."""
    template = sql.SQL(load_sql(statement)).format(
        workspace_id=sql.Literal(workspace_id), limit=limit
    )
    schema = {"email": pl.String, id_column: pl.Int64}
    buffer = io.BytesIO()
    cur.copy_expert(template, buffer, size=COPY_BUFFER_BYTES)
    if not buffer.tell():
        return pl.DataFrame(schema=schema)
    buffer.seek(0)
    return pl.read_csv(buffer, has_header=False, new_columns=list(schema), schema=schema)


@dataclass(frozen=True)
class PlanCapacity:
    """A workspace's plan contact limit and its active leads, read under its lock."""

    limit: int
    active: int

    def check(self, adding: int) -> int:
        """The capacity left once `adding` leads are made active; PlanLimitExceededError when
        that would pass the limit."""
        if self.active + adding > self.limit:
            raise PlanLimitExceededError(self.limit, self.active, self.active + adding)
        return self.limit - self.active - adding


def plan_capacity(cur: Cursor, workspace_id: int) -> PlanCapacity | None:
    """The workspace's limit and active leads; None when it is unlimited (one query then)."""
    cur.execute(load_sql("engine/workspace_limit"), {"workspace_id": workspace_id})
    (limit,) = cur.fetchone()
    if limit is None:
        return None
    cur.execute(load_sql("engine/count_active_leads"), {"workspace_id": workspace_id})
    (active,) = cur.fetchone()
    return PlanCapacity(limit, active)


def check_plan_limit(cur: Cursor, workspace_id: int, adding: int) -> int | None:
    """Raise PlanLimitExceededError if `adding` active leads would pass the limit.

    Returns the capacity left after the import (None when the workspace is unlimited).
    """
    capacity = plan_capacity(cur, workspace_id)
    return None if capacity is None else capacity.check(adding)


def remaining_capacity(cur: Cursor, workspace_id: int) -> int | None:
    """The plan capacity left (0 when a lowered limit is already passed; None: unlimited)."""
    try:
        return check_plan_limit(cur, workspace_id, 0)
    except PlanLimitExceededError:
        return 0


@dataclass(frozen=True)
class CreatedLeads:
    """Created leads encoded for their COPY (the encoding can be done off the writing thread)."""

    rows: int
    payload: bytes

    @classmethod
    def of(cls, workspace_id: int, rows: pl.DataFrame) -> CreatedLeads:
        """The rows of `transforms.write_plan.created_rows`, for the workspace."""
        with_workspace = rows.select(pl.lit(workspace_id).alias("workspace_id"), pl.all())
        return cls(rows.height, to_copy_csv(with_workspace) if rows.height else b"")


def insert_created(cur: Cursor, workspace_id: int, rows: pl.DataFrame | CreatedLeads) -> int:
    """Insert created leads with one COPY."""
    created = rows if isinstance(rows, CreatedLeads) else CreatedLeads.of(workspace_id, rows)
    if created.rows:
        payload = io.BytesIO(created.payload)
        cur.copy_expert(load_sql("engine/copy_created_leads"), payload, size=COPY_BUFFER_BYTES)
    return created.rows


def _execute_merge(cur: Cursor, statement: str, workspace_id: int, rows: pl.DataFrame) -> None:
    """Run `statement` over the merge input of `rows`: one JSON parameter for a short batch
    (a prepared statement), else the merge_rows temp table, filled with one COPY."""
    template = sql.SQL(load_sql(statement))
    if rows.height > MERGE_JSON_MAX_ROWS:
        cur.execute(load_sql("engine/create_merge_rows"))
        _copy(cur, "engine/copy_merge_rows", rows)
        merge = template.format(
            workspace_id=sql.Placeholder("workspace_id"), merge_input=sql.Identifier("merge_rows")
        )
        cur.execute(merge, {"workspace_id": workspace_id})
        return
    name = sql.Identifier(f"leads_{statement.replace('/', '_')}_json")

    def prepare() -> sql.Composable:
        rows_json = sql.SQL(load_sql("engine/merge_rows_json")).format(merge_rows=sql.SQL("$2"))
        prepared = template.format(workspace_id=sql.SQL("$1"), merge_input=rows_json)
        return sql.SQL(load_sql("engine/prepare_merge")).format(name=name, statement=prepared)

    prepare_once(cur, name.strings[0], prepare)
    params = {"workspace_id": workspace_id, "merge_rows": rows.write_json()}
    cur.execute(sql.SQL(load_sql("engine/execute_merge")).format(name=name), params)


def restore_leads(cur: Cursor, workspace_id: int, rows: pl.DataFrame) -> int:
    """Merge and undelete restored leads and add them to their campaigns' counts (one
    statement)."""
    if rows.height == 0:
        return 0
    _execute_merge(cur, "engine/restore_leads", workspace_id, rows)
    (restored,) = cur.fetchone()
    return restored


def update_leads(cur: Cursor, workspace_id: int, rows: pl.DataFrame, on_existing: str) -> pl.Series:
    """Apply the `on_existing` policy to active leads (one UPDATE); return the ids it changed."""
    if rows.height == 0:
        return pl.Series(LEAD_ID, [], dtype=pl.Int64)
    _execute_merge(cur, f"engine/update_leads_{on_existing}", workspace_id, rows)
    return pl.Series(LEAD_ID, [lead_id for (lead_id,) in cur.fetchall()], dtype=pl.Int64)


def soft_delete(cur: Cursor, workspace_id: int, emails: list[str]) -> list[str]:
    """Soft delete the active leads with these (normalised) emails; return the emails deleted."""
    cur.execute(
        load_sql("engine/soft_delete_leads"), {"workspace_id": workspace_id, "emails": emails}
    )
    return [email for (email,) in cur.fetchall()]


# --- single leads (the HTTP API); rows in the column order of sql/api/get_lead.sql ----------


LeadRow = tuple[Any, ...]


@dataclass(frozen=True)
class LeadFilter:
    """Which active leads a page shows: any of `statuses`, all of `tags`, a text `search`."""

    statuses: Sequence[str] | None = None
    tags: Sequence[str] | None = None
    search: str | None = None

    def params(self) -> dict[str, Any]:
        search = self.search.strip() if self.search else None
        return {
            "statuses": list(self.statuses) if self.statuses else None,
            "tags": list(self.tags) if self.tags else None,
            "pattern": f"%{_escape_like(search)}%" if search else None,
        }


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def get_lead(cur: Cursor, workspace_id: int, lead_id: int) -> LeadRow | None:
    """The workspace's active lead with this id."""
    cur.execute(load_sql("api/get_lead"), {"id": lead_id, "workspace_id": workspace_id})
    return cur.fetchone()


def get_lead_by_email(cur: Cursor, workspace_id: int, email: str) -> LeadRow | None:
    """The workspace's active lead with this (normalised) email."""
    cur.execute(load_sql("api/get_lead_by_email"), {"email": email, "workspace_id": workspace_id})
    return cur.fetchone()


def page_of_leads(
    cur: Cursor, workspace_id: int, where: LeadFilter, *, limit: int, offset: int
) -> tuple[int, list[LeadRow]]:
    """How many active leads match, and the page of them at `offset`, newest first."""
    params = {"workspace_id": workspace_id, **where.params(), "limit": limit, "offset": offset}
    cur.execute(load_sql("api/count_leads"), params)
    (total,) = cur.fetchone()
    if offset >= total:
        return int(total), []
    cur.execute(load_sql("api/list_leads"), params)
    return int(total), cur.fetchall()


def replace_lead(
    cur: Cursor, workspace_id: int, lead_id: int, values: dict[str, Any]
) -> LeadRow | None:
    """Replace every field of an active lead with `values` (validated, keyed by column;
    `custom_fields` as JSON text)."""
    params = {**values, "id": lead_id, "workspace_id": workspace_id}
    params["custom_fields"] = values["custom_fields"] or "{}"
    params["tags"] = list(values["tags"] or [])
    cur.execute(load_sql("api/update_lead"), params)
    return cur.fetchone()


def soft_delete_lead(cur: Cursor, workspace_id: int, lead_id: int) -> LeadRow | None:
    """Soft delete one active lead (its campaigns' counts drop by one); the lead as it is now."""
    cur.execute(load_sql("api/soft_delete_lead"), {"id": lead_id, "workspace_id": workspace_id})
    return cur.fetchone()
