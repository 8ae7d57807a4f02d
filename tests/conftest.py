"""Shared fixtures: a real PostgreSQL (DATABASE_URL, else the embedded server), a fresh database
per session, workspaces, the session's Prefect server. Helpers live in tests/support."""

from __future__ import annotations

import functools
import http.server
import os
import threading
import uuid
from collections.abc import Iterator

import psycopg2
import pytest
from sqlalchemy.engine import make_url

import flows  # noqa: F401  (Prefect's offline defaults, before Prefect is imported)
from leads_import.db.connection import connect
from leads_import.db.schema import init_schema
from leads_import.db.settings import DATA_DIR_ENV
from leads_import.db.workspaces import Workspace
from tests.support.database import make_workspace
from tests.support.paths import DATA, TEST_DATA_DIR
from tests.support.prefect_server import prefect_api_url, reliability_prefect  # noqa: F401


def _server_url() -> str:
    """DATABASE_URL when set, else the embedded server in .cache/test-data (left running)."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        return configured
    os.environ[DATA_DIR_ENV] = str(TEST_DATA_DIR)
    TEST_DATA_DIR.mkdir(parents=True, exist_ok=True)
    from leads_import.db.connection import embedded_url

    return embedded_url()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database for this test session; DATABASE_URL points at it while tests run."""
    server = _server_url()
    name = f"leads_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(server)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    with connect(url) as conn:
        init_schema(conn)
    conn.close()
    yield url
    if previous is None:
        os.environ.pop("DATABASE_URL", None)
    else:
        os.environ["DATABASE_URL"] = previous
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg2.extensions.connection]:
    """An autocommit connection for arranging and inspecting state."""
    conn = connect(database_url)
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture
def workspace(db) -> Workspace:
    """A new, empty workspace with no plan limit."""
    return make_workspace(db)


@pytest.fixture(params=["json", "temp_table"])
def merge_input(request, monkeypatch) -> str:
    """Both ways a batch's restored and updated rows reach the merge statements: the JSON
    parameter of short batches and the temp table of long ones."""
    if request.param == "temp_table":
        monkeypatch.setattr("leads_import.db.leads.MERGE_JSON_MAX_ROWS", 0)
    return request.param


@pytest.fixture
def http_base_url() -> Iterator[str]:
    """A local HTTP server (a thread) serving tests/data, for URL sources."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(DATA))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
