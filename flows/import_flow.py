"""The `import-leads` Prefect flow: read a file, prepare the rows, load them in one transaction."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from flows.settings import DEFAULT_WORKSPACE, apply_prefect_defaults

apply_prefect_defaults()

import polars as pl  # noqa: E402
from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402

from flows.database import transaction  # noqa: E402
from flows.engine import import_prepared, resolve_workspace  # noqa: E402
from flows.readers import read_source  # noqa: E402
from transforms.fields import SOURCE_FILE  # noqa: E402
from transforms.normalise import prepare_leads  # noqa: E402
from transforms.report import escape_formulas, outcome_rows  # noqa: E402


@task(name="read", cache_policy=NO_CACHE)
def read_leads(source: str, fmt: str | None, work_dir: str) -> tuple[str, list[str]]:
    """Read the source file into a raw Parquet file; return its path and header warnings."""
    raw, warnings = read_source(source, fmt)
    path = Path(work_dir) / "raw.parquet"
    raw.write_parquet(path)
    logger = get_run_logger()
    logger.info("read %d rows from %s", raw.height, source)
    for warning in warnings:
        logger.warning(warning)
    return str(path), warnings


@task(name="prepare", cache_policy=NO_CACHE)
def prepare_batch(raw_path: str, work_dir: str) -> str:
    """Normalise, validate and mark in-batch duplicates; return the prepared Parquet path."""
    prepared = prepare_leads(pl.read_parquet(raw_path))
    path = Path(work_dir) / "prepared.parquet"
    prepared.write_parquet(path)
    return str(path)


@task(name="load", cache_policy=NO_CACHE)
def load_batch(
    prepared_path: str,
    workspace: str,
    restore_soft_deleted: bool,
    dry_run: bool,
    outcomes_path: str | None,
) -> dict[str, Any]:
    """Classify against the workspace under its lock and write, all in one transaction."""
    prepared = pl.read_parquet(prepared_path)
    with transaction() as conn:
        target = resolve_workspace(conn, workspace)
        result = import_prepared(
            conn,
            target,
            prepared,
            restore_soft_deleted=restore_soft_deleted,
            dry_run=dry_run,
            default_source=SOURCE_FILE,
        )
        if dry_run:
            conn.rollback()
    if outcomes_path:
        escape_formulas(outcome_rows(result.classified)).write_csv(outcomes_path)
    return result.report


@flow(name="import-leads", log_prints=False)
def import_leads_flow(
    source: str,
    workspace: str = DEFAULT_WORKSPACE,
    restore_soft_deleted: bool = True,
    dry_run: bool = False,
    format: str | None = None,
    outcomes: str | None = None,
) -> dict[str, Any]:
    """Import a file of leads into a workspace and return the dedup report."""
    with tempfile.TemporaryDirectory(prefix="leads-import-") as work_dir:
        raw_path, warnings = read_leads(source, format, work_dir)
        prepared_path = prepare_batch(raw_path, work_dir)
        report = load_batch(prepared_path, workspace, restore_soft_deleted, dry_run, outcomes)
    report["source"] = source
    if warnings:
        report["warnings"] = warnings
    return report
