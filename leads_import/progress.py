"""Row progress of a long import (read, prepared, written): the reporter the stages advance,
silent unless an entry point installs one (the CLI draws it on stderr)."""

from __future__ import annotations

from typing import Final, Protocol

STAGES: Final = ("read", "prepared", "written")


class ProgressReporter(Protocol):
    """Receives row counts as the stages of an import advance."""

    def advance(self, stage: str, rows: int) -> None: ...

    def set_total(self, rows: int) -> None: ...


class _Silent:
    def advance(self, stage: str, rows: int) -> None:
        pass

    def set_total(self, rows: int) -> None:
        pass


_reporter: ProgressReporter = _Silent()


def reporter() -> ProgressReporter:
    """The reporter of this process (silent unless the CLI installed one)."""
    return _reporter


def install(new: ProgressReporter | None) -> None:
    """Install a reporter for this process; None restores the silent one."""
    global _reporter
    _reporter = new if new is not None else _Silent()
