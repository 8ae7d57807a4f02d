"""The per-key sliding-window rate limit, counted in PostgreSQL and shared by API processes."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from leads_import.api.rate_limit import RateDecision
from tests.support.api_server import assert_error, new_key, running_api
from tests.support.database import make_workspace

WINDOW_S = 4.0  # the short window of the shared-limit servers (room for a loaded machine)


@pytest.fixture(scope="module")
def default_api(database_url: str):
    """A server with the default limit: 100 requests per minute."""
    with running_api(database_url) as base:
        yield base


@pytest.fixture(scope="module")
def shared_apis(database_url: str):
    """Two API processes on one database, each allowing 10 requests per 4 s and key."""
    options = ("--rate-limit", "10", "--rate-window", str(WINDOW_S))
    with running_api(database_url, *options) as one, running_api(database_url, *options) as two:
        yield one, two


def test_150_requests_in_a_minute_cross_the_default_limit(default_api, db) -> None:
    headers = {"X-API-Key": new_key(db, make_workspace(db))}
    started = time.time()
    with httpx.Client(base_url=f"{default_api}/api/v1", headers=headers, timeout=30) as client:
        responses = [client.get("/leads", params={"pageSize": 1}) for _ in range(150)]
    assert time.time() - started < 60
    assert [r.status_code for r in responses] == [200] * 100 + [429] * 50
    remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in responses]
    assert remaining == [*range(99, -1, -1), *[0] * 50]
    for response in responses:
        assert response.headers["X-RateLimit-Limit"] == "100"
        reset = int(response.headers["X-RateLimit-Reset"])
        assert started < reset <= time.time() + 61
    refused = responses[-1]
    body = assert_error(refused, 429, "rate_limit_exceeded")
    reset = int(refused.headers["X-RateLimit-Reset"])
    assert body == {
        "error": "Rate limit exceeded",
        "code": "rate_limit_exceeded",
        "details": {"limit": 100, "reset": reset},
    }
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert abs(time.time() + retry_after - reset) <= 2
    # Every response of the burst says when the first request leaves the window.
    assert len({r.headers["X-RateLimit-Reset"] for r in responses}) <= 2
    # A bulk import is one request: it is refused like any other once the limit is reached.
    refused_import = httpx.post(
        f"{default_api}/api/v1/leads/import",
        json={"leads": [{"email": "late@example.com"}]},
        headers=headers,
    )
    assert_error(refused_import, 429, "rate_limit_exceeded")
    # Another key has its own window.
    other = {"X-API-Key": new_key(db, make_workspace(db))}
    fresh = httpx.get(f"{default_api}/api/v1/leads", headers=other)
    assert fresh.status_code == 200 and fresh.headers["X-RateLimit-Remaining"] == "99"


def test_two_api_processes_share_one_limit(shared_apis, db) -> None:
    one, two = shared_apis
    headers = {"X-API-Key": new_key(db, make_workspace(db))}
    statuses = [
        httpx.get(f"{(one, two)[i % 2]}/api/v1/leads", headers=headers).status_code
        for i in range(14)
    ]
    assert statuses == [200] * 10 + [429] * 4


def test_concurrent_requests_never_take_more_than_the_limit(shared_apis, db) -> None:
    headers = {"X-API-Key": new_key(db, make_workspace(db))}
    urls = [f"{shared_apis[i % 2]}/api/v1/leads" for i in range(30)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(lambda url: httpx.get(url, headers=headers).status_code, urls))
    assert Counter(statuses) == {200: 10, 429: 20}


def test_the_window_slides(shared_apis, db) -> None:
    one, two = shared_apis
    headers = {"X-API-Key": new_key(db, make_workspace(db))}
    first = httpx.get(f"{one}/api/v1/leads", headers=headers)
    # The other nine come half a window later: when the first leaves the window (at most a
    # second after t0 + W, as Reset is rounded up), they are still in it.
    time.sleep(WINDOW_S / 2)
    for _ in range(9):
        assert httpx.get(f"{two}/api/v1/leads", headers=headers).status_code == 200
    refused = httpx.get(f"{one}/api/v1/leads", headers=headers)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) <= WINDOW_S
    assert refused.headers["X-RateLimit-Reset"] == first.headers["X-RateLimit-Reset"]
    # Once the first request is out of the window, exactly one slot is free again.
    time.sleep(max(0.0, int(first.headers["X-RateLimit-Reset"]) - time.time()) + 0.05)
    freed = httpx.get(f"{two}/api/v1/leads", headers=headers)
    assert freed.status_code == 200
    assert freed.headers["X-RateLimit-Remaining"] == "0"
    assert httpx.get(f"{one}/api/v1/leads", headers=headers).status_code == 429


def test_rate_decision_headers() -> None:
    allowed = RateDecision(True, 100, 40, reset_at=1000.2, now=990.0)
    assert dict(allowed.headers()) == {
        b"X-RateLimit-Limit": b"100",
        b"X-RateLimit-Remaining": b"60",
        b"X-RateLimit-Reset": b"1001",
    }
    refused = RateDecision(False, 100, 100, reset_at=1000.2, now=990.0)
    assert dict(refused.headers())[b"Retry-After"] == b"11"
    assert RateDecision(False, 5, 5, reset_at=990.01, now=990.0).retry_after == 1
