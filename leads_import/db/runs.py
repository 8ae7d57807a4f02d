"""The audit trail of runs (`import_runs`): what a run was asked to do, and what it did."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from psycopg2.extensions import cursor as Cursor
from psycopg2.extras import Json

from leads_import.db.connection import transaction
from leads_import.db.schema import ensure_schema
from leads_import.errors import IdempotencyKeyReusedError
from leads_import.sqlfiles import load_sql

KIND_FILE: Final = "file"
KIND_SYNC: Final = "sync"
KIND_API: Final = "api"

STATUS_SUCCEEDED: Final = "succeeded"
STATUS_FAILED: Final = "failed"
STATUS_DRY_RUN: Final = "dry_run"  # classified and reported, nothing written; never replayed


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class RunAudit:
    """What a run records about itself: kind, source, parameters, idempotency, Prefect run."""

    kind: str
    source: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    payload_sha256: str | None = None
    flow_run_id: str | None = None
    started_at: dt.datetime = field(default_factory=_now)
    timings: dict[str, float] = field(default_factory=dict)  # stages before the load


def payload_digest(parts: Iterable[bytes | str], *, files: Iterable[Path] = ()) -> str:
    """SHA-256 over text parts and file contents: what an idempotency key is bound to."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    for path in files:
        with open(path, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def json_digest(value: Any) -> str:
    """SHA-256 of a JSON value in canonical form (sorted keys, no spaces)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


_ESCAPED_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _json_without_nul(value: Any) -> str:
    """JSON text PostgreSQL's jsonb accepts: it cannot hold U+0000, which a row error's raw
    email may contain; each one is stored as U+FFFD."""
    return _ESCAPED_NUL.sub(r"\1\\ufffd", json.dumps(value, default=str))


def replayed_report(cur: Cursor, workspace_id: int, audit: RunAudit) -> dict[str, Any] | None:
    """The stored report of the committed run with this idempotency key (payload checked), or
    None when the key is new. Raises IdempotencyKeyReusedError for another payload.

    A flow run that already committed (its load task retried because the connection broke
    after the COMMIT reached the server) gets its own report back, so that the retry neither
    writes again nor reports its own leads as duplicates."""
    if audit.flow_run_id is not None:
        params = {"workspace_id": workspace_id, "flow_run_id": audit.flow_run_id}
        cur.execute(load_sql("runs/find_flow_run_report"), params)
        committed = cur.fetchone()
        if committed is not None:
            return {**committed[1], "runId": committed[0]}
    if not audit.idempotency_key:
        return None
    params = {"workspace_id": workspace_id, "idempotency_key": audit.idempotency_key}
    cur.execute(load_sql("runs/find_committed_run"), params)
    row = cur.fetchone()
    if row is None:
        return None
    run_id, payload_sha256, report = row
    if payload_sha256 != audit.payload_sha256:
        raise IdempotencyKeyReusedError(audit.idempotency_key, run_id)
    return {**report, "runId": run_id, "replayed": True}


def record_run(
    cur: Cursor,
    workspace_id: int,
    audit: RunAudit,
    *,
    report: dict[str, Any] | None = None,
    error: str | None = None,
) -> int:
    """Insert the run's row (in the caller's transaction); return its id."""
    report = report or {}
    counts = {key: report.get(key) for key in ("created", "restored", "duplicates", "errors")}
    stored_report = {k: v for k, v in report.items() if k not in ("timings", "runId")}
    cur.execute(
        load_sql("runs/insert_import_run"),
        {
            "workspace_id": workspace_id,
            "kind": audit.kind,
            "source": audit.source,
            "parameters": Json(audit.parameters),
            "idempotency_key": audit.idempotency_key if error is None else None,
            "payload_sha256": audit.payload_sha256,
            "status": _status(report, error),
            **counts,
            "updated": report.get("updated"),
            "total": report.get("total"),
            "report": Json(stored_report, dumps=_json_without_nul) if report else None,
            "error": error,
            "timings": Json({**audit.timings, "loadMs": report.get("loadMs")}),
            "flow_run_id": audit.flow_run_id,
            "started_at": audit.started_at,
        },
    )
    (run_id,) = cur.fetchone()
    return int(run_id)


def _status(report: dict[str, Any], error: str | None) -> str:
    if error is not None:
        return STATUS_FAILED
    return STATUS_DRY_RUN if report.get("dryRun") else STATUS_SUCCEEDED


def record_failed_run(workspace_id: int, audit: RunAudit, error: BaseException) -> int:
    """Record a run that failed (its data rolled back), in a transaction of its own."""
    with transaction() as conn, conn.cursor() as cur:
        return record_run(cur, workspace_id, audit, error=f"{type(error).__name__}: {error}")


RUN_COLUMNS: Final = (
    "id", "workspace", "kind", "source", "status", "created", "restored", "updated",
    "duplicates", "errors", "total", "error", "idempotencyKey", "flowRunId", "startedAt",
    "finishedAt",
)  # fmt: skip


def recent_runs(workspace: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The latest runs, newest first, of one workspace or all (ids as text, as in reports)."""
    with transaction() as conn, conn.cursor() as cur:
        ensure_schema(conn)
        cur.execute(load_sql("runs/recent_runs"), {"slug": workspace, "limit": limit})
        rows = cur.fetchall()
    found = [dict(zip(RUN_COLUMNS, row, strict=True)) for row in rows]
    for run in found:
        run["id"] = str(run["id"])
    return found


def find_run(run_id: int) -> dict[str, Any] | None:
    """One run with its parameters, report and timings (`leads runs show`); None if unknown
    (its id as text, as in reports)."""
    with transaction() as conn, conn.cursor() as cur:
        ensure_schema(conn)
        cur.execute(load_sql("runs/find_run"), {"run_id": run_id})
        row = cur.fetchone()
    if row is None:
        return None
    run = dict(zip((*RUN_COLUMNS, "parameters", "report", "timings"), row, strict=True))
    run["id"] = str(run["id"])
    return run
