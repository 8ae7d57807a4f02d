"""What the guarantee on `leads.workspace_id` costs a bulk COPY into `leads`.

N generated rows (the columns the engine copies, `sql/engine/copy_created_leads.sql`, as CSV
made by the engine's writer) are COPYed into `leads` of a seeded workspace and committed, under
each variant of the guarantee, every run in its own identical copy of one seeded database
(`CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY`, then a CHECKPOINT, neither timed):

- **fk**: the per-row foreign key `leads_workspace_id_fkey` (schema version 1).
- **none**: no check at all: the lower bound.
- **0002**: what migration 0002 installs: an AFTER INSERT statement trigger over a transition
  table, checking and locking (FOR KEY SHARE) the DISTINCT workspace ids of the new rows.
- **stmt-all-rows**: a statement trigger over the transition table that anti-joins every new
  row with `workspaces` (no DISTINCT, no lock).
- **row-trigger**: a per-row constraint trigger in PL/pgSQL (`SELECT … FOR KEY SHARE` per row).

The template is made by `init_schema` (every migration), seeded with `--seed-leads` leads of the
workspace (every tenth soft-deleted) and `VACUUM ANALYZE`d; each variant first takes off what
the schema has (the foreign key, the statement trigger) and installs its own. The variants run in
turns (fk none 0002 … fk none 0002 …) so the machine's drift falls on all alike; every variant
must leave the same rows, and every variant but `none` must refuse a row naming a missing
workspace. Prints a markdown table: min and median (COPY + COMMIT) and their ratio to `none`.

    uv run python bench/fk_cost.py --rows 500000 --repeat 3
    uv run python bench/fk_cost.py --rows 100000 --repeat 5 --variants fk none 0002

DATABASE_URL selects the server (scratch databases `bench_fk_*` are created there and dropped);
unset, the embedded server in `.cache/bench-data` is used.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import polars as pl
import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pg import Server, admin_connection, server_url

from leads_import.db.connection import connect
from leads_import.db.schema import init_schema, migrations
from leads_import.db.workspaces import create_workspace
from leads_import.sqlfiles import load_sql
from transforms.write_plan import to_copy_csv

COPY_SQL = load_sql("engine/copy_created_leads")
COPY_COLUMNS = tuple(
    c.strip() for c in re.search(r"COPY leads \(([^)]*)\)", COPY_SQL).group(1).split(",")
)

# What every variant starts from: no foreign key, no insert trigger on leads.
STRIP = """
ALTER TABLE leads DROP CONSTRAINT IF EXISTS leads_workspace_id_fkey;
DROP TRIGGER IF EXISTS leads_workspace_exists ON leads;
"""
FOREIGN_KEY = """
ALTER TABLE leads ADD CONSTRAINT leads_workspace_id_fkey
    FOREIGN KEY (workspace_id) REFERENCES workspaces (id);
"""
STATEMENT_ALL_ROWS = """
CREATE FUNCTION bench_every_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE missing bigint;
BEGIN
    SELECT n.workspace_id INTO missing FROM new_leads n
    WHERE NOT EXISTS (SELECT FROM workspaces w WHERE w.id = n.workspace_id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'workspace % does not exist', missing USING ERRCODE = '23503';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER bench_every_row AFTER INSERT ON leads REFERENCING NEW TABLE AS new_leads
    FOR EACH STATEMENT EXECUTE FUNCTION bench_every_row();
"""
ROW_TRIGGER = """
CREATE FUNCTION bench_each_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM FROM workspaces WHERE id = NEW.workspace_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'workspace % does not exist', NEW.workspace_id USING ERRCODE = '23503';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER bench_each_row AFTER INSERT ON leads
    FOR EACH ROW EXECUTE FUNCTION bench_each_row();
"""


def shipped_guarantee() -> str:
    """The text of the migration that installs the statement trigger (re-runnable)."""
    (migration,) = [m for m in migrations() if m.name == "0002_leads_workspace_guarantee"]
    return migration.sql()


VARIANTS: dict[str, tuple[str, str]] = {
    "fk": ("per-row foreign key (schema v1)", FOREIGN_KEY),
    "none": ("no check (lower bound)", ""),
    "0002": ("statement trigger, DISTINCT ids, FOR KEY SHARE (shipped)", "<0002>"),
    "stmt-all-rows": ("statement trigger, anti-join of every row, no lock", STATEMENT_ALL_ROWS),
    "row-trigger": ("per-row constraint trigger (PL/pgSQL)", ROW_TRIGGER),
}


def rows_csv(rows: int, workspace_id: int, prefix: str) -> bytes:
    """`rows` new leads of the workspace, the engine's COPY columns, as the engine's CSV."""
    i = pl.int_range(rows, dtype=pl.Int64)
    values = {
        "workspace_id": pl.lit(workspace_id, dtype=pl.Int64),
        "email": pl.format(prefix + "{}@new.example.com", i),
        "first_name": pl.format("First {}", i),
        "last_name": pl.lit("Lastname"),
        "company": pl.format("Company {}", i % 1000),
        "title": pl.lit("Head of Sales"),
        "phone": pl.lit("+1 555 0100"),
        "linkedin_url": pl.format("https://www.linkedin.com/in/" + prefix + "{}", i),
        "website": pl.lit("https://example.com"),
        "notes": pl.lit(None, dtype=pl.String),
        "source": pl.lit("bench"),
        "status": pl.lit("active"),
        "custom_fields": pl.lit('{"plan": "pro", "seats": 5}'),
        "tags": pl.lit("{a,b}"),
    }
    unknown = set(COPY_COLUMNS) - set(values)
    assert not unknown, f"copy_created_leads.sql has columns the bench does not make: {unknown}"
    return to_copy_csv(pl.select(*(values[c].alias(c) for c in COPY_COLUMNS)))


def make_template(url: str, seed_leads: int) -> int:
    """Schema (every migration), one workspace with `seed_leads` leads; returns its id."""
    conn = connect(url)
    conn.autocommit = True
    try:
        init_schema(conn)
        workspace = create_workspace(conn, "bench", name="bench")
        create_workspace(conn, "neighbour", name="neighbour")
        with conn.cursor() as cur:
            cur.copy_expert(COPY_SQL, io.BytesIO(rows_csv(seed_leads, workspace.id, "s")))
            cur.execute("UPDATE leads SET deleted_at = now() - interval '1 day' WHERE id % 10 = 0")
            cur.execute("VACUUM ANALYZE")
    finally:
        conn.close()
    return workspace.id


def prepare(url: str, variant: str) -> None:
    setup = VARIANTS[variant][1]
    conn = connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(STRIP)
            if setup:
                cur.execute(shipped_guarantee() if setup == "<0002>" else setup)
            cur.execute("ANALYZE workspaces")
            with contextlib.suppress(psycopg2.errors.InsufficientPrivilege):
                cur.execute("CHECKPOINT")  # the copy's writes start from clean buffers
    finally:
        conn.close()


def timed_copy(url: str, payload: bytes) -> float:
    conn = connect(url)
    try:
        started = time.perf_counter()
        with conn.cursor() as cur:
            cur.copy_expert(COPY_SQL, io.BytesIO(payload), size=1 << 20)
        conn.commit()
        return time.perf_counter() - started
    finally:
        conn.close()


def outcome(url: str) -> tuple[list[tuple[Any, ...]], bool]:
    """(rows per workspace, whether a row naming a missing workspace is refused)."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT workspace_id, count(*), count(*) FILTER (WHERE deleted_at IS NULL) "
                "FROM leads GROUP BY 1 ORDER BY 1"
            )
            table = cur.fetchall()
            try:
                cur.execute(
                    "INSERT INTO leads (workspace_id, email) "
                    "SELECT max(id) + 1000, 'orphan@example.com' FROM workspaces"
                )
                refused = False
            except psycopg2.errors.ForeignKeyViolation:
                refused = True
        conn.rollback()
    finally:
        conn.close()
    return table, refused


def server_facts(url: str) -> str:
    conn = admin_connection(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW server_version")
            (version,) = cur.fetchone()
            cur.execute("SHOW work_mem")
            (work_mem,) = cur.fetchone()
    finally:
        conn.close()
    return f"PostgreSQL {version}, work_mem {work_mem}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed-leads", type=int, default=100_000)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--data-dir", type=Path, default=Path(".cache/bench-data"))
    args = parser.parse_args()
    variants: list[str] = args.variants if "none" in args.variants else ["none", *args.variants]

    server = Server(server_url(args.data_dir))
    suffix = uuid.uuid4().hex[:8]
    template = f"bench_fk_seed_{suffix}"
    load = os.getloadavg()
    times: dict[str, list[float]] = {v: [] for v in variants}
    try:
        workspace_id = make_template(server.create_empty(template), args.seed_leads)
        payload = rows_csv(args.rows, workspace_id, "n")
        print(
            f"{args.rows:,} rows ({len(payload) / 2**20:.0f} MiB of CSV) COPYed into a workspace "
            f"of {args.seed_leads:,} leads; {server_facts(server.url)}; "
            f"load average {load[0]:.2f} at the start",
            file=sys.stderr,
        )
        results: dict[str, tuple[list[tuple[Any, ...]], bool]] = {}
        for run in range(args.repeat):
            for variant in variants:
                name = f"bench_fk_{variant.replace('-', '_')}_{suffix}"
                url = server.copy_of_template(name, template)
                prepare(url, variant)
                elapsed = timed_copy(url, payload)
                results.setdefault(variant, outcome(url))
                server.drop(name)
                times[variant].append(elapsed)
                print(f"  run {run + 1}, {variant}: {elapsed:.2f} s", file=sys.stderr)
        assert len({repr(table) for table, _ in results.values()}) == 1, results
        refusals = {v: refused for v, (_, refused) in results.items()}
        assert refusals == {v: v != "none" for v in variants}, refusals
    finally:
        server.drop_all()

    floor_min, floor_median = min(times["none"]), statistics.median(times["none"])
    print(
        f"\n`uv run python bench/fk_cost.py --rows {args.rows} --repeat {args.repeat}` "
        f"({args.seed_leads:,} seeded leads; {server_facts(server.url)}; load average "
        f"{load[0]:.2f} → {os.getloadavg()[0]:.2f})\n"
    )
    print("| variant | what | min s | median s | min / none | median / none | runs, s |")
    print("|---|---|---|---|---|---|---|")
    for variant in variants:
        runs = times[variant]
        low, mid = min(runs), statistics.median(runs)
        print(
            f"| {variant} | {VARIANTS[variant][0]} | {low:.3f} | {mid:.3f} | "
            f"{low / floor_min:.2f} | {mid / floor_median:.2f} | "
            f"{', '.join(f'{t:.3f}' for t in runs)} |"
        )


if __name__ == "__main__":
    main()
