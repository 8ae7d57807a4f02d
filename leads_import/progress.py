"""Progress of a long import: rows read, prepared and written, bytes of the file read, and the
phase it waits in (starting the flow run, the workspace lock, committing); the reporter the
stages advance, silent unless an entry point installs one (the CLI draws it on stderr).

A reporter is per run: `reporting(r)` sets it for the current context (the CLI's import runner
serves several runs at once, each from its own thread). `install(r)` sets the process's
default, used where no run set one. A thread started without the run's context (an engine's
worker) still finds the run's reporter while it is the only run of the process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final, Protocol

STAGES: Final = ("read", "prepared", "written")


class ProgressReporter(Protocol):
    """Receives the progress of an import as it goes."""

    def advance(self, stage: str, rows: int) -> None:
        """`rows` more rows passed `stage` (one of STAGES)."""

    def set_total(self, rows: int) -> None:
        """About how many rows the input holds (known before the read)."""

    def read_bytes(self, done: int, total: int) -> None:
        """`done` of the file's `total` bytes (as stored: compressed for gzip) are read."""

    def phase(self, text: str | None) -> None:
        """The import waits on something the row counts do not show (None: it reads again)."""


class SilentReporter:
    """A reporter that ignores everything (a base for one that wants part of it)."""

    def advance(self, stage: str, rows: int) -> None:
        pass

    def set_total(self, rows: int) -> None:
        pass

    def read_bytes(self, done: int, total: int) -> None:
        pass

    def phase(self, text: str | None) -> None:
        pass


_default: ProgressReporter = SilentReporter()
_current: ContextVar[ProgressReporter | None] = ContextVar("leads_progress", default=None)
_active: list[ProgressReporter] = []
_active_lock = threading.Lock()


def reporter() -> ProgressReporter:
    """The reporter of the current run, else the process's (silent unless one was installed)."""
    current = _current.get()
    if current is not None:
        return current
    with _active_lock:
        if len(_active) == 1:
            return _active[0]
    return _default


def install(new: ProgressReporter | None) -> None:
    """Install the process's default reporter; None restores the silent one."""
    global _default
    _default = new if new is not None else SilentReporter()


@contextmanager
def reporting(run_reporter: ProgressReporter) -> Iterator[ProgressReporter]:
    """Report the progress of the run in this context to `run_reporter`."""
    token = _current.set(run_reporter)
    with _active_lock:
        _active.append(run_reporter)
    try:
        yield run_reporter
    finally:
        with _active_lock:
            _active.remove(run_reporter)
        _current.reset(token)
