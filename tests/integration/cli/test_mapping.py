"""Column mapping, the HTTP body's shape in a JSON file and source errors, through the real
`leads import` command (in-process, against the session's Prefect server) and the import-leads
flow, into the embedded PostgreSQL (tests/data/sources, described in its CASES.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flows.artifacts import IGNORED_COLUMN, artifact_key
from flows.import_flow import FileImport
from leads_import.cli.main import main
from tests.support.database import make_workspace, query
from tests.support.paths import DATA, HOSTILE

SOURCES = DATA / "sources"
GERMAN = SOURCES / "german_headers.csv"


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["import", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _json(capsys, *args: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = _cli(capsys, *args, "--json")
    return code, json.loads(out)


def _stored(db, workspace_id: int) -> list[tuple]:
    return query(
        db,
        "SELECT email, first_name, last_name, company, custom_fields, deleted_at IS NULL "
        "FROM leads WHERE workspace_id = %s ORDER BY email",
        (workspace_id,),
    )


def test_map_and_keep_unknown_columns(prefect_api_url: str, db, capsys) -> None:
    workspace = make_workspace(db)
    code, report = _json(
        capsys,
        str(GERMAN),
        "--workspace", workspace.slug,
        "--map", "Vorname=firstName",
        "--map", "nachname=last_name",
        "--map", "Firma=company",
        "--unknown-columns", "keep",
    )  # fmt: skip
    assert code == 0 and report["created"] == 2
    assert report["columns"] == {
        "E-Mail": "email",
        "Vorname": "firstName",
        "Nachname": "lastName",
        "Firma": "company",
        "Branche": "customFields.Branche",
        "Kunde seit": "customFields.Kunde seit",
    }
    assert "warnings" not in report
    assert _stored(db, workspace.id) == [
        (
            "ann@example.com",
            "Ann",
            "Ames",
            "Acme",
            {"Branche": "Retail", "Kunde seit": "2019"},
            True,
        ),
        ("bob@example.com", "Bob", "Barr", "Bolt", {"Branche": "Energy"}, True),
    ]
    [(parameters,)] = query(
        db, "SELECT parameters FROM import_runs WHERE workspace_id = %s", (workspace.id,)
    )
    assert parameters["map"]["Vorname"] == "firstName"
    assert parameters["unknown_columns"] == "keep"


def test_ignored_columns_are_warned_and_shown(prefect_api_url: str, db, capsys) -> None:
    workspace = make_workspace(db)
    code, out, _ = _cli(capsys, str(GERMAN), "--workspace", workspace.slug)
    assert code == 0
    assert "warning: ignored unknown columns: Vorname, Nachname, Firma, Branche, Kunde seit" in out
    assert "columns:\n  E-Mail -> email\n  ignored: Vorname, Nachname, Firma, Branche," in out
    assert _stored(db, workspace.id)[0][1:5] == (None, None, None, {})

    code, report = _json(capsys, str(GERMAN), "--workspace", workspace.slug, "--dry-run")
    assert report["columns"]["Branche"] is None and report["duplicates"] == 2


def test_a_bad_map_is_refused_before_reading(prefect_api_url: str, db, capsys) -> None:
    workspace = make_workspace(db)
    for bad in ("Vorname", "Vorname=vorname"):
        code, out, err = _cli(
            capsys, str(GERMAN), "--workspace", workspace.slug, "--map", bad, "--json"
        )
        assert code == 2
        error = json.loads(out)
        assert error["code"] == "invalid_mapping"
        assert (
            "email, firstName, lastName" in error["error"]
            and "customFields.<key>" in error["error"]
        )
        assert err.count("error:") == 1
    code, out, _ = _cli(
        capsys,
        str(GERMAN),
        "--workspace",
        workspace.slug,
        "--map",
        "E-Mail=customFields.mail",
        "--json",
    )
    assert (code, json.loads(out)["code"]) == (2, "no_email_column")
    assert _stored(db, workspace.id) == []


def _soft_deleted(db, capsys, slug: str) -> None:
    assert main(["import", str(SOURCES / "body_restore_true.json"), "--workspace", slug]) == 0
    assert main(["delete", "--workspace", slug, "ann@example.com"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize(
    ("name", "options", "restored"),
    [
        ("body.json", [], 0),  # the file says restoreSoftDeleted false
        ("body_restore_deleted.json", [], 0),  # ... or restoreDeleted false
        ("body_restore_true.json", [], 1),
        ("body_restore_true.json", ["--no-restore"], 0),  # --no-restore wins
    ],
)
def test_a_json_body_imports_with_its_restore_flag(
    prefect_api_url: str, db, capsys, name: str, options: list[str], restored: int
) -> None:
    workspace = make_workspace(db)
    _soft_deleted(db, capsys, workspace.slug)
    code, report = _json(capsys, str(SOURCES / name), "--workspace", workspace.slug, *options)
    assert code == 0
    assert (report["restored"], report["duplicates"], report["format"]) == (
        restored,
        2 - restored,
        "json",
    )
    active = {row[0]: row[5] for row in _stored(db, workspace.id)}
    assert active == {"ann@example.com": bool(restored), "bob@example.com": True}


@pytest.mark.parametrize(
    ("source", "options", "code_name", "says"),
    [
        (SOURCES, [], "unreadable_source", "is a directory, not a file"),
        (SOURCES / "object_not_body.json", [], "unreadable_source",
         "a JSON file holds an array of lead objects"),
        (HOSTILE / "json_not_array.json", [], "unreadable_source", "or the HTTP body's shape"),
        (SOURCES / "first_sheet_notes.xlsx", ["--sheet", "Nope"], "unreadable_source",
         "it has no sheet 'Nope'; its sheets: 'Notes', 'Leads'"),
        (SOURCES / "first_sheet_notes.xlsx", [], "no_email_column",
         "the headers of sheet 'Notes' (the first)"),
    ],
)  # fmt: skip
def test_source_errors_say_what_is_wrong(
    prefect_api_url: str, db, capsys, source: Path, options: list[str], code_name: str, says: str
) -> None:
    workspace = make_workspace(db)
    code, out, err = _cli(capsys, str(source), "--workspace", workspace.slug, *options, "--json")
    assert code == 2
    error = json.loads(out)
    assert error["code"] == code_name
    assert says in error["error"]
    assert "format='auto'" not in err + out and "sheet_name" not in err + out
    assert _stored(db, workspace.id) == []


def test_the_flow_maps_columns_and_publishes_them(prefect_api_url: str, db) -> None:
    from prefect.artifacts import Artifact

    from flows.import_flow import import_leads_flow

    workspace = make_workspace(db)
    request = FileImport(
        source=str(GERMAN),
        workspace=workspace.slug,
        map={"Vorname": "firstName", "Branche": "customFields.industry"},
    )
    state = import_leads_flow(request, return_state=True)
    report = state.result()
    assert report["columns"]["Branche"] == "customFields.industry"
    assert report["warnings"] == ["ignored unknown columns: Nachname, Firma, Kunde seit"]
    assert _stored(db, workspace.id)[1][1:5] == ("Bob", None, None, {"industry": "Energy"})
    table = Artifact.get(artifact_key("columns", workspace.slug))
    assert table is not None and table.type == "table"
    assert str(table.flow_run_id) == str(state.state_details.flow_run_id)
    rows = json.loads(table.data)
    assert rows[:3] == [
        {"header": "E-Mail", "field": "email"},
        {"header": "Vorname", "field": "firstName"},
        {"header": "Nachname", "field": IGNORED_COLUMN},
    ]
    [(stored,)] = query(
        db, "SELECT report FROM import_runs WHERE workspace_id = %s", (workspace.id,)
    )
    assert stored["columns"] == report["columns"]
