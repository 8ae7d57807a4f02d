"""The Python API: import leads given as dicts or a Polars frame, soft delete leads by email."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

from leads_import.db import leads as db_leads
from leads_import.db import workspaces
from leads_import.db.connection import database_url, transaction
from leads_import.db.runs import RunAudit
from leads_import.db.workspaces import DEFAULT_WORKSPACE, Workspace
from leads_import.engine.inputs import Frames, InMemory, Records
from leads_import.engine.options import ImportOptions, OnExisting
from leads_import.engine.run import run_import
from leads_import.errors import EmptyInputError, NoEmailColumnError
from transforms.fields import SOURCE_API
from transforms.normalise import normalise_email
from transforms.records import frame_to_raw_frame


def leads_input(leads: Iterable[Mapping[str, Any]] | pl.DataFrame) -> InMemory:
    """Leads given as dicts with API field names, or as a frame with columns named like file
    headers, as an input of one raw chunk (warnings name the keys or columns left out)."""
    if isinstance(leads, pl.DataFrame):
        raw, mapping = frame_to_raw_frame(leads)
        if not mapping.has_email:
            raise NoEmailColumnError(list(leads.columns))
        if raw.height == 0:
            raise EmptyInputError()
        return Frames([raw], mapping.warnings())
    records = list(leads)
    if not records:
        raise EmptyInputError()
    return Records.of(records)


def import_leads(
    leads: Iterable[Mapping[str, Any]] | pl.DataFrame,
    workspace: str | Workspace = DEFAULT_WORKSPACE,
    *,
    restore_soft_deleted: bool = True,
    dry_run: bool = False,
    source: str = SOURCE_API,
    on_existing: OnExisting = "skip",
    audit: RunAudit | None = None,
    database: str | None = None,
) -> dict[str, Any]:
    """Import leads (dicts with API field names, or a Polars frame) and return the report of
    SPEC section 7 as JSON. One call is one transaction: it commits entirely or, on any failure,
    writes nothing. With an `audit` the call is recorded in `import_runs` and its idempotency
    key honoured. `workspace` is a slug, or a workspace already looked up in this database."""
    options = ImportOptions(
        restore_soft_deleted=restore_soft_deleted,
        dry_run=dry_run,
        on_existing=on_existing,
        default_source=source,
    )
    report = run_import(leads_input(leads), workspace, options, audit=audit, database=database)
    return report.to_json()


def soft_delete_leads(
    workspace: str, emails: Iterable[str], *, database: str | None = None
) -> list[str]:
    """Soft delete the active leads with these emails; return the normalised emails deleted."""
    normalised = (
        pl.Series("email", list(emails), dtype=pl.String)
        .to_frame()
        .select(normalise_email(pl.col("email")))
        .drop_nulls()
        .unique(maintain_order=True)
        .get_column("email")
        .to_list()
    )
    with transaction(database or database_url()) as conn:
        target = workspaces.resolve_workspace(conn, workspace)
        with conn.cursor() as cur:
            workspaces.lock_workspace(cur, target.id)
            return db_leads.soft_delete(cur, target.id, normalised)
