"""Run `leads import FILE --workspace W --json` as a subprocess; wall time and peak RSS.

The import itself runs in the warm runner `leads` keeps in the background (see the README's
"Background services"), so the RSS is sampled every 50 ms over the command's process tree and
the runner processes together; the peak of the one process doing the import is the runner's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from leads_import.db.settings import DATA_DIR_ENV

MIB = 1024 * 1024


@dataclass
class RssPeaks:
    """The largest RSS seen: of the process doing the import (the runner) and of all the
    processes of the command and the runners together."""

    main: int = 0
    tree: int = 0


@dataclass
class CliRun:
    wall_s: float
    report: dict[str, Any]
    peaks: RssPeaks = field(default_factory=RssPeaks)
    cpu: dict[str, Any] | None = None  # bench/cpu.py's figures, when measured

    @property
    def flow_s(self) -> float | None:
        """The flow's own start-to-end, from the report's `timings` (None if absent)."""
        timings = self.report.get("timings") or {}
        flow_ms = timings.get("flowMs")
        return None if flow_ms is None else flow_ms / 1000


def leads_command() -> str:
    """The `leads` console script of the running environment."""
    beside = Path(sys.executable).parent / "leads"
    return str(beside) if beside.exists() else (shutil.which("leads") or "leads")


RUNNER_MODULE = "leads_import.cli.runner"


def runner_processes() -> list[psutil.Process]:
    """The background runners of `leads` (where imports run) of this data directory: a runner
    another data directory keeps warm (a developer's own) is not the bench's."""
    ours = os.environ.get(DATA_DIR_ENV)
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if RUNNER_MODULE not in " ".join(process.info["cmdline"] or []):
            continue
        try:
            if process.environ().get(DATA_DIR_ENV) == ours:
                found.append(process)
        except psutil.Error:
            continue
    return found


def _rss(processes: list[psutil.Process]) -> list[int]:
    sizes = []
    for process in processes:
        try:
            sizes.append(process.memory_info().rss)
        except psutil.Error:
            continue
    return sizes


def _sample(pid: int, peaks: RssPeaks, done: threading.Event) -> None:
    try:
        command = psutil.Process(pid)
        runners, looked = runner_processes(), time.monotonic()
        while not done.is_set():
            if time.monotonic() - looked > 1:  # a runner the command starts shows up late
                runners, looked = runner_processes(), time.monotonic()
            tree = _rss([command, *command.children(recursive=True)])
            importing = _rss(runners) or tree[:1]
            peaks.main = max(peaks.main, max(importing))
            peaks.tree = max(peaks.tree, sum(tree) + sum(_rss(runners)))
            done.wait(0.05)
    except psutil.Error:
        return


def _failure(command: list[str], code: int, stderr: Path) -> RuntimeError:
    tail = stderr.read_text(errors="replace")[-3000:]
    return RuntimeError(f"{' '.join(command)} exited with {code}:\n{tail}")


def run_import(
    source: Path, workspace: str, database_url: str, log_dir: Path, label: str
) -> CliRun:
    """Import `source` into a fresh database copy through the CLI; raise if it fails."""
    command = [leads_command(), "import", str(source), "--workspace", workspace, "--json"]
    env = {**os.environ, "DATABASE_URL": database_url}
    log_dir.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = log_dir / f"{label}.json", log_dir / f"{label}.stderr"
    peaks, done = RssPeaks(), threading.Event()
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err)
        sampler = threading.Thread(target=_sample, args=(process.pid, peaks, done), daemon=True)
        sampler.start()
        code = process.wait()
        wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if code != 0:
        raise _failure(command, code, stderr_path)
    report = json.loads(stdout_path.read_text())
    return CliRun(wall_s=wall, report=report, peaks=peaks)
