"""The parameters of the flows, as pydantic models: the Prefect UI renders them as forms, and
deployments validate runs against them (`enforce_parameter_schema`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from leads_import.db.settings import DEFAULT_WORKSPACE
from leads_import.engine.options import ImportOptions, OnExisting
from transforms.fields import SOURCE_FILE, SOURCE_WAREHOUSE

Format = Literal["csv", "tsv", "json", "ndjson", "parquet", "xlsx"]

_WORKSPACE = Field(
    DEFAULT_WORKSPACE,
    min_length=1,
    description="Slug of the workspace to import into (`default` is created on first use).",
)
_RESTORE = Field(
    True,
    description="Restore soft-deleted leads whose email comes back (SPEC 4); off: duplicates.",
)
_DRY_RUN = Field(False, description="Classify and report, write nothing.")
_ON_EXISTING = Field(
    "skip",
    description=(
        "What to do with a row whose email already has an active lead: `skip` (a duplicate, "
        "the contract), `fill_empty` (store given fields where the lead has none) or "
        "`overwrite` (given fields replace stored ones). Changed leads count as `updated`."
    ),
)


class _Parameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def audit_parameters(self) -> dict[str, Any]:
        """What the run records in `import_runs.parameters` (secrets left out)."""
        return self.model_dump(mode="json")


class FileImport(_Parameters):
    """Import one file of leads into a workspace."""

    source: str = Field(
        min_length=1,
        description=(
            "Path of the file on the machine running the flow, or an http(s) URL to download. "
            "The extension picks the reader (.csv .tsv .json .ndjson .jsonl .parquet .xlsx, "
            "optionally .gz) unless `format` is set."
        ),
    )
    workspace: str = _WORKSPACE
    format: Format | None = Field(None, description="The reader to use, whatever the file name.")
    sheet: str | None = Field(None, description="XLSX sheet to read (default: the first).")
    restore_soft_deleted: bool = _RESTORE
    on_existing: OnExisting = _ON_EXISTING
    dry_run: bool = _DRY_RUN
    commit_every: PositiveInt | None = Field(
        None,
        description=(
            "Commit every N rows instead of once at the end (long backfills: a failure keeps "
            "the committed part, and running again resumes since those rows are duplicates)."
        ),
    )
    outcomes: str | None = Field(
        None, description="Path of a CSV file to write every row's outcome to."
    )
    idempotency_key: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        description=(
            "A run with a key that already committed returns that run's report and writes "
            "nothing; the same key with another file or other options is refused."
        ),
    )

    def options(self) -> ImportOptions:
        """The engine's options for this request."""
        return ImportOptions(
            restore_soft_deleted=self.restore_soft_deleted,
            dry_run=self.dry_run,
            on_existing=self.on_existing,
            default_source=SOURCE_FILE,
            commit_every=self.commit_every,
        )

    def fingerprint_parts(self) -> list[str]:
        """The options an idempotency key is bound to, besides the file's bytes."""
        return [
            self.workspace,
            str(self.format),
            str(self.sheet),
            str(self.restore_soft_deleted),
            self.on_existing,
        ]


class WarehouseSync(_Parameters):
    """Import the rows of a SQL query on a warehouse, incrementally by a cursor column."""

    name: str = Field(
        min_length=1,
        max_length=200,
        description="Name of this sync; its watermark is kept per (workspace, name).",
    )
    source_url: str = Field(
        min_length=1,
        description=(
            "SQLAlchemy URL of the source database, e.g. postgresql+psycopg2://user@host/db or "
            "duckdb:///path/to/file.duckdb. Keep passwords in a Prefect Secret block and "
            "reference it from the deployment."
        ),
    )
    query: str = Field(
        min_length=1,
        description=(
            "A SELECT whose columns are named like lead fields (email, first_name or firstName, "
            "…; other columns are ignored with a warning). Do not filter on the cursor: the "
            "flow wraps the query and adds `WHERE cursor > watermark`."
        ),
    )
    cursor_column: str | None = Field(
        None,
        description=(
            "Column whose values only grow for new or changed rows (such as updated_at). Each "
            "run imports rows beyond the stored watermark and advances it in the same "
            "transaction as the leads. Empty: every run reads everything."
        ),
    )
    workspace: str = _WORKSPACE
    restore_soft_deleted: bool = _RESTORE
    on_existing: OnExisting = _ON_EXISTING
    dry_run: bool = _DRY_RUN
    chunk_rows: PositiveInt = Field(
        200_000, description="Rows fetched from the source per chunk (bounds memory)."
    )

    def options(self) -> ImportOptions:
        """The engine's options for this request."""
        return ImportOptions(
            restore_soft_deleted=self.restore_soft_deleted,
            dry_run=self.dry_run,
            on_existing=self.on_existing,
            default_source=SOURCE_WAREHOUSE,
        )

    def audit_parameters(self) -> dict[str, Any]:
        dumped = super().audit_parameters()
        dumped["source_url"] = _hide_password(self.source_url)
        return dumped


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: record nothing of it
        return "<unparsable url>"
