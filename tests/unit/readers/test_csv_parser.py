"""Delimited (CSV/TSV) and NDJSON parsing: encodings, delimiters, quoting, row errors, chunks."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import tempfile
from pathlib import Path
from unittest import mock

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import leads_import.readers.csv_parser as csv_parser
from leads_import.errors import EmptyInputError, UnreadableSourceError
from leads_import.readers.chunks import ChunkedFile, iter_delimited_chunks, iter_ndjson_chunks
from leads_import.readers.csv_parser import detect_delimiter, parse_delimited
from leads_import.readers.encoding import (
    CP1252,
    LATIN1,
    UTF8,
    UTF8_BOM,
    UTF16_BE,
    UTF16_LE,
    decide_encoding,
    to_utf8,
)
from leads_import.readers.ndjson import parse_ndjson
from leads_import.readers.sources import read_source
from tests.support.paths import FORMATS
from transforms.fields import INPUT_ERROR, LINE, ROW_INDEX
from transforms.headers import map_headers, to_raw_frame
from transforms.normalise import prepare_leads

HEADER = ["Email", "First Name", "Company Name", "Notes"]
ROWS = [
    ("ann@example.com", "Renée", "Café Crème, Ltd.", 'Paid 5€\nit\u2019s "great"'),
    ("bob@example.com", "Bob", "Birch", None),
]


def _read(path: Path, **options: int) -> tuple[pl.DataFrame, ChunkedFile]:
    source = iter_delimited_chunks(path, **options)
    return pl.concat(list(source)), source


def _cells(frame: pl.DataFrame) -> list[tuple[object, ...]]:
    return frame.drop(ROW_INDEX, INPUT_ERROR, LINE).rows()


# --- encodings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "encoding"),
    [
        ("utf8.csv", UTF8),
        ("utf8_bom.csv", UTF8_BOM),
        ("utf16le.csv", UTF16_LE),
        ("utf16be.csv", UTF16_BE),
        ("cp1252.csv", CP1252),
    ],
)
def test_every_encoding_gives_the_same_rows(name: str, encoding: str) -> None:
    frame, source = _read(FORMATS / name)
    assert source.encoding == encoding
    assert source.header == HEADER
    assert _cells(frame) == ROWS
    assert frame.get_column(ROW_INDEX).to_list() == [0, 1]
    assert frame.get_column(INPUT_ERROR).to_list() == [None, None]
    assert source.warnings == (
        [f"{name} is not valid UTF-8: read as cp1252"] if encoding == CP1252 else []
    )


def test_encoding_rule() -> None:
    text = "Renée paid 5€, it\u2019s fine"
    assert decide_encoding([text.encode()]) == UTF8
    assert decide_encoding([codecs.BOM_UTF8 + text.encode()]) == UTF8_BOM
    assert decide_encoding([codecs.BOM_UTF16_LE + text.encode("utf-16-le")]) == UTF16_LE
    assert decide_encoding([codecs.BOM_UTF16_BE + text.encode("utf-16-be")]) == UTF16_BE
    assert decide_encoding([text.encode("cp1252")]) == CP1252
    # 0x81 is undefined in cp1252: only Latin-1 decodes it.
    assert decide_encoding([b"caf\xe9 \x81"]) == LATIN1
    assert decide_encoding([]) == UTF8
    # Pieces may cut a UTF-8 sequence or the BOM; a sequence cut at the very end is not UTF-8.
    encoded = text.encode()
    assert decide_encoding([encoded[i : i + 1] for i in range(len(encoded))]) == UTF8
    assert decide_encoding([codecs.BOM_UTF8[:1], codecs.BOM_UTF8[1:], b"x"]) == UTF8_BOM
    assert decide_encoding([b"ab", "é".encode()[:1]]) == CP1252
    assert to_utf8(text.encode("cp1252")) == (text.encode(), CP1252)
    # After a UTF-8 BOM (which decides), invalid bytes become U+FFFD.
    assert to_utf8(codecs.BOM_UTF8 + b"caf\xe9!") == ("caf\ufffd!".encode(), UTF8_BOM)
    assert to_utf8(codecs.BOM_UTF16_BE + text.encode("utf-16-be")) == (text.encode(), UTF16_BE)


def test_cp1252_rows_go_through_read_source() -> None:
    raw, warnings = read_source(FORMATS / "cp1252.csv")
    assert raw.get_column("first_name").to_list() == ["Renée", "Bob"]
    assert raw.get_column("notes").to_list() == ['Paid 5€\nit\u2019s "great"', None]
    assert warnings == ["cp1252.csv is not valid UTF-8: read as cp1252"]


# --- delimiters, quoting, line endings --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "delimiter"),
    [("utf8.csv", ","), ("semicolon.csv", ";"), ("tabs.tsv", "\t"), ("pipe.csv", "|")],
)
def test_delimiter_is_detected(name: str, delimiter: str) -> None:
    frame, source = _read(FORMATS / name)
    assert source.delimiter == delimiter
    assert source.header == HEADER
    assert _cells(frame) == ROWS


def test_delimiter_detection_counts_outside_quotes_only() -> None:
    # Commas inside quotes and decimal commas do not make a comma file.
    assert detect_delimiter(b'"a,b";c\n"x,y";1,5\n"z";2,0\n') == ";"
    assert detect_delimiter(b"name|email\nAnn, Jr|ann@example.com\n") == "|"
    assert detect_delimiter(b"email\nann@example.com\n") == ","
    assert detect_delimiter(b"email\nann@example.com\n", default="\t") == "\t"


def test_quoted_fields_hold_newlines_delimiters_and_quotes() -> None:
    data = (
        b'a,b,c\n"multi\nline, with ""quotes""",",",""""\n'
        b'"",x"y,"a\r\nb"\n'
        b'plain text,"  padded  ",abcdefghijklmnopqrstuvwxyz\n'
    )
    block = parse_delimited(data, delimiter=",")
    assert block.header == ["a", "b", "c"]
    assert _cells(block.frame) == [
        ('multi\nline, with "quotes"', ",", '"'),
        (None, 'x"y', "a\r\nb"),
        ("plain text", "  padded  ", "abcdefghijklmnopqrstuvwxyz"),
    ]
    assert block.frame.get_column(INPUT_ERROR).null_count() == 3


def test_crlf_line_endings() -> None:
    frame, _ = _read(FORMATS / "crlf.csv")
    assert _cells(frame) == [
        ("ann@example.com", "Renée", "Café Crème, Ltd.", 'Paid 5€\r\nit\u2019s "great"'),
        ("bob@example.com", "Bob", "Birch", None),
    ]
    block = parse_delimited(b"a,b\r\n1,2\r\n\r\n3,\r\n", delimiter=",")
    assert _cells(block.frame) == [("1", "2"), ("3", None)]


@pytest.mark.parametrize("name", ["utf8.csv.gz", "utf8-gzip-without-suffix.csv"])
def test_gzip(name: str, tmp_path: Path) -> None:
    path = FORMATS / "utf8.csv.gz"
    if name != path.name:  # detected by the magic bytes
        path = tmp_path / name
        path.write_bytes(gzip.compress((FORMATS / "utf8.csv").read_bytes()))
    frame, source = _read(path, chunk_bytes=7)
    assert source.compressed
    assert _cells(frame) == ROWS
    raw, _ = read_source(path)
    assert raw.get_column("email").to_list() == ["ann@example.com", "bob@example.com"]


# --- row errors -------------------------------------------------------------------------------


def test_ragged_rows_and_broken_quotes_are_row_errors() -> None:
    frame, _ = _read(FORMATS / "ragged.csv")
    assert frame.get_column(ROW_INDEX).to_list() == list(range(9))
    assert frame.get_column(INPUT_ERROR).to_list() == [
        None,
        "expected 4 fields, found 5",
        None,
        "expected 4 fields, found 2",
        None,  # the blank line 7 is skipped
        "unterminated quoted field",
        None,
        "unexpected text after a closing quote",
        None,
    ]
    assert frame.get_column("Email").to_list() == [
        "ann@example.com",
        None,
        "cat@example.com",
        None,
        "eve@example.com",
        None,
        "gus@example.com",
        None,
        "ivy@example.com",
    ]
    assert frame.get_column("Notes").to_list()[2] == "two\nlines"
    assert frame.get_column("Notes").to_list()[8] == 'last "one"'


def test_a_well_quoted_ragged_record_is_one_row_error() -> None:
    block = parse_delimited(b'a,b\n1,"x\ny",extra\n2,3\n', delimiter=",")
    assert block.frame.rows() == [
        (None, None, 0, "expected 2 fields, found 3", 2),
        ("2", "3", 1, None, 4),  # the record on lines 2-3 starts at line 2
    ]


def test_unterminated_quote_costs_one_row() -> None:
    rows = [f"lead{i}@example.com,Lead {i}" for i in range(1, 200)]
    rows[89] = 'broken@example.com,"never closed'  # line 91 (the header is line 1)
    data = ("email,name\n" + "\n".join(rows) + "\n").encode()
    block = parse_delimited(data, delimiter=",")
    errors = block.frame.filter(pl.col(INPUT_ERROR).is_not_null())
    assert errors.rows() == [(None, None, 89, "unterminated quoted field", 91)]
    assert block.frame.height == 199
    assert block.frame.get_column("email").to_list()[90] == "lead91@example.com"


def test_unterminated_quote_in_a_stream_is_cut_after_max_record_bytes(tmp_path: Path) -> None:
    body = "\n".join(f"lead{i}@example.com,Lead {i}" for i in range(500))
    path = tmp_path / "broken.csv"
    path.write_text('email,name\nbroken@example.com,"never closed\n' + body + "\n")
    frame, _ = _read(path, chunk_bytes=256, max_record_bytes=1024)
    assert frame.height == 501
    assert frame.get_column(INPUT_ERROR).to_list()[0] == "unterminated quoted field"
    assert frame.get_column(INPUT_ERROR).null_count() == 500
    assert frame.get_column("email").to_list()[-1] == "lead499@example.com"


def test_blank_lines_are_skipped_and_rows_indexed() -> None:
    data = b"\n\r\nemail,name\n\na@example.com,A\n\n\r\nb@example.com,B\n\n"
    block = parse_delimited(data, delimiter=",")
    assert block.header == ["email", "name"]
    assert block.frame.rows() == [
        ("a@example.com", "A", 0, None, 5),
        ("b@example.com", "B", 1, None, 8),
    ]
    assert (block.consumed, block.lines, block.rows) == (len(data), 9, 2)


def test_row_errors_reach_the_prepared_rows(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("email,name\nann@example.com,Ann\nbob@example.com,Bob,extra\n\ncat@example\n")
    prepared = prepare_leads(read_source(path)[0])
    assert prepared.get_column("error_reason").to_list() == [
        None,
        "expected 2 fields, found 3",
        "expected 2 fields, found 1",
    ]


def test_header_problems() -> None:
    with pytest.raises(UnreadableSourceError, match="line 2: unterminated quoted field"):
        parse_delimited(b'\n"email,name\nann@example.com,Ann\n', delimiter=",")
    empty = parse_delimited(b"\n\n", delimiter=",")
    assert (empty.header, empty.frame.height, empty.lines) == (None, 0, 2)
    only = parse_delimited(b"email,name\n", delimiter=",")
    assert (only.header, only.frame.columns) == (
        ["email", "name"],
        ["email", "name", ROW_INDEX, INPUT_ERROR, LINE],
    )


def test_repeated_and_blank_headers_do_not_crash(tmp_path: Path) -> None:
    path = tmp_path / "dupes.csv"
    path.write_text("Email,Email,,row_index,First Name\na@example.com,b@example.com,x,7,Ann\n")
    frame, source = _read(path)
    assert source.source_header == ["Email", "Email", "", "row_index", "First Name"]
    assert source.header == [
        "Email",
        "Email_duplicated_0",
        "column_3",
        "row_index_duplicated_0",
        "First Name",
    ]
    assert frame.get_column(ROW_INDEX).to_list() == [0]
    raw = to_raw_frame(frame, map_headers(source.header))
    assert raw.select("email", "first_name").rows() == [("a@example.com", "Ann")]


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    for text in ("", "\n\n", "email,name\n"):
        path = tmp_path / "x.csv"
        path.write_text(text)
        frames = list(iter_delimited_chunks(path))
        assert len(frames) == 1
        assert frames[0].height == 0
        with pytest.raises(EmptyInputError):
            read_source(path)


# --- chunks -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["utf8.csv", "utf16le.csv", "cp1252.csv", "crlf.csv", "ragged.csv"]
)
def test_chunk_boundaries_do_not_change_the_result(name: str) -> None:
    whole, _ = _read(FORMATS / name)
    for chunk_bytes in (1, 2, 3, 5, 8, 13, 64):
        frame, _ = _read(FORMATS / name, chunk_bytes=chunk_bytes)
        assert frame.equals(whole), chunk_bytes
    with mock.patch.object(csv_parser, "_BLOCK_BYTES", 3):
        frame, _ = _read(FORMATS / name, chunk_bytes=16)
    assert frame.equals(whole)


def test_chunks_continue_row_indexes_and_line_numbers(tmp_path: Path) -> None:
    lines = ["email,notes"]
    for i in range(300):
        lines.append(f'lead{i}@example.com,"note {i}\nsecond line"' if i % 3 else f"x{i},a,b")
    path = tmp_path / "many.csv"
    path.write_text("\n".join(lines) + "\n")
    source = iter_delimited_chunks(path, chunk_bytes=100)
    frames = list(source)
    assert len(frames) > 10
    frame = pl.concat(frames)
    assert frame.get_column(ROW_INDEX).to_list() == list(range(300))
    errors = frame.get_column(INPUT_ERROR).to_list()
    # Rows 0, 3, 6, … are ragged; before row i come 1 header line and 2 lines per quoted row.
    expected_lines = [2 + i + (i - (i + 2) // 3) for i in range(300)]
    assert errors[::3] == ["expected 2 fields, found 3"] * 100
    assert all(error is None for i, error in enumerate(errors) if i % 3)
    assert frame.get_column(LINE).to_list() == expected_lines


def test_frames_feed_to_raw_frame() -> None:
    source = iter_delimited_chunks(FORMATS / "ragged.csv")
    mapping = map_headers(source.header)
    raw = pl.concat([to_raw_frame(frame, mapping) for frame in source])
    assert raw.get_column("email").to_list()[:3] == ["ann@example.com", None, "cat@example.com"]
    assert raw.get_column(INPUT_ERROR).to_list()[1] == "expected 4 fields, found 5"


# --- NDJSON -----------------------------------------------------------------------------------


def test_ndjson_bad_lines_are_row_errors() -> None:
    source = iter_ndjson_chunks(FORMATS / "malformed.ndjson")
    frame = pl.concat(list(source))
    assert frame.get_column(ROW_INDEX).to_list() == list(range(6))
    assert frame.get_column(INPUT_ERROR).to_list() == [
        None,
        "not a valid JSON object",
        "not a valid JSON object",
        None,
        "not a valid JSON object",
        None,
    ]
    assert frame.get_column(LINE).to_list() == [1, 3, 4, 5, 6, 8]
    assert frame.get_column("json").to_list()[5] == '{"email": "dan@example.com"}'
    assert source.keys == ["email", "firstName", "tags", "company"]
    assert source.encoding == UTF8


def test_ndjson_chunks_and_read_source() -> None:
    whole = pl.concat(list(iter_ndjson_chunks(FORMATS / "malformed.ndjson")))
    for chunk_bytes in (1, 4, 17):
        frame = pl.concat(
            list(iter_ndjson_chunks(FORMATS / "malformed.ndjson", chunk_bytes=chunk_bytes))
        )
        assert frame.equals(whole)
    raw, _ = read_source(FORMATS / "malformed.ndjson")
    prepared = prepare_leads(raw)
    assert prepared.get_column("email").to_list() == [
        "ann@example.com",
        None,
        None,
        "cat@example.com",
        None,
        "dan@example.com",
    ]
    assert prepared.get_column("error_reason").to_list()[1] == "not a valid JSON object"
    assert prepared.get_column("company").to_list()[3] == "Cèdre"
    assert prepared.get_column("tags").to_list()[3] == ["a", "b"]


def test_ndjson_without_any_object_is_all_row_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.ndjson"
    path.write_text("not json\n\n[1]\n")
    raw, _ = read_source(path)
    assert raw.select(ROW_INDEX, LINE, INPUT_ERROR).rows() == [
        (0, 1, "not a valid JSON object"),
        (1, 3, "not a valid JSON object"),
    ]
    path.write_text("\n \n")
    with pytest.raises(EmptyInputError):
        read_source(path)


def test_ndjson_parse_is_pure() -> None:
    block = parse_ndjson(b'{"a": 1}\n\n{"a": 2}\n{"a"', first_line=10, first_row=5, final=False)
    assert block.frame.rows() == [(5, '{"a": 1}', None, 10), (6, '{"a": 2}', None, 12)]
    assert (block.consumed, block.lines, block.rows) == (19, 3, 2)


# --- the reference model: Python's csv module -------------------------------------------------

_TEXT = st.text(
    alphabet=st.sampled_from(list('ab ,;|\t"\n\r\x00é€\u2019😀')), min_size=0, max_size=20
)


@st.composite
def _tables(draw: st.DrawFn) -> list[list[str]]:
    width = draw(st.integers(1, 5))
    height = draw(st.integers(0, 12))
    return [draw(st.lists(_TEXT, min_size=width, max_size=width)) for _ in range(height + 1)]


def _reference(data: str, delimiter: str) -> list[list[str]]:
    return [row for row in csv.reader(io.StringIO(data, newline=""), delimiter=delimiter) if row]


# A table written by the csv module: its rows, delimiter, line ends and quoting.
_WRITTEN = {
    "table": _tables(),
    "delimiter": st.sampled_from(csv_parser.DELIMITERS),
    "terminator": st.sampled_from(["\n", "\r\n"]),
    "quote_all": st.booleans(),
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    **_WRITTEN,
    encoding=st.sampled_from([UTF8, UTF8_BOM, UTF16_LE, UTF16_BE]),
    chunk_bytes=st.sampled_from([5, 16, 64, 1 << 20]),
    block_bytes=st.sampled_from([7, 31, 1 << 21]),
)
def test_parser_matches_the_csv_module(
    table: list[list[str]],
    delimiter: str,
    terminator: str,
    quote_all: bool,
    encoding: str,
    chunk_bytes: int,
    block_bytes: int,
) -> None:
    if terminator == "\n":  # a bare \r ends a line for the csv module, not for us: not compared
        table = [[cell.replace("\r", "") for cell in row] for row in table]
    out = io.StringIO()
    quoting = csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
    csv.writer(out, delimiter=delimiter, lineterminator=terminator, quoting=quoting).writerows(
        table
    )
    text = out.getvalue()
    expected = _reference(text, delimiter)
    bom = {UTF8_BOM: codecs.BOM_UTF8, UTF16_LE: codecs.BOM_UTF16_LE, UTF16_BE: codecs.BOM_UTF16_BE}
    data = bom.get(encoding, b"") + text.encode(encoding.removesuffix("-sig"))

    with mock.patch.object(csv_parser, "_BLOCK_BYTES", block_bytes):
        block = parse_delimited(text.encode(), delimiter=delimiter)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "table.csv"
            path.write_bytes(data)
            source = iter_delimited_chunks(path, chunk_bytes=chunk_bytes, delimiter=delimiter)
            streamed = pl.concat(list(source))
    assert source.encoding == encoding
    assert source.source_header == expected[0] == block.header
    for frame in (block.frame, streamed):
        assert frame.get_column(INPUT_ERROR).null_count() == frame.height
        assert frame.get_column(ROW_INDEX).to_list() == list(range(len(expected) - 1))
        cells = [[cell or "" for cell in row] for row in _cells(frame)]
        assert cells == expected[1:]


_MESSY = st.lists(st.sampled_from(["a", "b", ",", '"', "\n", " ", "\r\n", "\r"]), max_size=60)


@settings(max_examples=150, deadline=None)
@given(
    body=_MESSY.map("".join),
    chunk_bytes=st.sampled_from([1, 3, 8, 1 << 20]),
    block_bytes=st.sampled_from([5, 1 << 21]),
)
def test_malformed_input_parses_the_same_in_any_chunking(
    body: str, chunk_bytes: int, block_bytes: int
) -> None:
    data = ("h1,h2,h3\n" + body).encode()
    whole = parse_delimited(data, delimiter=",").frame
    assert whole.get_column(ROW_INDEX).to_list() == list(range(whole.height))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.csv"
        path.write_bytes(data)
        with mock.patch.object(csv_parser, "_BLOCK_BYTES", block_bytes):
            streamed = pl.concat(list(iter_delimited_chunks(path, chunk_bytes=chunk_bytes)))
    assert streamed.equals(whole)


# --- cells read by Polars where the layout allows ----------------------------------------------

_HEADER = ["h1", "h2", "h3"]


def _nothing_unread(text, lay, good) -> None:
    return None


def _both_ways(
    body: bytes, *, final: bool = True, header: list[str] | None = _HEADER, delimiter: str = ","
) -> tuple[csv_parser.DelimitedBlock, csv_parser.DelimitedBlock]:
    """A piece parsed as it is, and with every cell gathered by `_cell_frame` (no Polars)."""
    given = {"delimiter": delimiter, "header": header, "first_line": 7, "first_row": 5}
    with mock.patch.object(csv_parser, "_unread_bytes", _nothing_unread):
        gathered = parse_delimited(body, **given, final=final)
    return parse_delimited(body, **given, final=final), gathered


def _same(block: csv_parser.DelimitedBlock, gathered: csv_parser.DelimitedBlock) -> None:
    assert block.frame.equals(gathered.frame)
    assert block.frame.schema == gathered.frame.schema
    got = (block.consumed, block.lines, block.rows, block.header)
    assert got == (gathered.consumed, gathered.lines, gathered.rows, gathered.header)


@pytest.mark.parametrize("final", [True, False])
def test_the_cells_of_well_formed_records_are_read_by_polars(final: bool) -> None:
    body = b'a,"b,""q""",c\r\n"",,"x\ny"\nzo\xc3\xa9,"",\xf0\x9f\x98\x80\npartial,'
    with mock.patch.object(csv_parser, "_cell_frame", wraps=csv_parser._cell_frame) as gather:
        block = parse_delimited(body, delimiter=",", header=_HEADER, first_line=7, final=False)
    assert gather.call_count == 0
    assert block.frame.get_column(LINE).to_list() == [7, 8, 10]
    assert _cells(block.frame) == [("a", 'b,"q"', "c"), (None, None, "x\ny"), ("zoé", None, "😀")]
    _same(*_both_ways(body, final=final))


@pytest.mark.parametrize(
    "body",
    [
        b"a,b,c\n\nd,e,f\n",  # a blank line
        b"a,b,c\n\r\nd,e,f\n",  # a blank line ended by CRLF
        b"a,b,c\n\r",  # a blank last line of a final piece
        b"a,b,c\nd,e\nf,g,h\n",  # a short record
        b"a,b,c\nd,e,f,g\n",  # a long one
        b'a,b"c,d\n',  # a quote inside an unquoted cell
        b'a,"b"c,d\n',  # text after a closing quote
        b'"a"b"c",d,e\n',  # the same, twice
        b'a,"b,c\nd,e,f\n',  # a quote never closed
        b'"""\n',  # the same
        b"a,b\rc,d\r\r\n",  # carriage returns inside and at the end
        b"a,b\x00c,d\n",  # a NUL character
    ],
)
def test_awkward_records_read_as_the_gathered_cells_read(body: bytes) -> None:
    _same(*_both_ways(body))


@settings(max_examples=300, deadline=None)
@given(body=_MESSY.map("".join), final=st.booleans(), width=st.sampled_from([1, 2, 3]))
def test_a_piece_reads_the_same_either_way(body: str, final: bool, width: int) -> None:
    _same(*_both_ways(body.encode(), final=final, header=_HEADER[:width]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**_WRITTEN, with_header=st.booleans())
def test_a_written_table_reads_the_same_either_way(
    table: list[list[str]], delimiter: str, terminator: str, quote_all: bool, with_header: bool
) -> None:
    out = io.StringIO()
    quoting = csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
    writer = csv.writer(out, delimiter=delimiter, lineterminator=terminator, quoting=quoting)
    writer.writerows(table if with_header else table[1:])
    header = None if with_header else table[0]
    _same(*_both_ways(out.getvalue().encode(), header=header, delimiter=delimiter))
