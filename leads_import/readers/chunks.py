"""Stream a delimited or NDJSON file (plain or gzip) in record-aligned chunks of bounded size.

The encoding is decided once for the whole file by a streaming pre-pass, then the file is read
piece by piece, transcoded to UTF-8 and cut at record boundaries (quote-aware, so a quoted field
spanning pieces is kept whole); row indexes and line numbers continue across pieces.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Final, Protocol

import polars as pl

from leads_import.errors import UnreadableSourceError
from leads_import.readers.csv_parser import (
    DEFAULT_MAX_RECORD_BYTES,
    DelimitedBlock,
    detect_delimiter,
    frame_columns,
    parse_delimited,
)
from leads_import.readers.encoding import CP1252, LATIN1, decide_encoding, transcode
from leads_import.readers.ndjson import JsonLinesBlock, json_object_keys, parse_ndjson

# Chunks small enough that a writer has the last one in hand while the next is prepared.
DEFAULT_CHUNK_BYTES: Final = 16 * 1024 * 1024
GZIP_MAGIC: Final = b"\x1f\x8b"
_PROBE_BYTES: Final = 64 * 1024
_ENCODING_PIECE_BYTES: Final = 8 * 1024 * 1024


class _Parse(Protocol):
    """Parse a UTF-8 buffer that starts at line `first_line` and data row `first_row`."""

    def __call__(
        self, data: bytes, *, first_line: int, first_row: int, final: bool
    ) -> DelimitedBlock | JsonLinesBlock: ...


def is_gzip(path: Path) -> bool:
    """Whether the file is gzip-compressed: a `.gz` suffix or the gzip magic bytes."""
    if path.suffix.lower() == ".gz":
        return True
    with path.open("rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def _open(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if is_gzip(path) else path.open("rb")  # type: ignore[return-value]


class ReadPosition:
    """How many bytes of a file (as stored: compressed for gzip) a read has consumed."""

    def __init__(self) -> None:
        self.done = 0


def _stored_offset(handle: BinaryIO) -> int:
    """The offset in the file on disk (a gzip file's compressed bytes consumed so far)."""
    stored = getattr(handle, "fileobj", None) or handle
    return stored.tell()


def read_pieces(
    path: Path, size: int, position: ReadPosition | None = None
) -> Iterator[tuple[bytes, bool]]:
    """The (decompressed) bytes of a file as (piece, is_last) pairs of at most `size` bytes;
    `position` follows the bytes of the file consumed."""
    try:
        with _open(path) as handle:
            while True:
                box = [handle.read(size)]  # yielded from the box: no reference kept here
                final = not box[0] or not handle.peek(1)  # type: ignore[attr-defined]
                if position is not None:
                    position.done = _stored_offset(handle)
                yield box.pop(), final
                if final:
                    return
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableSourceError(f"cannot read {path.name}: {exc}") from exc


def file_encoding(path: Path) -> str:
    """The encoding of a whole file, decided by a streaming pass (see `decide_encoding`)."""
    with closing(read_pieces(path, _ENCODING_PIECE_BYTES)) as pieces:
        return decide_encoding(piece for piece, _ in pieces)


def _too_long(path: Path, line: int, limit: int) -> UnreadableSourceError:
    size = f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit:,} bytes"
    return UnreadableSourceError(
        f"cannot read {path.name}: the record at line {line} is longer than {size} "
        "(is it a text file of leads?)"
    )


def _encoding_warnings(path: Path, encoding: str) -> list[str]:
    if encoding in (CP1252, LATIN1):
        return [f"{path.name} is not valid UTF-8: read as {encoding}"]
    return []


@dataclass(frozen=True)
class ChunkedFile:
    """A file read in record-aligned chunks: what was decided about it; iterate for the frames.

    Delimited frames hold the header's columns (text, named by `header`), `row_index` (Int64)
    and `input_error` (String, null for good rows). NDJSON frames hold `row_index`, `json` (an
    object's text, null for a bad line) and `input_error`; `keys` collects the objects' keys in
    order of first appearance as the frames are read. Iterating again re-reads the file;
    `position` follows how far the last iteration read it, in bytes of the stored file.
    """

    path: Path
    format: str  # "delimited" or "ndjson"
    encoding: str
    compressed: bool
    delimiter: str | None
    header: list[str]  # frame column names, for map_headers and to_raw_frame
    source_header: list[str]  # the header cells as written
    warnings: list[str]
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    keys: list[str] = field(default_factory=list)
    position: ReadPosition = field(default_factory=ReadPosition, compare=False)

    def __iter__(self) -> Iterator[pl.DataFrame]:
        """One frame per piece (at least one, possibly empty), rows in file order."""
        if self.format == "ndjson":
            return self._ndjson_frames()
        return self._delimited_frames()

    def _utf8_pieces(self) -> Iterator[tuple[bytes, bool]]:
        return transcode(read_pieces(self.path, self.chunk_bytes, self.position), self.encoding)

    def _delimited_frames(self) -> Iterator[pl.DataFrame]:
        delimiter = self.delimiter
        assert delimiter is not None
        header: list[str] | None = None

        def parse(data: bytes, *, first_line: int, first_row: int, final: bool) -> DelimitedBlock:
            nonlocal header
            block = parse_delimited(
                data,
                delimiter=delimiter,
                header=header,
                first_line=first_line,
                first_row=first_row,
                final=final,
                max_record_bytes=self.max_record_bytes,
            )
            header = block.header
            return block

        yield from self._frames(parse)

    def _ndjson_frames(self) -> Iterator[pl.DataFrame]:
        seen = set(self.keys)

        def collect_keys(frame: pl.DataFrame) -> None:
            new_keys = [key for key in json_object_keys(frame) if key not in seen]
            self.keys.extend(new_keys)
            seen.update(new_keys)

        yield from self._frames(parse_ndjson, collect_keys)

    def _frames(
        self, parse: _Parse, on_frame: Callable[[pl.DataFrame], None] | None = None
    ) -> Iterator[pl.DataFrame]:
        """Parse the pieces, each after the incomplete record left by the one before.

        A piece that ends no record is parsed again once the buffer has doubled, so a long
        record costs a few parses, not one per piece. `on_frame` sees each frame before it is
        yielded. At least one frame (possibly empty) is yielded.
        """
        carry, line, row, yielded, wait = b"", 1, 0, False, 0
        for piece, final in self._utf8_pieces():
            buffer = carry + piece if carry else piece
            del piece
            if len(buffer) < wait and not final:  # no record ended yet: parse when doubled
                carry = buffer
                continue
            block = parse(buffer, first_line=line, first_row=row, final=final)
            carry = buffer[block.consumed :]
            if len(carry) > self.max_record_bytes:  # one record would fill memory: give up
                raise _too_long(self.path, line + block.lines, self.max_record_bytes)
            wait = 0 if block.consumed else 2 * len(buffer)
            line, row = line + block.lines, row + block.rows
            box = [block.frame]  # keep no reference to the piece while the caller holds it
            del block, buffer
            if box[0].height or (final and not yielded):
                yielded = True
                if on_frame is not None:
                    on_frame(box[0])
                yield box.pop()


def _source_path(path: str | Path) -> Path:
    source = Path(path)
    if not source.is_file():
        raise UnreadableSourceError(f"cannot read {source}: no such file")
    return source


def _probe_header(
    path: Path, encoding: str, delimiter: str | None, default_delimiter: str, max_record_bytes: int
) -> tuple[str, list[str]]:
    """The delimiter and the header cells, from the start of the file (grown until complete)."""
    probe, wait = b"", 0
    with closing(transcode(read_pieces(path, _PROBE_BYTES), encoding)) as pieces:
        for piece, final in pieces:
            if len(probe) > max_record_bytes:
                raise _too_long(path, 1, max_record_bytes)
            probe += piece
            if len(probe) < wait and not final:
                continue
            wait = 2 * len(probe)
            chosen = delimiter or detect_delimiter(probe, final=final, default=default_delimiter)
            block = parse_delimited(
                probe, delimiter=chosen, final=final, max_record_bytes=max_record_bytes
            )
            if block.header is not None or final:
                return chosen, block.header or []
    return delimiter or default_delimiter, []


def iter_delimited_chunks(
    path: str | Path,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    delimiter: str | None = None,
    default_delimiter: str = ",",
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> ChunkedFile:
    """Open a CSV/TSV file (plain or gzip): decide encoding, delimiter and header; iterate it."""
    source = _source_path(path)
    encoding = file_encoding(source)
    chosen, source_header = _probe_header(
        source, encoding, delimiter, default_delimiter, max_record_bytes
    )
    header = frame_columns(source_header)
    warnings = _encoding_warnings(source, encoding)
    renamed = [
        f"{old!r} as {new!r}" for old, new in zip(source_header, header, strict=True) if old != new
    ]
    if renamed:
        warnings.append("renamed repeated or blank column headers: " + ", ".join(renamed))
    return ChunkedFile(
        path=source,
        format="delimited",
        encoding=encoding,
        compressed=is_gzip(source),
        delimiter=chosen,
        header=header,
        source_header=source_header,
        warnings=warnings,
        chunk_bytes=chunk_bytes,
        max_record_bytes=max_record_bytes,
    )


def iter_ndjson_chunks(path: str | Path, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> ChunkedFile:
    """Open an NDJSON/JSONL file (plain or gzip) and decide its encoding; iterate it."""
    source = _source_path(path)
    encoding = file_encoding(source)
    return ChunkedFile(
        path=source,
        format="ndjson",
        encoding=encoding,
        compressed=is_gzip(source),
        delimiter=None,
        header=[],
        source_header=[],
        warnings=_encoding_warnings(source, encoding),
        chunk_bytes=chunk_bytes,
    )
