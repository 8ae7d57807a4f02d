"""API keys: `otr_` + 43 URL-safe random characters, stored as a SHA-256 hash and a prefix."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Final

from leads_import.db.connection import Connection
from leads_import.db.ids import parse_id
from leads_import.db.workspaces import Workspace
from leads_import.sqlfiles import load_sql

KEY_PREFIX: Final = "otr_"
RANDOM_BYTES: Final = 32  # 43 URL-safe characters: 256 bits, so a plain SHA-256 is a safe hash
DISPLAY_CHARS: Final = 8  # random characters kept in the display prefix (`otr_AbCdEfGh`)
MIN_RANDOM_CHARS: Final = 32


def generate_key() -> str:
    """A new key: `otr_` followed by URL-safe random characters."""
    return KEY_PREFIX + secrets.token_urlsafe(RANDOM_BYTES)


def hash_key(key: str) -> str:
    """What the database stores and looks keys up by (hex SHA-256 of the whole key)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def display_prefix(key: str) -> str:
    """The start of a key, safe to show and to name the key by (`otr_AbCdEfGh`)."""
    return key[: len(KEY_PREFIX) + DISPLAY_CHARS]


def looks_like_key(value: str) -> bool:
    """Whether a value has the shape of a whole key (not a prefix, not an id)."""
    return value.startswith(KEY_PREFIX) and len(value) >= len(KEY_PREFIX) + MIN_RANDOM_CHARS


@dataclass(frozen=True)
class AuthenticatedKey:
    """The key of a request and the one workspace it may see."""

    key_id: int
    workspace: Workspace


@dataclass(frozen=True)
class CreatedKey:
    id: int
    workspace: str
    prefix: str
    key: str  # shown once, never stored
    created_at: dt.datetime


def create_key(conn: Connection, workspace: Workspace, name: str | None = None) -> CreatedKey:
    """Create a key for the workspace (in the caller's transaction); the plain key is returned
    here only."""
    key = generate_key()
    with conn.cursor() as cur:
        cur.execute(
            load_sql("api/key_create"),
            {
                "workspace_id": workspace.id,
                "key_hash": hash_key(key),
                "prefix": display_prefix(key),
                "name": name,
            },
        )
        key_id, created_at = cur.fetchone()
    return CreatedKey(int(key_id), workspace.slug, display_prefix(key), key, created_at)


KEY_COLUMNS: Final = ("id", "workspace", "prefix", "name", "createdAt", "revokedAt")


def list_keys(conn: Connection, workspace: str | None = None) -> list[dict[str, Any]]:
    """Keys (never their value), newest first, of one workspace or all."""
    with conn.cursor() as cur:
        cur.execute(load_sql("api/key_list"), {"slug": workspace})
        return [dict(zip(KEY_COLUMNS, row, strict=True)) for row in cur.fetchall()]


class KeySelectionError(ValueError):
    """A revoke that names no active key, or more than one."""


def revoke_key(
    conn: Connection, selector: str, workspace: str | None = None
) -> tuple[int, str, str]:
    """Revoke one active key named by its whole value, its numeric id or its display prefix;
    return (id, workspace slug, prefix). Raises KeySelectionError when none or several match."""
    selector = selector.strip()
    params: dict[str, Any] = {"id": None, "key_hash": None, "prefix": None, "slug": workspace}
    if looks_like_key(selector):
        params["key_hash"] = hash_key(selector)
    elif selector.isascii() and selector.isdigit():
        params["id"] = parse_id(selector) or 0
    else:
        params["prefix"] = selector
    with conn.cursor() as cur:
        cur.execute(load_sql("api/key_matches"), params)
        matches = cur.fetchall()
        where = f" in workspace {workspace!r}" if workspace else ""
        if not matches:
            raise KeySelectionError(f"no active API key matches {selector!r}{where}")
        if len(matches) > 1:
            ids = ", ".join(str(m[0]) for m in matches)
            raise KeySelectionError(f"{selector!r} matches several keys ({ids}): give the id")
        key_id, slug, prefix = matches[0]
        cur.execute(load_sql("api/key_revoke"), {"id": key_id})
    return int(key_id), slug, prefix
