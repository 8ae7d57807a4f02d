"""The `import-leads` Prefect flow: fetch a file, read it in chunks, prepare them, load them in
one go, publish the report as artifacts."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.artifacts import ProgressArtifact, publish_report
from flows.parameters import FileImport
from flows.retries import DATABASE_RETRIES, failure_recorder, new_audit
from leads_import.db.connection import transaction
from leads_import.db.runs import KIND_FILE, RunAudit, payload_digest, record_run, replayed_report
from leads_import.db.workspaces import resolve_workspace
from leads_import.engine.core import ImportResult, import_batches, import_input
from leads_import.errors import EmptyInputError
from leads_import.progress import reporter
from leads_import.readers.fetch import fetch_to
from leads_import.readers.sources import open_source
from transforms.artifacts import artifact_key
from transforms.fields import IS_FIRST, SOURCE_FILE
from transforms.normalise import prepare_leads
from transforms.report import escape_formulas, outcome_rows


@dataclass
class ReadSummary:
    """What the read task staged: one raw Parquet file per chunk, in input order."""

    chunk_paths: list[str]
    rows: int
    format: str
    encoding: str | None = None
    warnings: list[str] = field(default_factory=list)


@task(name="fetch", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 8])
def fetch_source(source: str, work_dir: str) -> str:
    """A local path for the source: the path itself, or an http(s) URL downloaded first."""
    return fetch_to(source, Path(work_dir))


@task(name="fingerprint", cache_policy=NO_CACHE)
def fingerprint(path: str, request: FileImport) -> str:
    """SHA-256 of the file and the options an idempotency key is bound to."""
    return payload_digest(request.fingerprint_parts(), files=[Path(path)])


@task(name="replay", cache_policy=NO_CACHE, **DATABASE_RETRIES)
def committed_report(workspace: str, audit: RunAudit) -> dict[str, Any] | None:
    """The report of the committed run with this idempotency key, if there is one."""
    with transaction() as conn, conn.cursor() as cur:
        target = resolve_workspace(conn, workspace)
        return replayed_report(cur, target.id, audit)


@task(name="read", cache_policy=NO_CACHE)
def read_leads(source: str, fmt: str | None, sheet: str | None, work_dir: str) -> ReadSummary:
    """Read the source in chunks of bounded size into raw Parquet files."""
    opened = open_source(source, fmt, sheet=sheet)
    paths: list[str] = []
    rows = 0
    for number, raw in enumerate(opened.raw_chunks()):
        path = Path(work_dir) / f"raw-{number:05d}.parquet"
        raw.write_parquet(path)
        paths.append(str(path))
        rows += raw.height
        reporter().advance("read", raw.height)
    if rows == 0:
        raise EmptyInputError(f"{Path(source).name} has no data rows")
    reporter().set_total(rows)
    logger = get_run_logger()
    logger.info("read %d rows from %s (%s)", rows, source, opened.describe())
    for warning in opened.warnings:
        logger.warning(warning)
    return ReadSummary(paths, rows, opened.format, opened.encoding, opened.warnings)


@task(name="prepare", cache_policy=NO_CACHE)
def prepare_chunks(raw_paths: list[str]) -> list[str]:
    """Normalise, validate and mark in-chunk duplicates; one prepared Parquet file per chunk."""
    prepared_paths = []
    for raw_path in raw_paths:
        prepared = prepare_leads(pl.read_parquet(raw_path))
        path = raw_path.replace("raw-", "prepared-")
        prepared.write_parquet(path)
        prepared_paths.append(path)
        reporter().advance("prepared", prepared.height)
    return prepared_paths


def _batches(paths: list[str], commit_every: int | None) -> Iterator[pl.DataFrame]:
    for path in paths:
        prepared = pl.read_parquet(path)
        if commit_every:
            yield from prepared.iter_slices(commit_every)
        else:
            yield prepared


class _BatchSink:
    """Follows the written batches: progress display and artifact, per-row outcomes file."""

    def __init__(self, handle: IO[bytes] | None, progress: ProgressArtifact | None) -> None:
        self._handle = handle
        self._progress = progress
        self._header = True

    def __call__(self, result: ImportResult) -> None:
        reporter().advance("written", result.classified.height)
        if self._progress is not None:
            self._progress.advance(result.classified.height)
        if self._handle is None:
            return
        rows = escape_formulas(outcome_rows(result.classified))
        rows.write_csv(self._handle, include_header=self._header)
        self._header = False


@contextmanager
def _outcomes_file(path: str | None, *, atomic: bool) -> Iterator[IO[bytes] | None]:
    """The outcomes file, written beside `path` and moved there only when the load succeeds,
    so a failed import leaves no partial file (and an older file at `path` as it was). With
    `commit_every` the import is not atomic either: its file follows the committed batches."""
    if not path:
        yield None
        return
    if not atomic:
        with open(path, "wb") as handle:
            yield handle
        return
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")
    try:
        with partial.open("wb") as handle:
            yield handle
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


@task(name="load", cache_policy=NO_CACHE, **DATABASE_RETRIES)
def load_chunks(
    prepared_paths: list[str], request: FileImport, audit: RunAudit, total_rows: int
) -> dict[str, Any]:
    """Classify the chunks against the workspace under its lock and write them with the run's
    audit row; one transaction unless `commit_every` is set."""
    progress = ProgressArtifact(
        total_rows,
        key=artifact_key("progress", request.workspace),
        description=f"Rows written importing {request.source} into {request.workspace}",
    )
    options: dict[str, Any] = {
        "restore_soft_deleted": request.restore_soft_deleted,
        "dry_run": request.dry_run,
        "default_source": SOURCE_FILE,
        "on_existing": request.on_existing,
    }
    with (
        _outcomes_file(request.outcomes, atomic=not request.commit_every) as handle,
        transaction() as conn,
    ):
        target = resolve_workspace(conn, request.workspace)
        sink = _BatchSink(handle, progress)
        if not request.commit_every:
            first_flags = pl.scan_parquet(prepared_paths).select("email", IS_FIRST)
            batches = _batches(prepared_paths, None)
            return import_input(
                conn, target, first_flags, batches, audit=audit, on_batch=sink, **options
            )
        report = import_batches(
            conn,
            target,
            _batches(prepared_paths, request.commit_every),
            commit_every=request.commit_every,
            on_batch=sink,
            **options,
        )
        if not request.dry_run:
            with conn.cursor() as cur:
                report["runId"] = record_run(cur, target.id, audit, report=report)
        return report


@task(name="publish", cache_policy=NO_CACHE)
def publish(report: dict[str, Any], workspace: str, source: str) -> None:
    """Publish the counts table and the samples page as artifacts of this run."""
    publish_report(report, workspace, source)


@flow(
    name="import-leads",
    log_prints=False,
    on_failure=[failure_recorder(KIND_FILE, FileImport)],
)
def import_leads_flow(request: FileImport) -> dict[str, Any]:
    """Import a file of leads into a workspace and return the dedup report."""
    started = time.perf_counter()
    audit = new_audit(KIND_FILE, request, source=request.source)
    with tempfile.TemporaryDirectory(prefix="leads-import-") as work_dir:
        path = fetch_source(request.source, work_dir)
        if request.idempotency_key:
            audit = replace(audit, payload_sha256=fingerprint(path, request))
            stored = committed_report(request.workspace, audit)
            if stored is not None:
                get_run_logger().info("run %s imported this already", stored["runId"])
                publish(stored, request.workspace, request.source)
                return stored
        summary = read_leads(path, request.format, request.sheet, work_dir)
        read_done = time.perf_counter()
        prepared_paths = prepare_chunks(summary.chunk_paths)
        prepare_done = time.perf_counter()
        audit.timings.update(readMs=_ms(started, read_done), prepareMs=_ms(read_done, prepare_done))
        report = load_chunks(prepared_paths, request, audit, summary.rows)
    finished = time.perf_counter()
    report.update(source=request.source, format=summary.format)
    if summary.encoding:
        report["encoding"] = summary.encoding
    if summary.warnings:
        report["warnings"] = summary.warnings
    report["timings"] = {
        **audit.timings,
        "loadTaskMs": _ms(prepare_done, finished),
        "flowMs": _ms(started, finished),
    }
    publish(report, request.workspace, request.source)
    return report


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000, 1)
