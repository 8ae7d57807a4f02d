"""What an import did: the typed report, and its JSON form (SPEC section 7) built in one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from transforms.report import SAMPLE_SIZE

_COUNTS = ("created", "restored", "updated", "duplicates", "errors")


@dataclass
class SyncState:
    """What a warehouse sync adds to its report: the sync and its watermark after the run."""

    name: str
    cursor_column: str | None
    watermark: dict[str, str] | None = None


@dataclass
class ImportReport:
    """The outcome of one import: counts, samples, and what the run and its input were."""

    workspace: str
    dry_run: bool = False
    created: int = 0
    restored: int = 0
    updated: int = 0  # active leads changed by an on_existing policy (always 0 under skip)
    duplicates: int = 0
    errors: int = 0
    duplicate_emails: list[str] = field(default_factory=list)  # the first 100, input order
    error_details: list[dict[str, Any]] = field(default_factory=list)  # the first 100
    # The first 100 duplicates with their line and reason (file runs only).
    duplicate_details: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    remaining_capacity: int | None = None  # plan capacity left; None when unlimited
    load_ms: float = 0.0  # under the workspace lock: lookup, classification and writes
    run_id: int | None = None  # the run's import_runs row (None for dry runs)
    replayed: bool = False  # an idempotency key that already committed: nothing written
    warnings: list[str] = field(default_factory=list)
    # Set from the input and by the entry point that read it.
    source: str | None = None
    format: str | None = None
    encoding: str | None = None
    # Each header as written -> its field (`customFields.<key>` when kept, None when ignored);
    # None for inputs without headers (the HTTP API, Python rows).
    columns: dict[str, str | None] | None = None
    sync: SyncState | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def add_batch(self, summary: dict[str, Any], rows: int) -> None:
        """Count one classified batch (`transforms.report.build_report`) of `rows` rows."""
        for key in _COUNTS:
            setattr(self, key, getattr(self, key) + summary[key])
        room = SAMPLE_SIZE - len(self.duplicate_emails)
        self.duplicate_emails.extend(summary["duplicateEmails"][: max(room, 0)])
        room = SAMPLE_SIZE - len(self.error_details)
        self.error_details.extend(summary["errorDetails"][: max(room, 0)])
        room = SAMPLE_SIZE - len(self.duplicate_details)
        self.duplicate_details.extend(summary.get("duplicateDetails", [])[: max(room, 0)])
        self.total += rows

    def to_json(self) -> dict[str, Any]:
        """The report as JSON: the contract's six keys, then what this run adds (the run id as
        text, as the HTTP API gives every id: a bigint does not survive a JSON number)."""
        data: dict[str, Any] = {
            "created": self.created,
            "restored": self.restored,
            "updated": self.updated,
            "duplicates": self.duplicates,
            "errors": self.errors,
            "duplicateEmails": self.duplicate_emails,
            "errorDetails": self.error_details,
        }
        if self.duplicate_details:
            data["duplicateDetails"] = self.duplicate_details
        data |= {
            "total": self.total,
            "remainingCapacity": self.remaining_capacity,
            "loadMs": round(self.load_ms, 1),
            "workspace": self.workspace,
            "dryRun": self.dry_run,
        }
        if self.run_id is not None:
            data["runId"] = str(self.run_id)
        if self.replayed:
            data["replayed"] = True
        for key in ("source", "format", "encoding"):
            if (value := getattr(self, key)) is not None:
                data[key] = value
        if self.columns is not None:
            data["columns"] = self.columns
        if self.sync is not None:
            data["sync"] = self.sync.name
            data["cursorColumn"] = self.sync.cursor_column
            data["watermark"] = self.sync.watermark
        if self.warnings:
            data["warnings"] = self.warnings
        if self.timings:
            data["timings"] = self.timings
        return data

    def stored_json(self) -> dict[str, Any]:
        """What `import_runs.report` keeps: the JSON form without the run id and timings."""
        data = self.to_json()
        data.pop("runId", None)
        data.pop("timings", None)
        return data

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> ImportReport:
        """The report of a committed run, as `leads_import.db.runs.replayed_report` reads it
        back (the stored JSON with its `runId`, and `replayed` for an idempotency key)."""
        sync = None
        if "sync" in data:
            sync = SyncState(data["sync"], data.get("cursorColumn"), data.get("watermark"))
        return cls(
            workspace=data["workspace"],
            dry_run=data.get("dryRun", False),
            **{key: data.get(key, 0) for key in _COUNTS},
            duplicate_emails=data.get("duplicateEmails", []),
            error_details=data.get("errorDetails", []),
            duplicate_details=data.get("duplicateDetails", []),
            total=data.get("total", 0),
            remaining_capacity=data.get("remainingCapacity"),
            load_ms=data.get("loadMs", 0.0),
            run_id=int(data["runId"]),
            replayed=data.get("replayed", False),
            warnings=data.get("warnings", []),
            source=data.get("source"),
            format=data.get("format"),
            encoding=data.get("encoding"),
            columns=data.get("columns"),
            sync=sync,
        )
