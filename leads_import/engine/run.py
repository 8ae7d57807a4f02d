"""The one place an import runs: the transaction, the workspace lock, the lookup, the writes, the
run's record, and the commit or the rollback, for every entry point."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Final

import polars as pl
from psycopg2.extensions import cursor as Cursor

from leads_import.db import leads as db_leads
from leads_import.db import runs, workspaces
from leads_import.db.connection import Connection, database_url, transaction
from leads_import.db.runs import RunAudit
from leads_import.db.settings import LIST_LOOKUP_MAX_EMAILS, SNAPSHOT_MAX_LEADS
from leads_import.db.workspaces import Workspace
from leads_import.engine.inputs import Frames, ImportInput, InMemory, Records, prepare
from leads_import.engine.options import ImportOptions
from leads_import.engine.report import ImportReport
from leads_import.errors import EmptyInputError, PlanLimitExceededError
from leads_import.progress import reporter
from leads_import.sqlfiles import load_sql
from transforms.classify import (
    CREATED,
    DUPLICATE_OF,
    RESTORED,
    SKIP,
    classify,
    count_outcomes,
    first_in_input,
    first_rows,
    planned_additions,
    settle_updates,
)
from transforms.email_set import EmailSet, EmailTable
from transforms.fields import IS_FIRST, LINE
from transforms.frames import collect
from transforms.normalise import email_is_valid, is_ascii, normalise_email
from transforms.report import build_report
from transforms.write_plan import created_rows, restored_rows, updated_rows

# Threads for the pure work (merge rows, reports) that can run while a write waits on the
# server, which leaves a core idle: about 1 ms per 1000-lead API request (bench/compare_http.py).
_BACKGROUND = ThreadPoolExecutor(max_workers=2, thread_name_prefix="leads-engine")
# Batches prepared ahead of the writer: enough to keep it busy, few enough to bound memory.
_WRITES_AHEAD: Final = 2

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
    """Import leads into a workspace and return the report.

    One transaction (unless `options.commit_every`): under the workspace's lock, the existing
    leads are looked up once and the plan limit is checked before the first write; then each
    chunk is prepared, classified and handed to a writer thread, which COPYs it while the next
    chunk is prepared. With an `audit` the run is recorded in `import_runs` in the same
    transaction, and an idempotency key (or a Prefect flow run) that already committed returns
    that run's report without writing. A dry run's writes are rolled back (to a savepoint
    taken under the lock) and only its record, status `dry_run`, is kept; any failure rolls back
    everything not yet committed. `workspace` is a slug (`default` is created on first use) or
    a workspace already looked up in this database. `allow_empty`: an input without rows is an
    empty report, not EmptyInputError.
    """
    with transaction(database or database_url()) as conn:
        report = import_within(
            conn,
            source,
            workspace,
            options,
            audit=audit,
            on_batch=on_batch,
            hooks=hooks,
            allow_empty=allow_empty,
        )
        if not report.dry_run:
            reporter().phase("committing")
    return report


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
    """`run_import` in the caller's transaction, left open for the caller to commit (a dry run's
    writes are rolled back here, and `commit_every` commits here)."""
    options = options or ImportOptions()
    hooks = hooks or RunHooks()
    if not isinstance(workspace, Workspace):
        workspace = workspaces.resolve_workspace(conn, workspace)
    with conn.cursor() as cur:
        _lock(cur, workspace)
        if audit is not None and (stored := runs.replayed_report(cur, workspace.id, audit)):
            return ImportReport.from_stored(stored)
        if hooks.under_lock is not None:
            hooks.under_lock(cur, workspace)
        if options.dry_run:
            cur.execute(load_sql("engine/dry_run_savepoint"))
        report = _new_report(source, workspace, options)
        started = time.perf_counter()
        load = _load_committing if options.commit_every else _load
        load(conn, cur, workspace, source, options, report, on_batch)
        if report.total == 0:
            if not allow_empty:
                raise EmptyInputError()
            report.remaining_capacity = db_leads.remaining_capacity(cur, workspace.id)
        report.load_ms = (time.perf_counter() - started) * 1000
        if options.dry_run:
            # Its writes are undone; its record stays (status dry_run, never replayed).
            cur.execute(load_sql("engine/dry_run_rollback"))
        if audit is not None:
            report.run_id = runs.record_run(cur, workspace.id, audit, report=report.to_json())
        if options.dry_run:
            return report
        if hooks.before_commit is not None:
            hooks.before_commit(cur, workspace, report)
    return report


def _lock(cur: Cursor, workspace: Workspace) -> None:
    """The workspace's import lock; waiting for it is a phase the progress display names."""
    waiting = f"waiting for the workspace lock (another import into {workspace.slug})"
    if workspaces.lock_workspace(cur, workspace.id, on_wait=lambda: reporter().phase(waiting)):
        reporter().phase(None)


def _new_report(source: ImportInput, workspace: Workspace, options: ImportOptions) -> ImportReport:
    return ImportReport(
        workspace=workspace.slug,
        dry_run=options.dry_run,
        warnings=list(source.warnings),
        source=getattr(source, "source", None),
        format=getattr(source, "format", None),
        encoding=getattr(source, "encoding", None),
        columns=getattr(source, "columns", None),
    )


def _prepared_chunks(source: ImportInput, *, progress: bool = True) -> Iterator[pl.DataFrame]:
    """The input's chunks, prepared; `progress`: counted as read and prepared."""
    ready = getattr(source, "prepared", False)
    position = getattr(source, "bytes_read", None)  # a file's reader knows how far it read
    for chunk in source.chunks():
        if progress:
            reporter().advance("read", chunk.height)
            read = position() if position is not None else None
            if read is not None:
                reporter().read_bytes(*read)
        prepared = chunk if ready else prepare(chunk)
        if progress:
            reporter().advance("prepared", prepared.height)
        yield prepared


@dataclass(frozen=True)
class _Writes:
    """What writing one classified batch takes, worked out before it reaches the database."""

    classified: pl.DataFrame
    created: db_leads.CreatedLeads
    restored: pl.DataFrame
    updated: pl.DataFrame | None  # None under skip

    @classmethod
    def of(cls, workspace: Workspace, classified: pl.DataFrame, options: ImportOptions) -> _Writes:
        return cls(
            classified,
            _created_leads(workspace, classified, options),
            restored_rows(classified),
            None if options.on_existing == SKIP else updated_rows(classified),
        )


def _created_leads(
    workspace: Workspace, classified: pl.DataFrame, options: ImportOptions
) -> db_leads.CreatedLeads:
    """The batch's created leads, encoded for their COPY."""
    created = created_rows(classified, default_source=options.default_source)
    return db_leads.CreatedLeads.of(workspace.id, created)


def _write(
    cur: Cursor, workspace: Workspace, writes: _Writes, options: ImportOptions
) -> pl.DataFrame:
    """COPY the created leads, merge the restored ones, apply the `on_existing` policy; return
    the batch with updates that changed nothing settled."""
    db_leads.insert_created(cur, workspace.id, writes.created)
    db_leads.restore_leads(cur, workspace.id, writes.restored)
    if writes.updated is None:
        return writes.classified
    changed = db_leads.update_leads(cur, workspace.id, writes.updated, options.on_existing)
    return settle_updates(writes.classified, changed)


def _write_batch(
    cur: Cursor, workspace: Workspace, classified: pl.DataFrame, options: ImportOptions
) -> pl.DataFrame:
    """Write one classified batch on this thread; the COPY's rows are encoded on another core
    while the restores run on the server."""
    encoding = _BACKGROUND.submit(_created_leads, workspace, classified, options)
    db_leads.restore_leads(cur, workspace.id, restored_rows(classified))
    db_leads.insert_created(cur, workspace.id, encoding.result())
    if options.on_existing == SKIP:
        return classified
    updated = updated_rows(classified)
    changed = db_leads.update_leads(cur, workspace.id, updated, options.on_existing)
    return settle_updates(classified, changed)


# --- one transaction ----------------------------------------------------------------------


class _FirstRows:
    """The emails whose first valid row came in an earlier batch of the input, with that row's
    line (or index), so that a later duplicate names it: hashes, a bounded cost per batch."""

    def __init__(self) -> None:
        self._seen = EmailSet()

    def mark(self, prepared: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series, pl.DataFrame]:
        """The batch with rows of emails seen earlier marked not first, the emails first seen
        in it, and the earlier ones (email, duplicate_of) for `classify`."""
        emails, positions = first_rows(prepared)
        found, firsts = self._seen.lookup(emails)
        earlier = pl.DataFrame({"email": emails.filter(found), DUPLICATE_OF: firsts[found]})
        if earlier.height:
            prepared = prepared.with_columns(
                pl.col(IS_FIRST) & ~pl.col("email").is_in(earlier.get_column("email").implode())
            )
            emails, positions = emails.filter(~found), positions[~found]
        self._seen.add(emails, positions)
        return prepared, emails, earlier


class _Known:
    """What the classification of later chunks needs to know: the workspace's existing leads
    of the input's emails, and the emails whose first valid row came in an earlier chunk."""

    def __init__(self, existing: pl.DataFrame) -> None:
        self._existing = EmailTable(existing)
        self._firsts = _FirstRows()

    def classify(self, prepared: pl.DataFrame, options: ImportOptions) -> pl.DataFrame:
        """Classify a chunk: a row whose email an earlier chunk had is not a first row."""
        prepared, emails, earlier = self._firsts.mark(prepared)
        return _classify(prepared, self._existing.rows_of(emails), earlier, options)


def _classify(
    prepared: pl.DataFrame, existing: pl.DataFrame, earlier: pl.DataFrame, options: ImportOptions
) -> pl.DataFrame:
    """`transforms.classify.classify` with the import's options; the line a duplicate repeats
    is worked out for inputs with lines (files) alone."""
    return classify(
        prepared,
        existing,
        restore_soft_deleted=options.restore_soft_deleted,
        on_existing=options.on_existing,
        earlier=earlier,
        name_first_rows=LINE in prepared.columns,
    )


def _load(
    conn: Connection,
    cur: Cursor,
    workspace: Workspace,
    source: ImportInput,
    options: ImportOptions,
    report: ImportReport,
    on_batch: OnBatch | None,
) -> None:
    """The whole input in one transaction, every lookup before the first write, so that the
    cost per chunk does not grow with what the transaction has written.

    A short input held in memory is prepared once and its emails looked up. Otherwise, into a
    workspace without a plan limit, the workspace's leads are read once (a snapshot, while the
    first chunk is prepared) and the input is read once; with a limit (or a workspace too large
    to hold), a first pass prepares the input for its emails, which are looked up and checked
    against the limit, and a second pass writes. Either way chunks are written by a writer
    thread while the next one is prepared.
    """
    if isinstance(source, Frames | Records) and source.rows <= LIST_LOOKUP_MAX_EMAILS:
        _load_short(cur, workspace, source, options, report, on_batch)
        return
    cur.execute(load_sql("engine/set_import_memory"))
    if workspace.contact_limit is None:
        try:
            with _Writer(cur, workspace, options) as writer:
                known = writer.submit(lambda: _snapshot(cur, workspace))
                writer.write_all(_prepared_chunks(source), known, report, on_batch)
            return
        except _TooManyLeads:
            pass  # nothing written yet: the first pass below, as under a plan limit
    with _Writer(cur, workspace, options) as writer:
        # A first pass: only each row's email and first-in-chunk flag are kept.
        reporter().phase(
            "checking the plan limit (a first pass over the input)"
            if workspace.contact_limit is not None
            else "reading the input's emails (a first pass over the input)"
        )
        flags = [b.select("email", IS_FIRST) for b in _prepared_chunks(source, progress=False)]
        first = collect(pl.concat(flags).lazy().select(_global_first()))
        del flags
        emails = first.get_column("email").filter(first.get_column(IS_FIRST))
        del first
        # With the active leads' ids, so that a duplicate names its lead.
        existing = db_leads.fetch_existing(cur, workspace.id, emails, active_ids=True)
        _check_limit(cur, workspace, emails.len(), existing, options, report)
        known = _done(_Known(existing))
        reporter().phase(None)
        writer.write_all(_prepared_chunks(source), known, report, on_batch)


def _load_short(
    cur: Cursor,
    workspace: Workspace,
    source: InMemory,
    options: ImportOptions,
    report: ImportReport,
    on_batch: OnBatch | None,
) -> None:
    """A short input held in memory: the server looks its emails up and reads the plan capacity
    while this thread builds and prepares the rows and marks the repeats of earlier batches;
    then each batch is classified and written on this thread (no pipeline to fill)."""
    active_ids = options.on_existing != SKIP
    sending = threading.Event()
    looking_up = _BACKGROUND.submit(
        _short_lookup, cur, workspace, _given_emails(source), active_ids, sending
    )
    # Building the rows holds the GIL for milliseconds at a time: the lookup's statement is sent
    # first, or the lookup would wait for the interpreter's switch interval (5 ms). A lookup that
    # fails before sending it ends the wait too.
    looking_up.add_done_callback(lambda _: sending.set())
    sending.wait()
    try:
        firsts = _FirstRows()
        marked = [firsts.mark(batch) for batch in _prepared_chunks(source) if batch.height]
    finally:
        wait([looking_up])  # it uses the cursor: done before this call returns or raises
    found, capacity = looking_up.result()
    emails = pl.concat(
        [batch_emails for _, batch_emails, _ in marked] or [pl.Series("email", [], pl.String)]
    )
    existing = found.filter(pl.col("email").is_in(emails.implode()))
    _check_capacity(capacity, emails.len(), existing, options, report)
    classified = (
        _classify(prepared, _rows_of(existing, batch_emails, len(marked)), earlier, options)
        for prepared, batch_emails, earlier in marked
    )
    _write_in_line(cur, workspace, classified, options, report, on_batch)


def _rows_of(existing: pl.DataFrame, emails: pl.Series, batches: int) -> pl.DataFrame:
    """The existing leads of one batch's emails (all of them when the input is one batch)."""
    return existing if batches == 1 else existing.filter(pl.col("email").is_in(emails.implode()))


def _short_lookup(
    cur: Cursor, workspace: Workspace, emails: pl.Series, active_ids: bool, sending: threading.Event
) -> tuple[pl.DataFrame, db_leads.PlanCapacity | None]:
    """The existing leads of these emails, and the workspace's plan capacity."""
    existing = db_leads.fetch_existing(
        cur, workspace.id, emails, active_ids=active_ids, sending=sending
    )
    return existing, db_leads.plan_capacity(cur, workspace.id)


class _TooManyLeads(Exception):
    """The workspace holds more leads than a snapshot may (SNAPSHOT_MAX_LEADS)."""


def _snapshot(cur: Cursor, workspace: Workspace) -> _Known:
    """The workspace's leads, read on the writer's thread; _TooManyLeads past the cap (counted
    by the read itself, which stops one lead over)."""
    existing = db_leads.snapshot(cur, workspace.id, SNAPSHOT_MAX_LEADS)
    if existing is None:
        raise _TooManyLeads()
    return _Known(existing)


def _given_emails(source: InMemory) -> pl.Series:
    """The distinct valid normalised emails an in-memory input gives (a superset of those its
    classification looks up: a row may still be invalid for another field)."""
    email = pl.col("email")
    frames = [
        given.to_frame("email")
        .lazy()
        .select(email if source.prepared else normalise_email(email, ascii_only=is_ascii(given)))
        for given in source.email_columns()
    ]
    emails = pl.concat(frames).filter(email_is_valid(email)).unique()
    return collect(emails).get_column("email")


def _global_first() -> list[pl.Expr]:
    return [pl.col("email"), first_in_input().alias(IS_FIRST)]


def _done(value: _Known) -> Future[_Known]:
    future: Future[_Known] = Future()
    future.set_result(value)
    return future


def _check_limit(
    cur: Cursor,
    workspace: Workspace,
    distinct_emails: int,
    existing: pl.DataFrame,
    options: ImportOptions,
    report: ImportReport,
) -> None:
    """The plan limit, for the whole input, before the first write (SPEC 6)."""
    capacity = db_leads.plan_capacity(cur, workspace.id)
    _check_capacity(capacity, distinct_emails, existing, options, report)


def _check_capacity(
    capacity: db_leads.PlanCapacity | None,
    distinct_emails: int,
    existing: pl.DataFrame,
    options: ImportOptions,
    report: ImportReport,
) -> None:
    """The plan limit against a capacity read under the lock, before the first write."""
    if capacity is None:
        return
    adding = planned_additions(
        distinct_emails, existing, restore_soft_deleted=options.restore_soft_deleted
    )
    report.remaining_capacity = capacity.check(adding)


def _write_in_line(
    cur: Cursor,
    workspace: Workspace,
    batches: Iterator[pl.DataFrame],
    options: ImportOptions,
    report: ImportReport,
    on_batch: OnBatch | None,
) -> None:
    """Write classified batches on this thread."""
    for classified in batches:
        # Under skip the writes change no outcome: the report is built while they run.
        built = (
            _BACKGROUND.submit(build_report, classified) if options.on_existing == SKIP else None
        )
        classified = _write_batch(cur, workspace, classified, options)
        summary = build_report(classified) if built is None else built.result()
        report.add_batch(summary, classified.height)
        if on_batch is not None:
            on_batch(classified)


class _Writer:
    """A thread that owns the import's cursor and writes batches in order while the caller
    prepares the next ones; the caller gets each written batch back in order."""

    def __init__(self, cur: Cursor, workspace: Workspace, options: ImportOptions) -> None:
        self._cur, self._workspace, self._options = cur, workspace, options
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=_WRITES_AHEAD)
        self._thread = threading.Thread(target=self._run, name="leads-writer", daemon=True)
        self._failure: BaseException | None = None

    def __enter__(self) -> _Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            if self._failure is None:
                job()

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()

    def submit(self, work: Callable[[], _Known]) -> Future[_Known]:
        """Run `work` on the writer's thread (it holds the cursor); its result, later."""
        future: Future[_Known] = Future()

        def job() -> None:
            try:
                future.set_result(work())
            except BaseException as error:
                self._failure = error
                future.set_exception(error)

        self._put(job)
        return future

    def _put(self, job: Callable[[], None]) -> None:
        while True:
            if self._failure is not None:
                raise self._failure
            try:
                self._jobs.put(job, timeout=0.1)
                return
            except queue.Full:
                continue

    def write_all(
        self,
        batches: Iterator[pl.DataFrame],
        known: Future[_Known],
        report: ImportReport,
        on_batch: OnBatch | None,
    ) -> None:
        """Classify each prepared batch and queue its writes; report the written ones in order."""
        written: list[Future[pl.DataFrame]] = []
        for prepared in batches:
            if prepared.height == 0:
                continue
            if not known.done():  # the snapshot of the workspace's leads is still read
                reporter().phase("reading the workspace's leads")
                known.exception()
                reporter().phase(None)
            if isinstance(known.exception(), _TooManyLeads):  # this chunk is read again
                reporter().advance("read", -prepared.height)
                reporter().advance("prepared", -prepared.height)
            classified = known.result().classify(prepared, self._options)
            written.append(self._write(_Writes.of(self._workspace, classified, self._options)))
            while written and written[0].done():
                self._report(written.pop(0).result(), report, on_batch)
        self._stop()
        if self._failure is not None:
            raise self._failure
        for future in written:
            self._report(future.result(), report, on_batch)

    def _write(self, writes: _Writes) -> Future[pl.DataFrame]:
        future: Future[pl.DataFrame] = Future()

        def job() -> None:
            try:
                future.set_result(_write(self._cur, self._workspace, writes, self._options))
            except BaseException as error:
                self._failure = error
                future.set_exception(error)

        self._put(job)
        return future

    @staticmethod
    def _report(classified: pl.DataFrame, report: ImportReport, on_batch: OnBatch | None) -> None:
        report.add_batch(build_report(classified), classified.height)
        if on_batch is not None:
            on_batch(classified)


# --- commit every N rows --------------------------------------------------------------------


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
    # Emails whose first row came in an earlier batch: their later rows are duplicates of it
    # (a policy must not apply them again).
    firsts = _FirstRows()
    for prepared in _slices(_prepared_chunks(source), options.commit_every):
        if prepared.height == 0:
            continue
        prepared, emails, earlier = firsts.mark(prepared)
        existing = db_leads.fetch_existing(cur, workspace.id, emails, active_ids=True)
        classified = _classify(prepared, existing, earlier, options)
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
