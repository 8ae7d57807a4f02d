"""`transforms.normalise.prepare_leads` on its own (SPEC section 3): normalisation, validation,
reasons and their precedence, first occurrences. No database."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import pytest

from transforms.fields import API_TO_COLUMN
from transforms.headers import map_headers, to_raw_frame
from transforms.normalise import is_ascii, prepare_leads
from transforms.records import records_to_raw_frame

# What an invalid status reason names after the value (pinned here, not imported).
STATUS_HINT = "(expected active, bounced, unsubscribed or replied)"

OK = "ok@example.com"


def prepare(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Prepared rows of API-style records."""
    raw, _ = records_to_raw_frame(rows)
    return prepare_leads(raw)


def prepare_table(columns: dict[str, list[str | None]]) -> pl.DataFrame:
    """Prepared rows of a text table whose columns are named like file headers."""
    table = pl.DataFrame(columns, schema={name: pl.String for name in columns})
    return prepare_leads(to_raw_frame(table, map_headers(list(columns))))


def reason_of(row: dict[str, Any]) -> str | None:
    """The error reason of one record (null when it is valid)."""
    return prepare([row]).get_column("error_reason").item()


# --------------------------------------------------------------------------- emails


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("ann@example.com", "ann@example.com"),
        ("  Ann@Example.COM\t", "ann@example.com"),
        ("\n ANN@EXAMPLE.COM \r\n", "ann@example.com"),
        ("\u212aate@example.com", "kate@example.com"),  # KELVIN SIGN: NFC gives K, then k
        ("a\u1fefb@example.com", "a`b@example.com"),  # GREEK VARIA: NFC gives a grave accent
        ("JOSE\u0301@EXAMPLE.COM", "jos\u00e9@example.com"),  # composed by NFC, then lowered
    ],
)
def test_email_is_stripped_nfc_normalised_and_lower_cased(given, normalised):
    prepared = prepare([{"email": given}])
    assert prepared.get_column("email").item() == normalised


def test_a_batch_normalises_each_email_whatever_the_others_hold():
    # A batch of ASCII emails alone skips NFC (it changes no ASCII text); one non-ASCII email
    # brings NFC to the whole batch.
    ascii_only = prepare([{"email": "  Ann@Example.COM"}, {"email": "BOB@example.com"}])
    mixed = prepare([{"email": "  Ann@Example.COM"}, {"email": "\u212aATE@example.com"}])
    assert ascii_only.get_column("email").to_list() == ["ann@example.com", "bob@example.com"]
    assert mixed.get_column("email").to_list() == ["ann@example.com", "kate@example.com"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [(["a@x.io", None, ""], True), ([None], True), (["a@x.io", "zoé@x.io"], False)],
)
def test_is_ascii(values, expected):
    assert is_ascii(pl.Series(values, dtype=pl.String)) is expected


@pytest.mark.parametrize("given", [None, "", "   ", "\t\n"])
def test_missing_or_blank_email_is_empty_email(given):
    prepared = prepare([{"email": given, "firstName": "Ann"}])
    assert prepared.get_column("email").item() is None
    assert prepared.get_column("error_reason").item() == "empty email"
    assert prepared.get_column("raw_email").item() == (given or "")


def test_raw_email_is_kept_exactly_as_given():
    given = ["  Ann@Example.COM ", "not an email", None, "\u212aate@example.com"]
    prepared = prepare([{"email": email} for email in given])
    assert prepared.get_column("raw_email").to_list() == [
        "  Ann@Example.COM ",
        "not an email",
        "",
        "\u212aate@example.com",
    ]


LOCAL_64 = "x" * 64
LABEL_63 = "d" * 63
# 64 + 1 + 63 + 1 + 63 + 1 + 57 + 4 = 254 characters, the longest valid email.
LONGEST = f"{LOCAL_64}@{LABEL_63}.{LABEL_63}.{'d' * 57}.com"


@pytest.mark.parametrize(
    "email",
    [
        "a@b.io",
        "A@B.IO",
        "first.last@sub.example.co",
        "a!#$%&'*+/=?^_`{|}~-b@example.com",
        "lead@my-host.example.com",
        "lead@123.example.com",
        f"{LOCAL_64}@example.com",
        f"lead@{LABEL_63}.com",
        f"lead@example.{'c' * 63}",
        "lead@xn--bcher-kva.xn--p1ai",
        "lead@example.xn--p1ai",
        LONGEST,
    ],
    ids=lambda email: email if len(email) < 40 else f"{len(email)} characters",
)
def test_valid_emails(email):
    assert len(LONGEST) == 254
    assert reason_of({"email": email}) is None


@pytest.mark.parametrize(
    "email",
    [
        "plainaddress",
        "@example.com",
        "lead@",
        "lead@@example.com",
        "a@b@example.com",
        "le ad@example.com",
        '"quoted"@example.com',
        ".lead@example.com",
        "lead.@example.com",
        "le..ad@example.com",
        "lead@.example.com",
        "lead@example.com.",
        "lead@example..com",
        "lead@example",
        "lead@-example.com",
        "lead@example-.com",
        "lead@exa_mple.com",
        "lead@example.c",
        "lead@example.c0m",
        "lead@example.co-m",
        "lead@example.123",
        "lead@example.xn--",
        "lead@example.xn--p1ai-",
        "jösé@example.com",
        "lead@exämple.com",
        f"{LOCAL_64}x@example.com",  # local part of 65
        f"lead@{LABEL_63}d.com",  # label of 64
        f"lead@example.{'c' * 64}",  # last label of 64
        f"{LONGEST[:-4]}x.com",  # 255 characters
    ],
    ids=lambda email: email if len(email) < 40 else f"{len(email)} characters",
)
def test_invalid_emails(email):
    assert reason_of({"email": email}) == "invalid email format"


# --------------------------------------------------------------------------- precedence


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"email": "  ", "firstName": "A\x00"}, "empty email"),
        ({"email": "bad", "firstName": "A\x00"}, "firstName contains a NUL character"),
        ({"email": "bad", "firstName": "f" * 256}, "invalid email format"),
        ({"email": "bad", "status": "hot"}, "invalid email format"),
        ({"email": OK, "phone": "1" * 51, "website": "a b"}, "phone longer than 50 characters"),
        ({"email": OK, "website": "w" * 2049 + " x"}, "website longer than 2,048 characters"),
        ({"email": OK, "linkedinUrl": "a b", "status": "hot"}, "linkedinUrl contains whitespace"),
        (
            {"email": OK, "status": "hot", "customFields": "[1]"},
            'invalid status "hot" ' + STATUS_HINT,
        ),
        (
            {"email": OK, "customFields": "[1]", "tags": '["a", 1]'},
            "customFields must be a JSON object",
        ),
        ({"email": OK, "tags": f'["{"t" * 101}", 1]'}, "tags must be a list of strings"),
        ({"email": OK, "tags": ["t" * 101, "a"]}, "tag longer than 100 characters"),
    ],
    ids=lambda value: None if isinstance(value, dict) else value[:30],
)
def test_the_first_reason_in_order_of_precedence_wins(row, reason):
    """README: empty email, NUL, email format, length, URL whitespace, status, customFields,
    tags type, tag length."""
    assert reason_of(row) == reason


# --------------------------------------------------------------------------- fields


@pytest.mark.parametrize(
    ("field", "limit", "shown"),
    [
        ("firstName", 255, "255"),
        ("lastName", 255, "255"),
        ("company", 255, "255"),
        ("title", 255, "255"),
        ("phone", 50, "50"),
        ("linkedinUrl", 2048, "2,048"),
        ("website", 2048, "2,048"),
        ("notes", 10_000, "10,000"),
        ("source", 255, "255"),
    ],
)
def test_length_limits_at_n_and_n_plus_one(field, limit, shown):
    # Surrounding whitespace is stripped before measuring.
    at_limit = prepare([{"email": OK, field: "  " + "v" * limit + " \t"}])
    assert at_limit.get_column("error_reason").item() is None
    assert at_limit.get_column(API_TO_COLUMN[field]).item() == "v" * limit
    assert reason_of({"email": OK, field: "v" * (limit + 1)}) == (
        f"{field} longer than {shown} characters"
    )


def test_tag_length_limit_at_100_and_101():
    assert reason_of({"email": OK, "tags": ["t" * 100]}) is None
    assert reason_of({"email": OK, "tags": "a;" + "t" * 101}) == "tag longer than 100 characters"


@pytest.mark.parametrize("field", ["linkedinUrl", "website"])
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("  https://example.com/ann  ", None),  # stripped, not inside
        ("https://example.com/a b", "contains whitespace"),
        ("https://example.com/a\tb", "contains whitespace"),
        ("https://example.com/a\nb", "contains whitespace"),
        ("https://example.com/a\u00a0b", "contains whitespace"),  # NO-BREAK SPACE
    ],
)
def test_whitespace_inside_urls(field, value, reason):
    expected = None if reason is None else f"{field} {reason}"
    assert reason_of({"email": OK, field: value}) == expected


def test_whitespace_inside_other_text_is_kept():
    prepared = prepare([{"email": OK, "firstName": "  Mary  Ann \n", "notes": "a\nb\tc"}])
    assert prepared.get_column("error_reason").item() is None
    assert prepared.get_column("first_name").item() == "Mary  Ann"
    assert prepared.get_column("notes").item() == "a\nb\tc"


@pytest.mark.parametrize(
    ("given", "stored", "reason"),
    [
        ("active", "active", None),
        (" BOUNCED ", "bounced", None),
        ("Unsubscribed", "unsubscribed", None),
        ("rePLIED", "replied", None),
        ("   ", None, None),  # blank: missing, the default applies later
        (None, None, None),
        ("hot", "hot", 'invalid status "hot" ' + STATUS_HINT),
        (
            " Pending ",
            "pending",
            'invalid status "Pending" ' + STATUS_HINT,
        ),  # the reason shows it as given
        ("deleted", "deleted", 'invalid status "deleted" ' + STATUS_HINT),
    ],
)
def test_status_is_case_folded_and_checked(given, stored, reason):
    prepared = prepare([{"email": OK, "status": given}])
    assert prepared.get_column("status").item() == stored
    assert prepared.get_column("error_reason").item() == reason


@pytest.mark.parametrize(
    ("cell", "tags"),
    [
        ("a; b,,a", ["a", "b"]),
        ("a;b;c", ["a", "b", "c"]),
        (" solo ", ["solo"]),
        ("b,a,B", ["b", "a", "B"]),  # tags keep their case; repeats are exact
        (";, ;", []),
        ('["x", "x", " y ", ""]', ["x", "y"]),
        ("[]", []),
        ("", []),
        (None, []),
    ],
)
def test_tags_cells_are_split_trimmed_and_deduplicated(cell, tags):
    prepared = prepare_table({"email": [OK], "tags": [cell]})
    assert prepared.get_column("error_reason").item() is None
    assert prepared.get_column("tags").item().to_list() == tags


def test_typed_tags_are_trimmed_and_deduplicated():
    prepared = prepare([{"email": OK, "tags": ["a", " a ", "", "b", "a"]}])
    assert prepared.get_column("tags").item().to_list() == ["a", "b"]


@pytest.mark.parametrize("cell", ['["a", 1]', '["a", null]', '[["a"]]', "[not json", '["a",'])
def test_tags_cells_that_are_not_lists_of_strings(cell):
    prepared = prepare_table({"email": [OK], "tags": [cell]})
    assert prepared.get_column("error_reason").item() == "tags must be a list of strings"


@pytest.mark.parametrize(
    ("cell", "stored"),
    [
        ('{"plan": "pro", "seats": 3}', {"plan": "pro", "seats": 3}),
        ('  {"nested": {"a": [1, "b"]}}  ', {"nested": {"a": [1, "b"]}}),
        ("{}", {}),
    ],
)
def test_custom_fields_objects_are_kept(cell, stored):
    prepared = prepare_table({"email": [OK], "customFields": [cell]})
    assert prepared.get_column("error_reason").item() is None
    assert json.loads(prepared.get_column("custom_fields").item()) == stored


@pytest.mark.parametrize(
    "cell",
    ["[1, 2]", "5", '"text"', "null", "true", "{not json", '{"a": 1,}', '{"a": NaN}', '{"a" 1}'],
)
def test_custom_fields_that_are_not_objects(cell):
    prepared = prepare_table({"email": [OK], "customFields": [cell]})
    assert prepared.get_column("error_reason").item() == "customFields must be a JSON object"


def test_custom_field_columns_gather_into_custom_fields():
    prepared = prepare_table(
        {
            "email": [OK, "b@example.com"],
            "customFields": ['{"plan": "pro"}', None],
            "customFields.seats": ["3", "  "],
            "customFields.region": [None, "EU"],
        }
    )
    assert prepared.get_column("error_reason").to_list() == [None, None]
    assert [json.loads(cell) for cell in prepared.get_column("custom_fields")] == [
        {"plan": "pro", "seats": "3"},
        {"region": "EU"},
    ]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"email": "a\x00@example.com"}, "email contains a NUL character"),
        ({"email": OK, "firstName": "A\x00nn"}, "firstName contains a NUL character"),
        ({"email": OK, "company": "\x00"}, "company contains a NUL character"),
        ({"email": OK, "website": "https://x.io/\x00"}, "website contains a NUL character"),
        ({"email": OK, "notes": "n\x00"}, "notes contains a NUL character"),
        ({"email": OK, "status": "active\x00"}, "status contains a NUL character"),
        ({"email": OK, "customFields": {"k": "a\x00b"}}, "customFields contains a NUL character"),
        ({"email": OK, "customFields": '{"k": "a\\u0000"}'}, "customFields contains a NUL"),
        ({"email": OK, "tags": ["a\x00b"]}, "tags contains a NUL character"),
        ({"email": OK, "tags": "a\x00;b"}, "tags contains a NUL character"),
    ],
    ids=lambda value: None if isinstance(value, dict) else value[:24],
)
def test_nul_characters_are_row_errors(row, reason):
    assert reason_of(row).startswith(reason)


def test_an_escaped_backslash_before_u0000_is_text_not_nul():
    assert reason_of({"email": OK, "customFields": '{"path": "C:\\\\u0000"}'}) is None


# --------------------------------------------------------------------------- first occurrences


def test_is_first_marks_the_first_valid_row_of_each_email():
    prepared = prepare(
        [
            {"email": "ann@example.com", "status": "hot"},  # invalid: does not claim its email
            {"email": "ANN@example.com"},  # first valid ann
            {"email": " ann@example.com "},  # duplicate
            {"email": "bob@example.com"},
            {"email": "BOB@example.com", "phone": "1" * 51},  # invalid
            {"email": "bad"},
            {"email": "bad"},
            {"email": "kate@example.com"},
            {"email": "\u212aATE@example.com"},  # the same email after NFC and lower-casing
        ]
    )
    assert prepared.get_column("is_first").to_list() == [
        False,
        True,
        False,
        True,
        False,
        False,
        False,
        True,
        False,
    ]


def test_one_output_row_per_input_row_in_order():
    rows = [{"email": f"u{i}@example.com"} for i in range(5)] + [{"email": None}]
    prepared = prepare(rows)
    assert prepared.get_column("row_index").to_list() == [0, 1, 2, 3, 4, 5]
    assert prepared.get_column("email").to_list()[:5] == [f"u{i}@example.com" for i in range(5)]


def test_file_rows_and_typed_records_prepare_alike():
    record = {
        "email": " Ann@Example.com ",
        "firstName": " Ann ",
        "status": "Replied",
        "tags": ["b", "a", "b"],
        "customFields": {"k": "v"},
    }
    typed = prepare([record])
    text = prepare_table(
        {
            "Email": [record["email"]],
            "First Name": [record["firstName"]],
            "Status": [record["status"]],
            "Tags": ["b; a; b"],
            "customFields": ['{"k": "v"}'],
        }
    )
    for column in ("email", "first_name", "status", "error_reason", "is_first"):
        assert typed.get_column(column).to_list() == text.get_column(column).to_list(), column
    assert typed.get_column("tags").to_list() == text.get_column("tags").to_list() == [["b", "a"]]
    assert json.loads(typed.get_column("custom_fields").item()) == {"k": "v"}
    assert json.loads(text.get_column("custom_fields").item()) == {"k": "v"}
