"""Real API servers: `leads api` in a subprocess on a free port; keys and response checks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from leads_import.db.api_keys import create_key
from leads_import.db.workspaces import Workspace
from tests.support.paths import REPO

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
STARTUP_TIMEOUT_S = 60
LOG_DIR = REPO / ".cache" / "test-logs"  # a server's output, api-<port>.log, kept on failure


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_api(database_url: str, *options: str) -> Iterator[str]:
    """Start `leads api` with these options; yield its base URL; stop it at the end."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url}
    for name in ("LEADS_API_RATE_LIMIT", "LEADS_API_RATE_WINDOW"):
        env.pop(name, None)
    command = [sys.executable, "-m", "leads_import.cli", "api", "--port", str(port)]
    command += ["--log-level", "warning", *options]
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"api-{port}.log"
    with log_path.open("w+b") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(process, base, log)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    if b"Traceback" not in log_path.read_bytes():
        log_path.unlink()  # kept only when the server logged a failure


def _wait_ready(process: subprocess.Popen, base: str, log) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"the API server exited:\n{log.read().decode(errors='replace')}")
        try:
            if httpx.get(f"{base}/api/v1/openapi.json", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the API server did not answer within {STARTUP_TIMEOUT_S} s")


def new_key(db, workspace: Workspace) -> str:
    return create_key(db, workspace, "test").key


def assert_rate_headers(response: httpx.Response) -> None:
    for name in RATE_HEADERS:
        assert name in response.headers, f"{name} missing from a {response.status_code}"
        assert int(response.headers[name]) >= 0


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    """The response is the error body of SPEC 9 with this status and code; returns it."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "code", "details"}, body
    assert body["code"] == code, body
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["details"], dict)
    assert_rate_headers(response)
    return body
