"""The import report (SPEC section 7) and the per-row outcome list."""

from __future__ import annotations

from typing import Any, Final

import polars as pl

from transforms.classify import DUPLICATE, ERROR, OUTCOMES
from transforms.fields import ERROR_REASON, OUTCOME, RAW_EMAIL, ROW_INDEX
from transforms.frames import collect

SAMPLE_SIZE: Final = 100
_COUNTED: Final = ("created", "restored", "updated", "duplicates", "errors")


def build_report(classified: pl.DataFrame) -> dict[str, Any]:
    """The six contract keys from classified rows, samples cut at 100 in input order."""
    outcome = pl.col(OUTCOME)
    error_detail = pl.struct(
        pl.col(ROW_INDEX).alias("index"),
        pl.col(RAW_EMAIL).alias("email"),
        pl.col(ERROR_REASON).alias("reason"),
    )
    # One query for the counts and both samples (each eager step would be a query of its own).
    summary = collect(
        classified.lazy()
        .sort(ROW_INDEX)
        .select(
            *[(outcome == name).sum().alias(name) for name in OUTCOMES],
            pl.col("email").filter(outcome == DUPLICATE).head(SAMPLE_SIZE).implode(),
            error_detail.filter(outcome == ERROR).head(SAMPLE_SIZE).implode().alias("errors"),
        )
    ).row(0, named=True)
    return {
        "created": summary["created"],
        "restored": summary["restored"],
        # Active leads changed by an on_existing policy other than skip (always 0 under skip).
        "updated": summary["updated"],
        "duplicates": summary["duplicate"],
        "errors": summary["error"],
        "duplicateEmails": summary["email"],
        "errorDetails": summary["errors"],
    }


def merge_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Combine the reports of consecutive batches of one input (samples stay cut at 100)."""
    merged: dict[str, Any] = {key: sum(r[key] for r in reports) for key in _COUNTED}
    for key in ("duplicateEmails", "errorDetails"):
        merged[key] = [item for r in reports for item in r[key]][:SAMPLE_SIZE]
    merged["total"] = sum(r["total"] for r in reports)
    merged["remainingCapacity"] = reports[-1]["remainingCapacity"]
    merged["loadMs"] = round(sum(r["loadMs"] for r in reports), 1)
    return merged


def outcome_rows(classified: pl.DataFrame) -> pl.DataFrame:
    """Every row's outcome: index, email (normalised, or as given for errors), outcome, reason."""
    return classified.sort(ROW_INDEX).select(
        pl.col(ROW_INDEX).alias("index"),
        pl.when(pl.col(OUTCOME) == ERROR)
        .then(pl.col(RAW_EMAIL))
        .otherwise(pl.col("email"))
        .alias("email"),
        pl.col(OUTCOME).alias("outcome"),
        pl.col(ERROR_REASON).fill_null("").alias("reason"),
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
