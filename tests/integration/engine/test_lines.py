"""A duplicate names its email's first row even when that row came in an earlier chunk, on every
path a file takes (one pass against a snapshot, two passes under a plan limit, a commit every N
rows), and a duplicate of a workspace lead names the lead."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from leads_import.engine import ImportOptions, import_leads, run_import
from leads_import.progress import SilentReporter, reporting
from leads_import.readers.sources import open_source
from tests.support.database import make_workspace, query
from transforms.fields import SOURCE_FILE
from transforms.report import outcome_rows


class _CountedRows(SilentReporter):
    """A progress reporter that adds up the rows of each stage."""

    def __init__(self) -> None:
        self.rows: Counter[str] = Counter()

    def advance(self, stage: str, rows: int) -> None:
        self.rows[stage] += rows


def _file(tmp_path: Path) -> Path:
    """200 rows, each email given twice, 100 rows apart (line n and line n + 100), and a
    multi-line record in between, so that lines and row indexes part."""
    rows = [f"lead{i % 100}@example.com,Lead {i}," for i in range(200)]
    rows[50] = 'lead50@example.com,Lead 50,"two\nlines"'
    path = tmp_path / "repeats.csv"
    path.write_text("email,name,notes\n" + "\n".join(rows) + "\nold@example.com,Old,\n")
    return path


@pytest.mark.parametrize(
    "mode", ["snapshot", "too many leads for a snapshot", "plan limit", "commit every"]
)
def test_duplicates_name_the_first_line_across_chunks(
    db, database_url: str, tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if mode == "too many leads for a snapshot":  # the workspace's one lead is one too many
        monkeypatch.setattr("leads_import.engine.run.SNAPSHOT_MAX_LEADS", 0)
    workspace = make_workspace(db, contact_limit=1000 if mode == "plan limit" else None)
    import_leads([{"email": "old@example.com"}], workspace.slug, database=database_url)
    [(lead_id,)] = query(db, "SELECT id FROM leads WHERE workspace_id = %s", (workspace.id,))
    batches: list[pl.DataFrame] = []
    options = ImportOptions(
        default_source=SOURCE_FILE, commit_every=64 if mode == "commit every" else None
    )
    source = open_source(_file(tmp_path), chunk_bytes=512)  # a few rows per chunk
    counted = _CountedRows()
    with reporting(counted):
        report = run_import(
            source, workspace, options, on_batch=batches.append, database=database_url
        )
    assert counted.rows["read"] == counted.rows["prepared"] == 201  # each row once
    assert len(batches) > 10
    rows = pl.concat([outcome_rows(batch) for batch in batches]).to_dicts()
    assert report.created == 100 and report.duplicates == 101
    # Row i is on line i + 2 up to lead50's two-line record, on line i + 3 after it.
    line = [i + 2 if i <= 50 else i + 3 for i in range(201)]
    assert [row["line"] for row in rows] == line
    for i in range(100, 200):
        assert rows[i]["outcome"] == "duplicate"
        assert rows[i]["reason"] == f"duplicate of line {line[i - 100]}", rows[i]
    assert rows[200]["reason"] == f"already in workspace (lead {lead_id})"
    assert [d["reason"] for d in report.duplicate_details[:2]] == [
        "duplicate of line 2",
        "duplicate of line 3",
    ]
    assert len(report.duplicate_details) == 100


def test_restore_off_names_the_soft_deleted_lead(db, database_url: str, tmp_path: Path) -> None:
    from leads_import.engine import soft_delete_leads

    workspace = make_workspace(db)
    import_leads([{"email": "gone@example.com"}], workspace.slug, database=database_url)
    soft_delete_leads(workspace.slug, ["gone@example.com"], database=database_url)
    [(lead_id,)] = query(db, "SELECT id FROM leads WHERE workspace_id = %s", (workspace.id,))
    path = tmp_path / "gone.csv"
    path.write_text("email\ngone@example.com\n")
    batches: list[pl.DataFrame] = []
    options = ImportOptions(default_source=SOURCE_FILE, restore_soft_deleted=False)
    run_import(open_source(path), workspace, options, on_batch=batches.append)
    assert outcome_rows(batches[0]).row(0) == (
        0,
        2,
        "gone@example.com",
        "duplicate",
        f"soft-deleted in workspace (lead {lead_id}), not restored",
    )
