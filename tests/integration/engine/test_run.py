"""Integration tests of the engine's public API against the real PostgreSQL (SPEC sections 3-8)."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg2
import psycopg2.errors
import pytest

from leads_import.db import leads as db_leads
from leads_import.db.workspaces import Workspace
from leads_import.engine import import_leads, soft_delete_leads
from leads_import.errors import EmptyInputError, PlanLimitExceededError, WorkspaceNotFoundError
from tests.support.database import (
    counts,
    db_now,
    full_state,
    insert_campaign,
    insert_lead,
    lead,
    lead_count,
    leads_by_email,
    make_workspace,
    query,
    snapshot,
)

OLD = datetime(2020, 1, 1, tzinfo=UTC)
# What an invalid status reason names after the value (pinned here, not imported).
STATUS_HINT = "(expected active, bounced, unsubscribed or replied)"
REPORT_KEYS = {"created", "restored", "duplicates", "errors", "duplicateEmails", "errorDetails"}


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def run(database_url, merge_input):
    """import_leads bound to the test database; takes a Workspace or a slug."""

    def _run(leads, workspace: Workspace | str, **options: Any) -> dict[str, Any]:
        slug = workspace.slug if isinstance(workspace, Workspace) else workspace
        return import_leads(leads, slug, database=database_url, **options)

    return _run


@pytest.fixture
def delete(database_url):
    def _delete(workspace: Workspace, emails: list[str]) -> list[str]:
        return soft_delete_leads(workspace.slug, emails, database=database_url)

    return _delete


# --------------------------------------------------------------------------- request failures


def test_unknown_workspace_raises(run, database_url, db):
    slug = f"missing-{uuid.uuid4().hex[:8]}"
    with pytest.raises(WorkspaceNotFoundError, match=slug):
        run([{"email": "a@example.com"}], slug)
    with pytest.raises(WorkspaceNotFoundError):
        soft_delete_leads(slug, ["a@example.com"], database=database_url)
    assert query(db, "SELECT count(*) FROM workspaces WHERE slug = %s", (slug,)) == [(0,)]


@pytest.mark.parametrize("restore", [True, False])
def test_empty_input_raises(run, workspace, restore):
    with pytest.raises(EmptyInputError):
        run([], workspace, restore_soft_deleted=restore)
    with pytest.raises(EmptyInputError):
        run(iter(()), workspace, dry_run=True)


# --------------------------------------------------------------------------- row errors

LONG = "x" * 256


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({}, "empty email"),
        ({"email": None, "firstName": "Ann"}, "empty email"),
        ({"email": ""}, "empty email"),
        ({"email": "   \t "}, "empty email"),
        ({"email": "plainaddress"}, "invalid email format"),
        ({"email": "  Two@@Example.com "}, "invalid email format"),
        ({"email": "a@b@example.com"}, "invalid email format"),
        ({"email": ".lead@example.com"}, "invalid email format"),
        ({"email": "lead.@example.com"}, "invalid email format"),
        ({"email": "le..ad@example.com"}, "invalid email format"),
        ({"email": "le ad@example.com"}, "invalid email format"),
        ({"email": "lead@example"}, "invalid email format"),
        ({"email": "lead@-example.com"}, "invalid email format"),
        ({"email": "lead@example-.com"}, "invalid email format"),
        ({"email": "lead@example..com"}, "invalid email format"),
        ({"email": "lead@example.c"}, "invalid email format"),
        ({"email": "lead@example.c0m"}, "invalid email format"),
        ({"email": "jösé@example.com"}, "invalid email format"),
        ({"email": "lead@exämple.com"}, "invalid email format"),
        ({"email": "x" * 65 + "@example.com"}, "invalid email format"),
        (
            {"email": "x" * 64 + "@" + "d" * 63 + "." + "d" * 63 + "." + "d" * 58 + ".com"},
            "invalid email format",
        ),  # 255 characters
        ({"email": "ok@example.com", "status": "foo"}, 'invalid status "foo" ' + STATUS_HINT),
        (
            {"email": "ok@example.com", "status": " Pending "},
            'invalid status "Pending" ' + STATUS_HINT,
        ),
        ({"email": "ok@example.com", "customFields": [1, 2]}, "customFields must be a JSON object"),
        (
            {"email": "ok@example.com", "customFields": "[1, 2]"},
            "customFields must be a JSON object",
        ),
        (
            {"email": "ok@example.com", "customFields": "{not json"},
            "customFields must be a JSON object",
        ),
        ({"email": "ok@example.com", "customFields": 5}, "customFields must be a JSON object"),
        ({"email": "ok@example.com", "tags": ["a", 1]}, "tags must be a list of strings"),
        ({"email": "ok@example.com", "tags": [None]}, "tags must be a list of strings"),
        ({"email": "ok@example.com", "tags": {"a": "b"}}, "tags must be a list of strings"),
        ({"email": "ok@example.com", "tags": '["a", 2]'}, "tags must be a list of strings"),
        ({"email": "ok@example.com", "firstName": LONG}, "firstName longer than 255 characters"),
        ({"email": "ok@example.com", "source": LONG}, "source longer than 255 characters"),
        ({"email": "ok@example.com", "phone": "1" * 51}, "phone longer than 50 characters"),
        (
            {"email": "ok@example.com", "website": "w" * 2049},
            "website longer than 2,048 characters",
        ),
        ({"email": "ok@example.com", "notes": "n" * 10_001}, "notes longer than 10,000 characters"),
        ({"email": "ok@example.com", "tags": ["t" * 101]}, "tag longer than 100 characters"),
        (
            {"email": "ok@example.com", "linkedinUrl": "https://x.com/a b"},
            "linkedinUrl contains whitespace",
        ),
        ({"email": "ok@example.com", "firstName": 5}, "firstName must be a string"),
        ({"email": "a\x00@example.com"}, "email contains a NUL character"),
        ({"email": "ok@example.com", "lastName": "Smi\x00th"}, "lastName contains a NUL character"),
        ({"email": "ok@example.com", "notes": "\x00"}, "notes contains a NUL character"),
        (
            {"email": "ok@example.com", "customFields": {"k": "a\x00b"}},
            "customFields contains a NUL character",
        ),
        (
            {"email": "ok@example.com", "customFields": {"k\x00": "v"}},
            "customFields contains a NUL character",
        ),
        ({"email": "ok@example.com", "tags": ["a\x00b"]}, "tags contains a NUL character"),
        ({"email": "ok@example.com", "tags": "a\x00b;c"}, "tags contains a NUL character"),
    ],
    ids=lambda value: repr(value)[:40] if isinstance(value, dict) else None,
)
def test_row_error(run, db, workspace, bad, reason):
    leads = [{"email": "first@example.com"}, bad, {"email": "last@example.com"}]
    report = run(leads, workspace)
    given = bad.get("email")
    assert counts(report) == (2, 0, 0, 1)
    assert report["errorDetails"] == [
        {"index": 1, "email": given if isinstance(given, str) else "", "reason": reason}
    ]
    assert report["duplicateEmails"] == []
    assert [row[2] for row in snapshot(db, workspace.id)] == [
        "first@example.com",
        "last@example.com",
    ]


def test_row_that_is_not_an_object_is_an_error(run, db, workspace):
    report = run([{"email": "a@example.com"}, "b@example.com"], workspace)
    assert counts(report) == (1, 0, 0, 1)
    assert report["errorDetails"] == [{"index": 1, "email": "", "reason": "row 1 is not an object"}]


def test_emails_looked_up_before_the_rows_are_built_find_their_leads(run, db, workspace):
    """The lookup starts from the emails as given (the rows are built while it runs): rows that
    are not objects, or whose email is not text, sit beside rows that find their leads."""
    insert_lead(db, workspace, "gone@example.com", deleted_at=OLD)
    insert_lead(db, workspace, "active@example.com")
    leads = [
        7,
        {"email": " Gone@Example.com "},
        {"email": 5},
        {"email": "a\ud800@example.com"},
        {"email": "ACTIVE@example.com"},
        {"email": "gone@example.com"},
    ]
    report = run(leads, workspace)
    assert counts(report) == (0, 1, 2, 3)
    assert [e["index"] for e in report["errorDetails"]] == [0, 2, 3]


def test_a_lookup_failing_before_it_is_sent_fails_the_import(run, db, workspace, monkeypatch):
    """The rows are built once the lookup's statement is on its way; a lookup that fails before
    that (here, injected on our side) fails the call instead of leaving it waiting."""

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the lookup broke")

    monkeypatch.setattr(db_leads, "fetch_existing", broken)
    raised: list[BaseException] = []

    def call() -> None:
        try:
            run([{"email": "a@example.com"}], workspace)
        except BaseException as error:
            raised.append(error)

    thread = threading.Thread(target=call, daemon=True)  # a call left waiting fails the test
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "the import still waits for a lookup that failed"
    assert [str(error) for error in raised] == ["the lookup broke"]
    assert query(db, "SELECT count(*) FROM leads WHERE workspace_id = %s", (workspace.id,)) == [
        (0,)
    ]


@pytest.mark.parametrize(
    "email",
    [
        "a!#$%&'*+/=?^_`{|}~-b@example.com",
        "first.last@sub.example.co",
        "lead@xn--bcher-kva.xn--p1ai",
        "a@b.io",
        "x" * 64 + "@example.com",
        "x" * 64 + "@" + "d" * 63 + "." + "d" * 63 + "." + "d" * 57 + ".com",  # 254 characters
        "lead@my-host.example.com",
    ],
)
def test_valid_email_is_created(run, db, workspace, email):
    report = run([{"email": email}], workspace)
    assert counts(report) == (1, 0, 0, 0)
    assert list(leads_by_email(db, workspace.id)) == [email.lower()]


def test_values_at_their_length_limits_are_valid(run, db, workspace):
    given = {
        "email": "limits@example.com",
        "firstName": "  " + "f" * 255 + "  ",  # stripped before measuring
        "phone": "1" * 50,
        "website": "w" * 2048,
        "notes": "n" * 10_000,
        "tags": ["t" * 100],
        "status": " Unsubscribed ",
    }
    report = run([given], workspace)
    assert counts(report) == (1, 0, 0, 0)
    row = leads_by_email(db, workspace.id)["limits@example.com"]
    assert row["first_name"] == "f" * 255
    assert row["notes"] == "n" * 10_000
    assert row["tags"] == ["t" * 100]
    assert row["status"] == "unsubscribed"


def test_error_row_does_not_claim_its_email(run, db, workspace):
    leads = [
        {"email": "claim@example.com", "status": "nope"},
        {"email": "claim@example.com", "tags": [3]},
        {"email": " CLAIM@example.com ", "firstName": "Valid"},
        {"email": "claim@example.com", "firstName": "Second"},
    ]
    report = run(leads, workspace)
    assert counts(report) == (1, 0, 1, 2)
    assert report["duplicateEmails"] == ["claim@example.com"]
    assert [d["index"] for d in report["errorDetails"]] == [0, 1]
    assert leads_by_email(db, workspace.id)["claim@example.com"]["first_name"] == "Valid"


# --------------------------------------------------------------------------- classification


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("ann@example.com", "Ann@EXAMPLE.com"),
        ("ANN@Example.COM", "ann@example.com"),
        ("ann@example.com", "  ann@example.com\t"),
        ("\n Ann@Example.com ", "ANN@example.COM  "),
        ("kate@example.com", "\u212aate@example.com"),  # KELVIN SIGN, NFC -> K
        ("a`b@example.com", "a\u1fefb@example.com"),  # GREEK VARIA, NFC -> grave accent
        ("a\u1fefb@example.com", "A`B@example.com"),
    ],
)
def test_in_batch_duplicate(run, db, workspace, first, second):
    normalised = first.strip().lower().replace("\u1fef", "`")
    report = run(
        [{"email": first, "firstName": "First"}, {"email": second, "firstName": "Second"}],
        workspace,
    )
    assert counts(report) == (1, 0, 1, 0)
    assert report["duplicateEmails"] == [normalised]
    stored = leads_by_email(db, workspace.id)
    assert list(stored) == [normalised]
    assert stored[normalised]["first_name"] == "First"


def test_duplicate_of_existing_active_lead_leaves_it_untouched(run, db, workspace):
    lead_id = insert_lead(
        db,
        workspace,
        "taken@example.com",
        first_name="Orig",
        company="Co",
        custom_fields={"a": 1},
        tags=["x"],
        updated_at=OLD,
    )
    before = snapshot(db, workspace.id)
    report = run(
        [
            {
                "email": " Taken@Example.com",
                "firstName": "New",
                "customFields": {"a": 2, "b": 3},
                "tags": ["y"],
                "status": "bounced",
            }
        ],
        workspace,
    )
    assert counts(report) == (0, 0, 1, 0)
    assert report["duplicateEmails"] == ["taken@example.com"]
    assert snapshot(db, workspace.id) == before
    assert lead(db, lead_id)["updated_at"] == OLD


def test_active_and_soft_deleted_same_email_is_duplicate(run, db, workspace):
    insert_lead(db, workspace, "both@example.com")
    insert_lead(db, workspace, "both@example.com", deleted_at=OLD)
    before = snapshot(db, workspace.id)
    report = run([{"email": "both@example.com"}], workspace)
    assert counts(report) == (0, 0, 1, 0)
    assert snapshot(db, workspace.id) == before


def test_mixed_batch_gives_every_row_one_outcome(run, db, workspace):
    active_id = insert_lead(db, workspace, "active@example.com", first_name="Orig")
    gone_id = insert_lead(db, workspace, "gone@example.com", deleted_at=OLD)
    active_before = lead(db, active_id)
    leads = [
        {"email": "new@example.com"},  # 0 created
        {"email": "NEW@example.com "},  # 1 duplicate in batch
        {"email": "active@example.com", "firstName": "Changed"},  # 2 duplicate of active
        {"email": "gone@example.com", "firstName": "Back"},  # 3 restored
        {"email": ""},  # 4 error
        {"email": "Gone@Example.com"},  # 5 duplicate in batch (of the restored row)
        {"email": "bad@"},  # 6 error
        {"email": "later@example.com", "status": "nope"},  # 7 error
        {"email": "later@example.com"},  # 8 created
    ]
    report = run(leads, workspace)
    assert set(report) >= REPORT_KEYS
    assert counts(report) == (2, 1, 3, 3)
    assert sum(counts(report)) == len(leads)
    assert report["duplicateEmails"] == [
        "new@example.com",
        "active@example.com",
        "gone@example.com",
    ]
    assert report["errorDetails"] == [
        {"index": 4, "email": "", "reason": "empty email"},
        {"index": 6, "email": "bad@", "reason": "invalid email format"},
        {
            "index": 7,
            "email": "later@example.com",
            "reason": 'invalid status "nope" ' + STATUS_HINT,
        },
    ]
    stored = leads_by_email(db, workspace.id)
    assert set(stored) == {
        "active@example.com",
        "gone@example.com",
        "new@example.com",
        "later@example.com",
    }
    assert stored["gone@example.com"]["id"] == gone_id
    assert stored["gone@example.com"]["first_name"] == "Back"
    assert lead(db, active_id) == active_before
    assert len(snapshot(db, workspace.id)) == 4


def test_report_samples_are_cut_at_100_in_input_order(run, db, workspace):
    leads: list[dict[str, Any]] = []
    expected_duplicates: list[str] = []
    expected_errors: list[dict[str, Any]] = []
    for i in range(600):
        kind = i % 4
        if kind == 0:
            leads.append({"email": f"e{i}@example.com"})
        elif kind == 1:
            leads.append({"email": f" E{i - 1}@Example.COM"})
            expected_duplicates.append(f"e{i - 1}@example.com")
        elif kind == 2:
            leads.append({"email": f"bad{i}"})
            expected_errors.append(
                {"index": i, "email": f"bad{i}", "reason": "invalid email format"}
            )
        else:
            leads.append({"firstName": f"no email {i}"})
            expected_errors.append({"index": i, "email": "", "reason": "empty email"})
    report = run(leads, workspace)
    assert counts(report) == (150, 0, 150, 300)
    assert sum(counts(report)) == len(leads)
    assert report["duplicateEmails"] == expected_duplicates[:100]
    assert report["errorDetails"] == expected_errors[:100]
    assert len(snapshot(db, workspace.id)) == 150


def test_reimport_of_the_same_list_is_all_duplicates(run, db, workspace):
    deleted_id = insert_lead(db, workspace, "old@example.com", deleted_at=OLD)
    leads = [{"email": f"re{i}@example.com", "tags": ["t"]} for i in range(20)]
    leads.append({"email": "old@example.com", "firstName": "Again"})
    first = run(leads, workspace)
    assert counts(first) == (20, 1, 0, 0)
    after_first = snapshot(db, workspace.id)
    second = run(leads, workspace)
    assert counts(second) == (0, 0, 21, 0)
    assert second["duplicateEmails"] == [d["email"] for d in leads]
    assert snapshot(db, workspace.id) == after_first
    assert lead(db, deleted_id)["deleted_at"] is None


# --------------------------------------------------------------------------- what is written


@pytest.mark.parametrize(
    ("options", "expected_source"), [({}, "api"), ({"source": "warehouse_sync"}, "warehouse_sync")]
)
def test_created_rows_get_defaults(run, db, workspace, options, expected_source):
    start = db_now(db)
    report = run(
        [{"email": "plain@example.com"}, {"email": "own@example.com", "source": " webinar "}],
        workspace,
        **options,
    )
    assert counts(report) == (2, 0, 0, 0)
    stored = leads_by_email(db, workspace.id)
    plain = stored["plain@example.com"]
    assert plain["status"] == "active"
    assert plain["source"] == expected_source
    assert plain["custom_fields"] == {}
    assert plain["tags"] == []
    assert plain["deleted_at"] is None
    assert plain["created_at"] >= start
    assert plain["updated_at"] >= start
    for column in (
        "first_name",
        "last_name",
        "company",
        "title",
        "phone",
        "linkedin_url",
        "website",
        "notes",
    ):
        assert plain[column] is None
    assert stored["own@example.com"]["source"] == "webinar"


def test_created_row_values_are_normalised(run, db, workspace):
    run(
        [
            {
                "email": "  Norm@Example.COM ",
                "firstName": "  Ann ",
                "lastName": "   ",
                "company": "",
                "status": "REPLIED",
                "customFields": '{"plan": "pro", "seats": 3}',
                "tags": " b ; a, ,b;c ",
            }
        ],
        workspace,
    )
    row = leads_by_email(db, workspace.id)["norm@example.com"]
    assert row["first_name"] == "Ann"
    assert row["last_name"] is None
    assert row["company"] is None
    assert row["status"] == "replied"
    assert row["custom_fields"] == {"plan": "pro", "seats": 3}
    assert row["tags"] == ["b", "a", "c"]


AWKWARD: dict[str, Any] = {
    "firstName": 'O"Brien, Jr.',
    "lastName": "NULL",
    "company": "back\\slash \\N",
    "title": "Ünïcödé — 日本",
    "notes": 'line1\nline2\r\n\\.\n"quoted",\ttab',
    "customFields": {'k"ey': "v,a\nl", "nested": {"x": [1, 2.5, None]}, "u": "\\u0000"},
    "tags": ["a,b", 'q"t', "back\\slash", "{brace}", "NULL", "ü", "\\."],
}


def _assert_awkward(row: dict[str, Any]) -> None:
    assert row["first_name"] == AWKWARD["firstName"]
    assert row["last_name"] == "NULL"
    assert row["company"] == AWKWARD["company"]
    assert row["title"] == AWKWARD["title"]
    assert row["notes"] == AWKWARD["notes"]
    assert row["custom_fields"] == AWKWARD["customFields"]
    assert row["tags"] == AWKWARD["tags"]


@pytest.mark.parametrize("path", ["created", "restored"])
def test_awkward_values_round_trip(run, db, workspace, path):
    if path == "restored":
        insert_lead(db, workspace, "awk@example.com", deleted_at=OLD)
    report = run([{"email": "awk@example.com", **AWKWARD}], workspace)
    assert report[path] == 1
    _assert_awkward(leads_by_email(db, workspace.id)["awk@example.com"])


STORED: dict[str, Any] = {
    "first_name": "OldFirst",
    "last_name": "OldLast",
    "company": "OldCo",
    "title": "OldTitle",
    "phone": "+1 000",
    "linkedin_url": "https://linkedin.com/in/old",
    "website": "https://old.example.com",
    "notes": "old notes",
    "source": "csv_import",
    "status": "bounced",
}
GIVEN: dict[str, tuple[str, str, str]] = {  # column -> (API field, given value, stored value)
    "first_name": ("firstName", " NewFirst ", "NewFirst"),
    "last_name": ("lastName", "NewLast", "NewLast"),
    "company": ("company", "NewCo", "NewCo"),
    "title": ("title", "NewTitle", "NewTitle"),
    "phone": ("phone", "+1 999", "+1 999"),
    "linkedin_url": ("linkedinUrl", "https://linkedin.com/in/new", "https://linkedin.com/in/new"),
    "website": ("website", "https://new.example.com", "https://new.example.com"),
    "notes": ("notes", "new notes", "new notes"),
    "source": ("source", "webinar", "webinar"),
    "status": ("status", "Replied", "replied"),
}


@pytest.mark.parametrize("column", list(GIVEN))
def test_restore_given_field_replaces_missing_fields_keep(run, db, workspace, column):
    lead_id = insert_lead(
        db, workspace, "merge@example.com", **STORED, deleted_at=OLD, updated_at=OLD
    )
    field, given, expected = GIVEN[column]
    # the other fields are missing (absent, None or blank) and keep their stored values
    others = {"company": "   ", "notes": None} if column not in ("company", "notes") else {}
    report = run([{"email": "Merge@example.com", field: given, **others}], workspace)
    assert counts(report) == (0, 1, 0, 0)
    row = lead(db, lead_id)
    assert row[column] == expected
    for other, value in STORED.items():
        if other != column:
            assert row[other] == value, other
    assert row["deleted_at"] is None


def test_restore_merges_custom_fields_and_tags(run, db, workspace):
    created_at = OLD - timedelta(days=30)
    lead_id = insert_lead(
        db,
        workspace,
        "merge@example.com",
        first_name="Keep",
        custom_fields={"a": 1, "b": "stored", "nested": {"x": 1}},
        tags=["t1", "t2", "shared"],
        created_at=created_at,
        updated_at=OLD,
        deleted_at=OLD + timedelta(hours=1),
    )
    start = db_now(db)
    report = run(
        [
            {
                "email": "merge@example.com",
                "customFields": {"b": "given", "c": [1], "nested": {"y": 2}},
                "tags": ["t3", "shared", " t1 ", "t4", "t3"],
            }
        ],
        workspace,
    )
    assert counts(report) == (0, 1, 0, 0)
    row = lead(db, lead_id)
    assert row["custom_fields"] == {"a": 1, "b": "given", "c": [1], "nested": {"y": 2}}
    assert row["tags"] == ["t1", "t2", "shared", "t3", "t4"]
    assert row["first_name"] == "Keep"
    assert row["deleted_at"] is None
    assert row["updated_at"] > OLD
    assert row["updated_at"] >= start
    assert row["created_at"] == created_at
    assert row["email"] == "merge@example.com"
    assert row["workspace_id"] == workspace.id


def test_restore_without_custom_fields_or_tags_keeps_them(run, db, workspace):
    lead_id = insert_lead(
        db, workspace, "keep@example.com", custom_fields={"a": 1}, tags=["x", "y"], deleted_at=OLD
    )
    report = run([{"email": "keep@example.com"}], workspace)
    assert report["restored"] == 1
    row = lead(db, lead_id)
    assert row["custom_fields"] == {"a": 1}
    assert row["tags"] == ["x", "y"]
    assert row["status"] == "active"


@pytest.mark.parametrize(
    ("deleted_hours_ago", "restored_position"),
    [
        ([5, 1, 3], 1),  # the most recently deleted wins
        ([1, 5, 1], 2),  # same deleted_at: the highest id wins
        ([2, 2, 2], 2),
        ([1, 2, 3], 0),
    ],
)
def test_most_recently_deleted_lead_is_restored(
    run, db, workspace, deleted_hours_ago, restored_position
):
    base = datetime(2024, 6, 1, 12, tzinfo=UTC)
    ids = [
        insert_lead(
            db,
            workspace,
            "many@example.com",
            first_name=f"v{n}",
            deleted_at=base - timedelta(hours=hours),
        )
        for n, hours in enumerate(deleted_hours_ago)
    ]
    before = {row[0]: row for row in snapshot(db, workspace.id)}
    report = run([{"email": "many@example.com", "lastName": "Back"}], workspace)
    assert counts(report) == (0, 1, 0, 0)
    for position, lead_id in enumerate(ids):
        row = lead(db, lead_id)
        if position == restored_position:
            assert row["deleted_at"] is None
            assert row["first_name"] == f"v{position}"
            assert row["last_name"] == "Back"
        else:
            assert tuple(row.values()) == before[lead_id]
    active = query(
        db,
        "SELECT count(*) FROM leads WHERE workspace_id = %s AND deleted_at IS NULL",
        (workspace.id,),
    )
    assert active == [(1,)]


def test_no_restore_option_makes_soft_deleted_matches_duplicates(run, db, workspace):
    gone_id = insert_lead(db, workspace, "gone@example.com", first_name="Old", deleted_at=OLD)
    campaign = insert_campaign(db, workspace, [gone_id])
    before = full_state(db, workspace.id)
    report = run(
        [{"email": "GONE@example.com", "firstName": "New"}, {"email": "fresh@example.com"}],
        workspace,
        restore_soft_deleted=False,
    )
    assert counts(report) == (1, 0, 1, 0)
    assert report["duplicateEmails"] == ["gone@example.com"]
    after = full_state(db, workspace.id)
    assert after["leads"][: len(before["leads"])] == before["leads"]
    assert [row[2] for row in after["leads"]] == ["gone@example.com", "fresh@example.com"]
    assert after["campaigns"] == before["campaigns"]
    assert lead_count(db, campaign) == 0


# --------------------------------------------------------------------------- campaign counts


def test_campaign_counts_follow_soft_delete_and_restore(run, delete, db, workspace):
    ann = insert_lead(db, workspace, "ann@example.com")
    bob = insert_lead(db, workspace, "bob@example.com")
    cat = insert_lead(db, workspace, "cat@example.com")
    both = insert_campaign(db, workspace, [ann, bob])
    ann_only = insert_campaign(db, workspace, [ann, cat])
    none = insert_campaign(db, workspace, [cat])
    other_ws = make_workspace(db)
    foreign = insert_campaign(db, other_ws, [insert_lead(db, other_ws, "ann@example.com")])
    memberships = query(db, "SELECT * FROM campaign_leads ORDER BY 1, 2")

    assert delete(workspace, [" ANN@example.com", "nobody@example.com"]) == ["ann@example.com"]
    assert [lead_count(db, c) for c in (both, ann_only, none, foreign)] == [1, 1, 1, 1]
    assert lead(db, ann)["deleted_at"] is not None
    assert query(db, "SELECT * FROM campaign_leads ORDER BY 1, 2") == memberships

    assert delete(workspace, ["ann@example.com"]) == []  # already deleted: no double count
    assert [lead_count(db, c) for c in (both, ann_only, none, foreign)] == [1, 1, 1, 1]

    assert delete(workspace, ["bob@example.com", "cat@example.com"]) == [
        "bob@example.com",
        "cat@example.com",
    ]
    assert [lead_count(db, c) for c in (both, ann_only, none, foreign)] == [0, 0, 0, 1]

    report = run([{"email": "ann@example.com"}, {"email": "cat@example.com"}], workspace)
    assert counts(report) == (0, 2, 0, 0)
    assert [lead_count(db, c) for c in (both, ann_only, none, foreign)] == [1, 2, 1, 1]
    assert query(db, "SELECT * FROM campaign_leads ORDER BY 1, 2") == memberships
    assert lead(db, bob)["deleted_at"] is not None


def test_restore_counts_only_the_restored_lead_memberships(run, db, workspace):
    older = insert_lead(db, workspace, "dup@example.com", deleted_at=OLD)
    newer = insert_lead(db, workspace, "dup@example.com", deleted_at=OLD + timedelta(days=1))
    has_older = insert_campaign(db, workspace, [older])
    has_newer = insert_campaign(db, workspace, [newer])
    report = run([{"email": "dup@example.com"}], workspace)
    assert report["restored"] == 1
    assert lead_count(db, has_newer) == 1
    assert lead_count(db, has_older) == 0


# --------------------------------------------------------------------------- plan limit


def test_plan_limit_exceeded_writes_nothing(run, db):
    ws = make_workspace(db, contact_limit=5)
    for i in range(3):
        insert_lead(db, ws, f"have{i}@example.com")
    gone = insert_lead(db, ws, "gone@example.com", deleted_at=OLD)
    insert_campaign(db, ws, [gone])
    before = full_state(db, ws.id)
    leads = [
        {"email": "gone@example.com"},
        {"email": "new1@example.com"},
        {"email": "new2@example.com"},
        {"email": "have0@example.com"},
        {"email": ""},
    ]
    with pytest.raises(PlanLimitExceededError) as raised:
        run(leads, ws)
    error = raised.value
    assert (error.limit, error.active, error.would_reach) == (5, 3, 6)
    assert "5" in str(error) and "3" in str(error) and "6" in str(error)
    assert error.http_status == 402
    assert full_state(db, ws.id) == before


def test_plan_limit_exactly_reached_passes(run, db):
    ws = make_workspace(db, contact_limit=5)
    for i in range(3):
        insert_lead(db, ws, f"have{i}@example.com")
    insert_lead(db, ws, "gone@example.com", deleted_at=OLD)
    leads = [
        {"email": "gone@example.com"},
        {"email": "new1@example.com"},
        {"email": "NEW1@example.com"},
        {"email": "have0@example.com"},
        {"email": "bad"},
    ]
    report = run(leads, ws)
    assert counts(report) == (1, 1, 2, 1)
    assert report["remainingCapacity"] == 0
    assert len(leads_by_email(db, ws.id)) == 5
    with pytest.raises(PlanLimitExceededError) as raised:
        run([{"email": "one-more@example.com"}], ws)
    assert (raised.value.limit, raised.value.active, raised.value.would_reach) == (5, 5, 6)


def test_restored_rows_count_toward_plan_limit(run, db):
    ws = make_workspace(db, contact_limit=2)
    insert_lead(db, ws, "have@example.com")
    for i in range(2):
        insert_lead(db, ws, f"gone{i}@example.com", deleted_at=OLD)
    before = snapshot(db, ws.id)
    with pytest.raises(PlanLimitExceededError) as raised:
        run([{"email": "gone0@example.com"}, {"email": "gone1@example.com"}], ws)
    assert (raised.value.limit, raised.value.active, raised.value.would_reach) == (2, 1, 3)
    assert snapshot(db, ws.id) == before
    # without restoring they are duplicates and do not count
    report = run(
        [{"email": "gone0@example.com"}, {"email": "gone1@example.com"}],
        ws,
        restore_soft_deleted=False,
    )
    assert counts(report) == (0, 0, 2, 0)
    assert snapshot(db, ws.id) == before
    report = run([{"email": "gone1@example.com"}], ws)
    assert counts(report) == (0, 1, 0, 0)


def test_zero_contact_limit_rejects_any_new_lead(run, db):
    ws = make_workspace(db, contact_limit=0)
    with pytest.raises(PlanLimitExceededError):
        run([{"email": "a@example.com"}], ws)
    assert snapshot(db, ws.id) == []
    report = run([{"email": "bad"}], ws)  # errors only: nothing would be added
    assert counts(report) == (0, 0, 0, 1)


# --------------------------------------------------------------------------- isolation


def test_workspaces_are_isolated(run, delete, db):
    ws_a, ws_b = make_workspace(db), make_workspace(db)
    insert_lead(db, ws_a, "shared@example.com", first_name="A")
    gone_a = insert_lead(db, ws_a, "gone@example.com", deleted_at=OLD)
    campaign_a = insert_campaign(db, ws_a, [gone_a])
    state_a = full_state(db, ws_a.id)

    leads = [
        {"email": "shared@example.com", "firstName": "B"},
        {"email": "gone@example.com"},
        {"email": "only-b@example.com"},
    ]
    report = run(leads, ws_b)
    assert counts(report) == (3, 0, 0, 0)
    assert set(leads_by_email(db, ws_b.id)) == {
        "shared@example.com",
        "gone@example.com",
        "only-b@example.com",
    }
    assert full_state(db, ws_a.id) == state_a

    assert delete(ws_b, ["shared@example.com", "gone@example.com"]) == [
        "gone@example.com",
        "shared@example.com",
    ]
    report = run(leads, ws_b)
    assert counts(report) == (0, 2, 1, 0)
    assert full_state(db, ws_a.id) == state_a
    assert lead_count(db, campaign_a) == 0

    state_b = full_state(db, ws_b.id)
    report = run(leads, ws_a)
    assert counts(report) == (1, 1, 1, 0)
    assert full_state(db, ws_b.id) == state_b
    assert lead_count(db, campaign_a) == 1


# --------------------------------------------------------------------------- atomicity


@pytest.fixture
def failing_trigger(db):
    """Install a trigger raising for one workspace's rows of `table` on `event` (UPDATE, or
    INSERT: an AFTER trigger, which fires once the whole COPY is in); dropped afterwards."""
    installed: list[tuple[str, str]] = []

    def install(table: str, workspace: Workspace, event: str = "UPDATE") -> None:
        name = f"fail_{table}_{uuid.uuid4().hex[:8]}"
        when, row = ("AFTER", "NEW") if event == "INSERT" else ("BEFORE", "OLD")
        query(
            db,
            f"""
            CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'injected failure after % leads',
                    (SELECT count(*) FROM leads WHERE workspace_id = {workspace.id});
            END $$;
            CREATE TRIGGER {name} {when} {event} ON {table}
                FOR EACH ROW WHEN ({row}.workspace_id = {workspace.id}) EXECUTE FUNCTION {name}();
            SELECT 1;
        """,
        )
        installed.append((table, name))

    yield install
    for table, name in installed:
        with db.cursor() as cur:
            cur.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            cur.execute(f"DROP FUNCTION IF EXISTS {name}()")


@pytest.mark.parametrize(
    ("table", "event", "seen"),
    [
        ("leads", "INSERT", "52"),  # after the COPY: its 50 rows are in
        ("leads", "UPDATE", r"\d+"),  # in the restore
        ("campaigns", "UPDATE", r"\d+"),  # in the restore's campaign counts
    ],
)
def test_a_failure_in_any_write_leaves_database_unchanged(
    run, db, workspace, failing_trigger, table, event, seen
):
    insert_lead(db, workspace, "active@example.com")
    gone = insert_lead(db, workspace, "gone@example.com", deleted_at=OLD, first_name="Old")
    insert_campaign(db, workspace, [gone])
    before = full_state(db, workspace.id)
    failing_trigger(table, workspace, event)
    leads = [{"email": f"new{i}@example.com"} for i in range(50)]
    leads.append({"email": "gone@example.com", "firstName": "New"})
    # the trigger reports how many leads the failing transaction saw
    with pytest.raises(
        psycopg2.errors.RaiseException, match=f"injected failure after {seen} leads"
    ):
        run(leads, workspace)
    assert full_state(db, workspace.id) == before
    # the same import succeeds once the failure is gone
    query(db, f"ALTER TABLE {table} DISABLE TRIGGER USER; SELECT 1")
    try:
        report = run(leads, workspace)
    finally:
        query(db, f"ALTER TABLE {table} ENABLE TRIGGER USER; SELECT 1")
    assert counts(report) == (50, 1, 0, 0)


# --------------------------------------------------------------------------- dry run


def test_dry_run_reports_the_real_counts_and_writes_nothing(run, db, workspace):
    insert_lead(db, workspace, "active@example.com")
    gone = insert_lead(db, workspace, "gone@example.com", deleted_at=OLD)
    campaign = insert_campaign(db, workspace, [gone])
    leads = [
        {"email": "new@example.com"},
        {"email": "New@example.com"},
        {"email": "active@example.com"},
        {"email": "gone@example.com", "firstName": "X"},
        {"email": "broken"},
        {"email": None},
    ]
    before = full_state(db, workspace.id)
    dry = run(leads, workspace, dry_run=True)
    assert full_state(db, workspace.id) == before
    assert dry["dryRun"] is True
    again = run(leads, workspace, dry_run=True)  # nothing was written, so nothing changes
    real = run(leads, workspace)
    assert real["dryRun"] is False
    for report in (dry, again):
        for key in REPORT_KEYS:
            assert report[key] == real[key], key
    assert counts(real) == (1, 1, 2, 2)
    assert lead_count(db, campaign) == 1
    assert full_state(db, workspace.id) != before


def test_dry_run_respects_plan_capacity(run, db):
    ws = make_workspace(db, contact_limit=1)
    dry = run([{"email": "a@example.com"}], ws, dry_run=True)
    assert dry["created"] == 1
    assert dry["remainingCapacity"] == 0
    assert snapshot(db, ws.id) == []


# --------------------------------------------------------------------------- concurrency


@pytest.mark.parametrize("threads", [2, 4])
def test_parallel_overlapping_imports(run, db, threads):
    rounds = 3
    for _ in range(rounds):
        ws = make_workspace(db)
        soft_deleted = [f"p{i}@example.com" for i in range(0, 10)]
        for email in soft_deleted:
            insert_lead(db, ws, email, deleted_at=OLD)
        insert_lead(db, ws, "p0@example.com", deleted_at=OLD - timedelta(days=1))
        lists = []
        for t in range(threads):
            emails = [f"p{i}@example.com" for i in range(t * 15, t * 15 + 60)]
            if t % 2:
                emails = [e.upper() for e in reversed(emails)]
            lists.append([{"email": e, "firstName": f"t{t}"} for e in emails])
        distinct = {d["email"].lower() for batch in lists for d in batch}
        barrier = threading.Barrier(threads)

        def work(batch, barrier=barrier, ws=ws):
            barrier.wait()
            return run(batch, ws)

        with ThreadPoolExecutor(max_workers=threads) as pool:
            reports = list(pool.map(work, lists))
        created = sum(r["created"] for r in reports)
        restored = sum(r["restored"] for r in reports)
        duplicates = sum(r["duplicates"] for r in reports)
        assert restored == len(soft_deleted)
        assert created == len(distinct) - len(soft_deleted)
        assert duplicates == sum(map(len, lists)) - len(distinct)
        assert all(r["errors"] == 0 for r in reports)
        active = Counter(
            email
            for (email,) in query(
                db,
                "SELECT email FROM leads WHERE workspace_id = %s AND deleted_at IS NULL",
                (ws.id,),
            )
        )
        assert set(active) == distinct
        assert set(active.values()) == {1}
        # the older soft-deleted copy of p0 stays deleted
        assert query(
            db,
            "SELECT count(*) FROM leads WHERE workspace_id = %s AND deleted_at IS NOT NULL",
            (ws.id,),
        ) == [(1,)]


def test_parallel_imports_into_different_workspaces(run, db):
    workspaces = [make_workspace(db) for _ in range(3)]
    batch = [{"email": f"w{i}@example.com"} for i in range(200)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        reports = list(pool.map(lambda ws: run(batch, ws), workspaces))
    assert [r["created"] for r in reports] == [200, 200, 200]
    for ws in workspaces:
        assert len(snapshot(db, ws.id)) == 200
