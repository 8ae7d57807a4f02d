"""Every error answers with one body, `{"error", "code", "details"}` (SPEC section 9): our own
errors and the ones FastAPI and Starlette would answer with `{"detail": …}`. Each body is
checked against the served schema's ErrorBody, and where the request is a documented
operation, the status is among the operation's documented responses."""

from __future__ import annotations

import functools
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import jsonschema
import pytest
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from leads_import.api.app import create_app
from leads_import.api.settings import ApiSettings
from tests.support.api_server import free_port, new_key
from tests.support.database import make_workspace

SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")
UNKNOWN_KEY = "otr_" + "x" * 43


@pytest.fixture(scope="module")
def openapi(api_url: str) -> dict:
    return httpx.get(f"{api_url}/api/v1/openapi.json").json()


def _operation(openapi: dict, method: str, path: str) -> dict | None:
    """The schema's operation that serves `method path`, if any."""
    for template, operations in openapi["paths"].items():
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", template)
        if re.fullmatch(pattern, path) and method.lower() in operations:
            return operations[method.lower()]
    return None


def check_error(openapi: dict, response: httpx.Response, status: int, code: str) -> dict:
    """The response is the error body with this status and code, conforms to the schema's
    ErrorBody, and is documented when its request is an operation of the schema."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "code", "details"}, body
    assert body["code"] == code, body
    assert SNAKE_CASE.match(body["code"])
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["details"], dict)
    jsonschema.validate(body, openapi["components"]["schemas"]["ErrorBody"])
    request = response.request
    operation = _operation(openapi, request.method, request.url.path)
    if operation is not None:
        documented = operation["responses"].get(str(status))
        assert documented is not None, f"{request.method} {request.url.path}: {status} undocumented"
        content = documented["content"]["application/json"]["schema"]
        assert content == {"$ref": "#/components/schemas/ErrorBody"}
    return body


def emails(n: int) -> list[dict]:
    tag = uuid.uuid4().hex[:8]
    return [{"email": f"lead{i}.{tag}@example.com"} for i in range(n)]


def test_every_error_of_the_served_api_has_the_one_body(api_url, make_client, openapi) -> None:
    client, _ = make_client(contact_limit=1)
    check = functools.partial(check_error, openapi)
    anonymous = httpx.Client(base_url=f"{api_url}/api/v1")

    # 401: no key, an unknown key (also on an unknown route: the key is checked first).
    check(anonymous.get("/leads"), 401, "missing_api_key")
    check(anonymous.get("/leads", headers={"X-API-Key": UNKNOWN_KEY}), 401, "invalid_api_key")
    check(anonymous.get("/nothing-here"), 401, "missing_api_key")

    # 404: unknown routes (under the base path and outside it), assets, ids.
    body = check(client.get("/nothing-here"), 404, "not_found")
    assert body["error"] == "no such endpoint: GET /api/v1/nothing-here"
    check(client.get(f"{api_url}/nothing-here"), 404, "not_found")
    check(anonymous.get("/docs/assets/nothing.js"), 404, "not_found")
    check(client.get("/leads/999999999"), 404, "lead_not_found")
    check(client.get("/campaigns/abc"), 404, "campaign_not_found")

    # 405: a method a route does not have, also on the open paths.
    body = check(client.put("/leads/1", json={}), 405, "method_not_allowed")
    assert set(body["details"]["allowed"]) == {"GET", "PATCH", "DELETE"}
    assert body["error"] == "method PUT is not allowed on /api/v1/leads/1"
    check(anonymous.post("/health"), 405, "method_not_allowed")
    check(anonymous.delete("/openapi.json"), 405, "method_not_allowed")

    # 422: FastAPI's validation errors and malformed JSON.
    body = check(client.get("/leads", params={"pageSize": 0}), 422, "validation_error")
    assert body["details"]["field"] == "pageSize"
    check(client.patch("/leads/1", json={"email": 5}), 422, "validation_error")
    malformed = client.post(
        "/leads/import", content=b"{", headers={"content-type": "application/json"}
    )
    check(malformed, 422, "invalid_json")
    check(client.post("/leads", json={"email": "not-an-email"}), 422, "invalid_lead")

    # 400, 402, 409: the contract's request-level failures.
    check(client.post("/leads/import", json={"leads": []}), 400, "no_leads")
    check(client.post("/campaigns/1/leads", json={"leadIds": []}), 400, "no_lead_ids")
    check(client.post("/leads/import", json={"leads": emails(2)}), 402, "plan_limit_exceeded")
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    assert client.post("/leads/import", json={"leads": emails(1)}, headers=headers).is_success
    reused = client.post("/leads/import", json={"leads": emails(1)}, headers=headers)
    check(reused, 409, "idempotency_key_reused")
    anonymous.close()


class _FailOutsideTheGate:
    """A middleware around the gate that fails on one path: what only the app's last-resort
    handler can answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/api/v1/broken-middleware":
            raise RuntimeError("a middleware failed")
        await self.app(scope, receive, send)


@pytest.fixture
def in_process(database_url: str) -> Iterator[Callable[..., httpx.Client]]:
    """The app served by uvicorn on a thread of the test (real database), with a failing
    endpoint and a failing middleware added: what a `leads api` cannot be made to do."""
    servers: list[tuple[uvicorn.Server, threading.Thread, httpx.Client]] = []

    def _make(**settings) -> httpx.Client:
        app = create_app(ApiSettings(database_url=database_url, **settings))

        async def broken() -> None:
            raise RuntimeError("an endpoint failed")

        app.add_api_route("/api/v1/broken", broken, methods=["GET"])
        app.add_middleware(_FailOutsideTheGate)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="critical"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started, "the in-process API did not start"
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        servers.append((server, thread, client))
        return client

    yield _make
    for server, thread, client in servers:
        client.close()
        server.should_exit = True
        thread.join(timeout=15)


def test_429_and_500_have_the_one_body(in_process, db, openapi) -> None:
    client = in_process(rate_limit=1)
    headers = {"X-API-Key": new_key(db, make_workspace(db))}
    assert client.get("/api/v1/leads", headers=headers).status_code == 200
    refused = client.get("/api/v1/leads", headers=headers)
    body = check_error(openapi, refused, 429, "rate_limit_exceeded")
    assert body["details"]["limit"] == 1
    assert int(refused.headers["Retry-After"]) >= 1

    client = in_process()
    failed = client.get("/api/v1/broken", headers=headers)
    assert check_error(openapi, failed, 500, "internal_error")["error"] == "internal server error"
    assert "X-RateLimit-Remaining" in failed.headers
    outside = client.get("/api/v1/broken-middleware")
    check_error(openapi, outside, 500, "internal_error")
    assert "a middleware failed" not in outside.text


def test_the_schema_documents_only_the_error_body(openapi) -> None:
    """Every documented 4xx/5xx response is the ErrorBody (FastAPI's HTTPValidationError, the
    `{"detail": …}` shape, is not left anywhere)."""
    schemas = openapi["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert schemas["ErrorBody"]["required"] == ["error", "code", "details"]
    assert schemas["ErrorBody"]["additionalProperties"] is False
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                content = response["content"]["application/json"]["schema"]
                assert content == {"$ref": "#/components/schemas/ErrorBody"}, (
                    method,
                    path,
                    status,
                )
            if operation.get("security") != []:
                assert {"401", "422", "429", "500", "503"} <= set(operation["responses"])
