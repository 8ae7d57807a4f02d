"""Readers: the HTTP body's shape in a JSON file, column rules, and request-level source errors
that say what is wrong (tests/data/sources, described in its CASES.md)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from leads_import.errors import EmptyInputError, NoEmailColumnError, UnreadableSourceError
from leads_import.readers.sources import JSON_SHAPES, open_source, read_source
from tests.support.paths import DATA, HOSTILE
from transforms.headers import ColumnRules

SOURCES = DATA / "sources"


def _rows(path: Path, **options: object) -> list[dict]:
    raw, _ = read_source(path, **options)  # type: ignore[arg-type]
    return raw.select("email", "first_name", "tags").to_dicts()


@pytest.mark.parametrize(
    ("name", "restore"),
    [
        ("body.json", False),
        ("body_restore_deleted.json", False),  # the other spelling
        ("body_restore_true.json", True),
        ("../leads.json", None),  # an array: no flag of its own
    ],
)
def test_a_json_body_imports_like_an_array_with_its_restore_flag(
    name: str, restore: bool | None
) -> None:
    opened = open_source(SOURCES / name)
    assert opened.format == "json"
    assert opened.restore_soft_deleted is restore
    emails = [row["email"] for row in _rows(SOURCES / name)]
    assert emails[0] == "ann@example.com" and len(emails) == (6 if restore is None else 2)


def test_a_json_body_keeps_its_fields_and_warns_about_other_keys(tmp_path: Path) -> None:
    assert _rows(SOURCES / "body.json") == [
        {"email": "ann@example.com", "first_name": "Ann", "tags": None},
        {"email": "bob@example.com", "first_name": "Bob", "tags": '["vip"]'},
    ]
    opened = open_source(SOURCES / "body_restore_true.json")
    assert opened.warnings == [
        "ignored keys of the JSON body (a file gives leads and restore only): dryRun"
    ]
    packed = tmp_path / "body.json.gz"
    with (SOURCES / "body.json").open("rb") as plain, gzip.open(packed, "wb") as packed_file:
        shutil.copyfileobj(plain, packed_file)
    assert open_source(packed).restore_soft_deleted is False
    assert len(_rows(packed)) == 2


def test_columns_say_where_each_header_went() -> None:
    assert open_source(DATA / "leads.json").columns == {
        "email": "email",
        "firstName": "firstName",
        "company": "company",
        "title": "title",
        "tags": "tags",
        "customFields": "customFields",
        "status": "status",
    }  # in the order of first appearance
    rules = ColumnRules.of({"Vorname": "firstName"}, "keep")
    opened = open_source(SOURCES / "german_headers.csv", columns=rules)
    assert opened.columns == {
        "E-Mail": "email",
        "Vorname": "firstName",
        "Nachname": "customFields.Nachname",
        "Firma": "customFields.Firma",
        "Branche": "customFields.Branche",
        "Kunde seit": "customFields.Kunde seit",
    }
    assert opened.warnings == []
    assert "ignored unknown columns: Vorname, Nachname, Firma, Branche, Kunde seit" in (
        open_source(SOURCES / "german_headers.csv").warnings
    )


def test_a_mapping_can_supply_the_email_column() -> None:
    with pytest.raises(NoEmailColumnError, match="map one with --map HEADER=email"):
        open_source(DATA / "no_email_column.csv")
    rules = ColumnRules.of({"E-Mail": "customFields.mail"})
    with pytest.raises(NoEmailColumnError):
        open_source(SOURCES / "german_headers.csv", columns=rules)


@pytest.mark.parametrize(
    ("path", "says"),
    [
        (SOURCES / "object_not_body.json", "this one holds an object without `leads` (its keys: "
         "'email', 'firstName')"),
        (HOSTILE / "json_not_array.json", "this one holds an object without `leads`"),
        (SOURCES / "body_leads_not_array.json", "an object whose `leads` is a JSON object"),
        (SOURCES / "concatenated.json", "it holds 2 JSON values one after another"),
        (SOURCES / "body_bad_restore.json", "restoreSoftDeleted must be true or false"),
    ],
)  # fmt: skip
def test_json_files_of_another_shape_say_which_shapes_are_accepted(path: Path, says: str) -> None:
    with pytest.raises(UnreadableSourceError) as raised:
        open_source(path)
    message = str(raised.value)
    assert says in message
    if "restoreSoftDeleted" not in says:
        assert JSON_SHAPES in message
    assert "format=" not in message and "Invalid Input Error" not in message


def test_malformed_json_is_said_without_duckdb_hints() -> None:
    with pytest.raises(UnreadableSourceError) as raised:
        read_source(HOSTILE / "json_truncated.json")
    message = str(raised.value)
    assert message.startswith("cannot read json_truncated.json: Malformed JSON")
    assert "Error:" not in message and str(HOSTILE) not in message


def test_an_empty_json_file_has_no_data_rows(tmp_path: Path) -> None:
    (tmp_path / "blank.json").write_text("  \n")
    with pytest.raises(EmptyInputError):
        open_source(tmp_path / "blank.json")
    (tmp_path / "body.json").write_text('{"leads": []}')
    with pytest.raises(EmptyInputError):
        read_source(tmp_path / "body.json")


def test_a_directory_is_named_as_one() -> None:
    with pytest.raises(UnreadableSourceError, match="it is a directory, not a file"):
        open_source(SOURCES)
    with pytest.raises(UnreadableSourceError, match="no such file"):
        open_source(SOURCES / "missing.csv")


def test_xlsx_errors_name_the_sheets() -> None:
    with pytest.raises(UnreadableSourceError) as missing:
        open_source(SOURCES / "first_sheet_notes.xlsx", sheet="Nope")
    assert str(missing.value) == (
        "cannot read first_sheet_notes.xlsx: it has no sheet 'Nope'; its sheets: 'Notes', 'Leads'"
    )
    with pytest.raises(NoEmailColumnError) as default:
        open_source(SOURCES / "first_sheet_notes.xlsx")
    assert str(default.value).startswith(
        "no email column among the headers of sheet 'Notes' (the first) ('Topic', 'Text'); "
        "the other sheets: 'Leads' (--sheet NAME)"
    )
    assert read_source(SOURCES / "first_sheet_notes.xlsx", sheet="Leads")[0].height == 1
