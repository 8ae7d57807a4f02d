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
from datetime import UTC
from pathlib import Path
from typing import Any

from leads_import.db.workspaces import DEFAULT_WORKSPACE
from leads_import.errors import ImportRequestError, UnreadableSourceError
from leads_import.readers.formats import FORMATS

EXIT_OK = 0
EXIT_REQUEST_ERROR = 2


def _positive(kind: type) -> Any:
    """An argparse type: a number of `kind` above zero."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leads", description="Bulk lead import into PostgreSQL with a dedup report."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="manage the database").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("init", help="create or upgrade the schema (idempotent)")
    db.add_parser("url", help="print the database URL in use (starts the embedded server)")
    db.add_parser("stop", help="stop the embedded PostgreSQL server")

    workspace = commands.add_parser("workspace", help="manage workspaces").add_subparsers(
        dest="workspace_command", required=True
    )
    create = workspace.add_parser("create", help="create a workspace")
    create.add_argument("slug")
    create.add_argument("--name")
    create.add_argument("--contact-limit", type=int, metavar="N")

    imp = commands.add_parser("import", help="import a file of leads")
    imp.add_argument(
        "source",
        help="a .csv, .tsv, .json, .ndjson, .jsonl, .parquet or .xlsx file (text formats may be "
        "gzip-compressed, e.g. .csv.gz), or - for standard input (with --format)",
    )
    imp.add_argument("--workspace", default=DEFAULT_WORKSPACE, metavar="SLUG")
    imp.add_argument(
        "--no-restore", action="store_true", help="count soft-deleted matches as duplicates"
    )
    imp.add_argument("--dry-run", action="store_true", help="classify and report, write nothing")
    imp.add_argument("--json", action="store_true", help="print the report as one JSON document")
    imp.add_argument("--outcomes", metavar="PATH", help="write every row's outcome to a CSV file")
    imp.add_argument("--format", choices=FORMATS, help="the reader to use, whatever the name")
    imp.add_argument("--sheet", metavar="NAME", help="the XLSX sheet to read (default: the first)")
    imp.add_argument(
        "--commit-every",
        type=int,
        metavar="N",
        help="commit after every N rows instead of once at the end (long backfills)",
    )
    imp.add_argument(
        "--on-existing",
        choices=("skip", "fill_empty", "overwrite"),
        default="skip",
        help="a row whose email has an active lead: a duplicate (skip, the default), fills the "
        "lead's empty fields (fill_empty) or replaces them (overwrite); changes count as updated",
    )
    imp.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="a key that already committed returns that run's report and writes nothing",
    )
    imp.add_argument("--quiet", action="store_true", help="no progress display on stderr")

    runs = commands.add_parser("runs", help="list recent import runs")
    runs.add_argument("--workspace", metavar="SLUG", help="only this workspace's runs")
    runs.add_argument("--limit", type=int, default=20, metavar="N", help="how many (default 20)")
    runs.add_argument("--json", action="store_true", help="print the runs as one JSON document")

    serve = commands.add_parser(
        "serve", help="serve the deployments of prefect.yaml from this process (no work pool)"
    )
    serve.add_argument(
        "--config", default="prefect.yaml", metavar="PATH", help="the prefect.yaml to read"
    )

    api = commands.add_parser("api", help="serve the HTTP API (SPEC section 9)")
    api.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    api.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    api.add_argument(
        "--rate-limit",
        type=_positive(int),
        metavar="N",
        help="requests per window and API key (default 100, or LEADS_API_RATE_LIMIT)",
    )
    api.add_argument(
        "--rate-window",
        type=_positive(float),
        metavar="SECONDS",
        help="the sliding window's length (default 60, or LEADS_API_RATE_WINDOW)",
    )
    api.add_argument("--workers", type=_positive(int), default=1, metavar="N", help="processes (1)")
    api.add_argument("--log-level", default="info", help="uvicorn's log level (info)")

    api_key = commands.add_parser("api-key", help="manage HTTP API keys").add_subparsers(
        dest="api_key_command", required=True
    )
    key_create = api_key.add_parser(
        "create", help="create a key; it is printed once, as the last line"
    )
    key_create.add_argument("--workspace", default=DEFAULT_WORKSPACE, metavar="SLUG")
    key_create.add_argument("--name", help="a label for the key")
    key_revoke = api_key.add_parser("revoke", help="revoke a key")
    key_revoke.add_argument("key", metavar="KEY", help="the key itself, its id or its prefix")
    key_revoke.add_argument("--workspace", metavar="SLUG", help="only a key of this workspace")
    key_list = api_key.add_parser("list", help="list keys (never their value)")
    key_list.add_argument("--workspace", metavar="SLUG", help="only this workspace's keys")
    key_list.add_argument("--json", action="store_true", help="print the keys as JSON")

    delete = commands.add_parser("delete", help="soft delete leads by email")
    delete.add_argument("--workspace", required=True, metavar="SLUG")
    delete.add_argument("emails", nargs="+", metavar="EMAIL")
    return parser


def _print_summary(report: dict[str, Any]) -> None:
    title = f'Imported {report.get("source", "leads")} into workspace "{report["workspace"]}"'
    if report.get("replayed"):
        title += f" (already done by run {report['runId']}: nothing written)"
    print(title + (" (dry run: nothing written)" if report["dryRun"] else ""))
    rows = [(k, report[k]) for k in ("created", "restored", "updated", "duplicates", "errors")]
    rows.append(("total", report["total"]))
    for label, value in rows:
        print(f"  {label:<11}{value:>10,}")
    if report.get("remainingCapacity") is not None:
        print(f"  {'capacity left':<11}{report['remainingCapacity']:>8,}")
    for warning in report.get("warnings", []):
        print(f"warning: {warning}")
    duplicates = report["duplicateEmails"]
    if duplicates:
        print(f"Duplicate emails (first {min(10, len(duplicates))} of {report['duplicates']:,}):")
        print("  " + ", ".join(duplicates[:10]))
    errors = report["errorDetails"]
    if errors:
        print(f"Errors (first {min(10, len(errors))} of {report['errors']:,}):")
        for detail in errors[:10]:
            print(
                f"  row {detail['index']:<6} {json.dumps(detail['email']):<32} {detail['reason']}"
            )


class _HideRequestErrorTracebacks(logging.Filter):
    """Expected request-level failures are logged as one line, without a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], ImportRequestError):
            record.exc_info = None
            record.exc_text = None
        return True


def _prefect_handlers() -> list[logging.Handler]:
    names = ["prefect", *logging.Logger.manager.loggerDict]
    return [h for n in names if n.startswith("prefect") for h in logging.getLogger(n).handlers]


def _quiet_request_errors() -> None:
    hide = _HideRequestErrorTracebacks()
    for handler in _prefect_handlers():
        handler.addFilter(hide)


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


def _shows_progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def _progress(quiet: bool) -> AbstractContextManager[object]:
    """A progress display on stderr for interactive runs; nothing when quiet or piped."""
    from leads_import import progress

    if not _shows_progress(quiet):
        return nullcontext()
    display = progress.RichProgress()
    progress.install(display)
    return display


def _run_import(args: argparse.Namespace) -> int:
    if _shows_progress(args.quiet):
        # Prefect's INFO lines would tear the live display; warnings and errors still show.
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    import flows  # noqa: F401  (Prefect's offline defaults, before Prefect is imported)
    from flows.import_flow import import_leads_flow
    from flows.parameters import FileImport

    _quiet_request_errors()
    if args.commit_every is not None and args.commit_every < 1:
        raise UnreadableSourceError("--commit-every must be a positive number of rows")
    with _source_path(args.source, args.format) as path, _progress(args.quiet):
        request = FileImport(
            source=path,
            workspace=args.workspace,
            restore_soft_deleted=not args.no_restore,
            dry_run=args.dry_run,
            format=args.format,
            sheet=args.sheet,
            commit_every=args.commit_every,
            outcomes=args.outcomes,
            on_existing=args.on_existing,
            idempotency_key=args.idempotency_key,
        )
        # Heartbeats tell a server a run has crashed; an in-process run does not need them, and
        # joining their thread adds most of a second to every run.
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            state = import_leads_flow(request, return_state=True)
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        raise result
    if args.source == "-":
        result["source"] = "-"
    if args.json:
        print(json.dumps(result))
    else:
        _print_summary(result)
    return EXIT_OK


def _list_runs(args: argparse.Namespace) -> int:
    from leads_import.db.runs import recent_runs

    runs = recent_runs(args.workspace, max(1, args.limit))
    if args.json:
        print(json.dumps(runs, default=str))
        return EXIT_OK
    print(
        f"{'id':>6}  {'started (UTC)':<19}  {'workspace':<16} {'kind':<5} {'status':<9} "
        f"{'created':>9} {'restored':>8} {'updated':>8} {'dups':>9} {'errors':>7}  source"
    )
    for run in runs:
        started = run["startedAt"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        counts = [run[k] if run[k] is not None else "-" for k in _RUN_COUNTS]
        print(
            f"{run['id']:>6}  {started:<19}  {run['workspace'][:16]:<16} {run['kind']:<5} "
            f"{run['status']:<9} {counts[0]:>9} {counts[1]:>8} {counts[2]:>8} {counts[3]:>9} "
            f"{counts[4]:>7}  {run['source'] or ''}"
        )
        if run["error"]:
            print(f"{'':>8}error: {run['error']}")
    if not runs:
        print("no runs yet")
    return EXIT_OK


_RUN_COUNTS = ("created", "restored", "updated", "duplicates", "errors")


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
                return EXIT_OK
            for key in listed:
                state = f"revoked {key['revokedAt']:%Y-%m-%d}" if key["revokedAt"] else "active"
                print(
                    f"{key['id']:>6}  {key['prefix']:<13} {key['workspace'][:20]:<20} "
                    f"{state:<18} {key['name'] or ''}"
                )
            if not listed:
                print("no API keys yet")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from leads_import.db import connection as database
    from leads_import.db import schema, workspaces

    if args.command == "import":
        return _run_import(args)
    if args.command == "runs":
        return _list_runs(args)
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
    if args.command == "db" and args.db_command == "stop":
        stopped = database.stop_embedded()
        print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
        return EXIT_OK
    if args.command == "db" and args.db_command == "url":
        print(database.database_url())
        return EXIT_OK
    if args.command == "db":  # db init; the version is printed once its transaction committed
        with database.transaction() as conn:
            upgrade = schema.init_schema(conn)
        print(upgrade.summary())
        return EXIT_OK
    with database.transaction() as conn:
        if args.command == "workspace":
            schema.ensure_schema(conn)
            ws = workspaces.create_workspace(
                conn, args.slug, name=args.name, contact_limit=args.contact_limit
            )
            print(f"workspace {ws.slug} (id {ws.id})")
    if args.command == "delete":
        from leads_import.engine import soft_delete_leads

        deleted = soft_delete_leads(args.workspace, args.emails)
        print(f"soft-deleted {len(deleted)} lead(s)")
        for email in deleted:
            print(f"  {email}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `leads` console script; returns the exit code of SPEC section 8."""
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except ImportRequestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if getattr(args, "json", False):
            print(json.dumps({"error": str(exc), "code": exc.code, "details": exc.details()}))
        return exc.exit_code


def console() -> None:
    """The console script: exit with main's code."""
    sys.exit(main())


if __name__ == "__main__":
    console()
