"""The lead's field schema (transforms.fields.LEAD_FIELDS) and everything that must agree with it:
the derived constants, the HTTP API's models and validation, the SQL statements that list lead
columns, the database table and the README's header table. A new field or header spelling
fails here until every place that lists fields by hand is updated."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from pydantic import TypeAdapter

from leads_import.api import service
from leads_import.api.models import Lead, LeadCreate, LeadInput, LeadPatch
from leads_import.api.validation import LEAD_FIELD_TYPES
from leads_import.sqlfiles import SQL_DIR, load_sql
from tests.support.paths import REPO
from transforms import fields
from transforms.fields import (
    API_TO_COLUMN,
    DEFAULT_STATUS,
    HEADER_TO_COLUMN,
    LEAD_COLUMNS,
    LEAD_FIELDS,
    MAX_EMAIL_LENGTH,
    MAX_TAG_LENGTH,
    README_HEADERS_HEADING,
    STATUSES,
    TEXT_LIMITS,
    LeadField,
    header_key,
    header_table,
    with_header_table,
)
from transforms.headers import map_headers
from transforms.write_plan import MERGE_COLUMNS

README = REPO / "README.md"
UPDATE_README = "run `uv run leads headers --readme README.md`"

API_NAMES = [field.api_name for field in LEAD_FIELDS]
# The snake_case column names the API also accepts (undocumented), where they differ.
SNAKE_CASE = [field.column for field in LEAD_FIELDS if field.column != field.api_name]
TEXT_KINDS = ("text", "url")
# The columns of SPEC section 2, in the order of SPEC section 1.
SPEC_COLUMNS = (
    "email", "first_name", "last_name", "company", "title", "phone", "linkedin_url", "website",
    "notes", "source", "status", "custom_fields", "tags",
)  # fmt: skip


def _limit_stated(description: str, limit: int) -> bool:
    return str(limit) in description or f"{limit:,}" in description


# --- the schema itself ---------------------------------------------------------------------


def test_names_and_header_spellings_are_unique():
    assert len({f.column for f in LEAD_FIELDS}) == len(LEAD_FIELDS)
    assert len({f.api_name for f in LEAD_FIELDS}) == len(LEAD_FIELDS)
    headers = [header for field in LEAD_FIELDS for header in field.headers]
    assert sorted(h for h in set(headers) if headers.count(h) > 1) == []
    assert len(HEADER_TO_COLUMN) == len(headers)


@pytest.mark.parametrize("field", LEAD_FIELDS, ids=lambda f: f.api_name)
def test_a_field_is_well_formed(field: LeadField):
    assert all(header_key(header) == header for header in field.headers), (
        "headers are written as header_key compares them"
    )
    # A file whose headers are the API or column names maps without aliases (SPEC 1).
    assert {header_key(field.api_name), header_key(field.column)} <= set(field.headers)
    has_limit = field.kind in ("email", "text", "url", "tags")
    assert (field.limit is not None) == has_limit
    assert field.limit is None or field.limit > 0
    assert bool(field.choices) == (field.kind == "status")


def test_the_spec_columns_keep_their_order_and_email_comes_first():
    assert [c for c in LEAD_COLUMNS if c in SPEC_COLUMNS] == list(SPEC_COLUMNS)
    # write_plan's merge columns are LEAD_COLUMNS[1:]: every field but the email.
    assert LEAD_COLUMNS[0] == "email"
    assert DEFAULT_STATUS in STATUSES


def test_the_derived_constants_follow_the_schema():
    assert tuple(API_TO_COLUMN) == tuple(API_NAMES)
    assert tuple(f.column for f in LEAD_FIELDS) == LEAD_COLUMNS
    assert {f.column: f.limit for f in LEAD_FIELDS if f.kind in TEXT_KINDS} == TEXT_LIMITS
    assert tuple(f.column for f in LEAD_FIELDS if f.kind == "url") == fields.URL_COLUMNS
    assert fields.field_of_kind("email").limit == MAX_EMAIL_LENGTH == 254
    assert fields.field_of_kind("tags").limit == MAX_TAG_LENGTH == 100
    assert fields.CUSTOM_FIELD_PREFIX == "customfields."


def test_the_spec_header_examples_map():
    headers = [
        "E-mail", "First Name", "last_name", "Company Name", "Job Title", "Phone Number",
        "Person Linkedin Url", "website", "Notes", "Lead Source", "Status", "Custom Fields",
        "Tags",
    ]  # fmt: skip
    assert list(map_headers(headers).columns) == list(SPEC_COLUMNS)
    assert map_headers(["LinkedIn URL", "Email Address"]).columns == {
        "linkedin_url": "LinkedIn URL",
        "email": "Email Address",
    }


# --- the HTTP API ----------------------------------------------------------------------------


def _documented(model: Any) -> dict[str, Any]:
    return TypeAdapter(model).json_schema()["properties"]


def _keys(typed_dict: Any) -> list[str]:
    return [*typed_dict.__required_keys__, *typed_dict.__optional_keys__]


@pytest.mark.parametrize("model", [LeadInput, LeadCreate, LeadPatch], ids=lambda m: m.__name__)
def test_the_lead_inputs_document_every_field_with_its_limit(model: Any):
    documented = _documented(model)
    assert list(documented) == API_NAMES
    for field in LEAD_FIELDS:
        description = documented[field.api_name]["description"]
        if field.kind in TEXT_KINDS:
            assert _limit_stated(description, TEXT_LIMITS[field.column]), field.api_name
        if field.kind == "url":
            assert "no whitespace" in description
        if field.kind == "tags":
            assert _limit_stated(description, MAX_TAG_LENGTH)
        if field.kind == "status":
            assert all(f"`{status}`" in description for status in STATUSES)
    if model is LeadInput:
        assert _limit_stated(documented["email"]["description"], MAX_EMAIL_LENGTH)


def test_the_inputs_accept_exactly_the_api_names_and_snake_case_spellings():
    assert sorted(_keys(LeadInput)) == sorted([*API_NAMES, *SNAKE_CASE])
    assert sorted(_keys(LeadCreate)) == sorted([*API_NAMES, *SNAKE_CASE])
    assert sorted(_keys(LeadPatch)) == sorted(API_NAMES)
    assert sorted(LEAD_FIELD_TYPES) == sorted([*API_NAMES, *SNAKE_CASE])


def test_the_fast_validation_checks_each_field_by_kind():
    kind_types = {"json_object": dict, "tags": list}
    for field in LEAD_FIELDS:
        expected = kind_types.get(field.kind, str)
        assert LEAD_FIELD_TYPES[field.api_name] is expected
        assert LEAD_FIELD_TYPES.get(field.column, expected) is expected


def test_the_stored_lead_has_every_field():
    keys = ["id", *API_NAMES, "createdAt", "updatedAt", "deletedAt"]
    assert list(Lead.model_fields) == keys
    assert list(service._LEAD_KEYS) == keys
    assert ("id", *LEAD_COLUMNS, "created_at", "updated_at", "deleted_at") == service.LEAD_COLUMNS
    # Every key is always present; only the text fields may be null.
    assert all(info.is_required() for info in Lead.model_fields.values())
    schema = Lead.model_json_schema()["properties"]
    nullable = {f.api_name for f in LEAD_FIELDS if f.kind in TEXT_KINDS}
    assert {name for name in API_NAMES if "anyOf" in schema[name]} == nullable


def test_lead_json_reads_a_row_in_lead_columns_order():
    values: dict[str, Any] = {c: f"{c}-value" for c in LEAD_COLUMNS}
    values.update(email="a@x.io", status="active", custom_fields={"k": 1}, tags=["t"])
    now = dt.datetime.now(dt.UTC)
    row = (7, *values.values(), now, now, None)
    lead = service.lead_json(row)
    Lead.model_validate(lead)
    assert {api: lead[api] for api in API_NAMES} == {
        api: values[column] for api, column in API_TO_COLUMN.items()
    }


# --- the SQL statements ----------------------------------------------------------------------

# The fields a merge writes: every field but the email, which is the merge's key (the row found
# the lead by its email, so it never changes it).
MERGED = tuple(c for c in LEAD_COLUMNS if c != "email")
API_ROW = service.LEAD_COLUMNS  # read positionally by lead_json


def _without_comments(text: str) -> str:
    return re.sub(r"--[^\n]*", "", text)


def _clause(text: str, start: str, ends: tuple[str, ...] = ()) -> str:
    """The text after the regex `start` up to the first keyword of `ends` outside parentheses,
    or the parenthesis or semicolon that closes it."""
    match = re.search(start, text)
    assert match is not None, f"no {start!r}"
    end = re.compile(rf"\b(?:{'|'.join(ends)})\b") if ends else None
    depth = 0
    for position in range(match.end(), len(text)):
        char = text[position]
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and (char == ";" or (end and end.match(text, position))):
            break
    else:
        position = len(text)
    return text[match.end() : position]


def _items(clause: str) -> list[str]:
    """The comma-separated items of a clause, commas inside parentheses kept."""
    items, depth, current = [], 0, ""
    for char in clause:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += char
    return [*items, current.strip()] if current.strip() else items


def outputs(clause: str) -> list[str]:
    """The names of a SELECT or RETURNING list (`x AS name`, `t.name`, `name`)."""
    names = []
    for item in _items(clause):
        match = re.search(r"\bAS\s+(\w+)$", item, re.IGNORECASE) or re.search(r"(\w+)$", item)
        assert match is not None, item
        names.append(match.group(1))
    return names


def assigned(clause: str) -> list[str]:
    """The columns of a SET list (`name = ...`)."""
    names = []
    for item in _items(clause):
        match = re.match(r"(?:\w+\.)?(\w+)\s*=", item)
        assert match is not None, item
        names.append(match.group(1))
    return names


def defined(clause: str) -> list[str]:
    """The columns of a column list or of column definitions (`name type`)."""
    return [item.split()[0] for item in _items(clause)]


SELECT, SET, UPDATE_SET = r"\bSELECT\b", r"\bSET\b", r"UPDATE leads AS l SET"
RETURNING, FROM, WHERE = r"\bRETURNING\b", ("FROM",), ("WHERE",)
MERGE_INPUT = ("lead_id", *MERGED)
# (statement, where its list starts, the keywords that end it, how to read it, the columns); a
# list without end keywords ends at the parenthesis or semicolon that closes it.
SQL_LISTS = [
    ("api/get_lead", SELECT, FROM, outputs, API_ROW),
    ("api/list_leads", SELECT, FROM, outputs, API_ROW),
    ("api/get_lead_by_email", SELECT, FROM, outputs, API_ROW),
    ("api/update_lead", SET, WHERE, assigned, (*LEAD_COLUMNS, "updated_at")),
    ("api/update_lead", RETURNING, (), outputs, API_ROW),
    ("api/soft_delete_lead", RETURNING, (), outputs, API_ROW),
    ("engine/restore_leads", UPDATE_SET, FROM, assigned, (*MERGED, "deleted_at", "updated_at")),
    *[
        case
        for name in ("engine/update_leads_fill_empty", "engine/update_leads_overwrite")
        for case in [
            (name, SELECT, FROM, outputs, ("id", *MERGED)),
            (name, UPDATE_SET, FROM, assigned, (*MERGED, "updated_at")),
            (name, r"\bAND\s*\(", (), outputs, MERGED),  # the changed-row test
            (name, r"DISTINCT FROM\s*\(", (), outputs, MERGED),
        ]
    ],
    ("engine/copy_created_leads", r"COPY leads \(", (), defined, ("workspace_id", *LEAD_COLUMNS)),
    ("engine/copy_merge_rows", r"COPY merge_rows \(", (), defined, MERGE_INPUT),
    ("engine/create_merge_rows", r"merge_rows \(", (), defined, MERGE_INPUT),
    ("engine/merge_rows_json", SELECT, FROM, outputs, MERGE_INPUT),
    ("engine/merge_rows_json", r"\bAS j \(", (), defined, MERGE_INPUT),
]  # fmt: skip
CHECKED_SQL = {name for name, *_ in SQL_LISTS}
# Statements that name lead columns without listing the lead's fields, and why.
NOT_FIELD_LISTS = {
    "api/count_leads": "the list's search filter: it matches email, names and company only",
    "migrations/0001_initial": "creates the table; test_the_table_has_every_field checks it",
}


def _readable(pattern: str) -> str:
    return pattern.replace(r"\b", "").replace(r"\s*", " ").replace("\\", "")


@pytest.mark.parametrize(
    ("name", "start", "ends", "read", "expected"),
    SQL_LISTS,
    ids=[f"{name}:{_readable(start)}" for name, start, *_ in SQL_LISTS],
)
def test_sql_lists_the_schema_columns(name, start, ends, read, expected):
    names = read(_clause(_without_comments(load_sql(name)), start, ends))
    assert names == list(expected), f"sql/{name}.sql: update the list after {start!r}"


def test_every_statement_listing_lead_columns_is_checked():
    distinctive = re.compile(r"\b(?:first_name|linkedin_url)\b")
    listing = {
        str(path.relative_to(SQL_DIR).with_suffix(""))
        for path in SQL_DIR.rglob("*.sql")
        if distinctive.search(path.read_text(encoding="utf-8"))
    }
    assert listing - NOT_FIELD_LISTS.keys() == CHECKED_SQL


def test_the_merge_input_types_follow_the_kinds():
    sql_types = {"json_object": "jsonb", "tags": "text[]"}
    definitions = _items(_clause(load_sql("engine/create_merge_rows"), r"merge_rows \("))
    declared = dict(item.split()[:2] for item in definitions)
    assert declared == {
        "lead_id": "bigint",
        **{f.column: sql_types.get(f.kind, "text") for f in LEAD_FIELDS if f.column != "email"},
    }
    assert ("lead_id", *MERGED) == MERGE_COLUMNS


def test_the_table_has_every_field(db):
    with db.cursor() as cur:
        cur.execute(
            "SELECT column_name, udt_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'leads'"
        )
        columns = dict(cur.fetchall())
    udt = {"json_object": "jsonb", "tags": "_text"}
    expected = {f.column: udt.get(f.kind, "text") for f in LEAD_FIELDS}
    found = {f.column: columns.get(f.column) for f in LEAD_FIELDS}
    assert found == expected, "a field without its column needs a migration (sql/migrations)"


# --- the README ------------------------------------------------------------------------------


def _readme_table(text: str) -> dict[str, tuple[str, list[str]]]:
    """The README's header table: API name -> (column, header spellings)."""
    section = text.split(README_HEADERS_HEADING + "\n", 1)[1]
    rows = re.findall(r"^\| `(\w+)` \| `(\w+)` \| (.*) \|$", section.split("\n#", 1)[0], re.M)
    return {api: (column, re.findall(r"`([^`]+)`", headers)) for api, column, headers in rows}


def test_the_readme_lists_every_header_spelling():
    text = README.read_text(encoding="utf-8")
    assert README_HEADERS_HEADING in text, f"README.md has no {README_HEADERS_HEADING!r}"
    expected = {f.api_name: (f.column, list(f.headers)) for f in LEAD_FIELDS}
    assert _readme_table(text) == expected, f"README.md's header table is stale: {UPDATE_README}"
    assert with_header_table(text) == text, f"README.md's header table is stale: {UPDATE_README}"


def test_the_table_command_prints_and_writes_the_table(tmp_path, capsys):
    from leads_import.cli.main import main

    assert main(["headers"]) == 0
    assert capsys.readouterr().out == header_table() + "\n"
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{README_HEADERS_HEADING}\n\nIntro.\n\n| old |\n|---|\n\n## Next\n")
    assert main(["headers", "--readme", str(readme)]) == 0
    assert readme.read_text() == (
        f"# x\n\n{README_HEADERS_HEADING}\n\nIntro.\n\n{header_table()}\n\n## Next\n"
    )
