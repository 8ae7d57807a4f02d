"""The HTTP tests' server and clients: one `leads api` for the session, a client per workspace."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from leads_import.db.workspaces import Workspace
from tests.support.api_server import new_key, running_api
from tests.support.database import make_workspace


@pytest.fixture(scope="session")
def api_url(database_url: str) -> Iterator[str]:
    """One server for the functional tests, with a limit they never reach."""
    with running_api(database_url, "--rate-limit", "100000") as base:
        yield base


@pytest.fixture
def make_client(api_url: str, db) -> Iterator[Callable[..., tuple[httpx.Client, Workspace]]]:
    """A client with a new key of a new workspace (or of the workspace given)."""
    clients: list[httpx.Client] = []

    def _make(workspace: Workspace | None = None, contact_limit: int | None = None):
        target = workspace or make_workspace(db, contact_limit=contact_limit)
        client = httpx.Client(
            base_url=f"{api_url}/api/v1",
            headers={"X-API-Key": new_key(db, target)},
            timeout=30,
        )
        clients.append(client)
        return client, target

    yield _make
    for client in clients:
        client.close()
