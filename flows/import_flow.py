"""The `import-leads` Prefect flow: read a file in chunks, prepare them, load them in one go."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from flows.settings import DEFAULT_WORKSPACE, apply_prefect_defaults

apply_prefect_defaults()

import polars as pl  # noqa: E402
from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402

from flows.database import transaction  # noqa: E402
from flows.engine import (  # noqa: E402
    ImportResult,
    import_batches,
    import_input,
    resolve_workspace,
)
from flows.progress import reporter  # noqa: E402
from flows.readers import open_source  # noqa: E402
from transforms.errors import EmptyInputError  # noqa: E402
from transforms.fields import IS_FIRST, SOURCE_FILE  # noqa: E402
from transforms.normalise import prepare_leads  # noqa: E402
from transforms.report import escape_formulas, outcome_rows  # noqa: E402


@dataclass
class ReadSummary:
    """What the read task staged: one raw Parquet file per chunk, in input order."""

    chunk_paths: list[str]
    rows: int
    format: str
    encoding: str | None = None
    warnings: list[str] = field(default_factory=list)


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


class _OutcomesWriter:
    """Appends every batch's per-row outcomes to one CSV file, formula cells escaped."""

    def __init__(self, handle: IO[bytes] | None) -> None:
        self._handle = handle
        self._header = True

    def __call__(self, result: ImportResult) -> None:
        reporter().advance("written", result.classified.height)
        if self._handle is None:
            return
        rows = escape_formulas(outcome_rows(result.classified))
        rows.write_csv(self._handle, include_header=self._header)
        self._header = False


@task(name="load", cache_policy=NO_CACHE)
def load_chunks(
    prepared_paths: list[str],
    workspace: str,
    restore_soft_deleted: bool,
    dry_run: bool,
    commit_every: int | None,
    outcomes_path: str | None,
) -> dict[str, Any]:
    """Classify the chunks against the workspace under its lock and write them; one transaction
    unless `commit_every` is set."""
    with (
        open(outcomes_path, "wb") if outcomes_path else nullcontext() as handle,
        transaction() as conn,
    ):
        target = resolve_workspace(conn, workspace)
        if not commit_every:
            return import_input(
                conn,
                target,
                pl.scan_parquet(prepared_paths).select("email", IS_FIRST).collect(),
                _batches(prepared_paths, None),
                restore_soft_deleted=restore_soft_deleted,
                dry_run=dry_run,
                default_source=SOURCE_FILE,
                on_batch=_OutcomesWriter(handle),
            )
        return import_batches(
            conn,
            target,
            _batches(prepared_paths, commit_every),
            restore_soft_deleted=restore_soft_deleted,
            dry_run=dry_run,
            default_source=SOURCE_FILE,
            commit_every=commit_every,
            on_batch=_OutcomesWriter(handle),
        )


@flow(name="import-leads", log_prints=False)
def import_leads_flow(
    source: str,
    workspace: str = DEFAULT_WORKSPACE,
    restore_soft_deleted: bool = True,
    dry_run: bool = False,
    format: str | None = None,
    sheet: str | None = None,
    commit_every: int | None = None,
    outcomes: str | None = None,
) -> dict[str, Any]:
    """Import a file of leads into a workspace and return the dedup report."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="leads-import-") as work_dir:
        summary = read_leads(source, format, sheet, work_dir)
        read_done = time.perf_counter()
        prepared_paths = prepare_chunks(summary.chunk_paths)
        prepare_done = time.perf_counter()
        report = load_chunks(
            prepared_paths, workspace, restore_soft_deleted, dry_run, commit_every, outcomes
        )
    finished = time.perf_counter()
    report.update(source=source, format=summary.format)
    if summary.encoding:
        report["encoding"] = summary.encoding
    if summary.warnings:
        report["warnings"] = summary.warnings
    report["timings"] = {
        "readMs": _ms(started, read_done),
        "prepareMs": _ms(read_done, prepare_done),
        "loadTaskMs": _ms(prepare_done, finished),
        "flowMs": _ms(started, finished),
    }
    return report


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000, 1)
