"""`transforms.report`: the contract's report from classified rows (SPEC section 7), the per-row
outcome list and formula escaping. No database."""

from __future__ import annotations

import polars as pl
import pytest

from transforms.report import build_report, escape_formulas, outcome_rows

CONTRACT_KEYS = {"created", "restored", "duplicates", "errors", "duplicateEmails", "errorDetails"}


def classified(rows: list[tuple[int, str, str | None, str, str | None]]) -> pl.DataFrame:
    """Rows of (row_index, raw_email, email, outcome, error_reason), in any order."""
    return pl.DataFrame(
        rows,
        schema={
            "row_index": pl.Int64,
            "raw_email": pl.String,
            "email": pl.String,
            "outcome": pl.String,
            "error_reason": pl.String,
        },
        orient="row",
    )


MIXED = classified(
    [
        (0, " Ann@X.io", "ann@x.io", "created", None),
        (1, "", None, "error", "empty email"),
        (2, "ANN@x.io", "ann@x.io", "duplicate", None),
        (3, "del@x.io", "del@x.io", "restored", None),
        (4, "act@x.io", "act@x.io", "updated", None),
        (5, "Not An Email", "not an email", "error", "invalid email format"),
        (6, "act@x.io", "act@x.io", "duplicate", None),
    ]
)


def test_report_counts_every_outcome():
    report = build_report(MIXED)
    assert set(report) >= CONTRACT_KEYS
    assert {k: report[k] for k in ("created", "restored", "updated", "duplicates", "errors")} == {
        "created": 1,
        "restored": 1,
        "updated": 1,
        "duplicates": 2,
        "errors": 2,
    }


def test_report_samples_hold_normalised_duplicates_and_raw_error_emails():
    report = build_report(MIXED)
    assert report["duplicateEmails"] == ["ann@x.io", "act@x.io"]
    assert report["errorDetails"] == [
        {"index": 1, "email": "", "reason": "empty email"},
        {"index": 5, "email": "Not An Email", "reason": "invalid email format"},
    ]


def test_report_of_no_rows():
    report = build_report(MIXED.clear())
    assert report == {
        "created": 0,
        "restored": 0,
        "updated": 0,
        "duplicates": 0,
        "errors": 0,
        "duplicateEmails": [],
        "errorDetails": [],
    }


@pytest.mark.parametrize("rows", [99, 100, 101, 250])
def test_samples_are_cut_at_100_in_input_order(rows):
    # Every other row a duplicate, the others errors; the frame is shuffled, not in input order.
    frame = classified(
        [
            (i, f"raw{i}", f"d{i}@x.io", "duplicate", None)
            if i % 2 == 0
            else (i, f"raw{i}", None, "error", f"reason {i}")
            for i in range(2 * rows)
        ]
    ).sample(fraction=1.0, shuffle=True, seed=7)
    report = build_report(frame)
    kept = min(rows, 100)
    assert report["duplicates"] == report["errors"] == rows
    assert report["duplicateEmails"] == [f"d{i}@x.io" for i in range(0, 2 * kept, 2)]
    assert [d["index"] for d in report["errorDetails"]] == list(range(1, 2 * kept, 2))
    assert report["errorDetails"][-1] == {
        "index": 2 * kept - 1,
        "email": f"raw{2 * kept - 1}",
        "reason": f"reason {2 * kept - 1}",
    }


def test_outcome_rows_list_every_row_in_input_order():
    shuffled = MIXED.reverse()
    rows = outcome_rows(shuffled)
    assert rows.columns == ["index", "email", "outcome", "reason"]
    assert rows.rows() == [
        (0, "ann@x.io", "created", ""),
        (1, "", "error", "empty email"),
        (2, "ann@x.io", "duplicate", ""),
        (3, "del@x.io", "restored", ""),
        (4, "act@x.io", "updated", ""),
        (5, "Not An Email", "error", "invalid email format"),  # errors show the email as given
        (6, "act@x.io", "duplicate", ""),
    ]


@pytest.mark.parametrize(
    ("cell", "escaped"),
    [
        ("=1+1", "'=1+1"),
        ("+33 1 23", "'+33 1 23"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        ("plain@x.io", "plain@x.io"),
        (" =1", " =1"),
        ("", ""),
        (None, None),
    ],
)
def test_escape_formulas(cell, escaped):
    frame = pl.DataFrame({"index": [7], "email": [cell]}, schema={"index": pl.Int64, "email": str})
    result = escape_formulas(frame)
    assert result.get_column("email").to_list() == [escaped]
    assert result.get_column("index").to_list() == [7]  # other types untouched


def test_escape_formulas_covers_every_text_column():
    frame = pl.DataFrame({"email": ["=a"], "outcome": ["error"], "reason": ["-bad"]})
    assert escape_formulas(frame).row(0) == ("'=a", "error", "'-bad")
