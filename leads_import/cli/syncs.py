"""`leads sync run|state|reset`: the warehouse sync from the command line.

`run` maps its options one to one onto the `sync-leads` flow's parameters (WarehouseSync) and
runs the flow in this process; `state` and `reset` read and forget the watermarks in the
database (no Prefect)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from leads_import.errors import ImportRequestError

if TYPE_CHECKING:
    from leads_import.cli.importing import Outcome


class SyncNotFoundError(ImportRequestError):
    http_status = 404
    code = "sync_not_found"

    def __init__(self, name: str, workspace: str) -> None:
        self._init_args = (name, workspace)
        super().__init__(f"no sync {name!r} in workspace {workspace!r} (see leads sync state)")


class NotConfirmedError(ImportRequestError):
    code = "not_confirmed"


def request_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The flow's parameters (WarehouseSync) for `leads sync run` ARGS."""
    from leads_import.cli.client import parse_map

    fields: dict[str, Any] = {
        "name": args.name,
        "source_url": args.source_url,
        "query": args.query,
        "cursor_column": args.cursor_column,
        "workspace": args.workspace,
        "restore_soft_deleted": not args.no_restore,
        "on_existing": args.on_existing,
        "dry_run": args.dry_run,
        "map": parse_map(args.map),
        "unknown_columns": args.unknown_columns,
    }
    if args.chunk_rows is not None:
        fields["chunk_rows"] = args.chunk_rows
    return fields


def _invalid(error: Any) -> ImportRequestError:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
    )
    return ImportRequestError(f"invalid request: {problems}")


def run(args: argparse.Namespace) -> Outcome:
    """Check the request (parameters, workspace, source URL: nothing is connected to), then run
    the `sync-leads` flow here. Request-level errors found before the run are raised as
    ImportRequestError; what became of the run is returned."""
    from pydantic import ValidationError

    from flows.sync_flow import WarehouseSync, sync_leads_flow
    from leads_import.cli.importing import run_flow
    from leads_import.db.runs import KIND_SYNC
    from leads_import.db.settings import DEFAULT_WORKSPACE
    from leads_import.readers.warehouse import check_source_url

    try:
        request = WarehouseSync(**request_fields(args))
    except ValidationError as error:
        raise _invalid(error) from None
    if request.workspace != DEFAULT_WORKSPACE:
        _find_workspace(request.workspace)
    check_source_url(request.name, request.source_url)
    return run_flow(sync_leads_flow, request, KIND_SYNC, request.workspace)


def _find_workspace(slug: str) -> None:
    from leads_import.db.connection import transaction
    from leads_import.db.schema import ensure_schema
    from leads_import.db.workspaces import find_workspace

    with transaction() as conn:
        ensure_schema(conn)
        find_workspace(conn, slug)


def states(workspace: str | None) -> list[dict[str, Any]]:
    """Every sync's name, workspace, cursor column and watermark (`leads sync state`)."""
    from leads_import.db.connection import transaction
    from leads_import.db.schema import ensure_schema
    from leads_import.db.settings import DEFAULT_WORKSPACE
    from leads_import.db.sync_state import list_sync_states
    from leads_import.db.workspaces import find_workspace

    with transaction() as conn:
        ensure_schema(conn)
        if workspace is not None and workspace != DEFAULT_WORKSPACE:
            find_workspace(conn, workspace)  # an unknown one is an error, not "no syncs"
        with conn.cursor() as cur:
            listed = list_sync_states(cur, workspace)
    for item in listed:
        item["value"] = watermark_text(item["watermark"])
    return listed


def watermark_text(watermark: dict[str, Any] | None) -> str | None:
    """The watermark's value as a person reads it."""
    return None if watermark is None else str(watermark.get("value"))


def reset(
    name: str, workspace: str, *, yes: bool, confirm: Callable[[str], bool]
) -> dict[str, Any]:
    """Forget the sync's watermark (asking `confirm` first unless `yes`); return what was
    stored. Unknown workspace or sync: a request-level error."""
    from leads_import.db.connection import transaction
    from leads_import.db.schema import ensure_schema
    from leads_import.db.sync_state import delete_sync_state, read_sync_state
    from leads_import.db.workspaces import find_workspace

    with transaction() as conn:
        ensure_schema(conn)
        target = find_workspace(conn, workspace)
        with conn.cursor() as cur:
            stored = read_sync_state(cur, target.id, name)
    if stored is None:
        raise SyncNotFoundError(name, workspace)
    question = (
        f"forget the watermark of sync {name!r} in workspace {workspace!r} "
        f"({stored['cursor_column']} = {watermark_text(stored['watermark'])}); its next run "
        "reads every row again?"
    )
    if not yes and not confirm(question):
        raise NotConfirmedError("not reset")
    with transaction() as conn, conn.cursor() as cur:
        deleted = delete_sync_state(cur, target.id, name)
    if deleted is None:  # another command reset it meanwhile
        raise SyncNotFoundError(name, workspace)
    return deleted


def ask(question: str) -> bool:
    """Ask on the terminal; refuse when standard input is not one (a script must say --yes)."""
    if not sys.stdin.isatty():
        raise NotConfirmedError(
            "refusing to reset without confirmation: standard input is not a terminal (pass --yes)"
        )
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def print_states(listed: list[dict[str, Any]], as_json: bool) -> None:
    """The syncs of `leads sync state`."""
    if as_json:
        print(json.dumps(listed, default=str))
        return
    if not listed:
        print("no syncs yet")
        return
    print(f"{'workspace':<16} {'name':<24} {'cursor column':<16} watermark")
    for item in listed:
        print(
            f"{item['workspace'][:16]:<16} {item['name'][:24]:<24} "
            f"{item['cursorColumn'][:16]:<16} {item['value']}"
        )
