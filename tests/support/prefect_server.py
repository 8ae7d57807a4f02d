"""One temporary Prefect server for the test session (flows, the CLI and its subprocesses)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def prefect_api_url(database_url: str) -> Iterator[str]:
    """One temporary Prefect server for the session; flows and CLI subprocesses use it."""
    import prefect.settings
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    # As `leads import` does: no heartbeat thread to join at the end of every in-process run.
    no_heartbeats = temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})
    with prefect_test_harness(server_startup_timeout=180), no_heartbeats:
        yield prefect.settings.PREFECT_API_URL.value()


@pytest.fixture(scope="session")
def reliability_prefect(prefect_api_url: str) -> str:
    """The session's Prefect server, under the name the reliability modules use."""
    return prefect_api_url
