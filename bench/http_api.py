"""The HTTP import endpoint's latency: 1000-lead requests against a workspace of 1M leads.

    uv run --group bench python bench/http_api.py                  # 200 requests, 1M seeded
    uv run --group bench python bench/http_api.py --seed-leads 50000 --requests 50   # quick

A workspace is seeded like bench/run.py's (M leads, 10% soft-deleted, campaigns) into the
template database `bench_http_seed` (kept for later runs unless --drop-seed; --reseed rebuilds
it), copied to `bench_http`, and `leads api` is started on it in a subprocess. The requests of
bench/api_batches.py (half new emails, 40% emails of seeded leads, 10% in-request repeats) are
encoded before the clock starts, then posted one after another over one keep-alive connection.

Per request: the server time (`Server-Timing: app`, from the gate's first byte to the response,
so body parsing, validation, auth, the rate limit, the engine and serialisation), its parts
(`Server-Timing: auth`, `parse`, `engine`: the key lookup and rate limit, the body's JSON
parsing and validation, the `import_leads` call), the report's `loadMs` and the client's wall
time. Prints p50/p99 of each; `--out` writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg2
from api_batches import build_batches
from pg import Server, server_url
from seed import WORKSPACE, matched_count, seed_database

from leads_import.db.api_keys import create_key
from leads_import.db.connection import connect
from leads_import.db.workspaces import find_workspace

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = "bench_http_seed"
DATABASE = "bench_http"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def _seeded_leads(server: Server) -> int | None:
    """The leads of the kept template, or None when there is none (or it predates the API)."""
    if not server.has_database(TEMPLATE):
        return None
    conn = psycopg2.connect(server.db_url(TEMPLATE))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('api_keys') IS NOT NULL")
            if not cur.fetchone()[0]:
                return None
            cur.execute("SELECT count(*) FROM leads")
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def prepare_database(server: Server, seed_leads: int, reseed: bool) -> dict[str, Any]:
    """A fresh copy of the seeded template (seeding it first when missing or of another size)."""
    if reseed or _seeded_leads(server) != seed_leads:
        log(f"seeding {seed_leads:,} leads into {TEMPLATE}")
        url = server.create_empty(TEMPLATE)
        seed = seed_database(url, seed_leads, seed_leads)
        log(f"seeded in {seed['seconds']} s")
    else:
        log(f"reusing {TEMPLATE} ({seed_leads:,} leads)")
        seed = {"leads": seed_leads}
    server.created = [name for name in server.created if name != TEMPLATE]  # keep it
    server.copy_of_template(DATABASE, TEMPLATE)
    return seed


def start_api(
    url: str, port: int, log_path: Path, *, checkout: Path = REPO, python: str = sys.executable
) -> subprocess.Popen:
    """`leads api` of `checkout` (run by `python`) on the database `url`, once it answers."""
    env = {**os.environ, "DATABASE_URL": url}
    command = [python, "-m", "leads_import.cli", "api", "--port", str(port)]
    command += ["--rate-limit", "1000000", "--log-level", "warning"]
    handle = log_path.open("wb")
    process = subprocess.Popen(command, cwd=checkout, env=env, stdout=handle, stderr=handle)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{checkout}: the API server exited; see {log_path}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/openapi.json").status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{checkout}: the API server did not start")


def server_timings(response: httpx.Response) -> dict[str, float]:
    """`Server-Timing: engine;dur=41.2, app;dur=47.9` -> {"engine": 41.2, "app": 47.9}."""
    timings: dict[str, float] = {}
    for header in response.headers.get_list("server-timing", split_commas=True):
        name, _, duration = header.strip().partition(";dur=")
        timings[name] = float(duration)
    return timings


def run_requests(base: str, key: str, bodies: list[bytes], warmup: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {
        "app": [], "auth": [], "parse": [], "engine": [], "loadMs": [], "client": []
    }  # fmt: skip
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    with httpx.Client(base_url=f"{base}/api/v1", headers=headers, timeout=60) as client:
        for index, body in enumerate(bodies):
            started = time.perf_counter()
            response = client.post("/leads/import", content=body)
            wall = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"request {index}: {response.status_code} {response.text}")
            if index < warmup:
                continue
            timings = server_timings(response)
            for name in ("app", "auth", "parse", "engine"):
                out[name].append(timings[name])
            out["loadMs"].append(response.json()["data"]["loadMs"])
            out["client"].append(wall)
    return out


def summary(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    overhead = [a - e for a, e in zip(samples["app"], samples["engine"], strict=True)]
    return {
        name: {
            "p50Ms": round(percentile(values, 50), 1),
            "p99Ms": round(percentile(values, 99), 1),
            "meanMs": round(statistics.fmean(values), 1),
        }
        for name, values in {**samples, "appMinusEngine": overhead}.items()
    }


LABELS = {
    "app": "server time (Server-Timing app)",
    "engine": "  of which import_leads (engine)",
    "loadMs": "    of which its database part (loadMs)",
    "appMinusEngine": "  the API's own share (app - engine)",
    "auth": "    of which key lookup + rate limit",
    "parse": "    of which JSON parse + validation",
    "client": "client wall time (httpx, loopback)",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed-leads", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests (200)")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--data-dir", type=Path, default=REPO / ".cache" / "bench-data")
    parser.add_argument("--reseed", action="store_true", help="rebuild the seeded template")
    parser.add_argument("--drop-seed", action="store_true", help="drop the template at the end")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    args = parser.parse_args(argv)

    server = Server(server_url(args.data_dir))
    seed = prepare_database(server, args.seed_leads, args.reseed)
    matched = matched_count(args.seed_leads, args.seed_leads)  # seeded leads with batch emails
    batches = build_batches(args.requests + args.warmup, args.batch_size, args.seed_leads, matched)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = measure_http(
            server.db_url(DATABASE), batches, args.warmup, args.port, args.data_dir
        )
    finally:
        server.drop(DATABASE)
        if args.drop_seed:
            server.drop(TEMPLATE)
    print(
        f"{args.requests} requests of {args.batch_size} leads, "
        f"{result['workspaceLeads']:,}-lead workspace"
    )
    print_summary(result)
    if args.out:
        result.update(seedLeads=seed["leads"])
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def measure_http(
    url: str, batches: list[list[dict[str, Any]]], warmup: int, port: int, log_dir: Path
) -> dict[str, Any]:
    """Start `leads api` on the seeded database `url`, post each batch as one import request
    (the first `warmup` untimed) and return p50/p99/mean of every timing."""
    bodies = [orjson.dumps({"leads": batch}) for batch in batches]
    conn = connect(url)
    with conn:
        workspace = find_workspace(conn, WORKSPACE)
        key = create_key(conn, workspace, "bench").key
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM leads WHERE workspace_id = %s", (workspace.id,))
            workspace_leads = int(cur.fetchone()[0])
    conn.close()
    log(f"workspace {WORKSPACE!r} holds {workspace_leads:,} leads; starting `leads api`")
    process = start_api(url, port, log_dir / "http_api.log")
    try:
        log(f"{len(bodies) - warmup} requests of {len(batches[0])} leads (+{warmup} warm-up)")
        samples = run_requests(f"http://127.0.0.1:{port}", key, bodies, warmup)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return {
        "requests": len(bodies) - warmup,
        "batchSize": len(batches[0]),
        "workspaceLeads": workspace_leads,
        **summary(samples),
    }


def print_summary(result: dict[str, Any]) -> None:
    """One line per timing: p50 and p99."""
    for name, label in LABELS.items():
        f = result[name]
        print(f"  {label:<40} p50 {f['p50Ms']:6.1f} ms   p99 {f['p99Ms']:6.1f} ms")


if __name__ == "__main__":
    sys.exit(main())
