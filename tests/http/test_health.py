"""`GET /api/v1/health` (SPEC section 9): no key, not rate limited, 200 when the database
answers and 503 when it does not, against real servers (the second on a closed port)."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import version

import httpx
import pytest

from tests.support.api_server import free_port, running_api

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def test_health_is_200_without_a_key_when_the_database_answers(api_url) -> None:
    response = httpx.get(f"{api_url}/api/v1/health")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "data": {"status": "ok", "database": "ok", "version": version("leads-import")}
    }
    assert response.headers["Cache-Control"] == "no-store"
    assert not any(name in response.headers for name in RATE_HEADERS)
    # A key, even an unknown one, is not looked at.
    unknown = httpx.get(f"{api_url}/api/v1/health", headers={"X-API-Key": "otr_" + "x" * 43})
    assert unknown.status_code == 200


def test_health_does_not_count_against_the_key_rate_limit(make_client) -> None:
    client, _ = make_client()
    before = client.get("/leads")
    assert before.status_code == 200
    for _ in range(5):
        assert client.get("/health").status_code == 200  # with the client's key header
    after = client.get("/leads")
    remaining = int(before.headers["X-RateLimit-Remaining"])
    assert int(after.headers["X-RateLimit-Remaining"]) == remaining - 1


@pytest.fixture(scope="module")
def api_without_database() -> Iterator[str]:
    """A real `leads api` whose DATABASE_URL names a port nothing listens on."""
    url = f"postgresql://leads:secret@127.0.0.1:{free_port()}/leads"
    with running_api(url) as base:
        yield base


def test_health_is_503_when_the_database_does_not_answer(api_without_database) -> None:
    response = httpx.get(f"{api_without_database}/api/v1/health", timeout=30)
    assert response.status_code == 503, response.text
    assert response.json() == {
        "error": "the database does not answer; try again shortly",
        "code": "database_unavailable",
        "details": {"database": "unreachable"},
    }
    assert response.headers["Cache-Control"] == "no-store"
    assert "secret" not in response.text


def test_without_a_database_requests_are_503_and_the_docs_still_load(
    api_without_database,
) -> None:
    """The server starts without its database; what needs it says so with the error body."""
    base = f"{api_without_database}/api/v1"
    key = {"X-API-Key": "otr_" + "x" * 43}
    for response in (
        httpx.get(f"{base}/leads", headers=key, timeout=30),
        httpx.post(f"{base}/leads/import", json={"leads": []}, headers=key, timeout=30),
        httpx.get(f"{base}/leads", timeout=30),
    ):
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["code"] == "database_unavailable"
        assert set(body) == {"error", "code", "details"}
    assert httpx.get(f"{base}/openapi.json").status_code == 200
    assert httpx.get(f"{base}/docs").status_code == 200
