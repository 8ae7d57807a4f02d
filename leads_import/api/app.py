"""The FastAPI application: `create_app()` (uvicorn's factory) and its OpenAPI schema."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

from anyio import to_thread
from fastapi import FastAPI

from leads_import.api.errors import install_error_handlers
from leads_import.api.gate import Gate
from leads_import.api.models import ImportRequest
from leads_import.api.rate_limit import (
    LIMIT_HEADER,
    REMAINING_HEADER,
    RESET_HEADER,
    RETRY_AFTER_HEADER,
)
from leads_import.api.routes import campaigns, imports, leads
from leads_import.api.settings import BASE_PATH, ApiSettings
from leads_import.db import connection as database
from leads_import.db import schema

OPENAPI_PATH: Final = f"{BASE_PATH}/openapi.json"
DOCS_PATH: Final = f"{BASE_PATH}/docs"

DESCRIPTION: Final = """\
Bulk lead import and lead management over the same engine as the `leads` command line.

**Authentication**: send your key (`otr_…`, from `leads api-key create`) in the `X-API-Key`
header (or as `Authorization: Bearer otr_…`). A key sees its own workspace only.

**Rate limit**: per key, a sliding window (default 100 requests per minute). Every response
carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (epoch seconds
when the window frees a slot); a refused request gets a 429 with `Retry-After`.

**Bodies**: JSON in camelCase; ids are strings. Successful bodies are `{"data": …}`, errors
`{"error": "<message>", "code": "<snake_case_code>", "details": {…}}`.
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
        app.state.database_url = url

        def _schema() -> None:
            with database.transaction(url) as conn:
                schema.ensure_schema(conn)

        await to_thread.run_sync(_schema)
        # Everything imported so far (FastAPI, Polars, DuckDB, psycopg2 …) lives as long as the
        # process: keep it out of the cyclic collector's full passes. Without this, the p99 of
        # parsing a 1000-lead body is about 60 ms (a full pass over ~100k objects), with it 6.
        gc.freeze()
        yield
        # Off the embedded server's list of users: a worker process exits without atexit hooks.
        await to_thread.run_sync(database.release_embedded)

    app = FastAPI(
        title="leads-import API",
        version="1",
        description=DESCRIPTION,
        openapi_url=OPENAPI_PATH,
        docs_url=DOCS_PATH,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=f"{DOCS_PATH}/oauth2-redirect",
        lifespan=lifespan,
    )
    app.state.settings = settings
    for router in (imports.router, leads.router, campaigns.router):
        app.include_router(router, prefix=BASE_PATH)
    install_error_handlers(app)
    app.add_middleware(
        Gate,
        settings=settings,
        database_url=lambda: app.state.database_url,
        open_paths={OPENAPI_PATH, DOCS_PATH, f"{DOCS_PATH}/oauth2-redirect"},
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _with_api_conventions(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
