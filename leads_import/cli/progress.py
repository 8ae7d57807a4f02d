"""The progress display of `leads import` on stderr: rows per stage and rows per second."""

from __future__ import annotations

from leads_import.progress import STAGES


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

    def log(self, text: str) -> None:
        """A log line above the display (the display is redrawn below it)."""
        self._progress.console.print(text, markup=False, highlight=False, soft_wrap=True)
