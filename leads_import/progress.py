"""Row progress of a long import: read, prepared, written; shown on stderr by the CLI."""

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


class RichProgress:
    """A progress display on stderr: rows per stage and rows per second."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description:<9}"),
            BarColumn(),
            TextColumn("{task.completed:>12,.0f} rows"),
            TextColumn("{task.fields[rate]:>14}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._tasks = {
            stage: self._progress.add_task(stage, total=None, rate="") for stage in STAGES
        }

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def advance(self, stage: str, rows: int) -> None:
        task_id = self._tasks[stage]
        self._progress.advance(task_id, rows)
        speed = self._progress.tasks[task_id].speed
        if speed:
            self._progress.update(task_id, rate=f"{speed:,.0f} rows/s")

    def set_total(self, rows: int) -> None:
        for task_id in self._tasks.values():
            self._progress.update(task_id, total=rows)
