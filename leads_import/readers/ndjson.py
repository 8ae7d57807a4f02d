"""JSON objects as lead rows: NDJSON lines split and checked, keys collected, fields extracted.

DuckDB reads the JSON (the statements are in sql/duckdb/); numpy splits the lines and Polars
picks each mapped key's value and the row's first type error, all vectorised over the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import polars as pl
import pyarrow as pa

from leads_import.duckdb_session import duckdb_cursor
from leads_import.sqlfiles import load_sql
from transforms.fields import COLUMN_TO_API, INPUT_ERROR, LINE, ROW_INDEX
from transforms.headers import HeaderMapping, to_raw_frame

JSON_COLUMN: Final = "json"

_NEWLINE: Final = 0x0A
_TYPES, _TEXT_VALUES = "types", "text_values"
_TEXT_TYPES: Final = ("VARCHAR", "NULL")
_UNTYPED_COLUMNS: Final = ("custom_fields", "tags")  # may hold JSON: any type is fine
_FIELD_BATCH_ROWS: Final = 65_536


@dataclass(frozen=True)
class JsonLinesBlock:
    """One parsed piece of NDJSON and where the next piece continues."""

    frame: pl.DataFrame  # row_index, json (null for a bad line), input_error, source_line
    consumed: int  # bytes used; the rest starts an incomplete line
    lines: int  # newlines within the consumed bytes
    rows: int  # data rows (non-blank lines) in `frame`


def parse_ndjson(
    data: bytes, *, first_line: int = 1, first_row: int = 0, final: bool = True
) -> JsonLinesBlock:
    """Split UTF-8 NDJSON into lines (blank ones skipped); lines that are not objects are errors."""
    buf = np.frombuffer(data, np.uint8)
    newlines = np.flatnonzero(buf == _NEWLINE)
    ends = newlines + 1
    if final and buf.size and (not ends.size or ends[-1] < buf.size):
        ends = np.append(ends, buf.size)
    consumed = int(ends[-1]) if ends.size else 0
    offsets = np.concatenate(([0], ends))
    large = consumed >= np.iinfo(np.int32).max
    text = pa.Array.from_buffers(
        pa.large_string() if large else pa.string(),
        ends.size,
        [None, pa.py_buffer(offsets if large else offsets.astype(np.int32)), pa.py_buffer(data)],
    )
    lines = (
        pl.DataFrame({JSON_COLUMN: pl.from_arrow(text)})
        .with_columns(
            pl.col(JSON_COLUMN).str.strip_chars(),
            (first_line + pl.int_range(pl.len(), dtype=pl.Int64)).alias("line"),
        )
        .filter(pl.col(JSON_COLUMN).str.len_bytes() > 0)
        .with_columns((first_row + pl.int_range(pl.len(), dtype=pl.Int64)).alias(ROW_INDEX))
    )
    with duckdb_cursor() as con:
        con.register("lines", lines)
        frame = con.sql(load_sql("duckdb/validate_json_lines")).pl()
    frame = frame.select(
        pl.col(ROW_INDEX).cast(pl.Int64),
        pl.col(JSON_COLUMN),
        pl.col(INPUT_ERROR).cast(pl.String),
        pl.col("line").cast(pl.Int64).alias(LINE),
    )
    count = int(np.searchsorted(newlines, consumed))
    return JsonLinesBlock(frame, consumed, count, frame.height)


def json_object_keys(objects: pl.DataFrame) -> list[str]:
    """The keys of the JSON objects in column `json`, in order of first appearance."""
    with duckdb_cursor() as con:
        con.register("objects", objects.select(ROW_INDEX, JSON_COLUMN))
        return [key for (key,) in con.sql(load_sql("duckdb/json_object_keys")).fetchall()]


def _json_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _field_exprs(mapping: HeaderMapping) -> tuple[list[str], list[pl.Expr]]:
    """The mapped keys, and per key its text (nested values as JSON text) then the row's error.

    The error is the first of: the row's own input error, a row that is not an object, a lead
    column whose value is not a string (or null). The `types` list starts with the root's type,
    so key `i` (0-based) has its type at `i + 1`; a missing key has a null type and value.
    """
    keys = list(dict.fromkeys([*mapping.columns.values(), *mapping.custom_fields.values()]))
    number = {key: position for position, key in enumerate(keys)}
    types = pl.col(_TYPES)
    values = [pl.col(_TEXT_VALUES).list.get(number[key]).alias(key) for key in keys]
    errors = [
        pl.col(INPUT_ERROR),
        pl.when(types.list.get(0) != "OBJECT").then(pl.lit("row is not a JSON object")),
        *[
            pl.when(~types.list.get(number[key] + 1).is_in(_TEXT_TYPES)).then(
                pl.lit(f"{COLUMN_TO_API[column]} must be a string")
            )
            for column, key in mapping.columns.items()
            if column not in _UNTYPED_COLUMNS
        ],
    ]
    return keys, [*values, pl.coalesce(errors).alias(INPUT_ERROR)]


def json_objects_to_raw(objects: pl.DataFrame, mapping: HeaderMapping) -> pl.DataFrame:
    """Extract the mapped fields of JSON objects (a frame of row_index, json, input_error and
    optionally source_line, which is kept)."""
    if INPUT_ERROR not in objects.columns:
        objects = objects.with_columns(pl.lit(None, pl.String).alias(INPUT_ERROR))
    keys, fields = _field_exprs(mapping)
    paths = [_json_path(key) for key in keys]
    kept = [ROW_INDEX, *([LINE] if LINE in objects.columns else [])]
    with duckdb_cursor() as con:
        con.register("objects", objects.select(*kept, JSON_COLUMN, INPUT_ERROR))
        query = con.sql(load_sql("duckdb/json_object_fields"), params=[["$", *paths], paths])
        # Batch by batch, the per-key lists of a whole chunk are never all held at once.
        batches = query.to_arrow_reader(_FIELD_BATCH_ROWS)
        frames = [_frame(batch).select(*kept, *fields) for batch in batches]
        if not frames:
            frames = [_frame(batches.schema.empty_table()).select(*kept, *fields)]
    frame = pl.concat(frames) if len(frames) > 1 else frames[0]
    if not frame.get_column(ROW_INDEX).is_sorted():  # the input was not in row order
        frame = frame.sort(ROW_INDEX)
    return to_raw_frame(frame, mapping)


def _frame(data: pa.RecordBatch | pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(data)
    assert isinstance(frame, pl.DataFrame)
    return frame
