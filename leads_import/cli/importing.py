"""One `leads import` request as an `import-leads` flow run, in the import runner or in the
command's own process: the request-level checks that need no data first (answered without a
flow run), then the flow. Imports Prefect and the flows: never on the command's fast path."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pydantic import ValidationError

import flows  # noqa: F401  (Prefect's offline defaults, before Prefect is imported)
from flows.import_flow import FileImport, import_leads_flow
from flows.labels import tagged
from leads_import.db.runs import KIND_FILE
from leads_import.db.settings import DEFAULT_WORKSPACE
from leads_import.errors import ImportRequestError, check_outcomes_path
from leads_import.progress import reporter
from leads_import.readers.fetch import is_url
from leads_import.readers.formats import check_readable, detect_format

if TYPE_CHECKING:
    from prefect import Flow

# Formats whose header is read without reading the data (checked before a flow run starts).
HEADER_FORMATS = ("csv", "tsv", "parquet")


class HideRequestErrorTracebacks(logging.Filter):
    """Expected request-level failures are logged as one line, without a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], ImportRequestError):
            record.exc_info = None
            record.exc_text = None
        return True


RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")


class TerminalLogs(logging.Filter):
    """What the terminal is not shown of a run's logs: the lines telling that the flow or a
    task run failed (the command says it once, as `error: …`) and its warnings (the report
    carries them: the summary's `warning:` lines, or `--json`'s). They still reach the run's logs
    on the Prefect server: its API handler sits on the run loggers, before they propagate to
    a terminal's handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno >= logging.WARNING and record.name.startswith(RUN_LOGGERS))


HIDE_TRACEBACKS: Final = HideRequestErrorTracebacks()
TERMINAL_LOGS: Final = TerminalLogs()


@dataclass
class Outcome:
    """What became of a request: a report, a request-level error, or an unexpected failure;
    with the flow run, when one was started."""

    report: dict[str, Any] | None = None
    error: ImportRequestError | None = None
    failure: BaseException | None = None
    flow_run_id: str | None = None


def file_import(fields: dict[str, Any]) -> FileImport:
    """The flow's parameters; invalid ones are a request-level error."""
    try:
        return FileImport(**fields)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise ImportRequestError(f"invalid request: {problems}") from None


def check_request(request: FileImport) -> None:
    """Raise the request-level errors that need no data: an unreadable file, an outcomes path
    that cannot be written, a file format whose header has no email column (CSV, TSV, Parquet:
    only the header is read), an unknown workspace. Anything this cannot tell is left to the
    flow run."""
    if not is_url(request.source):
        path = Path(request.source)
        check_readable(path)
    check_outcomes_path(request.outcomes)
    if not is_url(request.source):
        path = Path(request.source)
        if detect_format(path, request.format) in HEADER_FORMATS:
            from leads_import.readers.sources import open_source

            open_source(path, request.format, sheet=request.sheet, columns=request.column_rules())
    if request.workspace != DEFAULT_WORKSPACE:
        _check_workspace(request.workspace)


def _check_workspace(slug: str) -> None:
    import psycopg2

    from leads_import.db.connection import transaction
    from leads_import.db.workspaces import find_workspace

    try:
        with transaction() as conn:
            find_workspace(conn, slug)
    except psycopg2.Error:
        return  # no schema yet, or the database is down: the flow run will say


def run(request: FileImport) -> Outcome:
    """Check the request, then run the flow (in this thread); never raises an Exception."""
    try:
        check_request(request)
    except ImportRequestError as error:
        return Outcome(error=error)
    reporter().phase("starting the flow run")
    return run_flow(import_leads_flow, request, KIND_FILE, request.workspace)


def run_flow(flow: Flow[Any, Any], request: Any, kind: str, workspace: str) -> Outcome:
    """Run `flow(request)` in this thread as a flow run tagged with its kind and workspace;
    what became of it. Never raises an Exception."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    # Heartbeats tell a server a run has crashed; joining their thread at the end of a run
    # costs up to a second, most of a short import.
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        try:
            with tagged(kind, workspace):
                state = flow(request, return_state=True)
        except Exception as failure:  # the engine itself failed (the server is unreachable)
            return Outcome(failure=failure)
    run_id = state.state_details.flow_run_id
    outcome = Outcome(flow_run_id=str(run_id) if run_id else None)
    result = state.result(raise_on_failure=False)
    if isinstance(result, ImportRequestError):
        outcome.error = result
    elif isinstance(result, BaseException):
        outcome.failure = result
    else:
        outcome.report = result
    return outcome


def ui_url() -> str | None:
    """The Prefect UI of the configured server, if any."""
    from prefect.settings import PREFECT_UI_URL

    value = PREFECT_UI_URL.value()
    return str(value).rstrip("/") if value else None


def flow_run_url(flow_run_id: str | None) -> str | None:
    base = ui_url()
    return f"{base}/runs/flow-run/{flow_run_id}" if base and flow_run_id else None
