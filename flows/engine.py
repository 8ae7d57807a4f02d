"""Public entry points of the engine: import a batch of leads, soft delete leads."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import polars as pl

from flows import store
from flows.database import (
    Connection,
    Workspace,
    create_workspace,
    database_url,
    ensure_schema,
    find_workspace,
    transaction,
)
from flows.settings import DEFAULT_WORKSPACE
from transforms.classify import (
    RESTORED,
    batch_emails,
    classify,
    count_outcomes,
    mark_first_in_input,
    planned_additions,
)
from transforms.errors import EmptyInputError, PlanLimitExceededError
from transforms.fields import IS_FIRST, SOURCE_API
from transforms.normalise import normalise_email, prepare_leads
from transforms.records import frame_to_raw_frame, records_to_raw_frame
from transforms.report import build_report, merge_reports
from transforms.write_plan import created_rows, restored_rows


@dataclass
class ImportResult:
    """What one import did: the report and, for outcome files, every row's classification."""

    report: dict[str, Any]
    classified: pl.DataFrame = field(repr=False)


@cache
def _cached_database_url() -> str:
    return database_url()


def resolve_workspace(conn: Connection, slug: str) -> Workspace:
    """The workspace with this slug; `default` is created on first use, others must exist."""
    ensure_schema(conn)
    if slug == DEFAULT_WORKSPACE:
        return create_workspace(conn, slug, name="Default workspace")
    return find_workspace(conn, slug)


def import_batch(
    conn: Connection,
    workspace: Workspace,
    prepared: pl.DataFrame,
    *,
    restore_soft_deleted: bool = True,
    default_source: str = SOURCE_API,
) -> ImportResult:
    """Classify one prepared batch under the workspace lock and write it, in the caller's
    transaction (earlier batches of the same transaction count as existing leads)."""
    started = time.perf_counter()
    with conn.cursor() as cur:
        store.lock_workspace(cur, workspace.id)
        existing = store.fetch_existing(cur, workspace.id, batch_emails(prepared))
        classified = classify(prepared, existing, restore_soft_deleted=restore_soft_deleted)
        counts = count_outcomes(classified)
        remaining = store.check_plan_limit(cur, workspace.id, counts["created"] + counts[RESTORED])
        store.insert_created(
            cur, workspace.id, created_rows(classified, default_source=default_source)
        )
        store.restore_leads(cur, workspace.id, restored_rows(classified))
    report = build_report(classified)
    report.update(
        total=prepared.height,
        remainingCapacity=remaining,
        loadMs=round((time.perf_counter() - started) * 1000, 1),
    )
    return ImportResult(report, classified)


def import_input(
    conn: Connection,
    workspace: Workspace,
    first_flags: pl.DataFrame,
    batches: Iterable[pl.DataFrame],
    *,
    restore_soft_deleted: bool = True,
    dry_run: bool = False,
    default_source: str = SOURCE_API,
    on_batch: Callable[[ImportResult], None] | None = None,
) -> dict[str, Any]:
    """Import a whole input, given as prepared batches in input order, in the caller's
    transaction (left open for the caller to commit; a dry run is rolled back here).

    `first_flags` holds `email` and `is_first` of every row of the input, in input order. Under
    the workspace lock, the existing leads of all the input's emails are looked up once, before
    anything is written, and the plan limit is checked for the whole input; each batch is then
    classified against that one picture and written. Nothing is looked up again after a write,
    so the cost per batch does not grow with what the transaction has already written.
    """
    started = time.perf_counter()
    first = mark_first_in_input(first_flags)
    emails = first_flags.get_column("email").filter(first)
    with conn.cursor() as cur:
        store.lock_workspace(cur, workspace.id)
        existing = store.fetch_existing(cur, workspace.id, emails)
        adding = planned_additions(
            emails.len(), existing, restore_soft_deleted=restore_soft_deleted
        )
        remaining = store.check_plan_limit(cur, workspace.id, adding)
        lookup_ms = (time.perf_counter() - started) * 1000
        reports: list[dict[str, Any]] = []
        offset = 0
        for prepared in batches:
            if prepared.height == 0:
                continue
            batch_started = time.perf_counter()
            prepared = prepared.with_columns(first.slice(offset, prepared.height))
            offset += prepared.height
            classified = classify(prepared, existing, restore_soft_deleted=restore_soft_deleted)
            store.insert_created(
                cur, workspace.id, created_rows(classified, default_source=default_source)
            )
            store.restore_leads(cur, workspace.id, restored_rows(classified))
            report = build_report(classified)
            report.update(
                total=prepared.height,
                remainingCapacity=remaining,
                loadMs=round((time.perf_counter() - batch_started) * 1000, 1),
            )
            reports.append(report)
            if on_batch is not None:
                on_batch(ImportResult(report, classified))
    if not reports:
        raise EmptyInputError()
    if offset != first.len():
        raise ValueError(f"the batches hold {offset} rows, first_flags {first.len()}")
    if dry_run:
        conn.rollback()
    report = merge_reports(reports)
    report.update(workspace=workspace.slug, dryRun=dry_run)
    report["loadMs"] = round(report["loadMs"] + lookup_ms, 1)
    return report


def import_batches(
    conn: Connection,
    workspace: Workspace,
    batches: Iterable[pl.DataFrame],
    *,
    restore_soft_deleted: bool = True,
    dry_run: bool = False,
    default_source: str = SOURCE_API,
    commit_every: int | None = None,
    on_batch: Callable[[ImportResult], None] | None = None,
) -> dict[str, Any]:
    """Import prepared batches of one input in input order and return the combined report,
    looking each batch up after the previous one is written (the path of `commit_every`).

    Everything is one transaction, left open for the caller to commit, unless `commit_every`
    commits after every batch that brings the uncommitted rows to at least that many. Each
    commit releases the workspace lock, which is why every batch is looked up afresh. A dry
    run writes too, so that later batches see earlier ones, and is rolled back here.
    """
    reports: list[dict[str, Any]] = []
    uncommitted = 0
    uncommitted_added = 0  # leads made active by batches not committed yet
    for prepared in batches:
        if prepared.height == 0:
            continue
        try:
            result = import_batch(
                conn,
                workspace,
                prepared,
                restore_soft_deleted=restore_soft_deleted,
                default_source=default_source,
            )
        except PlanLimitExceededError as error:
            # The uncommitted batches roll back: state the active leads the workspace keeps.
            raise PlanLimitExceededError(
                error.limit, error.active - uncommitted_added, error.would_reach
            ) from None
        reports.append(result.report)
        if on_batch is not None:
            on_batch(result)
        uncommitted += prepared.height
        uncommitted_added += result.report["created"] + result.report["restored"]
        if commit_every and not dry_run and uncommitted >= commit_every:
            conn.commit()
            uncommitted = 0
            uncommitted_added = 0
    if not reports:
        raise EmptyInputError()
    if dry_run:
        conn.rollback()
    report = merge_reports(reports)
    report.update(workspace=workspace.slug, dryRun=dry_run)
    return report


def import_leads(
    leads: Iterable[Mapping[str, Any]] | pl.DataFrame,
    workspace: str = DEFAULT_WORKSPACE,
    *,
    restore_soft_deleted: bool = True,
    dry_run: bool = False,
    source: str = SOURCE_API,
    database: str | None = None,
) -> dict[str, Any]:
    """Import leads (dicts with API field names, or a Polars frame) and return the report.

    One call is one transaction: it commits entirely or, on any failure, writes nothing.
    """
    if isinstance(leads, pl.DataFrame):
        raw, warnings = frame_to_raw_frame(leads)
    else:
        raw, warnings = records_to_raw_frame(leads)
    if raw.height == 0:
        raise EmptyInputError()
    prepared = prepare_leads(raw)
    with transaction(database or _cached_database_url()) as conn:
        target = resolve_workspace(conn, workspace)
        report = import_input(
            conn,
            target,
            prepared.select("email", IS_FIRST),
            [prepared],
            restore_soft_deleted=restore_soft_deleted,
            dry_run=dry_run,
            default_source=source,
        )
    if warnings:
        report["warnings"] = warnings
    return report


def soft_delete_leads(
    workspace: str, emails: Iterable[str], *, database: str | None = None
) -> list[str]:
    """Soft delete the active leads with these emails; return the normalised emails deleted."""
    normalised = (
        pl.Series("email", list(emails), dtype=pl.String)
        .to_frame()
        .select(normalise_email(pl.col("email")))
        .drop_nulls()
        .unique(maintain_order=True)
        .get_column("email")
        .to_list()
    )
    with transaction(database or _cached_database_url()) as conn:
        target = resolve_workspace(conn, workspace)
        with conn.cursor() as cur:
            store.lock_workspace(cur, target.id)
            return store.soft_delete(cur, target.id, normalised)
