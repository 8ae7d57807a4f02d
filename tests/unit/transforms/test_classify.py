"""`transforms.classify` on hand-built frames (SPEC section 4): one outcome per row, the lead a
restored or updated row writes to, and the helpers around it. No database."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from transforms.classify import (
    ACTIVE_LEAD,
    DELETED_LEAD,
    EXISTING_SCHEMA,
    IN_INPUT,
    OUTCOMES,
    UNCHANGED_LEAD,
    batch_emails,
    classify,
    count_outcomes,
    first_in_input,
    planned_additions,
    settle_updates,
)
from transforms.fields import IS_FIRST, LINE
from transforms.normalise import prepare_leads
from transforms.records import records_to_raw_frame

ACTIVE_ID, DELETED_ID, BOTH_ACTIVE_ID, BOTH_DELETED_ID = 11, 22, 33, 44


def prepare(emails: list[str | dict[str, Any]]) -> pl.DataFrame:
    rows = [row if isinstance(row, dict) else {"email": row} for row in emails]
    raw, _ = records_to_raw_frame(rows)
    return prepare_leads(raw)


def existing(*rows: tuple[str, bool, int | None, int | None]) -> pl.DataFrame:
    """Rows of (email, has_active, active_id, restore_id), as the store's lookup gives them."""
    if not rows:
        return pl.DataFrame(schema=EXISTING_SCHEMA)
    return pl.DataFrame(rows, schema=EXISTING_SCHEMA, orient="row")


# One email of each kind: an active lead, a soft-deleted one, both.
WORKSPACE = existing(
    ("active@x.io", True, ACTIVE_ID, None),
    ("deleted@x.io", False, None, DELETED_ID),
    ("both@x.io", True, BOTH_ACTIVE_ID, BOTH_DELETED_ID),
)

ROWS = [
    {"email": "bad"},  # 0 error
    "new@x.io",  # 1 created
    "NEW@x.io",  # 2 duplicate in the input
    "active@x.io",  # 3 duplicate of an active lead
    "deleted@x.io",  # 4 restored
    "both@x.io",  # 5 an active lead wins over a soft-deleted one
    "Deleted@X.io",  # 6 duplicate in the input (the restore is row 4's)
    {"email": "active@x.io", "status": "hot"},  # 7 error, even with an active lead
]


def outcomes_and_ids(classified: pl.DataFrame) -> list[tuple[str, int | None]]:
    return list(classified.select("outcome", "lead_id").iter_rows())


def test_every_rule_gives_its_outcome():
    classified = classify(prepare(ROWS), WORKSPACE)
    assert outcomes_and_ids(classified) == [
        ("error", None),
        ("created", None),
        ("duplicate", None),
        ("duplicate", ACTIVE_ID),  # the lead that makes it a duplicate
        ("restored", DELETED_ID),
        ("duplicate", BOTH_ACTIVE_ID),
        ("duplicate", None),
        ("error", None),
    ]


def test_duplicates_say_why():
    classified = classify(prepare(ROWS), WORKSPACE)
    assert classified.select("duplicate_kind", "duplicate_of").rows() == [
        (None, None),
        (None, None),
        (IN_INPUT, 1),  # row 1 had the email first (no lines: its index)
        (ACTIVE_LEAD, None),
        (None, None),
        (ACTIVE_LEAD, None),
        (IN_INPUT, 4),
        (None, None),
    ]


def test_without_naming_first_rows_only_duplicate_of_is_left_out():
    named = classify(prepare(ROWS), WORKSPACE)
    unnamed = classify(prepare(ROWS), WORKSPACE, name_first_rows=False)
    assert unnamed.get_column("duplicate_of").null_count() == unnamed.height
    assert unnamed.drop("duplicate_of").equals(named.drop("duplicate_of"))
    assert unnamed.columns == named.columns


def test_an_in_input_duplicate_names_its_first_rows_line():
    prepared = prepare(["a@x.io", "bad", "b@x.io", "A@x.io", "b@x.io", "a@x.io"])
    prepared = prepared.with_columns((pl.col("row_index") * 2 + 2).alias(LINE))
    classified = classify(prepared, existing())
    assert classified.get_column("duplicate_of").to_list() == [None, None, None, 2, 6, 2]


def test_an_email_first_seen_in_an_earlier_batch_is_named_from_there():
    prepared = prepare(["a@x.io", "c@x.io", "A@x.io"]).with_columns(
        pl.col(IS_FIRST) & (pl.col("email") != "a@x.io")  # as the engine marks it
    )
    earlier = pl.DataFrame({"email": ["a@x.io"], "duplicate_of": [7]})
    classified = classify(prepared, existing(), earlier=earlier)
    assert classified.get_column("outcome").to_list() == ["duplicate", "created", "duplicate"]
    assert classified.get_column("duplicate_of").to_list() == [7, None, 7]


def test_rows_keep_their_order_and_columns():
    prepared = prepare(ROWS)
    classified = classify(prepared, WORKSPACE)
    assert classified.get_column("row_index").to_list() == list(range(len(ROWS)))
    added = ["outcome", "duplicate_kind", "lead_id", "duplicate_of"]
    assert classified.columns == [*prepared.columns, *added]
    assert classified.drop(added).equals(prepared)


def test_restore_off_makes_soft_deleted_matches_duplicates():
    classified = classify(prepare(ROWS), WORKSPACE, restore_soft_deleted=False)
    assert outcomes_and_ids(classified)[4] == ("duplicate", DELETED_ID)
    assert classified.get_column("duplicate_kind")[4] == DELETED_LEAD
    assert count_outcomes(classified)["restored"] == 0


@pytest.mark.parametrize("on_existing", ["fill_empty", "overwrite"])
def test_on_existing_policies_update_the_active_lead(on_existing):
    classified = classify(prepare(ROWS), WORKSPACE, on_existing=on_existing)
    assert outcomes_and_ids(classified) == [
        ("error", None),
        ("created", None),
        ("duplicate", None),
        ("updated", ACTIVE_ID),
        ("restored", DELETED_ID),
        ("updated", BOTH_ACTIVE_ID),  # the active lead, not the soft-deleted one
        ("duplicate", None),
        ("error", None),
    ]


@pytest.mark.parametrize("on_existing", ["skip", "fill_empty", "overwrite"])
def test_only_the_first_row_of_an_active_email_is_updated(on_existing):
    classified = classify(
        prepare(["active@x.io", "ACTIVE@x.io", "active@x.io"]), WORKSPACE, on_existing=on_existing
    )
    first = "duplicate" if on_existing == "skip" else "updated"
    assert classified.get_column("outcome").to_list() == [first, "duplicate", "duplicate"]


def test_no_existing_leads_means_every_first_valid_row_is_created():
    classified = classify(prepare(["a@x.io", "b@x.io", "A@x.io", "bad"]), existing())
    assert classified.get_column("outcome").to_list() == [
        "created",
        "created",
        "duplicate",
        "error",
    ]
    assert classified.get_column("lead_id").null_count() == 4


def test_existing_rows_of_other_emails_change_nothing():
    unrelated = existing(("zed@x.io", True, 1, None), ("yan@x.io", False, None, 2))
    classified = classify(prepare(["a@x.io"]), unrelated)
    assert outcomes_and_ids(classified) == [("created", None)]


# --------------------------------------------------------------------------- settle_updates


def test_settle_updates_turns_unchanged_updates_into_duplicates():
    classified = classify(prepare(ROWS), WORKSPACE, on_existing="overwrite")
    settled = settle_updates(classified, pl.Series([BOTH_ACTIVE_ID, 999], dtype=pl.Int64))
    assert outcomes_and_ids(settled) == [
        ("error", None),
        ("created", None),
        ("duplicate", None),
        ("duplicate", ACTIVE_ID),  # lead 11 did not change
        ("restored", DELETED_ID),  # untouched: not an update
        ("updated", BOTH_ACTIVE_ID),
        ("duplicate", None),
        ("error", None),
    ]
    assert settled.get_column("duplicate_kind")[3] == UNCHANGED_LEAD


def test_settle_updates_with_no_changes_leaves_no_update():
    classified = classify(prepare(ROWS), WORKSPACE, on_existing="fill_empty")
    settled = settle_updates(classified, pl.Series([], dtype=pl.Int64))
    counts = count_outcomes(settled)
    assert counts["updated"] == 0
    assert counts["duplicate"] == 4
    lead_ids = settled.get_column("lead_id").drop_nulls().to_list()
    assert lead_ids == [ACTIVE_ID, DELETED_ID, BOTH_ACTIVE_ID]


# --------------------------------------------------------------------------- helpers


def test_count_outcomes_has_every_outcome():
    counts = count_outcomes(classify(prepare(ROWS), WORKSPACE))
    assert list(counts) == list(OUTCOMES)
    assert counts == {"created": 1, "restored": 1, "updated": 0, "duplicate": 4, "error": 2}
    assert sum(counts.values()) == len(ROWS)


def test_count_outcomes_of_no_rows():
    empty = classify(prepare(ROWS).clear(), WORKSPACE)
    assert count_outcomes(empty) == dict.fromkeys(OUTCOMES, 0)


def test_batch_emails_are_the_distinct_first_valid_emails_in_order():
    emails = batch_emails(prepare(["b@x.io", "bad", "A@x.io", "b@x.io", "a@x.io", "c@x.io"]))
    assert emails.to_list() == ["b@x.io", "a@x.io", "c@x.io"]


def test_first_in_input_equals_is_first_for_a_single_batch():
    prepared = prepare(ROWS)
    assert (
        prepared.select(first_in_input()).to_series().to_list()
        == prepared.get_column("is_first").to_list()
    )


@pytest.mark.parametrize("restore", [True, False])
@pytest.mark.parametrize("on_existing", ["skip", "overwrite"])
def test_planned_additions_agree_with_classify(restore, on_existing):
    """Created plus restored rows are the leads an input makes active, whatever the policy."""
    prepared = prepare(ROWS)
    classified = classify(
        prepared, WORKSPACE, restore_soft_deleted=restore, on_existing=on_existing
    )
    counts = count_outcomes(classified)
    first_emails = batch_emails(prepared).len()
    planned = planned_additions(first_emails, WORKSPACE, restore_soft_deleted=restore)
    assert planned == counts["created"] + counts["restored"]
    assert planned == (2 if restore else 1)


def test_planned_additions_without_existing_leads_is_every_email():
    assert planned_additions(7, existing()) == 7
    assert planned_additions(7, existing(), restore_soft_deleted=False) == 7


def test_first_in_input_spans_batches():
    # Two batches, each already deduplicated on its own; the second repeats an email of the first.
    flags = pl.DataFrame(
        {
            "email": ["a@x.io", "b@x.io", None, "b@x.io", "c@x.io", "a@x.io"],
            IS_FIRST: [True, True, False, True, True, False],
        }
    )
    first = flags.select(first_in_input()).to_series()
    assert first.to_list() == [True, True, False, False, True, False]


def test_an_invalid_row_does_not_claim_its_email():
    flags = pl.DataFrame({"email": ["a@x.io", "a@x.io"], IS_FIRST: [False, True]})
    assert flags.select(first_in_input()).to_series().to_list() == [False, True]


@pytest.mark.parametrize(("restore", "expected"), [(True, 2), (False, 1)])
def test_planned_additions(restore, expected):
    existing = pl.DataFrame(
        {
            "email": ["active@x.io", "deleted@x.io", "both@x.io"],
            "has_active": [True, False, True],
            "active_id": [1, None, 2],
            "restore_id": [None, 7, 8],
        },
        schema=EXISTING_SCHEMA,
    )
    # Four distinct emails: one new, one active, one only soft-deleted, one active and deleted.
    assert planned_additions(4, existing, restore_soft_deleted=restore) == expected
