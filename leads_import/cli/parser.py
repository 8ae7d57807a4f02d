"""The `leads` command line's commands and options (SPEC section 10)."""

from __future__ import annotations

import argparse
import difflib
import re
from typing import Any, NoReturn

from leads_import.db.settings import DEFAULT_WORKSPACE
from leads_import.readers.formats import FORMATS


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


MAX_CONTACT_LIMIT = 2**31 - 1  # the column is a PostgreSQL integer


def contact_limit(text: str, *, none: bool = False) -> int | None:
    """An argparse type: a contact limit, 0 to 2147483647 (0: no active leads allowed, every
    import that would add one is refused); with `none`, also `none` (no limit)."""
    if none and text.strip().lower() == "none":
        return None
    try:
        value = int(text)
    except ValueError:
        expected = "a whole number or none" if none else "a whole number"
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    if value > MAX_CONTACT_LIMIT:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_CONTACT_LIMIT:,}, got {text!r}")
    return value


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("leads-import")
    except PackageNotFoundError:
        return "unknown"


class _Parser(argparse.ArgumentParser):
    """argparse that names a misspelled option or command with its closest match, in the
    usage of the command it belongs to (argparse alone prints the top-level usage)."""

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self._reject(extras[0])
        return namespace, extras

    def _reject(self, extra: str) -> NoReturn:
        if not extra.startswith("-") or extra == "-":
            self.error(f"unexpected argument {extra!r}")
        options = [name for action in self._actions for name in action.option_strings]
        message = f"unknown option {extra}"
        close = difflib.get_close_matches(extra.split("=", 1)[0], options, n=1, cutoff=0.6)
        self.error(f"{message} (did you mean {close[0]}?)" if close else message)

    def error(self, message: str) -> NoReturn:
        found = re.search(r"invalid choice: '?([^'\s]*)'? \(choose from (.*)\)", message)
        if found:
            choices = [choice.strip(" '") for choice in found.group(2).split(",")]
            close = difflib.get_close_matches(found.group(1), choices, n=1, cutoff=0.6)
            if close:
                message = f"{message}; did you mean {close[0]}?"
        super().error(message)


def _add_column_options(parser: argparse.ArgumentParser) -> None:
    """--map and --unknown-columns: how columns become fields (imports and syncs)."""
    parser.add_argument(
        "--map",
        action="append",
        metavar="HEADER=FIELD",
        help="map a column to a field (an API name such as firstName, or customFields.KEY), "
        "adding to or overriding the recognised header spellings; repeatable",
    )
    parser.add_argument(
        "--unknown-columns",
        choices=("ignore", "keep"),
        default="ignore",
        help="columns that map to no field: ignore them with a warning (the default) or keep "
        "them as custom fields keyed by the header",
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of every `leads` command."""
    parser = _Parser(
        prog="leads", description="Bulk lead import into PostgreSQL with a dedup report."
    )
    parser.add_argument("--version", action="version", version=f"leads {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="manage the database").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("init", help="create or upgrade the schema (idempotent)")
    db.add_parser("url", help="print the database URL in use (starts the embedded server)")
    db.add_parser(
        "stop", help="stop the embedded PostgreSQL and the other background services (leads stop)"
    )

    workspace = commands.add_parser("workspace", help="manage workspaces").add_subparsers(
        dest="workspace_command", required=True
    )
    create = workspace.add_parser(
        "create",
        help="create a workspace (nothing changes when it exists with the values given; "
        "exit 2 naming the difference when it exists with others)",
    )
    create.add_argument("slug")
    create.add_argument("--name", default=argparse.SUPPRESS, help="a display name")
    create.add_argument(
        "--contact-limit",
        type=lambda text: contact_limit(text, none=True),
        default=argparse.SUPPRESS,
        metavar="N",
        help="the plan's contact limit: the most active leads it may hold (0 or more; "
        "default none)",
    )
    update = workspace.add_parser("update", help="change a workspace's name or contact limit")
    update.add_argument("slug")
    update.add_argument("--name", default=argparse.SUPPRESS, help="a new display name")
    update.add_argument(
        "--contact-limit",
        type=lambda text: contact_limit(text, none=True),
        default=argparse.SUPPRESS,
        metavar="N|none",
        help="a new contact limit (0 or more), or none for no limit",
    )
    listing = workspace.add_parser("list", help="list workspaces with their active leads")
    listing.add_argument("--json", action="store_true", help="print them as one JSON document")

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
    imp.add_argument(
        "--keep-outcomes",
        action="store_true",
        help="keep every row's outcome with the run (leads runs show ID; the newest 20 runs)",
    )
    imp.add_argument("--format", choices=FORMATS, help="the reader to use, whatever the name")
    imp.add_argument("--sheet", metavar="NAME", help="the XLSX sheet to read (default: the first)")
    _add_column_options(imp)
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
    show = runs.add_subparsers(dest="runs_command", metavar="show").add_parser(
        "show",
        help="one run: parameters, report, timings, flow run link, kept per-row outcomes",
    )
    show.add_argument("run_id", type=int, metavar="ID")
    show.add_argument("--json", action="store_true", help="print the run as one JSON document")
    show.add_argument(
        "--rows",
        type=int,
        default=20,
        metavar="N",
        help="kept outcome rows to print (default 20; --json prints them all)",
    )

    sync = commands.add_parser(
        "sync", help="the warehouse sync (the sync-leads flow): run it, its watermarks"
    ).add_subparsers(dest="sync_command", required=True)
    sync_run = sync.add_parser(
        "run",
        help="run the sync once: the query's rows beyond the stored watermark of (workspace, "
        "NAME), imported in cursor order; each option is the flow parameter of that name",
    )
    sync_run.add_argument("name", metavar="NAME", help="the sync's name (its watermark's key)")
    sync_run.add_argument(
        "--source-url",
        required=True,
        metavar="URL",
        help="SQLAlchemy URL of the source (postgresql+psycopg2://…, duckdb:///file.duckdb)",
    )
    sync_run.add_argument(
        "--query", required=True, metavar="SQL", help="a SELECT with lead-named columns"
    )
    sync_run.add_argument(
        "--cursor-column",
        metavar="COL",
        help="a column that only grows (e.g. updated_at); without it every run reads all rows",
    )
    sync_run.add_argument("--workspace", default=DEFAULT_WORKSPACE, metavar="SLUG")
    sync_run.add_argument(
        "--no-restore", action="store_true", help="count soft-deleted matches as duplicates"
    )
    sync_run.add_argument(
        "--on-existing",
        choices=("skip", "fill_empty", "overwrite"),
        default="skip",
        help="a row whose email has an active lead: skip (a duplicate), fill_empty, overwrite",
    )
    sync_run.add_argument(
        "--dry-run", action="store_true", help="classify and report; no leads, no watermark"
    )
    sync_run.add_argument(
        "--chunk-rows", type=_positive(int), metavar="N", help="rows fetched per chunk (200000)"
    )
    _add_column_options(sync_run)
    sync_run.add_argument("--json", action="store_true", help="print the report as JSON")
    sync_state = sync.add_parser("state", help="each sync's cursor column and watermark")
    sync_state.add_argument("--workspace", metavar="SLUG", help="only this workspace's syncs")
    sync_state.add_argument("--json", action="store_true", help="print them as JSON")
    sync_reset = sync.add_parser(
        "reset", help="forget a sync's watermark (its next run reads every row)"
    )
    sync_reset.add_argument("name", metavar="NAME")
    sync_reset.add_argument("--workspace", default=DEFAULT_WORKSPACE, metavar="SLUG")
    sync_reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")

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

    headers = commands.add_parser(
        "headers", help="the column headers recognised for each lead field (a markdown table)"
    )
    headers.add_argument(
        "--readme", metavar="PATH", help="rewrite that README's table instead of printing it"
    )

    commands.add_parser(
        "status", help="the background services: Prefect server (its UI), import runner, database"
    )
    commands.add_parser(
        "stop",
        help="stop what leads started in the background: import runner, Prefect server, "
        "embedded PostgreSQL",
    )

    delete = commands.add_parser("delete", help="soft delete leads by email")
    delete.add_argument("--workspace", required=True, metavar="SLUG")
    delete.add_argument("emails", nargs="+", metavar="EMAIL")
    return parser
