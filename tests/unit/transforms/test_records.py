"""transforms.records: typed inputs (API dicts) into the canonical raw frame, the JSON cells of
customFields and tags, the fast column-at-a-time paths."""

from __future__ import annotations

import json
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.normalise import prepare_leads
from transforms.records import record_emails, records_to_raw_frame, records_warnings


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


_EMAIL_VALUES = st.one_of(
    st.text(max_size=12),  # lone surrogates included: records_to_raw_frame makes them null
    st.sampled_from(["a@x.io", " A@X.io ", ""]),
    st.none(),
    st.integers(),
    st.lists(st.text(max_size=3), max_size=2),
)
_RECORDS = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "email": _EMAIL_VALUES,
                "firstName": st.text(max_size=3),
                "first_name": st.text(max_size=3),
                "nickname": st.integers(),
                "Email": st.text(max_size=3),
            },
        ),
        st.integers(),
        st.none(),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(_RECORDS)
def test_the_emails_and_warnings_of_records_are_those_of_their_raw_frame(records):
    """What the engine looks up before building the raw frame is that frame's email column,
    and the warnings it reports first are the frame's."""
    raw, warnings = records_to_raw_frame(records)
    assert record_emails(records).to_list() == raw.get_column("email").to_list()
    assert records_warnings(records) == warnings
