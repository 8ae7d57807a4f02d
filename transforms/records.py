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
_TO_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def _cell(field: str, value: Any) -> tuple[str | None, str | None]:
    """Return (text cell, type error) for one API value."""
    if value is None:
        return None, None
    if field == "customFields":
        if isinstance(value, Mapping):
            try:
                return _TO_JSON(value), None
            except (TypeError, ValueError):
                return None, "customFields must be JSON-serialisable"
        if isinstance(value, str):
            return value, None
        return None, "customFields must be a JSON object"
    if field == "tags":
        if isinstance(value, list | tuple):
            if all(isinstance(tag, str) for tag in value):
                return _TO_JSON(list(value)), None
            return None, "tags must be a list of strings"
        if isinstance(value, str):
            return value, None
        return None, "tags must be a list of strings"
    if isinstance(value, str):
        return value, None
    return None, f"{field} must be a string"


def _column_cells(field: str, values: list[Any]) -> tuple[list[str | None], list[str | None]]:
    """Text cells and type errors for one field's values (plain strings take the fast path)."""
    no_errors: list[str | None] = [None] * len(values)
    if field not in ("customFields", "tags") and all(
        value is None or type(value) is str for value in values
    ):
        return values, no_errors
    if field == "tags" and all(
        value is None or (type(value) is list and all(type(tag) is str for tag in value))
        for value in values
    ):
        return [None if value is None else _TO_JSON(value) for value in values], no_errors
    if field == "customFields" and all(v is None or type(v) is dict for v in values):
        try:
            return [None if v is None else _TO_JSON(v) for v in values], no_errors
        except (TypeError, ValueError):
            pass  # the cell by cell path names the rows
    pairs = [_cell(field, value) for value in values]
    return [cell for cell, _ in pairs], [error for _, error in pairs]


def records_to_raw_frame(records: Iterable[Mapping[str, Any]]) -> tuple[pl.DataFrame, list[str]]:
    """Build the raw frame from dicts keyed by API field names (snake_case also accepted).

    The input is Python objects, so this boundary walks them once per field; everything after
    is vectorised. Returns the frame and warnings naming unknown keys.
    """
    rows: list[Mapping[str, Any]] = []
    not_objects: list[str | None] = []
    for position, row in enumerate(records):
        is_object = isinstance(row, Mapping)
        rows.append(row if is_object else {})
        not_objects.append(None if is_object else f"row {position} is not an object")
    keys: set[Any] = set().union(*rows)
    columns: dict[str, list[str | None]] = {}
    errors: list[list[str | None]] = [not_objects]
    for column in RAW_COLUMNS:
        field = COLUMN_TO_API[column]
        if field in keys and column in keys and field != column:
            values = [row.get(field, row.get(column)) for row in rows]
        elif field in keys or column in keys:
            key = field if field in keys else column
            values = [row.get(key) for row in rows]
        else:
            columns[column] = [None] * len(rows)
            continue
        columns[column], column_errors = _column_cells(field, values)
        errors.append(column_errors)
    first_errors = [
        next((e for e in row_errors if e), None) for row_errors in zip(*errors, strict=True)
    ]
    frame = pl.DataFrame(
        {
            ROW_INDEX: pl.int_range(len(rows), eager=True, dtype=pl.Int64),
            **columns,
            "custom_fields_extra": [None] * len(rows),
            INPUT_ERROR: first_errors if len(errors) > 1 else not_objects,
        },
        schema_overrides={c: pl.String for c in (*RAW_COLUMNS, "custom_fields_extra", INPUT_ERROR)},
    )
    unknown = {k for k in keys if k not in API_TO_COLUMN and k not in COLUMN_TO_API}
    warnings = (
        ["ignored unknown fields: " + ", ".join(sorted(map(str, unknown)))] if unknown else []
    )
    return frame, warnings


def frame_as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as text, lists and structs as JSON text (typed tables read like files)."""
    cast: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if isinstance(dtype, pl.List | pl.Array | pl.Struct):
            wrapped = pl.struct(column.alias("v")).struct.json_encode().str.slice(5)
            column = pl.when(column.is_not_null()).then(wrapped.str.head(-1))
        cast.append(column.cast(pl.String).alias(name))
    return frame.select(cast)


def frame_to_raw_frame(frame: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """Map a Polars frame's columns like file headers; lists and structs become JSON cells."""
    mapping = map_headers(list(frame.columns))
    if not mapping.has_email:
        raise NoEmailColumnError(list(frame.columns))
    return to_raw_frame(frame_as_text(frame), mapping), mapping.warnings()
