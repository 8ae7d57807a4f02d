"""Turn typed inputs (API dicts, Polars frames) into the canonical raw frame."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from itertools import chain, repeat
from typing import Any, NamedTuple

import orjson
import polars as pl
import pyarrow as pa

from transforms.fields import (
    API_TO_COLUMN,
    COLUMN_TO_API,
    INPUT_ERROR,
    RAW_COLUMNS,
    ROW_INDEX,
    TYPED_TAGS,
)
from transforms.headers import ColumnRules, HeaderMapping, map_headers, to_raw_frame
from transforms.normalise import MAX_JSON_DEPTH

_TO_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
# Values orjson encodes as the standard library does (floats are left to it: NaN must fail;
# so are subclasses, datetimes and the other types only orjson knows).
_PLAIN_SCALARS = frozenset({str, int, bool, type(None)})
_STR = frozenset({str})
_STR_OR_NONE = frozenset({str, type(None)})
_LIST_OR_NONE = frozenset({list, type(None)})
_DICT_OR_NONE = frozenset({dict, type(None)})
_DICT = frozenset({dict})


def _json_text(value: dict[Any, Any] | list[Any]) -> str:
    """Compact JSON text of a dict or list: orjson (ten times faster) when the value is flat
    and plain, the standard library otherwise."""
    if type(value) is dict:
        plain = _STR.issuperset(map(type, value)) and _PLAIN_SCALARS.issuperset(
            map(type, value.values())
        )
    else:
        plain = _PLAIN_SCALARS.issuperset(map(type, value))
    if plain:
        try:
            return orjson.dumps(value).decode()
        except orjson.JSONEncodeError:
            pass  # an integer beyond 64 bits or a lone surrogate: the standard library says
    return _TO_JSON(value)


def _flat_plain(present: list[dict[Any, Any]] | list[list[Any]]) -> bool:
    """Whether every dict has text keys and plain values (every list plain items), checked a
    column at a time at C speed."""
    if present and type(present[0]) is dict:
        keys = chain.from_iterable(present)
        values = chain.from_iterable(map(dict.values, present))  # type: ignore[arg-type]
        return _STR.issuperset(map(type, keys)) and _PLAIN_SCALARS.issuperset(map(type, values))
    return _PLAIN_SCALARS.issuperset(map(type, chain.from_iterable(present)))


def _json_cells(values: list[Any]) -> list[str | None]:
    """The JSON text of each dict or list (None stays None): one orjson pass when the whole
    column is flat and plain, else value by value."""
    if _flat_plain([v for v in values if v is not None]):
        dumps = orjson.dumps
        try:
            return [None if v is None else dumps(v).decode() for v in values]
        except orjson.JSONEncodeError:
            pass  # an integer beyond 64 bits or a lone surrogate: value by value
    return [None if v is None else _json_text(v) for v in values]


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
            except RecursionError:  # nested deeper than the encoder's recursion limit
                return None, f"customFields nested more than {MAX_JSON_DEPTH} levels deep"
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


class _Cells(NamedTuple):
    """One field's text cells, type errors, and whether every value had its JSON type."""

    cells: list[str | None]
    errors: list[str | None]
    typed: bool = False


def _column_cells(field: str, values: list[Any]) -> _Cells:
    """Text cells and type errors for one field's values (plain strings, dicts of customFields
    and lists of tags take the fast path)."""
    no_errors: list[str | None] = [None] * len(values)
    if field not in ("customFields", "tags") and _STR_OR_NONE.issuperset(map(type, values)):
        return _Cells(values, no_errors)
    if (
        field == "tags"
        and _LIST_OR_NONE.issuperset(map(type, values))
        and _STR.issuperset(map(type, chain.from_iterable(filter(None, values))))
    ):
        return _Cells(_json_cells(values), no_errors, True)
    if field == "customFields" and _DICT_OR_NONE.issuperset(map(type, values)):
        try:
            return _Cells(_json_cells(values), no_errors, True)
        except (TypeError, ValueError, RecursionError):
            pass  # the cell by cell path names the rows
    pairs = [_cell(field, value) for value in values]
    return _Cells([cell for cell, _ in pairs], [error for _, error in pairs])


def _tag_lists(values: list[list[str] | None]) -> pl.Series | None:
    """The tags as a list column (through Arrow: Polars' own list constructor is 20x slower);
    None when a tag is not valid Unicode, which the JSON pass then reports."""
    try:
        tags = pa.array(values, type=pa.list_(pa.string()))
    except (pa.ArrowException, UnicodeError):
        return None
    return pl.Series(TYPED_TAGS, tags)


def _text_frame(
    columns: dict[str, list[str | None]], errors: list[list[str | None]]
) -> pl.DataFrame:
    """The raw frame of the text cells, with each row's first type error."""
    first_errors = (
        [next((e for e in row_errors if e), None) for row_errors in zip(*errors, strict=True)]
        if any(map(any, errors))
        else errors[0]
    )
    height = len(first_errors)
    return pl.DataFrame(
        {
            ROW_INDEX: pl.int_range(height, eager=True, dtype=pl.Int64),
            **columns,
            "custom_fields_extra": [None] * height,
            INPUT_ERROR: first_errors,
        },
        schema_overrides={c: pl.String for c in (*RAW_COLUMNS, "custom_fields_extra", INPUT_ERROR)},
    )


def _is_encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _without_lone_surrogates(
    columns: dict[str, list[str | None]], errors: list[list[str | None]]
) -> tuple[dict[str, list[str | None]], list[list[str | None]]]:
    """Cells holding a lone surrogate (a str no UTF-8 can carry) become null and row errors."""
    cleaned: dict[str, list[str | None]] = {}
    for column, cells in columns.items():
        bad = [cell is not None and not _is_encodable(cell) for cell in cells]
        if not any(bad):
            cleaned[column] = cells
            continue
        reason = f"{COLUMN_TO_API[column]} is not valid Unicode (a lone surrogate)"
        cleaned[column] = [None if b else cell for cell, b in zip(cells, bad, strict=True)]
        errors = [*errors, [reason if b else None for b in bad]]
    return cleaned, errors


def records_to_raw_frame(records: Iterable[Mapping[str, Any]]) -> tuple[pl.DataFrame, list[str]]:
    """Build the raw frame from dicts keyed by API field names (snake_case also accepted).

    The input is Python objects, so this boundary walks them once per field; everything after
    is vectorised. Returns the frame and warnings naming unknown keys.
    """
    rows: list[Mapping[str, Any]] = list(records)
    not_objects: list[str | None] = [None] * len(rows)
    if not _DICT.issuperset(map(type, rows)):  # else every row is a plain dict (JSON bodies)
        for position, row in enumerate(rows):
            if not isinstance(row, Mapping):
                rows[position] = {}
                not_objects[position] = f"row {position} is not an object"
    keys: set[Any] = set().union(*rows)
    get = dict.get if _DICT.issuperset(map(type, rows)) else Mapping.get
    columns: dict[str, list[str | None]] = {}
    errors: list[list[str | None]] = [not_objects]
    json_typed = True  # every customFields value a dict, every tags value a list of strings
    tag_lists: list[Any] = [None] * len(rows)
    for column in RAW_COLUMNS:
        field = COLUMN_TO_API[column]
        if field in keys and column in keys and field != column:
            values = [row.get(field, row.get(column)) for row in rows]
        elif field in keys or column in keys:
            key = field if field in keys else column
            values = list(map(get, rows, repeat(key)))
        else:
            columns[column] = [None] * len(rows)
            continue
        cells = _column_cells(field, values)
        columns[column] = cells.cells
        errors.append(cells.errors)
        if field in ("customFields", "tags"):
            json_typed = json_typed and cells.typed
        if field == "tags":
            tag_lists = values
    try:
        frame = _text_frame(columns, errors)
    except UnicodeEncodeError:
        frame = _text_frame(*_without_lone_surrogates(columns, errors))
    if json_typed and (typed_tags := _tag_lists(tag_lists)) is not None:
        frame = frame.with_columns(typed_tags)
    return frame, _unknown_keys_warnings(keys)


def _unknown_keys_warnings(keys: set[Any]) -> list[str]:
    unknown = {k for k in keys if k not in API_TO_COLUMN and k not in COLUMN_TO_API}
    return ["ignored unknown fields: " + ", ".join(sorted(map(str, unknown)))] if unknown else []


def records_warnings(records: list[Any]) -> list[str]:
    """The warnings `records_to_raw_frame` gives for these records (their unknown keys)."""
    return _unknown_keys_warnings(set().union(*(r for r in records if isinstance(r, Mapping))))


def record_emails(records: list[Any]) -> pl.Series:
    """The email of each record given as text (others, and text no UTF-8 can carry, null): what
    a lookup can start from before the raw frame is built."""
    values = [r.get("email") if isinstance(r, Mapping) else None for r in records]
    texts = [v if type(v) is str else None for v in values]
    try:
        return pl.Series("email", texts, dtype=pl.String)
    except UnicodeEncodeError:
        encodable = [None if v is None or not _is_encodable(v) else v for v in texts]
        return pl.Series("email", encodable, dtype=pl.String)


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


def frame_to_raw_frame(
    frame: pl.DataFrame, rules: ColumnRules | None = None
) -> tuple[pl.DataFrame, HeaderMapping]:
    """Map a Polars frame's columns like file headers; lists and structs become JSON cells.
    The caller decides what a mapping without an email column means."""
    mapping = map_headers(list(frame.columns), rules)
    return to_raw_frame(frame_as_text(frame), mapping), mapping
