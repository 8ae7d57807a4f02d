"""`leads_import.db.leads` against the real PostgreSQL: the lookups and bulk writes of an import
(SPEC sections 4-6) and the single-lead queries of the HTTP API. Fixture rows are plain SQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import polars as pl
import psycopg2
import psycopg2.errors
import pytest

from leads_import.db.connection import Connection, connect
from leads_import.db.leads import (
    LeadFilter,
    check_plan_limit,
    fetch_existing,
    insert_created,
    page_of_leads,
    remaining_capacity,
    replace_lead,
    restore_leads,
    snapshot,
    soft_delete,
    soft_delete_lead,
    update_leads,
)
from leads_import.db.workspaces import Workspace
from leads_import.errors import PlanLimitExceededError
from tests.support.database import insert_lead, lead, lead_count, make_workspace, query
from transforms.classify import EXISTING_SCHEMA, classify
from transforms.normalise import prepare_leads
from transforms.records import records_to_raw_frame
from transforms.write_plan import created_rows, restored_rows, updated_rows

T2021 = datetime(2021, 1, 1, tzinfo=UTC)
T2023 = datetime(2023, 6, 1, tzinfo=UTC)
T2024 = datetime(2024, 1, 1, tzinfo=UTC)


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def conn(database_url: str) -> Iterator[Connection]:
    """A connection with autocommit off, as the engine uses (temp tables drop at commit)."""
    connection = connect(database_url)
    yield connection
    connection.rollback()
    connection.close()


def campaign_with_count(db, workspace: Workspace, lead_ids: list[int], lead_count: int) -> int:
    """A campaign with these members and the lead_count given (consistent or not)."""
    (campaign_id,) = query(
        db,
        "INSERT INTO campaigns (workspace_id, name, lead_count) VALUES (%s, 'c', %s) RETURNING id",
        (workspace.id, lead_count),
    )[0]
    for lead_id in lead_ids:
        query(db, "INSERT INTO campaign_leads VALUES (%s, %s) RETURNING 1", (campaign_id, lead_id))
    return campaign_id


def classified(
    rows: list[dict[str, Any]], existing: pl.DataFrame | None = None, **options: Any
) -> pl.DataFrame:
    raw, _ = records_to_raw_frame(rows)
    if existing is None:
        existing = pl.DataFrame(schema=EXISTING_SCHEMA)
    return classify(prepare_leads(raw), existing, **options)


def to_restore(rows: list[tuple[int, dict[str, Any]]]) -> pl.DataFrame:
    """Merge rows restoring lead `id` with the given fields."""
    emails = [f"r{i}@x.io" for i in range(len(rows))]
    existing = pl.DataFrame(
        [(email, False, None, lead_id) for email, (lead_id, _) in zip(emails, rows, strict=True)],
        schema=EXISTING_SCHEMA,
        orient="row",
    )
    given = [{**fields, "email": email} for email, (_, fields) in zip(emails, rows, strict=True)]
    return restored_rows(classified(given, existing))


# --------------------------------------------------------------------------- fetch_existing


@pytest.fixture(params=["list", "temp_table"])
def lookup(request, monkeypatch) -> str:
    """Both ways existing leads are looked up: an array literal for short batches, the
    import_emails temp table for long ones."""
    if request.param == "temp_table":
        monkeypatch.setattr("leads_import.db.leads.LIST_LOOKUP_MAX_EMAILS", 0)
    return request.param


@pytest.fixture
def stocked(db, workspace) -> dict[str, Any]:
    """A workspace holding one email of every kind, and a neighbour workspace."""
    ids: dict[str, Any] = {}
    ids["active"] = insert_lead(db, workspace, "active@x.io")
    ids["odd"] = insert_lead(db, workspace, "o'neil{x}|a@x.io")  # quotes and braces: escaping
    # Soft-deleted three times: the most recently deleted wins, whatever its id.
    ids["recent"] = insert_lead(db, workspace, "deleted@x.io", deleted_at=T2024)
    insert_lead(db, workspace, "deleted@x.io", deleted_at=T2021)
    insert_lead(db, workspace, "deleted@x.io", deleted_at=T2023)
    # Deleted at the same time: the highest id wins.
    insert_lead(db, workspace, "tie@x.io", deleted_at=T2023)
    ids["tie"] = insert_lead(db, workspace, "tie@x.io", deleted_at=T2023)
    # An active lead and a soft-deleted one.
    ids["both_deleted"] = insert_lead(db, workspace, "both@x.io", deleted_at=T2024)
    ids["both_active"] = insert_lead(db, workspace, "both@x.io")
    other = make_workspace(db)
    insert_lead(db, other, "elsewhere@x.io")
    insert_lead(db, other, "gone@x.io", deleted_at=T2024)
    insert_lead(db, other, "new@x.io")
    ids["other_active"] = insert_lead(db, other, "active@x.io")
    insert_lead(db, other, "deleted@x.io")  # active there, soft-deleted here
    ids["other"] = other
    return ids


LOOKED_UP = pl.Series(
    "email",
    [
        "new@x.io",
        "active@x.io",
        "o'neil{x}|a@x.io",
        "deleted@x.io",
        "tie@x.io",
        "both@x.io",
        "elsewhere@x.io",
        "gone@x.io",
    ],
)


@pytest.mark.parametrize("active_ids", [True, False])
def test_fetch_existing(conn, workspace, stocked, lookup, active_ids):
    with conn.cursor() as cur:
        found = fetch_existing(cur, workspace.id, LOOKED_UP, active_ids=active_ids).sort("email")
    assert found.schema == EXISTING_SCHEMA
    rows = {email: rest for email, *rest in found.iter_rows()}
    assert set(rows) == {"active@x.io", "o'neil{x}|a@x.io", "deleted@x.io", "tie@x.io", "both@x.io"}
    expect_id = (lambda lead_id: lead_id) if active_ids else (lambda _: None)
    assert rows["active@x.io"] == [True, expect_id(stocked["active"]), None]
    assert rows["o'neil{x}|a@x.io"] == [True, expect_id(stocked["odd"]), None]
    assert rows["deleted@x.io"] == [False, None, stocked["recent"]]
    assert rows["tie@x.io"] == [False, None, stocked["tie"]]
    has_active, active_id, restore_id = rows["both@x.io"]
    assert (has_active, active_id) == (True, expect_id(stocked["both_active"]))
    # The soft-deleted lead of an email with an active lead may be left out (never restored).
    assert restore_id in (None, stocked["both_deleted"])


def test_both_lookups_give_the_same_classification(conn, workspace, stocked, monkeypatch):
    results = []
    for limit in (10_000, 0):
        monkeypatch.setattr("leads_import.db.leads.LIST_LOOKUP_MAX_EMAILS", limit)
        with conn.cursor() as cur:
            existing = fetch_existing(cur, workspace.id, LOOKED_UP, active_ids=True)
        prepared_rows = [{"email": email} for email in LOOKED_UP]
        results.append(
            classified(prepared_rows, existing, on_existing="overwrite")
            .select("outcome", "lead_id")
            .rows()
        )
    assert results[0] == results[1]
    assert results[0][3] == ("restored", stocked["recent"])
    assert results[0][5] == ("updated", stocked["both_active"])


def test_snapshot_holds_every_email_of_the_workspace_once(conn, workspace, stocked):
    with conn.cursor() as cur:
        found = snapshot(cur, workspace.id)
    assert found.schema == EXISTING_SCHEMA
    assert found.get_column("email").is_unique().all()
    assert {email: rest for email, *rest in found.iter_rows()} == {
        "active@x.io": [True, stocked["active"], None],
        "o'neil{x}|a@x.io": [True, stocked["odd"], None],
        "deleted@x.io": [False, None, stocked["recent"]],
        "tie@x.io": [False, None, stocked["tie"]],
        "both@x.io": [True, stocked["both_active"], stocked["both_deleted"]],
    }


@pytest.mark.parametrize(("max_leads", "whole"), [(6, True), (5, False), (2, False)])
def test_a_snapshot_stops_one_lead_past_its_cap(conn, workspace, stocked, max_leads, whole):
    # Three active leads and three emails with a soft-deleted lead to restore (five emails).
    with conn.cursor() as cur:
        capped = snapshot(cur, workspace.id, max_leads)
        found = snapshot(cur, workspace.id)
    assert found.height == 5
    if whole:
        assert capped is not None and capped.sort("email").equals(found.sort("email"))
    else:
        assert capped is None


def test_snapshot_of_an_empty_workspace(conn, workspace):
    with conn.cursor() as cur:
        found = snapshot(cur, workspace.id)
    assert found.schema == EXISTING_SCHEMA and found.height == 0


def test_fetch_existing_of_no_emails(conn, workspace, lookup):
    with conn.cursor() as cur:
        found = fetch_existing(cur, workspace.id, pl.Series("email", [], dtype=pl.String))
    assert found.height == 0
    assert found.schema == EXISTING_SCHEMA


def test_temp_table_lookup_serves_several_batches_of_one_transaction(
    conn, workspace, stocked, monkeypatch
):
    monkeypatch.setattr("leads_import.db.leads.LIST_LOOKUP_MAX_EMAILS", 0)
    with conn.cursor() as cur:
        first = fetch_existing(cur, workspace.id, pl.Series("email", ["active@x.io"]))
        second = fetch_existing(cur, workspace.id, pl.Series("email", ["tie@x.io"]))
    assert first.get_column("email").to_list() == ["active@x.io"]
    assert second.get_column("email").to_list() == ["tie@x.io"]  # the table was emptied


# --------------------------------------------------------------------------- plan limit


def test_unlimited_workspace_has_no_capacity_figure(conn, workspace):
    insert_lead(conn, workspace, "a@x.io")
    with conn.cursor() as cur:
        assert check_plan_limit(cur, workspace.id, 1_000_000) is None
        assert remaining_capacity(cur, workspace.id) is None


def test_plan_limit_counts_active_leads_only(conn, db):
    limited = make_workspace(db, contact_limit=3)
    insert_lead(db, limited, "a@x.io")
    insert_lead(db, limited, "gone@x.io", deleted_at=T2024)
    with conn.cursor() as cur:
        assert remaining_capacity(cur, limited.id) == 2
        assert check_plan_limit(cur, limited.id, 0) == 2
        assert check_plan_limit(cur, limited.id, 2) == 0  # exactly the limit passes
        with pytest.raises(PlanLimitExceededError) as raised:
            check_plan_limit(cur, limited.id, 3)
    error = raised.value
    assert (error.limit, error.active, error.would_reach) == (3, 1, 4)
    assert error.details() == {"limit": 3, "active": 1, "wouldReach": 4}
    assert (error.http_status, error.code) == (402, "plan_limit_exceeded")


def test_a_lowered_limit_leaves_no_capacity(conn, db):
    limited = make_workspace(db, contact_limit=1)
    insert_lead(db, limited, "a@x.io")
    insert_lead(db, limited, "b@x.io")
    with conn.cursor() as cur:
        assert remaining_capacity(cur, limited.id) == 0
        with pytest.raises(PlanLimitExceededError):
            check_plan_limit(cur, limited.id, 0)


def test_zero_limit_refuses_one_lead(conn, db):
    limited = make_workspace(db, contact_limit=0)
    with conn.cursor() as cur:
        assert check_plan_limit(cur, limited.id, 0) == 0
        with pytest.raises(PlanLimitExceededError):
            check_plan_limit(cur, limited.id, 1)


# --------------------------------------------------------------------------- insert_created


def test_insert_created_writes_the_rows_into_the_workspace(conn, db, workspace):
    rows = created_rows(
        classified(
            [
                {
                    "email": " Ann@X.io ",
                    "firstName": "Ann",
                    "notes": 'two\nlines, "quoted"',
                    "status": "Replied",
                    "customFields": {"k": 'v"', "n": 1},
                    "tags": ["a,b", 'q"', "NULL", "back\\slash"],
                },
                {"email": "bob@x.io"},
                {"email": "bad"},
            ]
        ),
        default_source="csv_import",
    )
    with conn.cursor() as cur:
        assert insert_created(cur, workspace.id, rows) == 2
    conn.commit()
    stored = query(
        db,
        "SELECT workspace_id, email, first_name, notes, source, status, custom_fields, tags, "
        "deleted_at FROM leads WHERE workspace_id = %s ORDER BY id",
        (workspace.id,),
    )
    assert stored == [
        (
            workspace.id,
            "ann@x.io",
            "Ann",
            'two\nlines, "quoted"',
            "csv_import",
            "replied",
            {"k": 'v"', "n": 1},
            ["a,b", 'q"', "NULL", "back\\slash"],
            None,
        ),
        (workspace.id, "bob@x.io", None, None, "csv_import", "active", {}, [], None),
    ]


def test_insert_created_of_no_rows(conn, workspace):
    rows = created_rows(classified([{"email": "bad"}]), default_source="api")
    with conn.cursor() as cur:
        assert insert_created(cur, workspace.id, rows) == 0
        cur.execute("SELECT count(*) FROM leads WHERE workspace_id = %s", (workspace.id,))
        assert cur.fetchone() == (0,)


def test_insert_created_refuses_a_second_active_lead(conn, db, workspace):
    insert_lead(db, workspace, "a@x.io")
    rows = created_rows(classified([{"email": "a@x.io"}]), default_source="api")
    with conn.cursor() as cur, pytest.raises(psycopg2.errors.UniqueViolation):
        insert_created(cur, workspace.id, rows)


# --------------------------------------------------------------------------- restore_leads


def test_restore_merges_given_fields_and_counts_campaigns(conn, db, workspace, merge_input):
    lead_id = insert_lead(
        db,
        workspace,
        "r0@x.io",
        first_name="Old",
        last_name="Keep",
        company="OldCo",
        source="fair",
        status="bounced",
        custom_fields={"a": 1, "b": 2},
        tags=["x", "y"],
        deleted_at=T2024,
        updated_at=T2024,
    )
    active = insert_lead(db, workspace, "member@x.io")
    with_it = campaign_with_count(db, workspace, [lead_id, active], lead_count=1)
    without_it = campaign_with_count(db, workspace, [active], lead_count=1)
    rows = to_restore(
        [
            (
                lead_id,
                {"firstName": "New", "customFields": {"b": 3, "c": 4}, "tags": ["y", "z", "x2"]},
            )
        ]
    )
    with conn.cursor() as cur:
        assert restore_leads(cur, workspace.id, rows) == 1
    conn.commit()
    restored = lead(db, lead_id)
    assert restored["deleted_at"] is None
    assert restored["updated_at"] > T2024
    assert restored["first_name"] == "New"  # given: replaces
    assert (restored["last_name"], restored["company"]) == ("Keep", "OldCo")  # missing: kept
    assert (restored["source"], restored["status"]) == ("fair", "bounced")  # no defaults
    assert restored["custom_fields"] == {"a": 1, "b": 3, "c": 4}
    assert restored["tags"] == ["x", "y", "z", "x2"]
    assert lead_count(db, with_it) == 2
    assert lead_count(db, without_it) == 1


def test_restore_with_nothing_given_keeps_everything(conn, db, workspace, merge_input):
    lead_id = insert_lead(
        db,
        workspace,
        "r0@x.io",
        first_name="Old",
        custom_fields={"a": 1},
        tags=["x"],
        deleted_at=T2024,
    )
    with conn.cursor() as cur:
        assert restore_leads(cur, workspace.id, to_restore([(lead_id, {})])) == 1
    conn.commit()
    restored = lead(db, lead_id)
    assert (restored["first_name"], restored["custom_fields"], restored["tags"]) == (
        "Old",
        {"a": 1},
        ["x"],
    )
    assert restored["deleted_at"] is None


def test_restore_counts_only_leads_it_restores(conn, db, workspace, merge_input):
    """An active lead, another workspace's lead and a missing id are not restored."""
    deleted = insert_lead(db, workspace, "r0@x.io", deleted_at=T2024)
    active = insert_lead(db, workspace, "r1@x.io", first_name="Active")
    other = make_workspace(db)
    foreign = insert_lead(db, other, "r2@x.io", deleted_at=T2024)
    campaign = campaign_with_count(db, workspace, [deleted, active], lead_count=1)
    foreign_campaign = campaign_with_count(db, other, [foreign], lead_count=0)
    rows = to_restore(
        [
            (deleted, {}),
            (active, {"firstName": "Changed"}),
            (foreign, {"firstName": "Changed"}),
            (2**62, {}),
        ]
    )
    with conn.cursor() as cur:
        assert restore_leads(cur, workspace.id, rows) == 1
    conn.commit()
    assert lead(db, active)["first_name"] == "Active"
    assert lead(db, foreign)["deleted_at"] == T2024
    assert lead(db, foreign)["first_name"] is None
    assert lead_count(db, campaign) == 2
    assert lead_count(db, foreign_campaign) == 0


def test_restore_of_no_rows_runs_nothing(conn, workspace):
    empty = to_restore([])
    with conn.cursor() as cur:
        assert restore_leads(cur, workspace.id, empty) == 0
        assert cur.query is None  # no statement sent


def test_restore_twice_on_one_connection(conn, db, workspace, merge_input):
    """The JSON path's statement is prepared once per connection and then reused."""
    first = insert_lead(db, workspace, "r0@x.io", deleted_at=T2024)
    second = insert_lead(db, workspace, "r0@x.io", deleted_at=T2023)
    with conn.cursor() as cur:
        assert restore_leads(cur, workspace.id, to_restore([(first, {"firstName": "A"})])) == 1
    conn.commit()
    with conn.cursor() as cur:
        soft_delete(cur, workspace.id, ["r0@x.io"])
        assert restore_leads(cur, workspace.id, to_restore([(second, {"firstName": "B"})])) == 1
    conn.commit()
    assert lead(db, first)["deleted_at"] is not None
    assert lead(db, second)["first_name"] == "B"
    assert lead(db, second)["deleted_at"] is None


# --------------------------------------------------------------------------- update_leads


@pytest.mark.parametrize(
    ("policy", "first_name", "company", "custom", "tags"),
    [
        ("fill_empty", "Stored", "GivenCo", {"a": 1, "b": 2}, ["old"]),
        ("overwrite", "Given", "GivenCo", {"a": 1, "b": 3}, ["new"]),
    ],
)
def test_update_leads_applies_the_policy_and_returns_changed_ids(
    conn, db, workspace, merge_input, policy, first_name, company, custom, tags
):
    target = insert_lead(
        db, workspace, "a@x.io", first_name="Stored", custom_fields={"a": 1, "b": 2}, tags=["old"]
    )
    same = insert_lead(db, workspace, "same@x.io", first_name="Same")
    existing = pl.DataFrame(
        [("a@x.io", True, target, None), ("same@x.io", True, same, None)],
        schema=EXISTING_SCHEMA,
        orient="row",
    )
    given = [
        {
            "email": "a@x.io",
            "firstName": "Given",
            "company": "GivenCo",
            "customFields": {"b": 3},
            "tags": ["new"],
        },
        {"email": "same@x.io", "firstName": "Same"},
    ]
    rows = updated_rows(classified(given, existing, on_existing=policy))
    with conn.cursor() as cur:
        changed = update_leads(cur, workspace.id, rows, policy)
    conn.commit()
    assert changed.to_list() == [target]  # the unchanged lead is not returned
    stored = lead(db, target)
    assert (stored["first_name"], stored["company"]) == (first_name, company)
    assert (stored["custom_fields"], stored["tags"]) == (custom, tags)


# --------------------------------------------------------------------------- soft_delete


def test_soft_delete_returns_the_emails_deleted_and_lowers_counts(conn, db, workspace):
    a = insert_lead(db, workspace, "a@x.io")
    b = insert_lead(db, workspace, "b@x.io")
    keep = insert_lead(db, workspace, "keep@x.io")
    insert_lead(db, workspace, "old@x.io", deleted_at=T2021)
    other = make_workspace(db)
    foreign = insert_lead(db, other, "a@x.io")
    campaign = campaign_with_count(db, workspace, [a, b, keep], lead_count=3)
    foreign_campaign = campaign_with_count(db, other, [foreign], lead_count=1)
    with conn.cursor() as cur:
        deleted = soft_delete(
            cur, workspace.id, ["b@x.io", "a@x.io", "old@x.io", "missing@x.io", "B@x.io"]
        )
    conn.commit()
    assert deleted == ["a@x.io", "b@x.io"]
    assert lead(db, a)["deleted_at"] is not None
    assert lead(db, keep)["deleted_at"] is None
    assert lead(db, foreign)["deleted_at"] is None
    assert lead_count(db, campaign) == 1
    assert lead_count(db, foreign_campaign) == 1
    members = query(db, "SELECT count(*) FROM campaign_leads WHERE campaign_id = %s", (campaign,))
    assert members == [(3,)]  # memberships survive


def test_soft_delete_of_nothing(conn, workspace):
    with conn.cursor() as cur:
        assert soft_delete(cur, workspace.id, []) == []


# --------------------------------------------------------------------------- HTTP API queries


@pytest.fixture
def listed(db, workspace) -> dict[str, int]:
    """Leads to page through, oldest first (ids grow, so newest first is id descending)."""
    ids = {
        "ann": insert_lead(
            db, workspace, "ann@x.io", first_name="Ann", last_name="Lee", tags=["vip", "eu"]
        ),
        "pct": insert_lead(db, workspace, "pct@x.io", company="100% Pure", status="bounced"),
        "under": insert_lead(db, workspace, "bob_s@x.io", tags=["vip"]),
        "plain": insert_lead(db, workspace, "bobxs@x.io", company="Bobxs", status="replied"),
        "slash": insert_lead(db, workspace, "slash@x.io", company="C:\\dir", tags=["eu"]),
    }
    insert_lead(db, workspace, "gone@x.io", first_name="Ann", deleted_at=T2024)
    insert_lead(db, make_workspace(db), "ann2@x.io", first_name="Ann")
    return ids


def page_ids(db, workspace: Workspace, where: LeadFilter, limit=50, offset=0):
    with db.cursor() as cur:
        total, rows = page_of_leads(cur, workspace.id, where, limit=limit, offset=offset)
    return total, [row[0] for row in rows]


@pytest.mark.parametrize(
    ("where", "names"),
    [
        (LeadFilter(), ["slash", "plain", "under", "pct", "ann"]),
        (LeadFilter(search="%"), ["pct"]),
        (LeadFilter(search="_"), ["under"]),
        (LeadFilter(search="\\"), ["slash"]),
        (LeadFilter(search="ANN LEE"), ["ann"]),  # the full name, any case
        (LeadFilter(search=" bob"), ["plain", "under"]),
        (LeadFilter(search="pure"), ["pct"]),
        (LeadFilter(search="   "), ["slash", "plain", "under", "pct", "ann"]),
        (LeadFilter(statuses=["bounced", "replied"]), ["plain", "pct"]),
        (LeadFilter(tags=["vip"]), ["under", "ann"]),
        (LeadFilter(tags=["vip", "eu"]), ["ann"]),
        (LeadFilter(tags=["vip"], search="ann"), ["ann"]),
        (LeadFilter(statuses=["unsubscribed"]), []),
    ],
    ids=repr,
)
def test_page_of_leads_filters(db, workspace, listed, where, names):
    total, ids = page_ids(db, workspace, where)
    assert ids == [listed[name] for name in names]
    assert total == len(names)


def test_page_of_leads_pages_newest_first(db, workspace, listed):
    newest_first = sorted(listed.values(), reverse=True)
    assert page_ids(db, workspace, LeadFilter(), limit=2, offset=0) == (5, newest_first[:2])
    assert page_ids(db, workspace, LeadFilter(), limit=2, offset=2) == (5, newest_first[2:4])
    assert page_ids(db, workspace, LeadFilter(), limit=2, offset=4) == (5, newest_first[4:])
    assert page_ids(db, workspace, LeadFilter(), limit=2, offset=5) == (5, [])


def test_page_rows_have_the_lead_columns(db, workspace, listed):
    with db.cursor() as cur:
        _, rows = page_of_leads(cur, workspace.id, LeadFilter(search="ann@"), limit=1, offset=0)
    (row,) = rows
    assert row[:4] == (listed["ann"], "ann@x.io", "Ann", "Lee")
    assert row[11:14] == ("active", {}, ["vip", "eu"])
    assert row[16] is None  # deleted_at


def test_lead_filter_params():
    assert LeadFilter(statuses=("active",), tags=("a",), search=" 5%_x\\ ").params() == {
        "statuses": ["active"],
        "tags": ["a"],
        "pattern": "%5\\%\\_x\\\\%",
    }
    assert LeadFilter(statuses=[], tags=[], search="").params() == {
        "statuses": None,
        "tags": None,
        "pattern": None,
    }


def replacement(email: str, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict.fromkeys(
        [
            "first_name",
            "last_name",
            "company",
            "title",
            "phone",
            "linkedin_url",
            "website",
            "notes",
            "source",
        ]
    )
    fixed = {"email": email, "status": "active", "custom_fields": None, "tags": None}
    return {**values, **fixed, **changes}


def test_replace_lead_replaces_every_field(db, workspace):
    lead_id = insert_lead(
        db, workspace, "a@x.io", first_name="Ann", company="Acme", tags=["t"], updated_at=T2021
    )
    values = replacement(
        "new@x.io", last_name="Lee", status="replied", custom_fields='{"n": 2}', tags=["u", "v"]
    )
    with db.cursor() as cur:
        row = replace_lead(cur, workspace.id, lead_id, values)
    assert row[:5] == (lead_id, "new@x.io", None, "Lee", None)  # missing values are cleared
    assert row[11:14] == ("replied", {"n": 2}, ["u", "v"])
    stored = lead(db, lead_id)
    assert (stored["email"], stored["company"], stored["custom_fields"]) == (
        "new@x.io",
        None,
        {"n": 2},
    )
    assert stored["updated_at"] > T2021


def test_replace_lead_defaults_custom_fields_and_tags_to_empty(db, workspace):
    lead_id = insert_lead(db, workspace, "a@x.io", custom_fields={"k": 1}, tags=["t"])
    with db.cursor() as cur:
        row = replace_lead(cur, workspace.id, lead_id, replacement("a@x.io"))
    assert row[12:14] == ({}, [])


def test_replace_lead_only_touches_active_leads_of_the_workspace(db, workspace):
    deleted = insert_lead(db, workspace, "d@x.io", deleted_at=T2024)
    other = make_workspace(db)
    foreign = insert_lead(db, other, "f@x.io")
    with db.cursor() as cur:
        assert replace_lead(cur, workspace.id, deleted, replacement("d@x.io")) is None
        assert replace_lead(cur, workspace.id, foreign, replacement("f@x.io")) is None
        assert replace_lead(cur, other.id, 2**62, replacement("f@x.io")) is None
    assert lead(db, foreign)["email"] == "f@x.io"


def test_replace_lead_to_a_taken_email_is_refused(db, workspace):
    insert_lead(db, workspace, "taken@x.io")
    lead_id = insert_lead(db, workspace, "a@x.io")
    with db.cursor() as cur, pytest.raises(psycopg2.errors.UniqueViolation):
        replace_lead(cur, workspace.id, lead_id, replacement("taken@x.io"))


def test_soft_delete_lead_by_id(db, workspace):
    lead_id = insert_lead(db, workspace, "a@x.io", first_name="Ann")
    other_member = insert_lead(db, workspace, "b@x.io")
    campaign = campaign_with_count(db, workspace, [lead_id, other_member], lead_count=2)
    second = campaign_with_count(db, workspace, [lead_id], lead_count=1)
    with db.cursor() as cur:
        row = soft_delete_lead(cur, workspace.id, lead_id)
        assert row[:3] == (lead_id, "a@x.io", "Ann")
        assert row[16] is not None  # deleted_at, as the lead is now
        assert soft_delete_lead(cur, workspace.id, lead_id) is None  # already deleted
    assert (lead_count(db, campaign), lead_count(db, second)) == (1, 0)
    assert lead(db, other_member)["deleted_at"] is None


def test_soft_delete_lead_of_another_workspace_is_none(db, workspace):
    other = make_workspace(db)
    foreign = insert_lead(db, other, "a@x.io")
    campaign = campaign_with_count(db, other, [foreign], lead_count=1)
    with db.cursor() as cur:
        assert soft_delete_lead(cur, workspace.id, foreign) is None
    assert lead(db, foreign)["deleted_at"] is None
    assert lead_count(db, campaign) == 1
