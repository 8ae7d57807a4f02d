"""The progress display of `leads import` on stderr.

`ImportProgress` keeps what is known of a run: bytes of the file read against its size, rows
read and written against the estimated total, and the phase it waits in (starting the flow
run, opening the file, the workspace lock, committing). It is fed the runner's progress
messages (protocol.py) or, in the command's own process, the engine's reporter calls, and
tells percentages and ETAs as text. On a terminal `LiveProgress` draws it as two bars under a
spinner line naming the phase; otherwise `PlainProgress` prints a few plain lines: a phase
that lasts, and a progress line now and then.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Final, TextIO

from leads_import.progress import STAGES

PLAIN_PHASE_AFTER: Final = 1.0  # plain output names a phase once it has lasted this long
PLAIN_EVERY: Final = 5.0  # seconds between two plain progress lines
BAR_WIDTH: Final = 24


def size_text(count: int) -> str:
    """A byte count for a person: 812 B, 38.8 MB."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def duration_text(seconds: float) -> str:
    """h:mm:ss."""
    whole = max(0, round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class ImportProgress:
    """The state of one run's progress, and its text. Thread-safe: the engine's threads (or the
    command's reading loop) feed it while a display reads it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.started = clock()
        self.rows = dict.fromkeys(STAGES, 0)
        self.total_rows: int | None = None
        self.bytes_done = 0
        self.bytes_total: int | None = None
        self.current_phase: str | None = None
        self.phase_since = self.started
        self.reading_since: float | None = None  # when the read began (its total was told)
        self.finished = False

    # --- the engine's reporter (leads_import.progress.ProgressReporter) ---------------------

    def advance(self, stage: str, rows: int) -> None:
        with self._lock:
            self.rows[stage] = self.rows.get(stage, 0) + rows
            self._reading()

    def set_total(self, rows: int) -> None:
        with self._lock:
            self.total_rows = rows
            self._reading()

    def read_bytes(self, done: int, total: int) -> None:
        with self._lock:
            self.bytes_done, self.bytes_total = done, total
            self._reading()

    def phase(self, text: str | None) -> None:
        with self._lock:
            if text != self.current_phase:
                self.current_phase, self.phase_since = text, self._clock()

    def _reading(self) -> None:
        if self.reading_since is None:
            self.reading_since = self._clock()

    # --- the runner's messages ----------------------------------------------------------------

    def event(self, message: dict[str, Any]) -> bool:
        """Apply a progress message of the runner; False when `message` is not one."""
        kind = message.get("type")
        if kind == "progress":
            self.advance(str(message["stage"]), int(message["rows"]))
        elif kind == "total":
            self.set_total(int(message["rows"]))
        elif kind == "bytes":
            self.read_bytes(int(message["done"]), int(message["total"]))
        elif kind == "phase":
            self.phase(message.get("text"))
        else:
            return False
        return True

    # --- as text -------------------------------------------------------------------------------

    @property
    def reading(self) -> bool:
        """Whether the read has begun (a bar has something to show)."""
        return self.reading_since is not None

    def read_fraction(self) -> float | None:
        """How much of the input is read: bytes against the file's size, else rows against the
        estimated total; None when neither is known."""
        if self.bytes_total:
            return min(1.0, self.bytes_done / self.bytes_total)
        if self.bytes_total == 0:
            return 1.0
        return self._of_rows("read")

    def written_fraction(self) -> float | None:
        return self._of_rows("written")

    def _of_rows(self, stage: str) -> float | None:
        if self.total_rows is None:
            return None
        if self.total_rows == 0:
            return 1.0
        return min(1.0, self.rows[stage] / self.total_rows)

    def eta(self, fraction: float | None) -> float | None:
        """Seconds left at the pace since the read began; None until there is a pace."""
        if fraction is None or self.reading_since is None or fraction <= 0:
            return None
        spent = self._clock() - self.reading_since
        if spent <= 0:
            return None
        return spent * (1 - fraction) / fraction

    def now(self) -> float:
        return self._clock()

    def elapsed(self) -> float:
        return self._clock() - self.started

    def phase_lasted(self) -> float:
        return self._clock() - self.phase_since

    def read_text(self) -> str:
        """`62%  24.1/38.8 MB  185,000 rows  ETA 0:00:01`."""
        fraction = self.read_fraction()
        parts = [_percent(fraction)] if fraction is not None else []
        if self.bytes_total is not None:
            parts.append(_of_size(self.bytes_done, self.bytes_total))
            parts.append(f"{self.rows['read']:,} rows")
        else:
            parts.append(self._rows_text("read"))
        return "  ".join(parts + self._eta_parts(fraction))

    def written_text(self) -> str:
        """`43%  129,624/~300,000 rows  ETA 0:00:02`."""
        fraction = self.written_fraction()
        parts = [_percent(fraction)] if fraction is not None else []
        return "  ".join([*parts, self._rows_text("written"), *self._eta_parts(fraction)])

    def _rows_text(self, stage: str) -> str:
        done = self.rows[stage]
        if self.total_rows is None:
            return f"{done:,} rows"
        return f"{done:,}/~{max(self.total_rows, done):,} rows"

    def _eta_parts(self, fraction: float | None) -> list[str]:
        if fraction is not None and fraction >= 1:
            return []
        left = self.eta(fraction)
        return [f"ETA {duration_text(left)}"] if left is not None else []

    def phase_text(self) -> str | None:
        """`committing… 0:00:02` (how long it has waited); while the bars move and no phase
        waits, `importing… 0:00:05` (the whole run); None once everything is written."""
        if self.finished:
            return None
        if self.current_phase is not None:
            return f"{self.current_phase}… {duration_text(self.phase_lasted())}"
        written = self.written_fraction()
        if self.reading and (written is None or written < 1):
            return f"importing… {duration_text(self.elapsed())}"
        return None

    def summary_line(self) -> str:
        """One plain line: `read 42% (16.0/38.8 MB), written 129,624/~300,000 rows (43%),
        ETA 0:00:02`."""
        with self._lock:
            read = self.read_fraction()
            read_part = "read " + (_percent(read) if read is not None else "")
            if self.bytes_total is not None:
                read_part += f" ({_of_size(self.bytes_done, self.bytes_total)})"
            elif read is None:
                read_part += f"{self.rows['read']:,} rows"
            written = self.written_fraction()
            written_part = f"written {self._rows_text('written')}"
            if written is not None:
                written_part += f" ({_percent(written)})"
            left = self.eta(written if written else read)
        parts = [read_part.rstrip(), written_part]
        if left is not None:
            parts.append(f"ETA {duration_text(left)}")
        return ", ".join(parts)


def _percent(fraction: float | None) -> str:
    return f"{100 * (fraction or 0):.0f}%"


def _of_size(done: int, total: int) -> str:
    """`16.8/38.8 MB` (the unit once when both use it)."""
    done_text, total_text = size_text(done), size_text(total)
    unit = total_text.rsplit(" ", 1)[1]
    if done_text.endswith(f" {unit}"):
        done_text = done_text.rsplit(" ", 1)[0]
    return f"{done_text}/{total_text}"


class _Reporting:
    """A display as the reporter of an import in this process: what it is told goes to its
    state, which it draws."""

    state: ImportProgress

    def advance(self, stage: str, rows: int) -> None:
        self.state.advance(stage, rows)

    def set_total(self, rows: int) -> None:
        self.state.set_total(rows)

    def read_bytes(self, done: int, total: int) -> None:
        self.state.read_bytes(done, total)

    def phase(self, text: str | None) -> None:
        self.state.phase(text)


class LiveProgress(_Reporting):
    """The display on a terminal: a spinner line naming the phase the run waits in, and bars of
    the file read (bytes) and the rows written, with percentages and ETAs; redrawn ten times a
    second, log lines printed above it."""

    def __init__(self, state: ImportProgress | None = None, stream: TextIO | None = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.state = state or ImportProgress()
        self.console = Console(file=stream or sys.stderr)
        self._live = Live(
            get_renderable=self.renderable,
            console=self.console,
            refresh_per_second=10,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )

    def __enter__(self) -> LiveProgress:
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.state.finished = True
        self._live.refresh()
        self._live.stop()

    def discard(self) -> None:
        """Leave nothing on the terminal when the display closes (the run failed: its error
        line says what happened)."""
        self._live.transient = True

    def renderable(self) -> Any:
        """The display as it is now (a rich renderable)."""
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.spinner import Spinner
        from rich.table import Table

        state = self.state
        parts: list[Any] = []
        if state.reading:
            grid = Table.grid(padding=(0, 1))
            grid.add_column(width=7)
            grid.add_column(width=BAR_WIDTH)
            grid.add_column(no_wrap=True, overflow="ellipsis")
            for label, fraction, text in (
                ("read", state.read_fraction(), state.read_text()),
                ("written", state.written_fraction(), state.written_text()),
            ):
                bar = ProgressBar(
                    total=None if fraction is None else 1.0,
                    completed=fraction or 0.0,
                    width=BAR_WIDTH,
                )
                grid.add_row(label, bar, text)
            parts.append(grid)
        phase = state.phase_text()
        if phase is not None:
            parts.append(Spinner("dots", text=phase))
        return Group(*parts)

    def log(self, text: str) -> None:
        """A log line above the display (the display is redrawn below it)."""
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)


class PlainProgress(_Reporting):
    """Progress as a few plain lines, for a stderr that is not a terminal: a phase once it has
    lasted PLAIN_PHASE_AFTER seconds, and a progress line every PLAIN_EVERY seconds of the read.
    A ticker thread calls `tick`; the tests call it with their own clock."""

    def __init__(
        self,
        state: ImportProgress | None = None,
        stream: TextIO | None = None,
        *,
        ticker: bool = True,
    ) -> None:
        self.state = state or ImportProgress()
        self._stream = stream
        self._told_phase: str | None = None
        self._last_line: float | None = None
        self._stop = threading.Event()
        self._thread = (
            threading.Thread(target=self._tick_until_stopped, name="leads-progress", daemon=True)
            if ticker
            else None
        )
        self._write_lock = threading.Lock()

    def __enter__(self) -> PlainProgress:
        if self._thread is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join()

    def _tick_until_stopped(self) -> None:
        while not self._stop.wait(0.25):
            self.tick()

    def tick(self) -> None:
        """Print what is due: a phase that has lasted, a progress line."""
        state = self.state
        phase = state.current_phase
        if (
            phase is not None
            and phase != self._told_phase
            and state.phase_lasted() >= PLAIN_PHASE_AFTER
        ):
            self._told_phase = phase
            self._write(f"{phase}…")
        if not state.reading or state.reading_since is None:
            return
        now = state.now()
        since = self._last_line if self._last_line is not None else state.reading_since
        if now - since >= PLAIN_EVERY and not self._done():
            self._last_line = now
            self._write(state.summary_line())

    def _done(self) -> bool:
        written = self.state.written_fraction()
        return written is not None and written >= 1

    def _write(self, line: str) -> None:
        with self._write_lock:
            print(line, file=self._stream or sys.stderr, flush=True)

    def log(self, text: str) -> None:
        self._write(text)

    def discard(self) -> None:
        pass


Display = LiveProgress | PlainProgress


def display_for(stream: TextIO | None = None) -> Display:
    """The display for `stream` (stderr): bars on a terminal, plain lines otherwise."""
    target = stream or sys.stderr
    return LiveProgress(stream=target) if target.isatty() else PlainProgress(stream=target)
