"""Watermarks of incremental syncs: a cursor value as JSON that round-trips to its Python type.

A watermark is stored as `{"type": ..., "value": ...}` (PostgreSQL `jsonb`) and bound back as a
query parameter, so it must come back as the same Python type the source's driver returned:
a `datetime` stays a `datetime` (with or without its UTC offset), a `Decimal` keeps its digits,
an `int` is not turned into a float. Numbers are stored as text so that no JSON reader (a
browser showing the Prefect UI, for one) rounds them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Final

import polars as pl

from transforms.fields import ROW_INDEX
from transforms.headers import ColumnRules, map_headers
from transforms.records import frame_to_raw_frame

CursorValue = dt.datetime | dt.date | dt.time | int | Decimal | float | str

WATERMARK_TYPES: Final = ("datetime", "date", "time", "int", "decimal", "float", "str")


class WatermarkTypeError(TypeError):
    """A cursor value that cannot be a watermark (a boolean, bytes, a list, …)."""


def encode_watermark(value: CursorValue) -> dict[str, str]:
    """The JSON form of a cursor value: `{"type": ..., "value": <text>}`."""
    # datetime before date (a datetime is a date), bool before int (a bool is an int).
    if isinstance(value, dt.datetime):
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, dt.date):
        return {"type": "date", "value": value.isoformat()}
    if isinstance(value, dt.time):
        return {"type": "time", "value": value.isoformat()}
    if isinstance(value, bool):
        raise WatermarkTypeError("a boolean column cannot be a cursor")
    if isinstance(value, int):
        return {"type": "int", "value": str(int(value))}
    if isinstance(value, Decimal):
        return {"type": "decimal", "value": str(value)}
    if isinstance(value, float):
        return {"type": "float", "value": repr(float(value))}
    if isinstance(value, str):
        return {"type": "str", "value": value}
    raise WatermarkTypeError(
        f"a cursor of type {type(value).__name__} cannot be a watermark "
        "(use a timestamp, date, time, number or text column)"
    )


def decode_watermark(encoded: dict[str, Any]) -> CursorValue:
    """The cursor value of a JSON watermark (the inverse of `encode_watermark`)."""
    kind, text = encoded.get("type"), encoded.get("value")
    if not isinstance(text, str):
        raise ValueError(f"malformed watermark {encoded!r}")
    if kind == "datetime":
        return dt.datetime.fromisoformat(text)
    if kind == "date":
        return dt.date.fromisoformat(text)
    if kind == "time":
        return dt.time.fromisoformat(text)
    if kind == "int":
        return int(text)
    if kind == "decimal":
        return Decimal(text)
    if kind == "float":
        return float(text)
    if kind == "str":
        return text
    raise ValueError(f"unknown watermark type {kind!r} (one of {', '.join(WATERMARK_TYPES)})")


def _source_columns(
    columns: list[str], cursor_column: str | None, rules: ColumnRules | None
) -> list[str]:
    """A SQL source's columns that are mapped: the cursor column is only there to order and
    filter rows, so unless it is named like a lead field or mapped explicitly, it is left out
    (without an "ignored unknown column" warning, and not kept as a custom field)."""
    explicit = ColumnRules(rules.mapped) if rules is not None else None
    if (
        cursor_column is not None
        and cursor_column in columns
        and map_headers([cursor_column], explicit).unknown
    ):
        return [column for column in columns if column != cursor_column]
    return columns


def source_columns(
    columns: list[str], cursor_column: str | None, rules: ColumnRules | None = None
) -> dict[str, str | None]:
    """The report's `columns` of a SQL source: each column -> its field (None: ignored)."""
    return map_headers(_source_columns(columns, cursor_column, rules), rules).assigned


def source_rows_to_raw(
    frame: pl.DataFrame,
    cursor_column: str | None,
    offset: int,
    rules: ColumnRules | None = None,
) -> tuple[pl.DataFrame, list[str]]:
    """The raw frame of one chunk of a SQL source (columns mapped like file headers, and by
    `rules`), its `row_index` shifted by `offset` so indexes run across the whole sync."""
    kept = _source_columns(frame.columns, cursor_column, rules)
    if len(kept) < frame.width:
        frame = frame.select(kept)
    raw, mapping = frame_to_raw_frame(frame, rules)
    return raw.with_columns(pl.col(ROW_INDEX) + offset), mapping.warnings()
