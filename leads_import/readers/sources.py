"""Open a lead file by format and read it as canonical raw frames, chunk by chunk.

Delimited and NDJSON files stream through `chunks`; JSON files (an array of objects, or the HTTP
body's shape `{"leads": [...], "restoreSoftDeleted": …}`, read by DuckDB), Parquet and XLSX are
read as tables of CHUNK_ROWS rows. `read_source` reads a small file whole. A `ColumnRules` says
how headers map beyond the recognised spellings (`--map`, `--unknown-columns`).
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from leads_import.duckdb_session import duckdb_cursor
from leads_import.errors import EmptyInputError, NoEmailColumnError, UnreadableSourceError
from leads_import.readers.chunks import (
    DEFAULT_CHUNK_BYTES,
    ReadPosition,
    is_gzip,
    iter_delimited_chunks,
    iter_ndjson_chunks,
)
from leads_import.readers.formats import check_readable, detect_format
from leads_import.readers.ndjson import json_objects_to_raw
from leads_import.sqlfiles import load_sql
from transforms.fields import LINE, ROW_INDEX
from transforms.headers import ColumnRules, HeaderMapping, map_headers, to_raw_frame
from transforms.records import frame_as_text

_MAP_HINT: Final = "map one with --map HEADER=email"


def _require_email(
    mapping: HeaderMapping, headers: list[str], where: tuple[str, str] | None = None
) -> None:
    """NoEmailColumnError unless a header maps to email; `where`: which part of the file was
    read (a sheet) and a note on the others."""
    if not mapping.has_email:
        place, note = where or (None, "")
        hint = f"{note}; {_MAP_HINT}" if note else _MAP_HINT
        raise NoEmailColumnError(headers, where=place, hint=hint)


CHUNK_ROWS: Final = 200_000  # rows per chunk for formats read as tables (Parquet, XLSX, JSON)
_COUNT_PIECE_BYTES: Final = 16 * 1024 * 1024


@dataclass
class LeadSource:
    """An opened input: what was decided about it, and its raw frames chunk by chunk."""

    path: Path
    format: str
    chunks: Callable[[], Iterator[pl.DataFrame]] = field(repr=False)
    encoding: str | None = None
    delimiter: str | None = None
    warnings: list[str] = field(default_factory=list)
    known_rows: int | None = None  # a table format's row count, from its metadata
    # Each header as written -> the field it feeds (the report's `columns`).
    columns: dict[str, str | None] = field(default_factory=dict)
    # A JSON body's restore flag (`restoreSoftDeleted` or `restoreDeleted`); None: not given.
    restore_soft_deleted: bool | None = None
    position: ReadPosition | None = None  # how far a streamed file's read has got

    @property
    def size(self) -> int:
        """The file's size on disk, in bytes."""
        return self.path.stat().st_size

    def bytes_read(self) -> tuple[int, int] | None:
        """(bytes read, file size) of a file read as a stream, for progress; None for a table."""
        if self.position is None:
            return None
        size = self.size
        return min(self.position.done, size), size

    def raw_chunks(self) -> Iterator[pl.DataFrame]:
        """The canonical raw frames (RAW_COLUMNS, row_index, input_error), in input order."""
        return self.chunks()

    def estimate_rows(self) -> int | None:
        """About how many data rows the input holds, for progress: a table's row count, the
        lines of an uncompressed text file (a quoted newline counts one too many); None when
        only reading it all would tell."""
        if self.known_rows is not None:
            return self.known_rows
        if self.format not in ("csv", "tsv", "ndjson") or is_gzip(self.path):
            return None
        lines = 0
        with self.path.open("rb") as handle:
            while piece := handle.read(_COUNT_PIECE_BYTES):
                lines += piece.count(b"\n")
        return max(lines - (self.format != "ndjson"), 0)

    def describe(self) -> str:
        """A short human description: format, encoding, delimiter."""
        parts = [self.format]
        if self.encoding:
            parts.append(self.encoding)
        if self.delimiter:
            parts.append(f"delimiter {self.delimiter!r}")
        return ", ".join(parts)


def _numbered(frames: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """Give table chunks a global 0-based row index and, unless the reader gave one, a line:
    the row's 1-based position (a JSON array's element, a Parquet row)."""
    offset = 0
    for frame in frames:
        numbered = frame.with_row_index(ROW_INDEX, offset=offset).with_columns(
            pl.col(ROW_INDEX).cast(pl.Int64)
        )
        if LINE not in frame.columns:
            numbered = numbered.with_columns((pl.col(ROW_INDEX) + 1).alias(LINE))
        yield numbered
        offset += frame.height


def _open_delimited(
    path: Path, default_delimiter: str, chunk_bytes: int, rules: ColumnRules
) -> LeadSource:
    chunked = iter_delimited_chunks(
        path, default_delimiter=default_delimiter, chunk_bytes=chunk_bytes
    )
    if not chunked.header:
        raise EmptyInputError(f"{path.name} has no data rows")
    mapping = map_headers(chunked.header, rules)
    _require_email(mapping, chunked.source_header)
    return LeadSource(
        path,
        "tsv" if chunked.delimiter == "\t" else "csv",
        lambda: (to_raw_frame(chunk, mapping) for chunk in chunked),
        encoding=chunked.encoding,
        delimiter=chunked.delimiter,
        warnings=[*chunked.warnings, *mapping.warnings()],
        columns=mapping.assigned,
        position=chunked.position,
    )


def _open_ndjson(path: Path, chunk_bytes: int, rules: ColumnRules) -> LeadSource:
    chunked = iter_ndjson_chunks(path, chunk_bytes=chunk_bytes)
    for _ in chunked:  # a first pass collects every object's keys, so all chunks map alike
        pass
    keys = list(chunked.keys)
    mapping = map_headers(keys, rules)
    if keys:
        _require_email(mapping, keys)
    return LeadSource(
        path,
        "ndjson",
        lambda: (json_objects_to_raw(chunk, mapping) for chunk in chunked),
        encoding=chunked.encoding,
        warnings=[*chunked.warnings, *mapping.warnings()],
        columns=mapping.assigned,
        position=chunked.position,
    )


JSON_SHAPES: Final = (
    'an array of lead objects ([{"email": …}, …]) or the HTTP body\'s shape '
    '({"leads": [{"email": …}, …], "restoreSoftDeleted": true})'
)
_BODY_KEYS: Final = ("leads", "restoreSoftDeleted", "restoreDeleted")
_UTF8_BOM: Final = b"\xef\xbb\xbf"
_MIN_OBJECT_BYTES: Final = 16 * 1024 * 1024  # DuckDB's default maximum_object_size
_MAX_OBJECT_BYTES: Final = 2**32 - 1


def _duckdb_reason(exc: duckdb.Error, path: Path) -> str:
    """DuckDB's message for a person: no error class, no path, no option hints."""
    text = str(exc).split("\n", 1)[0].strip()
    text = re.sub(r"^[A-Za-z ]+ Error: ", "", text)
    return text.replace(f' in file "{path}"', "").strip()


def _unreadable(path: Path, exc: duckdb.Error) -> UnreadableSourceError:
    return UnreadableSourceError(f"cannot read {path.name}: {_duckdb_reason(exc, path)}")


def _first_byte(path: Path) -> bytes:
    """The first byte of a JSON file that is not whitespace or a byte-order mark."""
    try:
        with gzip.open(path, "rb") if is_gzip(path) else path.open("rb") as handle:
            head = handle.read(64 * 1024).removeprefix(_UTF8_BOM).lstrip()
            while not head:
                block = handle.read(1 << 20)
                if not block:
                    return b""
                head = block.lstrip()
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableSourceError(f"cannot read {path.name}: {exc}") from exc
    return head[:1]


def _json_bytes(path: Path) -> int:
    """A bound for the size of a JSON file's one value (its decompressed size), for DuckDB."""
    size = path.stat().st_size
    if is_gzip(path) and size >= 4:
        with path.open("rb") as handle:
            handle.seek(-4, 2)
            size = max(size, int.from_bytes(handle.read(4), "little"))  # gzip's ISIZE
    return min(max(size + 1024, _MIN_OBJECT_BYTES), _MAX_OBJECT_BYTES)


def _table_chunks(path: Path, statement: str, params: list[object]) -> Iterator[pl.DataFrame]:
    with duckdb_cursor() as con:
        try:
            batches = con.sql(load_sql(statement), params=params).to_arrow_reader(CHUNK_ROWS)
            yield from _numbered(pl.from_arrow(b) for b in batches)
        except duckdb.Error as exc:
            raise _unreadable(path, exc) from exc


def _fetch(path: Path, statement: str, params: list[object]) -> list[tuple[Any, ...]]:
    """The rows of a DuckDB statement over the file at `path`; its errors said for a person."""
    with duckdb_cursor() as con:
        try:
            return con.sql(load_sql(statement), params=params).fetchall()
        except duckdb.Error as exc:
            raise _unreadable(path, exc) from exc


def _json_keys(path: Path, statement: str, params: list[object]) -> list[str]:
    return [key for (key,) in _fetch(path, statement, params)]


def _restore_flag(path: Path, spelling: str, value: str | None) -> bool | None:
    if value is None or value == "null":
        return None
    if value in ("true", "false"):
        return value == "true"
    raise UnreadableSourceError(f"cannot read {path.name}: {spelling} must be true or false")


@dataclass(frozen=True)
class _JsonBody:
    restore_soft_deleted: bool | None
    ignored_keys: list[str]


def _json_body(path: Path, size: int) -> _JsonBody:
    """Check that a JSON file not starting with `[` holds the HTTP body's shape."""
    values = _fetch(path, "duckdb/json_file_shape", [str(path), size])
    if not values:
        raise EmptyInputError(f"{path.name} has no data rows")
    if len(values) > 1:
        raise UnreadableSourceError(
            f"cannot read {path.name}: it holds {len(values)} JSON values one after another, not "
            f"one; a JSON file holds {JSON_SHAPES}. A file of one object per line is NDJSON: name "
            "it .ndjson or pass --format ndjson"
        )
    ((root, keys, leads, restore, restore_deleted),) = values
    if root != "OBJECT" or leads != "ARRAY":
        if root != "OBJECT":
            found = f"a JSON {str(root).lower()}"
        elif leads is None:
            shown = ", ".join(repr(key) for key in keys[:20]) or "none"
            found = f"an object without `leads` (its keys: {shown})"
        else:
            found = f"an object whose `leads` is a JSON {str(leads).lower()}"
        raise UnreadableSourceError(
            f"cannot read {path.name}: a JSON file holds {JSON_SHAPES}; this one holds {found}"
        )
    given = _restore_flag(path, "restoreSoftDeleted", restore)
    spelled = _restore_flag(path, "restoreDeleted", restore_deleted)
    return _JsonBody(
        given if given is not None else spelled, [k for k in keys if k not in _BODY_KEYS]
    )


def _open_json(path: Path, rules: ColumnRules) -> LeadSource:
    """A JSON array of objects, or an object in the HTTP body's shape."""
    if _first_byte(path) == b"[":
        statement, params, body = "duckdb/json_array_objects", [str(path)], None
        keys = _json_keys(path, "duckdb/json_array_keys", params)
    else:
        size = _json_bytes(path)
        body = _json_body(path, size)
        statement, params = "duckdb/json_body_objects", [str(path), size]
        keys = _json_keys(path, "duckdb/json_body_keys", params)
    mapping = map_headers(keys, rules)
    if keys:
        _require_email(mapping, keys)
    warnings = mapping.warnings()
    if body is not None and body.ignored_keys:
        ignored = ", ".join(body.ignored_keys)
        warnings.append(
            f"ignored keys of the JSON body (a file gives leads and restore only): {ignored}"
        )
    return LeadSource(
        path,
        "json",
        lambda: (
            json_objects_to_raw(chunk, mapping) for chunk in _table_chunks(path, statement, params)
        ),
        warnings=warnings,
        columns=mapping.assigned,
        restore_soft_deleted=body.restore_soft_deleted if body is not None else None,
    )


def _open_table(
    path: Path,
    fmt: str,
    tables: Callable[[], Iterator[pl.DataFrame]],
    columns: list[str],
    rules: ColumnRules,
    where: Callable[[], tuple[str, str]] | None = None,
) -> LeadSource:
    """Parquet or XLSX: typed columns read as text, mapped like file headers (`where`: names
    the sheet in an error)."""
    mapping = map_headers(columns, rules)
    _require_email(mapping, columns, where() if where and not mapping.has_email else None)
    return LeadSource(
        path,
        fmt,
        lambda: (to_raw_frame(frame_as_text(table), mapping) for table in _numbered(tables())),
        warnings=mapping.warnings(),
        columns=mapping.assigned,
    )


def _open_parquet(path: Path, rules: ColumnRules) -> LeadSource:
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise UnreadableSourceError(f"cannot read {path.name}: {exc}") from exc

    def tables() -> Iterator[pl.DataFrame]:
        for batch in parquet.iter_batches(batch_size=CHUNK_ROWS):
            yield pl.from_arrow(batch)  # type: ignore[misc]

    opened = _open_table(path, "parquet", tables, parquet.schema_arrow.names, rules)
    opened.known_rows = parquet.metadata.num_rows
    return opened


def _sheet_names(path: Path) -> list[str]:
    import fastexcel  # polars' calamine engine

    try:
        return list(fastexcel.read_excel(path).sheet_names)
    except Exception:  # fastexcel raises its own types for bad files
        return []


def _quoted(names: list[str]) -> str:
    return ", ".join(repr(name) for name in names) or "none"


def _open_xlsx(path: Path, sheet: str | None, rules: ColumnRules) -> LeadSource:
    try:
        table = pl.read_excel(
            path,
            sheet_name=sheet,
            sheet_id=None if sheet else 1,
            engine="calamine",
            infer_schema_length=0,
            drop_empty_rows=False,
        )
    except Exception as exc:  # fastexcel raises its own types for bad files and sheet names
        names = _sheet_names(path)
        if sheet is not None and names and sheet not in names:
            raise UnreadableSourceError(
                f"cannot read {path.name}: it has no sheet {sheet!r}; its sheets: {_quoted(names)}"
            ) from None
        raise UnreadableSourceError(f"cannot read {path.name}: {exc}") from exc
    columns = list(table.columns)
    # The row number Excel shows: the header is the sheet's first non-empty row (row 1 unless
    # rows above it are empty), blank rows are counted, then skipped like blank CSV lines.
    table = table.with_columns((pl.int_range(pl.len(), dtype=pl.Int64) + 2).alias(LINE)).filter(
        pl.any_horizontal(pl.col(columns).is_not_null()) if columns else pl.lit(False)
    )

    def where() -> tuple[str, str]:
        names = _sheet_names(path)
        named = sheet if sheet is not None else (names[0] if names else "1")
        place = f"sheet {named!r}" + ("" if sheet is not None else " (the first)")
        others = [name for name in names if name != named]
        return place, (f"the other sheets: {_quoted(others)} (--sheet NAME)" if others else "")

    opened = _open_table(
        path,
        "xlsx",
        lambda: iter(table.iter_slices(CHUNK_ROWS)),
        columns,
        rules,
        where,
    )
    opened.known_rows = table.height
    return opened


def open_source(
    path: str | Path,
    fmt: str | None = None,
    *,
    sheet: str | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    columns: ColumnRules | None = None,
) -> LeadSource:
    """Open a file for chunked reading; request-level problems raise ImportRequestError.
    `columns`: explicit header mappings and whether unmapped columns are kept."""
    source = Path(path)
    check_readable(source)
    rules = columns or ColumnRules()
    kind = detect_format(source, fmt)
    if kind in ("csv", "tsv"):
        return _open_delimited(source, "\t" if kind == "tsv" else ",", chunk_bytes, rules)
    if kind == "ndjson":
        return _open_ndjson(source, chunk_bytes, rules)
    if kind == "json":
        return _open_json(source, rules)
    if kind == "parquet":
        return _open_parquet(source, rules)
    return _open_xlsx(source, sheet, rules)


def read_source(
    path: str | Path,
    fmt: str | None = None,
    *,
    sheet: str | None = None,
    columns: ColumnRules | None = None,
) -> tuple[pl.DataFrame, list[str]]:
    """Read a whole (small) file into one raw frame, with the reader's warnings."""
    opened = open_source(path, fmt, sheet=sheet, columns=columns)
    chunks = list(opened.raw_chunks())
    raw = pl.concat(chunks) if chunks else None
    if raw is None or raw.height == 0:
        raise EmptyInputError(f"{Path(path).name} has no data rows")
    return raw, opened.warnings
