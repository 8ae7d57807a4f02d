"""CPU time over a span: of the whole machine and of the processes an import keeps busy.

What bounds an import on a small machine is the sum of its CPU time, ours and PostgreSQL's,
over the cores: the figures here say how close to that bound a run came. PostgreSQL's part is
its server's postmaster, live processes and reaped ones (the backend of a connection closed
before the span ends), so it is counted whole.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psutil

RUNNER = "leads_import.cli.runner"
PREFECT_SERVER = "leads_import.cli.prefect_server"
# The columns of /proc/stat's cpu line that are work (user, nice, system, irq, softirq, steal).
_BUSY_COLUMNS = (0, 1, 2, 5, 6, 7)


@dataclass
class CpuSpan:
    """CPU seconds over a span of `wall_s`: the machine's (all cores) and per process group."""

    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    wall_s: float = 0.0
    machine_busy_s: float = 0.0
    runner_s: float = 0.0
    postgres_s: float = 0.0
    prefect_server_s: float = 0.0

    @property
    def busy_share(self) -> float:
        """The share of the machine's capacity (cores times wall) that was busy."""
        return self.machine_busy_s / (self.cores * self.wall_s) if self.wall_s else 0.0

    def as_json(self) -> dict[str, float]:
        return {
            "cores": self.cores,
            "wallS": round(self.wall_s, 3),
            "machineBusyS": round(self.machine_busy_s, 3),
            "busyShare": round(self.busy_share, 3),
            "runnerS": round(self.runner_s, 3),
            "postgresS": round(self.postgres_s, 3),
            "prefectServerS": round(self.prefect_server_s, 3),
        }


def _machine_busy_s() -> float:
    with open("/proc/stat") as stat:
        columns = [int(value) for value in stat.readline().split()[1:]]
    return sum(columns[i] for i in _BUSY_COLUMNS) / os.sysconf("SC_CLK_TCK")


def _postgres_s(pgdata: str) -> float:
    """CPU seconds so far of the PostgreSQL server of `pgdata`: its postmaster, its live
    processes, and the ones it reaped (backends of closed connections)."""
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] != "postgres" or "-D" not in cmdline:
            continue
        if os.path.realpath(cmdline[cmdline.index("-D") + 1]) != os.path.realpath(pgdata):
            continue
        try:
            times = process.cpu_times()
            children = process.children()
        except psutil.Error:
            return 0.0
        total = times.user + times.system + times.children_user + times.children_system
        for child in children:
            try:
                with_child = child.cpu_times()
            except psutil.Error:  # gone since: the next reading finds it reaped
                continue
            total += with_child.user + with_child.system
        return total
    return 0.0


def _leads_services_s() -> dict[str, float]:
    """CPU seconds so far of the import runners and the Prefect server `leads` started."""
    seconds = {"runner": 0.0, "prefect": 0.0}
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        group = "runner" if RUNNER in cmdline else "prefect" if PREFECT_SERVER in cmdline else None
        if group is None:
            continue
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        seconds[group] += times.user + times.system
    return seconds


@contextmanager
def cpu_span(pgdata: str) -> Iterator[CpuSpan]:
    """Measure the CPU time spent while the block runs (filled in when it ends); PostgreSQL's
    is that of the server of the data directory `pgdata`."""
    span = CpuSpan()
    services, postgres = _leads_services_s(), _postgres_s(pgdata)
    machine, started = _machine_busy_s(), time.perf_counter()
    try:
        yield span
    finally:
        span.wall_s = time.perf_counter() - started
        span.machine_busy_s = _machine_busy_s() - machine
        after = _leads_services_s()
        span.runner_s = after["runner"] - services["runner"]
        span.prefect_server_s = after["prefect"] - services["prefect"]
        span.postgres_s = _settled_postgres_s(pgdata) - postgres


def _settled_postgres_s(pgdata: str) -> float:
    """`_postgres_s` a moment later: a backend whose connection just closed is counted neither
    live nor reaped until the postmaster has reaped it (a few milliseconds)."""
    time.sleep(0.1)
    return _postgres_s(pgdata)
