"""How flow runs behave around failures: which errors are retried, and how every run, failed
ones included, lands in `import_runs`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from prefect import Flow, Task
from prefect.client.schemas.objects import FlowRun, TaskRun
from prefect.runtime import flow_run as current_flow_run
from prefect.states import State
from prefect.tasks import exponential_backoff
from pydantic import BaseModel

from leads_import.db.connection import transaction
from leads_import.db.runs import RunAudit, record_failed_run
from leads_import.db.workspaces import find_workspace
from leads_import.errors import WorkspaceNotFoundError
from leads_import.transient import is_transient

logger = logging.getLogger(__name__)


def transient_database_failure(task: Task[..., Any], task_run: TaskRun, state: State) -> bool:
    """Prefect's retry condition: retry only transient database failures."""
    error = state.result(raise_on_failure=False)
    retry = isinstance(error, BaseException) and is_transient(error)
    if isinstance(error, BaseException) and not retry:
        logger.debug("%s failed for good: %s", task.name, error)
    return retry


# Task options: three more attempts after 2, 4 and 8 seconds (jittered), transient errors only.
DATABASE_RETRIES: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": exponential_backoff(backoff_factor=2),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": transient_database_failure,
}


def new_audit(kind: str, request: Any, *, source: str | None) -> RunAudit:
    """The audit record of the current flow run for a request (a parameters model)."""
    return RunAudit(
        kind=kind,
        source=source,
        parameters=request.audit_parameters(),
        idempotency_key=getattr(request, "idempotency_key", None),
        flow_run_id=current_flow_run.id,
    )


def failure_recorder(
    kind: str, model: type[BaseModel]
) -> Callable[[Flow[..., Any], FlowRun, State], None]:
    """An on_failure hook writing the failed run's `import_runs` row (its data rolled back)."""

    def record_failure(flow: Flow[..., Any], flow_run: FlowRun, state: State) -> None:
        request: Any = model.model_validate(flow_run.parameters["request"])
        try:
            with transaction() as conn:
                workspace_id = find_workspace(conn, request.workspace).id
        except WorkspaceNotFoundError:
            return  # nothing to attach the row to
        error = state.result(raise_on_failure=False)
        if not isinstance(error, BaseException):
            error = RuntimeError(state.message or "failed")
        audit = RunAudit(
            kind=kind,
            source=getattr(request, "source", None) or getattr(request, "name", None),
            parameters=request.audit_parameters(),
            flow_run_id=str(flow_run.id),
        )
        if flow_run.start_time is not None:
            audit.started_at = flow_run.start_time
        record_failed_run(workspace_id, audit, error)

    return record_failure
