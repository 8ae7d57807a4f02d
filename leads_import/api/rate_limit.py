"""The sliding-window rate limit, counted in PostgreSQL so that every API process shares it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from psycopg2.extensions import cursor as Cursor

from leads_import.db.api_keys import AuthenticatedKey, hash_key
from leads_import.db.connection import prepare_once
from leads_import.db.workspaces import Workspace
from leads_import.sqlfiles import load_sql

LIMIT_HEADER: Final = "X-RateLimit-Limit"
REMAINING_HEADER: Final = "X-RateLimit-Remaining"
RESET_HEADER: Final = "X-RateLimit-Reset"
RETRY_AFTER_HEADER: Final = "Retry-After"


def client_bucket(client: str) -> str:
    """Requests without a valid key are counted per client address (a key's bucket is
    `key:<id>`)."""
    return f"client:{client}"


@dataclass(frozen=True)
class RateDecision:
    """One request's verdict and the window's state after it."""

    allowed: bool
    limit: int
    used: int  # requests counted in the window, this one included when allowed
    reset_at: float  # epoch seconds when the oldest counted request leaves the window
    now: float  # the database's clock, epoch seconds

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def reset_epoch(self) -> int:
        """`X-RateLimit-Reset`: whole epoch seconds, rounded up (a slot is free by then)."""
        return math.ceil(self.reset_at)

    @property
    def retry_after(self) -> int:
        """`Retry-After` in whole seconds, at least 1."""
        return max(1, math.ceil(self.reset_at - self.now))

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The headers every response carries (plus `Retry-After` when refused)."""
        headers = [
            (LIMIT_HEADER.encode(), str(self.limit).encode()),
            (REMAINING_HEADER.encode(), str(self.remaining).encode()),
            (RESET_HEADER.encode(), str(self.reset_epoch).encode()),
        ]
        if not self.allowed:
            headers.append((RETRY_AFTER_HEADER.encode(), str(self.retry_after).encode()))
        return headers


def admit(
    cur: Cursor, key: str | None, client: str, limit: int, window_seconds: float
) -> tuple[AuthenticatedKey | None, RateDecision]:
    """Look the request's key up and count the request against its bucket (or, without a valid
    key, against the client address's): one statement, in the caller's transaction."""
    prepare_once(cur, "leads_api_admit", lambda: load_sql("api/admit_prepare"))
    cur.execute(
        load_sql("api/admit_execute"),
        {
            "key_hash": hash_key(key) if key else None,
            "client_bucket": client_bucket(client),
            "limit": limit,
            "window_seconds": window_seconds,
        },
    )
    allowed, used, reset_at, now, key_id, workspace_id, slug, contact_limit = cur.fetchone()
    found = None
    if key_id is not None:
        found = AuthenticatedKey(int(key_id), Workspace(int(workspace_id), slug, contact_limit))
    if reset_at is None:  # nothing counted in the window (only possible when refused)
        reset_at = now
    return found, RateDecision(bool(allowed), limit, int(used), float(reset_at), float(now))
