"""The one place an import runs: the transaction, the workspace lock, the lookup, the writes, the
run's record, and the commit or the rollback, for every entry point."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl
from psycopg2.extensions import cursor as Cursor

from leads_import.db import leads as db_leads
from leads_import.db import runs, workspaces
from leads_import.db.connection import Connection, database_url, transaction
from leads_import.db.runs import RunAudit
from leads_import.db.workspaces import Workspace
from leads_import.engine.inputs import ImportInput
from leads_import.engine.options import ImportOptions
from leads_import.engine.report import ImportReport
from leads_import.errors import EmptyInputError, PlanLimitExceededError
from transforms.classify import (
    CREATED,
    RESTORED,
    SKIP,
    batch_emails,
    classify,
    count_outcomes,
    first_in_input,
    planned_additions,
    settle_updates,
)
from transforms.fields import IS_FIRST
from transforms.frames import collect
from transforms.report import build_report
from transforms.write_plan import created_rows, restored_rows, updated_rows

# Threads for the pure work (merge rows, reports) that can run while a write waits on the
# server, which leaves a core idle: about 1 ms per 1000-lead API request (bench/compare_http.py).
_BACKGROUND = ThreadPoolExecutor(max_workers=2, thread_name_prefix="leads-engine")

OnBatch = Callable[[pl.DataFrame], None]  # receives each classified batch once it is written


@dataclass(frozen=True)
class RunHooks:
    """Work an entry point adds to the import's transaction (the warehouse sync's watermark)."""

    # Under the workspace lock, before the lookup: may raise to write nothing.
    under_lock: Callable[[Cursor, Workspace], None] | None = None
    # After the writes and the run's record, before the commit (not called for dry runs).
    before_commit: Callable[[Cursor, Workspace, ImportReport], None] | None = None


def run_import(
    source: ImportInput,
    workspace: str | Workspace,
    options: ImportOptions | None = None,
    *,
    audit: RunAudit | None = None,
    database: str | None = None,
    on_batch: OnBatch | None = None,
    hooks: RunHooks | None = None,
    allow_empty: bool = False,
) -> ImportReport:
    """Import prepared leads into a workspace and return the report.

    One transaction (unless `options.commit_every`): under the workspace's lock, the existing
    leads of the whole input are looked up once, the plan limit is checked before the first
    write, then each batch is classified and written. With an `audit` the run is recorded in
    `import_runs` in the same transaction, and an idempotency key (or a Prefect flow run) that
    already committed returns that run's report without writing. A dry run is rolled back; any
    failure rolls back everything not yet committed. `workspace` is a slug (`default` is created
    on first use) or a workspace already looked up in this database. `allow_empty`: an input
    without rows is an empty report, not EmptyInputError.
    """
    with transaction(database or database_url()) as conn:
        return import_within(
            conn,
            source,
            workspace,
            options,
            audit=audit,
            on_batch=on_batch,
            hooks=hooks,
            allow_empty=allow_empty,
        )


def import_within(
    conn: Connection,
    source: ImportInput,
    workspace: str | Workspace,
    options: ImportOptions | None = None,
    *,
    audit: RunAudit | None = None,
    on_batch: OnBatch | None = None,
    hooks: RunHooks | None = None,
    allow_empty: bool = False,
) -> ImportReport:
    """`run_import` in the caller's transaction, left open for the caller to commit (a dry run
    is rolled back here, and `commit_every` commits here)."""
    options = options or ImportOptions()
    hooks = hooks or RunHooks()
    if not isinstance(workspace, Workspace):
        workspace = workspaces.resolve_workspace(conn, workspace)
    with conn.cursor() as cur:
        workspaces.lock_workspace(cur, workspace.id)
        if audit is not None and (stored := runs.replayed_report(cur, workspace.id, audit)):
            return ImportReport.from_stored(stored)
        if hooks.under_lock is not None:
            hooks.under_lock(cur, workspace)
        report = _new_report(source, workspace, options)
        started = time.perf_counter()
        if options.commit_every:
            _load_committing(conn, cur, workspace, source, options, report, on_batch)
        else:
            _load_once(cur, workspace, source, options, report, on_batch)
        if report.total == 0:
            if not allow_empty:
                raise EmptyInputError()
            report.remaining_capacity = db_leads.remaining_capacity(cur, workspace.id)
        report.load_ms = (time.perf_counter() - started) * 1000
        if options.dry_run:
            conn.rollback()
            return report
        if audit is not None:
            report.run_id = runs.record_run(cur, workspace.id, audit, report=report.to_json())
        if hooks.before_commit is not None:
            hooks.before_commit(cur, workspace, report)
    return report


def _new_report(source: ImportInput, workspace: Workspace, options: ImportOptions) -> ImportReport:
    return ImportReport(
        workspace=workspace.slug,
        dry_run=options.dry_run,
        warnings=list(source.warnings),
        source=getattr(source, "source", None),
        format=getattr(source, "format", None),
        encoding=getattr(source, "encoding", None),
    )


def _write_batch(
    cur: Cursor, workspace: Workspace, classified: pl.DataFrame, options: ImportOptions
) -> pl.DataFrame:
    """Write one classified batch: COPY the created leads, merge the restored ones, apply the
    `on_existing` policy; return the batch with updates that changed nothing settled."""
    created = created_rows(classified, default_source=options.default_source)
    # The merge input is built on the other core while the COPY waits on the server.
    restoring = _BACKGROUND.submit(restored_rows, classified)
    db_leads.insert_created(cur, workspace.id, created)
    db_leads.restore_leads(cur, workspace.id, restoring.result())
    if options.on_existing == SKIP:
        return classified
    updated = updated_rows(classified)
    changed = db_leads.update_leads(cur, workspace.id, updated, options.on_existing)
    return settle_updates(classified, changed)


def _load_once(
    cur: Cursor,
    workspace: Workspace,
    source: ImportInput,
    options: ImportOptions,
    report: ImportReport,
    on_batch: OnBatch | None,
) -> None:
    """Look the whole input's emails up once, check the plan limit, then classify and write
    each batch against that one picture. Nothing is looked up after a write, so the cost per
    batch does not grow with what the transaction has already written."""
    flags = collect(source.first_flags().select("email", first_in_input().alias(IS_FIRST)))
    first = flags.get_column(IS_FIRST)
    emails = flags.get_column("email").filter(first)
    del flags  # the emails of a large input are held only until they are looked up
    existing = db_leads.fetch_existing(
        cur, workspace.id, emails, active_ids=options.on_existing != SKIP
    )
    adding = planned_additions(
        emails.len(), existing, restore_soft_deleted=options.restore_soft_deleted
    )
    del emails
    report.remaining_capacity = db_leads.check_plan_limit(cur, workspace.id, adding)
    offset = 0
    for prepared in source.batches():
        if prepared.height == 0:
            continue
        prepared = prepared.with_columns(first.slice(offset, prepared.height))
        offset += prepared.height
        classified = classify(
            prepared,
            existing,
            restore_soft_deleted=options.restore_soft_deleted,
            on_existing=options.on_existing,
        )
        # Under skip the writes change no outcome: the report is built while they run.
        built = (
            _BACKGROUND.submit(build_report, classified) if options.on_existing == SKIP else None
        )
        classified = _write_batch(cur, workspace, classified, options)
        report.add_batch(
            build_report(classified) if built is None else built.result(), classified.height
        )
        if on_batch is not None:
            on_batch(classified)
    if offset != first.len():
        raise ValueError(f"the batches hold {offset} rows, first_flags {first.len()}")


def _slices(batches: Iterator[pl.DataFrame], rows: int) -> Iterator[pl.DataFrame]:
    for batch in batches:
        yield from batch.iter_slices(rows)


def _load_committing(
    conn: Connection,
    cur: Cursor,
    workspace: Workspace,
    source: ImportInput,
    options: ImportOptions,
    report: ImportReport,
    on_batch: OnBatch | None,
) -> None:
    """Classify and write batches of `commit_every` rows, committing whenever the uncommitted
    rows reach that many. Each commit releases the workspace lock (another import may run
    between two commits), so every batch is looked up afresh."""
    assert options.commit_every is not None
    uncommitted = 0
    uncommitted_added = 0  # leads made active by batches not committed yet
    # Emails whose first row came in an earlier batch. Under skip their later rows are
    # duplicates anyway (the lead is active by then); a policy must not apply them again.
    claimed = pl.Series("email", [], dtype=pl.String)
    for prepared in _slices(source.batches(), options.commit_every):
        if prepared.height == 0:
            continue
        if options.on_existing != SKIP:
            prepared = prepared.with_columns(
                pl.col(IS_FIRST) & ~pl.col("email").is_in(claimed.implode())
            )
            claimed = pl.concat([claimed, batch_emails(prepared)])
        existing = db_leads.fetch_existing(
            cur, workspace.id, batch_emails(prepared), active_ids=options.on_existing != SKIP
        )
        classified = classify(
            prepared,
            existing,
            restore_soft_deleted=options.restore_soft_deleted,
            on_existing=options.on_existing,
        )
        counts = count_outcomes(classified)
        adding = counts[CREATED] + counts[RESTORED]
        try:
            report.remaining_capacity = db_leads.check_plan_limit(cur, workspace.id, adding)
        except PlanLimitExceededError as error:
            # The uncommitted batches roll back: state the active leads the workspace keeps.
            raise PlanLimitExceededError(
                error.limit, error.active - uncommitted_added, error.would_reach
            ) from None
        classified = _write_batch(cur, workspace, classified, options)
        report.add_batch(build_report(classified), classified.height)
        if on_batch is not None:
            on_batch(classified)
        uncommitted += classified.height
        uncommitted_added += adding
        if not options.dry_run and uncommitted >= options.commit_every:
            conn.commit()
            workspaces.lock_workspace(cur, workspace.id)
            uncommitted = uncommitted_added = 0
