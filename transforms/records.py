"""Turn typed inputs (API dicts, Polars frames) into the canonical raw frame."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

from transforms.errors import NoEmailColumnError
from transforms.fields import API_TO_COLUMN, COLUMN_TO_API, INPUT_ERROR, RAW_COLUMNS, ROW_INDEX
from transforms.headers import map_headers, to_raw_frame

_TEXT_FIELDS = tuple(api for api in API_TO_COLUMN if api not in ("customFields", "tags"))


def _cell(field: str, value: Any) -> tuple[str | None, str | None]:
    """Return (text cell, type error) for one API value."""
    if value is None:
        return None, None
    if field == "customFields":
        if isinstance(value, Mapping):
            try:
                return json.dumps(value, ensure_ascii=False, allow_nan=False), None
            except (TypeError, ValueError):
                return None, "customFields must be JSON-serialisable"
        if isinstance(value, str):
            return value, None
        return None, "customFields must be a JSON object"
    if field == "tags":
        if isinstance(value, list | tuple):
            if all(isinstance(tag, str) for tag in value):
                return json.dumps(list(value), ensure_ascii=False), None
            return None, "tags must be a list of strings"
        if isinstance(value, str):
            return value, None
        return None, "tags must be a list of strings"
    if isinstance(value, str):
        return value, None
    return None, f"{field} must be a string"


def records_to_raw_frame(records: Iterable[Mapping[str, Any]]) -> tuple[pl.DataFrame, list[str]]:
    """Build the raw frame from dicts keyed by API field names (snake_case also accepted).

    The input is Python objects, so this boundary walks them once; everything after is vectorised.
    Returns the frame and warnings naming unknown keys.
    """
    rows = list(records)
    columns: dict[str, list[str | None]] = {column: [] for column in RAW_COLUMNS}
    errors: list[str | None] = []
    unknown: set[str] = set()
    for position, row in enumerate(rows):
        if not isinstance(row, Mapping):
            for values in columns.values():
                values.append(None)
            errors.append(f"row {position} is not an object")
            continue
        first_error: str | None = None
        for column in RAW_COLUMNS:
            field = COLUMN_TO_API[column]
            value = row.get(field, row.get(column))
            cell, error = _cell(field, value)
            columns[column].append(cell)
            first_error = first_error or error
        errors.append(first_error)
        unknown.update(k for k in row if k not in API_TO_COLUMN and k not in COLUMN_TO_API)
    frame = pl.DataFrame(
        {
            ROW_INDEX: pl.int_range(len(rows), eager=True, dtype=pl.Int64),
            **columns,
            "custom_fields_extra": [None] * len(rows),
            INPUT_ERROR: errors,
        },
        schema_overrides={c: pl.String for c in (*RAW_COLUMNS, "custom_fields_extra", INPUT_ERROR)},
    )
    warnings = (
        ["ignored unknown fields: " + ", ".join(sorted(map(str, unknown)))] if unknown else []
    )
    return frame, warnings


def frame_to_raw_frame(frame: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """Map a Polars frame's columns like file headers; lists and structs become JSON cells."""
    cast: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if isinstance(dtype, pl.List | pl.Array | pl.Struct):
            wrapped = pl.struct(column.alias("v")).struct.json_encode().str.slice(5)
            column = pl.when(column.is_not_null()).then(wrapped.str.head(-1))
        cast.append(column.cast(pl.String).alias(name))
    text = frame.select(cast)
    mapping = map_headers(list(text.columns))
    if not mapping.has_email:
        raise NoEmailColumnError(list(text.columns))
    return to_raw_frame(text, mapping), mapping.warnings()
