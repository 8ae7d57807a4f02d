"""`leads serve`: run the deployments of prefect.yaml from this process, without a work pool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.flows import load_flow_from_entrypoint
from prefect.schedules import Cron, Interval, Schedule

from transforms.errors import UnreadableSourceError


def _schedule(spec: dict[str, Any]) -> Schedule:
    options = {k: spec[k] for k in ("timezone", "active", "parameters", "slug") if k in spec}
    if "cron" in spec:
        return Cron(spec["cron"], **options)
    if "interval" in spec:
        return Interval(spec["interval"], **options)
    raise ValueError(f"unsupported schedule in prefect.yaml: {spec}")


def runner_deployments(config: Path) -> list[RunnerDeployment]:
    """The deployments declared in prefect.yaml, built from their flows in this process."""
    spec = yaml.safe_load(config.read_text())
    root = config.resolve().parent
    deployments = []
    for entry in spec.get("deployments") or []:
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
            )
        )
    return deployments


def serve_deployments(config: Path) -> None:
    """Register the deployments with the Prefect API and run their flow runs until stopped."""
    if not config.is_file():
        raise UnreadableSourceError(f"no {config} here: run `leads serve` from the project root")
    serve(*runner_deployments(config))
