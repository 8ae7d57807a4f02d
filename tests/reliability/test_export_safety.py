"""Export safety (issue 6): values starting with `=`, `+`, `-`, `@` (and tab, CR: OWASP's CSV
injection list) are stored exactly as given, and escaped with a leading `'` wherever the project
writes them back to a CSV file. The one such file is the per-row outcomes file of `leads import
--outcomes` (`escape_formulas` in transforms/report.py); the other CSV the project writes is
the COPY payload into PostgreSQL (transforms/write_plan.py), which must keep values as given.
A failed import leaves no outcomes file behind (it is written aside and moved in on success).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import polars as pl
import pytest

from tests.support.pipeline import run_cli
from tests.support.reliability import new_workspace
from transforms.report import FORMULA_PREFIXES, escape_formulas
from transforms.write_plan import to_copy_csv

RISKY = ["=1+2", "+1+2", "-1+2", "@SUM(1+1)", "\t=1+2", "\r=1+2", "=cmd|' /C calc'!A0"]
SAFE = ["1+2", "a=b", " =1", "'=1", "", "ann@ex.com", "é=", "x\t="]


def test_escape_formulas_covers_owasp_prefixes() -> None:
    assert set(FORMULA_PREFIXES) == {"=", "+", "-", "@", "\t", "\r"}
    frame = pl.DataFrame(
        {"text": [*RISKY, *SAFE, None], "number": list(range(len(RISKY) + len(SAFE) + 1))}
    )
    escaped = escape_formulas(frame)
    assert escaped.get_column("text").to_list() == [
        *["'" + value for value in RISKY],
        *SAFE,
        None,
    ]
    assert escaped.get_column("number").equals(frame.get_column("number"))


def test_copy_payload_is_not_escaped() -> None:
    """What goes to PostgreSQL is the value itself: CSV-quoted for COPY, never `'`-prefixed."""
    rows = pl.DataFrame({"email": ["=1+2@ex.com"], "notes": ["@SUM(1)\r=x"]})
    parsed = list(csv.reader(to_copy_csv(rows).decode().splitlines(keepends=True)))
    assert parsed == [["=1+2@ex.com", "@SUM(1)\r=x"]]


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "firstName", "company", "notes", "tags", "customFields"])
        writer.writerows(rows)
    return path


def _outcomes(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_formulas_stored_as_given_and_escaped_in_outcomes(
    reliability_prefect: str,
    db,
    capsys,
    tmp_path: Path,
) -> None:
    values = ["=1+2", "+1", "-1", "@SUM(1+1)", '=HYPERLINK("http://evil.example")']
    rows = [
        [f"f{i}@ex.com", v, v, v, json.dumps([v]), json.dumps({"k": v})]
        for i, v in enumerate(values)
    ]
    rows += [
        ["=1+2@ex.com", "", "", "", "", ""],  # a valid email that is a formula
        ["-ann@ex.com", "", "", "", "", ""],
        ["=HYPERLINK(1)", "", "", "", "", ""],  # an error row echoes the email as given
        ["\t@evil", "", "", "", "", ""],
        ["  +tag@ex.com", "", "", "", "", ""],  # stripped before storing
    ]
    source = _write(tmp_path / "formulas.csv", rows)
    workspace = new_workspace(db, prefix="export")
    outcomes = tmp_path / "outcomes.csv"
    code, _, err = run_cli(
        ["import", str(source), "--workspace", workspace.slug, "--outcomes", str(outcomes)],
        capsys,
    )
    assert code == 0 and "Traceback" not in err
    with db.cursor() as cur:
        cur.execute(
            "SELECT email, first_name, company, notes, tags, custom_fields FROM leads "
            "WHERE workspace_id = %s",
            (workspace.id,),
        )
        stored = {row[0]: row[1:] for row in cur.fetchall()}
    for email, value, *_ in rows[:5]:
        assert stored[email] == (value, value, value, [value], {"k": value})
    assert {"=1+2@ex.com", "-ann@ex.com", "+tag@ex.com"} <= set(stored)

    written = _outcomes(outcomes)
    assert len(written) == len(rows)
    by_index = {int(r["index"]): r for r in written}
    assert by_index[5]["email"] == "'=1+2@ex.com" and by_index[5]["outcome"] == "created"
    assert by_index[6]["email"] == "'-ann@ex.com"
    assert by_index[7]["email"] == "'=HYPERLINK(1)" and by_index[7]["outcome"] == "error"
    assert by_index[8]["email"] == "'\t@evil"
    assert by_index[9]["email"] == "'+tag@ex.com"
    for row in written:
        assert not any(cell.startswith(FORMULA_PREFIXES) for cell in row.values()), row
        email = row["email"].removeprefix("'")
        if row["outcome"] == "created":
            assert email in stored  # unescaping gives back the stored value


def test_nul_survives_the_outcomes_file_and_reports(
    reliability_prefect: str,
    db,
    capsys,
    tmp_path: Path,
) -> None:
    nul = "\x00"
    rows = [[f"a{nul}@ex.com", "", "", "", "", ""], ["ok@ex.com", f"A{nul}", "", "", "", ""]]
    rows.append([f"={nul}1", f"={nul}", f"@{nul}", f"-{nul}", f'["{nul}"]', ""])
    rows.append(["fine@ex.com", "", "", "", "", ""])
    source = _write(tmp_path / "nul.csv", rows)
    workspace = new_workspace(db, prefix="export")
    outcomes = tmp_path / "outcomes.csv"
    code, out, err = run_cli(
        ["import", str(source), "--workspace", workspace.slug, "--outcomes", str(outcomes)],
        capsys,
    )
    assert code == 0 and "Traceback" not in out + err
    assert "Errors (first 3 of 3)" in out
    written = _outcomes(outcomes)
    assert [r["email"] for r in written] == [
        f"a{nul}@ex.com",
        "ok@ex.com",
        f"'={nul}1",
        "fine@ex.com",
    ]
    assert [r["outcome"] for r in written] == ["error", "error", "error", "created"]
    with db.cursor() as cur:
        cur.execute(
            "SELECT status, errors, report->'errorDetails'->0->>'email' FROM import_runs "
            "WHERE workspace_id = %s",
            (workspace.id,),
        )
        assert cur.fetchall() == [("succeeded", 3, "a\ufffd@ex.com")]


@pytest.mark.parametrize("existing", [False, True])
def test_failed_import_leaves_no_partial_outcomes_file(
    reliability_prefect: str,
    db,
    capsys,
    tmp_path: Path,
    existing: bool,
) -> None:
    """A plan-limit failure after every batch was classified: the file is not (re)written."""
    source = _write(
        tmp_path / "three.csv", [[f"=x{i}@ex.com", "", "", "", "", ""] for i in range(3)]
    )
    outcomes = tmp_path / "outcomes.csv"
    if existing:
        outcomes.write_text("index,email,outcome,reason\n0,old@ex.com,created,\n")
    before = outcomes.read_bytes() if existing else None
    workspace = new_workspace(db, contact_limit=2, prefix="export")
    code, _, err = run_cli(
        ["import", str(source), "--workspace", workspace.slug, "--outcomes", str(outcomes)],
        capsys,
    )
    assert code == 3 and "Traceback" not in err
    assert (outcomes.read_bytes() if outcomes.exists() else None) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []
