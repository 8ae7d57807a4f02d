"""Open a lead file by format and read it as canonical raw frames, chunk by chunk.

Delimited and NDJSON files stream through `chunks`; JSON arrays (read by DuckDB), Parquet and
XLSX are read as tables of CHUNK_ROWS rows. `read_source` reads a small file whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from leads_import.duckdb_session import duckdb_cursor
from leads_import.errors import EmptyInputError, NoEmailColumnError, UnreadableSourceError
from leads_import.readers.chunks import (
    DEFAULT_CHUNK_BYTES,
    is_gzip,
    iter_delimited_chunks,
    iter_ndjson_chunks,
)
from leads_import.readers.formats import detect_format
from leads_import.readers.ndjson import json_objects_to_raw
from leads_import.sqlfiles import load_sql
from transforms.fields import LINE, ROW_INDEX
from transforms.headers import HeaderMapping, map_headers, to_raw_frame
from transforms.records import frame_as_text


def _require_email(mapping: HeaderMapping, headers: list[str]) -> None:
    if not mapping.has_email:
        raise NoEmailColumnError(headers)


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


def _open_delimited(path: Path, default_delimiter: str, chunk_bytes: int) -> LeadSource:
    chunked = iter_delimited_chunks(
        path, default_delimiter=default_delimiter, chunk_bytes=chunk_bytes
    )
    if not chunked.header:
        raise EmptyInputError(f"{path.name} has no data rows")
    mapping = map_headers(chunked.header)
    _require_email(mapping, chunked.source_header)
    return LeadSource(
        path,
        "tsv" if chunked.delimiter == "\t" else "csv",
        lambda: (to_raw_frame(chunk, mapping) for chunk in chunked),
        encoding=chunked.encoding,
        delimiter=chunked.delimiter,
        warnings=[*chunked.warnings, *mapping.warnings()],
    )


def _open_ndjson(path: Path, chunk_bytes: int) -> LeadSource:
    chunked = iter_ndjson_chunks(path, chunk_bytes=chunk_bytes)
    for _ in chunked:  # a first pass collects every object's keys, so all chunks map alike
        pass
    keys = list(chunked.keys)
    mapping = map_headers(keys)
    if keys:
        _require_email(mapping, keys)
    return LeadSource(
        path,
        "ndjson",
        lambda: (json_objects_to_raw(chunk, mapping) for chunk in chunked),
        encoding=chunked.encoding,
        warnings=[*chunked.warnings, *mapping.warnings()],
    )


def _json_array_chunks(path: Path) -> Iterator[pl.DataFrame]:
    with duckdb_cursor() as con:
        try:
            batches = con.sql(
                load_sql("duckdb/json_array_objects"), params=[str(path)]
            ).to_arrow_reader(CHUNK_ROWS)
            yield from _numbered(pl.from_arrow(b) for b in batches)
        except duckdb.Error as exc:
            raise UnreadableSourceError(f"cannot read {path.name}: {exc}") from exc


def _open_json_array(path: Path) -> LeadSource:
    with duckdb_cursor() as con:
        try:
            keys = [
                key
                for (key,) in con.sql(
                    load_sql("duckdb/json_array_keys"), params=[str(path)]
                ).fetchall()
            ]
        except duckdb.Error as exc:
            raise UnreadableSourceError(f"cannot read {path.name}: {exc}") from exc
    mapping = map_headers(keys)
    if keys:
        _require_email(mapping, keys)
    return LeadSource(
        path,
        "json",
        lambda: (json_objects_to_raw(chunk, mapping) for chunk in _json_array_chunks(path)),
        warnings=mapping.warnings(),
    )


def _open_table(
    path: Path, fmt: str, tables: Callable[[], Iterator[pl.DataFrame]], columns: list[str]
) -> LeadSource:
    """Parquet or XLSX: typed columns read as text, mapped like file headers."""
    mapping = map_headers(columns)
    _require_email(mapping, columns)
    return LeadSource(
        path,
        fmt,
        lambda: (to_raw_frame(frame_as_text(table), mapping) for table in _numbered(tables())),
        warnings=mapping.warnings(),
    )


def _open_parquet(path: Path) -> LeadSource:
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise UnreadableSourceError(f"cannot read {path.name}: {exc}") from exc

    def tables() -> Iterator[pl.DataFrame]:
        for batch in parquet.iter_batches(batch_size=CHUNK_ROWS):
            yield pl.from_arrow(batch)  # type: ignore[misc]

    opened = _open_table(path, "parquet", tables, parquet.schema_arrow.names)
    opened.known_rows = parquet.metadata.num_rows
    return opened


def _open_xlsx(path: Path, sheet: str | None) -> LeadSource:
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
        raise UnreadableSourceError(f"cannot read {path.name}: {exc}") from exc
    columns = list(table.columns)
    # The row number Excel shows: the header is the sheet's first non-empty row (row 1 unless
    # rows above it are empty), blank rows are counted, then skipped like blank CSV lines.
    table = table.with_columns((pl.int_range(pl.len(), dtype=pl.Int64) + 2).alias(LINE)).filter(
        pl.any_horizontal(pl.col(columns).is_not_null()) if columns else pl.lit(False)
    )
    opened = _open_table(path, "xlsx", lambda: iter(table.iter_slices(CHUNK_ROWS)), columns)
    opened.known_rows = table.height
    return opened


def open_source(
    path: str | Path,
    fmt: str | None = None,
    *,
    sheet: str | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> LeadSource:
    """Open a file for chunked reading; request-level problems raise ImportRequestError."""
    source = Path(path)
    if not source.is_file():
        raise UnreadableSourceError(f"cannot read {source}: no such file")
    kind = detect_format(source, fmt)
    if kind in ("csv", "tsv"):
        return _open_delimited(source, "\t" if kind == "tsv" else ",", chunk_bytes)
    if kind == "ndjson":
        return _open_ndjson(source, chunk_bytes)
    if kind == "json":
        return _open_json_array(source)
    if kind == "parquet":
        return _open_parquet(source)
    return _open_xlsx(source, sheet)


def read_source(
    path: str | Path, fmt: str | None = None, *, sheet: str | None = None
) -> tuple[pl.DataFrame, list[str]]:
    """Read a whole (small) file into one raw frame, with the reader's warnings."""
    opened = open_source(path, fmt, sheet=sheet)
    raw = pl.concat(list(opened.raw_chunks()))
    if raw.height == 0:
        raise EmptyInputError(f"{Path(path).name} has no data rows")
    return raw, opened.warnings
