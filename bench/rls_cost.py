"""What PostgreSQL row-level security on `leads` would cost the import path.

The same prepared input is imported by the engine (`leads_import.engine.run.import_within`, one
transaction, batches of 100k rows) into identical copies of one seeded database, as an ordinary
(non-superuser) role, three ways:

- **as is**: no RLS; created leads are written with COPY into `leads`.
- **stage**: no RLS, but created leads go the way RLS forces (below): tells the staging's cost
  from the policy's.
- **rls**: `leads` has RLS enabled and forced, with the policy
  `workspace_id = current_setting('leads.workspace_id')::bigint` (USING and WITH CHECK), the
  setting made per transaction with `set_config(..., true)`. COPY into a table with RLS is
  refused, so created leads are COPYed into a temp staging table and moved with
  `INSERT INTO leads … SELECT`; lookups, restores and campaign counts run under the policy.

The seeded database holds two workspaces with the same emails (the target, and a neighbour the
policy must hide), `--rows` leads each, every tenth soft-deleted; the input is `--rows` rows of
which 80% are new emails and 20% seeded ones (half active: duplicates; half soft-deleted:
restores). Every variant must report the same counts and leave the same rows per workspace. A
superuser bypasses RLS even when it is forced, so the imports run as a role made for the
purpose (`SET ROLE`). Runs alternate the order of the variants.

    uv run python bench/rls_cost.py                      # 100k and 1M rows, 3 runs each
    uv run python bench/rls_cost.py --rows 100000 --repeat 5

DATABASE_URL selects the server (a scratch database `bench_rls_*` is created there and dropped);
unset, the embedded server in `.cache/bench-data` is used. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
import psycopg2
from psycopg2 import sql
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pg import admin_connection, server_url

from leads_import.db import leads as store
from leads_import.db.connection import connect
from leads_import.db.schema import init_schema
from leads_import.db.workspaces import Workspace, create_workspace
from leads_import.engine import Frames, ImportOptions
from leads_import.engine.run import import_within
from transforms.fields import LEAD_COLUMNS
from transforms.normalise import prepare_leads
from transforms.records import frame_to_raw_frame
from transforms.write_plan import to_copy_csv

BATCH_ROWS = 100_000
SETTING = "leads.workspace_id"
RLS_ON = """
ALTER TABLE leads ENABLE ROW LEVEL SECURITY;
ALTER TABLE leads FORCE ROW LEVEL SECURITY;
CREATE POLICY workspace_only ON leads
    USING (workspace_id = current_setting('leads.workspace_id')::bigint)
    WITH CHECK (workspace_id = current_setting('leads.workspace_id')::bigint);
"""
GRANTS = """
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {role};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};
"""
STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS created_stage ON COMMIT DROP AS "
    "SELECT {columns} FROM leads WITH NO DATA; TRUNCATE created_stage"
)
STAGE_COPY = "COPY created_stage ({columns}) FROM STDIN WITH (FORMAT csv)"
STAGE_MOVE = "INSERT INTO leads ({columns}) SELECT {columns} FROM created_stage"
COPY_COLUMNS = ("workspace_id", *LEAD_COLUMNS)
# stage: the staged insert without RLS, to tell the cost of the staging from the policy's.
VARIANTS = ["as is", "stage", "rls"]


def staged_insert_created(cur: Any, workspace_id: int, rows: pl.DataFrame) -> int:
    """`store.insert_created` as RLS forces it: COPY into a temp table, then INSERT … SELECT."""
    if rows.height == 0:
        return 0
    columns = sql.SQL(", ").join(map(sql.Identifier, COPY_COLUMNS))
    cur.execute(sql.SQL(STAGE).format(columns=columns))
    payload = to_copy_csv(rows.select(pl.lit(workspace_id).alias("workspace_id"), pl.all()))
    cur.copy_expert(sql.SQL(STAGE_COPY).format(columns=columns), io.BytesIO(payload), size=1 << 20)
    cur.execute(sql.SQL(STAGE_MOVE).format(columns=columns))
    return rows.height


@contextmanager
def patched_insert(replacement: Callable[..., int]) -> Iterator[None]:
    original = store.insert_created
    store.insert_created = replacement
    try:
        yield
    finally:
        store.insert_created = original


def db_url(server: str, name: str) -> str:
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def admin(server: str, statement: sql.Composable) -> None:
    conn = admin_connection(server)
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def seed(url: str, rows: int, role: str) -> tuple[Workspace, int]:
    """Two workspaces with the same `rows` emails; returns the target and the neighbour's id."""
    conn = connect(url)
    conn.autocommit = True
    try:
        init_schema(conn)
        target = create_workspace(conn, "target")
        neighbour = create_workspace(conn, "neighbour")
        emails = pl.format("s{}@seed.example.com", pl.int_range(rows, dtype=pl.Int64))
        for workspace_id in (target.id, neighbour.id):
            frame = pl.select(
                pl.lit(workspace_id).alias("workspace_id"),
                emails.alias("email"),
                pl.lit("Seeded").alias("first_name"),
                pl.when(pl.int_range(rows) % 10 == 0)
                .then(pl.lit("2024-06-01 00:00:00+00"))
                .alias("deleted_at"),
            )
            with conn.cursor() as cur:
                cur.copy_expert(
                    "COPY leads (workspace_id, email, first_name, deleted_at) FROM STDIN "
                    "WITH (FORMAT csv)",
                    io.BytesIO(frame.write_csv(include_header=False).encode()),
                )
        with conn.cursor() as cur:
            cur.execute(sql.SQL(GRANTS).format(role=sql.Identifier(role)))
            cur.execute("VACUUM ANALYZE")
    finally:
        conn.close()
    return target, neighbour.id


def prepared_input(rows: int) -> pl.DataFrame:
    """`rows` input rows: 80% new emails, 20% seeded ones (every tenth of those soft-deleted)."""
    index = pl.int_range(rows, dtype=pl.Int64)
    email = (
        pl.when(index % 5 == 0)
        .then(pl.format("S{}@Seed.example.com", index))
        .otherwise(pl.format("n{}@new.example.com", index))
    )
    frame = pl.select(email.alias("Email"), pl.format("First {}", index).alias("First Name"))
    raw, _ = frame_to_raw_frame(frame)
    return prepare_leads(raw)


def run_once(url: str, role: str, workspace: Workspace, prepared: pl.DataFrame, variant: str):
    """One timed import (and commit) as `role`; returns (seconds, report, rows per workspace)."""
    rls = variant == "rls"
    if rls:
        conn = connect(url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(RLS_ON)
        conn.close()
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        conn.commit()
        batches = [prepared.slice(o, BATCH_ROWS) for o in range(0, prepared.height, BATCH_ROWS)]
        source = Frames(batches, prepared=True)
        options = ImportOptions(default_source="bench")
        started = time.perf_counter()
        if rls:
            with conn.cursor() as cur:
                cur.execute("SELECT set_config(%s, %s, true)", (SETTING, str(workspace.id)))
        if variant != "as is":
            with patched_insert(staged_insert_created):
                report = import_within(conn, source, workspace, options).to_json()
        else:
            report = import_within(conn, source, workspace, options).to_json()
        conn.commit()
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    counts = {k: report[k] for k in ("created", "restored", "duplicates", "errors")}
    admin_conn = admin_connection(url)
    try:
        with admin_conn.cursor() as cur:
            cur.execute(
                "SELECT workspace_id, count(*) FILTER (WHERE deleted_at IS NULL), count(*) "
                "FROM leads GROUP BY 1 ORDER BY 1"
            )
            table = cur.fetchall()
    finally:
        admin_conn.close()
    return elapsed, counts, table


def copy_refused(url: str, role: str, workspace: Workspace, prepared: pl.DataFrame) -> str:
    """The engine's own COPY under RLS: the error PostgreSQL answers with."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
            cur.execute("SELECT set_config(%s, %s, true)", (SETTING, str(workspace.id)))
        small = prepared.slice(0, 10)
        import_within(conn, Frames([small], prepared=True), workspace)
    except psycopg2.Error as error:
        return f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"
    finally:
        conn.rollback()
        conn.close()
    return "not refused"


def measure(server: str, rows: int, repeat: int) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    role, template = f"bench_rls_app_{suffix}", f"bench_rls_seed_{suffix}"
    created: list[str] = []
    admin(server, sql.SQL("CREATE ROLE {} NOSUPERUSER").format(sql.Identifier(role)))
    try:
        admin(server, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(template)))
        created.append(template)
        started = time.perf_counter()
        workspace, _ = seed(db_url(server, template), rows, role)
        seed_s = time.perf_counter() - started
        started = time.perf_counter()
        prepared = prepared_input(rows)
        prepare_s = time.perf_counter() - started
        times: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
        results: dict[str, Any] = {}
        refusal = ""
        for run in range(repeat):
            order = VARIANTS if run % 2 == 0 else VARIANTS[::-1]
            for variant in order:
                name = f"bench_rls_{variant.replace(' ', '')}_{suffix}_{run}"
                admin(
                    server,
                    sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                        sql.Identifier(name), sql.Identifier(template)
                    ),
                )
                created.append(name)
                url = db_url(server, name)
                if variant == "rls" and not refusal:
                    conn = connect(url)
                    conn.autocommit = True
                    with conn.cursor() as cur:
                        cur.execute(RLS_ON)
                    conn.close()
                    refusal = copy_refused(url, role, workspace, prepared)
                    conn = admin_connection(url)
                    with conn.cursor() as cur:
                        cur.execute("DROP POLICY workspace_only ON leads")
                    conn.close()
                elapsed, counts, table = run_once(url, role, workspace, prepared, variant)
                times[variant].append(elapsed)
                previous = results.setdefault(variant, (counts, table))
                assert previous == (counts, table), (variant, previous, counts, table)
                admin(server, sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
                created.remove(name)
                print(f"  {rows:,} rows, {variant}: {elapsed:.2f} s {counts}", file=sys.stderr)
        assert results["as is"] == results["rls"] == results["stage"], results
        return {
            "rows": rows,
            "seed_s": seed_s,
            "prepare_s": prepare_s,
            "times": times,
            "counts": results["as is"][0],
            "copy_refused": refusal,
        }
    finally:
        for name in reversed(created):
            admin(
                server,
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)),
            )
        admin(server, sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="default: 100000 and 1000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=Path(".cache/bench-data"))
    args = parser.parse_args()
    server = server_url(args.data_dir)
    print(
        "| rows | as is: COPY, median (min) s | stage + INSERT … SELECT, no RLS | RLS: stage + "
        "INSERT … SELECT + policy | RLS / as is, median of per-round ratios | runs, s "
        "(as is / stage / RLS) | counts |"
    )
    print("|---|---|---|---|---|---|---|")
    refusal = ""
    for rows in args.rows or [100_000, 1_000_000]:
        result = measure(server, rows, args.repeat)
        refusal = result["copy_refused"]
        times = result["times"]
        cells = [f"{statistics.median(times[v]):.2f} ({min(times[v]):.2f})" for v in VARIANTS]
        # A round runs every variant back to back: its ratio cancels the machine's drift.
        ratios = [r / a for r, a in zip(times["rls"], times["as is"], strict=True)]
        runs = " / ".join(", ".join(f"{t:.2f}" for t in times[v]) for v in VARIANTS)
        print(
            f"| {rows:,} | {' | '.join(cells)} | {statistics.median(ratios) - 1:+.0%} | {runs} "
            f"| {result['counts']} |",
            flush=True,
        )
    print(f"\nThe engine's COPY under RLS: {refusal}")


if __name__ == "__main__":
    main()
