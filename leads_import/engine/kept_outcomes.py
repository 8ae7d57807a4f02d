"""Per-row outcomes kept with a file run, for `leads runs show`: Parquet files in the data
directory, `<data dir>/outcomes/<flow run id>/part-NNNNN.parquet`, one per written batch.

Kept only when asked (`leads import --keep-outcomes`, the flow parameter `keep_outcomes`), and
only the newest `LEADS_KEEP_OUTCOMES_RUNS` runs (default 20) are kept: every row's outcome costs
disk and time in proportion to the file (a 10-million-row file is hundreds of MB), which the
default path should not pay. The rows are the outcomes file's (`transforms.report.outcome_rows`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Final

import polars as pl

from leads_import.db.settings import data_dir

KEEP_RUNS_ENV: Final = "LEADS_KEEP_OUTCOMES_RUNS"
DEFAULT_KEEP_RUNS: Final = 20


def outcomes_dir() -> Path:
    """Where kept outcomes live: `<data dir>/outcomes`."""
    return data_dir() / "outcomes"


def kept_runs() -> int:
    """How many runs' outcomes are kept (`LEADS_KEEP_OUTCOMES_RUNS`, default 20, at least 1)."""
    try:
        return max(1, int(os.environ.get(KEEP_RUNS_ENV, DEFAULT_KEEP_RUNS)))
    except ValueError:
        return DEFAULT_KEEP_RUNS


def kept_path(flow_run_id: str) -> Path:
    """The folder of a run's kept outcomes (it may not exist)."""
    return outcomes_dir() / flow_run_id


class OutcomeKeeper:
    """Writes a run's outcome rows batch by batch into a hidden folder, moved into place when
    the run succeeds (`keep`), removed when it fails (`discard`)."""

    def __init__(self, flow_run_id: str) -> None:
        self.final = kept_path(flow_run_id)
        self.partial = outcomes_dir() / f".{flow_run_id}.partial"
        shutil.rmtree(self.partial, ignore_errors=True)  # a retried task starts over
        self.partial.mkdir(parents=True)
        self._parts = 0

    def add(self, rows: pl.DataFrame) -> None:
        """Keep a written batch's outcome rows."""
        rows.write_parquet(self.partial / f"part-{self._parts:05d}.parquet")
        self._parts += 1

    def keep(self) -> Path:
        """Move the rows into place and prune older runs beyond the limit."""
        shutil.rmtree(self.final, ignore_errors=True)
        os.replace(self.partial, self.final)
        prune()
        return self.final

    def discard(self) -> None:
        shutil.rmtree(self.partial, ignore_errors=True)


def prune(keep: int | None = None) -> list[Path]:
    """Remove the kept outcomes of all but the newest `keep` runs; return what was removed."""
    folder = outcomes_dir()
    if not folder.is_dir():
        return []
    runs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    runs.sort(key=lambda p: p.stat().st_mtime_ns, reverse=True)
    removed = runs[keep if keep is not None else kept_runs() :]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def read_kept(flow_run_id: str | None) -> pl.DataFrame | None:
    """A run's kept outcome rows in input order, or None when none were kept (or pruned)."""
    if not flow_run_id:
        return None
    folder = kept_path(flow_run_id)
    if not folder.is_dir():
        return None
    parts = sorted(folder.glob("part-*.parquet"))
    if not parts:
        return pl.DataFrame()
    return pl.concat([pl.read_parquet(part) for part in parts], how="vertical_relaxed")
