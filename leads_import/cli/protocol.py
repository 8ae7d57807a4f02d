"""The messages between `leads import` and the import runner: one JSON object a line over the
runner's Unix socket.

The command sends one request:

    {"op": "import", "key", "fingerprint", "prefect", "request": {FileImport fields},
     "progress": bool, "logLevel": int}
    {"op": "ping"} | {"op": "stop"}

and the runner answers `{"type": "accepted"}` once it takes the request (a command whose runner
went away before that asks another one), any number of progress and log messages, each sent as
it happens (`progress: false` in the request: only the log messages)

    {"type": "progress", "stage": "read" | "prepared" | "written", "rows"}   (rows more)
    {"type": "total", "rows"}            (about how many rows the input holds)
    {"type": "bytes", "done", "total"}   (bytes of the file read, of its size)
    {"type": "phase", "text"}            (what the run waits on; null: the counts move again)
    {"type": "log", "level", "text"}

then one of

    {"type": "result", "report", "flowRunId", "flowRunUrl"}
    {"type": "error", "message", "code", "details", "exitCode", "flowRunId", "flowRunUrl"}
    {"type": "failure", "message", "flowRunId", "flowRunUrl"}     (unexpected: exit code 1)
    {"type": "stale"}       (this runner serves other code or settings: start a new one)
    {"type": "pong", "pid", "active"}

Closing the connection before the answer cancels the run (Ctrl-C in the command).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any, BinaryIO, Final

FINAL: Final = frozenset({"result", "error", "failure", "stale", "pong"})


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, default=str, separators=(",", ":")).encode() + b"\n"


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.sendall(encode(message))


def messages(stream: BinaryIO) -> Iterator[dict[str, Any]]:
    """The messages read from `stream` until it ends."""
    for line in stream:
        if line.strip():
            yield json.loads(line)
