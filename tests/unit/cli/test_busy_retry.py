"""`leads_import.cli.busy_retry`: a request the local Prefect server answers 503 (its SQLite
database busy) is replayed on the server, with its body, before the 503 reaches the client."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from leads_import.cli.busy_retry import RetryWhenBusy


class DatabaseBusy(Exception):
    pass


class BusyApp:
    """Answers 503 to the first `busy` requests, then 200 with "ok". As Starlette does with
    Prefect's handler of database errors, a 503 is answered and then its error raised again."""

    def __init__(self, busy: int) -> None:
        self.busy, self.bodies, self.scopes = busy, [], []

    async def __call__(self, scope: dict[str, Any], receive, send) -> None:
        message = await receive()
        self.bodies.append(message["body"])
        self.scopes.append(dict(scope))
        scope["route"] = "set by the router"  # a replay starts from the scope as it came
        status = 503 if len(self.bodies) <= self.busy else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"busy" if status == 503 else b"ok"})
        if status == 503:
            raise DatabaseBusy


def call(
    app: BusyApp, chunks: list[bytes], pauses=(0.0, 0.0, 0.0), sent: list | None = None
) -> list[dict[str, Any]]:
    """Send an HTTP request whose body comes in `chunks`; the messages the client got (also
    in `sent`, when given)."""
    incoming = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    sent = [] if sent is None else sent

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(3600)  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(RetryWhenBusy(app, pauses)({"type": "http"}, receive, send))
    return sent


@pytest.mark.parametrize("busy", [0, 1, 3])
def test_a_busy_answer_is_replayed_with_the_whole_body_until_it_is_not(busy):
    app = BusyApp(busy)
    sent = call(app, [b'{"name": ', b'"run"}'])
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [200]
    assert [m["body"] for m in sent if m["type"] == "http.response.body"] == [b"ok"]
    assert app.bodies == [b'{"name": "run"}'] * (busy + 1)
    assert app.scopes == [{"type": "http"}] * (busy + 1)


def test_the_client_gets_the_503_once_every_replay_was_busy():
    app = BusyApp(busy=10)
    sent: list[dict[str, Any]] = []
    with pytest.raises(DatabaseBusy):  # then the server handles the error as it did before
        call(app, [b"{}"], pauses=(0.0, 0.0), sent=sent)
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [503]
    assert [m["body"] for m in sent if m["type"] == "http.response.body"] == [b"busy"]
    assert len(app.bodies) == 3  # the request, then one replay per pause


def test_a_client_gone_before_its_body_ended_is_not_run():
    app = BusyApp(busy=0)
    messages = iter(
        [{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}]
    )

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError("nothing is sent")

    asyncio.run(RetryWhenBusy(app)({"type": "http"}, receive, send))
    assert app.bodies == []


def test_other_scopes_pass_through():
    seen = []

    async def app(scope, receive, send) -> None:
        seen.append(scope["type"])

    async def never() -> dict[str, Any]:
        raise AssertionError("not read")

    asyncio.run(RetryWhenBusy(app)({"type": "lifespan"}, never, never))
    assert seen == ["lifespan"]
