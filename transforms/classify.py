"""Classify prepared rows against the workspace's existing leads (SPEC section 4)."""

from __future__ import annotations

from typing import Final

import polars as pl

from transforms.fields import ERROR_REASON, IS_FIRST, OUTCOME

CREATED: Final = "created"
RESTORED: Final = "restored"
DUPLICATE: Final = "duplicate"
ERROR: Final = "error"
OUTCOMES: Final = (CREATED, RESTORED, DUPLICATE, ERROR)

RESTORE_ID: Final = "restore_id"
EXISTING_SCHEMA: Final = {"email": pl.String, "has_active": pl.Boolean, RESTORE_ID: pl.Int64}


def batch_emails(prepared: pl.DataFrame) -> pl.Series:
    """The distinct emails whose existing leads the classification needs (first valid rows)."""
    return prepared.filter(pl.col(IS_FIRST)).get_column("email")


def mark_first_in_input(flags: pl.DataFrame) -> pl.Series:
    """Across a whole input (`email` and per-batch `is_first`, in input order): whether each row
    is the first valid row with its email anywhere in the input."""
    first_in_batch = pl.col(IS_FIRST)
    return flags.select(
        (first_in_batch & pl.when(first_in_batch).then(pl.col("email")).is_first_distinct()).alias(
            IS_FIRST
        )
    ).to_series()


def planned_additions(
    first_emails: int, existing: pl.DataFrame, *, restore_soft_deleted: bool = True
) -> int:
    """Leads an input makes active (created plus restored), from its number of distinct valid
    emails and their existing leads: an email already active adds none, nor does a soft-deleted
    one when restoring is off."""
    kept_out = pl.col("has_active")
    if not restore_soft_deleted:
        kept_out = kept_out | pl.col(RESTORE_ID).is_not_null()
    return first_emails - existing.filter(kept_out).height


def classify(
    prepared: pl.DataFrame, existing: pl.DataFrame, *, restore_soft_deleted: bool = True
) -> pl.DataFrame:
    """Give every row exactly one outcome; restored rows carry the id of the lead they restore.

    `existing` has one row per email found in the workspace: whether an active lead has it, and
    the soft-deleted lead to restore (most recently deleted, then highest id), if any.
    """
    joined = prepared.join(
        existing.select(EXISTING_SCHEMA.keys()), on="email", how="left", maintain_order="left"
    )
    has_active = pl.col("has_active").fill_null(False)
    has_deleted = pl.col(RESTORE_ID).is_not_null()
    outcome = (
        pl.when(pl.col(ERROR_REASON).is_not_null())
        .then(pl.lit(ERROR))
        .when(~pl.col(IS_FIRST) | has_active)
        .then(pl.lit(DUPLICATE))
        .when(has_deleted & restore_soft_deleted)
        .then(pl.lit(RESTORED))
        .when(has_deleted)
        .then(pl.lit(DUPLICATE))
        .otherwise(pl.lit(CREATED))
    )
    return (
        joined.with_columns(outcome.alias(OUTCOME))
        .with_columns(
            pl.when(pl.col(OUTCOME) == RESTORED).then(pl.col(RESTORE_ID)).alias(RESTORE_ID)
        )
        .drop("has_active")
    )


def count_outcomes(classified: pl.DataFrame) -> dict[str, int]:
    """Rows per outcome, every outcome present."""
    counts = dict(classified.get_column(OUTCOME).value_counts().iter_rows())
    return {outcome: int(counts.get(outcome, 0)) for outcome in OUTCOMES}
