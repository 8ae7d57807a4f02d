"""Read a source file into the canonical raw frame (one text row per data row)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import duckdb
import polars as pl

from transforms.errors import EmptyInputError, NoEmailColumnError, UnreadableSourceError
from transforms.fields import COLUMN_TO_API, INPUT_ERROR
from transforms.headers import HeaderMapping, map_headers, to_raw_frame

FORMATS_BY_SUFFIX: Final[dict[str, str]] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}
FORMATS: Final = ("csv", "tsv", "json", "ndjson")


def detect_format(path: Path, override: str | None = None) -> str:
    """The reader for a path: `--format` when given, else the file extension."""
    if override:
        if override not in FORMATS:
            raise UnreadableSourceError(f"unsupported format {override!r} (use one of {FORMATS})")
        return override
    fmt = FORMATS_BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        raise UnreadableSourceError(
            f"cannot tell the format of {path.name}: use a .csv, .tsv, .json, .ndjson or .jsonl "
            "file, or pass --format"
        )
    return fmt


def _require_email(mapping: HeaderMapping, headers: list[str]) -> None:
    if not mapping.has_email:
        raise NoEmailColumnError(headers)


def read_delimited(path: Path, separator: str) -> tuple[pl.DataFrame, list[str]]:
    """CSV/TSV with a header row; every cell is read as text."""
    try:
        table = pl.read_csv(path, separator=separator, infer_schema=False, encoding="utf8-lossy")
    except pl.exceptions.NoDataError as exc:
        raise EmptyInputError(f"{path.name} has no data rows") from exc
    except (pl.exceptions.ComputeError, OSError) as exc:
        raise UnreadableSourceError(f"cannot read {path.name}: {exc}") from exc
    mapping = map_headers(table.columns)
    _require_email(mapping, table.columns)
    return to_raw_frame(table, mapping), mapping.warnings()


def _json_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _object_fields_query(mapping: HeaderMapping) -> tuple[str, list[str]]:
    """SELECT every mapped key as text (nested values as JSON text) plus the first type error."""
    used = list(dict.fromkeys([*mapping.columns.values(), *mapping.custom_fields.values()]))
    selects, params = ["row_index"], []
    for key in used:
        selects.append(
            "CASE WHEN json_type(json, ?) IN ('ARRAY', 'OBJECT') "
            "THEN json_extract(json, ?)::VARCHAR ELSE json_extract_string(json, ?) "
            f"END AS {_quote(key)}"
        )
        params += [_json_path(key)] * 3
    type_errors = ["CASE WHEN json_type(json) <> 'OBJECT' THEN 'row is not a JSON object' END"]
    for column, key in mapping.columns.items():
        if column in ("custom_fields", "tags"):
            continue
        type_errors.append(
            "CASE WHEN json_type(json, ?) NOT IN ('VARCHAR', 'NULL') "
            f"THEN '{COLUMN_TO_API[column]} must be a string' END"
        )
        params.append(_json_path(key))
    selects.append(f"coalesce({', '.join(type_errors)}) AS {INPUT_ERROR}")
    return f"SELECT {', '.join(selects)} FROM objects ORDER BY row_index", params


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def read_json_objects(path: Path, fmt: str) -> tuple[pl.DataFrame, list[str]]:
    """A JSON array of objects or NDJSON, parsed by DuckDB; nested values stay JSON text."""
    json_format = "array" if fmt == "json" else "newline_delimited"
    with duckdb.connect() as con:
        try:
            con.execute(
                "CREATE TEMP TABLE objects AS SELECT row_number() OVER () - 1 AS row_index, json "
                "FROM read_json_objects(?, format = ?)",
                [str(path), json_format],
            )
        except duckdb.Error as exc:
            raise UnreadableSourceError(f"cannot read {path.name}: {exc}") from exc
        keys = [
            key
            for (key,) in con.execute(
                "SELECT DISTINCT unnest(json_keys(json)) FROM objects "
                "WHERE json_type(json) = 'OBJECT'"
            ).fetchall()
        ]
        mapping = map_headers(keys)
        _require_email(mapping, keys)
        query, params = _object_fields_query(mapping)
        table = con.sql(query, params=params).pl()
    return to_raw_frame(table, mapping), mapping.warnings()


def read_source(path: str | Path, fmt: str | None = None) -> tuple[pl.DataFrame, list[str]]:
    """Read a file into the raw frame; request-level problems raise ImportRequestError."""
    source = Path(path)
    if not source.is_file():
        raise UnreadableSourceError(f"cannot read {source}: no such file")
    kind = detect_format(source, fmt)
    if kind in ("csv", "tsv"):
        raw, warnings = read_delimited(source, "\t" if kind == "tsv" else ",")
    else:
        raw, warnings = read_json_objects(source, kind)
    if raw.height == 0:
        raise EmptyInputError(f"{source.name} has no data rows")
    return raw, warnings
