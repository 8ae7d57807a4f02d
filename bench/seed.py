"""The pre-seeded workspace: M leads (10% soft-deleted) written with one COPY, plus campaigns.

The first `matched` seeded leads carry the emails of every MATCH_EVERY-th distinct lead of the
input file, so about 20% of the input rows match an existing lead: most match an active lead
(duplicates), every tenth a soft-deleted one (restored). The other seeded leads have emails the
input never uses. Every seeded timestamp lies before SEEDED_BEFORE, so rows an import writes
(created, or restored with `updated_at = now()`) are exactly those updated after it.
"""

from __future__ import annotations

import io
import time
from typing import Final

import polars as pl
import psycopg2
from make_leads import MATCH_EVERY, distinct_count, lead_email

from leads_import.db.schema import init_schema
from leads_import.db.workspaces import create_workspace
from transforms.write_plan import to_copy_csv

WORKSPACE: Final = "bench"
SOFT_DELETED_EVERY: Final = 10
CAMPAIGNS: Final = 20
SEEDED_BEFORE: Final = "2025-01-01 00:00:00+00"

SEED_COLUMNS: Final = (
    *("workspace_id", "email", "first_name", "last_name", "company", "title", "phone"),
    *("source", "status", "custom_fields", "tags", "created_at", "updated_at", "deleted_at"),
)

CREATE_CAMPAIGNS: Final = """
INSERT INTO campaigns (workspace_id, name)
SELECT %(ws)s, 'Campaign ' || g FROM generate_series(1, %(campaigns)s) AS g;
"""
# Every fourth seeded lead is in one campaign; counts cover active members only.
FILL_CAMPAIGNS: Final = """
INSERT INTO campaign_leads (campaign_id, lead_id)
SELECT c.id, l.id
FROM leads AS l
JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS slot
      FROM campaigns WHERE workspace_id = %(ws)s) AS c ON c.slot = (l.id / 4) %% %(campaigns)s
WHERE l.workspace_id = %(ws)s AND l.id %% 4 = 0;
UPDATE campaigns AS c SET lead_count = m.members
FROM (SELECT cl.campaign_id, count(*) AS members
      FROM campaign_leads AS cl JOIN leads AS l ON l.id = cl.lead_id
      WHERE l.deleted_at IS NULL GROUP BY cl.campaign_id) AS m
WHERE c.id = m.campaign_id;
"""


def matched_count(input_rows: int, seed_leads: int) -> int:
    """How many seeded leads share an email with the input file."""
    distinct = distinct_count(input_rows)
    return min(seed_leads, -(-distinct // MATCH_EVERY))


def seed_emails(matched: int) -> pl.Expr:
    """The email of seeded lead `k` (column `k`)."""
    k = pl.col("k")
    other = pl.format("seed{}.{}@crm{}.io", k, k % 89, k % 11)
    return pl.when(k < matched).then(lead_email(k * MATCH_EVERY)).otherwise(other)


def seed_frame(seed_leads: int, matched: int, workspace_id: int) -> pl.DataFrame:
    """The seeded leads in SEED_COLUMNS order, generated column-wise (no per-row Python)."""
    k = pl.col("k")
    deleted = k % SOFT_DELETED_EVERY == 0
    day = (k % 28 + 1).cast(pl.String).str.zfill(2)
    return pl.DataFrame({"k": pl.int_range(seed_leads, eager=True)}).select(
        pl.lit(workspace_id).alias("workspace_id"),
        seed_emails(matched).alias("email"),
        pl.format("Seeded{}", k % 800).alias("first_name"),
        pl.format("Person{}", k % 3000).alias("last_name"),
        pl.format("Old Company {}", k % 9000).alias("company"),
        pl.lit("Director").alias("title"),
        pl.when(k % 5 != 0).then(pl.format("+44 20 {}", k % 10_000_000)).alias("phone"),
        pl.when(k % 2 == 0).then(pl.lit("csv_import")).otherwise(pl.lit("api")).alias("source"),
        pl.when(k % 25 == 1).then(pl.lit("bounced")).otherwise(pl.lit("active")).alias("status"),
        pl.format('{{"segment": "{}", "owner": "rep{}"}}', k % 50, k % 30).alias("custom_fields"),
        pl.format("{{seeded,cohort-{}}}", k % 12).alias("tags"),
        pl.format("2024-01-{} 09:00:00+00", day).alias("created_at"),
        pl.format("2024-02-{} 09:00:00+00", day).alias("updated_at"),
        pl.when(deleted).then(pl.format("2024-06-{} 12:00:00+00", day)).alias("deleted_at"),
    )


def _copy_seed(cur: psycopg2.extensions.cursor, frame: pl.DataFrame) -> None:
    payload = io.BytesIO(to_copy_csv(frame))
    columns = ", ".join(SEED_COLUMNS)
    cur.copy_expert(f"COPY leads ({columns}) FROM STDIN WITH (FORMAT csv)", payload)


def seed_database(url: str, input_rows: int, seed_leads: int) -> dict[str, float | int]:
    """Create the schema and the seeded workspace in the (empty) database at `url`."""
    started = time.perf_counter()
    conn = psycopg2.connect(url)
    try:
        with conn:
            init_schema(conn)
            workspace = create_workspace(conn, WORKSPACE, name="Benchmark workspace")
            matched = matched_count(input_rows, seed_leads)
            frame = seed_frame(seed_leads, matched, workspace.id)
            with conn.cursor() as cur:
                _copy_seed(cur, frame)
                params = {"ws": workspace.id, "campaigns": CAMPAIGNS}
                cur.execute(CREATE_CAMPAIGNS, params)
                cur.execute(FILL_CAMPAIGNS, params)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
    finally:
        conn.close()
    return {
        "workspaceId": workspace.id,
        "leads": seed_leads,
        "matchingInput": matched,
        "softDeleted": -(-seed_leads // SOFT_DELETED_EVERY),
        "seconds": round(time.perf_counter() - started, 2),
    }
