"""The `import-leads` Prefect flow: fetch a file, import it (read, prepare and write it chunk by
chunk in one transaction), publish the report as artifacts."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, Literal

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

from flows.artifacts import ProgressArtifact, artifact_key, publish_columns, publish_report
from flows.labels import import_run_name, tag_run
from flows.retries import DATABASE_RETRIES, failure_recorder, new_audit
from leads_import.db.connection import transaction
from leads_import.db.runs import KIND_FILE, RunAudit, payload_digest, replayed_report
from leads_import.db.settings import DEFAULT_WORKSPACE
from leads_import.db.workspaces import resolve_workspace
from leads_import.engine import ImportOptions, ImportReport, OnExisting, run_import
from leads_import.engine.kept_outcomes import OutcomeKeeper
from leads_import.errors import EmptyInputError, check_outcomes_path
from leads_import.progress import reporter
from leads_import.readers.fetch import fetch_to, is_url
from leads_import.readers.sources import open_source
from transforms.fields import MAP_TARGETS, SOURCE_FILE
from transforms.headers import ColumnRules, UnknownColumns
from transforms.report import escape_formulas, outcome_rows

Format = Literal["csv", "tsv", "json", "ndjson", "parquet", "xlsx"]

WORKSPACE = Field(
    DEFAULT_WORKSPACE,
    min_length=1,
    description="Slug of the workspace to import into (`default` is created on first use).",
)
RESTORE = Field(
    True,
    description="Restore soft-deleted leads whose email comes back (SPEC 4); off: duplicates.",
)
DRY_RUN = Field(False, description="Classify and report, write nothing.")
MAP = Field(
    None,
    description=(
        "Column mappings, header -> field, added to or overriding the recognised header "
        f"spellings. A field is an API name or customFields.<key>: {MAP_TARGETS}."
    ),
)
UNKNOWN_COLUMNS = Field(
    "ignore",
    description=(
        "Columns no header spelling or mapping matches: `ignore` them (with a warning naming "
        "them) or `keep` them as customFields, keyed by the header as written."
    ),
)
ON_EXISTING = Field(
    "skip",
    description=(
        "What to do with a row whose email already has an active lead: `skip` (a duplicate, "
        "the contract), `fill_empty` (store given fields where the lead has none) or "
        "`overwrite` (given fields replace stored ones). Changed leads count as `updated`."
    ),
)


def check_map(value: dict[str, str] | None) -> dict[str, str] | None:
    """A flow's `map` parameter, checked: ValueError naming the valid fields."""
    ColumnRules.of(value)
    return value


class FlowParameters(BaseModel):
    """The parameters of a flow: the Prefect UI renders them as a form, and deployments check
    runs against them (`enforce_parameter_schema`)."""

    model_config = ConfigDict(extra="forbid")

    def audit_parameters(self) -> dict[str, Any]:
        """What the run records in `import_runs.parameters` (secrets left out)."""
        return self.model_dump(mode="json")


class FileImport(FlowParameters):
    """Import one file of leads into a workspace."""

    source: str = Field(
        min_length=1,
        description=(
            "Path of the file on the machine running the flow, or an http(s) URL to download. "
            "The extension picks the reader (.csv .tsv .json .ndjson .jsonl .parquet .xlsx, "
            "optionally .gz) unless `format` is set."
        ),
    )
    workspace: str = WORKSPACE
    format: Format | None = Field(None, description="The reader to use, whatever the file name.")
    sheet: str | None = Field(None, description="XLSX sheet to read (default: the first).")
    map: dict[str, str] | None = MAP
    unknown_columns: UnknownColumns = UNKNOWN_COLUMNS
    restore_soft_deleted: bool = RESTORE
    on_existing: OnExisting = ON_EXISTING
    dry_run: bool = DRY_RUN
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
    keep_outcomes: bool = Field(
        False,
        description=(
            "Keep every row's outcome with the run (Parquet in the data directory of the "
            "machine running the flow; the newest 20 runs), for `leads runs show`."
        ),
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

    @field_validator("map")
    @classmethod
    def _known_fields(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return check_map(value)

    def column_rules(self) -> ColumnRules:
        """How the reader maps the file's headers beyond the recognised spellings."""
        return ColumnRules.of(self.map, self.unknown_columns)

    def options(self, file_restore: bool | None = None) -> ImportOptions:
        """The engine's options for this request; `file_restore` is a JSON body's own restore
        flag, honoured unless this request turned restoring off."""
        return ImportOptions(
            restore_soft_deleted=self.restore_soft_deleted and file_restore is not False,
            dry_run=self.dry_run,
            on_existing=self.on_existing,
            default_source=SOURCE_FILE,
            commit_every=self.commit_every,
        )

    def fingerprint_parts(self) -> list[str]:
        """The options an idempotency key is bound to, besides the file's bytes."""
        parts = [
            self.workspace,
            str(self.format),
            str(self.sheet),
            str(self.restore_soft_deleted),
            self.on_existing,
        ]
        if self.map or self.unknown_columns != "ignore":  # (keys of older runs stay valid)
            parts += [repr(sorted((self.map or {}).items())), self.unknown_columns]
        return parts


@task(name="fetch", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 8])
def fetch_source(source: str, work_dir: str) -> str:
    """A local path for the source: the path itself, or an http(s) URL downloaded first."""
    return fetch_to(source, Path(work_dir))


@task(name="fingerprint", cache_policy=NO_CACHE)
def fingerprint(path: str, request: FileImport) -> str:
    """SHA-256 of the file and the options an idempotency key is bound to."""
    return payload_digest(request.fingerprint_parts(), files=[Path(path)])


@task(name="replay", cache_policy=NO_CACHE, **DATABASE_RETRIES)
def committed_report(workspace: str, audit: RunAudit) -> ImportReport | None:
    """The report of the committed run with this idempotency key, if there is one."""
    with transaction() as conn, conn.cursor() as cur:
        target = resolve_workspace(conn, workspace)
        stored = replayed_report(cur, target.id, audit)
    return ImportReport.from_stored(stored) if stored is not None else None


class _BatchSink:
    """Follows the written batches: progress display and artifact, per-row outcomes file."""

    def __init__(
        self,
        handle: IO[bytes] | None,
        progress: ProgressArtifact,
        keeper: OutcomeKeeper | None = None,
    ) -> None:
        self._handle = handle
        self._progress = progress
        self._keeper = keeper
        self._header = True

    def __call__(self, classified: pl.DataFrame) -> None:
        reporter().advance("written", classified.height)
        self._progress.advance(classified.height)
        if self._handle is None and self._keeper is None:
            return
        rows = outcome_rows(classified)
        if self._keeper is not None:
            self._keeper.add(rows)
        if self._handle is not None:
            escape_formulas(rows).write_csv(self._handle, include_header=self._header)
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


@task(name="import", cache_policy=NO_CACHE, **DATABASE_RETRIES)
def import_file(path: str, request: FileImport, audit: RunAudit) -> ImportReport:
    """Read the file chunk by chunk; prepare, classify and write each chunk while the last one
    is written; record the run. One transaction unless `commit_every` is set."""
    reporter().phase(f"opening {Path(path).name}")
    opened = open_source(path, request.format, sheet=request.sheet, columns=request.column_rules())
    logger = get_run_logger()
    logger.info("reading %s (%s)", request.source, opened.describe())
    for warning in opened.warnings:
        logger.warning(warning)
    options = request.options(file_restore=opened.restore_soft_deleted)
    if opened.restore_soft_deleted is False and request.restore_soft_deleted:
        logger.info("the file says restoreSoftDeleted false: soft-deleted matches are duplicates")
    total = opened.estimate_rows()
    if total is not None:
        reporter().set_total(total)
    if opened.position is not None:
        reporter().read_bytes(0, opened.size)
    reporter().phase(None)
    progress = ProgressArtifact(
        total,
        key=artifact_key("progress", request.workspace),
        description=f"Rows written importing {request.source} into {request.workspace}",
    )
    keep = request.keep_outcomes and audit.flow_run_id
    keeper = OutcomeKeeper(audit.flow_run_id) if keep and audit.flow_run_id else None
    with _outcomes_file(request.outcomes, atomic=not request.commit_every) as handle:
        sink = _BatchSink(handle, progress, keeper)
        try:
            report = run_import(opened, request.workspace, options, audit=audit, on_batch=sink)
        except BaseException as error:
            if keeper is not None:
                keeper.discard()
            if isinstance(error, EmptyInputError):
                raise EmptyInputError(f"{Path(path).name} has no data rows") from None
            raise
    if keeper is not None:
        logger.info("outcomes kept in %s", keeper.keep())
    progress.finish()
    report.source = request.source
    logger.info("imported %d rows", report.total)
    return report


@task(name="publish", cache_policy=NO_CACHE)
def publish(report: dict[str, Any], workspace: str, source: str) -> None:
    """Publish the counts table, the samples page and the column mapping as artifacts."""
    publish_report(report, workspace, source)
    publish_columns(report, workspace, source)


@flow(
    name="import-leads",
    flow_run_name=import_run_name,
    log_prints=False,
    on_failure=[failure_recorder(KIND_FILE, FileImport)],
)
def import_leads_flow(request: FileImport) -> dict[str, Any]:
    """Import a file of leads into a workspace and return the dedup report."""
    started = time.perf_counter()
    tag_run(KIND_FILE, request.workspace)
    check_outcomes_path(request.outcomes)  # before anything is read
    audit = new_audit(KIND_FILE, request, source=request.source)
    with tempfile.TemporaryDirectory(prefix="leads-import-") as work_dir:
        if is_url(request.source):
            reporter().phase(f"downloading {request.source}")
        path = fetch_source(request.source, work_dir)
        if request.idempotency_key:
            audit = replace(audit, payload_sha256=fingerprint(path, request))
            stored = committed_report(request.workspace, audit)
            if stored is not None:
                get_run_logger().info("run %s imported this already", stored.run_id)
                publish(stored.to_json(), request.workspace, request.source)
                return stored.to_json()
        loading = time.perf_counter()
        report = import_file(path, request, audit)
    finished = time.perf_counter()
    report.timings = {"fetchMs": _ms(started, loading), "importTaskMs": _ms(loading, finished)}
    report.timings["flowMs"] = _ms(started, finished)
    reporter().phase("publishing the report")
    publish(report.to_json(), request.workspace, request.source)
    return report.to_json()


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000, 1)
