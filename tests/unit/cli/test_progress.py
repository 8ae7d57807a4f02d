"""The progress display of `leads import`: what it tells for a given sequence of the runner's
progress messages, on a fake clock (percentages, sizes, ETAs, phases, plain lines)."""

from __future__ import annotations

import io
import re

from rich.console import Console

from leads_import.cli.progress import (
    PLAIN_EVERY,
    ImportProgress,
    LiveProgress,
    PlainProgress,
    display_for,
    duration_text,
    size_text,
)

SIZE = 38_834_449  # bytes of a 300,000-row file


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _started(clock: Clock) -> ImportProgress:
    """A run whose read began at t=101: its total rows and file size told up front."""
    state = ImportProgress(clock)
    for message in (
        {"type": "phase", "text": "starting the flow run"},
        {"type": "phase", "text": "opening leads.csv"},
    ):
        assert state.event(message)
    clock.now = 101.0
    state.event({"type": "total", "rows": 300_000})
    state.event({"type": "bytes", "done": 0, "total": SIZE})
    state.event({"type": "phase", "text": None})
    return state


def test_sizes_and_durations_read_as_a_person_would() -> None:
    assert size_text(812) == "812 B"
    assert size_text(38_834_449) == "38.8 MB"
    assert size_text(2_500_000_000) == "2.5 GB"
    assert duration_text(3.4) == "0:00:03"
    assert duration_text(3725) == "1:02:05"


def test_totals_are_known_before_the_first_row() -> None:
    clock = Clock()
    state = _started(clock)
    assert state.read_text() == "0%  0 B/38.8 MB  0 rows"
    assert state.written_text() == "0%  0/~300,000 rows"
    assert state.phase_text() == "importing… 0:00:01"  # no ETA without a pace yet


def test_percentages_and_eta_follow_the_bytes_read_and_the_rows_written() -> None:
    clock = Clock()
    state = _started(clock)
    clock.now = 103.0  # 2 s into the read: a quarter of the file, an eighth of the rows written
    state.event({"type": "progress", "stage": "read", "rows": 75_000})
    state.event({"type": "bytes", "done": SIZE // 4, "total": SIZE})
    state.event({"type": "progress", "stage": "written", "rows": 37_500})
    assert state.read_text() == "25%  9.7/38.8 MB  75,000 rows  ETA 0:00:06"
    assert state.written_text() == "12%  37,500/~300,000 rows  ETA 0:00:14"
    assert state.summary_line() == (
        "read 25% (9.7/38.8 MB), written 37,500/~300,000 rows (12%), ETA 0:00:14"
    )
    clock.now = 109.0
    state.event({"type": "progress", "stage": "read", "rows": 225_000})
    state.event({"type": "bytes", "done": SIZE, "total": SIZE})
    state.event({"type": "progress", "stage": "written", "rows": 262_500})
    state.event({"type": "phase", "text": "committing"})
    assert state.read_text() == "100%  38.8/38.8 MB  300,000 rows"  # done: no ETA
    assert state.written_text() == "100%  300,000/~300,000 rows"
    clock.now = 111.0
    assert state.phase_text() == "committing… 0:00:02"


def test_without_a_file_size_the_read_counts_rows_and_without_a_total_no_percentage() -> None:
    clock = Clock()
    state = ImportProgress(clock)
    state.event({"type": "total", "rows": 1000})  # a Parquet file: rows from its metadata
    clock.now = 102.0
    state.event({"type": "progress", "stage": "read", "rows": 500})
    assert state.read_text() == "50%  500/~1,000 rows  ETA 0:00:02"
    unknown = ImportProgress(clock)  # a gzip JSON array: nothing known up front
    unknown.event({"type": "progress", "stage": "read", "rows": 500})
    assert unknown.read_text() == "500 rows"
    assert not unknown.event({"type": "log", "text": "x"})


def _render(display: LiveProgress) -> str:
    console = Console(file=io.StringIO(), width=100, force_terminal=False, color_system=None)
    console.print(display.renderable())
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return "\n".join(line.rstrip() for line in text.splitlines())


def test_the_terminal_display_draws_bars_with_percentages_and_the_phase() -> None:
    clock = Clock()
    state = ImportProgress(clock)
    display = LiveProgress(state, stream=io.StringIO())
    state.phase("waiting for the workspace lock (another import into acme)")
    clock.now = 104.0
    drawn = _render(display)
    assert "waiting for the workspace lock (another import into acme)… 0:00:04" in drawn
    assert "read" not in drawn  # no bars before the read begins
    state.set_total(300_000)
    state.read_bytes(0, SIZE)
    state.phase(None)
    clock.now = 106.0
    state.advance("read", 150_000)
    state.read_bytes(SIZE // 2, SIZE)
    drawn = _render(display)
    (read_line,) = [line for line in drawn.splitlines() if line.startswith("read ")]
    assert "━" in read_line and read_line.endswith("50%  19.4/38.8 MB  150,000 rows  ETA 0:00:02")
    (written_line,) = [line for line in drawn.splitlines() if line.startswith("written ")]
    assert written_line.endswith("0%  0/~300,000 rows")
    assert "importing… 0:00:06" in drawn


def test_plain_output_is_a_few_lines_without_bars() -> None:
    clock = Clock()
    out = io.StringIO()
    plain = PlainProgress(ImportProgress(clock), stream=out, ticker=False)
    state = plain.state
    state.phase("starting the flow run")
    clock.now = 100.5
    plain.tick()
    state.phase("opening leads.csv")  # lasted half a second: not worth a line
    clock.now = 102.0
    plain.tick()  # this one has lasted 1.5 s
    plain.tick()
    state.set_total(300_000)
    state.read_bytes(0, SIZE)
    state.phase(None)
    for second in range(1, 13):
        clock.now = 102.0 + second
        state.advance("read", 25_000)
        state.read_bytes(SIZE * second // 12, SIZE)
        state.advance("written", 25_000)
        plain.tick()
    lines = out.getvalue().splitlines()
    assert lines[0] == "opening leads.csv…"
    progress_lines = lines[1:]
    assert len(progress_lines) == 12 // PLAIN_EVERY  # one each 5 s of the read, none once done
    assert progress_lines[0].startswith("read 42% (16.2/38.8 MB), written 125,000/~300,000 rows")
    assert "ETA 0:00:07" in progress_lines[0]
    assert not re.search(r"[━\x1b\r]", out.getvalue())


def test_the_display_fits_its_stream() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(display_for(io.StringIO()), PlainProgress)
    assert isinstance(display_for(Terminal()), LiveProgress)
