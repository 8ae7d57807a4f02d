"""`leads serve`: run the deployments of prefect.yaml from this process, without a work pool.

The deployments are registered as `prefect deploy` would register them (same names, entrypoints,
parameters, schedules, templating of `{{ $ENV_VAR }}`, `{{ prefect.variables.* }}` and
`{{ prefect.blocks.* }}`), except that their runs execute here: the `work_pool` section and
the `pull` steps are for workers and are ignored.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from prefect import get_client, serve
from prefect.client.schemas.actions import DeploymentUpdate
from prefect.deployments.runner import RunnerDeployment
from prefect.exceptions import ObjectNotFound
from prefect.flows import load_flow_from_entrypoint
from prefect.schedules import Cron, Interval, RRule, Schedule
from prefect.utilities.asyncutils import run_coro_as_sync
from prefect.utilities.templating import (
    apply_values,
    resolve_block_document_references,
    resolve_variables,
)

from leads_import.errors import UnreadableSourceError

# The keys of a prefect.yaml deployment that `leads serve` reads (the rest configures workers).
_SERVED_KEYS = (
    "name",
    "entrypoint",
    "description",
    "tags",
    "version",
    "parameters",
    "schedules",
    "enforce_parameter_schema",
    "paused",
)


def _schedule(spec: dict[str, Any]) -> Schedule:
    """A prefect.yaml schedule (cron, interval or rrule, with its options) as a Schedule."""
    options = {k: spec[k] for k in ("timezone", "active", "parameters", "slug") if k in spec}
    if "cron" in spec:
        if "day_or" in spec:
            options["day_or"] = spec["day_or"]
        return Cron(spec["cron"], **options)
    if "interval" in spec:
        interval = spec["interval"]
        if isinstance(interval, int | float):
            interval = timedelta(seconds=interval)
        if "anchor_date" in spec:
            anchor = spec["anchor_date"]
            options["anchor_date"] = (
                datetime.fromisoformat(anchor) if isinstance(anchor, str) else anchor
            )
        return Interval(interval, **options)
    if "rrule" in spec:
        return RRule(spec["rrule"], **options)
    raise ValueError(f"unsupported schedule in prefect.yaml: {spec}")


def _templated(entry: dict[str, Any]) -> dict[str, Any]:
    """A deployment entry with its placeholders resolved the way `prefect deploy` does: blocks
    and variables first, then environment variables; a variable or environment variable that
    is not set becomes an empty string."""
    resolved = entry
    if "prefect.blocks." in repr(entry):  # these two ask the API
        resolved = run_coro_as_sync(resolve_block_document_references(resolved))
    if "prefect.variables." in repr(entry):
        resolved = run_coro_as_sync(resolve_variables(resolved))
    resolved = apply_values(resolved, dict(os.environ), remove_notset=False)
    return apply_values(resolved, {}, skip_prefixes=["ctx."])


def runner_deployments(config: Path) -> list[RunnerDeployment]:
    """The deployments declared in prefect.yaml, built from their flows in this process.

    Entrypoints are relative to the directory of prefect.yaml, and so are the deployments'
    recorded entrypoints when the current directory is that one (`serve_deployments` moves
    there): the same values as `prefect deploy` records."""
    spec = yaml.safe_load(config.read_text())
    root = config.resolve().parent
    deployments = []
    for raw in spec.get("deployments") or []:
        entry = _templated({k: raw[k] for k in _SERVED_KEYS if k in raw})
        path, function = entry["entrypoint"].split(":")
        flow = load_flow_from_entrypoint(f"{root / path}:{function}")
        deployments.append(
            flow.to_deployment(
                name=entry["name"],
                description=entry.get("description"),
                tags=entry.get("tags"),
                version=entry.get("version"),
                parameters=entry.get("parameters") or {},
                schedules=[_schedule(s) for s in entry.get("schedules") or []],
                enforce_parameter_schema=entry.get("enforce_parameter_schema", True),
                paused=entry.get("paused"),
            )
        )
    return deployments


def take_over(deployments: list[RunnerDeployment]) -> None:
    """Make deployments that `prefect deploy` registered under these names runnable here.

    Prefect updates an existing deployment without its storage path, so one registered for a
    work pool (no path, pull steps, a work queue) would crash every served run and stay in
    reach of the pool's workers. Point it at this process's directory and off its pool."""
    with get_client(sync_client=True) as client:
        for deployment in deployments:
            try:
                existing = client.read_deployment_by_name(deployment.full_name)
            except ObjectNotFound:
                continue
            if existing.path == "." and existing.work_pool_name is None:
                continue
            client.update_deployment(
                existing.id, DeploymentUpdate(path=".", work_pool_name=None, pull_steps=None)
            )


def serve_deployments(config: Path) -> None:
    """Register the deployments with the Prefect API and run their flow runs until stopped."""
    if not config.is_file():
        raise UnreadableSourceError(f"no {config} here: run `leads serve` from the project root")
    config = config.resolve()
    # Flow runs start in this process's directory, and entrypoints are relative to the project
    # root, as the pull step `set_working_directory` makes them for workers.
    os.chdir(config.parent)
    deployments = runner_deployments(config)
    take_over(deployments)
    serve(*deployments)
