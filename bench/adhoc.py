"""Measurement (g): the ad hoc latency of a one-row import, as a new user meets it.

In a data directory of its own with no DATABASE_URL and no PREFECT_API_URL, `uv run leads
import one-row.csv --json` runs first on nothing (the embedded PostgreSQL is initialised, the
background Prefect server and the runner start), then several times warm; `leads stop` ends it.
The wall time of each whole command is taken, uv's own start included.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def _command(*args: str) -> list[str]:
    uv = shutil.which("uv")
    if uv:
        return [uv, "run", "--project", str(REPO), "leads", *args]
    return [str(REPO / ".venv" / "bin" / "leads"), *args]


def _environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PREFECT_API_URL")}
    env["LEADS_DATA_DIR"] = str(data_dir)
    env.pop("LEADS_RUNNER", None)
    return env


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return wall


def measure_adhoc(work: Path, warm_runs: int = 5) -> dict[str, Any]:
    """First and warm wall times of a one-row `leads import` in a fresh data directory."""
    data_dir = work / "adhoc"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    probe = work / "adhoc-one-row.csv"
    probe.write_text("email\nann@example.com\n")
    env = _environment(data_dir)
    command = _command("import", str(probe), "--json")
    try:
        first = _timed(command, env)
        warm = [_timed(command, env) for _ in range(warm_runs)]
    finally:
        subprocess.run(_command("stop"), env=env, cwd=REPO, capture_output=True, check=False)
        shutil.rmtree(data_dir, ignore_errors=True)
    return {
        "firstS": round(first, 3),
        "warmS": [round(w, 3) for w in warm],
        "warmMedianS": round(statistics.median(warm), 3),
        "warmMaxS": round(max(warm), 3),
    }
