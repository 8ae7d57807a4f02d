"""transforms/headers.py: explicit column mappings, kept unknown columns, the `columns` report."""

from __future__ import annotations

import json

import polars as pl
import pytest

from transforms.fields import MAP_TARGETS, map_target
from transforms.headers import ColumnRules, map_headers, to_raw_frame
from transforms.watermark import source_columns, source_rows_to_raw

GERMAN = ["E-Mail", "Vorname", "Nachname", "Firma", "Branche", "Kunde seit"]


@pytest.mark.parametrize(
    ("given", "target"),
    [
        ("firstName", "firstName"),
        ("first_name", "firstName"),
        (" FIRSTNAME ", "firstName"),
        ("linkedin-url", "linkedinUrl"),
        ("customFields", "customFields"),
        ("customFields.Plan Tier", "customFields.Plan Tier"),
        ("customfields. plan ", "customFields.plan"),
    ],
)
def test_map_target_accepts_api_and_column_names(given: str, target: str) -> None:
    assert map_target(given) == target


@pytest.mark.parametrize("given", ["vorname", "mail", "", "customFields.", "custom_fields.x"])
def test_map_target_refuses_other_names_naming_the_fields(given: str) -> None:
    with pytest.raises(ValueError) as raised:
        map_target(given)
    assert MAP_TARGETS in str(raised.value)
    assert "firstName" in MAP_TARGETS and "customFields.<key>" in MAP_TARGETS


def test_recognised_headers_and_ignored_ones_are_reported() -> None:
    mapping = map_headers(GERMAN)
    assert mapping.assigned == {
        "E-Mail": "email",
        "Vorname": None,
        "Nachname": None,
        "Firma": None,
        "Branche": None,
        "Kunde seit": None,
    }
    assert mapping.warnings() == [
        "ignored unknown columns: Vorname, Nachname, Firma, Branche, Kunde seit"
    ]


def test_explicit_mappings_and_kept_columns() -> None:
    rules = ColumnRules.of(
        {"vorname": "firstName", "Nachname": "last_name", "Firma": "customFields.employer"},
        "keep",
    )
    mapping = map_headers(GERMAN, rules)
    assert mapping.assigned == {
        "E-Mail": "email",
        "Vorname": "firstName",  # the header is found ignoring case
        "Nachname": "lastName",
        "Firma": "customFields.employer",
        "Branche": "customFields.Branche",
        "Kunde seit": "customFields.Kunde seit",  # keyed by the header as written
    }
    assert mapping.columns == {"first_name": "Vorname", "last_name": "Nachname", "email": "E-Mail"}
    assert mapping.warnings() == []

    table = pl.DataFrame(
        [["ann@x.io", "Ann", "Ames", "Acme", "Retail", ""]], schema=GERMAN, orient="row"
    )
    raw = to_raw_frame(table, mapping).row(0, named=True)
    assert (raw["email"], raw["first_name"], raw["last_name"]) == ("ann@x.io", "Ann", "Ames")
    assert json.loads(raw["custom_fields_extra"]) == {"employer": "Acme", "Branche": "Retail"}


def test_an_explicit_mapping_wins_over_a_recognised_spelling() -> None:
    mapping = map_headers(["Email", "Work Email"], ColumnRules.of({"Work Email": "email"}))
    assert mapping.columns == {"email": "Work Email"}
    assert mapping.assigned == {"Email": None, "Work Email": "email"}
    assert mapping.warnings() == ["ignored repeated columns: Email"]


def test_mapping_a_recognised_header_elsewhere_and_a_missing_header() -> None:
    rules = ColumnRules.of({"E-Mail": "customFields.old", "Nope": "title"})
    mapping = map_headers(GERMAN, rules)
    assert not mapping.has_email
    assert mapping.assigned["E-Mail"] == "customFields.old"
    assert "mapped headers not found: 'Nope'" in mapping.warnings()


def test_a_kept_column_does_not_take_a_custom_key_already_given() -> None:
    mapping = map_headers(["email", "customFields.plan", "plan"], ColumnRules.of(None, "keep"))
    assert mapping.custom_fields == {"plan": "customFields.plan"}
    assert mapping.assigned["plan"] is None
    assert mapping.warnings() == ["ignored unknown columns: plan"]


def test_rules_refuse_unknown_choices_and_fields() -> None:
    with pytest.raises(ValueError, match="ignore, keep"):
        ColumnRules.of(None, "drop")
    with pytest.raises(ValueError, match="the fields are"):
        ColumnRules.of({"Vorname": "vorname"})
    with pytest.raises(ValueError, match="needs a header"):
        ColumnRules.of({" ": "email"})


def test_a_sql_sources_cursor_column_is_left_out_unless_mapped() -> None:
    frame = pl.DataFrame(
        {"Mail": ["ann@x.io"], "Vorname": ["Ann"], "changed": [3], "Region": ["EU"]}
    )
    keep = ColumnRules.of({"Vorname": "firstName"}, "keep")
    assert source_columns(frame.columns, "changed", keep) == {
        "Mail": "email",
        "Vorname": "firstName",
        "Region": "customFields.Region",  # the cursor column is not kept as a custom field
    }
    raw, warnings = source_rows_to_raw(frame, "changed", 5, keep)
    row = raw.row(0, named=True)
    assert (row["row_index"], row["first_name"], warnings) == (5, "Ann", [])
    assert json.loads(row["custom_fields_extra"]) == {"Region": "EU"}
    mapped = ColumnRules.of({"changed": "customFields.changed"})
    assert source_columns(frame.columns, "changed", mapped)["changed"] == "customFields.changed"
    assert source_columns(frame.columns, "changed") == {
        "Mail": "email",
        "Vorname": None,
        "Region": None,
    }
