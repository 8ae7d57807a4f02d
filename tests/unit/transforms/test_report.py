"""`transforms.report`: the contract's report from classified rows (SPEC section 7), the per-row
outcome list and formula escaping. No database."""

from __future__ import annotations

import polars as pl
import pytest

from transforms.classify import EXISTING_SCHEMA, classify, settle_updates
from transforms.fields import LINE
from transforms.normalise import prepare_leads
from transforms.records import records_to_raw_frame
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


# --------------------------------------------------------------------------- lines and reasons


def _classify_with_lines(emails: list[str], existing_rows: list[tuple]) -> pl.DataFrame:
    """Rows classified as a file's are: each with a line (here: the row index + 2)."""
    raw, _ = records_to_raw_frame([{"email": email} for email in emails])
    prepared = prepare_leads(raw).with_columns((pl.col("row_index") + 2).alias(LINE))
    workspace = pl.DataFrame(existing_rows, schema=EXISTING_SCHEMA, orient="row")
    return classify(prepared, workspace, restore_soft_deleted=False)


FILE_ROWS = ["ann@x.io", "bad", "act@x.io", "Ann@X.io", "del@x.io", "ann@x.io"]
FILE_WORKSPACE = [("act@x.io", True, 4711, None), ("del@x.io", False, None, 12)]


def test_outcome_rows_name_lines_and_say_why_a_row_is_a_duplicate():
    rows = outcome_rows(_classify_with_lines(FILE_ROWS, FILE_WORKSPACE))
    assert rows.columns == ["index", "line", "email", "outcome", "reason"]
    assert rows.rows() == [
        (0, 2, "ann@x.io", "created", ""),
        (1, 3, "bad", "error", "invalid email format"),
        (2, 4, "act@x.io", "duplicate", "already in workspace (lead 4711)"),
        (3, 5, "ann@x.io", "duplicate", "duplicate of line 2"),
        (4, 6, "del@x.io", "duplicate", "soft-deleted in workspace (lead 12), not restored"),
        (5, 7, "ann@x.io", "duplicate", "duplicate of line 2"),
    ]


def test_file_reports_add_lines_and_duplicate_details():
    report = build_report(_classify_with_lines(FILE_ROWS, FILE_WORKSPACE))
    assert report["errorDetails"] == [
        {"index": 1, "line": 3, "email": "bad", "reason": "invalid email format"}
    ]
    assert report["duplicateEmails"] == ["act@x.io", "ann@x.io", "del@x.io", "ann@x.io"]
    assert [(d["line"], d["reason"]) for d in report["duplicateDetails"]] == [
        (4, "already in workspace (lead 4711)"),
        (5, "duplicate of line 2"),
        (6, "soft-deleted in workspace (lead 12), not restored"),
        (7, "duplicate of line 2"),
    ]


def test_without_lines_a_duplicate_names_the_first_rows_index_and_the_report_is_unchanged():
    raw, _ = records_to_raw_frame([{"email": e} for e in ["a@x.io", "b@x.io", "A@x.io"]])
    classified_rows = classify(prepare_leads(raw), pl.DataFrame(schema=EXISTING_SCHEMA))
    assert outcome_rows(classified_rows).get_column("reason").to_list() == [
        "",
        "",
        "duplicate of index 0",
    ]
    report = build_report(classified_rows)
    assert "duplicateDetails" not in report  # the HTTP API's report keeps its shape
    assert report["errorDetails"] == []


def test_an_active_lead_without_its_id_is_named_without_one():
    raw, _ = records_to_raw_frame([{"email": "act@x.io"}])
    workspace = pl.DataFrame([("act@x.io", True, None, None)], schema=EXISTING_SCHEMA, orient="row")
    rows = outcome_rows(classify(prepare_leads(raw), workspace))
    assert rows.get_column("reason").to_list() == ["already in workspace"]


def test_an_unchanged_update_says_so():
    raw, _ = records_to_raw_frame([{"email": "act@x.io"}])
    workspace = pl.DataFrame([("act@x.io", True, 9, None)], schema=EXISTING_SCHEMA, orient="row")
    classified_rows = classify(prepare_leads(raw), workspace, on_existing="fill_empty")
    settled = settle_updates(classified_rows, pl.Series([], dtype=pl.Int64))
    assert outcome_rows(settled).row(0) == (
        0,
        "act@x.io",
        "duplicate",
        "already in workspace (lead 9), nothing to update",
    )


def test_duplicate_details_are_cut_at_100_in_input_order():
    emails = ["same@x.io"] * 150
    details = build_report(_classify_with_lines(emails, []))["duplicateDetails"]
    assert len(details) == 100
    assert details[0] == {
        "index": 1,
        "line": 3,
        "email": "same@x.io",
        "reason": "duplicate of line 2",
    }
    assert details[-1]["index"] == 100
