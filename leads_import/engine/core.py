"""Public entry points of the engine: import a batch of leads, soft delete leads."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import polars as pl
from psycopg2.extensions import cursor as Cursor

from leads_import.db import leads as store
from leads_import.db import workspaces
from leads_import.db.connection import Connection, database_url, transaction
from leads_import.db.runs import RunAudit, record_run, replayed_report
from leads_import.db.workspaces import DEFAULT_WORKSPACE, Workspace, resolve_workspace
from leads_import.errors import EmptyInputError, PlanLimitExceededError
from transforms.classify import (
    ON_EXISTING,
    RESTORED,
    SKIP,
    batch_emails,
    classify,
    count_outcomes,
    first_in_input,
    planned_additions,
    settle_updates,
)
from transforms.fields import IS_FIRST, SOURCE_API
from transforms.frames import collect
from transforms.normalise import normalise_email, prepare_leads
from transforms.records import frame_to_raw_frame, records_to_raw_frame
from transforms.report import build_report, merge_reports
from transforms.write_plan import created_rows, restored_rows, updated_rows


@dataclass
class ImportResult:
    """What one import did: the report and, for outcome files, every row's classification."""

    report: dict[str, Any]
    classified: pl.DataFrame = field(repr=False)


# Threads for the pure work (merge rows, reports) that can run while a write waits on the
# server, which leaves a core idle: about 1 ms per 1000-lead API request (bench/compare_http.py).
_BACKGROUND = ThreadPoolExecutor(max_workers=2, thread_name_prefix="leads-engine")


@cache
def _cached_database_url() -> str:
    return database_url()


def _write_batch(
    cur: Cursor,
    workspace: Workspace,
    classified: pl.DataFrame,
    *,
    default_source: str,
    on_existing: str,
) -> pl.DataFrame:
    """Write one classified batch: COPY the created leads, merge the restored ones, apply the
    `on_existing` policy; return the batch with updates that changed nothing settled."""
    created = created_rows(classified, default_source=default_source)
    # The merge input is built on the other core while the COPY waits on the server.
    restoring = _BACKGROUND.submit(restored_rows, classified)
    store.insert_created(cur, workspace.id, created)
    store.restore_leads(cur, workspace.id, restoring.result())
    if on_existing == SKIP:
        return classified
    changed = store.update_leads(cur, workspace.id, updated_rows(classified), on_existing)
    return settle_updates(classified, changed)


def _batch_report(
    classified: pl.DataFrame,
    remaining: int | None,
    started: float,
    built: Future[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The batch's report (`built`: its build_report, started before the writes)."""
    report = build_report(classified) if built is None else built.result()
    report.update(
        total=classified.height,
        remainingCapacity=remaining,
        loadMs=round((time.perf_counter() - started) * 1000, 1),
    )
    return report


def _check_on_existing(on_existing: str) -> None:
    if on_existing not in ON_EXISTING:
        raise ValueError(f"on_existing must be one of {', '.join(ON_EXISTING)}: {on_existing!r}")


def import_batch(
    conn: Connection,
    workspace: Workspace,
    prepared: pl.DataFrame,
    *,
    restore_soft_deleted: bool = True,
    default_source: str = SOURCE_API,
    on_existing: str = SKIP,
) -> ImportResult:
    """Classify one prepared batch under the workspace lock and write it, in the caller's
    transaction (earlier batches of the same transaction count as existing leads)."""
    _check_on_existing(on_existing)
    started = time.perf_counter()
    with conn.cursor() as cur:
        workspaces.lock_workspace(cur, workspace.id)
        existing = store.fetch_existing(
            cur, workspace.id, batch_emails(prepared), active_ids=on_existing != SKIP
        )
        classified = classify(
            prepared, existing, restore_soft_deleted=restore_soft_deleted, on_existing=on_existing
        )
        counts = count_outcomes(classified)
        remaining = store.check_plan_limit(cur, workspace.id, counts["created"] + counts[RESTORED])
        classified = _write_batch(
            cur, workspace, classified, default_source=default_source, on_existing=on_existing
        )
    return ImportResult(_batch_report(classified, remaining, started), classified)


def import_input(
    conn: Connection,
    workspace: Workspace,
    first_flags: pl.LazyFrame,
    batches: Iterable[pl.DataFrame],
    *,
    restore_soft_deleted: bool = True,
    dry_run: bool = False,
    default_source: str = SOURCE_API,
    on_existing: str = SKIP,
    audit: RunAudit | None = None,
    on_batch: Callable[[ImportResult], None] | None = None,
) -> dict[str, Any]:
    """Import a whole input, given as prepared batches in input order, in the caller's
    transaction (left open for the caller to commit; a dry run is rolled back here).

    With an `audit`, the run's `import_runs` row is written in the same transaction (not for a
    dry run, which writes nothing), and an idempotency key that already committed returns that
    run's report without writing anything.

    `first_flags` yields `email` and `is_first` of every row of the input, in input order (lazy,
    so that the emails of a large input are only held in memory until they are looked up). Under
    the workspace lock, the existing leads of all the input's emails are looked up once, before
    anything is written, and the plan limit is checked for the whole input; each batch is then
    classified against that one picture and written. Nothing is looked up again after a write,
    so the cost per batch does not grow with what the transaction has already written.
    """
    _check_on_existing(on_existing)
    started = time.perf_counter()
    flags = collect(first_flags.select("email", first_in_input().alias(IS_FIRST)))
    first = flags.get_column(IS_FIRST)
    emails = flags.get_column("email").filter(first)
    del flags
    with conn.cursor() as cur:
        workspaces.lock_workspace(cur, workspace.id)
        if audit is not None and (stored := replayed_report(cur, workspace.id, audit)):
            return stored
        existing = store.fetch_existing(cur, workspace.id, emails, active_ids=on_existing != SKIP)
        adding = planned_additions(
            emails.len(), existing, restore_soft_deleted=restore_soft_deleted
        )
        del emails
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
            classified = classify(
                prepared,
                existing,
                restore_soft_deleted=restore_soft_deleted,
                on_existing=on_existing,
            )
            # Under skip the writes change no outcome: the report is built while they run.
            built = _BACKGROUND.submit(build_report, classified) if on_existing == SKIP else None
            classified = _write_batch(
                cur, workspace, classified, default_source=default_source, on_existing=on_existing
            )
            report = _batch_report(classified, remaining, batch_started, built)
            reports.append(report)
            if on_batch is not None:
                on_batch(ImportResult(report, classified))
        if not reports:
            raise EmptyInputError()
        if offset != first.len():
            raise ValueError(f"the batches hold {offset} rows, first_flags {first.len()}")
        report = merge_reports(reports)
        report.update(workspace=workspace.slug, dryRun=dry_run)
        report["loadMs"] = round(report["loadMs"] + lookup_ms, 1)
        if dry_run:
            conn.rollback()
        elif audit is not None:
            report["runId"] = record_run(cur, workspace.id, audit, report=report)
    return report


def import_one_batch(
    conn: Connection, workspace: Workspace, prepared: pl.DataFrame, **options: Any
) -> dict[str, Any]:
    """`import_input` for an input that is a single prepared batch (the API's requests)."""
    return import_input(
        conn, workspace, prepared.lazy().select("email", IS_FIRST), [prepared], **options
    )


def import_batches(
    conn: Connection,
    workspace: Workspace,
    batches: Iterable[pl.DataFrame],
    *,
    restore_soft_deleted: bool = True,
    dry_run: bool = False,
    default_source: str = SOURCE_API,
    commit_every: int | None = None,
    on_existing: str = SKIP,
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
    # Emails whose first row came in an earlier batch. Under skip their later rows are
    # duplicates anyway (the lead is active by then); a policy must not apply them again.
    claimed = pl.Series("email", [], dtype=pl.String)
    for prepared in batches:
        if prepared.height == 0:
            continue
        if on_existing != SKIP:
            prepared = prepared.with_columns(
                pl.col(IS_FIRST) & ~pl.col("email").is_in(claimed.implode())
            )
            claimed = pl.concat([claimed, batch_emails(prepared)])
        try:
            result = import_batch(
                conn,
                workspace,
                prepared,
                restore_soft_deleted=restore_soft_deleted,
                default_source=default_source,
                on_existing=on_existing,
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
    workspace: str | Workspace = DEFAULT_WORKSPACE,
    *,
    restore_soft_deleted: bool = True,
    dry_run: bool = False,
    source: str = SOURCE_API,
    on_existing: str = SKIP,
    audit: RunAudit | None = None,
    database: str | None = None,
) -> dict[str, Any]:
    """Import leads (dicts with API field names, or a Polars frame) and return the report.

    One call is one transaction: it commits entirely or, on any failure, writes nothing.
    With an `audit`, the call is recorded in `import_runs` and its idempotency key honoured.
    `workspace` is a slug, or a workspace already looked up in this database (the HTTP API's,
    found with its key), which saves a query.
    """
    if isinstance(leads, pl.DataFrame):
        raw, warnings = frame_to_raw_frame(leads)
    else:
        raw, warnings = records_to_raw_frame(leads)
    if raw.height == 0:
        raise EmptyInputError()
    prepared = prepare_leads(raw)
    with transaction(database or _cached_database_url()) as conn:
        if isinstance(workspace, Workspace):
            target = workspace
        else:
            target = resolve_workspace(conn, workspace)
        report = import_one_batch(
            conn,
            target,
            prepared,
            restore_soft_deleted=restore_soft_deleted,
            dry_run=dry_run,
            default_source=source,
            on_existing=on_existing,
            audit=audit,
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
            workspaces.lock_workspace(cur, target.id)
            return store.soft_delete(cur, target.id, normalised)
