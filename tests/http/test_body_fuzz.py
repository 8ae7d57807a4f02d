"""Hypothesis fuzz of the request bodies of `POST /api/v1/leads/import` and `POST /api/v1/leads`
against the real server (tests/support/api_server.py), with an oracle for every answer.

Generated bodies: lead-shaped objects whose every field may hold its type, null or any other
JSON value (NUL characters, any Unicode, values past their length limits, nested customFields),
unknown keys, options of the wrong type, arbitrary JSON documents, bytes that are no JSON or no
UTF-8, and any content type. The oracle (`expected_import_status`) says from the body alone
which status SPEC 8/9 calls for; then:

- never a 5xx; every non-2xx is the error body `{"error", "code", "details"}`;
- a 422 for wrong types names the field (`details.field`) and, for a lead, its index: the set of
  lead indexes in `details.errors` is exactly the set of leads with a wrong-typed field;
- a 200's counts add up to the leads sent, its errorDetails/duplicateEmails are cut at 100 with
  indexes in range, and the workspace's active leads grew by created + restored (0 on a dry run);
- after any 4xx the workspace's leads (every row, updated_at included) and runs are as before.

A deeper run: BODY_FUZZ_EXAMPLES=1000 uv run pytest tests/http/test_body_fuzz.py
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from leads_import.db.connection import connect
from leads_import.db.workspaces import Workspace
from leads_import.engine import soft_delete_leads
from tests.support.api_server import assert_rate_headers, new_key
from tests.support.database import make_workspace
from transforms.normalise import MAX_JSON_DEPTH

MAX_EXAMPLES = int(os.environ.get("BODY_FUZZ_EXAMPLES", "60"))
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

TEXT_FIELDS = (
    "email",
    "firstName",
    "lastName",
    "company",
    "title",
    "phone",
    "linkedinUrl",
    "website",
    "notes",
    "source",
    "status",
    "first_name",
    "last_name",
    "linkedin_url",
)
LIMITS = {"phone": 50, "linkedinUrl": 2048, "website": 2048, "notes": 10_000}
POOL = ["ann@ex.com", "bob@ex.com", "kim@mail.org", "zoe@ex.com", "li@ex.co"]
OPTION_TYPES = {"restoreSoftDeleted": "bool?", "restoreDeleted": "bool?", "dryRun": "bool"}
ON_EXISTING = ("skip", "fill_empty", "overwrite")


# --- strategies ------------------------------------------------------------------------------

# Any Unicode but lone surrogates (a body with one is malformed JSON: added on purpose below).
any_text = st.text(max_size=12) | st.sampled_from(
    ["\x00", "a\x00b", "\u202eevil", "\ufeff", "\U0001d518", "e\u0301", "\u2028", "\uffff"]
)
LONE_SURROGATE = {"email": "\ud800@ex.com", "firstName": "a\udfff"}
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)  # past 64 bits too: orjson reads those as floats
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)


def rarely(one_in: int) -> st.SearchStrategy[bool]:
    """True once in about `one_in` draws (`st.integers` would favour its bounds)."""
    return st.sampled_from([False] * (one_in - 1) + [True])


def nested(depth: int) -> Any:
    value: Any = {"leaf": "x"}
    for level in range(depth):
        value = {f"k{level}": value} if level % 2 else [value]
    return {"deep": value}


@st.composite
def email_value(draw: st.DrawFn) -> str:
    email = draw(st.sampled_from(POOL))
    email = "".join(c.upper() if draw(st.booleans()) else c for c in email)
    return draw(st.sampled_from(["", " ", "\t"])) + email + draw(st.sampled_from(["", " "]))


def text_value(field: str) -> st.SearchStrategy[Any]:
    limit = LIMITS.get(field, 255)
    if field == "email":
        good: st.SearchStrategy[Any] = email_value() | any_text | st.just("a\x00@ex.com")
    elif field == "status":
        good = st.sampled_from(["active", "BOUNCED", "replied ", "unknown", "", "a\x00"])
    else:
        good = any_text | st.sampled_from(["x" * limit, "x" * (limit + 1), "a\x00b", "é\u0301"])
    return good | st.none()


def field_value(field: str) -> st.SearchStrategy[Any]:
    if field in TEXT_FIELDS:
        right = text_value(field)
    elif field in ("customFields", "custom_fields"):
        right = (
            st.dictionaries(any_text, json_values, max_size=4)
            | st.sampled_from([nested(60), {f"k{i}": i for i in range(2000)}, {"\x00": "\x00"}])
            | st.none()
        )
    else:  # tags
        right = st.lists(any_text | st.just("t" * 101), max_size=5) | st.none()
    return rarely(30).flatmap(lambda wrong: json_values if wrong else right)


LEAD_KEYS = (*TEXT_FIELDS, "customFields", "custom_fields", "tags")


@st.composite
def lead(draw: st.DrawFn) -> Any:
    if draw(rarely(40)):
        return draw(json_values)  # not an object at all, mostly
    keys = draw(st.lists(st.sampled_from(LEAD_KEYS), max_size=6, unique=True))
    value = {"email": draw(field_value("email"))} if draw(st.integers(0, 5)) else {}
    value.update({key: draw(field_value(key)) for key in keys})
    value.update(draw(st.dictionaries(any_text, json_values, max_size=2)))
    return value


@st.composite
def import_body(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["leads"] * 8 + ["any", "leads_any"]))
    if kind == "any":
        return draw(json_values)
    body: dict[str, Any] = {}
    leads = st.lists(lead(), min_size=1, max_size=draw(st.sampled_from([1, 3, 3, 8])))
    leads = st.just([]) if draw(rarely(15)) else leads
    body["leads"] = draw(json_values) if kind == "leads_any" else draw(leads)
    if body["leads"] and type(body["leads"]) is list and draw(rarely(25)):
        body["leads"].append(LONE_SURROGATE)
    for option in ("restoreSoftDeleted", "restoreDeleted", "dryRun", "onExisting"):
        if draw(rarely(3)):
            right = st.sampled_from(ON_EXISTING) if option == "onExisting" else st.booleans()
            body[option] = draw(json_values if draw(rarely(6)) else right)
    body.update(draw(st.dictionaries(any_text, json_values, max_size=2)))
    return body


def encode(body: Any) -> bytes:
    """JSON text as a client would send it; lone surrogates become `\\udXXX` escapes."""
    return json.dumps(body, ensure_ascii=True).encode()


raw_bytes = st.one_of(
    st.binary(max_size=64),
    import_body()
    .map(encode)
    .flatmap(lambda text: st.integers(0, max(len(text) - 1, 0)).map(lambda cut: text[:cut])),
    st.sampled_from(
        [
            b"",
            b"\xef\xbb\xbf" + encode({"leads": [{"email": "bom@ex.com"}]}),
            b'{"leads": [{"email": "\xff\xfe@ex.com"}]}',
            b'{"leads": [{"email": "a@ex.com", "firstName": NaN}]}',
            b'{"leads": [{"email": "a@ex.com", "customFields": {"n": 1e400}}]}',
            b'{"leads": [{"email": "a@ex.com"}], "leads": 5}',
            b"[" * 5000 + b"]" * 5000,
            b'{"leads": [{"email": "a@ex.com", "customFields": '
            + b'{"a":' * 2000
            + b"1"
            + b"}" * 2001
            + b"]}",
        ]
    ),
)
content_types = st.sampled_from(
    [
        None,
        "application/json",
        "application/json",
        "application/json",
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        "image/png",
    ]
)


# --- the oracle ------------------------------------------------------------------------------


def _type_ok(value: Any, wanted: str) -> bool:
    if wanted == "bool?":
        return value is None or type(value) is bool
    if wanted == "bool":
        return type(value) is bool
    if wanted == "str?":
        return value is None or type(value) is str
    if wanted == "dict?":
        return value is None or type(value) is dict
    return value is None or (type(value) is list and all(type(t) is str for t in value))


def _lead_ok(value: Any) -> bool:
    if type(value) is not dict:
        return False
    for key, item in value.items():
        if key in TEXT_FIELDS and not _type_ok(item, "str?"):
            return False
        if key in ("customFields", "custom_fields") and not _type_ok(item, "dict?"):
            return False
        if key == "tags" and not _type_ok(item, "list?"):
            return False
    return True


def has_lone_surrogate(value: Any) -> bool:
    """Whether a string anywhere in the value (keys included) holds a lone surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if any("\ud800" <= ch <= "\udfff" for ch in item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def expected_import_status(body: Any) -> tuple[int, str | None, set[int]]:
    """(status, error code, indexes of the leads with a wrong type) that SPEC 8/9 call for."""
    if has_lone_surrogate(body):  # not Unicode text: refused as malformed JSON
        return 422, "invalid_json", set()
    if type(body) is not dict or type(body.get("leads")) is not list:
        return 422, "validation_error", set()
    leads = body["leads"]
    bad = {i for i, value in enumerate(leads) if not _lead_ok(value)}
    options_ok = (
        all(
            option not in body or _type_ok(body[option], wanted)
            for option, wanted in OPTION_TYPES.items()
        )
        and body.get("onExisting", "skip") in ON_EXISTING
    )
    if bad or not options_ok:
        return 422, "validation_error", bad
    if not leads:
        return 400, "no_leads", set()
    if len(leads) > 1000:
        return 400, "too_many_leads", set()
    return 200, None, set()


# --- fixtures and checks ---------------------------------------------------------------------


class Target:
    """The fuzzed workspace, an HTTP client with its key and a connection to look at it."""

    def __init__(self, api_url: str, database_url: str) -> None:
        self.conn = connect(database_url)
        self.conn.autocommit = True
        self.workspace: Workspace = make_workspace(self.conn)
        self.client = httpx.Client(
            base_url=f"{api_url}/api/v1",
            headers={"X-API-Key": new_key(self.conn, self.workspace)},
            timeout=60,
        )
        self.database_url = database_url

    def footprint(self) -> tuple[Any, ...]:
        """Every lead row of the workspace (updated_at included) and its run count."""
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT id, email, status, deleted_at, updated_at, custom_fields::text, tags "
                "FROM leads WHERE workspace_id = %s ORDER BY id",
                (self.workspace.id,),
            )
            leads = cur.fetchall()
            cur.execute(
                "SELECT count(*) FROM import_runs WHERE workspace_id = %s", (self.workspace.id,)
            )
            return tuple(leads), cur.fetchone()[0]

    def active(self) -> int:
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM leads WHERE workspace_id = %s AND deleted_at IS NULL",
                (self.workspace.id,),
            )
            return cur.fetchone()[0]

    def soft_delete_pool(self) -> None:
        soft_delete_leads(self.workspace.slug, POOL, database=self.database_url)


@pytest.fixture(scope="module")
def target(api_url: str, database_url: str) -> Iterator[Target]:
    fuzzed = Target(api_url, database_url)
    yield fuzzed
    fuzzed.client.close()
    fuzzed.conn.close()


def check_error_body(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code < 500, response.text
    body = response.json()
    assert set(body) == {"error", "code", "details"}, body
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["code"], str) and body["code"].replace("_", "").isalpha()
    assert isinstance(body["details"], dict)
    assert_rate_headers(response)
    return body


def check_validation_error(body: dict[str, Any], bad_leads: set[int]) -> None:
    details = body["details"]
    assert isinstance(details.get("field"), str) and details["field"], body
    assert body["error"].startswith(details["field"] + ":"), body
    errors = details["errors"]
    assert errors and all(e["field"] and e["message"] for e in errors), body
    if details["count"] <= len(errors):  # not cut at 100: every bad lead is named
        assert {e["index"] for e in errors if "index" in e} == bad_leads, body
    if "index" in details:
        assert details["field"].startswith(f"leads[{details['index']}]"), body


def check_report(report: dict[str, Any], sent: list[Any]) -> None:
    counts = [report[k] for k in ("created", "restored", "duplicates", "errors", "updated")]
    assert all(type(c) is int and c >= 0 for c in counts), report
    assert sum(counts) == len(sent) == report["total"], report
    assert len(report["errorDetails"]) == min(100, report["errors"]), report
    assert len(report["duplicateEmails"]) == min(100, report["duplicates"]), report
    indexes = [e["index"] for e in report["errorDetails"]]
    assert indexes == sorted(set(indexes)) and all(0 <= i < len(sent) for i in indexes), report
    assert all(isinstance(e["email"], str) and e["reason"] for e in report["errorDetails"])


def post_import(target: Target, content: bytes, content_type: str | None) -> httpx.Response:
    headers = {"content-type": content_type} if content_type else {}
    return target.client.post("/leads/import", content=content, headers=headers)


def check_import(
    target: Target, body: Any, response: httpx.Response, before: Any, active: int
) -> str:
    """Check the answer against the oracle; returns `status code` (for the statistics)."""
    status, code, bad_leads = expected_import_status(body)
    assert response.status_code == status, (body, response.text)
    if status != 200:
        error = check_error_body(response)
        assert error["code"] == code, error
        if code == "validation_error":
            check_validation_error(error, bad_leads)
        assert target.footprint() == before, "a refused request wrote something"
        return f"{status} {code}"
    assert_rate_headers(response)
    report = response.json()["data"]
    check_report(report, body["leads"])
    grown = 0 if body.get("dryRun") else report["created"] + report["restored"]
    assert target.active() == active + grown, report
    if body.get("dryRun"):  # no lead written; the run recorded (status dry_run), unless an
        # email holds a NUL (jsonb cannot: such requests are never recorded)
        leads_before, runs_before = before
        nul = any(isinstance(e := lead.get("email"), str) and "\x00" in e for lead in body["leads"])
        assert target.footprint() == (leads_before, runs_before + (0 if nul else 1))
    return "200 dry run" if body.get("dryRun") else "200"


# --- the properties --------------------------------------------------------------------------


@FUZZ_SETTINGS
@given(body=import_body(), content_type=content_types, delete_first=st.booleans())
def test_import_body_fuzz(target: Target, body: Any, content_type: str | None, delete_first: bool):
    if delete_first:
        target.soft_delete_pool()  # so that imports of pool emails restore, too
    before, active = target.footprint(), target.active()
    response = post_import(target, encode(body), content_type)
    event(check_import(target, body, response, before, active))


@FUZZ_SETTINGS
@given(content=raw_bytes, content_type=content_types)
def test_import_raw_bytes_fuzz(target: Target, content: bytes, content_type: str | None) -> None:
    before, active = target.footprint(), target.active()
    response = post_import(target, content, content_type)
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        error = check_error_body(response)
        assert (response.status_code, error["code"]) == (422, "invalid_json"), error
        assert target.footprint() == before
        event("not JSON")
        return
    event(check_import(target, body, response, before, active))


@pytest.mark.parametrize(
    ("count", "status"), [(1000, 200), (1001, 400), (5000, 400)], ids=["1000", "1001", "5000"]
)
def test_import_size_limits(target: Target, count: int, status: int) -> None:
    leads = [
        {"email": f"bulk{i}@size.example.com", "notes": "\x00" * (i % 2)} for i in range(count)
    ]
    before, active = target.footprint(), target.active()
    response = post_import(target, encode({"leads": leads, "dryRun": True}), "application/json")
    check_import(target, {"leads": leads, "dryRun": True}, response, before, active)
    if status == 200:
        report = response.json()["data"]
        assert (report["created"], report["errors"]) == (500, 500), report


def deep_body(depth: int) -> bytes:
    """An import body whose customFields nest `depth` arrays deep (past what json.dumps can
    write, so built as text)."""
    custom = b'{"deep": ' + b"[" * depth + b"1" + b"]" * depth + b"}"
    return b'{"leads": [{"email": "huge@custom.example.com", "customFields": ' + custom + b"}]}"


@pytest.mark.parametrize(
    "content",
    [
        encode({"leads": [{"email": "huge@custom.example.com", "customFields": nested(200)}]}),
        deep_body(300),
        deep_body(990),
        deep_body(1100),
        encode(
            {
                "leads": [
                    {
                        "email": "wide@custom.example.com",
                        "customFields": {f"k{i}": "v" * 100 for i in range(20_000)},
                    }
                ]
            }
        ),
    ],
    ids=["depth200", "depth300", "depth990", "depth1100", "20k-keys"],
)
def test_import_huge_custom_fields(target: Target, content: bytes) -> None:
    before, active = target.footprint(), target.active()
    response = post_import(target, content, "application/json")
    assert response.status_code < 500, response.text[:2000]
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:  # past the JSON parser's depth limit
        assert check_error_body(response)["code"] == "invalid_json"
        assert target.footprint() == before
        return
    check_import(target, body, response, before, active)


# --- POST /api/v1/leads ------------------------------------------------------------------------


def json_content(content_type: str | None) -> bool:
    """Whether FastAPI parses a body of this content type as JSON (others are not parsed)."""
    return content_type is not None and content_type.startswith("application/json")


def expected_create_status(body: Any, content_type: str | None) -> int | None:
    """422 for a wrong shape or type; None when the body is well typed (201, 409 or 422)."""
    if not json_content(content_type):
        return 422
    if has_lone_surrogate(body) or not _lead_ok(body) or type(body.get("email")) is not str:
        return 422
    return None


@FUZZ_SETTINGS
@given(
    body=st.one_of(lead(), lead(), lead(), json_values, st.just(LONE_SURROGATE)),
    content_type=content_types,
    delete_first=st.booleans(),
)
def test_create_lead_body_fuzz(
    target: Target, body: Any, content_type: str | None, delete_first: bool
) -> None:
    if delete_first:
        target.soft_delete_pool()
    before, active = target.footprint(), target.active()
    headers = {"content-type": content_type} if content_type else {}
    response = target.client.post("/leads", content=encode(body), headers=headers)
    assert response.status_code < 500, (body, response.text)
    expected = expected_create_status(body, content_type)
    event(f"create {response.status_code}")
    if response.status_code == 201:
        assert expected is None, (body, response.text)
        data = response.json()
        assert data["meta"]["outcome"] in ("created", "restored")
        assert data["data"]["email"] == body["email"].strip().lower()
        assert target.active() == active + 1
        return
    error = check_error_body(response)
    if expected == 422:
        assert response.status_code == 422, (body, response.text)
    assert response.status_code in (409, 415, 422), (body, response.text)
    if not json_content(content_type):
        assert error["details"]["field"] == "body", error
    elif has_lone_surrogate(body):
        assert error["code"] == "invalid_json", error
    elif response.status_code == 422:
        assert error["code"] in ("validation_error", "invalid_lead"), error
        assert error["details"].get("field"), error
    assert target.footprint() == before, "a refused request wrote something"


def test_fuzz_oracle_matches_known_bodies() -> None:
    """The oracle itself, on bodies whose answers the contract fixes."""
    assert expected_import_status({"leads": []})[:2] == (400, "no_leads")
    assert expected_import_status({"leads": [{"email": 1}, {}, 5]}) == (
        422,
        "validation_error",
        {0, 2},
    )
    assert expected_import_status({"leads": [{}], "dryRun": None})[0] == 422
    assert expected_import_status({"leads": [{"email": None}]})[0] == 200
    assert expected_create_status({"email": None}, "application/json") == 422
    assert expected_create_status({"email": "a@ex.com"}, "text/plain") == 422


def test_custom_fields_past_the_encoders_depth_are_a_row_error(target: Target) -> None:
    """Regression: customFields nested ~1000 deep parse (orjson allows 1024 levels) but broke
    the JSON encoder's recursion limit, a 500; now the row is an error, the rest imported.
    (Depths under the recursion limit are refused later by the same rule, see test_hostile.)"""
    content = deep_body(990).replace(b"}]}", b'}, {"email": "next@deep.example.com"}]}')
    before = target.active()
    response = post_import(target, content, "application/json")
    assert response.status_code == 200, response.text[:500]
    report = response.json()["data"]
    assert (report["total"], report["created"], report["errors"]) == (2, 1, 1), report
    reason = f"customFields nested more than {MAX_JSON_DEPTH} levels deep"
    assert report["errorDetails"] == [
        {"index": 0, "email": "huge@custom.example.com", "reason": reason}
    ]
    assert target.active() == before + report["created"]


def test_create_with_custom_fields_past_the_encoders_depth_is_not_a_500(target: Target) -> None:
    """The same through `POST /api/v1/leads`: a 422 naming customFields, not a 500."""
    custom = b'{"deep": ' + b"[" * 990 + b"1" + b"]" * 990 + b"}"
    content = b'{"email": "deep.create@example.com", "customFields": ' + custom + b"}"
    before = target.footprint()
    response = target.client.post(
        "/leads", content=content, headers={"content-type": "application/json"}
    )
    error = check_error_body(response)
    assert (response.status_code, error["code"]) == (422, "invalid_lead"), error
    assert error["details"]["field"] == "customFields", error
    assert target.footprint() == before
