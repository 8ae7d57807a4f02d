"""Shape classified rows into the COPY payloads the database writes (SPEC section 5)."""

from __future__ import annotations

import io
from typing import Final

import polars as pl

from transforms.classify import CREATED, LEAD_ID, RESTORED, UPDATED
from transforms.fields import DEFAULT_STATUS, LEAD_COLUMNS, OUTCOME, TEXT_COLUMNS
from transforms.frames import collect

# The merge input of restored and updated leads (the temp table of create_merge_rows.sql).
MERGE_COLUMNS: Final = (LEAD_ID, *LEAD_COLUMNS[1:])


def pg_text_array(tags: pl.Expr) -> pl.Expr:
    """A PostgreSQL array literal (`{"a","b"}`) for a list of strings, every element quoted."""
    quoted = tags.list.eval(
        pl.format(
            '"{}"',
            pl.element()
            .str.replace_all("\\", "\\\\", literal=True)
            .str.replace_all('"', '\\"', literal=True),
        )
    )
    return pl.format("{{{}}}", quoted.list.join(","))


def pg_text_array_literal(values: pl.Series) -> str:
    """One PostgreSQL array literal holding every value of a string Series (no nulls)."""
    return values.to_frame().select(pg_text_array(pl.col(values.name).implode())).item()


def created_rows(classified: pl.DataFrame, *, default_source: str) -> pl.DataFrame:
    """The rows to insert, in LEAD_COLUMNS order, with the defaults of SPEC section 5 applied."""
    return collect(
        classified.lazy()
        .filter(pl.col(OUTCOME) == CREATED)
        .select(
            pl.col("email"),
            *[pl.col(c) for c in TEXT_COLUMNS if c != "source"],
            pl.col("source").fill_null(default_source),
            pl.col("status").fill_null(DEFAULT_STATUS),
            pl.col("custom_fields").fill_null("{}"),
            pg_text_array(pl.col("tags")).alias("tags"),
        )
        .select(LEAD_COLUMNS)
    )


def merge_rows(classified: pl.DataFrame, outcome: str) -> pl.DataFrame:
    """The merge input for restored or updated leads: lead id and the given fields (null when
    missing, tags as given)."""
    return collect(
        classified.lazy()
        .filter(pl.col(OUTCOME) == outcome)
        .select(
            pl.col(LEAD_ID),
            *[pl.col(c) for c in LEAD_COLUMNS[1:] if c != "tags"],
            pg_text_array(pl.col("tags")).alias("tags"),
        )
        .select(MERGE_COLUMNS)
    )


def restored_rows(classified: pl.DataFrame) -> pl.DataFrame:
    """The merge input for restored leads."""
    return merge_rows(classified, RESTORED)


def updated_rows(classified: pl.DataFrame) -> pl.DataFrame:
    """The merge input for active leads an `on_existing` policy updates."""
    return merge_rows(classified, UPDATED)


def to_copy_csv(rows: pl.DataFrame) -> bytes:
    """CSV for `COPY ... (FORMAT csv)`: no header, nulls as unquoted empty fields."""
    buffer = io.BytesIO()
    rows.write_csv(buffer, include_header=False, null_value="", quote_style="necessary")
    return buffer.getvalue()
