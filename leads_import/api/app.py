"""The FastAPI application: `create_app()` (uvicorn's factory) and its OpenAPI schema."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

from anyio import to_thread
from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi_offline import FastAPIOffline
from sqlalchemy.engine import make_url
from starlette.routing import Route

from leads_import.api.database import ApiDatabase, database_unreachable
from leads_import.api.errors import AllowedMethods, ApiError, install_error_handlers
from leads_import.api.gate import Gate
from leads_import.api.models import ImportRequest
from leads_import.api.rate_limit import (
    LIMIT_HEADER,
    REMAINING_HEADER,
    RESET_HEADER,
    RETRY_AFTER_HEADER,
)
from leads_import.api.routes import campaigns, health, imports, leads
from leads_import.api.settings import BASE_PATH, ApiSettings
from leads_import.db import connection as database

log = logging.getLogger("api")

OPENAPI_PATH: Final = f"{BASE_PATH}/openapi.json"
HEALTH_PATH: Final = f"{BASE_PATH}{health.HEALTH_PATH}"
DOCS_PATH: Final = f"{BASE_PATH}/docs"  # Swagger UI
# Swagger UI's JavaScript, CSS and icon, served from the fastapi-offline package (no CDN).
DOCS_ASSETS_PATH: Final = f"{DOCS_PATH}/assets"
# ReDoc is not served: its bundle fetches its attribution logo from cdn.redoc.ly at run time
# (an outside request from every reader's browser, a broken image without internet), and
# Swagger UI covers the same schema. Its usual addresses say so.
REDOC_PATHS: Final = (f"{BASE_PATH}/redoc", "/redoc")
REDOC_GONE: Final = (
    f"ReDoc is not served (it loads assets from a CDN): the interactive docs are at "
    f"{DOCS_PATH}, the schema at {OPENAPI_PATH}"
)

DESCRIPTION: Final = """\
Bulk lead import and lead management over the same engine as the `leads` command line.

**Authentication**: send your key (`otr_…`, from `leads api-key create`) in the `X-API-Key`
header (or as `Authorization: Bearer otr_…`). A key sees its own workspace only.

**Rate limit**: per key, a sliding window (default 100 requests per minute). Every response
carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (epoch seconds
when the window frees a slot); a refused request gets a 429 with `Retry-After`.

**Bodies**: JSON in camelCase; ids are strings. Successful bodies are `{"data": …}`, errors
`{"error": "<message>", "code": "<snake_case_code>", "details": {…}}`.

**Health**: `GET /api/v1/health` needs no key and is not counted: 200 when the database
answers, 503 `database_unavailable` when it does not.
"""

_RATE_HEADERS: Final = {
    LIMIT_HEADER: "Requests allowed per window for this key.",
    REMAINING_HEADER: "Requests left in the current window.",
    RESET_HEADER: "Unix epoch seconds when the window frees a slot.",
}


def _with_api_conventions(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the key's security schemes, the rate-limit headers of every response and the import
    body's models (validated by hand, so FastAPI does not list them)."""
    components = schema.setdefault("components", {})
    body = ImportRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = components.setdefault("schemas", {})
    for name, definition in body.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    schemas["ImportRequest"] = body
    components["securitySchemes"] = {
        "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        "Bearer": {"type": "http", "scheme": "bearer"},
    }
    headers = components.setdefault("headers", {})
    for name, description in _RATE_HEADERS.items():
        headers[name] = {"description": description, "schema": {"type": "integer"}}
    headers[RETRY_AFTER_HEADER] = {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    }
    schema["security"] = [{"ApiKey": []}, {"Bearer": []}]
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if operation.get("security") == []:
                continue  # open (the health check): neither a key nor a rate limit
            for status, response in operation.get("responses", {}).items():
                refs = response.setdefault("headers", {})
                for name in _RATE_HEADERS:
                    refs[name] = {"$ref": f"#/components/headers/{name}"}
                if status == "429":
                    refs[RETRY_AFTER_HEADER] = {
                        "$ref": f"#/components/headers/{RETRY_AFTER_HEADER}"
                    }
    return schema


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """The API app; settings default to the environment (`LEADS_API_RATE_LIMIT`, …)."""
    settings = settings or ApiSettings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Resolve the database once (this may start the embedded server) and set the schema up.
        url = await to_thread.run_sync(lambda: settings.database_url or database.database_url())
        app.state.database = ApiDatabase(url)
        app.state.database_url = url
        try:
            await to_thread.run_sync(app.state.database.ensure_schema)
        except Exception as exc:
            # Serve anyway: health answers 503 and so does every request, until it answers
            # (then the first request sets the schema up).
            if not database_unreachable(exc):
                raise
            where = make_url(url)
            log.warning(
                "the database at %s:%s does not answer; serving anyway (503 until it does): %s",
                where.host or "localhost",
                where.port or 5432,
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
            )
        # Everything imported so far (FastAPI, Polars, DuckDB, psycopg2 …) lives as long as the
        # process: keep it out of the cyclic collector's full passes. Without this, the p99 of
        # parsing a 1000-lead body is about 60 ms (a full pass over ~100k objects), with it 6.
        gc.freeze()
        yield
        # Off the embedded server's list of users: a worker process exits without atexit hooks.
        await to_thread.run_sync(database.release_embedded)

    # FastAPIOffline is FastAPI with the Swagger UI and ReDoc pages loading their assets from
    # the app (DOCS_ASSETS_PATH) instead of a CDN, so the docs work without internet.
    app = FastAPIOffline(
        docs_url=DOCS_PATH,
        redoc_url=None,
        static_url=DOCS_ASSETS_PATH,
        title="leads-import API",
        version="1",
        description=DESCRIPTION,
        openapi_url=OPENAPI_PATH,
        swagger_ui_oauth2_redirect_url=f"{DOCS_PATH}/oauth2-redirect",
        # Swagger UI would otherwise ask validator.swagger.io for a badge.
        swagger_ui_parameters={"validatorUrl": None},
        lifespan=lifespan,
    )
    app.state.settings = settings
    routers = (health.router, imports.router, leads.router, campaigns.router)
    for router in routers:
        app.include_router(router, prefix=BASE_PATH)
    # Where FastAPI users look first.
    app.add_api_route("/docs", _redirect(DOCS_PATH), methods=["GET"], include_in_schema=False)
    for path in REDOC_PATHS:
        app.add_api_route(path, _redoc_gone, methods=["GET"], include_in_schema=False)
    served = [(BASE_PATH + r.path, r.methods) for router in routers for r in router.routes]
    served += [(r.path, r.methods) for r in app.routes if isinstance(r, Route) and r.methods]
    install_error_handlers(app, AllowedMethods(served))
    app.add_middleware(
        Gate,
        settings=settings,
        database=lambda: app.state.database,
        open_paths={
            HEALTH_PATH,
            OPENAPI_PATH,
            DOCS_PATH,
            f"{DOCS_PATH}/oauth2-redirect",
            "/docs",
            *REDOC_PATHS,
        },
        open_prefixes=(f"{DOCS_ASSETS_PATH}/",),
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _with_api_conventions(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


async def _redoc_gone() -> None:
    raise ApiError(404, "not_found", REDOC_GONE, {"docs": DOCS_PATH, "openapi": OPENAPI_PATH})


def _redirect(target: str) -> Any:
    async def redirect() -> RedirectResponse:
        return RedirectResponse(target)

    return redirect
