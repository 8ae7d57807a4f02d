"""The machine a benchmark ran on, for BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

import psutil

PACKAGES = ("polars", "duckdb", "prefect", "psycopg2-binary", "pyarrow", "dlt")


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info(postgres_version: str) -> dict[str, str]:
    """CPU, cores, memory, OS, PostgreSQL and the versions of the libraries measured."""
    memory = psutil.virtual_memory().total / 1024**3
    info = {
        "cpu": cpu_model(),
        "cores": f"{os.cpu_count()} logical, {psutil.cpu_count(logical=False)} physical",
        "ram": f"{memory:.1f} GiB",
        "os": platform.platform(),
        "postgresql": postgres_version.split(" on ")[0],
        "python": platform.python_version(),
    }
    info.update({package.split("-")[0]: _version(package) for package in PACKAGES})
    info["loadAverage"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return info
