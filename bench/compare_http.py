"""The HTTP import latency of two checkouts, measured in turns: one request to each in turn.

    git worktree add --detach /tmp/old COMMIT && (cd /tmp/old && uv sync)
    uv run --group bench python bench/compare_http.py /tmp/old . --requests 200

This VM's speed drifts by tens of percent from minute to minute, so two runs of
bench/http_api.py minutes apart can differ more than two commits do. Here each checkout's
`leads api` (its own `.venv`) serves its own copy of the seeded template of bench/http_api.py,
and the same 1000-lead bodies go to both servers alternately, one request at a time: a slow
minute slows both. Prints p50/p99 of `Server-Timing: app` (and engine, loadMs) per checkout and
the median of the per-pair differences.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
from api_batches import build_batches
from http_api import (
    TEMPLATE,
    log,
    percentile,
    prepare_database,
    server_timings,
    start_api,
)
from pg import Server, server_url
from seed import WORKSPACE, matched_count

from leads_import.db.api_keys import create_key
from leads_import.db.connection import connect
from leads_import.db.workspaces import find_workspace

REPO = Path(__file__).resolve().parent.parent


def _key(url: str) -> str:
    conn = connect(url)
    with conn:
        key = create_key(conn, find_workspace(conn, WORKSPACE), "bench").key
    conn.close()
    return key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", type=Path, nargs=2, help="two checkouts, each with a .venv")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per checkout")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed-leads", type=int, default=1_000_000)
    parser.add_argument("--port", type=int, default=8770)
    parser.add_argument("--data-dir", type=Path, default=REPO / ".cache" / "bench-data")
    args = parser.parse_args(argv)

    server = Server(server_url(args.data_dir))
    prepare_database(server, args.seed_leads, reseed=False)  # the template, seeded if missing
    matched = matched_count(args.seed_leads, args.seed_leads)
    batches = build_batches(args.requests + args.warmup, 1000, args.seed_leads, matched)
    bodies = [orjson.dumps({"leads": batch}) for batch in batches]
    checkouts = [checkout.resolve() for checkout in args.checkouts]
    clients: list[httpx.Client] = []
    processes: list[subprocess.Popen] = []
    samples: list[dict[str, list[float]]] = [
        {"app": [], "engine": [], "loadMs": []} for _ in checkouts
    ]
    try:
        for index, checkout in enumerate(checkouts):
            url = server.copy_of_template(f"bench_http_ab{index}", TEMPLATE)
            key = _key(url)
            port = args.port + index
            log(f"starting {checkout} on port {port}")
            log_path = args.data_dir / f"compare_http{index}.log"
            python = str(checkout / ".venv" / "bin" / "python")
            processes.append(start_api(url, port, log_path, checkout=checkout, python=python))
            headers = {"X-API-Key": key, "Content-Type": "application/json"}
            base = f"http://127.0.0.1:{port}/api/v1"
            clients.append(httpx.Client(base_url=base, headers=headers, timeout=60))
        log(f"{args.requests} requests to each (+{args.warmup} warm-up), in turns")
        for number, body in enumerate(bodies):
            order = (0, 1) if number % 2 == 0 else (1, 0)  # neither always goes first
            for index in order:
                response = clients[index].post("/leads/import", content=body)
                if response.status_code != 200:
                    status = f"{response.status_code} {response.text}"
                    raise RuntimeError(f"{checkouts[index]}: {status}")
                if number < args.warmup:
                    continue
                timings = server_timings(response)
                samples[index]["app"].append(timings["app"])
                samples[index]["engine"].append(timings["engine"])
                samples[index]["loadMs"].append(response.json()["data"]["loadMs"])
    finally:
        for client in clients:
            client.close()
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        server.drop("bench_http_ab0")
        server.drop("bench_http_ab1")
    for checkout, figures in zip(checkouts, samples, strict=True):
        line = "  ".join(
            f"{name} p50 {percentile(values, 50):5.1f} p99 {percentile(values, 99):6.1f}"
            for name, values in figures.items()
        )
        print(f"{checkout}: {line}")
    pairs = [b - a for a, b in zip(samples[0]["app"], samples[1]["app"], strict=True)]
    print(f"second minus first, server time: median {statistics.median(pairs):+.1f} ms per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
