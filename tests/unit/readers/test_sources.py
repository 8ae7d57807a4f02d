"""Readers and header mapping: the same leads in every format prepare to the same rows."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from leads_import.errors import EmptyInputError, NoEmailColumnError, UnreadableSourceError
from leads_import.readers.ndjson import json_objects_to_raw
from leads_import.readers.sources import open_source, read_source
from tests.support.paths import DATA, OTHER_FORMATS
from transforms.fields import LINE
from transforms.headers import map_headers
from transforms.normalise import prepare_leads

# What an invalid status reason names after the value (pinned here, not imported).
STATUS_HINT = "(expected active, bounced, unsubscribed or replied)"

COMPARED = [
    "row_index",
    "email",
    "first_name",
    "company",
    "title",
    "status",
    "custom_fields",
    "tags",
    "error_reason",
    "is_first",
]


def _prepared(name: str) -> pl.DataFrame:
    raw, _ = read_source(DATA / name)
    return prepare_leads(raw).select(COMPARED)


@pytest.mark.parametrize("name", OTHER_FORMATS)
def test_every_format_prepares_like_csv(name: str) -> None:
    expected = _prepared("leads.csv").with_columns(pl.col("custom_fields").str.replace_all(" ", ""))
    got = _prepared(name).with_columns(pl.col("custom_fields").str.replace_all(" ", ""))
    assert got.to_dicts() == expected.to_dicts()


def test_xlsx_sheet_by_name() -> None:
    raw, _ = read_source(DATA / "leads.xlsx", sheet="Leads")
    assert raw.height == 6
    with pytest.raises(NoEmailColumnError):
        read_source(DATA / "leads.xlsx", sheet="Notes")
    with pytest.raises(UnreadableSourceError):
        read_source(DATA / "leads.xlsx", sheet="Missing")


def test_csv_fixture_outcomes() -> None:
    prepared = _prepared("leads.csv")
    assert prepared.get_column("email").to_list()[:3] == [
        "ann@example.com",
        "ann@example.com",
        "bob@example.com",
    ]
    assert prepared.get_column("is_first").to_list() == [True, False, True, False, False, False]
    assert prepared.get_column("error_reason").to_list() == [
        None,
        None,
        None,
        "empty email",
        "invalid email format",
        'invalid status "hot" ' + STATUS_HINT,
    ]
    assert prepared.get_column("tags").to_list()[:3] == [["vip", "q3"], [], ["a", "b"]]
    assert prepared.get_column("custom_fields").to_list()[0] == '{"plan":"pro"}'
    assert prepared.get_column("company").to_list()[2] == "Birch, Inc."
    assert prepared.get_column("status").to_list()[2] == "replied"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (["Email"], {"email": "Email"}),
        (
            ["E-mail", "First Name", "Job Title"],
            {"email": "E-mail", "first_name": "First Name", "title": "Job Title"},
        ),
        (
            ["Email Address", "Company Name", "Phone Number"],
            {"email": "Email Address", "company": "Company Name", "phone": "Phone Number"},
        ),
        (
            ["email", "LinkedIn URL", "Person Linkedin Url"],
            {"email": "email", "linkedin_url": "LinkedIn URL"},
        ),
        (
            ["first_name", "last-name", "EMAIL"],
            {"first_name": "first_name", "last_name": "last-name", "email": "EMAIL"},
        ),
    ],
)
def test_header_aliases(headers: list[str], expected: dict[str, str]) -> None:
    assert map_headers(headers).columns == expected


def test_unknown_and_custom_columns_are_reported() -> None:
    mapping = map_headers(["Email", "Shoe Size", "customFields.plan", "Mail"])
    assert mapping.custom_fields == {"plan": "customFields.plan"}
    assert mapping.unknown == ["Shoe Size"]
    assert mapping.repeated == ["Mail"]
    assert mapping.warnings() == [
        "ignored unknown columns: Shoe Size",
        "ignored repeated columns: Mail",
    ]


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("no_email_column.csv", NoEmailColumnError),
        ("header_only.csv", EmptyInputError),
        ("empty.csv", EmptyInputError),
        ("missing.csv", UnreadableSourceError),
        ("leads.xml", UnreadableSourceError),
    ],
)
def test_request_level_file_errors(name: str, error: type[Exception], tmp_path: Path) -> None:
    path = DATA / name
    if name == "leads.xml":
        path = tmp_path / name
        path.write_text("<leads/>")
    with pytest.raises(error):
        read_source(path)


# --- JSON objects: mapped fields and type errors (readers/ndjson.py) -------------------------


def _objects_to_raw(*documents: str, errors: list[str | None] | None = None) -> pl.DataFrame:
    objects = pl.DataFrame(
        {
            "row_index": range(len(documents)),
            "json": documents,
            "input_error": errors or [None] * len(documents),
        },
        schema={"row_index": pl.Int64, "json": pl.String, "input_error": pl.String},
    )
    keys = ["email", "firstName", "lastName", "customFields", "tags", "customFields.plan"]
    return json_objects_to_raw(objects, map_headers(keys))


def test_a_row_that_is_not_an_object_is_a_row_error() -> None:
    raw = _objects_to_raw(
        '{"email": "ann@example.com"}',
        "[1, 2]",
        '"ann@example.com"',
        "3",
        "null",
        "[1]",
        None,
        errors=[None, None, None, None, None, "not a valid JSON object", "bad line"],
    )
    assert raw.select("row_index", "email", "input_error").rows() == [
        (0, "ann@example.com", None),
        (1, None, "row is not a JSON object"),
        (2, None, "row is not a JSON object"),
        (3, None, "row is not a JSON object"),
        (4, None, "row is not a JSON object"),
        (5, None, "not a valid JSON object"),  # the reader's own error comes first
        (6, None, "bad line"),
    ]


def test_a_number_where_text_belongs_is_a_row_error() -> None:
    raw = _objects_to_raw(
        '{"email": 5, "firstName": true}',
        '{"email": "bob@example.com", "lastName": 1.5}',
        '{"email": "cat@example.com", "firstName": null}',
        '{"email": "dan@example.com", "firstName": {"n": 1}, "customFields.plan": 7}',
    )
    assert raw.select("email", "first_name", "last_name", "input_error").rows() == [
        ("5", "true", None, "email must be a string"),  # the first mapped column's error
        ("bob@example.com", None, "1.5", "lastName must be a string"),
        ("cat@example.com", None, None, None),  # null and a missing key are fine
        ("dan@example.com", '{"n":1}', None, "firstName must be a string"),
    ]
    # customFields.<key> members take any JSON value, as text.
    assert raw.get_column("custom_fields_extra").to_list()[3] == '{"plan":"7"}'


def test_nested_custom_fields_and_tags_are_kept_as_json_text() -> None:
    raw = _objects_to_raw(
        '{"email": "ann@example.com", "customFields": {"plan": "pro", "seats": [1, 2]},'
        ' "tags": ["a", {"b": "\\u00e9\\"q"}]}',
        '{"email": "bob@example.com", "customFields": "plain", "tags": "vip; q3"}',
    )
    assert raw.select("custom_fields", "tags", "input_error").rows() == [
        ('{"plan":"pro","seats":[1,2]}', '["a",{"b":"é\\"q"}]', None),
        ("plain", "vip; q3", None),
    ]


def test_keys_that_differ_only_in_letter_case_are_kept_apart(tmp_path: Path) -> None:
    path = tmp_path / "case.ndjson"
    path.write_text(
        '{"email": "a@example.com", "customFields.Plan": "P", "customFields.plan": "p"}\n'
    )
    raw, _ = read_source(path)
    assert raw.get_column("custom_fields_extra").to_list() == ['{"Plan":"P","plan":"p"}']


# --- lines: each row named as a person finds it in the file ----------------------------------


def _lines(path: Path, **options) -> list[tuple[int, int, str | None]]:
    opened = open_source(path, **options)
    raw = pl.concat(list(opened.raw_chunks()))
    return raw.select("row_index", LINE, "email").rows()


def test_csv_lines_count_the_header_blank_lines_and_quoted_newlines(tmp_path: Path) -> None:
    path = tmp_path / "lines.csv"
    rows = ['a@x.io,"two\nlines"', "", "b@x.io,one", 'c@x.io,"three\n\nlines"', "d@x.io,x"]
    path.write_text("email,notes\n" + "\n".join(rows) + "\n")
    expected = [(0, 2, "a@x.io"), (1, 5, "b@x.io"), (2, 6, "c@x.io"), (3, 9, "d@x.io")]
    assert _lines(path) == expected
    # Cut into pieces of a few bytes, the lines continue across them.
    assert _lines(path, chunk_bytes=7) == expected


def test_ndjson_lines_skip_nothing(tmp_path: Path) -> None:
    path = tmp_path / "lines.ndjson"
    path.write_text('{"email": "a@x.io"}\n\n  \n{"email": "b@x.io"}\nnot json\n{"email": "c@x.io"}')
    expected = [(0, 1, "a@x.io"), (1, 4, "b@x.io"), (2, 5, None), (3, 6, "c@x.io")]
    assert _lines(path) == expected
    assert _lines(path, chunk_bytes=9) == expected


@pytest.mark.parametrize("name", ["leads.json", "leads.parquet"])
def test_json_arrays_and_parquet_name_rows_by_position(name: str) -> None:
    assert [line for _, line, _ in _lines(DATA / name)] == [1, 2, 3, 4, 5, 6]


def test_xlsx_rows_are_named_as_excel_shows_them(tmp_path: Path) -> None:
    import xlsxwriter

    path = tmp_path / "lines.xlsx"
    with xlsxwriter.Workbook(path) as workbook:
        sheet = workbook.add_worksheet("Leads")
        sheet.write_row(0, 0, ["Email", "Name"])
        sheet.write_row(1, 0, ["a@x.io", "A"])
        sheet.write_row(3, 0, ["b@x.io", "B"])  # row 3 (Excel's numbering) left blank
        sheet.write_row(4, 1, ["no email"])
    assert _lines(path) == [(0, 2, "a@x.io"), (1, 4, "b@x.io"), (2, 5, None)]
    assert [line for _, line, _ in _lines(DATA / "leads.xlsx")] == [2, 3, 4, 5, 6, 7]
