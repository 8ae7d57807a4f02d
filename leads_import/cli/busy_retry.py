"""An ASGI wrapper for the local Prefect server: a request its SQLite database answered with 503
is run again on the server after a short pause, before the 503 reaches the client.

Prefect's server answers 503 when SQLite reports the database busy (a transaction that read,
then wanted to write after another one committed: SQLITE_BUSY_SNAPSHOT, which SQLite does not
wait out). Nothing was written, and Prefect's client retries, but only after two seconds: one
import in a few dozen waited that long (measured: 1 of 100 flow runs, 3.0 s instead of 1.1).
Here the request is replayed within a few milliseconds; only when every replay is busy too does
the client see the 503 and fall back to its own retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

BUSY: Final = 503
PAUSES: Final = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)  # seconds before each replay


class RetryWhenBusy:
    """Wrap `app`: an HTTP request answered 503 is replayed after each of `pauses`."""

    def __init__(self, app: App, pauses: tuple[float, ...] = PAUSES) -> None:
        self.app, self.pauses = app, pauses

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body, ended = await _read_body(receive)
        if not ended:  # the client went away before its request was whole
            return
        for pause in self.pauses:
            if await self._attempt(scope, body, receive, send, last=False):
                return
            await asyncio.sleep(pause)
        await self._attempt(scope, body, receive, send, last=True)

    async def _attempt(
        self, scope: MutableMapping[str, Any], body: bytes, receive: Receive, send: Send, last: bool
    ) -> bool:
        """Run the request once; False when it was answered 503 and may be replayed."""
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the client's disconnect, when it comes

        async def answer(message: Message) -> None:
            nonlocal busy
            if message["type"] == "http.response.start":
                busy = message["status"] == BUSY and not last
            if not busy:  # a busy answer is dropped whole: the request is replayed
                await send(message)

        busy = False
        try:
            await self.app(dict(scope), replay, answer)
        except Exception:
            # Starlette raises the error again once its handler has answered (the 503): with
            # that answer dropped, the error is ours to swallow, as the request is replayed.
            if not busy:
                raise
        return not busy


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The request's whole body, and whether it arrived whole."""
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", False
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts), True
