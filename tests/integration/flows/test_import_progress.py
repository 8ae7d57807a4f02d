"""The progress a file import reports as it goes (what the CLI draws): the row total and the
file's size before the first row, bytes read that grow chunk by chunk while earlier chunks are
written, and the phases it waits in, in the order a run passes them."""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import polars as pl
import pytest

from leads_import import progress
from leads_import.cli import importing
from leads_import.readers.sources import open_source
from tests.support.database import make_workspace

ROWS = 6000
CHUNK_BYTES = 16 * 1024  # about 15 chunks for the file below


class Recorder:
    """A reporter that keeps every call, in order."""

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self._lock = threading.Lock()

    def _add(self, *event: object) -> None:
        with self._lock:
            self.events.append(event)

    def advance(self, stage: str, rows: int) -> None:
        self._add("rows", stage, rows)

    def set_total(self, rows: int) -> None:
        self._add("total", rows)

    def read_bytes(self, done: int, total: int) -> None:
        self._add("bytes", done, total)

    def phase(self, text: str | None) -> None:
        self._add("phase", text)

    def first(self, *prefix: object) -> int:
        return next(i for i, e in enumerate(self.events) if e[: len(prefix)] == prefix)

    def last(self, *prefix: object) -> int:
        return max(i for i, e in enumerate(self.events) if e[: len(prefix)] == prefix)


@pytest.fixture
def leads_file(tmp_path: Path, monkeypatch) -> Path:
    """A CSV of ROWS distinct leads, read by the flow in small chunks."""
    path = tmp_path / "progress.csv"
    pl.DataFrame(
        {
            "email": [f"lead{i}@progress.example.com" for i in range(ROWS)],
            "first name": [f"First{i}" for i in range(ROWS)],
        }
    ).write_csv(path)
    import flows.import_flow

    monkeypatch.setattr(
        flows.import_flow, "open_source", functools.partial(open_source, chunk_bytes=CHUNK_BYTES)
    )
    return path


def _run(path: Path, workspace: str, recorder: Recorder | None = None) -> Recorder:
    recorder = recorder or Recorder()
    with progress.reporting(recorder):
        request = importing.file_import({"source": str(path), "workspace": workspace})
        outcome = importing.run(request)
    assert outcome.report is not None, outcome.error or outcome.failure
    assert outcome.report["created"] == ROWS
    return recorder


def _check_read_and_writes(recorder: Recorder, size: int) -> None:
    events = recorder.events
    total_at, size_at = recorder.first("total", ROWS), recorder.first("bytes", 0, size)
    first_read = recorder.first("rows", "read")
    assert total_at < first_read and size_at < first_read  # known before the first row
    read = [e[1] for e in events[size_at:] if e[0] == "bytes"]
    assert len(read) > 10 and read == sorted(set(read)) and read[-1] == size
    assert all(e[2] == size for e in events if e[0] == "bytes")
    # the first chunks are written while later ones are still read
    assert recorder.first("rows", "written") < recorder.last("bytes")
    for stage in ("read", "prepared", "written"):
        assert sum(e[2] for e in events if e[:2] == ("rows", stage)) == ROWS
    assert recorder.last("rows", "written") < recorder.first("phase", "committing")
    assert recorder.first("phase", "committing") < recorder.first("phase", "publishing the report")


def test_progress_of_a_multi_chunk_file(prefect_api_url: str, db, leads_file: Path) -> None:
    workspace = make_workspace(db)
    recorder = _run(leads_file, workspace.slug)
    assert recorder.events[0] == ("phase", "starting the flow run")
    opening = recorder.first("phase", f"opening {leads_file.name}")
    assert opening < recorder.first("total", ROWS)
    _check_read_and_writes(recorder, leads_file.stat().st_size)


def test_a_plan_limit_first_pass_is_a_phase_before_the_read(
    prefect_api_url: str, db, leads_file: Path
) -> None:
    workspace = make_workspace(db, contact_limit=ROWS * 2)
    recorder = _run(leads_file, workspace.slug)
    checking = recorder.first("phase", "checking the plan limit (a first pass over the input)")
    assert checking < recorder.first("rows", "read")
    assert recorder.events[checking + 1] == ("phase", None)  # then the read the bars show
    _check_read_and_writes(recorder, leads_file.stat().st_size)


def test_waiting_for_the_workspace_lock_is_a_phase(
    prefect_api_url: str, db, database_url: str, leads_file: Path
) -> None:
    from leads_import.db.connection import connect
    from leads_import.db.workspaces import lock_workspace

    workspace = make_workspace(db)
    waiting = f"waiting for the workspace lock (another import into {workspace.slug})"
    holder = connect(database_url)  # another import's transaction holds the lock until
    with holder.cursor() as cur:  # the import says it waits (a timer would race its start)
        lock_workspace(cur, workspace.id)
    told = threading.Event()

    class TellingRecorder(Recorder):
        def phase(self, text: str | None) -> None:
            super().phase(text)
            if text == waiting:
                told.set()

    def release() -> None:
        told.wait(timeout=120)
        holder.rollback()

    releaser = threading.Thread(target=release)
    releaser.start()
    try:
        recorder = _run(leads_file, workspace.slug, TellingRecorder())
    finally:
        told.set()
        releaser.join()
        holder.close()
    assert recorder.first("phase", waiting) < recorder.first("rows", "read")
    assert recorder.events[recorder.first("phase", waiting) + 1] == ("phase", None)
