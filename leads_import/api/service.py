"""What the API's endpoints do, without HTTP: every query is filtered by the key's workspace.

Each function opens one transaction on the pooled connections of `leads_import.db`. Writes that
change whether a lead is active, or a campaign's members, take the workspace's advisory lock,
as imports and soft deletes do, so that `lead_count` stays true under concurrency.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import polars as pl
from psycopg2.extensions import cursor as Cursor

from leads_import.api.errors import ApiError
from leads_import.db import campaigns, workspaces
from leads_import.db import leads as db_leads
from leads_import.db.campaigns import Campaign
from leads_import.db.connection import transaction
from leads_import.db.ids import parse_id
from leads_import.db.workspaces import Workspace
from leads_import.engine import Frames, ImportReport, RunHooks, run_import
from leads_import.engine.inputs import prepare
from transforms.fields import API_TO_COLUMN, ERROR_REASON, LEAD_FIELDS
from transforms.records import records_to_raw_frame

# The columns of a `leads` row as the api/*.sql statements return it, and the API's keys for them.
LEAD_COLUMNS: Final = (
    "id",
    *(field.column for field in LEAD_FIELDS),
    "created_at",
    "updated_at",
    "deleted_at",
)
_LEAD_KEYS: Final = (
    "id",
    *(field.api_name for field in LEAD_FIELDS),
    "createdAt",
    "updatedAt",
    "deletedAt",
)


def _timestamp(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def lead_json(row: Sequence[Any]) -> dict[str, Any]:
    """A `leads` row (LEAD_COLUMNS order) as the API's camelCase lead, id as a string."""
    lead = dict(zip(_LEAD_KEYS, row, strict=True))
    lead["id"] = str(lead["id"])
    lead["customFields"] = lead["customFields"] or {}
    lead["tags"] = list(lead["tags"] or [])
    for key in ("createdAt", "updatedAt", "deletedAt"):
        lead[key] = _timestamp(lead[key])
    return lead


def lead_not_found(lead_id: str) -> ApiError:
    return ApiError(404, "lead_not_found", f"no lead with id {lead_id!r}", {"id": lead_id})


def campaign_not_found(campaign_id: str) -> ApiError:
    return ApiError(
        404, "campaign_not_found", f"no campaign with id {campaign_id!r}", {"id": campaign_id}
    )


def reason_field(reason: str) -> str | None:
    """The API field a row error's reason is about (`invalid email format` -> `email`)."""
    words = reason.split()
    if "email" in words[:2]:
        return "email"
    if reason.startswith("invalid status"):
        return "status"
    if reason.startswith("tag "):
        return "tags"
    return words[0] if words and words[0] in API_TO_COLUMN else None


def _invalid_lead(reason: str) -> ApiError:
    details: dict[str, Any] = {"reason": reason}
    if (field := reason_field(reason)) is not None:
        details["field"] = field
    return ApiError(422, "invalid_lead", reason, details)


def _prepare_one(lead: Mapping[str, Any]) -> tuple[pl.DataFrame, list[str]]:
    """The engine's normalisation and validation of one lead; 422 on a row error."""
    raw, warnings = records_to_raw_frame([lead])
    prepared = prepare(raw)
    reason = prepared.get_column(ERROR_REASON)[0]
    if reason is not None:
        raise _invalid_lead(reason)
    return prepared, warnings


def create_lead(
    url: str, workspace: Workspace, lead: Mapping[str, Any]
) -> tuple[dict[str, Any], str, list[str]]:
    """Create one lead through the engine (a soft-deleted lead with the email is restored).

    Returns the lead, its outcome (`created` or `restored`) and warnings. Raises 422 for a row
    error, 409 when an active lead has the email, 402 past the plan limit."""
    prepared, warnings = _prepare_one(lead)
    email = prepared.get_column("email")[0]
    found: list[tuple[Any, ...] | None] = []

    def read_back(cur: Cursor, target: Workspace, report: ImportReport) -> None:
        row = db_leads.get_lead_by_email(cur, target.id, email)
        if report.duplicates:
            details = {"email": email, "id": str(row[0]) if row else None}
            raise ApiError(409, "lead_exists", f"an active lead has the email {email}", details)
        found.append(row)

    report = run_import(
        Frames([prepared], prepared=True),
        workspace,
        database=url,
        hooks=RunHooks(before_commit=read_back),
    )
    row = found[0]
    if row is None:  # not reachable: the lead was written in the transaction just committed
        raise RuntimeError(f"lead {email} not found after its import")
    return lead_json(row), "restored" if report.restored else "created", warnings


def get_lead(url: str, workspace: Workspace, lead_id: str) -> dict[str, Any]:
    number = parse_id(lead_id)
    if number is None:
        raise lead_not_found(lead_id)
    with transaction(url) as conn, conn.cursor() as cur:
        row = db_leads.get_lead(cur, workspace.id, number)
    if row is None:
        raise lead_not_found(lead_id)
    return lead_json(row)


def list_leads(
    url: str,
    workspace: Workspace,
    *,
    page: int,
    page_size: int,
    search: str | None = None,
    statuses: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One page of active leads, newest first, and the page's meta."""
    where = db_leads.LeadFilter(statuses=statuses, tags=tags, search=search)
    with transaction(url) as conn, conn.cursor() as cur:
        total, rows = db_leads.page_of_leads(
            cur, workspace.id, where, limit=page_size, offset=(page - 1) * page_size
        )
    meta = {
        "page": page,
        "pageSize": page_size,
        "total": total,
        "totalPages": math.ceil(total / page_size),
    }
    return [lead_json(row) for row in rows], meta


def update_lead(
    url: str, workspace: Workspace, lead_id: str, patch: Mapping[str, Any]
) -> dict[str, Any]:
    """Change the given fields of an active lead, validated by the engine's rules."""
    number = parse_id(lead_id)
    if number is None:
        raise lead_not_found(lead_id)
    with transaction(url) as conn, conn.cursor() as cur:
        workspaces.lock_workspace(cur, workspace.id)
        row = db_leads.get_lead(cur, workspace.id, number)
        if row is None:
            raise lead_not_found(lead_id)
        current = lead_json(row)
        merged = {api: current[api] for api in API_TO_COLUMN}
        merged.update(patch)
        prepared, _ = _prepare_one(merged)
        values = prepared.row(0, named=True)
        email = values["email"]
        if email != current["email"]:
            taken = db_leads.get_lead_by_email(cur, workspace.id, email)
            if taken is not None:
                details = {"email": email, "id": str(taken[0])}
                raise ApiError(409, "lead_exists", f"an active lead has the email {email}", details)
        values["status"] = values["status"] or current["status"]
        updated = db_leads.replace_lead(cur, workspace.id, number, values)
    return lead_json(updated)


def delete_lead(url: str, workspace: Workspace, lead_id: str) -> dict[str, Any]:
    """Soft delete an active lead (SPEC section 5): its campaigns' counts drop by one."""
    number = parse_id(lead_id)
    if number is None:
        raise lead_not_found(lead_id)
    with transaction(url) as conn, conn.cursor() as cur:
        workspaces.lock_workspace(cur, workspace.id)
        row = db_leads.soft_delete_lead(cur, workspace.id, number)
    if row is None:
        raise lead_not_found(lead_id)
    return lead_json(row)


def _campaign_json(campaign: Campaign) -> dict[str, Any]:
    return {"id": str(campaign.id), "name": campaign.name, "leadCount": int(campaign.lead_count)}


def get_campaign(url: str, workspace: Workspace, campaign_id: str) -> dict[str, Any]:
    number = parse_id(campaign_id)
    if number is None:
        raise campaign_not_found(campaign_id)
    with transaction(url) as conn, conn.cursor() as cur:
        campaign = campaigns.get_campaign(cur, workspace.id, number)
    if campaign is None:
        raise campaign_not_found(campaign_id)
    return _campaign_json(campaign)


def add_campaign_leads(
    url: str, workspace: Workspace, campaign_id: str, lead_ids: Sequence[str]
) -> dict[str, Any]:
    """Make active leads of the workspace members of its campaign; `lead_count` grows by the
    members added. Ids naming nothing the key may see are listed as `notFound`."""
    number = parse_id(campaign_id)
    if number is None:
        raise campaign_not_found(campaign_id)
    given = list(dict.fromkeys(lead_ids))  # unique, in request order
    parsed = {text: parse_id(text) for text in given}
    with transaction(url) as conn, conn.cursor() as cur:
        workspaces.lock_workspace(cur, workspace.id)
        if campaigns.get_campaign(cur, workspace.id, number) is None:
            raise campaign_not_found(campaign_id)
        ids = [n for n in parsed.values() if n is not None]
        result = campaigns.add_members(cur, workspace.id, number, ids)
    added, eligible = result.added, result.eligible
    return {
        "campaign": _campaign_json(result.campaign),
        "added": [t for t, n in parsed.items() if n in added],
        "alreadyMembers": [t for t, n in parsed.items() if n in eligible - added],
        "notFound": [t for t, n in parsed.items() if n not in eligible],
    }
