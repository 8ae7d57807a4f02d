"""Classify prepared rows against the workspace's existing leads (SPEC section 4)."""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl

from transforms.fields import ERROR_REASON, IS_FIRST, LINE, OUTCOME, ROW_INDEX
from transforms.frames import collect

CREATED: Final = "created"
RESTORED: Final = "restored"
UPDATED: Final = "updated"
DUPLICATE: Final = "duplicate"
ERROR: Final = "error"
OUTCOMES: Final = (CREATED, RESTORED, UPDATED, DUPLICATE, ERROR)

# What an import does with a row whose email already has an active lead. `skip` is the contract
# (a duplicate); the other two are for syncs whose source is the source of truth.
SKIP: Final = "skip"
FILL_EMPTY: Final = "fill_empty"
OVERWRITE: Final = "overwrite"
ON_EXISTING: Final = (SKIP, FILL_EMPTY, OVERWRITE)

RESTORE_ID: Final = "restore_id"
ACTIVE_ID: Final = "active_id"
# LEAD_ID: the lead a restored or updated row writes to, or the workspace's lead that makes a
# row a duplicate (null when the lookup did not ask for active leads' ids).
LEAD_ID: Final = "lead_id"
# Why a row is a duplicate (null for other outcomes): its email's first row came earlier in the
# input (DUPLICATE_OF names that row: its line, or its index for an input without lines), an
# active lead has the email, a soft-deleted one does and restoring is off, or an active lead
# that an `on_existing` policy would update was left unchanged.
DUPLICATE_KIND: Final = "duplicate_kind"
DUPLICATE_OF: Final = "duplicate_of"
IN_INPUT: Final = 1
ACTIVE_LEAD: Final = 2
DELETED_LEAD: Final = 3
UNCHANGED_LEAD: Final = 4
EXISTING_SCHEMA: Final = {
    "email": pl.String,
    "has_active": pl.Boolean,
    ACTIVE_ID: pl.Int64,
    RESTORE_ID: pl.Int64,
}


def existing_from_halves(active: pl.DataFrame, deleted: pl.DataFrame) -> pl.DataFrame:
    """EXISTING_SCHEMA rows from a workspace's active leads (email, active_id) and, per email,
    its soft-deleted lead to restore (email, restore_id); each half has an email at most once."""
    joined = active.lazy().join(deleted.lazy(), on="email", how="full", coalesce=True)
    has_active = pl.col(ACTIVE_ID).is_not_null().alias("has_active")
    return collect(joined.select("email", has_active, ACTIVE_ID, RESTORE_ID))


def batch_emails(prepared: pl.DataFrame) -> pl.Series:
    """The distinct emails whose existing leads the classification needs (first valid rows)."""
    return prepared.filter(pl.col(IS_FIRST)).get_column("email")


def position_column(frame: pl.DataFrame) -> str:
    """The column naming a row for a person: its file line, else its 0-based index."""
    return LINE if LINE in frame.columns else ROW_INDEX


def first_rows(prepared: pl.DataFrame) -> tuple[pl.Series, np.ndarray]:
    """The emails of the first valid rows (as `batch_emails`) and those rows' positions
    (`position_column`), which later duplicates of the email name."""
    firsts = prepared.filter(pl.col(IS_FIRST))
    return firsts.get_column("email"), firsts.get_column(position_column(prepared)).to_numpy()


def _duplicate_of(prepared: pl.DataFrame, earlier: pl.DataFrame | None) -> pl.Series:
    """For each valid row that is not its email's first: the first row's position, from this
    batch or from `earlier` (email, duplicate_of: emails whose first row came before this
    batch); null for the other rows. The work is proportional to the repeats, plus one
    membership test over the batch when there are any."""
    repeat = (pl.col(ERROR_REASON).is_null() & ~pl.col(IS_FIRST)).alias("repeat")
    rows = np.flatnonzero(prepared.select(repeat).to_series().to_numpy())
    column = pl.repeat(None, prepared.height, dtype=pl.Int64, eager=True).alias(DUPLICATE_OF)
    if not rows.size:
        return column
    emails = prepared.get_column("email").gather(rows)
    position = position_column(prepared)
    firsts = prepared.lazy().filter(pl.col(IS_FIRST) & pl.col("email").is_in(emails.implode()))
    known = [firsts.select("email", pl.col(position).cast(pl.Int64).alias(DUPLICATE_OF))]
    if earlier is not None and earlier.height:
        known.append(earlier.lazy().select("email", pl.col(DUPLICATE_OF).cast(pl.Int64)))
    found = collect(
        emails.to_frame("email")
        .lazy()
        .join(pl.concat(known), on="email", how="left", maintain_order="left")
        .select(DUPLICATE_OF)
    ).to_series()
    return column.scatter(rows, found)


def first_in_input() -> pl.Expr:
    """Over a whole input (`email` and per-batch `is_first`, in input order): whether each row
    is the first valid row with its email anywhere in the input."""
    first_in_batch = pl.col(IS_FIRST)
    return first_in_batch & pl.when(first_in_batch).then(pl.col("email")).is_first_distinct()


def planned_additions(
    first_emails: int, existing: pl.DataFrame, *, restore_soft_deleted: bool = True
) -> int:
    """Leads an input makes active (created plus restored), from its number of distinct valid
    emails and their existing leads: an email already active adds none, nor does a soft-deleted
    one when restoring is off."""
    kept_out = pl.col("has_active").fill_null(False)
    if not restore_soft_deleted:
        kept_out = kept_out | pl.col(RESTORE_ID).is_not_null()
    return first_emails - existing.filter(kept_out).height


def classify(
    prepared: pl.DataFrame,
    existing: pl.DataFrame,
    *,
    restore_soft_deleted: bool = True,
    on_existing: str = SKIP,
    earlier: pl.DataFrame | None = None,
    name_first_rows: bool = True,
) -> pl.DataFrame:
    """Give every row exactly one outcome; restored and updated rows carry in `lead_id` the
    lead they write to, duplicates why they are (`duplicate_kind`, with `duplicate_of` or
    `lead_id`). `earlier`: the emails (email, duplicate_of) whose first row came in an earlier
    batch of the input, where this batch's rows are already marked not first.
    `name_first_rows=False` leaves `duplicate_of` null: for inputs whose outcomes nobody reads
    row by row (API records), where working it out was most of a small batch's classification.

    `existing` has one row per email found in the workspace: whether an active lead has it (and
    its id, needed unless `on_existing` is skip), and the soft-deleted lead to restore (most
    recently deleted, then highest id), if any. With `on_existing` other than skip, the first
    row of an email with an active lead is `updated` (settled by `settle_updates` once the
    database says whether anything changed).
    """
    joined = prepared.lazy().join(
        existing.lazy().select(EXISTING_SCHEMA.keys()),
        on="email",
        how="left",
        maintain_order="left",
    )
    has_active = pl.col("has_active").fill_null(False)
    has_deleted = pl.col(RESTORE_ID).is_not_null()
    outcome = (
        pl.when(pl.col(ERROR_REASON).is_not_null())
        .then(pl.lit(ERROR))
        .when(~pl.col(IS_FIRST))
        .then(pl.lit(DUPLICATE))
        .when(has_active & (on_existing != SKIP))
        .then(pl.lit(UPDATED))
        .when(has_active)
        .then(pl.lit(DUPLICATE))
        .when(has_deleted & restore_soft_deleted)
        .then(pl.lit(RESTORED))
        .when(has_deleted)
        .then(pl.lit(DUPLICATE))
        .otherwise(pl.lit(CREATED))
    )
    duplicate = pl.col(OUTCOME) == DUPLICATE
    kind = (
        pl.when(~duplicate)
        .then(None)
        .when(~pl.col(IS_FIRST))
        .then(pl.lit(IN_INPUT, pl.UInt8))
        .when(has_active)
        .then(pl.lit(ACTIVE_LEAD, pl.UInt8))
        .otherwise(pl.lit(DELETED_LEAD, pl.UInt8))
    )
    lead_id = (
        pl.when(pl.col(OUTCOME) == RESTORED)
        .then(pl.col(RESTORE_ID))
        .when(pl.col(OUTCOME) == UPDATED)
        .then(pl.col(ACTIVE_ID))
        .when(pl.col(DUPLICATE_KIND) == ACTIVE_LEAD)
        .then(pl.col(ACTIVE_ID))
        .when(pl.col(DUPLICATE_KIND) == DELETED_LEAD)
        .then(pl.col(RESTORE_ID))
    )
    return collect(
        joined.with_columns(outcome.alias(OUTCOME))
        .with_columns(kind.alias(DUPLICATE_KIND))
        .with_columns(lead_id.alias(LEAD_ID))
        .drop("has_active", ACTIVE_ID, RESTORE_ID)
        .with_columns(
            _duplicate_of(prepared, earlier)
            if name_first_rows
            else pl.lit(None, pl.Int64).alias(DUPLICATE_OF)
        )
    )


def settle_updates(classified: pl.DataFrame, changed_ids: pl.Series) -> pl.DataFrame:
    """Rows to be updated whose lead did not change (they gave nothing new) are duplicates of
    that lead."""
    unchanged = (pl.col(OUTCOME) == UPDATED) & ~pl.col(LEAD_ID).is_in(changed_ids.implode())
    return classified.with_columns(
        pl.when(unchanged).then(pl.lit(DUPLICATE)).otherwise(pl.col(OUTCOME)).alias(OUTCOME),
        pl.when(unchanged)
        .then(pl.lit(UNCHANGED_LEAD, pl.UInt8))
        .otherwise(pl.col(DUPLICATE_KIND))
        .alias(DUPLICATE_KIND),
    )


def count_outcomes(classified: pl.DataFrame) -> dict[str, int]:
    """Rows per outcome, every outcome present."""
    counts = dict(classified.get_column(OUTCOME).value_counts().iter_rows())
    return {outcome: int(counts.get(outcome, 0)) for outcome in OUTCOMES}
