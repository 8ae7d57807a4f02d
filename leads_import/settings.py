"""Defaults and environment names used by the entry points."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

DATABASE_URL_ENV: Final = "DATABASE_URL"
DATA_DIR_ENV: Final = "LEADS_DATA_DIR"
DEFAULT_WORKSPACE: Final = "default"
COPY_BUFFER_BYTES: Final = 1 << 20
COPY_SLICE_ROWS: Final = 1_000_000  # emails per COPY when a large input's emails are staged
# Up to this many emails, existing leads are looked up with one array parameter, not a temp table.
LIST_LOOKUP_MAX_EMAILS: Final = 10_000
# Up to this many restored or updated leads, the merge input is a JSON parameter, not a temp table.
MERGE_JSON_MAX_ROWS: Final = 10_000
POOL_SIZE: Final = 4  # idle connections kept per database URL

# Prefect runs offline by default: no telemetry, no update checks, quiet temporary server.
PREFECT_DEFAULTS: Final[dict[str, str]] = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_UI_ENABLED": "false",
}


def apply_prefect_defaults() -> None:
    """Set the offline Prefect defaults unless the user set them; call before importing prefect."""
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)


def data_dir() -> Path:
    """The embedded PostgreSQL's home: `LEADS_DATA_DIR`, else ~/.local/share/leads."""
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "leads"
