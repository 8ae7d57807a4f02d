"""Fuzz (issue 6): generated rows full of nasty text, written as a real CSV file and imported,
compared row by row with the reference model (tests/support/reference_model.py).

The text mixes NUL and other control characters, right-to-left and zero-width characters,
emoji and combining marks (any assigned, non-surrogate code point), spreadsheet formula prefixes,
SQL fragments, CSV syntax (quotes, delimiters, CR, LF), COPY markers and strings at and over
their length limits; emails come from a small pool in varied case and padding (so duplicates
are frequent), broken emails and nasty text. tags and customFields cells are JSON.

1. `test_fuzzed_csv_matches_model` — the file pipeline the flow's tasks run (reader, prepare,
   engine writes; no Prefect) into a fresh workspace: the report (counts, samples, each error's
   reason among the model's), every stored lead equal to the model's normalised row, every row
   exactly one outcome in the outcomes rows, none of their cells a live formula.
2. `test_fuzzed_csv_through_cli` — a few examples through `leads import --json --outcomes`
   in-process: no traceback, the report as the model says, a valid outcomes CSV, nothing
   written beyond the created rows.

CI runs 40 and 4 examples; `LEADS_FUZZ_EXAMPLES=N` runs N and N // 10 (e.g. 1000).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.pipeline import file_pipeline, run_cli, stored_leads
from tests.support.reference_model import STATUSES, TEXT_FIELDS, run_import
from tests.support.reliability import new_workspace
from transforms.report import FORMULA_PREFIXES

EXAMPLES = int(os.environ.get("LEADS_FUZZ_EXAMPLES") or 40)
CLI_EXAMPLES = max(4, EXAMPLES // 10)

COLUMNS = ["email", *TEXT_FIELDS, "status", "tags", "customFields"]
NASTY = [
    "\x00", "\x01", "\x08", "\x1b", "\x1c", "\x7f", "\x85", "\u202e", "\u202d", "\u200f",
    "\u200b", "\u200d", "\u2060", "\ufeff", "\u0301", "\U0001f600", "\u05e9", "\u0627",
    '"', "'", ",", ";", "|", "\t", "\r", "\n", "\r\n", "\\", "\\.", "\\N", "=", "+", "-", "@",
    "%", "_", "$$", "--", "/*", "*/", " ",
]  # fmt: skip
SQL = [
    "'; DROP TABLE leads; --", "1 OR 1=1", "Robert'); DROP TABLE students;--", "$$;$$",
    "\\'; SELECT pg_sleep(5); --", "' UNION SELECT NULL--", "E'\\x27'",
]  # fmt: skip
FORMULAS = ["=1+2", "+1", "-1", "@SUM(1)", "\t=1", "\r=1", '=HYPERLINK("http://x")', "=cmd|'/C'!A0"]
CHARS = st.one_of(
    st.sampled_from(NASTY),
    st.characters(exclude_categories=("Cs", "Cn")),
)
NASTY_TEXT = st.lists(CHARS, max_size=12).map("".join)
POOL = ["ann@ex.com", "=bob@ex.com", "-kim@ex.com", "+x@ex.com", "o'neil@ex.com", "a.b@ex.co"]
PADDING = st.sampled_from(["", "", " ", "\t", "\xa0", "\u3000", "\r\n "])


@st.composite
def recased(draw: st.DrawFn, text: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.upper() if f else c for c, f in zip(text, flips, strict=True))


@st.composite
def emails(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 9))
    if kind <= 5:
        return draw(PADDING) + draw(recased(draw(st.sampled_from(POOL)))) + draw(PADDING)
    if kind == 6:
        return draw(st.sampled_from(POOL)).replace("@", draw(st.sampled_from(NASTY)) + "@", 1)
    if kind == 7:
        return draw(st.sampled_from(FORMULAS + SQL + ["", " "]))
    return draw(NASTY_TEXT)


def text_values(limit: int) -> st.SearchStrategy[str]:
    """Nasty text, SQL, formulas, empty, and strings at and just over the field's limit."""
    return st.one_of(
        NASTY_TEXT,
        NASTY_TEXT,
        st.sampled_from(SQL + FORMULAS + ["", ""]),
        st.sampled_from([limit, limit + 1]).map(lambda n: "é" * n),
    )


JSON_TEXT = st.one_of(NASTY_TEXT, st.sampled_from(SQL + FORMULAS))
JSON_VALUES = st.one_of(
    JSON_TEXT,
    st.integers(-(10**20), 10**20),
    st.booleans(),
    st.none(),
    st.lists(JSON_TEXT, max_size=2),
)


@st.composite
def json_cell(draw: st.DrawFn, value: st.SearchStrategy[Any]) -> str:
    if draw(st.integers(0, 2)) == 0:
        return ""
    return json.dumps(draw(value), ensure_ascii=draw(st.booleans()))


@st.composite
def rows(draw: st.DrawFn) -> dict[str, str]:
    row = {"email": draw(emails())}
    for api, (_, limit) in TEXT_FIELDS.items():
        row[api] = draw(text_values(limit)) if draw(st.integers(0, 2)) else ""
    row["status"] = draw(
        st.one_of(
            st.just(""),
            st.sampled_from(STATUSES).flatmap(recased).map(lambda s: f" {s} "),
            st.sampled_from(FORMULAS + SQL),
        )
    )
    row["tags"] = draw(json_cell(st.lists(JSON_TEXT, max_size=4)))
    row["customFields"] = draw(json_cell(st.dictionaries(JSON_TEXT, JSON_VALUES, max_size=3)))
    return row


INPUTS = st.lists(rows(), min_size=1, max_size=25)


def _write_csv(path: Path, given: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(given)


def _as_api_row(row: dict[str, str]) -> dict[str, Any]:
    """The row as the model's API-style dict: empty cells absent (the reader gives null for
    them), JSON cells parsed, other cells as written."""
    api: dict[str, Any] = {"email": row["email"]}
    for key, cell in row.items():
        if key != "email" and cell != "":
            api[key] = json.loads(cell) if key in ("tags", "customFields") else cell
    return api


def _check(report: dict[str, Any], outcome_rows: list[dict[str, str]], given, db, workspace):
    model = run_import([_as_api_row(r) for r in given], [], source="csv_import")
    want = model.report
    for key in ("created", "restored", "duplicates", "errors", "duplicateEmails"):
        assert report[key] == want[key], key
    assert len(report["errorDetails"]) == len(want["errorDetails"])
    for got, expected in zip(report["errorDetails"], want["errorDetails"], strict=True):
        assert got["index"] == expected["index"]
        assert got["email"] == expected["email"]
        assert got["reason"] in expected["reasons"], (got, expected)
    # every row exactly one outcome, in order, as the model says; no live formula in any cell
    assert [int(r["index"]) for r in outcome_rows] == list(range(len(given)))
    assert [r["outcome"] for r in outcome_rows] == model.outcomes
    for row in outcome_rows:
        assert not any(cell.startswith(FORMULA_PREFIXES) for cell in row.values()), row
    # each row is named by its line, lines grow with the rows; a duplicate names the line of
    # its email's first row (the workspace starts empty: every duplicate is one of the file)
    lines = [int(r["line"]) for r in outcome_rows]
    assert lines == sorted(set(lines)) and (not lines or lines[0] >= 2)
    duplicates = [r for r in outcome_rows if r["outcome"] == "duplicate"]
    for row, (kind, first) in zip(duplicates, want["duplicateReasons"], strict=False):
        assert kind == "input"
        assert row["reason"] == f"duplicate of line {lines[first]}", row
    # the stored leads are exactly the model's normalised rows, nothing more
    stored = stored_leads(db, workspace.id)
    assert set(stored) == {lead["email"] for lead in model.leads}
    for lead in model.leads:
        got = stored[lead["email"]]
        for column, value in got.items():
            assert value == lead[column], (column, value, lead[column])


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(given_rows=INPUTS)
def test_fuzzed_csv_matches_model(db, tmp_path: Path, given_rows: list[dict[str, str]]) -> None:
    path = tmp_path / "fuzz.csv"
    _write_csv(path, given_rows)
    workspace = new_workspace(db, prefix="fuzz")
    report, outcome_rows = file_pipeline(path, workspace)
    _check(report, outcome_rows, given_rows, db, workspace)


@settings(
    max_examples=CLI_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(given_rows=INPUTS)
def test_fuzzed_csv_through_cli(
    reliability_prefect: str,
    db,
    capsys,
    tmp_path: Path,
    given_rows: list[dict[str, str]],
) -> None:
    path = tmp_path / "fuzz.csv"
    _write_csv(path, given_rows)
    outcomes = tmp_path / "outcomes.csv"
    outcomes.unlink(missing_ok=True)
    workspace = new_workspace(db, prefix="fuzz")
    args = ["import", str(path), "--workspace", workspace.slug, "--json"]
    code, out, err = run_cli([*args, "--outcomes", str(outcomes)], capsys)
    assert code == 0 and "Traceback" not in out + err
    report = json.loads(out)
    with outcomes.open(encoding="utf-8", newline="") as handle:
        outcome_rows = list(csv.DictReader(handle))
    _check(report, outcome_rows, given_rows, db, workspace)
