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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from psycopg2.extensions import cursor as Cursor
from psycopg2.extras import Json

from flows.artifacts import ProgressArtifact
from flows.import_flow import prepare_chunks, publish
from flows.parameters import WarehouseSync
from flows.retries import DATABASE_RETRIES, failure_recorder, new_audit
from leads_import.db import leads as store
from leads_import.db import workspaces
from leads_import.db.connection import transaction
from leads_import.db.runs import KIND_SYNC, RunAudit, record_run, replayed_report
from leads_import.db.schema import ensure_schema
from leads_import.db.workspaces import DEFAULT_WORKSPACE, find_workspace, resolve_workspace
from leads_import.engine.core import ImportResult, import_input
from leads_import.errors import (
    PlanLimitExceededError,
    SyncConflictError,
    UnreadableSourceError,
    WorkspaceNotFoundError,
)
from leads_import.progress import reporter
from leads_import.readers.warehouse import read_source_chunks
from leads_import.sqlfiles import load_sql
from transforms.artifacts import artifact_key
from transforms.fields import IS_FIRST, SOURCE_WAREHOUSE
from transforms.watermark import (
    WatermarkTypeError,
    decode_watermark,
    encode_watermark,
    source_rows_to_raw,
)

Watermark = dict[str, str]  # the JSON form of transforms.watermark


@dataclass
class SyncStart:
    """Where a run starts: the sync's state as stored, and the watermark to read beyond."""

    stored: dict[str, Any] | None  # {"cursor_column", "watermark"}; None before the first run
    watermark: Watermark | None  # None: read every row
    warnings: list[str] = field(default_factory=list)


@dataclass
class SyncRead:
    """What the read task staged: one raw Parquet file per chunk, in cursor order."""

    chunk_paths: list[str]
    rows: int
    watermark: Watermark | None  # the cursor of the last row read; None when nothing was read
    warnings: list[str] = field(default_factory=list)


def _stored_state(cur: Cursor, workspace_id: int, name: str) -> dict[str, Any] | None:
    cur.execute(
        load_sql("runs/read_sync_watermark"), {"workspace_id": workspace_id, "sync_name": name}
    )
    row = cur.fetchone()
    return None if row is None else {"cursor_column": row[0], "watermark": row[1]}


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
            stored = _stored_state(cur, workspace_id, request.name)
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


@task(name="read", cache_policy=NO_CACHE, **DATABASE_RETRIES)
def read_rows(request: WarehouseSync, watermark: Watermark | None, work_dir: str) -> SyncRead:
    """Read the source's rows beyond the watermark, in chunks, into raw Parquet files."""
    paths: list[str] = []
    warnings: list[str] = []
    rows = 0
    last: Any = None
    chunks = read_source_chunks(
        request.name,
        request.source_url,
        request.query,
        request.cursor_column,
        decode_watermark(watermark) if watermark is not None else None,
        request.chunk_rows,
    )
    for number, chunk in enumerate(chunks):
        raw, chunk_warnings = source_rows_to_raw(chunk.frame, chunk.cursor_key, rows)
        path = Path(work_dir) / f"raw-{number:05d}.parquet"
        raw.write_parquet(path)
        paths.append(str(path))
        rows += raw.height
        warnings = _unique([*warnings, *chunk_warnings])
        last = chunk.last_cursor
        reporter().advance("read", raw.height)
    try:
        new_watermark = encode_watermark(last) if last is not None else None
    except WatermarkTypeError as error:
        raise UnreadableSourceError(f"sync {request.name!r}: {error}") from None
    reporter().set_total(rows)
    logger = get_run_logger()
    logger.info("read %d new rows of sync %s", rows, request.name)
    for warning in warnings:
        logger.warning(warning)
    return SyncRead(paths, rows, new_watermark, warnings)


def _remaining_capacity(cur: Cursor, workspace_id: int) -> int | None:
    try:
        return store.check_plan_limit(cur, workspace_id, 0)
    except PlanLimitExceededError:  # already over a lowered limit: nothing left
        return 0


def _empty_report(workspace: str, remaining: int | None, dry_run: bool) -> dict[str, Any]:
    """The report of a run that found no new rows: every count zero."""
    return {
        "created": 0,
        "restored": 0,
        "updated": 0,
        "duplicates": 0,
        "errors": 0,
        "duplicateEmails": [],
        "errorDetails": [],
        "total": 0,
        "remainingCapacity": remaining,
        "loadMs": 0.0,
        "workspace": workspace,
        "dryRun": dry_run,
    }


def _batches(paths: list[str]) -> Iterator[pl.DataFrame]:
    for path in paths:
        yield pl.read_parquet(path)


@task(name="load", cache_policy=NO_CACHE, **DATABASE_RETRIES)
def load_rows(
    prepared_paths: list[str],
    request: WarehouseSync,
    audit: RunAudit,
    start: SyncStart,
    read: SyncRead,
) -> dict[str, Any]:
    """Import the rows with the run's audit row and advance the watermark, in one transaction."""
    started = time.perf_counter()
    watermark = start.stored["watermark"] if start.stored is not None else None
    with transaction() as conn:
        target = resolve_workspace(conn, request.workspace)
        with conn.cursor() as cur:
            workspaces.lock_workspace(cur, target.id)
            if (committed := replayed_report(cur, target.id, audit)) is not None:
                return committed  # a retry after this run's COMMIT went through: nothing to do
            if _stored_state(cur, target.id, request.name) != start.stored:
                raise SyncConflictError(
                    f"sync {request.name!r} advanced while this run was reading (another run "
                    "of it committed first); nothing was written, run it again"
                )
        if read.rows == 0:
            with conn.cursor() as cur:
                report = _empty_report(
                    target.slug, _remaining_capacity(cur, target.id), request.dry_run
                )
                report["loadMs"] = round((time.perf_counter() - started) * 1000, 1)
                if not request.dry_run:
                    report["runId"] = record_run(cur, target.id, audit, report=report)
        else:
            progress = ProgressArtifact(
                read.rows,
                key=artifact_key("progress", request.workspace),
                description=f"Rows written by sync {request.name} into {request.workspace}",
            )

            def written(result: ImportResult) -> None:
                reporter().advance("written", result.classified.height)
                progress.advance(result.classified.height)

            report = import_input(
                conn,
                target,
                pl.scan_parquet(prepared_paths).select("email", IS_FIRST),
                _batches(prepared_paths),
                restore_soft_deleted=request.restore_soft_deleted,
                dry_run=request.dry_run,
                default_source=SOURCE_WAREHOUSE,
                on_existing=request.on_existing,
                audit=audit,
                on_batch=written,
            )
            if not request.dry_run and request.cursor_column and read.watermark is not None:
                with conn.cursor() as cur:
                    cur.execute(
                        load_sql("runs/save_sync_watermark"),
                        {
                            "workspace_id": target.id,
                            "sync_name": request.name,
                            "cursor_column": request.cursor_column,
                            "watermark": Json(read.watermark),
                            "run_id": report.get("runId"),
                        },
                    )
                watermark = read.watermark
    report["watermark"] = watermark
    return report


@flow(
    name="sync-leads",
    log_prints=False,
    on_failure=[failure_recorder(KIND_SYNC, WarehouseSync)],
)
def sync_leads_flow(request: WarehouseSync) -> dict[str, Any]:
    """Import the new rows of a SQL query into a workspace and return the dedup report."""
    started = time.perf_counter()
    audit = new_audit(KIND_SYNC, request, source=request.name)
    with tempfile.TemporaryDirectory(prefix="leads-sync-") as work_dir:
        start = sync_start(request)
        read = read_rows(request, start.watermark, work_dir)
        read_done = time.perf_counter()
        prepared_paths = prepare_chunks(read.chunk_paths)
        prepare_done = time.perf_counter()
        audit.timings.update(readMs=_ms(started, read_done), prepareMs=_ms(read_done, prepare_done))
        report = load_rows(prepared_paths, request, audit, start, read)
    finished = time.perf_counter()
    report.update(sync=request.name, source=request.audit_parameters()["source_url"])
    report["cursorColumn"] = request.cursor_column
    if warnings := _unique(start.warnings + read.warnings):
        report["warnings"] = warnings
    report["timings"] = {
        **audit.timings,
        "loadTaskMs": _ms(prepare_done, finished),
        "flowMs": _ms(started, finished),
    }
    publish(report, request.workspace, f"sync {request.name}")
    return report


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000, 1)
