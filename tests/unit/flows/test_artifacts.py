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
    assert "- a\\_b@x\\.io" in page
    assert "| 4 | \\<img src=x\\>\\|\\[link\\]\\(http://e\\) | bad line |" in page
    assert "created 1, restored 0, updated 0, duplicates 1, errors 1, total 0" in page


def test_counts_table_lists_every_outcome_in_order():
    table = counts_table({"created": 2, "duplicates": 1, "total": 3})
    assert [row["outcome"] for row in table] == list(COUNT_KEYS)
    assert {row["outcome"]: row["rows"] for row in table}["created"] == 2
