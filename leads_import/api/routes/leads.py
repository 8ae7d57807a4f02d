"""Single leads: create, list (paged, searched, filtered), read, change, soft delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from leads_import.api import service
from leads_import.api.context import ApiContext, ApiRoute, api_context
from leads_import.api.errors import ERROR_RESPONSES, ApiError
from leads_import.api.models import (
    CreatedLeadBody,
    ErrorBody,
    LeadBody,
    LeadCreate,
    LeadPage,
    LeadPatch,
)
from leads_import.api.settings import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from leads_import.db.ids import ID_PATTERN
from transforms.fields import STATUSES

router = APIRouter(route_class=ApiRoute, tags=["leads"])

Context = Annotated[ApiContext, Depends(api_context)]
LeadId = Annotated[
    str,
    Path(
        description="The lead's id. An id that names no active lead of the key's workspace "
        "(or is no id at all) is a 404.",
        json_schema_extra={"pattern": ID_PATTERN},
    ),
]
NOT_FOUND = {404: {"model": ErrorBody, "description": "No such active lead in the workspace."}}
INVALID_LEAD = {
    422: {
        "model": ErrorBody,
        "description": "A field of the wrong type (`validation_error`) or a value the lead "
        "rules refuse, such as an invalid email (`invalid_lead`, naming the field).",
    }
}
CONFLICT = {409: {"model": ErrorBody, "description": "An active lead has that email."}}


@router.post(
    "/leads",
    status_code=201,
    summary="Create one lead",
    description=(
        "Validates and normalises the lead like an import. A soft-deleted lead with the email "
        "is restored (its stored fields merged with the given ones; `meta.outcome` says "
        "`restored`)."
    ),
    response_model=CreatedLeadBody,
    responses={
        402: {"model": ErrorBody, "description": "The plan's contact limit is reached."},
        **CONFLICT,
        **ERROR_RESPONSES,
        **INVALID_LEAD,
    },
)
def create_lead(body: LeadCreate, ctx: Context) -> Any:
    lead, outcome, warnings = service.create_lead(ctx.database_url, ctx.workspace, body)
    meta: dict[str, Any] = {"outcome": outcome}
    if warnings:
        meta["warnings"] = warnings
    return JSONResponse({"data": lead, "meta": meta}, status_code=201)


def _no_nul(name: str, values: list[str]) -> list[str]:
    if any("\x00" in value for value in values):
        raise ApiError(
            422,
            "validation_error",
            f"{name}: must not contain a NUL character",
            {"field": name, "errors": [{"field": name, "message": "contains a NUL character"}]},
        )
    return values


def _split(values: list[str] | None) -> list[str]:
    """Repeated parameters and comma-separated lists alike, trimmed, empties dropped."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


@router.get(
    "/leads",
    summary="List leads",
    description=(
        "The workspace's active leads, newest first, a page at a time. `search` matches a part "
        "of the email, first, last or full name, or company (case-insensitive); `status` keeps "
        "leads with any of the given statuses, `tags` those with all the given tags."
    ),
    response_model=LeadPage,
    responses=ERROR_RESPONSES,
)
def list_leads(
    ctx: Context,
    page: Annotated[int, Query(ge=1, le=10_000_000, description="Page number, from 1.")] = 1,
    page_size: Annotated[
        int,
        Query(
            alias="pageSize",
            ge=1,
            le=MAX_PAGE_SIZE,
            description=f"Leads per page (1 to {MAX_PAGE_SIZE}).",
        ),
    ] = DEFAULT_PAGE_SIZE,
    search: Annotated[str | None, Query(max_length=255, description="Text to look for.")] = None,
    status: Annotated[
        list[str] | None,
        Query(description="Statuses (repeat the parameter or separate with commas)."),
    ] = None,
    tags: Annotated[
        list[str] | None,
        Query(description="Tags the lead must all have (repeat or separate with commas)."),
    ] = None,
) -> Any:
    statuses = [s.lower() for s in _no_nul("status", _split(status))]
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        message = f"status: unknown status {unknown[0]!r} (one of {', '.join(STATUSES)})"
        details = {"field": "status", "errors": [{"field": "status", "message": message}]}
        raise ApiError(422, "validation_error", message, details)
    wanted_tags = _no_nul("tags", _split(tags))
    if search is not None:
        _no_nul("search", [search])
    leads, meta = service.list_leads(
        ctx.database_url,
        ctx.workspace,
        page=page,
        page_size=page_size,
        search=search,
        statuses=statuses,
        tags=wanted_tags,
    )
    return JSONResponse({"data": leads, "meta": meta})


@router.get(
    "/leads/{lead_id}",
    summary="Get a lead",
    response_model=LeadBody,
    responses={**NOT_FOUND, **ERROR_RESPONSES},
)
def get_lead(lead_id: LeadId, ctx: Context) -> Any:
    return JSONResponse({"data": service.get_lead(ctx.database_url, ctx.workspace, lead_id)})


@router.patch(
    "/leads/{lead_id}",
    summary="Change a lead",
    description="Changes the given fields; the result is validated like an imported lead.",
    response_model=LeadBody,
    responses={**NOT_FOUND, **CONFLICT, **ERROR_RESPONSES, **INVALID_LEAD},
)
def update_lead(lead_id: LeadId, body: LeadPatch, ctx: Context) -> Any:
    lead = service.update_lead(ctx.database_url, ctx.workspace, lead_id, body)
    return JSONResponse({"data": lead})


@router.delete(
    "/leads/{lead_id}",
    summary="Soft delete a lead",
    description=(
        "Sets `deletedAt` and lowers the `leadCount` of the lead's campaigns (membership "
        "stays). Importing or creating the email again restores the lead."
    ),
    response_model=LeadBody,
    responses={**NOT_FOUND, **ERROR_RESPONSES},
)
def delete_lead(lead_id: LeadId, ctx: Context) -> Any:
    return JSONResponse({"data": service.delete_lead(ctx.database_url, ctx.workspace, lead_id)})
