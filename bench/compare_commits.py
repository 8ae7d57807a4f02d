"""Time the 1M-row CLI import of two checkouts back to back, on fresh copies of one seeded
database, to tell a change in the code from a change in the machine.

    git worktree add --detach /tmp/old COMMIT && (cd /tmp/old && uv sync)
    uv run --group bench python bench/compare_commits.py /tmp/old . --repeat 2

Each checkout's own `leads import FILE --workspace bench --json` runs (its `.venv`) against
a copy of the template `bench_compare_seed_N` (N leads, seeded like bench/run.py's, kept for
later runs); the report's `timings`, the wall time and the peak RSS are printed per run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from make_leads import write_leads
from pg import Server, server_url
from seed import WORKSPACE, seed_database

REPO = Path(__file__).resolve().parent.parent
DATABASE = "bench_compare"


def run_import(checkout: Path, path: Path, url: str) -> dict:
    """One `leads import` of `checkout` into `url`; its report's timings, the wall time and the
    process's peak RSS (from wait4: that child alone)."""
    command = [str(checkout / ".venv" / "bin" / "leads"), "import", str(path)]
    command += ["--workspace", WORKSPACE, "--json"]
    env = {**os.environ, "DATABASE_URL": url}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=checkout, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if process.returncode != 0:
        raise RuntimeError(f"{checkout}: exit {process.returncode}\n{stderr[-2000:]}")
    report = json.loads(stdout[stdout.index("{") :])
    return {
        "wallS": round(wall, 1),
        **report.get("timings", {}),
        "loadMs": report.get("loadMs"),
        "peakRssMiB": round(usage.ru_maxrss / 1024),  # Linux reports KiB
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", type=Path, nargs="+", help="checkouts, each with a .venv")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--data-dir", type=Path, default=REPO / ".cache" / "bench-data")
    args = parser.parse_args(argv)

    server = Server(server_url(args.data_dir))
    path = args.data_dir / "files" / f"leads-{args.rows}.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_leads(args.rows, path)
    template = f"bench_compare_seed_{args.rows}"
    if not server.has_database(template):
        seed_database(server.create_empty(template), args.rows, args.rows)
        server.created.remove(template)  # kept for the next comparison
    try:
        for _ in range(args.repeat):
            for checkout in args.checkouts:
                url = server.copy_of_template(DATABASE, template)
                figures = run_import(checkout.resolve(), path, url)
                print(checkout, json.dumps(figures), flush=True)
    finally:
        server.drop(DATABASE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
