"""Where the database is and how it is used: environment names, data directory, batch sizes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

DATABASE_URL_ENV: Final = "DATABASE_URL"
DEFAULT_WORKSPACE: Final = "default"  # created on first use by every entry point
DATA_DIR_ENV: Final = "LEADS_DATA_DIR"
POOL_SIZE: Final = 4  # idle connections kept per database URL
COPY_BUFFER_BYTES: Final = 1 << 20
COPY_SLICE_ROWS: Final = 1_000_000  # emails per COPY when a large input's emails are staged
# Up to this many emails, existing leads are looked up with one array parameter, not a temp table.
LIST_LOOKUP_MAX_EMAILS: Final = 10_000
# Up to this many restored or updated leads, the merge input is a JSON parameter, not a temp table.
MERGE_JSON_MAX_ROWS: Final = 10_000
# Up to this many leads in a workspace, a large import reads them all once (a snapshot in
# memory, about 60 bytes a lead) instead of first reading its whole input for the emails.
SNAPSHOT_MAX_LEADS: Final = 5_000_000


def data_dir() -> Path:
    """The embedded PostgreSQL's home: `LEADS_DATA_DIR`, else ~/.local/share/leads."""
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "leads"
