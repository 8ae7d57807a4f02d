"""`POST /api/v1/leads/import`: the engine's bulk import, in-process, one transaction."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from leads_import.api.context import ApiContext, ApiRoute, api_context
from leads_import.api.errors import ERROR_RESPONSES, ApiError, validation_error_response
from leads_import.api.models import ErrorBody, ImportBody, ImportRequest
from leads_import.api.settings import MAX_LEADS_PER_REQUEST
from leads_import.api.validation import BodyError, parse_import_body
from leads_import.db.runs import KIND_API, RunAudit, json_digest
from leads_import.engine import ImportOptions, leads_input, run_import
from leads_import.errors import EmptyInputError
from transforms.fields import SOURCE_API

router = APIRouter(route_class=ApiRoute, tags=["leads"])
# The body is validated by hand (see below); app.py adds ImportRequest to the schema's components.
IMPORT_REQUEST_REF = "#/components/schemas/ImportRequest"


def _audit(ctx: ApiContext, body: ImportRequest, idempotency_key: str | None) -> RunAudit:
    parameters = {
        "leads": len(body.leads),
        "restoreSoftDeleted": body.restore(),
        "onExisting": body.onExisting,
        "dryRun": body.dryRun,
        "apiKeyId": ctx.key.key_id,
    }
    digest = None
    if idempotency_key:  # only then is the payload compared (hashing costs ~2 ms per 1000)
        digest = json_digest(
            {"leads": body.leads, "restore": body.restore(), "onExisting": body.onExisting}
        )
    return RunAudit(
        kind=KIND_API,
        source=SOURCE_API,
        parameters=parameters,
        idempotency_key=idempotency_key,
        payload_sha256=digest,
    )


def _nul_in_an_email(leads: list[Any]) -> bool:
    return any(type(e := lead.get("email")) is str and "\x00" in e for lead in leads)


@router.post(
    "/leads/import",
    summary="Import up to 1000 leads",
    description=(
        "Imports the leads in one transaction and answers with the dedup report: created, "
        "restored (soft-deleted leads whose email comes back), duplicates and errors, with the "
        "first 100 duplicate emails and error rows. Bad rows never fail the request; they are "
        "row errors in the report. One call counts as one request for the rate limit."
    ),
    response_model=ImportBody,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": IMPORT_REQUEST_REF}}},
        }
    },
    responses={
        400: {"model": ErrorBody, "description": "No leads (`no_leads`) or more than 1000."},
        402: {"model": ErrorBody, "description": "The plan's contact limit would be exceeded."},
        409: {
            "model": ErrorBody,
            "description": "The Idempotency-Key was used with another payload.",
        },
        **ERROR_RESPONSES,
    },
)
async def import_leads_endpoint(
    request: Request,
    ctx: Annotated[ApiContext, Depends(api_context)],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="A key already used by a committed import of this workspace returns "
            "that import's report (`replayed: true`) and writes nothing.",
        ),
    ] = None,
) -> Any:
    # The body is parsed and validated (api/validation.py) in the worker thread that then runs
    # the engine.
    raw = await request.body()
    return await run_in_threadpool(_import, raw, ctx, idempotency_key)


def _import(raw: bytes, ctx: ApiContext, idempotency_key: str | None) -> JSONResponse:
    parse_started = time.perf_counter()
    try:
        body = parse_import_body(raw)
    except BodyError as error:
        return validation_error_response(error.errors)
    count = len(body.leads)
    if count == 0:
        raise EmptyInputError()
    if count > MAX_LEADS_PER_REQUEST:
        raise ApiError(
            400,
            "too_many_leads",
            f"at most {MAX_LEADS_PER_REQUEST} leads per request, got {count}",
            {"limit": MAX_LEADS_PER_REQUEST, "count": count},
        )
    audit = _audit(ctx, body, idempotency_key)
    if _nul_in_an_email(body.leads):
        # The engine's run record (jsonb) cannot hold the NUL its errorDetails would echo; the
        # rows are still row errors, but such a request is not recorded in import_runs.
        audit = None
    started = time.perf_counter()
    parse_ms = (started - parse_started) * 1000
    options = ImportOptions(
        restore_soft_deleted=body.restore(),
        dry_run=body.dryRun,
        on_existing=body.onExisting,
        default_source=SOURCE_API,
    )
    leads = leads_input(body.leads)
    report = run_import(leads, ctx.workspace, options, audit=audit, database=ctx.database_url)
    engine_ms = (time.perf_counter() - started) * 1000
    # Where the server time went (the gate adds `auth;dur=` and `app;dur=`, the whole request).
    timing = f"parse;dur={parse_ms:.1f}, engine;dur={engine_ms:.1f}"
    body_json = {"data": report.to_json()}
    return JSONResponse(body_json, headers={"Server-Timing": timing})
