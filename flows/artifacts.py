"""The run's report in the Prefect UI: a counts table, a samples page and live progress, under
artifact keys stable per workspace."""

from __future__ import annotations

import re
from typing import Any, Final
from uuid import UUID

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

COUNT_KEYS: Final = ("created", "restored", "updated", "duplicates", "errors", "total")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~])")


def artifact_key(kind: str, workspace: str) -> str:
    """A stable artifact key per workspace (Prefect keys: lowercase letters, digits, dashes)."""
    slug = re.sub(r"[^a-z0-9]+", "-", workspace.lower()).strip("-") or "workspace"
    return f"leads-{kind}-{slug}"[:200]


def counts_table(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per outcome with its count (the report's counted keys, in a fixed order)."""
    return [{"outcome": key, "rows": int(report.get(key) or 0)} for key in COUNT_KEYS]


def _text(value: Any) -> str:
    """Input text made inert in markdown: special characters escaped, one line."""
    flat = " ".join(str(value).split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", flat)


def _row(detail: dict[str, Any]) -> str:
    """A row's line in the file, else its 0-based index (an input without lines)."""
    line = detail.get("line")
    return str(int(line)) if line is not None else f"index {int(detail['index'])}"


def _details_table(details: list[dict[str, Any]]) -> list[str]:
    """Rows as a markdown table: line, email, reason."""
    lines = ["| line | email | reason |", "|---:|---|---|"]
    lines += [
        f"| {_row(d)} | {_text(d['email'])} | {_text(d.get('reason') or '')} |" for d in details
    ]
    return lines


def samples_markdown(report: dict[str, Any]) -> str:
    """The warnings and the duplicate and error samples of a report (at most 100 each), as
    markdown: rows named by their line in the file, with why each is a duplicate or an error."""
    lines = [f"# Import report: {_text(report.get('workspace', ''))}", ""]
    counted = ", ".join(f"{key} {int(report.get(key) or 0):,}" for key in COUNT_KEYS)
    lines += [counted, ""]
    if report.get("dryRun"):
        lines += ["Dry run: nothing was written.", ""]
    warnings = report.get("warnings") or []
    if warnings:
        lines += ["## Warnings", ""]
        lines += [f"- {_text(warning)}" for warning in warnings]
        lines.append("")
    details = report.get("duplicateDetails") or []
    duplicates = report.get("duplicateEmails") or []
    lines += [f"## Duplicates (first {len(details or duplicates)})", ""]
    if details:
        lines += _details_table(details)
    elif duplicates:  # an input without lines: the emails alone
        lines += ["| email |", "|---|"]
        lines += [f"| {_text(email)} |" for email in duplicates]
    else:
        lines.append("None.")
    errors = report.get("errorDetails") or []
    lines += ["", f"## Errors (first {len(errors)})", ""]
    lines += _details_table(errors) if errors else ["None."]
    return "\n".join(lines) + "\n"


def publish_report(report: dict[str, Any], workspace: str, source: str) -> None:
    """The counts table and the samples page, under keys stable per workspace."""
    create_table_artifact(
        counts_table(report),
        key=artifact_key("counts", workspace),
        description=f"Rows per outcome importing {source} into {workspace}",
    )
    create_markdown_artifact(
        samples_markdown(report),
        key=artifact_key("samples", workspace),
        description=f"Warnings, duplicates and errors importing {source} into {workspace}",
    )


class ProgressArtifact:
    """A progress artifact of rows written, updated as batches land (at most every 1%), against
    an estimate of the input's rows (None: shown at 0% until `finish`)."""

    def __init__(self, total_rows: int | None, key: str, description: str) -> None:
        self._total = total_rows
        self._done = 0
        self._shown = 0.0
        self._id: UUID = create_progress_artifact(0.0, key=key, description=description)

    def advance(self, rows: int) -> None:
        self._done += rows
        if not self._total:
            return
        # An estimate may be short: 99% until the import says it is done.
        percent = min(99.0, 100.0 * self._done / self._total)
        if percent - self._shown >= 1.0:
            update_progress_artifact(self._id, percent)
            self._shown = percent

    def finish(self) -> None:
        """Every row is written."""
        update_progress_artifact(self._id, 100.0)
        self._shown = 100.0


# --- the column mapping (a table of its own) ---------------------------------------------------

IGNORED_COLUMN: Final = "(ignored)"


def columns_table(report: dict[str, Any]) -> list[dict[str, str]]:
    """One row per input header: the field it went to (`(ignored)` when none), in input order."""
    columns = report.get("columns") or {}
    return [
        {"header": header, "field": field if field is not None else IGNORED_COLUMN}
        for header, field in columns.items()
    ]


def publish_columns(report: dict[str, Any], workspace: str, source: str) -> None:
    """The table of which header went to which field, when the input had headers."""
    rows = columns_table(report)
    if rows:
        create_table_artifact(
            rows,
            key=artifact_key("columns", workspace),
            description=f"Column mapping importing {source} into {workspace}",
        )
