"""Pure transforms, no database: whole-input dedup flags, planned additions, array literals and
the typed-record fast paths."""

from __future__ import annotations

import json
from types import MappingProxyType

import polars as pl
import pytest

from flows.artifacts import COUNT_KEYS, artifact_key, counts_table, samples_markdown
from transforms.classify import EXISTING_SCHEMA, first_in_input, planned_additions
from transforms.fields import IS_FIRST
from transforms.normalise import prepare_leads
from transforms.records import records_to_raw_frame
from transforms.write_plan import pg_text_array_literal


def test_first_in_input_spans_batches():
    # Two batches, each already deduplicated on its own; the second repeats an email of the first.
    flags = pl.DataFrame(
        {
            "email": ["a@x.io", "b@x.io", None, "b@x.io", "c@x.io", "a@x.io"],
            IS_FIRST: [True, True, False, True, True, False],
        }
    )
    first = flags.select(first_in_input()).to_series()
    assert first.to_list() == [True, True, False, False, True, False]


def test_an_invalid_row_does_not_claim_its_email():
    flags = pl.DataFrame({"email": ["a@x.io", "a@x.io"], IS_FIRST: [False, True]})
    assert flags.select(first_in_input()).to_series().to_list() == [False, True]


@pytest.mark.parametrize(("restore", "expected"), [(True, 2), (False, 1)])
def test_planned_additions(restore, expected):
    existing = pl.DataFrame(
        {
            "email": ["active@x.io", "deleted@x.io", "both@x.io"],
            "has_active": [True, False, True],
            "active_id": [1, None, 2],
            "restore_id": [None, 7, 8],
        },
        schema=EXISTING_SCHEMA,
    )
    # Four distinct emails: one new, one active, one only soft-deleted, one active and deleted.
    assert planned_additions(4, existing, restore_soft_deleted=restore) == expected


def test_text_array_literal_escapes_quotes_and_backslashes():
    values = pl.Series("email", ["plain@x.io", 'q"uote@x.io', "back\\slash@x.io", "a,b@x.io"])
    assert pg_text_array_literal(values) == (
        '{"plain@x.io","q\\"uote@x.io","back\\\\slash@x.io","a,b@x.io"}'
    )


@pytest.mark.parametrize(
    ("tags", "cell", "error"),
    [
        (["a", "b"], '["a","b"]', None),
        ([], "[]", None),
        ("a;b", "a;b", None),
        (["a", 1], None, "tags must be a list of strings"),
        (["a", None], None, "tags must be a list of strings"),
        (7, None, "tags must be a list of strings"),
    ],
)
def test_tags_cells(tags, cell, error):
    raw, _ = records_to_raw_frame([{"email": "a@x.io", "tags": tags}, {"email": "b@x.io"}])
    assert raw.get_column("tags").to_list() == [cell, None]
    assert raw.get_column("input_error").to_list() == [error, None]


@pytest.mark.parametrize(
    ("custom", "cell", "error"),
    [
        ({"plan": "pro", "seats": 3}, '{"plan":"pro","seats":3}', None),
        ({"x": float("nan")}, None, "customFields must be JSON-serialisable"),
        ({"x": {1, 2}}, None, "customFields must be JSON-serialisable"),
        (["not", "an", "object"], None, "customFields must be a JSON object"),
    ],
)
def test_custom_fields_cells(custom, cell, error):
    raw, _ = records_to_raw_frame([{"email": "a@x.io", "customFields": custom}])
    assert raw.get_column("custom_fields").item() == cell
    assert raw.get_column("input_error").item() == error


@pytest.mark.parametrize(
    "custom",
    [
        {"plan": "pro", "seats": 3, "trial": True, "note": None, "zoé": "ü\u200b"},
        {"n": 2**70},  # beyond orjson's 64-bit integers
        {"price": 1.5, "nested": {"a": [1, "b"]}},
        {1: "int key", "x": "y"},
    ],
)
def test_custom_fields_text_is_the_standard_json_text(custom):
    """The fast encoder gives the same cell the standard library's compact JSON does."""
    raw, _ = records_to_raw_frame([{"email": "a@x.io", "customFields": custom}])
    expected = json.dumps(custom, ensure_ascii=False, separators=(",", ":"))
    assert json.loads(raw.get_column("custom_fields").item()) == json.loads(expected)
    assert raw.get_column("input_error").item() is None


def test_one_pass_column_encoding_matches_value_by_value():
    """A column of flat dicts is encoded in one orjson pass; one nested dict sends the column
    value by value: both give each row the same cell."""
    flat = [{"a": 1}, None, {"b": "ü", "c": True, "d": None}, {}]
    fast, _ = records_to_raw_frame([{"email": "a@x.io", "customFields": c} for c in flat])
    mixed = [*flat, {"nested": {"x": [1]}}]
    slow, _ = records_to_raw_frame([{"email": "a@x.io", "customFields": c} for c in mixed])
    assert fast.get_column("custom_fields").to_list() == [
        '{"a":1}',
        None,
        '{"b":"ü","c":true,"d":null}',
        "{}",
    ]
    assert (
        slow.get_column("custom_fields").to_list()[:4] == fast.get_column("custom_fields").to_list()
    )


def test_rows_may_be_any_mapping():
    """Rows that are mappings but not dicts, and rows that are not objects, take the slow path."""
    rows = [MappingProxyType({"email": "a@x.io", "tags": ["t"]}), {"email": "b@x.io"}, 7]
    raw, _ = records_to_raw_frame(rows)
    assert raw.get_column("email").to_list() == ["a@x.io", "b@x.io", None]
    assert raw.get_column("tags").to_list() == ['["t"]', None, None]
    assert raw.get_column("input_error").to_list() == [None, None, "row 2 is not an object"]


@pytest.mark.parametrize(
    ("lead", "reason"),
    [
        ({"email": "a\ud800@x.io"}, "email is not valid Unicode (a lone surrogate)"),
        ({"email": "a@x.io", "firstName": "\udfff"}, "firstName is not valid Unicode"),
        ({"email": "a@x.io", "tags": ["ok", "\ud83d"]}, "tags is not valid Unicode"),
        ({"email": "a@x.io", "customFields": {"k": "\ud800"}}, "customFields is not valid"),
    ],
)
def test_lone_surrogates_are_row_errors(lead, reason):
    """A Python str no UTF-8 can carry is that row's error, not a crash of the batch."""
    raw, _ = records_to_raw_frame([lead, {"email": "b@x.io"}])
    prepared = prepare_leads(raw)
    assert prepared.get_column("error_reason")[0].startswith(reason)
    assert prepared.get_column("error_reason")[1] is None
    assert prepared.get_column("is_first").to_list() == [False, True]


@pytest.mark.parametrize(
    ("workspace", "key"),
    [
        ("default", "leads-counts-default"),
        ("Acme Corp_EU", "leads-counts-acme-corp-eu"),
        ("__", "leads-counts-workspace"),
    ],
)
def test_artifact_keys_are_prefect_safe(workspace, key):
    assert artifact_key("counts", workspace) == key


def test_samples_markdown_escapes_input_text():
    report = {
        "workspace": "w",
        "created": 1,
        "duplicates": 1,
        "errors": 1,
        "duplicateEmails": ["a_b@x.io"],
        "errorDetails": [
            {"index": 4, "email": "<img src=x>|[link](http://e)", "reason": "bad\nline"}
        ],
    }
    page = samples_markdown(report)
    assert "- a\\_b@x\\.io" in page
    assert "| 4 | \\<img src=x\\>\\|\\[link\\]\\(http://e\\) | bad line |" in page
    assert "created 1, restored 0, updated 0, duplicates 1, errors 1, total 0" in page


def test_counts_table_lists_every_outcome_in_order():
    table = counts_table({"created": 2, "duplicates": 1, "total": 3})
    assert [row["outcome"] for row in table] == list(COUNT_KEYS)
    assert {row["outcome"]: row["rows"] for row in table}["created"] == 2
