"""Readable flow run names (`import-<workspace>-<file>`, `sync-<workspace>-<name>`) and tags
(`workspace:<slug>`, `kind:file|sync`), so the Prefect UI can find and filter runs.

The name is Prefect's `flow_run_name` callable, read from the run's `request` parameter. The
tags are given when the run is created where we create it (`tagged`, around the flow call: no
extra API call); a run created elsewhere (a deployment, a test) gets them from `tag_run` at its
start, one update of the flow run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final
from urllib.parse import urlsplit

from prefect import tags
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.context import FlowRunContext
from prefect.runtime import flow_run as current_flow_run

from leads_import.db.settings import DEFAULT_WORKSPACE

KIND_TAG: Final = "kind:"
WORKSPACE_TAG: Final = "workspace:"


def run_tags(kind: str, workspace: str) -> list[str]:
    """The tags of a flow run of this kind in this workspace."""
    return [f"{WORKSPACE_TAG}{workspace}", f"{KIND_TAG}{kind}"]


@contextmanager
def tagged(kind: str, workspace: str) -> Iterator[None]:
    """Flow runs created inside get the run's tags from the start."""
    with tags(*run_tags(kind, workspace)):
        yield


def _request_field(name: str, default: str = "") -> str:
    request: Any = current_flow_run.parameters.get("request")
    value = request.get(name) if isinstance(request, dict) else getattr(request, name, None)
    return str(value) if value not in (None, "") else default


def file_name(source: str) -> str:
    """The last part of a path or URL (`leads.csv` of `https://host/x/leads.csv?token=…`)."""
    path = urlsplit(source).path if "://" in source else source
    return path.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1] or source


def run_name(kind: str, what: Callable[[], str]) -> Callable[[], str]:
    """A `flow_run_name` callable: `<kind>-<workspace>-<what>`."""

    def name() -> str:
        return f"{kind}-{_request_field('workspace', DEFAULT_WORKSPACE)}-{what()}"

    return name


import_run_name = run_name("import", lambda: file_name(_request_field("source", "file")))
sync_run_name = run_name("sync", lambda: _request_field("name", "sync"))


def tag_run(kind: str, workspace: str) -> None:
    """Add the run's tags to the current flow run, unless it was created with them."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    have = list(context.flow_run.tags or [])
    missing = [tag for tag in run_tags(kind, workspace) if tag not in have]
    if not missing:
        return
    wanted = [*have, *missing]
    if isinstance(context.client, SyncPrefectClient):
        context.client.update_flow_run(context.flow_run.id, tags=wanted)
    else:
        with get_client(sync_client=True) as client:
            client.update_flow_run(context.flow_run.id, tags=wanted)
    context.flow_run.tags = wanted
