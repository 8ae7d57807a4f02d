"""`transforms.write_plan`: the rows a batch inserts and merges, PostgreSQL array literals and the
COPY CSV (SPEC section 5). No database."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import polars as pl
import pytest

from transforms.classify import EXISTING_SCHEMA, classify
from transforms.fields import LEAD_COLUMNS
from transforms.normalise import prepare_leads
from transforms.records import records_to_raw_frame
from transforms.write_plan import (
    MERGE_COLUMNS,
    created_rows,
    merge_rows,
    pg_text_array,
    pg_text_array_literal,
    restored_rows,
    to_copy_csv,
    updated_rows,
)

WORKSPACE = pl.DataFrame(
    [("del@x.io", False, None, 70), ("act@x.io", True, 80, None)],
    schema=EXISTING_SCHEMA,
    orient="row",
)


def classified(rows: list[dict[str, Any]], **options: Any) -> pl.DataFrame:
    raw, _ = records_to_raw_frame(rows)
    return classify(prepare_leads(raw), WORKSPACE, **options)


# --------------------------------------------------------------------------- created rows


def test_created_rows_apply_the_defaults():
    rows = created_rows(
        classified(
            [
                {"email": "bare@x.io"},
                {"email": "full@x.io", "source": "fair", "status": "Bounced", "tags": ["a"]},
                {"email": "json@x.io", "customFields": {"k": 1}},
            ]
        ),
        default_source="csv_import",
    )
    assert rows.columns == list(LEAD_COLUMNS)
    assert rows.select("email", "source", "status", "custom_fields", "tags").rows() == [
        ("bare@x.io", "csv_import", "active", "{}", "{}"),
        ("full@x.io", "fair", "bounced", "{}", '{"a"}'),
        ("json@x.io", "csv_import", "active", '{"k":1}', "{}"),
    ]
    assert rows.get_column("first_name").to_list() == [None, None, None]


def test_created_rows_are_only_the_created_ones_in_input_order():
    rows = created_rows(
        classified(
            [
                {"email": "b@x.io"},
                {"email": "bad"},
                {"email": "B@x.io"},  # duplicate in the input
                {"email": "del@x.io"},  # restored
                {"email": "act@x.io"},  # duplicate of an active lead
                {"email": "a@x.io", "firstName": " Ann "},
            ]
        ),
        default_source="api",
    )
    assert rows.select("email", "first_name").rows() == [("b@x.io", None), ("a@x.io", "Ann")]


# --------------------------------------------------------------------------- merge rows


def test_restored_rows_carry_the_lead_id_and_only_the_given_fields():
    rows = restored_rows(
        classified(
            [
                {"email": "new@x.io"},
                {"email": "DEL@x.io", "firstName": "Dee", "tags": ["x", "y"]},
            ]
        )
    )
    assert rows.columns == list(MERGE_COLUMNS)
    assert MERGE_COLUMNS[0] == "lead_id"
    record = rows.row(0, named=True)
    assert record["lead_id"] == 70
    assert record["first_name"] == "Dee"
    # No defaults: a missing field keeps the stored value when merged.
    assert record["source"] is None
    assert record["status"] is None
    assert record["custom_fields"] is None
    assert record["tags"] == '{"x","y"}'
    assert rows.height == 1


def test_updated_rows_are_the_updated_ones():
    rows = updated_rows(
        classified(
            [{"email": "act@x.io", "company": "Acme"}, {"email": "del@x.io"}],
            on_existing="overwrite",
        )
    )
    assert rows.select("lead_id", "company", "tags").rows() == [(80, "Acme", "{}")]
    assert merge_rows(classified([{"email": "act@x.io"}]), "updated").height == 0  # skip


# --------------------------------------------------------------------------- array literals


@pytest.mark.parametrize(
    ("tags", "literal"),
    [
        ([], "{}"),
        (["a"], '{"a"}'),
        (["a", "b c"], '{"a","b c"}'),
        (["NULL"], '{"NULL"}'),  # quoted: the text NULL, not a null element
        (['say "hi"'], '{"say \\"hi\\""}'),
        (["back\\slash"], '{"back\\\\slash"}'),
        (["a,b", "{x}", " pad "], '{"a,b","{x}"," pad "}'),
        (["zoé", "日本"], '{"zoé","日本"}'),
    ],
)
def test_pg_text_array_quotes_and_escapes_every_element(tags, literal):
    frame = pl.DataFrame({"tags": [tags]}, schema={"tags": pl.List(pl.String)})
    assert frame.select(pg_text_array(pl.col("tags"))).item() == literal


def test_pg_text_array_literal_of_a_series():
    values = pl.Series("email", ["a@x.io", "o'neil@x.io", "{b}@x.io"])
    assert pg_text_array_literal(values) == '{"a@x.io","o\'neil@x.io","{b}@x.io"}'
    assert pg_text_array_literal(pl.Series("email", [], dtype=pl.String)) == "{}"


# --------------------------------------------------------------------------- COPY CSV


def test_copy_csv_writes_nulls_as_unquoted_empty_fields():
    frame = pl.DataFrame(
        {"n": [1, None], "a": [None, "x"], "b": ["", None]},
        schema={"n": pl.Int64, "a": pl.String, "b": pl.String},
    )
    # COPY's CSV format reads an unquoted empty field as NULL and "" as an empty string.
    assert to_copy_csv(frame) == b'1,,""\n,x,\n'


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("plain", b"plain"),
        ("a,b", b'"a,b"'),
        ('say "hi"', b'"say ""hi"""'),
        ("two\nlines", b'"two\nlines"'),
        ("cr\rlf", b'"cr\rlf"'),
        ('{"k":1}', b'"{""k"":1}"'),
        ("zoé", "zoé".encode()),
    ],
)
def test_copy_csv_quotes_only_where_needed(value, written):
    assert to_copy_csv(pl.DataFrame({"v": [value], "n": [1]})) == written + b",1\n"


def test_copy_csv_has_no_header_and_round_trips():
    rows = created_rows(
        classified(
            [
                {
                    "email": "a@x.io",
                    "notes": 'line 1\n"quoted", comma',
                    "customFields": {"k": 'v"'},
                    "tags": ["a,b", 'q"'],
                },
                {"email": "b@x.io"},
            ]
        ),
        default_source="api",
    )
    text = to_copy_csv(rows).decode()
    parsed = list(csv.reader(io.StringIO(text)))
    assert len(parsed) == 2
    assert parsed[0][0] == "a@x.io"
    assert parsed[0][LEAD_COLUMNS.index("notes")] == 'line 1\n"quoted", comma'
    assert json.loads(parsed[0][LEAD_COLUMNS.index("custom_fields")]) == {"k": 'v"'}
    assert parsed[0][LEAD_COLUMNS.index("tags")] == '{"a,b","q\\""}'
    assert parsed[1][LEAD_COLUMNS.index("first_name")] == ""


def test_text_array_literal_escapes_quotes_and_backslashes():
    values = pl.Series("email", ["plain@x.io", 'q"uote@x.io', "back\\slash@x.io", "a,b@x.io"])
    assert pg_text_array_literal(values) == (
        '{"plain@x.io","q\\"uote@x.io","back\\\\slash@x.io","a,b@x.io"}'
    )
