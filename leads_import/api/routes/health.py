"""`GET /api/v1/health`: whether the API and its database answer. No key, no workspace, and
not counted against any rate limit (the gate lets it through)."""

from __future__ import annotations

import logging
from importlib.metadata import version
from typing import Final

import anyio
from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from leads_import.api.database import ApiDatabase, database_unreachable
from leads_import.api.errors import database_unavailable_body
from leads_import.api.models import ErrorBody, HealthBody

log = logging.getLogger("api")

HEALTH_PATH: Final = "/health"
# A database that neither answers nor refuses (a dropped packet) must not hold the check.
HEALTH_TIMEOUT_S: Final = 5.0
NO_STORE: Final = {"Cache-Control": "no-store"}

router = APIRouter(tags=["health"])


@router.get(
    HEALTH_PATH,
    summary="Health check",
    description=(
        "200 when the database answers a query, 503 (`database_unavailable`) when it does not "
        f"(refused, failed or slower than {HEALTH_TIMEOUT_S:g} s). Needs no API key, and is "
        "not counted against any key's rate limit (so it carries no rate-limit headers)."
    ),
    response_model=HealthBody,
    responses={
        503: {
            "model": ErrorBody,
            "description": "The database does not answer: `details.database` is "
            "`unreachable`, `timeout` or `error`.",
        }
    },
    openapi_extra={"security": []},
)
async def health(request: Request) -> JSONResponse:
    database: ApiDatabase = request.app.state.database
    try:
        with anyio.fail_after(HEALTH_TIMEOUT_S):
            await to_thread.run_sync(database.check, abandon_on_cancel=True)
    except TimeoutError:
        log.warning("health: the database did not answer within %g s", HEALTH_TIMEOUT_S)
        return _unavailable("timeout")
    except Exception as exc:
        if database_unreachable(exc):
            log.warning("health: the database does not answer: %s", str(exc).strip())
            return _unavailable("unreachable")
        log.exception("health: checking the database failed")
        return _unavailable("error")
    body = {"data": {"status": "ok", "database": "ok", "version": version("leads-import")}}
    return JSONResponse(body, headers=NO_STORE)


def _unavailable(reason: str) -> JSONResponse:
    return JSONResponse(database_unavailable_body(reason), status_code=503, headers=NO_STORE)
