"""The floor (b): one COPY of the rows an import wrote, into another copy of the seeded database.

The rows (created plus restored) are read back from the imported database and encoded as CSV
bytes in memory before the clock starts; only COPY and COMMIT are timed.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import Final

import psycopg2
from seed import SEEDED_BEFORE

from transforms.fields import LEAD_COLUMNS

# The columns of the engine's own COPY of created leads (sql/copy_created_leads.sql).
COPY_COLUMNS: Final = ("workspace_id", *LEAD_COLUMNS)


@dataclass
class FloorRun:
    rows: int
    payload_bytes: int
    copy_s: float


def written_rows_csv(url: str, workspace_id: int) -> tuple[bytes, int]:
    """The rows an import created or restored, as COPY CSV bytes, and their count."""
    columns = ", ".join(COPY_COLUMNS)
    query = (
        f"COPY (SELECT {columns} FROM leads WHERE workspace_id = {int(workspace_id)} "
        f"AND deleted_at IS NULL AND updated_at >= '{SEEDED_BEFORE}') TO STDOUT WITH (FORMAT csv)"
    )
    buffer = io.BytesIO()
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.copy_expert(query, buffer)
            rows = cur.rowcount
    finally:
        conn.close()
    return buffer.getvalue(), rows


def copy_floor(url: str, payload: bytes, rows: int) -> FloorRun:
    """COPY the pre-encoded rows into `leads` and commit; time only that."""
    statement = f"COPY leads ({', '.join(COPY_COLUMNS)}) FROM STDIN WITH (FORMAT csv)"
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")  # connection and session set up before the clock starts
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur:
            cur.copy_expert(statement, io.BytesIO(payload), size=1 << 20)
        conn.commit()
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    return FloorRun(rows=rows, payload_bytes=len(payload), copy_s=elapsed)
