"""Schemathesis against the served OpenAPI schema: whatever it sends, no 5xx, and every answer
is one the schema documents (status, body, content type, headers, `Allow`).

Each operation gets valid (positive) and invalid (negative) requests generated from the schema,
sent over HTTP to the real server with a key of a fuzzing workspace.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    allow_header_conformance,
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from leads_import.db.connection import connect
from tests.support.api_server import new_key
from tests.support.database import make_workspace

OPERATIONS = [
    "POST /api/v1/leads/import",
    "POST /api/v1/leads",
    "GET /api/v1/leads",
    "GET /api/v1/leads/{lead_id}",
    "PATCH /api/v1/leads/{lead_id}",
    "DELETE /api/v1/leads/{lead_id}",
    "GET /api/v1/campaigns/{campaign_id}",
    "POST /api/v1/campaigns/{campaign_id}/leads",
]
# Takes no input to generate and no key (tests/http/test_health.py).
OPEN_OPERATIONS = ["GET /api/v1/health"]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
    response_headers_conformance,
    allow_header_conformance,
]
# A deeper run: API_FUZZ_EXAMPLES=300 uv run pytest tests/http/test_schema_fuzz.py
MAX_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "20"))


@pytest.fixture(scope="module")
def fuzz_key(database_url: str) -> str:
    """A key of a workspace with a plan limit (402s too) and a campaign."""
    conn = connect(database_url)
    conn.autocommit = True
    try:
        workspace = make_workspace(conn, contact_limit=300)
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO campaigns (workspace_id, name) VALUES (%s, 'fuzz')", (workspace.id,)
            )
        return new_key(conn, workspace)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def api_schema(api_url: str):
    return schemathesis.openapi.from_url(f"{api_url}/api/v1/openapi.json")


def test_the_schema_lists_every_operation(api_schema) -> None:
    found = {op.ok().label for op in api_schema.get_all_operations()}
    assert found == {*OPERATIONS, *OPEN_OPERATIONS}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("label", OPERATIONS)
def test_no_server_error(api_schema, fuzz_key: str, label: str, mode: GenerationMode) -> None:
    operation = next(op.ok() for op in api_schema.get_all_operations() if op.ok().label == label)
    statuses: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case) -> None:
        headers = {**(case.headers or {}), "X-API-Key": fuzz_key}
        case.headers = headers
        response = case.call(timeout=30)
        statuses.append(response.status_code)
        case.validate_response(response, checks=CHECKS)
        assert response.status_code < 500, response.text
        for name in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"):
            assert name in response.headers
        if response.status_code >= 400:
            assert set(response.json()) == {"error", "code", "details"}

    check()
    assert statuses
    print(label, mode.value, sorted(Counter(statuses).items()))
