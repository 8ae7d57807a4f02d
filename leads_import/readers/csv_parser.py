"""Parse delimited text (CSV, TSV) held in memory as UTF-8, vectorised over the byte buffer.

Records follow RFC 4180 (`"` quotes, `""` escapes, quoted delimiters and newlines) with the
reading of Python's csv module for a quote inside an unquoted field (it is text). The parser is
a two-state machine (inside or outside quotes) evaluated with numpy over the positions of
quotes, newlines and delimiters, never per row in Python; where it finds only well-formed
records, Polars' CSV reader reads their cells.

A record with more or fewer fields than the header, a quoted field that is never closed, or a
closing quote followed by text becomes a row error naming its 1-based line. A record with such
broken quotes that spans several lines is cut after its first line and parsing resumes on the
next one, so a stray quote costs a row or two, not the rest of the file. Blank lines (empty, or
a lone \r) are skipped. A bare \r inside an unquoted field is text (CR-only line endings are
not supported).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

import numpy as np
import polars as pl
import pyarrow as pa

from leads_import.errors import UnreadableSourceError
from transforms.fields import INPUT_ERROR, LINE, ROW_INDEX

DELIMITERS: Final[tuple[str, ...]] = (",", "\t", ";", "|")

# A quoted field still open after this many bytes is taken as unterminated (streaming only).
DEFAULT_MAX_RECORD_BYTES: Final = 16 * 1024 * 1024
# Records of the sample compared with the header when detecting the delimiter.
_SAMPLE_RECORDS: Final = 200
# Rounds of "cut a broken multi-line record after its first line and parse again".
_MAX_RECOVERY_ROUNDS: Final = 64

_QUOTE, _NEWLINE, _CR = 0x22, 0x0A, 0x0D
_UNTERMINATED, _MALFORMED, _RAGGED = 0, 1, 2
_EMPTY = np.empty(0, np.int64)
_NO_FRAME: Final = pl.DataFrame()  # a block's frame while its cells are unread


# --- the record layout -----------------------------------------------------------------------


class _Scan(NamedTuple):
    """The quotes, newlines and delimiters of a buffer ("special" bytes), in position order."""

    delimiter: int
    size: int
    positions: np.ndarray
    is_newline: np.ndarray
    is_delimiter: np.ndarray
    newlines: np.ndarray  # indices into `positions` of the newlines
    run_first: np.ndarray  # index into `positions` of each run of consecutive quotes
    run_lengths: np.ndarray
    at_field_start: np.ndarray  # the run starts a field (buffer start, after a delimiter or \n)


class _Layout(NamedTuple):
    """Records and cells of a buffer for one set of forced record ends."""

    starts: np.ndarray
    ends: np.ndarray  # the record's newline, or the buffer's end for a last line without one
    content_ends: np.ndarray  # ends without a trailing \r
    fields: np.ndarray
    unterminated: np.ndarray
    malformed: np.ndarray
    first_cell: np.ndarray  # per record, the index of its first cell
    cell_starts: np.ndarray
    cell_ends: np.ndarray
    escapes: np.ndarray  # positions of runs of quotes that leave a quote in a quoted field
    consumed: int  # bytes up to the end of the last complete record
    open_tail: bool  # the incomplete rest of the buffer is inside a quoted field
    resyncs: np.ndarray  # positions after which the state is "outside quotes" whatever came before


def _scan(buf: np.ndarray, delimiter: int) -> _Scan:
    special = buf == _QUOTE
    special |= buf == _NEWLINE
    special |= buf == delimiter
    positions = np.flatnonzero(special)
    kinds = buf[positions]
    quotes = np.flatnonzero(kinds == _QUOTE)
    if quotes.size:
        quote_positions = positions[quotes]
        first = np.concatenate(([0], np.flatnonzero(np.diff(quote_positions) != 1) + 1))
        run_first = quotes[first]
        run_lengths = np.diff(np.append(first, quotes.size))
        run_positions = quote_positions[first]
        before = buf[np.maximum(run_positions - 1, 0)]
        at_start = (run_positions == 0) | (before == delimiter) | (before == _NEWLINE)
    else:
        run_first, run_lengths, at_start = _EMPTY, _EMPTY, np.empty(0, bool)
    is_newline = kinds == _NEWLINE
    return _Scan(
        delimiter=delimiter,
        size=buf.size,
        positions=positions,
        is_newline=is_newline,
        is_delimiter=kinds == delimiter,
        newlines=np.flatnonzero(is_newline),
        run_first=run_first,
        run_lengths=run_lengths,
        at_field_start=at_start,
    )


def _quoted_before(scan: _Scan, resets: np.ndarray) -> tuple[np.ndarray, bool, np.ndarray]:
    """Whether each special byte lies inside quotes, the state at the end, and the resync points.

    Each run of quotes maps the state (outside/inside quotes): a run at a field start outside
    quotes opens a field and an odd run inside quotes closes it, so an odd run at a field start
    flips the state; an odd run elsewhere leaves it "outside" (inside quotes it closes the field,
    outside it is text); an even run changes nothing (escapes, or `""`). A forced record end
    also sets "outside". The state after event k is the parity of the flips since the last
    "outside", a prefix composition evaluated with cumulative sums.
    """
    odd = scan.run_lengths % 2 == 1
    flips, sets = (
        scan.run_first[scan.at_field_start & odd],
        scan.run_first[~scan.at_field_start & odd],
    )
    events = np.concatenate((flips, sets, resets))
    is_flip = np.zeros(events.size, bool)
    is_flip[: flips.size] = True
    order = np.argsort(events, kind="stable")
    events, is_flip = events[order], is_flip[order]
    count = scan.positions.size
    if not events.size:
        return np.zeros(count, bool), False, _EMPTY
    flip_count = np.cumsum(is_flip, dtype=np.int64)
    last_set = np.maximum.accumulate(np.where(is_flip, -1, np.arange(events.size)))
    base = np.where(last_set >= 0, flip_count[np.maximum(last_set, 0)], 0)
    after = ((flip_count - base) & 1).astype(bool)
    # Elements up to and including the first event are outside; then each event's state holds
    # until (and including) the next event.
    spans = np.diff(np.concatenate(([-1], events, [count - 1])))
    before = np.repeat(np.concatenate(([False], after)), spans)
    return before, bool(after[-1]), scan.positions[events[~is_flip]]


def _layout(buf: np.ndarray, scan: _Scan, resets: np.ndarray, final: bool) -> _Layout:
    """Records, field counts and quote syntax, with the newlines `resets` forced as record ends."""
    n, positions, lengths = scan.size, scan.positions, scan.run_lengths
    before, last_state, resyncs = _quoted_before(scan, resets)
    record_end = scan.is_newline & ~before
    record_end[resets] = True
    cell_end = record_end | (scan.is_delimiter & ~before)
    cell_ends = np.flatnonzero(cell_end)  # element indices
    ends_at = np.flatnonzero(record_end[cell_ends])  # which cell ends close a record
    ends = positions[cell_ends[ends_at]]
    unterminated = before[cell_ends[ends_at]]
    fields = np.diff(np.concatenate(([-1], ends_at)))
    consumed = int(ends[-1]) + 1 if ends.size else 0
    starts = np.concatenate(([0], ends[:-1] + 1)) if ends.size else _EMPTY
    if final and consumed < n:
        starts, ends = np.append(starts, consumed), np.append(ends, n)
        unterminated = np.append(unterminated, last_state)
        fields = np.append(fields, cell_ends.size - (int(ends_at[-1]) if ends_at.size else -1))
        consumed = n
    records = ends.size
    has_cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == _CR) if n else ends > starts
    boundaries = positions[cell_ends]

    run_before = before[scan.run_first]
    run_positions = positions[scan.run_first]
    odd = lengths % 2 == 1
    opener = ~run_before & scan.at_field_start
    closing = (opener & ~odd) | (run_before & odd)
    after_run = (run_positions + lengths)[closing]
    next1 = buf[np.minimum(after_run, n - 1)] if n else after_run
    next2 = buf[np.minimum(after_run + 1, n - 1)] if n else after_run
    ok = (
        (after_run >= n)
        | (next1 == scan.delimiter)
        | (next1 == _NEWLINE)
        | ((next1 == _CR) & ((after_run + 1 >= n) | (next2 == _NEWLINE)))
    )
    malformed = np.zeros(records + 1, bool)
    malformed[np.searchsorted(ends, after_run[~ok] - 1)] = True
    # Runs that leave a quote in the text of a quoted field (escapes): `""` inside, `"""` opening.
    escapes = (run_before & (lengths >= 2)) | (opener & (lengths >= 3))
    return _Layout(
        starts=starts,
        ends=ends,
        content_ends=ends - has_cr,
        fields=fields,
        unterminated=unterminated,
        malformed=malformed[:records],
        first_cell=np.concatenate(([0], np.cumsum(fields)[:-1])).astype(np.int64),
        cell_starts=np.concatenate(([0], boundaries + 1)),
        cell_ends=np.append(boundaries, n),
        escapes=run_positions[escapes],
        consumed=consumed,
        open_tail=last_state and consumed < n,
        resyncs=resyncs,
    )


def _independent_cuts(lay: _Layout, starts: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Which cuts to make together: the first, and each one after a resync past the previous cut.

    Cutting a record changes the layout after the cut until the next resync point, so a later
    bad record is only known to be the same record once such a point separates it from the
    previous cut; the others wait for the next round.
    """
    resyncs = np.concatenate(([-1], lay.resyncs))
    resync = resyncs[np.searchsorted(lay.resyncs, starts)]
    return np.concatenate(([True], resync[1:] > cuts[:-1]))


class _Resolved(NamedTuple):
    layout: _Layout
    header: int | None  # index of the header record, when this buffer holds it
    width: int | None
    bad: np.ndarray
    blank: np.ndarray


def _resolve(
    buf: np.ndarray, scan: _Scan, *, width: int | None, final: bool, max_record_bytes: int
) -> _Resolved:
    """Lay out records, cutting multi-line records with broken quotes after their first line."""
    resets = _EMPTY
    newline_positions = scan.positions[scan.newlines]
    for _ in range(_MAX_RECOVERY_ROUNDS):
        lay = _layout(buf, scan, resets, final)
        blank = lay.content_ends == lay.starts
        header, cols = None, width
        if width is None:
            nonblank = np.flatnonzero(~blank)
            if nonblank.size:
                header = int(nonblank[0])
                cols = int(lay.fields[header])
        broken = (lay.unterminated | lay.malformed) & ~blank
        bad = broken.copy()
        if cols is not None:
            data = ~blank
            if header is not None:
                data[: header + 1] = False
            bad |= data & (lay.fields != cols)
        # A multi-line record with broken quotes most likely swallowed the lines after a stray
        # quote: cut it after its first line. (A well-quoted record with the wrong number of
        # fields stays one row error.)
        first_newline = np.searchsorted(newline_positions, lay.starts)
        inside = first_newline < newline_positions.size
        inside[inside] = newline_positions[first_newline[inside]] < lay.ends[inside]
        starts, cuts = lay.starts[broken & inside], first_newline[broken & inside]
        if not final and lay.open_tail and scan.size - lay.consumed > max_record_bytes:
            tail_newline = np.searchsorted(newline_positions, lay.consumed)
            if tail_newline < newline_positions.size:
                starts = np.append(starts, lay.consumed)
                cuts = np.append(cuts, tail_newline)
        if not cuts.size:
            break
        chosen = cuts[_independent_cuts(lay, starts, newline_positions[cuts])]
        resets = np.union1d(resets, scan.newlines[chosen])
    return _Resolved(lay, header, cols, bad, blank)


# --- cells -----------------------------------------------------------------------------------

_LOW_BYTES: Final = np.array([(1 << (8 * k)) - 1 for k in range(9)], np.uint64)
_INLINE_BYTES: Final = 12  # an Arrow string view holds strings up to 12 bytes inline
_PADDING: Final = 16
_BLOCK_BYTES: Final = 2 * 1024 * 1024


class _Text(NamedTuple):
    """A block's bytes (zero-padded copy, for reading) and where they are in an Arrow buffer."""

    padded: np.ndarray
    buffer: pa.Buffer  # the whole input: cells are views into it
    offset: int  # of the block within `buffer`


def _string_views(text: _Text, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Arrow string views (16 bytes each) of byte ranges of the block, into data buffer 0.

    A view is the length (4 bytes) then either the string itself, zero-padded (up to 12 bytes),
    or its first 4 bytes, the buffer index (0) and the offset.
    """
    words = np.ndarray((text.padded.size - 7,), "<u8", buffer=text.padded, strides=(1,))
    head, tail = words[starts], words[starts + 8]
    head &= _LOW_BYTES[np.minimum(lengths, 8)]
    tail &= _LOW_BYTES[np.clip(lengths - 8, 0, 4)]
    views = np.empty(starts.size * 2, "<u8")
    first, second = views[0::2], views[1::2]
    np.left_shift(head, np.uint64(32), out=first)
    first |= lengths.astype(np.uint64)
    head >>= np.uint64(32)
    tail <<= np.uint64(32)
    tail |= head
    offsets = (starts + text.offset).astype(np.uint64)
    offsets <<= np.uint64(32)
    np.copyto(tail, offsets, where=lengths > _INLINE_BYTES)
    second[:] = tail
    return views


def _cells(
    text: _Text, lay: _Layout, records: np.ndarray, width: int
) -> tuple[pa.Array, np.ndarray]:
    """The cells of well-formed records, column by column, and which still hold `""` escapes.

    The array is zero-copy: string views into the input, a quoted cell without its quotes.
    """
    count = records.size
    cells = (lay.first_cell[records][:, None] + np.arange(width)).ravel()  # in position order
    starts = lay.cell_starts[cells]
    ends = lay.cell_ends[cells]
    ends[width - 1 :: width] = lay.content_ends[records]
    escaped = np.zeros(starts.size + 1, bool)
    escaped[np.searchsorted(starts, lay.escapes, side="right") - 1] = True
    starts, ends, escaped = (
        column.reshape(count, width).T.ravel() for column in (starts, ends, escaped[:-1])
    )
    quoted = (ends > starts) & (text.padded[starts] == _QUOTE)
    starts += quoted
    ends -= quoted
    escaped &= quoted
    lengths = ends - starts
    valid = lengths > 0
    nulls = int(valid.size - np.count_nonzero(valid))
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    views = _string_views(text, starts, lengths)
    array = pa.Array.from_buffers(
        pa.string_view(),
        starts.size,
        [bitmap, pa.py_buffer(views), text.buffer],
        null_count=nulls,
    )
    return array, escaped


def _cell_frame(
    text: _Text, lay: _Layout, records: np.ndarray, names: Sequence[str]
) -> pl.DataFrame:
    """A text column per header name for well-formed records, `""` escapes undone."""
    count, width = records.size, len(names)
    array, escaped = _cells(text, lay, records, width)
    columns = {name: array.slice(j * count, count) for j, name in enumerate(names)}
    frame = pl.from_arrow(pa.table(columns))
    assert isinstance(frame, pl.DataFrame)
    fixes = [
        pl.when(pl.Series(escaped[j * count : (j + 1) * count]))
        .then(pl.col(name).str.replace_all('""', '"', literal=True))
        .otherwise(pl.col(name))
        .alias(name)
        for j, name in enumerate(names)
        if escaped[j * count : (j + 1) * count].any()
    ]
    return frame.with_columns(fixes) if fixes else frame


def _unread_bytes(text: _Text, lay: _Layout, good: np.ndarray) -> tuple[int, int] | None:
    """Where the well-formed records `good` lie in the piece, if Polars may read their cells:
    they follow one another, and no carriage return but one before a newline is among them
    (Polars drops one that is a cell's whole text)."""
    first, last = int(good[0]), int(good[-1])
    if last - first + 1 != good.size:
        return None
    start, stop = int(lay.starts[first]), min(int(lay.ends[last]) + 1, lay.consumed)
    carriage_returns = start + np.flatnonzero(text.padded[start:stop] == _CR)
    if not np.all(text.padded[carriage_returns + 1] == _NEWLINE):
        return None
    return text.offset + start, text.offset + stop


def frame_columns(header: Sequence[str]) -> list[str]:
    """Unique frame column names for a header: blanks become `column_N`, repeats get a suffix.

    A NUL character (which Arrow column names cannot hold) becomes U+FFFD.
    """
    taken = {ROW_INDEX, INPUT_ERROR, LINE}
    names: list[str] = []
    for position, name in enumerate(header, start=1):
        base = name.replace("\x00", "\ufffd") if name.strip() else f"column_{position}"
        unique, repeat = base, 0
        while unique in taken:
            unique, repeat = f"{base}_duplicated_{repeat}", repeat + 1
        taken.add(unique)
        names.append(unique)
    return names


def _empty_frame(names: Sequence[str]) -> pl.DataFrame:
    schema = {name: pl.String for name in names} | {
        ROW_INDEX: pl.Int64,
        INPUT_ERROR: pl.String,
        LINE: pl.Int64,
    }
    return pl.DataFrame(schema=schema)


def _error_frame(
    names: Sequence[str],
    row_index: np.ndarray,
    line: np.ndarray,
    kind: np.ndarray,
    found: np.ndarray,
    width: int,
) -> pl.DataFrame:
    # The row's line is its LINE column, which every report shows beside the reason.
    reason = (
        pl.when(pl.col("kind") == _UNTERMINATED)
        .then(pl.lit("unterminated quoted field"))
        .when(pl.col("kind") == _MALFORMED)
        .then(pl.lit("unexpected text after a closing quote"))
        .otherwise(pl.format("expected {} fields, found {}", pl.lit(width), "found"))
    )
    errors = pl.DataFrame({"line": line, "kind": kind, "found": found})
    return pl.DataFrame({ROW_INDEX: row_index}).select(
        *[pl.lit(None, pl.String).alias(name) for name in names],
        pl.col(ROW_INDEX).cast(pl.Int64),
        errors.select(reason.alias(INPUT_ERROR)).to_series(),
        pl.Series(LINE, line, pl.Int64),
    )


@dataclass(frozen=True)
class DelimitedBlock:
    """One parsed piece of delimited text and where the next piece continues."""

    frame: pl.DataFrame  # header columns (text), row_index, input_error, source_line
    consumed: int  # bytes used; the rest starts an incomplete record
    lines: int  # newlines within the consumed bytes
    rows: int  # data rows in `frame`
    header: list[str] | None  # the header's cells as written, once known
    unread: _Unread | None = None  # records whose cells are left to read (`frame` is empty)


class _Unread(NamedTuple):
    """Well-formed records whose cells are left for Polars to read: bytes [start, stop) of the
    piece, the records' row indexes and lines, and the frame's column names."""

    start: int
    stop: int
    row_index: np.ndarray
    lines: np.ndarray
    names: list[str]


def parse_delimited(
    data: bytes,
    *,
    delimiter: str,
    header: Sequence[str] | None = None,
    first_line: int = 1,
    first_row: int = 0,
    final: bool = True,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> DelimitedBlock:
    """Parse UTF-8 delimited text; without `header`, the first non-blank record is the header.

    With `final=False` the buffer is a piece of a longer stream: the trailing incomplete record
    is left unconsumed. `first_line` and `first_row` number the lines and data rows of the piece.
    The records are laid out in record-aligned blocks of about 2 MiB, which keeps numpy's
    temporaries small (and fast); the cells of blocks of well-formed records are then read by
    Polars' CSV reader, one read per run of such blocks (it is several times faster than
    gathering them here). The result depends on neither.
    """
    if len(delimiter) != 1 or delimiter in '"\r\n' or not delimiter.isascii():
        raise ValueError(f"cannot use {delimiter!r} as the delimiter")
    given = {
        "delimiter": delimiter,
        "header": header,
        "first_line": first_line,
        "first_row": first_row,
        "final": final,
        "max_record_bytes": max_record_bytes,
    }
    blocks = _parse_blocks(data, **given, gather=False)
    frames = _read_unread(data, blocks, delimiter)
    if frames is None:  # Polars read a run of records otherwise than the layout: gather them all
        blocks = _parse_blocks(data, **given, gather=True)
        frames = [block.frame for block in blocks if block.frame.height]
    known = blocks[-1].header
    consumed = sum(block.consumed for block in blocks)
    lines = sum(block.lines for block in blocks)
    rows = sum(block.rows for block in blocks)
    if len(frames) == 1:
        frame = frames[0]
    elif frames:
        frame = pl.concat(frames)
    else:
        frame = _empty_frame(frame_columns(known) if known is not None else [])
    return DelimitedBlock(frame, consumed, lines, rows, known)


def _read_unread(
    data: bytes, blocks: list[DelimitedBlock], delimiter: str
) -> list[pl.DataFrame] | None:
    """The blocks' frames, the cells they left unread read by Polars, one read per run of
    blocks whose unread bytes follow one another; None if Polars reads a run otherwise."""
    frames: list[pl.DataFrame] = []
    for run in _runs(blocks):
        unread = [block.unread for block in run if block.unread is not None]
        if not unread:  # a block whose cells were gathered (alone in its run)
            frames.extend(block.frame for block in run if block.frame.height)
            continue
        first, last = unread[0], unread[-1]
        cells = _polars_cells(data[first.start : last.stop], first.names, delimiter)
        row_index = np.concatenate([part.row_index for part in unread])
        if cells is None or cells.height != row_index.size:
            return None
        frames.append(
            cells.with_columns(
                pl.Series(ROW_INDEX, row_index, pl.Int64),
                pl.lit(None, pl.String).alias(INPUT_ERROR),
                pl.Series(LINE, np.concatenate([part.lines for part in unread]), pl.Int64),
            )
        )
    return frames


def _runs(blocks: list[DelimitedBlock]) -> Iterator[list[DelimitedBlock]]:
    """The blocks in order, those whose unread bytes follow one another together (a gathered
    block alone)."""
    run: list[DelimitedBlock] = []
    for block in blocks:
        if run and not _follows(run[-1].unread, block.unread):
            yield run
            run = []
        run.append(block)
    if run:
        yield run


def _follows(before: _Unread | None, after: _Unread | None) -> bool:
    return before is not None and after is not None and before.stop == after.start


def _polars_cells(text: bytes, names: Sequence[str], delimiter: str) -> pl.DataFrame | None:
    """The cells of well-formed records by Polars' CSV reader (None where it rejects them: a
    quote inside an unquoted cell, which is text to us); `""` is null, as an empty cell."""
    try:
        frame = pl.read_csv(
            text,
            has_header=False,
            new_columns=list(names),
            schema=dict.fromkeys(names, pl.String),
            separator=delimiter,
            quote_char='"',
            raise_if_empty=False,
        )
    except pl.exceptions.PolarsError:
        return None
    return frame.with_columns(
        pl.when(pl.col(name).str.len_bytes() > 0).then(pl.col(name)).alias(name) for name in names
    )


def _parse_blocks(
    data: bytes,
    *,
    delimiter: str,
    header: Sequence[str] | None,
    first_line: int,
    first_row: int,
    final: bool,
    max_record_bytes: int,
    gather: bool,
) -> list[DelimitedBlock]:
    """The record-aligned blocks of a piece, parsed; `gather`: every cell gathered here, else
    the cells of well-formed records left unread (`DelimitedBlock.unread`)."""
    view, buffer = memoryview(data), pa.py_buffer(data)
    blocks: list[DelimitedBlock] = []
    known = list(header) if header is not None else None
    start = lines = rows = 0
    size = _BLOCK_BYTES
    while True:
        stop = min(len(view), start + size)
        last = stop == len(view)
        block = _parse_block(
            view[start:stop],
            buffer,
            start,
            delimiter=delimiter,
            header=known,
            first_line=first_line + lines,
            first_row=first_row + rows,
            final=final and last,
            max_record_bytes=max_record_bytes,
            gather=gather,
        )
        known = block.header
        blocks.append(block)
        start, lines, rows = start + block.consumed, lines + block.lines, rows + block.rows
        if last:
            return blocks
        size = _BLOCK_BYTES if block.consumed else size * 2


def _parse_block(
    data: memoryview,
    buffer: pa.Buffer,
    offset: int,
    *,
    delimiter: str,
    header: list[str] | None,
    first_line: int,
    first_row: int,
    final: bool,
    max_record_bytes: int,
    gather: bool = True,
) -> DelimitedBlock:
    """`parse_delimited` over one block (`offset` bytes into the piece); without `gather`, a
    block of well-formed records only leaves their cells unread."""
    if len(data) >= np.iinfo(np.int32).max:
        raise ValueError("parse_delimited takes less than 2 GiB at a time; read in chunks")
    padded = np.zeros(len(data) + _PADDING, np.uint8)
    padded[: len(data)] = np.frombuffer(data, np.uint8)
    buf = padded[: len(data)]
    text = _Text(padded, buffer, offset)
    scan = _scan(buf, ord(delimiter))
    width = len(header) if header is not None else None
    lay, head, width, bad, blank = _resolve(
        buf, scan, width=width, final=final, max_record_bytes=max_record_bytes
    )
    newline_positions = scan.positions[scan.newlines]
    lines = int(np.searchsorted(newline_positions, lay.consumed))
    if width is None:  # no header yet: only blank lines are complete
        return DelimitedBlock(_empty_frame([]), lay.consumed, lines, 0, None)

    data_records = ~blank
    if head is not None:
        if bad[head]:
            line = first_line + int(np.searchsorted(newline_positions, lay.starts[head]))
            reason = (
                "unterminated quoted field"
                if lay.unterminated[head]
                else "unexpected text after a closing quote"
            )
            raise UnreadableSourceError(f"cannot read the header: line {line}: {reason}")
        array, escaped = _cells(text, lay, np.array([head]), width)
        header = [
            (cell or "").replace('""', '"') if fix else cell or ""
            for cell, fix in zip(array.to_pylist(), escaped, strict=True)
        ]
        data_records[: head + 1] = False
    names = frame_columns(header or [])

    records = np.flatnonzero(data_records)
    row_index = first_row + np.arange(records.size, dtype=np.int64)
    # A record's line is the one it starts on: the newlines before its first byte, plus one.
    lines_of = first_line + np.searchsorted(newline_positions, lay.starts[records])
    is_bad = bad[records]
    good = records[~is_bad]
    if good.size and not gather and not is_bad.any():
        span = _unread_bytes(text, lay, good)
        if span is not None:
            unread = _Unread(*span, row_index, lines_of, names)
            return DelimitedBlock(
                _NO_FRAME, lay.consumed, lines, int(records.size), list(header or []), unread
            )
    frame = _empty_frame(names)
    if good.size:
        frame = _cell_frame(text, lay, good, names).with_columns(
            pl.Series(ROW_INDEX, row_index[~is_bad], pl.Int64),
            pl.lit(None, pl.String).alias(INPUT_ERROR),
            pl.Series(LINE, lines_of[~is_bad], pl.Int64),
        )
    if is_bad.any():
        failed = records[is_bad]
        kind = np.where(
            lay.unterminated[failed],
            _UNTERMINATED,
            np.where(lay.malformed[failed], _MALFORMED, _RAGGED),
        )
        line = lines_of[is_bad]
        errors = _error_frame(names, row_index[is_bad], line, kind, lay.fields[failed], width)
        frame = pl.concat([frame, errors]).sort(ROW_INDEX)
    return DelimitedBlock(frame, lay.consumed, lines, int(records.size), list(header or []))


def detect_delimiter(sample: bytes, *, final: bool = True, default: str = ",") -> str:
    """The delimiter among `,` tab `;` `|` whose header splits in 2+ fields most consistently."""
    buf = np.frombuffer(sample, np.uint8)
    best: tuple[float, int, int] | None = None
    choice = default
    for preference, candidate in enumerate(DELIMITERS):
        lay = _layout(buf, _scan(buf, ord(candidate)), _EMPTY, final)
        fields = lay.fields[lay.content_ends != lay.starts][: _SAMPLE_RECORDS + 1]
        if not fields.size or fields[0] < 2:
            continue
        rest = fields[1:]
        consistency = float(np.mean(rest == fields[0])) if rest.size else 1.0
        score = (consistency, int(fields[0]), -preference)
        if best is None or score > best:
            best, choice = score, candidate
    return choice
