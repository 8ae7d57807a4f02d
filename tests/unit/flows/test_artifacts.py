"""flows.artifacts: the report as the Prefect UI shows it (keys, counts table, samples page)."""

from __future__ import annotations

import pytest

from flows.artifacts import COUNT_KEYS, artifact_key, counts_table, samples_markdown


@pytest.mark.parametrize(
    ("workspace", "key"),
    [
        ("default", "leads-counts-default"),
        ("Acme Corp_EU", "leads-counts-acme-corp-eu"),
        ("__", "leads-counts-workspace"),
    ],
)
def test_artifact_keys_are_prefect_safe(workspace, key):
    assert artifact_key("counts", workspace) == key


def test_samples_markdown_escapes_input_text():
    report = {
        "workspace": "w",
        "created": 1,
        "duplicates": 1,
        "errors": 1,
        "duplicateEmails": ["a_b@x.io"],
        "errorDetails": [
            {"index": 4, "email": "<img src=x>|[link](http://e)", "reason": "bad\nline"}
        ],
    }
    page = samples_markdown(report)
    assert "| a\\_b@x\\.io |" in page  # no lines (an input without them): the emails alone
    assert "| index 4 | \\<img src=x\\>\\|\\[link\\]\\(http://e\\) | bad line |" in page
    assert "created 1, restored 0, updated 0, duplicates 1, errors 1, total 0" in page


def test_samples_markdown_shows_rows_by_line_with_reasons_and_the_warnings():
    report = {
        "workspace": "w",
        "duplicates": 2,
        "errors": 1,
        "duplicateEmails": ["ann@x.io", "bob@x.io"],
        "duplicateDetails": [
            {"index": 3, "line": 5, "email": "ann@x.io", "reason": "duplicate of line 2"},
            {"index": 4, "line": 6, "email": "bob@x.io", "reason": "already in workspace (lead 7)"},
        ],
        "errorDetails": [{"index": 0, "line": 2, "email": "", "reason": "empty email"}],
        "warnings": [
            "ignored unknown columns: Branche",
            "x.csv is not valid UTF-8: read as cp1252",
        ],
    }
    page = samples_markdown(report)
    assert "## Warnings\n\n- ignored unknown columns: Branche\n" in page
    assert "- x\\.csv is not valid UTF\\-8: read as cp1252" in page
    duplicates = page[page.index("## Duplicates (first 2)") : page.index("## Errors")]
    assert duplicates.splitlines()[2:6] == [
        "| line | email | reason |",
        "|---:|---|---|",
        "| 5 | ann@x\\.io | duplicate of line 2 |",
        "| 6 | bob@x\\.io | already in workspace \\(lead 7\\) |",
    ]
    errors = page[page.index("## Errors (first 1)") :].splitlines()
    assert errors[2:5] == ["| line | email | reason |", "|---:|---|---|", "| 2 |  | empty email |"]
    assert "- " not in duplicates  # a table, not a bulleted list


def test_samples_markdown_without_samples_or_warnings():
    page = samples_markdown({"workspace": "w", "duplicateEmails": [], "errorDetails": []})
    assert "## Warnings" not in page
    assert page.count("None.") == 2


def test_counts_table_lists_every_outcome_in_order():
    table = counts_table({"created": 2, "duplicates": 1, "total": 3})
    assert [row["outcome"] for row in table] == list(COUNT_KEYS)
    assert {row["outcome"]: row["rows"] for row in table}["created"] == 2
