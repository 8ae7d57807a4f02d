"""The gate in front of every endpoint: API key, rate limit, and the headers every response
carries; the open paths (health, schema, docs) pass without a key and are not counted. A pure
ASGI middleware (no per-request task or body copy)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any, Final

from anyio import to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leads_import.api import rate_limit
from leads_import.api.database import ApiDatabase, database_unreachable
from leads_import.api.errors import database_unavailable_body, error_body, internal_error_body
from leads_import.api.rate_limit import RateDecision
from leads_import.api.settings import ApiSettings
from leads_import.db.api_keys import AuthenticatedKey
from leads_import.db.connection import transaction

log = logging.getLogger("api")

STATE_KEY: Final = "api_key"
SERVER_TIMING: Final = b"server-timing"
# 1000 leads with every field at its longest stay well below this.
MAX_BODY_BYTES: Final = 64 * 2**20


def request_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The key of `X-API-Key`, else of `Authorization: Bearer`; None when neither is given."""
    bearer = None
    for name, value in headers:
        if name == b"x-api-key":
            key = value.decode("latin-1").strip()
            if key:
                return key
        elif name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                bearer = token.strip()
    return bearer


def _content_length(scope: Scope) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class Gate:
    """Authenticate the key and count the request (one short transaction), then run the app
    with the key in `request.state.api_key`; add the rate-limit and `Server-Timing` headers."""

    def __init__(
        self,
        app: ASGIApp,
        settings: ApiSettings,
        database: Callable[[], ApiDatabase],
        open_paths: set[str],
        open_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.settings = settings
        self.database = database
        self.open_paths = open_paths
        self.open_prefixes = open_prefixes

    def is_open(self, path: str) -> bool:
        """Paths served without a key and not counted (health, schema, docs and their assets)."""
        return path in self.open_paths or path.startswith(self.open_prefixes)

    def admit(self, key: str | None, client: str) -> tuple[AuthenticatedKey | None, RateDecision]:
        """Look the key up and count the request (one statement, one short transaction)."""
        database = self.database()
        database.ensure_schema()  # a no-op once done (at startup, if the database answered)
        with transaction(database.url) as conn, conn.cursor() as cur:
            return rate_limit.admit(
                cur, key, client, self.settings.rate_limit, self.settings.rate_window_seconds
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        extra: list[tuple[bytes, bytes]] = []
        sent = False

        async def send_with_headers(message: Message) -> None:
            nonlocal sent
            if message["type"] == "http.response.start":
                sent = True
                took = (time.perf_counter() - started) * 1000
                headers = [*message.get("headers", []), *extra]
                headers.append((SERVER_TIMING, f"app;dur={took:.1f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        if self.is_open(scope["path"]):
            await self._run(scope, receive, send_with_headers, lambda: sent)
            return
        key = request_key(scope.get("headers", []))
        admit_started = time.perf_counter()
        try:
            found, decision = await to_thread.run_sync(self.admit, key, _client(scope))
        except Exception as exc:
            if database_unreachable(exc):
                log.warning("the database does not answer: %s", str(exc).strip())
                await _respond(send_with_headers, 503, database_unavailable_body())
            else:
                log.exception("authenticating a request failed")
                await _respond(send_with_headers, 500, internal_error_body())
            return
        extra.extend(decision.headers())
        admit_ms = (time.perf_counter() - admit_started) * 1000
        extra.append((SERVER_TIMING, f"auth;dur={admit_ms:.1f}".encode()))
        if not decision.allowed:
            details = {"limit": decision.limit, "reset": decision.reset_epoch}
            body = error_body("Rate limit exceeded", "rate_limit_exceeded", details)
            await _respond(send_with_headers, 429, body)
            return
        if found is None:
            if key is None:
                body = error_body(
                    "missing API key: send it in the X-API-Key header", "missing_api_key"
                )
            else:
                body = error_body("unknown or revoked API key", "invalid_api_key")
            await _respond(send_with_headers, 401, body, ((b"www-authenticate", b"Bearer"),))
            return
        if _content_length(scope) > MAX_BODY_BYTES:
            message = f"the request body is larger than {MAX_BODY_BYTES // 2**20} MiB"
            body = error_body(message, "payload_too_large", {"limit": MAX_BODY_BYTES})
            await _respond(send_with_headers, 413, body)
            return
        scope.setdefault("state", {})[STATE_KEY] = found
        await self._run(scope, receive, send_with_headers, lambda: sent)

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, started: Callable[[], bool]
    ) -> None:
        """Run the app; a failure before the response started is answered with the error body
        (503 when the database stopped answering, else 500)."""
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            if started():
                raise
            if database_unreachable(exc):
                log.warning("the database does not answer: %s", str(exc).strip())
                await _respond(send, 503, database_unavailable_body())
                return
            log.exception("%s %s failed", scope.get("method"), scope["path"])
            await _respond(send, 500, internal_error_body())


async def _respond(
    send: Send,
    status: int,
    body: dict[str, Any],
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    # Written as JSONResponse writes the app's bodies.
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
