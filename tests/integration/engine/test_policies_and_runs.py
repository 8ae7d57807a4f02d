"""The on_existing policies (skip, fill_empty, overwrite) and the audit trail with idempotency
keys, through the engine's public API against the real PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from leads_import.db.runs import KIND_API, RunAudit, json_digest
from leads_import.engine import import_leads
from leads_import.errors import IdempotencyKeyReusedError, PlanLimitExceededError
from tests.support.database import full_state, insert_lead, lead, make_workspace, query


@pytest.fixture
def run(database_url, merge_input):
    def _run(leads, workspace, **options: Any) -> dict[str, Any]:
        return import_leads(leads, workspace.slug, database=database_url, **options)

    return _run


def stored_lead(db, workspace, **columns: Any) -> int:
    defaults = {
        "first_name": "Ann",
        "last_name": None,
        "company": "",
        "custom_fields": {"plan": "free", "seats": 1},
        "tags": ["vip"],
        "source": "crm",
    }
    return insert_lead(db, workspace, "ann@ex.com", **{**defaults, **columns})


GIVEN = {
    "email": "ANN@ex.com",
    "firstName": "Annie",
    "lastName": "Lee",
    "company": "Acme",
    "customFields": {"plan": "pro", "region": "eu"},
    "tags": ["new"],
}


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (
            "overwrite",
            {
                "first_name": "Annie",
                "last_name": "Lee",
                "company": "Acme",
                "custom_fields": {"plan": "pro", "seats": 1, "region": "eu"},
                "tags": ["new"],
            },
        ),
        (
            "fill_empty",
            {
                "first_name": "Ann",
                "last_name": "Lee",
                "company": "Acme",
                "custom_fields": {"plan": "free", "seats": 1, "region": "eu"},
                "tags": ["vip"],
            },
        ),
    ],
)
def test_policy_updates_the_active_lead(run, db, workspace, policy, expected):
    lead_id = stored_lead(db, workspace)
    before = lead(db, lead_id)
    report = run([GIVEN, {**GIVEN, "email": "ann@EX.com"}], workspace, on_existing=policy)
    assert (report["created"], report["updated"], report["duplicates"]) == (0, 1, 1)
    after = lead(db, lead_id)
    assert {k: after[k] for k in expected} == expected
    assert after["source"] == "crm"  # not given: kept
    assert after["updated_at"] > before["updated_at"]
    assert after["deleted_at"] is None


@pytest.mark.parametrize("policy", ["overwrite", "fill_empty"])
def test_policy_that_changes_nothing_counts_a_duplicate(run, db, workspace, policy):
    lead_id = stored_lead(db, workspace, last_name="Lee", company="Acme")
    before = lead(db, lead_id)
    same = {"email": "ann@ex.com", "firstName": "Ann", "lastName": "Lee", "tags": ["vip"]}
    report = run([same], workspace, on_existing=policy)
    assert (report["updated"], report["duplicates"]) == (0, 1)
    assert report["duplicateEmails"] == ["ann@ex.com"]
    assert lead(db, lead_id) == before


def test_skip_is_the_default_and_leaves_the_lead_alone(run, db, workspace):
    lead_id = stored_lead(db, workspace)
    before = lead(db, lead_id)
    report = run([GIVEN], workspace)
    assert (report["updated"], report["duplicates"]) == (0, 1)
    assert lead(db, lead_id) == before


def test_policy_still_restores_and_creates(run, db, workspace):
    deleted_id = insert_lead(db, workspace, "bob@ex.com", deleted_at="2024-01-01T00:00:00Z")
    report = run(
        [{"email": "bob@ex.com", "firstName": "Bob"}, {"email": "cy@ex.com"}],
        workspace,
        on_existing="overwrite",
    )
    assert (report["created"], report["restored"], report["updated"]) == (1, 1, 0)
    assert lead(db, deleted_id)["deleted_at"] is None


def test_unknown_policy_is_refused(run, workspace):
    with pytest.raises(ValueError, match="on_existing"):
        run([GIVEN], workspace, on_existing="merge")


def test_policy_never_touches_another_workspace(run, db, workspace):
    other = make_workspace(db)
    other_id = insert_lead(db, other, "ann@ex.com", first_name="Other")
    before = lead(db, other_id)
    report = run([GIVEN], workspace, on_existing="overwrite")
    assert report["created"] == 1
    assert lead(db, other_id) == before


# --------------------------------------------------------------------------- audit


def api_audit(leads: list[dict[str, Any]], key: str | None = None) -> RunAudit:
    return RunAudit(
        kind=KIND_API,
        source="api",
        parameters={"restoreSoftDeleted": True},
        idempotency_key=key,
        payload_sha256=json_digest(leads),
    )


def runs_of(db, workspace) -> list[tuple]:
    return query(
        db,
        "SELECT status, kind, created, duplicates, errors, total, idempotency_key "
        "FROM import_runs WHERE workspace_id = %s ORDER BY id",
        (workspace.id,),
    )


def test_a_run_is_recorded_with_its_data(run, db, workspace):
    leads = [{"email": "a@ex.com"}, {"email": "A@ex.com"}, {"email": "bad"}]
    report = run(leads, workspace, audit=api_audit(leads))
    assert runs_of(db, workspace) == [("succeeded", "api", 1, 1, 1, 3, None)]
    stored = query(db, "SELECT report FROM import_runs WHERE id = %s", (report["runId"],))[0][0]
    assert stored["created"] == 1 and stored["errorDetails"][0]["email"] == "bad"


def test_same_key_same_payload_replays_and_writes_nothing(run, db, workspace):
    leads = [{"email": "a@ex.com"}, {"email": "b@ex.com"}]
    first = run(leads, workspace, audit=api_audit(leads, "key-1"))
    state = full_state(db, workspace.id)
    again = run(leads, workspace, audit=api_audit(leads, "key-1"))
    assert again["replayed"] is True
    assert again["runId"] == first["runId"]
    assert (again["created"], again["duplicates"]) == (2, 0)  # the first run's report
    assert full_state(db, workspace.id) == state
    assert len(runs_of(db, workspace)) == 1


def test_same_key_other_payload_is_refused(run, db, workspace):
    leads = [{"email": "a@ex.com"}]
    first = run(leads, workspace, audit=api_audit(leads, "key-2"))
    other = [{"email": "b@ex.com"}]
    state = full_state(db, workspace.id)
    with pytest.raises(IdempotencyKeyReusedError) as raised:
        run(other, workspace, audit=api_audit(other, "key-2"))
    assert str(raised.value.run_id) == first["runId"]
    assert raised.value.details()["runId"] == first["runId"]  # ids as text, as in reports
    assert raised.value.http_status == 409
    assert full_state(db, workspace.id) == state


def test_keys_are_per_workspace(run, db, workspace):
    leads = [{"email": "a@ex.com"}]
    run(leads, workspace, audit=api_audit(leads, "shared"))
    other = make_workspace(db)
    report = run(leads, other, audit=api_audit(leads, "shared"))
    assert report.get("replayed") is None and report["created"] == 1


def test_a_rejected_run_records_nothing_a_dry_run_its_own_status(run, db):
    limited = make_workspace(db, contact_limit=1)
    one = [{"email": "a@ex.com"}]
    dry = run(one, limited, audit=api_audit(one, "k"), dry_run=True)
    assert dry["created"] == 1 and dry["runId"].isdigit()
    leads = [{"email": "a@ex.com"}, {"email": "b@ex.com"}]
    with pytest.raises(PlanLimitExceededError):
        run(leads, limited, audit=api_audit(leads, "k"))
    assert runs_of(db, limited) == [("dry_run", "api", 1, 0, 0, 1, "k")]


def test_a_dry_run_is_recorded_and_never_replayed(run, db, workspace):
    leads = [{"email": "a@ex.com"}, {"email": "A@ex.com"}]
    before = full_state(db, workspace.id)
    dry = run(leads, workspace, audit=api_audit(leads, "key-dry"), dry_run=True)
    assert full_state(db, workspace.id) == before  # its writes were undone, its record kept
    stored = query(db, "SELECT status, report FROM import_runs WHERE id = %s", (dry["runId"],))
    assert stored[0][0] == "dry_run"
    assert stored[0][1]["dryRun"] is True and stored[0][1]["duplicateEmails"] == ["a@ex.com"]
    # The same key again, dry or not: the dry run is not a committed run to replay.
    again = run(leads, workspace, audit=api_audit(leads, "key-dry"), dry_run=True)
    assert again.get("replayed") is None and again["runId"] != dry["runId"]
    real = run(leads, workspace, audit=api_audit(leads, "key-dry"))
    assert real.get("replayed") is None and real["created"] == 1
    assert run(leads, workspace, audit=api_audit(leads, "key-dry"))["replayed"] is True
    assert [row[0] for row in runs_of(db, workspace)] == ["dry_run", "dry_run", "succeeded"]


def test_run_with_a_nul_in_a_row_error_is_recorded(run, db, workspace):
    # jsonb cannot hold U+0000: the stored report replaces it, the returned one keeps it.
    leads = [{"email": "a\x00b@ex.com"}, {"email": "ok@ex.com"}]
    report = run(leads, workspace, audit=api_audit(leads, "nul"))
    assert report["errorDetails"][0]["email"] == "a\x00b@ex.com"
    stored = query(db, "SELECT report FROM import_runs WHERE id = %s", (report["runId"],))[0][0]
    assert stored["errorDetails"][0]["email"] == "a\ufffdb@ex.com"
    assert run(leads, workspace, audit=api_audit(leads, "nul"))["replayed"] is True
