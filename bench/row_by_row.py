"""Comparison (d): the "create lead" loop, one INSERT per row in its own transaction.

This is what an application without a bulk path does: for each row, strip and lower-case the
email, skip it when it plainly is not one, INSERT, COMMIT; a unique violation (an active lead
already has the email) is caught and counted as a duplicate. Soft-deleted leads are not
restored: the loop inserts a new lead beside them.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import polars as pl
import psycopg2
import psycopg2.errors

INSERT_LEAD: Final = """
INSERT INTO leads (workspace_id, email, first_name, last_name, company, title, phone, website,
                   status, source, custom_fields, tags)
VALUES (%(workspace_id)s, %(email)s, %(first_name)s, %(last_name)s, %(company)s, %(title)s,
        %(phone)s, %(website)s, %(status)s, 'api', %(custom_fields)s, %(tags)s)
RETURNING id
"""
PLAIN_EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")
CUSTOM_PREFIX: Final = "customFields."


@dataclass
class LoopRun:
    rows: int
    seconds: float
    created: int = 0
    duplicates: int = 0
    errors: int = 0


def sample_rows(path: Path, size: int, seed: int = 7) -> list[dict[str, Any]]:
    """A random sample of the file's rows, as the dicts a web handler would receive."""
    frame = pl.read_csv(path, infer_schema=False)
    return frame.sample(min(size, frame.height), seed=seed).to_dicts()


def _tags(cell: str | None) -> list[str]:
    if not cell:
        return []
    if cell.startswith("["):
        return [str(tag).strip() for tag in json.loads(cell)]
    return [tag.strip() for tag in re.split(r"[;,]", cell) if tag.strip()]


def _lead(row: dict[str, Any], workspace_id: int) -> dict[str, Any] | None:
    """The INSERT parameters of one row, or None when its email is plainly invalid."""
    email = (row.get("Email") or "").strip().lower()
    if not PLAIN_EMAIL.match(email):
        return None
    custom = {k[len(CUSTOM_PREFIX) :]: v for k, v in row.items() if k.startswith(CUSTOM_PREFIX)}
    return {
        "workspace_id": workspace_id,
        "email": email,
        "first_name": row.get("First Name"),
        "last_name": row.get("Last Name"),
        "company": row.get("Company Name"),
        "title": row.get("Job Title"),
        "phone": row.get("Phone Number"),
        "website": row.get("Website"),
        "status": (row.get("Status") or "active").lower(),
        "custom_fields": json.dumps({k: v for k, v in custom.items() if v is not None}),
        "tags": _tags(row.get("Tags")),
    }


def _insert(conn: psycopg2.extensions.connection, lead: dict[str, Any]) -> bool:
    """INSERT and COMMIT one lead; False when an active lead already has the email."""
    try:
        with conn.cursor() as cur:
            cur.execute(INSERT_LEAD, lead)
            cur.fetchone()
        conn.commit()
    except psycopg2.errors.UniqueViolation:
        conn.rollback()
        return False
    return True


def create_lead_loop(url: str, workspace_id: int, rows: list[dict[str, Any]]) -> LoopRun:
    """Run the loop over `rows` on one connection; time it end to end."""
    conn = psycopg2.connect(url)
    run = LoopRun(rows=len(rows), seconds=0.0)
    try:
        started = time.perf_counter()
        for row in rows:
            lead = _lead(row, workspace_id)
            if lead is None:
                run.errors += 1
            elif _insert(conn, lead):
                run.created += 1
            else:
                run.duplicates += 1
        run.seconds = time.perf_counter() - started
    finally:
        conn.close()
    return run
