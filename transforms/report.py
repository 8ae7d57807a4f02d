"""The import report (SPEC section 7) and the per-row outcome list."""

from __future__ import annotations

from typing import Any, Final

import polars as pl

from transforms.classify import (
    ACTIVE_LEAD,
    DELETED_LEAD,
    DUPLICATE,
    DUPLICATE_KIND,
    DUPLICATE_OF,
    ERROR,
    IN_INPUT,
    LEAD_ID,
    OUTCOMES,
    UNCHANGED_LEAD,
)
from transforms.fields import ERROR_REASON, LINE, OUTCOME, RAW_EMAIL, ROW_INDEX
from transforms.frames import collect

SAMPLE_SIZE: Final = 100
_COUNTED: Final = ("created", "restored", "updated", "duplicates", "errors")


def build_report(classified: pl.DataFrame) -> dict[str, Any]:
    """The six contract keys from classified rows, samples cut at 100 in input order.

    Rows read from a file (with a `source_line` column) add `line` to each error detail, and
    `duplicateDetails`: the first 100 duplicates' index, line, email and reason.
    """
    outcome = pl.col(OUTCOME)
    lines = LINE in classified.columns
    error_detail = pl.struct(
        pl.col(ROW_INDEX).alias("index"),
        *([pl.col(LINE).alias("line")] if lines else []),
        pl.col(RAW_EMAIL).alias("email"),
        pl.col(ERROR_REASON).alias("reason"),
    )
    # One query for the counts and the samples (each eager step would be a query of its own);
    # the duplicates' reasons are worked out afterwards for the sampled rows alone.
    duplicate_rows = pl.col(ROW_INDEX).filter(outcome == DUPLICATE).head(SAMPLE_SIZE)
    summary = collect(
        classified.lazy()
        .sort(ROW_INDEX)
        .select(
            *[(outcome == name).sum().alias(name) for name in OUTCOMES],
            pl.col("email").filter(outcome == DUPLICATE).head(SAMPLE_SIZE).implode(),
            error_detail.filter(outcome == ERROR).head(SAMPLE_SIZE).implode().alias("errors"),
            *([duplicate_rows.implode().alias("duplicate_rows")] if lines else []),
        )
    ).row(0, named=True)
    report = {
        "created": summary["created"],
        "restored": summary["restored"],
        # Active leads changed by an on_existing policy other than skip (always 0 under skip).
        "updated": summary["updated"],
        "duplicates": summary["duplicate"],
        "errors": summary["error"],
        "duplicateEmails": summary["email"],
        "errorDetails": summary["errors"],
    }
    if lines:
        report["duplicateDetails"] = duplicate_details(classified, summary["duplicate_rows"])
    return report


def duplicate_details(
    classified: pl.DataFrame, row_indexes: list[int] | None = None
) -> list[dict[str, Any]]:
    """The first 100 duplicates in input order (or those of `row_indexes`): index, line (file
    rows), email, reason."""
    lines = LINE in classified.columns
    wanted = (
        pl.col(OUTCOME) == DUPLICATE
        if row_indexes is None
        else pl.col(ROW_INDEX).is_in(row_indexes)
    )
    duplicates = classified.lazy().filter(wanted)
    first = collect(
        duplicates.sort(ROW_INDEX)
        .head(SAMPLE_SIZE)
        .select(
            pl.col(ROW_INDEX).alias("index"),
            *([pl.col(LINE).alias("line")] if lines else []),
            pl.col("email"),
            duplicate_reason(classified).alias("reason"),
        )
    )
    return first.to_dicts()


def duplicate_reason(classified: pl.DataFrame) -> pl.Expr:
    """Why a duplicate is one, in words (null for other rows): `duplicate of line 12` (of
    index 12 for an input without lines), `already in workspace (lead 4711)`, ..."""
    if DUPLICATE_KIND not in classified.columns:  # not classified by `classify`
        return pl.lit(None, pl.String)
    kind, lead = pl.col(DUPLICATE_KIND), pl.col(LEAD_ID)
    noun = "line" if LINE in classified.columns else "index"
    return (
        pl.when(kind == IN_INPUT)
        .then(pl.format(f"duplicate of {noun} {{}}", pl.col(DUPLICATE_OF)))
        .when((kind == ACTIVE_LEAD) & lead.is_not_null())
        .then(pl.format("already in workspace (lead {})", lead))
        .when(kind == ACTIVE_LEAD)
        .then(pl.lit("already in workspace"))
        .when(kind == DELETED_LEAD)
        .then(pl.format("soft-deleted in workspace (lead {}), not restored", lead))
        .when(kind == UNCHANGED_LEAD)
        .then(pl.format("already in workspace (lead {}), nothing to update", lead))
    )


def merge_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Combine the reports of consecutive batches of one input (samples stay cut at 100)."""
    merged: dict[str, Any] = {key: sum(r[key] for r in reports) for key in _COUNTED}
    for key in ("duplicateEmails", "errorDetails", "duplicateDetails"):
        if any(key in r for r in reports):
            merged[key] = [item for r in reports for item in r.get(key, [])][:SAMPLE_SIZE]
    merged["total"] = sum(r["total"] for r in reports)
    merged["remainingCapacity"] = reports[-1]["remainingCapacity"]
    merged["loadMs"] = round(sum(r["loadMs"] for r in reports), 1)
    return merged


def outcome_rows(classified: pl.DataFrame) -> pl.DataFrame:
    """Every row's outcome: index, line (rows read from a file), email (normalised, or as given
    for errors), outcome, reason (an error's, or why a duplicate is one; else empty)."""
    lines = LINE in classified.columns
    reason = (
        pl.when(pl.col(OUTCOME) == ERROR)
        .then(pl.col(ERROR_REASON))
        .when(pl.col(OUTCOME) == DUPLICATE)
        .then(duplicate_reason(classified))
    )
    return classified.sort(ROW_INDEX).select(
        pl.col(ROW_INDEX).alias("index"),
        *([pl.col(LINE).alias("line")] if lines else []),
        pl.when(pl.col(OUTCOME) == ERROR)
        .then(pl.col(RAW_EMAIL))
        .otherwise(pl.col("email"))
        .alias("email"),
        pl.col(OUTCOME).alias("outcome"),
        reason.fill_null("").alias("reason"),
    )


# OWASP's list for CSV injection: a cell starting with one of these may run as a formula.
FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r")


def escape_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with `'`."""
    return frame.with_columns(
        pl.when(pl.any_horizontal([pl.col(name).str.starts_with(p) for p in FORMULA_PREFIXES]))
        .then(pl.format("'{}", pl.col(name)))
        .otherwise(pl.col(name))
        .alias(name)
        for name, dtype in frame.schema.items()
        if dtype == pl.String
    )
