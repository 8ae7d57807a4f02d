"""The API's pure logic, without a server: body validation, keys, ids, errors, settings."""

from __future__ import annotations

import string

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from leads_import.api.errors import field_path
from leads_import.api.gate import request_key
from leads_import.api.models import ImportRequest
from leads_import.api.service import reason_field
from leads_import.api.settings import ApiSettings
from leads_import.api.validation import LEAD_FIELD_TYPES, BodyError, parse_import_body
from leads_import.db.api_keys import display_prefix, generate_key, hash_key, looks_like_key
from leads_import.db.ids import parse_id

# --------------------------------------------------------------------------- body validation

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
lead_keys = st.sampled_from([*LEAD_FIELD_TYPES, "unknown", "Email"])
leads = st.dictionaries(lead_keys, json_values | st.text(max_size=5), max_size=5)
valid_leads = st.fixed_dictionaries(
    {},
    optional={
        "email": st.text(max_size=8) | st.none(),
        "firstName": st.text(max_size=5),
        "customFields": st.dictionaries(st.text(max_size=3), json_values, max_size=3),
        "tags": st.lists(st.text(max_size=4), max_size=3) | st.none(),
        "whatever": json_values,
    },
)
bodies = (
    st.fixed_dictionaries(
        {"leads": st.lists(leads | valid_leads | json_scalars, max_size=4)},
        optional={
            "restoreSoftDeleted": st.booleans() | json_scalars,
            "restoreDeleted": st.booleans(),
            "dryRun": st.booleans(),
            "onExisting": st.sampled_from(["skip", "overwrite", "bad"]),
            "other": json_values,
        },
    )
    | json_values
)


@settings(max_examples=400, deadline=None)
@given(bodies)
def test_the_fast_path_agrees_with_the_model(body) -> None:
    raw = orjson.dumps(body)
    try:
        expected = ImportRequest.model_validate(body)
    except ValidationError as error:
        with pytest.raises(BodyError) as raised:
            parse_import_body(raw)
        assert raised.value.errors == [
            {**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)
        ]
        return
    got = parse_import_body(raw)
    assert got.leads == expected.leads
    assert (got.restore(), got.dryRun, got.onExisting) == (
        expected.restore(),
        expected.dryRun,
        expected.onExisting,
    )


@pytest.mark.parametrize("raw", [b"", b"{", b'{"leads": ["\\ud800"]}', b"[1,]", b"1e400"])
def test_malformed_json_is_a_body_error(raw: bytes) -> None:
    with pytest.raises(BodyError) as raised:
        parse_import_body(raw)
    assert raised.value.errors[0]["type"] == "json_invalid"


def test_restore_spellings() -> None:
    def restore(**options) -> bool:
        return parse_import_body(orjson.dumps({"leads": [], **options})).restore()

    assert restore() is True
    assert restore(restoreDeleted=False) is False
    assert restore(restoreSoftDeleted=False, restoreDeleted=True) is False
    assert restore(restoreSoftDeleted=True, restoreDeleted=False) is True


# --------------------------------------------------------------------------- keys, ids, errors


def test_keys_are_long_random_and_stored_hashed() -> None:
    keys = {generate_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert key.startswith("otr_") and len(key) >= 4 + 32
        assert set(key[4:]) <= set(string.ascii_letters + string.digits + "-_")
        assert looks_like_key(key)
        assert hash_key(key) != key and len(hash_key(key)) == 64
        assert display_prefix(key) == key[:12]
    assert not looks_like_key("otr_short") and not looks_like_key("12")


def test_request_key_reads_x_api_key_then_bearer() -> None:
    assert request_key([(b"x-api-key", b" otr_a ")]) == "otr_a"
    assert request_key([(b"authorization", b"Bearer otr_b")]) == "otr_b"
    assert request_key([(b"authorization", b"bearer  otr_c ")]) == "otr_c"
    both = [(b"authorization", b"Bearer otr_b"), (b"x-api-key", b"otr_a")]
    assert request_key(both) == "otr_a"
    assert request_key([(b"authorization", b"Basic abc")]) is None
    assert request_key([(b"x-api-key", b"")]) is None
    assert request_key([]) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("9223372036854775807", 2**63 - 1),
        ("9223372036854775808", None),
        ("0", None),
        ("-1", None),
        ("1.0", None),
        (" 1", None),
        ("\uff11", None),
        ("", None),
        (5, 5),
        (True, None),
    ],
)
def test_parse_id(text, expected) -> None:
    assert parse_id(text) == expected


def test_field_path_names_the_lead_index() -> None:
    assert field_path(("body", "leads", 3, "firstName")) == "leads[3].firstName"
    assert field_path(("body", "leads", 0, "tags", 1)) == "leads[0].tags[1]"
    assert field_path(("query", "pageSize")) == "pageSize"
    assert field_path(("body",)) == "body"


@pytest.mark.parametrize(
    ("reason", "field"),
    [
        ("empty email", "email"),
        ("invalid email format", "email"),
        ("email contains a NUL character", "email"),
        ('invalid status "hot" (expected active, bounced, unsubscribed or replied)', "status"),
        ("phone longer than 50 characters", "phone"),
        ("linkedinUrl contains whitespace", "linkedinUrl"),
        ("customFields must be a JSON object", "customFields"),
        ("tag longer than 100 characters", "tags"),
        ("something else", None),
    ],
)
def test_reason_field(reason: str, field: str | None) -> None:
    assert reason_field(reason) == field


def test_settings_from_the_environment(monkeypatch) -> None:
    assert ApiSettings.from_env() == ApiSettings()
    assert (ApiSettings().rate_limit, ApiSettings().rate_window_seconds) == (100, 60.0)
    monkeypatch.setenv("LEADS_API_RATE_LIMIT", "5")
    monkeypatch.setenv("LEADS_API_RATE_WINDOW", "1.5")
    assert ApiSettings.from_env() == ApiSettings(rate_limit=5, rate_window_seconds=1.5)
    monkeypatch.setenv("LEADS_API_RATE_LIMIT", "0")
    with pytest.raises(ValueError, match="LEADS_API_RATE_LIMIT"):
        ApiSettings.from_env()
    monkeypatch.setenv("LEADS_API_RATE_LIMIT", "many")
    with pytest.raises(ValueError, match="must be a number"):
        ApiSettings.from_env()
