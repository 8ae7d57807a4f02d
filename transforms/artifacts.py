"""The run report shaped for Prefect artifacts: a counts table and a markdown page of samples."""

from __future__ import annotations

import re
from typing import Any, Final

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


def samples_markdown(report: dict[str, Any]) -> str:
    """The duplicate and error samples of a report (at most 100 each), as markdown."""
    lines = [f"# Import report: {_text(report.get('workspace', ''))}", ""]
    counted = ", ".join(f"{key} {int(report.get(key) or 0):,}" for key in COUNT_KEYS)
    lines += [counted, ""]
    if report.get("dryRun"):
        lines += ["Dry run: nothing was written.", ""]
    duplicates = report.get("duplicateEmails") or []
    lines += [f"## Duplicates (first {len(duplicates)})", ""]
    lines += [f"- {_text(email)}" for email in duplicates] or ["None."]
    errors = report.get("errorDetails") or []
    lines += ["", f"## Errors (first {len(errors)})", ""]
    if errors:
        lines += ["| row | email | reason |", "|---:|---|---|"]
        lines += [
            f"| {int(e['index'])} | {_text(e['email'])} | {_text(e['reason'])} |" for e in errors
        ]
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"
