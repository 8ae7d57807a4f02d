"""Readers and header mapping: the same leads in every format prepare to the same rows."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from leads_import.errors import EmptyInputError, NoEmailColumnError, UnreadableSourceError
from leads_import.readers.sources import read_source
from tests.conftest import OTHER_FORMATS
from transforms.headers import map_headers
from transforms.normalise import prepare_leads

DATA = Path(__file__).parent / "data"
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
        'invalid status "hot"',
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
