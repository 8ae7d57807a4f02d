"""The `leads` command line (SPEC section 10)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from leads_import.cli import output
from leads_import.cli.parser import build_parser
from leads_import.errors import ImportRequestError, UnreadableSourceError

if TYPE_CHECKING:
    from leads_import.cli.progress import Display

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_REQUEST_ERROR = 2


def _prefect_handlers() -> list[logging.Handler]:
    names = ["prefect", *logging.Logger.manager.loggerDict]
    return [h for n in names if n.startswith("prefect") for h in logging.getLogger(n).handlers]


def _quiet_request_errors(hide: logging.Filter, terminal: logging.Filter) -> None:
    """Request-level errors logged without a traceback; the lines telling the run failed kept
    off the terminal (the command says it once; the run's logs on the server keep them)."""
    for handler in _prefect_handlers():
        handler.addFilter(hide)
    for handler in logging.getLogger().handlers:
        handler.addFilter(terminal)


@contextmanager
def _source_path(source: str, fmt: str | None) -> Iterator[str]:
    """The file to import: SOURCE itself, or standard input spooled to a temporary file."""
    if source != "-":
        yield source
        return
    if fmt is None:
        raise UnreadableSourceError("reading standard input (-) needs --format")
    with tempfile.TemporaryDirectory(prefix="leads-stdin-") as folder:
        path = Path(folder) / f"stdin.{fmt}"
        with path.open("wb") as spool:
            shutil.copyfileobj(sys.stdin.buffer, spool, length=1 << 20)
        yield str(path)


@contextmanager
def _shown(display: Display) -> Iterator[Display]:
    from leads_import import progress

    with display, progress.reporting(display):
        yield display


def _progress(quiet: bool) -> AbstractContextManager[object]:
    """The progress display on stderr (bars on a terminal, a few plain lines otherwise);
    nothing with --quiet."""
    from leads_import.cli.progress import display_for

    if quiet:
        return nullcontext()
    return _shown(display_for(sys.stderr))


def _in_process() -> bool:
    """Whether `leads import` runs the flow in this process: LEADS_RUNNER=off, a Prefect server
    the user configured (PREFECT_API_URL, a profile), or Prefect already loaded here with a
    server (a Python caller, the tests). Otherwise the background runner runs it."""
    from leads_import.cli import services

    return (
        not services.runner_wanted()
        or services.prefect_loaded_api_url() is not None
        or services.user_prefect_api_url() is not None
    )


def _run_import(args: argparse.Namespace) -> int:
    if _in_process():
        return _run_import_here(args)
    from leads_import.cli.client import run_import

    return run_import(args)


def _run_import_here(args: argparse.Namespace) -> int:
    """The flow run in this process (against the configured Prefect server, else a temporary
    one for the run)."""
    if "prefect" not in sys.modules:  # read once, as Prefect is imported
        # Prefect's INFO lines would tear the live display (the run's logs keep them).
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from leads_import.cli import importing
    from leads_import.cli.client import request_fields
    from leads_import.cli.services import user_prefect_api_url

    _quiet_request_errors(importing.HIDE_TRACEBACKS, importing.TERMINAL_LOGS)
    if args.commit_every is not None and args.commit_every < 1:
        raise UnreadableSourceError("--commit-every must be a positive number of rows")
    with _source_path(args.source, args.format) as path, _progress(args.quiet) as display:
        outcome = importing.run(importing.file_import(request_fields(args, path)))
        if display is not None and outcome.report is None:
            display.discard()  # the error line says what happened
    link = importing.flow_run_url(outcome.flow_run_id) if user_prefect_api_url() else None
    try:
        if outcome.error is not None:
            raise outcome.error
        if outcome.failure is not None:
            # Said once, as through the runner; the traceback is in the run's logs.
            failure = f"{type(outcome.failure).__name__}: {outcome.failure}"
            output.print_error(failure, "unexpected_error", {}, args.json)
            return EXIT_FAILURE
        result = outcome.report
        assert result is not None
        if args.source == "-":
            result["source"] = "-"
        if args.json:
            print(json.dumps(result))
        else:
            output.print_summary(result)
    finally:
        if link:
            sys.stdout.flush()
            print(f"Prefect UI: {link}", file=sys.stderr)
    return EXIT_OK


def _workspace(args: argparse.Namespace) -> int:
    """`leads workspace create|update|list`."""
    from leads_import.db import connection as database
    from leads_import.db import schema, workspaces

    given = {k: getattr(args, k) for k in ("name", "contact_limit") if hasattr(args, k)}
    with database.transaction() as conn:
        schema.ensure_schema(conn)
        if args.workspace_command == "list":
            listed = workspaces.list_workspaces(conn)
        elif args.workspace_command == "update":
            if not given:
                raise ImportRequestError("nothing to update: give --name or --contact-limit")
            found = workspaces.update_workspace(conn, args.slug, **given)
        else:
            found, created = workspaces.ensure_workspace(conn, args.slug, **given)
    if args.workspace_command == "list":
        if args.json:
            print(json.dumps([ws.to_json() for ws in listed]))
        else:
            output.print_workspaces(listed)
        return EXIT_OK
    if args.workspace_command == "update":
        print(f'updated workspace "{found.slug}": {output.workspace_values(found)}')
    elif created:
        print(f'created workspace "{found.slug}" (id {found.id}): {output.workspace_values(found)}')
    else:
        print(f'workspace "{found.slug}" exists (id {found.id}), unchanged')
    if found.contact_limit is not None and found.active_leads > found.contact_limit:
        print(
            f"note: it has {found.active_leads:,} active leads, more than its limit: imports "
            "that would add leads are refused"
        )
    return EXIT_OK


def _ui_base() -> str | None:
    """The Prefect UI runs are linked to: PREFECT_UI_URL, the user's Prefect server, the one
    loaded here, else the background server when it runs."""
    from leads_import.cli import services

    if os.environ.get("PREFECT_UI_URL"):
        return os.environ["PREFECT_UI_URL"].rstrip("/")
    api = services.user_prefect_api_url() or services.prefect_loaded_api_url()
    if api:
        return api.rstrip("/").removesuffix("/api")
    server = services.running_server(services.Layout.current())
    return server.url if server is not None else None


def _show_run(args: argparse.Namespace) -> int:
    """`leads runs show ID`: what the run recorded, its flow run, its kept outcomes."""
    from leads_import.db.runs import find_run
    from leads_import.engine.kept_outcomes import kept_path, read_kept
    from leads_import.errors import RunNotFoundError

    run = find_run(args.run_id)
    if run is None:
        raise RunNotFoundError(args.run_id)
    base = _ui_base()
    flow_run = run["flowRunId"]
    run["flowRunUrl"] = f"{base}/runs/flow-run/{flow_run}" if base and flow_run else None
    finished, started = run["finishedAt"], run["startedAt"]
    run["durationMs"] = round((finished - started).total_seconds() * 1000, 1)
    outcomes = read_kept(flow_run)
    run["outcomesPath"] = str(kept_path(flow_run)) if outcomes is not None else None
    if args.json:
        run["outcomes"] = outcomes.to_dicts() if outcomes is not None else None
        print(json.dumps(run, default=str))
    else:
        output.print_run(run, outcomes, max(0, args.rows))
    return EXIT_OK


def _list_runs(args: argparse.Namespace) -> int:
    if getattr(args, "runs_command", None) == "show":
        return _show_run(args)
    from leads_import.db.runs import recent_runs

    if args.workspace is not None:
        _check_workspace_exists(args.workspace)
    runs = recent_runs(args.workspace, max(1, args.limit))
    if args.json:
        print(json.dumps(runs, default=str))
    else:
        output.print_runs(runs)
    return EXIT_OK


def _check_workspace_exists(slug: str) -> None:
    """WorkspaceNotFoundError (exit 2) unless `slug` names a workspace."""
    from leads_import.db import connection as database
    from leads_import.db import schema
    from leads_import.db.workspaces import find_workspace

    with database.transaction() as conn:
        schema.ensure_schema(conn)
        find_workspace(conn, slug)


def _sync(args: argparse.Namespace) -> int:
    """`leads sync run|state|reset`."""
    from leads_import.cli import syncs

    if args.sync_command == "state":
        syncs.print_states(syncs.states(args.workspace), args.json)
        return EXIT_OK
    if args.sync_command == "reset":
        stored = syncs.reset(args.name, args.workspace, yes=args.yes, confirm=syncs.ask)
        print(
            f"sync {args.name} of workspace {args.workspace}: watermark forgotten (it was "
            f"{stored['cursor_column']} = {syncs.watermark_text(stored['watermark'])})"
        )
        return EXIT_OK
    return _sync_run(args)


class _NoConsoleErrors(logging.Filter):
    """Prefect's console lines at ERROR and above are left out: the command says the error
    once itself (the Prefect UI keeps them, with their tracebacks)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR


@contextmanager
def _quiet_console_errors() -> Iterator[None]:
    quiet = _NoConsoleErrors()
    everywhere = [*_prefect_handlers(), *logging.getLogger().handlers]  # Prefect's console: root
    handlers = [h for h in everywhere if isinstance(h, logging.StreamHandler)]
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)


def _sync_run(args: argparse.Namespace) -> int:
    """`leads sync run`: the flow in this process, against the Prefect server the user
    configured, else the background one `leads` keeps (LEADS_RUNNER=off: a temporary one)."""
    if not _in_process():
        from leads_import.cli.services import Layout, ServiceError, ensure_server

        try:
            server = ensure_server(Layout.current(), lambda text: print(text, file=sys.stderr))
        except ServiceError as error:
            message = f"{error} (LEADS_RUNNER=off runs without background services)"
            output.print_error(message, "service_unavailable", {}, args.json)
            return 1
        os.environ["PREFECT_API_URL"] = server.api_url
        os.environ["PREFECT_UI_URL"] = server.url
    import flows.sync_flow  # noqa: F401  (Prefect's logging set up before it is quietened)
    from leads_import.cli import importing, syncs

    with _quiet_console_errors():
        outcome = syncs.run(args)
    code = EXIT_OK
    if outcome.error is not None:
        error = outcome.error
        output.print_error(str(error), error.code, error.details(), args.json)
        code = error.exit_code
    elif outcome.failure is not None:
        failure = outcome.failure
        message = f"the sync failed: {type(failure).__name__}: {failure}"
        output.print_error(message, "unexpected_error", {}, args.json)
        code = 1
    else:
        report = outcome.report
        assert report is not None
        if args.json:
            print(json.dumps(report))
        else:
            output.print_summary({**report, "source": f"sync {args.name}"})
            watermark = syncs.watermark_text(report.get("watermark"))
            print(f"  watermark  {report.get('cursorColumn') or '-'} = {watermark or '-'}")
    link = importing.flow_run_url(outcome.flow_run_id)
    if link:
        sys.stdout.flush()
        print(f"Prefect UI: {link}", file=sys.stderr)
    return code


def _api_keys(args: argparse.Namespace) -> int:
    from leads_import.db import api_keys as keys
    from leads_import.db import connection as database
    from leads_import.db import schema
    from leads_import.db.workspaces import resolve_workspace

    with database.transaction() as conn:
        schema.ensure_schema(conn)
        if args.api_key_command == "create":
            created = keys.create_key(conn, resolve_workspace(conn, args.workspace), args.name)
            print(
                f"API key {created.id} ({created.prefix}) for workspace {created.workspace}; "
                "it is shown only now, store it:"
            )
            print(created.key)
        elif args.api_key_command == "revoke":
            try:
                key_id, slug, prefix = keys.revoke_key(conn, args.key, args.workspace)
            except keys.KeySelectionError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return EXIT_REQUEST_ERROR
            print(f"revoked API key {key_id} ({prefix}) of workspace {slug}")
        else:
            listed = keys.list_keys(conn, args.workspace)
            if args.json:
                print(json.dumps(listed, default=str))
            else:
                output.print_keys(listed)
    return EXIT_OK


def _headers(readme: str | None) -> int:
    from transforms.fields import header_table, with_header_table

    if readme is None:
        print(header_table())
        return EXIT_OK
    path = Path(readme)
    try:
        path.write_text(with_header_table(path.read_text(encoding="utf-8")), encoding="utf-8")
    except (OSError, ValueError) as error:
        raise UnreadableSourceError(f"cannot update {readme}: {error}") from None
    print(f"updated the header table in {readme}")
    return EXIT_OK


def _stop() -> int:
    """`leads stop` (and `leads db stop`): every import runner, the Prefect server and the
    embedded PostgreSQL that `leads` started in this data directory."""
    from leads_import.cli.services import Layout, stop_all
    from leads_import.db import connection as database

    for line in stop_all(Layout.current()):
        print(line)
    try:
        stopped = database.stop_embedded()
    except database.EmbeddedStopError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    if stopped.pid is None:
        print("embedded PostgreSQL was not running")
        return EXIT_OK
    print(f"embedded PostgreSQL stopped (pid {stopped.pid})")
    for pid in stopped.users:
        print(f"  it was in use by pid {pid} ({_command_of(pid)}), which lost its connections")
    return EXIT_OK


def _command_of(pid: int) -> str:
    import psutil

    try:
        return " ".join(psutil.Process(pid).cmdline())[:100] or "?"
    except psutil.Error:
        return "?"


def _status() -> int:
    """`leads status`: the background services and where the Prefect UI is."""
    from leads_import.cli.services import Layout, describe, user_prefect_api_url
    from leads_import.db.connection import embedded_pgdata
    from leads_import.db.settings import DATABASE_URL_ENV

    layout = Layout.current()
    rows = describe(layout)
    configured = os.environ.get(DATABASE_URL_ENV)
    if configured:
        rows.append(("PostgreSQL", f"{DATABASE_URL_ENV} ({_hide_password(configured)})"))
    else:
        pid_file = embedded_pgdata() / "postmaster.pid"
        state = "running" if _postmaster_runs(pid_file) else "not running"
        rows.append(("PostgreSQL", f"embedded, {state} ({embedded_pgdata()})"))
    user_url = user_prefect_api_url()
    if user_url:
        rows.append(("PREFECT_API_URL", f"{user_url} (imports run there, in-process)"))
    for label, text in rows:
        print(f"{label:<16} {text}")
    return EXIT_OK


def _hide_password(url: str) -> str:
    import re

    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def _postmaster_runs(pid_file: Path) -> bool:
    from leads_import.cli.services import alive

    try:
        return alive(int(pid_file.read_text().split()[0]))
    except (OSError, ValueError, IndexError):
        return False


def _run(args: argparse.Namespace) -> int:
    if args.command == "import":
        return _run_import(args)
    if args.command in ("stop", "status") or (args.command == "db" and args.db_command == "stop"):
        return _stop() if args.command != "status" else _status()

    from leads_import.db import connection as database
    from leads_import.db import schema

    if args.command == "runs":
        return _list_runs(args)
    if args.command == "sync":
        return _sync(args)
    if args.command == "serve":
        from flows.deployments import serve_deployments

        serve_deployments(Path(args.config))
        return EXIT_OK
    if args.command == "api":
        from leads_import.api.server import serve

        serve(
            args.host,
            args.port,
            rate_limit=args.rate_limit,
            rate_window=args.rate_window,
            workers=args.workers,
            log_level=args.log_level,
        )
        return EXIT_OK
    if args.command == "api-key":
        return _api_keys(args)
    if args.command == "headers":
        return _headers(args.readme)
    if args.command == "db" and args.db_command == "url":
        print(database.database_url())
        return EXIT_OK
    if args.command == "db":  # db init; the version is printed once its transaction committed
        with database.transaction() as conn:
            upgrade = schema.init_schema(conn)
        print(upgrade.summary())
        return EXIT_OK
    if args.command == "workspace":
        return _workspace(args)
    if args.command == "delete":
        from leads_import.engine import soft_delete_leads

        deleted = soft_delete_leads(args.workspace, args.emails)
        print(f"soft-deleted {len(deleted)} lead(s)")
        for email in deleted:
            print(f"  {email}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `leads` console script; returns the exit code of SPEC section 8."""
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except ImportRequestError as exc:
        output.print_error(str(exc), exc.code, exc.details(), getattr(args, "json", False))
        return exc.exit_code


def console() -> None:
    """The console script: exit with main's code."""
    sys.exit(main())


if __name__ == "__main__":
    console()
