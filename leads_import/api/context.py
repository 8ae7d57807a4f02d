"""What an endpoint gets from the gate: the database and the request's key (its workspace)."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from fastapi import Request
from fastapi.routing import APIRoute

from leads_import.api.gate import STATE_KEY
from leads_import.db.api_keys import AuthenticatedKey
from leads_import.db.workspaces import Workspace


@dataclass(frozen=True)
class ApiContext:
    database_url: str
    key: AuthenticatedKey

    @property
    def workspace(self) -> Workspace:
        return self.key.workspace


async def api_context(request: Request) -> ApiContext:
    """The dependency every endpoint takes (the gate has admitted the request); async, so
    that FastAPI does not hand it to a worker thread."""
    return ApiContext(request.app.state.database_url, request.scope["state"][STATE_KEY])


class _OrjsonRequest(Request):
    """Parses JSON bodies with orjson: faster, and it refuses lone surrogates (`"\\ud800"`),
    which the database could not store, as malformed JSON."""

    async def json(self) -> object:
        if not hasattr(self, "_json"):
            self._json = orjson.loads(await self.body())
        return self._json


class ApiRoute(APIRoute):
    def get_route_handler(self):  # type: ignore[no-untyped-def]
        handler = super().get_route_handler()

        async def orjson_handler(request: Request):  # type: ignore[no-untyped-def]
            return await handler(_OrjsonRequest(request.scope, request.receive))

        return orjson_handler
