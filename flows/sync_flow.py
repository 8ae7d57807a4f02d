"""The `sync-leads` Prefect flow: import the rows of a SQL query on a warehouse incrementally.

A sync has a name and, per workspace, a watermark: the cursor value of the last row it
imported. Each run reads the rows beyond the watermark (in cursor order, in chunks), prepares
them like a file's rows, and imports them in one transaction that also writes the run's
`import_runs` row and advances the watermark, so a failed run advances nothing and a re-run
never counts a row twice.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from psycopg2.extensions import cursor as Cursor
from pydantic import Field, PositiveInt, field_validator

from flows.artifacts import ProgressArtifact, artifact_key
from flows.import_flow import (
    DRY_RUN,
    MAP,
    ON_EXISTING,
    RESTORE,
    UNKNOWN_COLUMNS,
    WORKSPACE,
    FlowParameters,
    check_map,
    publish,
)
from flows.labels import sync_run_name, tag_run
from flows.retries import DATABASE_RETRIES, failure_recorder, new_audit
from leads_import.db.connection import transaction
from leads_import.db.runs import KIND_SYNC, RunAudit
from leads_import.db.schema import ensure_schema
from leads_import.db.sync_state import read_sync_state, save_watermark
from leads_import.db.workspaces import DEFAULT_WORKSPACE, Workspace, find_workspace
from leads_import.engine import (
    ImportOptions,
    ImportReport,
    OnExisting,
    RawFiles,
    RunHooks,
    SyncState,
    run_import,
)
from leads_import.errors import SyncConflictError, UnreadableSourceError, WorkspaceNotFoundError
from leads_import.progress import reporter
from leads_import.readers.warehouse import read_source_chunks
from transforms.fields import SOURCE_WAREHOUSE
from transforms.headers import ColumnRules, UnknownColumns
from transforms.watermark import (
    WatermarkTypeError,
    decode_watermark,
    encode_watermark,
    source_columns,
    source_rows_to_raw,
)

Watermark = dict[str, str]  # the JSON form of transforms.watermark


class WarehouseSync(FlowParameters):
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
    workspace: str = WORKSPACE
    map: dict[str, str] | None = MAP
    unknown_columns: UnknownColumns = UNKNOWN_COLUMNS
    restore_soft_deleted: bool = RESTORE
    on_existing: OnExisting = ON_EXISTING
    dry_run: bool = DRY_RUN
    chunk_rows: PositiveInt = Field(
        200_000, description="Rows fetched from the source per chunk (bounds memory)."
    )

    @field_validator("map")
    @classmethod
    def _known_fields(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return check_map(value)

    def column_rules(self) -> ColumnRules:
        """How the query's columns map beyond the recognised spellings."""
        return ColumnRules.of(self.map, self.unknown_columns)

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


@dataclass
class SyncStart:
    """Where a run starts: the sync's state as stored, and the watermark to read beyond."""

    stored: dict[str, Any] | None  # {"cursor_column", "watermark"}; None before the first run
    watermark: Watermark | None  # None: read every row
    warnings: list[str] = field(default_factory=list)


@dataclass
class SyncStaged:
    """The staged rows beyond the watermark, and the cursor of the last one (None: no rows)."""

    rows: RawFiles
    watermark: Watermark | None


@task(name="watermark", cache_policy=NO_CACHE, **DATABASE_RETRIES)
def sync_start(request: WarehouseSync) -> SyncStart:
    """The sync's stored watermark in the workspace, and the one this run reads beyond."""
    with transaction() as conn:
        ensure_schema(conn)
        try:
            workspace_id = find_workspace(conn, request.workspace).id
        except WorkspaceNotFoundError:
            if request.workspace != DEFAULT_WORKSPACE:
                raise
            return SyncStart(None, None)  # `default` is created by the load
        with conn.cursor() as cur:
            stored = read_sync_state(cur, workspace_id, request.name)
    if stored is None or request.cursor_column is None:
        return SyncStart(stored, None)
    if stored["cursor_column"] != request.cursor_column:
        note = (
            f"the cursor column changed from {stored['cursor_column']!r} to "
            f"{request.cursor_column!r}: every row is read again"
        )
        return SyncStart(stored, None, [note])
    return SyncStart(stored, stored["watermark"])


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


@task(name="stage", cache_policy=NO_CACHE, **DATABASE_RETRIES)
def stage_rows(request: WarehouseSync, watermark: Watermark | None, work_dir: str) -> SyncStaged:
    """Read the source's rows beyond the watermark in chunks, each written as a raw Parquet file
    (the source is read once; the import may read the files twice)."""
    warnings: list[str] = []
    last: Any = None
    rules = request.column_rules()
    chunks = read_source_chunks(
        request.name,
        request.source_url,
        request.query,
        request.cursor_column,
        decode_watermark(watermark) if watermark is not None else None,
        request.chunk_rows,
        rules,
    )
    columns: dict[str, str | None] | None = None

    def raw_chunks() -> Iterator[pl.DataFrame]:
        nonlocal warnings, last, columns
        offset = 0
        for chunk in chunks:
            if columns is None:
                columns = source_columns(chunk.frame.columns, chunk.cursor_key, rules)
            raw, chunk_warnings = source_rows_to_raw(chunk.frame, chunk.cursor_key, offset, rules)
            offset += raw.height
            warnings = _unique([*warnings, *chunk_warnings])
            last = chunk.last_cursor
            yield raw

    staged = RawFiles.stage(raw_chunks(), Path(work_dir))
    try:
        new_watermark = encode_watermark(last) if last is not None else None
    except WatermarkTypeError as error:
        raise UnreadableSourceError(f"sync {request.name!r}: {error}") from None
    reporter().set_total(staged.rows)
    logger = get_run_logger()
    logger.info("read %d new rows of sync %s", staged.rows, request.name)
    for warning in warnings:
        logger.warning(warning)
    return SyncStaged(replace(staged, warnings=warnings, columns=columns), new_watermark)


@task(name="load", cache_policy=NO_CACHE, **DATABASE_RETRIES)
def load(
    staged: SyncStaged, request: WarehouseSync, audit: RunAudit, start: SyncStart
) -> ImportReport:
    """Import the rows with the run's audit row and advance the watermark, in one transaction."""
    progress = ProgressArtifact(
        staged.rows.rows,
        key=artifact_key("progress", request.workspace),
        description=f"Rows written by sync {request.name} into {request.workspace}",
    )

    def written(classified: pl.DataFrame) -> None:
        reporter().advance("written", classified.height)
        progress.advance(classified.height)

    def unchanged_since_start(cur: Cursor, workspace: Workspace) -> None:
        if read_sync_state(cur, workspace.id, request.name) != start.stored:
            raise SyncConflictError(
                f"sync {request.name!r} advanced while this run was reading (another run "
                "of it committed first); nothing was written, run it again"
            )

    advanced = False

    def advance_watermark(cur: Cursor, workspace: Workspace, report: ImportReport) -> None:
        nonlocal advanced
        if request.cursor_column and staged.watermark is not None:
            save_watermark(
                cur,
                workspace.id,
                request.name,
                request.cursor_column,
                staged.watermark,
                report.run_id,
            )
            advanced = True

    report = run_import(
        staged.rows,
        request.workspace,
        request.options(),
        audit=audit,
        on_batch=written,
        hooks=RunHooks(under_lock=unchanged_since_start, before_commit=advance_watermark),
        allow_empty=True,
    )
    progress.finish()
    stored = start.stored["watermark"] if start.stored is not None else None
    watermark = staged.watermark if advanced else stored
    report.sync = SyncState(request.name, request.cursor_column, watermark)
    return report


@flow(
    name="sync-leads",
    flow_run_name=sync_run_name,
    log_prints=False,
    on_failure=[failure_recorder(KIND_SYNC, WarehouseSync)],
)
def sync_leads_flow(request: WarehouseSync) -> dict[str, Any]:
    """Import the new rows of a SQL query into a workspace and return the dedup report."""
    started = time.perf_counter()
    tag_run(KIND_SYNC, request.workspace)
    audit = new_audit(KIND_SYNC, request, source=request.name)
    with tempfile.TemporaryDirectory(prefix="leads-sync-") as work_dir:
        start = sync_start(request)
        staged = stage_rows(request, start.watermark, work_dir)
        staged_at = time.perf_counter()
        report = load(staged, request, audit, start)
    finished = time.perf_counter()
    report.source = request.audit_parameters()["source_url"]
    report.warnings = _unique(start.warnings + report.warnings)
    report.timings = {**audit.timings, "loadTaskMs": _ms(staged_at, finished)}
    report.timings["flowMs"] = _ms(started, finished)
    publish(report.to_json(), request.workspace, f"sync {request.name}")
    return report.to_json()


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000, 1)
