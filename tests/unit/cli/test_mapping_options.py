"""`leads import --map/--unknown-columns`: parsed into the flow's parameters, refused with the
valid fields when malformed; the report's `columns` printed compactly."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from flows.import_flow import FileImport
from leads_import.cli.client import parse_map, request_fields
from leads_import.cli.output import columns_lines
from leads_import.cli.parser import build_parser
from leads_import.errors import InvalidMappingError
from transforms.headers import ColumnRules


def test_map_options_become_the_flows_map() -> None:
    args = build_parser().parse_args(
        [
            "import", "in.csv",
            "--map", "Vorname=firstName",
            "--map", "Nach=Name=last_name",  # the last `=` splits
            "--map", "Vorname=customFields.vorname",  # a later one for a header wins
            "--unknown-columns", "keep",
        ]
    )  # fmt: skip
    fields = request_fields(args, "/abs/in.csv")
    assert fields["map"] == {"Vorname": "customFields.vorname", "Nach=Name": "lastName"}
    assert fields["unknown_columns"] == "keep"
    request = FileImport(**fields)
    assert request.column_rules() == ColumnRules(
        (("Vorname", "customFields.vorname"), ("Nach=Name", "lastName")), keep_unknown=True
    )
    plain = request_fields(build_parser().parse_args(["import", "in.csv"]), "/abs/in.csv")
    assert (plain["map"], plain["unknown_columns"]) == (None, "ignore")


@pytest.mark.parametrize("value", ["Vorname", "Vorname=", "=email", "Vorname=vorname"])
def test_a_bad_map_is_a_request_error_naming_the_fields(value: str) -> None:
    with pytest.raises(InvalidMappingError) as raised:
        parse_map([value])
    error = raised.value
    assert (error.exit_code, error.code) == (2, "invalid_mapping")
    assert repr(value) in str(error)
    assert "firstName" in str(error) and "customFields.<key>" in str(error)
    assert error.details()["fields"][:2] == ["email", "firstName"]


def test_unknown_columns_choices_are_checked_by_the_parser(capsys) -> None:
    with pytest.raises(SystemExit) as raised:
        build_parser().parse_args(["import", "in.csv", "--unknown-columns", "drop"])
    assert raised.value.code == 2
    assert "choose from 'ignore', 'keep'" in capsys.readouterr().err


def test_the_flow_parameters_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="the fields are email, firstName"):
        FileImport(source="in.csv", map={"Vorname": "vorname"})
    with pytest.raises(ValidationError):
        FileImport(source="in.csv", unknown_columns="drop")


def test_a_mapping_changes_the_idempotency_fingerprint_only_when_given() -> None:
    plain = FileImport(source="in.csv")
    assert plain.fingerprint_parts() == ["default", "None", "None", "True", "skip"]
    mapped = FileImport(source="in.csv", map={"Vorname": "firstName"})
    assert mapped.fingerprint_parts() != plain.fingerprint_parts()
    kept = FileImport(source="in.csv", unknown_columns="keep")
    assert kept.fingerprint_parts() not in (plain.fingerprint_parts(), mapped.fingerprint_parts())


def test_a_files_restore_flag_is_honoured_unless_restoring_is_off() -> None:
    request = FileImport(source="in.json")
    assert request.options().restore_soft_deleted is True
    assert request.options(file_restore=True).restore_soft_deleted is True
    assert request.options(file_restore=False).restore_soft_deleted is False
    no_restore = FileImport(source="in.json", restore_soft_deleted=False)
    assert no_restore.options(file_restore=True).restore_soft_deleted is False


def test_columns_block_is_compact_and_wraps() -> None:
    columns = {
        "E-Mail": "email",
        "Vorname": "firstName",
        "Branche": None,
        **{f"Feld {n}": f"customFields.Feld {n}" for n in range(6)},
        "Umsatz": None,
    }
    lines = columns_lines(columns, width=60)
    assert lines[0] == "columns:"
    assert lines[1].startswith("  E-Mail -> email, Vorname -> firstName,")
    assert lines[-1] == "  ignored: Branche, Umsatz"
    assert all(len(line) <= 60 for line in lines)
    body = " ".join(line.strip() for line in lines[1:-1])
    assert body.count("->") == 8 and "Feld 5 -> customFields.Feld 5" in body
    assert columns_lines(None) == [] and columns_lines({}) == []
