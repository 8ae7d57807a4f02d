"""`leads serve`: run the deployments of prefect.yaml from this process, without a work pool.

prefect.yaml is read by `prefect deploy`'s own functions (its validation, its templating of
`{{ $ENV_VAR }}`, `{{ prefect.variables.* }}` and `{{ prefect.blocks.* }}`, its schedules), so
the deployments are registered with the values `prefect deploy` would give them, except that
their runs execute here: `work_pool`, `pull`, `build` and `push` are for workers and are
ignored. Three of those functions are private to Prefect's CLI (`prefect.cli.deploy._config`
and `._schedules`): a Prefect upgrade may move them, which these imports would show at once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prefect import get_client, serve
from prefect.cli.deploy._config import (
    _handle_deprecated_schedule_fields,
    _load_deploy_configs_and_actions,
)
from prefect.cli.deploy._schedules import _construct_schedules
from prefect.client.schemas.actions import DeploymentScheduleCreate, DeploymentUpdate
from prefect.deployments.runner import RunnerDeployment
from prefect.exceptions import ObjectNotFound
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.asyncutils import run_coro_as_sync
from prefect.utilities.templating import (
    PlaceholderType,
    apply_values,
    find_placeholders,
    resolve_block_document_references,
    resolve_variables,
)
from rich.console import Console

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


def _resolved(config: dict[str, Any]) -> dict[str, Any]:
    """A deployment's served keys, templated as `prefect deploy` does before its build steps."""
    config = _handle_deprecated_schedule_fields(config)  # a legacy `schedule:` to `schedules:`
    config = {key: config[key] for key in _SERVED_KEYS if key in config}
    # These two ask the API, even with nothing to resolve.
    kinds = {placeholder.type for placeholder in find_placeholders(config)}
    if PlaceholderType.BLOCK_DOCUMENT in kinds:
        config = run_coro_as_sync(resolve_block_document_references(config))
    if PlaceholderType.VARIABLE in kinds:
        config = run_coro_as_sync(resolve_variables(config))
    return apply_values(config, dict(os.environ), remove_notset=False)


def runner_deployments(config: Path) -> list[RunnerDeployment]:
    """The deployments declared in prefect.yaml, built from their flows in this process.

    Entrypoints are relative to the directory of prefect.yaml; each deployment records its
    entrypoint as written there, as `prefect deploy` does."""
    console = Console(stderr=True)
    # Prints why and returns no deployments when the file is unreadable or invalid.
    configs, _actions = _load_deploy_configs_and_actions(config, console=console)
    if not configs:
        raise UnreadableSourceError(f"no deployments to serve in {config}")
    root = config.resolve().parent
    deployments = []
    for raw in configs:
        entry = _resolved(raw)
        schedules = _construct_schedules(entry, {}, console=console, is_interactive=lambda: False)
        # Placeholders still unresolved (unset environment variables) become empty.
        entry = apply_values(
            {k: v for k, v in entry.items() if k != "schedules"},
            {},
            warn_on_notset=True,
            skip_prefixes=["ctx."],
        )
        entrypoint = entry.get("entrypoint")
        if not entry.get("name") or not entrypoint:
            raise UnreadableSourceError(f"a deployment in {config} has no name or no entrypoint")
        path, _, function = entrypoint.rpartition(":")
        flow = load_flow_from_entrypoint(f"{root / path}:{function}" if path else entrypoint)
        deployment = flow.to_deployment(
            name=entry["name"],
            description=entry.get("description"),
            tags=entry.get("tags"),
            version=entry.get("version"),
            parameters=entry.get("parameters"),
            schedules=[DeploymentScheduleCreate(**s) for s in schedules or []],
            paused=entry.get("paused"),
        )
        deployment.entrypoint = entrypoint
        if entry.get("enforce_parameter_schema") is not None:
            deployment.enforce_parameter_schema = entry["enforce_parameter_schema"]
        deployments.append(deployment)
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
