"""What the CLI prints for a person: an import's report, the runs, the API keys."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import UTC
from typing import Any

RUN_COUNTS = ("created", "restored", "updated", "duplicates", "errors")


def print_error(message: str, code: str, details: dict[str, Any], as_json: bool) -> None:
    """A failed request: one `error:` line on stderr; with --json, its JSON document on stdout."""
    print(f"error: {message}", file=sys.stderr)
    if as_json:
        print(json.dumps({"error": message, "code": code, "details": details}))


def print_summary(report: dict[str, Any]) -> None:
    """The report of an import, for a person: counts, warnings, the first samples."""
    title = f'Imported {report.get("source", "leads")} into workspace "{report["workspace"]}"'
    if report.get("replayed"):
        title += f" (already done by run {report['runId']}: nothing written)"
    print(title + (" (dry run: nothing written)" if report["dryRun"] else ""))
    # `updated` only moves under an --on-existing policy: shown when it did.
    counts = ("created", "restored", "updated", "duplicates", "errors")
    rows = [(k, report[k]) for k in counts if k != "updated" or report[k]]
    rows.append(("total", report["total"]))
    for label, value in rows:
        print(f"  {label:<11}{value:>10,}")
    if report.get("remainingCapacity") is not None:
        print(f"  {'capacity left':<11}{report['remainingCapacity']:>8,}")
    for warning in report.get("warnings", []):
        print(f"warning: {warning}")
    print_columns(report.get("columns"))
    details = report.get("duplicateDetails")
    duplicates = report["duplicateEmails"]
    if details:
        print(f"Duplicates (first {min(10, len(details))} of {report['duplicates']:,}):")
        width = _email_width(detail["email"] for detail in details[:10])
        for detail in details[:10]:
            print(f"  {row_name(detail):<12} {detail['email']:<{width}} {detail['reason']}")
    elif duplicates:
        print(f"Duplicate emails (first {min(10, len(duplicates))} of {report['duplicates']:,}):")
        print("  " + ", ".join(duplicates[:10]))
    errors = report["errorDetails"]
    if errors:
        print(f"Errors (first {min(10, len(errors))} of {report['errors']:,}):")
        width = _email_width(json.dumps(detail["email"]) for detail in errors[:10])
        for detail in errors[:10]:
            email = json.dumps(detail["email"])
            print(f"  {row_name(detail):<12} {email:<{width}} {detail['reason']}")


def _email_width(emails: Iterable[str]) -> int:
    """The email column's width: the longest shown, at least 32, at most 60."""
    return min(60, max([32, *(len(email) for email in emails)]))


def row_name(detail: dict[str, Any]) -> str:
    """A row as a person finds it: its line in the file, else its 0-based index."""
    if detail.get("line") is not None:
        return f"line {detail['line']}"
    return f"index {detail['index']}"


COLUMNS_WIDTH = 100


def columns_lines(columns: dict[str, str | None] | None, width: int = COLUMNS_WIDTH) -> list[str]:
    """The report's `columns`, compact: `header -> field` pairs, then the ignored headers,
    wrapped at `width`."""
    if not columns:
        return []
    mapped = [f"{header} -> {field}" for header, field in columns.items() if field is not None]
    ignored = [header for header, field in columns.items() if field is None]
    lines = ["columns:"]
    for label, items in (("", mapped), ("ignored: ", ignored)):
        line = "  " + label
        for position, item in enumerate(items):
            piece = item + ("," if position < len(items) - 1 else "")
            if len(line) + len(piece) > width and line.strip() not in ("", label.strip()):
                lines.append(line.rstrip())
                line = "    "
            line += piece + " "
        if items:
            lines.append(line.rstrip())
    return lines


def print_columns(columns: dict[str, str | None] | None) -> None:
    """Which header went to which field (file imports)."""
    for line in columns_lines(columns):
        print(line)


def print_runs(runs: list[dict[str, Any]]) -> None:
    """The runs of `leads runs`, one line each (and its error, when it failed)."""
    print(
        f"{'id':>6}  {'started (UTC)':<19}  {'workspace':<16} {'kind':<5} {'status':<9} "
        f"{'created':>9} {'restored':>8} {'updated':>8} {'dups':>9} {'errors':>7}  source"
    )
    for run in runs:
        started = run["startedAt"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        counts = [run[k] if run[k] is not None else "-" for k in RUN_COUNTS]
        print(
            f"{run['id']:>6}  {started:<19}  {run['workspace'][:16]:<16} {run['kind']:<5} "
            f"{run['status']:<9} {counts[0]:>9} {counts[1]:>8} {counts[2]:>8} {counts[3]:>9} "
            f"{counts[4]:>7}  {run['source'] or ''}"
        )
        if run["error"]:
            print(f"{'':>8}error: {run['error']}")
    if not runs:
        print("no runs yet")


def workspace_values(workspace: Any) -> str:
    """A workspace's name and contact limit, as one phrase."""
    name = f'name "{workspace.name}"' if workspace.name is not None else "no name"
    limit = workspace.contact_limit
    return f"{name}, " + ("no contact limit" if limit is None else f"contact limit {limit:,}")


def print_workspaces(workspaces: list[Any]) -> None:
    """The workspaces of `leads workspace list`, one line each."""
    print(f"{'slug':<24} {'name':<24} {'contact limit':>15} {'active leads':>14}")
    for ws in workspaces:
        limit = "none" if ws.contact_limit is None else f"{ws.contact_limit:,}"
        print(f"{ws.slug:<24} {ws.name or '':<24} {limit:>15} {ws.active_leads:>14,}")
    if not workspaces:
        print("no workspaces yet")


def print_run(run: dict[str, Any], outcomes: Any, rows: int) -> None:
    """One run for `leads runs show`: what it was asked, what it did, when, where to see it,
    and the first `rows` kept outcomes (`outcomes`: a Polars frame, or None when not kept)."""
    status = "dry run (nothing written)" if run["status"] == "dry_run" else run["status"]
    print(f'run {run["id"]}: {run["kind"]} into workspace "{run["workspace"]}", {status}')
    started = run["startedAt"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    print(f"  {'source':<12}{run['source'] or '-'}")
    print(f"  {'started':<12}{started} UTC, took {run['durationMs'] / 1000:,.2f} s")
    if run["flowRunId"]:
        print(f"  {'flow run':<12}{run['flowRunUrl'] or run['flowRunId']}")
    if run["idempotencyKey"]:
        print(f"  {'key':<12}{run['idempotencyKey']}")
    if run["error"]:
        print(f"  {'error':<12}{run['error']}")
    print("parameters")
    for key, value in sorted((run["parameters"] or {}).items()):
        print(f"  {key:<22}{json.dumps(value)}")
    report = run["report"]
    if report:
        print("report")
        for key in (*RUN_COUNTS, "total"):
            if report.get(key) is not None:
                print(f"  {key:<22}{report[key]:>10,}")
        for key in ("remainingCapacity", "format", "encoding", "sync", "cursorColumn"):
            if report.get(key) is not None:
                print(f"  {key:<22}{report[key]}")
        if report.get("watermark"):
            print(f"  {'watermark':<22}{report['watermark'].get('value')}")
        for warning in report.get("warnings") or []:
            print(f"  warning: {warning}")
    timings = {k: v for k, v in (run["timings"] or {}).items() if v is not None}
    if timings:
        print("timings (ms)")
        for key, value in timings.items():
            print(f"  {key:<22}{value:>10,.1f}")
    if outcomes is None:
        print("outcomes: not kept (leads import --keep-outcomes keeps them)")
        return
    print(f"outcomes: {outcomes.height:,} rows in {run['outcomesPath']}")
    if outcomes.height and rows:
        with _wide_table():
            print(outcomes.head(rows))
        if outcomes.height > rows:
            print(f"  … {outcomes.height - rows:,} more (--rows N, or --json for all)")


def _wide_table() -> Any:
    import polars as pl

    return pl.Config(
        tbl_rows=-1,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        fmt_str_lengths=60,
    )


def print_keys(keys: list[dict[str, Any]]) -> None:
    """The API keys of `leads api-key list` (never their value)."""
    for key in keys:
        state = f"revoked {key['revokedAt']:%Y-%m-%d}" if key["revokedAt"] else "active"
        print(
            f"{key['id']:>6}  {key['prefix']:<13} {key['workspace'][:20]:<20} "
            f"{state:<18} {key['name'] or ''}"
        )
    if not keys:
        print("no API keys yet")
