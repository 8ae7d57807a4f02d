"""Rows named by their line in the file (issue 15, items 10, 11 and 16): the CLI's summary and
JSON report, the `--outcomes` file's `line` and `reason` columns, and the samples artifact."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from flows.artifacts import artifact_key
from flows.import_flow import FileImport
from leads_import.engine import import_leads
from tests.support.database import make_workspace, query
from tests.support.paths import DATA
from tests.support.pipeline import run_cli

# Line 1 the header; ann's notes span lines 2-3; bob's row (line 4) has a field too many;
# line 5 is blank; cat's quoted notes span lines 9-10. The column Branche is unknown.
NAMED_ROWS = DATA / "lines" / "named_rows.csv"


def _seeded(db, database_url: str):
    """A workspace where old@example.com is already an active lead; and that lead's id."""
    workspace = make_workspace(db)
    import_leads([{"email": "old@example.com"}], workspace.slug, database=database_url)
    [(lead_id,)] = query(db, "SELECT id FROM leads WHERE workspace_id = %s", (workspace.id,))
    return workspace, lead_id


def _expected(lead_id: int) -> list[dict[str, str]]:
    rows = [
        ("0", "2", "ann@example.com", "created", ""),
        ("1", "4", "", "error", "expected 4 fields, found 5"),
        ("2", "6", "ann@example.com", "duplicate", "duplicate of line 2"),
        ("3", "7", "old@example.com", "duplicate", f"already in workspace (lead {lead_id})"),
        ("4", "8", "", "error", "empty email"),
        ("5", "9", "cat@example.com", "created", ""),
        ("6", "11", "ann@example.com", "duplicate", "duplicate of line 2"),
    ]
    names = ("index", "line", "email", "outcome", "reason")
    return [dict(zip(names, row, strict=True)) for row in rows]


def test_the_json_report_keeps_the_index_and_adds_the_line(
    prefect_api_url: str, db, database_url: str, capsys
) -> None:
    workspace, lead_id = _seeded(db, database_url)
    args = ["import", str(NAMED_ROWS), "--workspace", workspace.slug, "--json", "--dry-run"]
    code, out, _ = run_cli(args, capsys)
    assert code == 0
    report = json.loads(out)
    assert report["errorDetails"] == [
        {"index": 1, "line": 4, "email": "", "reason": "expected 4 fields, found 5"},
        {"index": 4, "line": 8, "email": "", "reason": "empty email"},
    ]
    assert report["duplicateEmails"] == ["ann@example.com", "old@example.com", "ann@example.com"]
    assert report["duplicateDetails"] == [
        {"index": 2, "line": 6, "email": "ann@example.com", "reason": "duplicate of line 2"},
        {
            "index": 3,
            "line": 7,
            "email": "old@example.com",
            "reason": f"already in workspace (lead {lead_id})",
        },
        {"index": 6, "line": 11, "email": "ann@example.com", "reason": "duplicate of line 2"},
    ]
    assert report["warnings"] == ["ignored unknown columns: Branche"]


def test_the_summary_and_the_outcomes_file_name_rows_by_line(
    prefect_api_url: str, db, database_url: str, capsys, tmp_path: Path
) -> None:
    workspace, lead_id = _seeded(db, database_url)
    outcomes = tmp_path / "outcomes.csv"
    args = ["import", str(NAMED_ROWS), "--workspace", workspace.slug, "--outcomes", str(outcomes)]
    code, out, _ = run_cli(args, capsys)
    assert code == 0
    summary = [" ".join(line.split()) for line in out.splitlines()]
    assert 'line 4 "" expected 4 fields, found 5' in summary
    assert 'line 8 "" empty email' in summary
    assert "line 6 ann@example.com duplicate of line 2" in summary
    assert f"line 7 old@example.com already in workspace (lead {lead_id})" in summary
    assert not any(line.startswith("row ") for line in summary)
    with outcomes.open(encoding="utf-8", newline="") as handle:
        assert list(csv.DictReader(handle)) == _expected(lead_id)


def test_the_samples_artifact_shows_tables_and_warnings(
    prefect_api_url: str, db, database_url: str
) -> None:
    from prefect.artifacts import Artifact

    from flows.import_flow import import_leads_flow

    workspace, lead_id = _seeded(db, database_url)
    import_leads_flow(FileImport(source=str(NAMED_ROWS), workspace=workspace.slug))
    samples = Artifact.get(artifact_key("samples", workspace.slug))
    assert samples is not None and samples.type == "markdown"
    page = samples.data.splitlines()
    assert "- ignored unknown columns: Branche" in page
    duplicates = page[page.index("## Duplicates (first 3)") :]
    assert duplicates[2:7] == [
        "| line | email | reason |",
        "|---:|---|---|",
        "| 6 | ann@example\\.com | duplicate of line 2 |",
        f"| 7 | old@example\\.com | already in workspace \\(lead {lead_id}\\) |",
        "| 11 | ann@example\\.com | duplicate of line 2 |",
    ]
    errors = page[page.index("## Errors (first 2)") :]
    assert errors[2:6] == [
        "| line | email | reason |",
        "|---:|---|---|",
        "| 4 |  | expected 4 fields, found 5 |",
        "| 8 |  | empty email |",
    ]
