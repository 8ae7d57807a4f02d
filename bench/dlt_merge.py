"""Comparison (c): dlt `merge` of the same leads file into PostgreSQL; prints timings as JSON.

python bench/dlt_merge.py --url URL --file leads.csv --work-dir DIR [--format csv]

The database is a fresh copy of the seeded template. Its workspace's leads are first loaded
into the dlt table `dlt_leads.leads` (untimed), so the timed run merges the file into a table
that already holds the same M leads. The file is read the usual dlt way: a resource yielding
Arrow record batches (pyarrow's streaming CSV reader), email stripped and lower-cased as the
primary key, rows without an email dropped (dlt rejects null keys). dlt does no validation,
restore or report: it upserts by email (delete-insert through a staging dataset).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")  # dlt must not reach the internet

import dlt
import psycopg2
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy.engine import make_url

SEED_QUERY = (
    "COPY (SELECT email, first_name, last_name, company, title, phone, source, status, "
    "custom_fields, tags, created_at, updated_at, deleted_at FROM leads) "
    "TO STDOUT WITH (FORMAT csv, HEADER)"
)
BLOCK_BYTES = 16 << 20


def snake(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_")


def _seed_table(url: str) -> pa.Table:
    """The seeded leads as one Arrow table (every column text)."""
    buffer = io.BytesIO()
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.copy_expert(SEED_QUERY, buffer)
    finally:
        conn.close()
    buffer.seek(0)
    names = next(csv.reader(io.StringIO(buffer.readline().decode())))
    buffer.seek(0)
    return pacsv.read_csv(buffer, convert_options=_text_columns(names))


def _text_columns(names: list[str]) -> pacsv.ConvertOptions:
    return pacsv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        strings_can_be_null=True,
    )


def file_batches(path: Path) -> Iterator[pa.Table]:
    """Arrow batches of the file: snake_case headers, email normalised, empty emails dropped."""
    with path.open(newline="") as handle:
        headers = next(csv.reader(handle))
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES),
        convert_options=_text_columns(headers),
    )
    names = [snake(h) for h in headers]
    for batch in reader:
        table = pa.Table.from_batches([batch]).rename_columns(names)
        email = pc.utf8_lower(pc.utf8_trim_whitespace(table["email"]))
        table = table.set_column(names.index("email"), "email", email)
        yield table.filter(pc.and_kleene(pc.is_valid(email), pc.not_equal(email, "")))


def dlt_url(url: str) -> str:
    """dlt requires a host; a Unix-socket URL (`postgresql://u@/db?host=/dir`) gets a placeholder.

    libpq lets the `host` query parameter override the URL's host, so the socket is still used.
    """
    parsed = make_url(url)
    if parsed.host or "host" not in parsed.query:
        return url
    return parsed.set(host="localhost").render_as_string(hide_password=False)


def _pipeline(url: str, pipelines_dir: str) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name="leads_bench_merge",
        destination=dlt.destinations.postgres(credentials=dlt_url(url)),
        dataset_name="dlt_leads",
        pipelines_dir=pipelines_dir,
    )


def _step_seconds(pipeline: dlt.Pipeline) -> dict[str, float]:
    trace = pipeline.last_trace
    return {
        step.step: round((step.finished_at - step.started_at).total_seconds(), 3)
        for step in trace.steps
        if step.finished_at is not None
    }


def _count(pipeline: dlt.Pipeline) -> int:
    with pipeline.sql_client() as client:
        rows = client.execute_sql("SELECT count(*) FROM leads")
    return int(rows[0][0])


def run(url: str, path: Path, pipelines_dir: str, loader_format: str) -> dict[str, Any]:
    """Load the seeded leads (untimed), then merge the file (timed) into `dlt_leads.leads`."""
    started = time.perf_counter()
    pipeline = _pipeline(url, pipelines_dir)
    seed = _seed_table(url)
    pipeline.run(
        seed, table_name="leads", write_disposition="replace", loader_file_format=loader_format
    )
    seeded = time.perf_counter()
    resource = dlt.resource(
        file_batches(path), name="leads", write_disposition="merge", primary_key="email"
    )
    pipeline.run(resource, loader_file_format=loader_format)
    merged = time.perf_counter()
    return {
        "dltVersion": dlt.__version__,
        "loaderFileFormat": loader_format,
        "seedRows": seed.num_rows,
        "seedS": round(seeded - started, 3),
        "mergeS": round(merged - seeded, 3),
        "mergeSteps": _step_seconds(pipeline),
        "rowsAfter": _count(pipeline),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--file", required=True, type=Path)
    parser.add_argument("--work-dir", required=True, type=Path)
    parser.add_argument("--format", default="csv", choices=["csv", "insert_values"])
    args = parser.parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    # A fresh pipelines directory per run: dlt's local state must match the fresh database.
    with tempfile.TemporaryDirectory(prefix="pipelines-", dir=args.work_dir) as pipelines_dir:
        figures = run(args.url, args.file, pipelines_dir, args.format)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
