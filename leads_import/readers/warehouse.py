"""Read a SQL source (any SQLAlchemy URL) incrementally, a chunk of rows at a time.

The user's query is wrapped so that the source itself filters and orders by the cursor column:
`SELECT * FROM (<query>) AS sync_source WHERE <cursor> > :watermark ORDER BY <cursor>`, the
watermark a bound parameter. Rows are streamed (a server-side cursor where the driver has one)
and turned into Polars frames of at most `chunk_rows` rows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy.exc
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url

from leads_import.errors import NoEmailColumnError, UnreadableSourceError
from leads_import.readers.csv_parser import frame_columns
from leads_import.transient import is_transient
from transforms.headers import ColumnRules, map_headers
from transforms.watermark import CursorValue

SOURCE_ALIAS = "sync_source"
_TRAILING_SEMICOLONS = re.compile(r"[\s;]+$")


@dataclass(frozen=True)
class SourceChunk:
    """Rows of the source in its order: a frame, the frame's cursor column, the last cursor."""

    frame: pl.DataFrame
    cursor_key: str | None  # the cursor's column in `frame` (None without a cursor)
    last_cursor: CursorValue | None  # the cursor value of the chunk's last row


def sync_statement(query: str, quoted_cursor: str | None, *, has_watermark: bool) -> str:
    """The SQL text to run: the query as is without a cursor; else wrapped, rows with a NULL
    cursor left out, beyond `:watermark` when there is one, in cursor order.

    Colons of the query are escaped, so that only `:watermark` is a bind parameter.
    """
    inner = _TRAILING_SEMICOLONS.sub("", query.strip()).replace(":", "\\:")
    if quoted_cursor is None:
        return inner
    quoted_cursor = quoted_cursor.replace(":", "\\:")
    condition = f"{quoted_cursor} > :watermark" if has_watermark else f"{quoted_cursor} IS NOT NULL"
    return (
        f"SELECT * FROM (\n{inner}\n) AS {SOURCE_ALIAS}\n"
        f"WHERE {condition}\nORDER BY {quoted_cursor}"
    )


def safe_url(url: str) -> str:
    """The URL with its password hidden (for reports and messages)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: show nothing of it
        return "<unparsable url>"


def _json_as_text(dbapi_connection: Any, _record: Any) -> None:
    """psycopg2: leave json/jsonb values as text (a JSON cell), not parsed into dicts."""
    import psycopg2.extras

    psycopg2.extras.register_default_json(dbapi_connection, loads=str)
    psycopg2.extras.register_default_jsonb(dbapi_connection, loads=str)


def _engine(name: str, url: str) -> Engine:
    try:
        parsed = make_url(url)
        engine = create_engine(parsed)
    except (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError, ValueError) as error:
        raise UnreadableSourceError(
            f"sync {name!r}: the source URL {safe_url(url)} is not usable: {error}"
        ) from None
    except ImportError as error:  # the dialect's driver is not installed
        raise UnreadableSourceError(
            f"sync {name!r}: no driver for the source URL {safe_url(url)}: {error}"
        ) from None
    database = parsed.database or ""
    if (
        engine.dialect.name == "duckdb"
        and database not in ("", ":memory:")
        and not database.startswith("md:")
        and not Path(database).expanduser().exists()
    ):
        engine.dispose()
        raise UnreadableSourceError(f"sync {name!r}: no DuckDB file at {database}")
    if engine.dialect.driver == "psycopg2":
        event.listen(engine, "connect", _json_as_text)
    return engine


def check_source_url(name: str, url: str) -> None:
    """Raise UnreadableSourceError when the URL cannot name a source (unparsable, no driver, a
    missing DuckDB file) without connecting to it."""
    _engine(name, url).dispose()


def _message(error: BaseException) -> str:
    """The driver's own message, first line (without SQLAlchemy's SQL echo and links)."""
    original = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(original).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(original).__name__


def _cursor_key(keys: Sequence[str], cursor_column: str) -> int:
    """Position of the cursor among the result's columns (exact name, else any letter case)."""
    if cursor_column in keys:
        return list(keys).index(cursor_column)
    folded = [key.casefold() for key in keys]
    return folded.index(cursor_column.casefold())


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def rows_to_frame(rows: Sequence[Any], names: list[str]) -> pl.DataFrame:
    """A frame of result rows; a column whose values Polars cannot type (ints and strings,
    objects and lists mixed) is read as text."""
    try:
        return pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)
    except (pl.exceptions.PolarsError, TypeError, ValueError, OverflowError):
        pass
    columns: list[pl.Series] = []
    for name, values in zip(names, zip(*rows, strict=True), strict=True):
        try:
            series = pl.Series(name, values, strict=False)
        except (pl.exceptions.PolarsError, TypeError, ValueError, OverflowError):
            series = None
        if series is None or series.dtype == pl.Object:
            series = pl.Series(name, [_as_text(v) for v in values], dtype=pl.String)
        columns.append(series)
    return pl.DataFrame(columns)


def _probe_columns(engine: Engine, query: str) -> list[str] | None:
    """The columns of the query (no rows fetched), or None when the query itself fails."""
    probe = f"SELECT * FROM (\n{sync_statement(query, None, has_watermark=False)}\n) AS "
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(probe + f"{SOURCE_ALIAS} WHERE 1 = 0")).keys())
    except sqlalchemy.exc.SQLAlchemyError:
        return None


def read_source_chunks(
    name: str,
    url: str,
    query: str,
    cursor_column: str | None,
    watermark: CursorValue | None,
    chunk_rows: int,
    rules: ColumnRules | None = None,
) -> Iterator[SourceChunk]:
    """Stream the rows of the sync's query beyond the watermark, in cursor order, as frames.

    Failures to read (a bad URL, bad SQL, a missing cursor column) raise UnreadableSourceError
    naming the sync; connection-level failures (OperationalError) are raised as they are, so
    that the retry policy treats them as transient.
    """
    engine = _engine(name, url)
    try:
        quoted = (
            engine.dialect.identifier_preparer.quote(cursor_column)
            if cursor_column is not None
            else None
        )
        statement = text(sync_statement(query, quoted, has_watermark=watermark is not None))
        params = {"watermark": watermark} if watermark is not None else {}
        options: dict[str, Any] = {"stream_results": True, "max_row_buffer": chunk_rows}
        if engine.dialect.name == "postgresql":
            options["postgresql_readonly"] = True
        # Never committed: whatever the query does is rolled back when the connection closes.
        with engine.connect() as conn:
            result = conn.execution_options(**options).execute(statement, params)
            if not result.returns_rows:
                raise UnreadableSourceError(f"sync {name!r}: the query returns no rows")
            keys = list(result.keys())
            names = frame_columns([str(key) for key in keys])
            if not map_headers(names, rules).has_email:
                raise NoEmailColumnError(names, hint="map one with the sync's `map`")
            position = None
            if cursor_column is not None:
                try:
                    position = _cursor_key(keys, cursor_column)
                except ValueError:
                    raise UnreadableSourceError(
                        f"sync {name!r}: the cursor column {cursor_column!r} is not a column "
                        f"of the query (columns: {', '.join(names)})"
                    ) from None
            cursor_key = names[position] if position is not None else None
            while rows := result.fetchmany(chunk_rows):
                last = rows[-1][position] if position is not None else None
                yield SourceChunk(rows_to_frame(rows, names), cursor_key, last)
    except sqlalchemy.exc.SQLAlchemyError as error:
        if is_transient(error):
            raise
        detail = _message(error)
        if cursor_column is not None:
            columns = _probe_columns(engine, query)
            if columns is not None and cursor_column.casefold() not in {
                str(c).casefold() for c in columns
            }:
                detail = (
                    f"the cursor column {cursor_column!r} is not a column of the query "
                    f"(columns: {', '.join(map(str, columns))})"
                )
            else:
                detail += f" (the query runs as a subquery: SELECT * FROM (…) AS {SOURCE_ALIAS})"
        raise UnreadableSourceError(
            f"sync {name!r} cannot read its source {safe_url(url)}: {detail}"
        ) from None
    finally:
        engine.dispose()
