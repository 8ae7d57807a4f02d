"""The HTTP API of SPEC section 9, driven over HTTP against a real `leads api` server."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from leads_import.db.api_keys import revoke_key
from tests.support.api_server import assert_error, assert_rate_headers, new_key
from tests.support.database import make_workspace
from tests.support.paths import REPO

REPORT_KEYS = {"created", "restored", "duplicates", "errors", "duplicateEmails", "errorDetails"}


def query(db, sql: str, params=None) -> list[tuple]:
    with db.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def lead_count(db, workspace_id: int) -> int:
    rows = query(db, "SELECT count(*) FROM leads WHERE workspace_id = %s", (workspace_id,))
    return rows[0][0]


def make_campaign(db, workspace_id: int, name: str = "Spring") -> int:
    rows = query(
        db,
        "INSERT INTO campaigns (workspace_id, name) VALUES (%s, %s) RETURNING id",
        (workspace_id, name),
    )
    return rows[0][0]


def campaign_count(db, campaign_id: int) -> int:
    return query(db, "SELECT lead_count FROM campaigns WHERE id = %s", (campaign_id,))[0][0]


def emails(n: int, domain: str = "example.com") -> list[dict]:
    tag = uuid.uuid4().hex[:6]
    return [{"email": f"lead{i}.{tag}@{domain}"} for i in range(n)]


# --------------------------------------------------------------------------- import


def test_import_answers_200_with_the_report(make_client, db) -> None:
    client, workspace = make_client()
    leads = [
        {"email": " Ann@Example.com ", "firstName": "Ann", "tags": ["vip", "vip "]},
        {"email": "ann@example.com"},
        {"email": "not-an-email", "company": "X"},
        {"firstName": "no email"},
        {"email": "bo@example.org", "customFields": {"plan": "pro"}, "status": "Replied"},
    ]
    response = client.post("/leads/import", json={"leads": leads})
    assert response.status_code == 200, response.text
    assert_rate_headers(response)
    assert response.headers["content-type"].startswith("application/json")
    report = response.json()["data"]
    assert set(report) >= REPORT_KEYS
    assert (report["created"], report["restored"], report["duplicates"], report["errors"]) == (
        2,
        0,
        1,
        2,
    )
    assert report["duplicateEmails"] == ["ann@example.com"]
    assert report["errorDetails"] == [
        {"index": 2, "email": "not-an-email", "reason": "invalid email format"},
        {"index": 3, "email": "", "reason": "empty email"},
    ]
    assert isinstance(report["runId"], str) and report["runId"].isdigit()
    stored = query(
        db,
        "SELECT email, source, status, tags, custom_fields FROM leads "
        "WHERE workspace_id = %s ORDER BY email",
        (workspace.id,),
    )
    assert stored == [
        ("ann@example.com", "api", "active", ["vip"], {}),
        ("bo@example.org", "api", "replied", [], {"plan": "pro"}),
    ]
    runs = query(
        db,
        "SELECT kind, source, status, created FROM import_runs WHERE id = %s",
        (int(report["runId"]),),
    )
    assert runs == [("api", "api", "succeeded", 2)]


def test_import_restores_soft_deleted_leads_and_honours_both_spellings(make_client, db) -> None:
    client, workspace = make_client()
    first = client.post("/leads/import", json={"leads": [{"email": "x@example.com"}]})
    lead_id = client.get("/leads").json()["data"][0]["id"]
    assert first.status_code == 200
    assert client.delete(f"/leads/{lead_id}").status_code == 200
    for spelling in ("restoreSoftDeleted", "restoreDeleted"):
        kept = client.post(
            "/leads/import", json={"leads": [{"email": "X@example.com"}], spelling: False}
        )
        assert kept.json()["data"]["duplicates"] == 1
    restored = client.post(
        "/leads/import", json={"leads": [{"email": "x@example.com", "title": "CTO"}]}
    )
    assert restored.json()["data"]["restored"] == 1
    lead = client.get(f"/leads/{lead_id}").json()["data"]
    assert (lead["title"], lead["deletedAt"]) == ("CTO", None)
    assert lead_count(db, workspace.id) == 1


def test_import_dry_run_writes_nothing(make_client, db) -> None:
    client, workspace = make_client()
    response = client.post("/leads/import", json={"leads": emails(3), "dryRun": True})
    assert response.json()["data"]["created"] == 3
    assert response.json()["data"]["dryRun"] is True
    assert lead_count(db, workspace.id) == 0


def test_import_request_failures(make_client, db) -> None:
    client, workspace = make_client()
    body = assert_error(client.post("/leads/import", json={"leads": []}), 400, "no_leads")
    assert body["error"] == "no leads in the request"
    too_many = client.post("/leads/import", json={"leads": emails(1001)})
    body = assert_error(too_many, 400, "too_many_leads")
    assert body["details"] == {"limit": 1000, "count": 1001}
    assert lead_count(db, workspace.id) == 0
    assert client.post("/leads/import", json={"leads": emails(1000)}).status_code == 200
    assert lead_count(db, workspace.id) == 1000


def test_import_past_the_plan_limit_is_402_and_writes_nothing(make_client, db) -> None:
    client, workspace = make_client(contact_limit=2)
    assert client.post("/leads/import", json={"leads": emails(1)}).status_code == 200
    response = client.post("/leads/import", json={"leads": emails(2)})
    body = assert_error(response, 402, "plan_limit_exceeded")
    assert body["details"] == {"limit": 2, "active": 1, "wouldReach": 3}
    assert lead_count(db, workspace.id) == 1


@pytest.mark.parametrize(
    ("body", "field", "index"),
    [
        ({"leads": [{"email": "a@example.com"}, {"email": "b@example.com", "phone": 5}]},
         "leads[1].phone", 1),
        ({"leads": [{"email": "a@example.com", "tags": ["ok", 3]}]}, "leads[0].tags[1]", 0),
        ({"leads": [{"email": "a@example.com", "tags": "a;b"}]}, "leads[0].tags", 0),
        ({"leads": [{"email": "a@example.com", "customFields": ["x"]}]},
         "leads[0].customFields", 0),
        ({"leads": [{"email": "a@example.com"}, "b@example.com"]}, "leads[1]", 1),
        ({"leads": [{"email": 42}]}, "leads[0].email", 0),
        ({"leads": {"email": "a@example.com"}}, "leads", None),
        ({"leads": [{"email": "a@example.com"}], "restoreSoftDeleted": "yes"},
         "restoreSoftDeleted", None),
        ({"rows": []}, "leads", None),
    ],
)  # fmt: skip
def test_wrong_field_types_are_422_naming_field_and_index(
    make_client, db, body, field, index
) -> None:
    client, workspace = make_client()
    response = client.post("/leads/import", json=body)
    error = assert_error(response, 422, "validation_error")
    assert error["details"]["field"] == field
    assert error["details"].get("index") == index
    assert error["error"].startswith(field + ":")
    assert lead_count(db, workspace.id) == 0


@pytest.mark.parametrize(
    "content", [b'{"leads": [{"email": "a@example.com"},', b"not json", b'{"leads": ["\\ud800"]}']
)
def test_malformed_json_is_422(make_client, content) -> None:
    client, _ = make_client()
    response = client.post(
        "/leads/import", content=content, headers={"content-type": "application/json"}
    )
    assert_error(response, 422, "invalid_json")


def test_idempotency_key_replays_or_refuses(make_client, db) -> None:
    client, workspace = make_client()
    body = {"leads": emails(2)}
    headers = {"Idempotency-Key": "import-1"}
    first = client.post("/leads/import", json=body, headers=headers).json()["data"]
    again = client.post("/leads/import", json=body, headers=headers).json()["data"]
    assert again["replayed"] is True
    assert (again["runId"], again["created"]) == (first["runId"], 2)
    other = client.post("/leads/import", json={"leads": emails(1)}, headers=headers)
    assert_error(other, 409, "idempotency_key_reused")
    assert lead_count(db, workspace.id) == 2


# --------------------------------------------------------------------------- auth


def test_missing_unknown_and_revoked_keys_are_401(api_url, db) -> None:
    workspace = make_workspace(db)
    base = f"{api_url}/api/v1"
    key = new_key(db, workspace)
    assert_error(httpx.get(f"{base}/leads"), 401, "missing_api_key")
    assert_error(httpx.get(f"{base}/leads", headers={"X-API-Key": ""}), 401, "missing_api_key")
    unknown = {"X-API-Key": "otr_" + "x" * 43}
    assert_error(httpx.get(f"{base}/leads", headers=unknown), 401, "invalid_api_key")
    assert_error(
        httpx.post(f"{base}/leads/import", json={"leads": emails(1)}, headers=unknown),
        401,
        "invalid_api_key",
    )
    bearer = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{base}/leads", headers=bearer).status_code == 200
    revoke_key(db, key)
    assert_error(httpx.get(f"{base}/leads", headers=bearer), 401, "invalid_api_key")
    assert lead_count(db, workspace.id) == 0


def test_a_key_sees_only_its_own_workspace(make_client, db) -> None:
    mine, my_workspace = make_client()
    theirs, their_workspace = make_client()
    shared = [{"email": "same@example.com", "company": "Theirs"}]
    assert theirs.post("/leads/import", json={"leads": shared}).json()["data"]["created"] == 1
    their_lead = theirs.get("/leads").json()["data"][0]["id"]
    their_campaign = make_campaign(db, their_workspace.id)
    my_campaign = make_campaign(db, my_workspace.id)

    # The same email is new in my workspace; their lead is invisible to my key.
    assert mine.post("/leads/import", json={"leads": shared}).json()["data"]["created"] == 1
    assert mine.get("/leads").json()["meta"]["total"] == 1
    assert mine.get("/leads").json()["data"][0]["id"] != their_lead
    assert_error(mine.get(f"/leads/{their_lead}"), 404, "lead_not_found")
    assert_error(
        mine.patch(f"/leads/{their_lead}", json={"company": "Mine"}), 404, "lead_not_found"
    )
    assert_error(mine.delete(f"/leads/{their_lead}"), 404, "lead_not_found")
    assert_error(mine.get(f"/campaigns/{their_campaign}"), 404, "campaign_not_found")
    assert_error(
        mine.post(f"/campaigns/{their_campaign}/leads", json={"leadIds": [their_lead]}),
        404,
        "campaign_not_found",
    )
    added = mine.post(f"/campaigns/{my_campaign}/leads", json={"leadIds": [their_lead]})
    assert added.json()["data"]["notFound"] == [their_lead]
    assert campaign_count(db, my_campaign) == 0
    theirs_now = theirs.get(f"/leads/{their_lead}").json()["data"]
    assert (theirs_now["company"], theirs_now["deletedAt"]) == ("Theirs", None)
    assert query(
        db, "SELECT count(*) FROM campaign_leads WHERE lead_id = %s", (int(their_lead),)
    ) == [(0,)]


# --------------------------------------------------------------------------- single leads


def test_create_one_lead(make_client, db) -> None:
    client, workspace = make_client()
    response = client.post(
        "/leads",
        json={"email": "Zoe@Example.com", "firstName": " Zoe ", "tags": ["a", "a", " b"]},
    )
    assert response.status_code == 201, response.text
    assert_rate_headers(response)
    body = response.json()
    lead = body["data"]
    assert body["meta"] == {"outcome": "created"}
    assert isinstance(lead["id"], str)
    assert (lead["email"], lead["firstName"], lead["tags"], lead["status"], lead["source"]) == (
        "zoe@example.com",
        "Zoe",
        ["a", "b"],
        "active",
        "api",
    )
    assert set(lead) == {
        "id", "email", "firstName", "lastName", "company", "title", "phone", "linkedinUrl",
        "website", "notes", "source", "status", "customFields", "tags", "createdAt",
        "updatedAt", "deletedAt",
    }  # fmt: skip
    conflict = assert_error(
        client.post("/leads", json={"email": "zoe@EXAMPLE.com"}), 409, "lead_exists"
    )
    assert conflict["details"]["id"] == lead["id"]
    invalid = assert_error(
        client.post("/leads", json={"email": "zoe@@example"}), 422, "invalid_lead"
    )
    assert invalid["details"] == {"reason": "invalid email format", "field": "email"}
    assert_error(
        client.post("/leads", json={"email": "a@example.com", "phone": 1}), 422, "validation_error"
    )
    assert_error(client.post("/leads", json={"firstName": "No Email"}), 422, "validation_error")
    assert lead_count(db, workspace.id) == 1

    assert client.delete(f"/leads/{lead['id']}").status_code == 200
    again = client.post("/leads", json={"email": "zoe@example.com", "company": "Acme"})
    assert again.status_code == 201
    assert again.json()["meta"]["outcome"] == "restored"
    assert again.json()["data"]["id"] == lead["id"]
    assert again.json()["data"]["tags"] == ["a", "b"]


def test_create_past_the_plan_limit_is_402(make_client) -> None:
    client, _ = make_client(contact_limit=1)
    assert client.post("/leads", json={"email": "one@example.com"}).status_code == 201
    assert_error(
        client.post("/leads", json={"email": "two@example.com"}), 402, "plan_limit_exceeded"
    )


def test_get_patch_and_delete_a_lead(make_client, db) -> None:
    client, _ = make_client()
    lead = client.post("/leads", json={"email": "p@example.com", "customFields": {"a": 1}}).json()
    lead_id = lead["data"]["id"]
    got = client.get(f"/leads/{lead_id}")
    assert got.status_code == 200 and got.json()["data"] == lead["data"]
    assert_rate_headers(got)

    patched = client.patch(
        f"/leads/{lead_id}",
        json={"company": " Acme ", "status": "BOUNCED", "tags": ["x"], "customFields": None},
    )
    assert patched.status_code == 200, patched.text
    data = patched.json()["data"]
    assert (data["company"], data["status"], data["tags"], data["customFields"]) == (
        "Acme",
        "bounced",
        ["x"],
        {},
    )
    assert data["updatedAt"] >= lead["data"]["updatedAt"]
    assert_error(client.patch(f"/leads/{lead_id}", json={"status": "hot"}), 422, "invalid_lead")
    assert_error(client.patch(f"/leads/{lead_id}", json={"email": "bad"}), 422, "invalid_lead")
    assert_error(client.patch(f"/leads/{lead_id}", json={"title": 7}), 422, "validation_error")
    assert_error(client.patch(f"/leads/{lead_id}", json={"nope": 1}), 422, "validation_error")
    client.post("/leads", json={"email": "taken@example.com"})
    assert_error(
        client.patch(f"/leads/{lead_id}", json={"email": "Taken@example.com"}), 409, "lead_exists"
    )
    renamed = client.patch(f"/leads/{lead_id}", json={"email": "New@Example.com"})
    assert renamed.json()["data"]["email"] == "new@example.com"

    deleted = client.delete(f"/leads/{lead_id}")
    assert deleted.status_code == 200 and deleted.json()["data"]["deletedAt"] is not None
    assert_error(client.get(f"/leads/{lead_id}"), 404, "lead_not_found")
    assert_error(client.delete(f"/leads/{lead_id}"), 404, "lead_not_found")
    assert_error(client.patch(f"/leads/{lead_id}", json={"company": "Z"}), 404, "lead_not_found")
    rows = query(db, "SELECT deleted_at IS NOT NULL FROM leads WHERE id = %s", (int(lead_id),))
    assert rows == [(True,)]


@pytest.mark.parametrize("bad", ["abc", "0", "-1", "1.5", "99999999999999999999", "%00", "\uff11"])
def test_invalid_ids_are_404(make_client, bad) -> None:
    client, _ = make_client()
    assert_error(client.get(f"/leads/{bad}"), 404, "lead_not_found")
    assert_error(client.delete(f"/leads/{bad}"), 404, "lead_not_found")
    assert_error(client.get(f"/campaigns/{bad}"), 404, "campaign_not_found")


def test_list_pages_searches_and_filters(make_client) -> None:
    client, _ = make_client()
    leads = [
        {"email": f"p{i}@example.com", "firstName": f"Person{i}", "company": "Globex"}
        for i in range(7)
    ]
    leads += [
        {"email": "ann@acme.io", "firstName": "Ann", "lastName": "Lee", "tags": ["vip", "eu"]},
        {"email": "bob@acme.io", "company": "Initech", "status": "bounced", "tags": ["vip"]},
        {"email": "odd_100%@acme.io", "company": "Percent"},
    ]
    assert client.post("/leads/import", json={"leads": leads}).json()["data"]["created"] == 10

    page = client.get("/leads", params={"pageSize": 3, "page": 2})
    assert page.status_code == 200
    assert_rate_headers(page)
    body = page.json()
    assert body["meta"] == {"page": 2, "pageSize": 3, "total": 10, "totalPages": 4}
    assert len(body["data"]) == 3
    everything = client.get("/leads", params={"pageSize": 100}).json()["data"]
    assert [lead["id"] for lead in everything[3:6]] == [lead["id"] for lead in body["data"]]
    ids = [int(lead["id"]) for lead in everything]
    assert ids == sorted(ids, reverse=True)
    beyond = client.get("/leads", params={"page": 9}).json()
    assert beyond["data"] == [] and beyond["meta"]["total"] == 10

    def found(**params) -> set[str]:
        response = client.get("/leads", params={"pageSize": 100, **params})
        assert response.status_code == 200, response.text
        return {lead["email"] for lead in response.json()["data"]}

    assert found(search="ANN LEE") == {"ann@acme.io"}
    assert found(search="initech") == {"bob@acme.io"}
    assert found(search="person3") == {"p3@example.com"}
    assert found(search="100%") == {"odd_100%@acme.io"}
    assert found(search="_") == {"odd_100%@acme.io"}
    assert found(status="bounced") == {"bob@acme.io"}
    assert len(found(status="active,replied")) == 9
    assert found(tags="vip") == {"ann@acme.io", "bob@acme.io"}
    assert found(tags=["vip", "eu"]) == {"ann@acme.io"}
    assert found(tags="vip,eu", status="active", search="acme") == {"ann@acme.io"}
    assert found(search="nobody") == set()

    for params in (
        {"pageSize": 0},
        {"pageSize": 101},
        {"page": 0},
        {"page": "x"},
        {"status": "hot"},
    ):
        error = assert_error(client.get("/leads", params=params), 422, "validation_error")
        assert error["details"]["field"] in ("pageSize", "page", "status")
    assert_error(client.get("/leads", params={"search": "a\x00b"}), 422, "validation_error")


# --------------------------------------------------------------------------- campaigns


def test_campaign_members_keep_lead_count_true(make_client, db) -> None:
    client, workspace = make_client()
    campaign = make_campaign(db, workspace.id, "Launch")
    client.post("/leads/import", json={"leads": emails(3)})
    ids = [lead["id"] for lead in client.get("/leads").json()["data"]]

    got = client.get(f"/campaigns/{campaign}")
    assert got.status_code == 200
    assert got.json() == {"data": {"id": str(campaign), "name": "Launch", "leadCount": 0}}
    response = client.post(
        f"/campaigns/{campaign}/leads",
        json={"leadIds": [ids[0], ids[1], ids[1], "nope", "999999999"]},
    )
    assert response.status_code == 200, response.text
    assert_rate_headers(response)
    data = response.json()["data"]
    assert data["campaign"]["leadCount"] == 2
    assert sorted(data["added"]) == sorted(ids[:2])
    assert data["alreadyMembers"] == []
    assert data["notFound"] == ["nope", "999999999"]
    again = client.post(f"/campaigns/{campaign}/leads", json={"leadIds": ids}).json()["data"]
    assert (again["added"], sorted(again["alreadyMembers"])) == ([ids[2]], sorted(ids[:2]))
    assert again["campaign"]["leadCount"] == 3 == campaign_count(db, campaign)

    client.delete(f"/leads/{ids[0]}")
    assert client.get(f"/campaigns/{campaign}").json()["data"]["leadCount"] == 2
    deleted_again = client.post(f"/campaigns/{campaign}/leads", json={"leadIds": [ids[0]]})
    assert deleted_again.json()["data"]["notFound"] == [ids[0]]
    email = query(db, "SELECT email FROM leads WHERE id = %s", (int(ids[0]),))[0][0]
    client.post("/leads/import", json={"leads": [{"email": email}]})
    assert client.get(f"/campaigns/{campaign}").json()["data"]["leadCount"] == 3
    members = query(db, "SELECT count(*) FROM campaign_leads WHERE campaign_id = %s", (campaign,))
    assert members == [(3,)]

    assert_error(
        client.post(f"/campaigns/{campaign}/leads", json={"leadIds": []}), 400, "no_lead_ids"
    )
    assert_error(
        client.post(f"/campaigns/{campaign}/leads", json={"leadIds": ["1"] * 1001}),
        400,
        "too_many_lead_ids",
    )
    assert_error(
        client.post(f"/campaigns/{campaign}/leads", json={"leadIds": [1]}), 422, "validation_error"
    )
    assert_error(client.get("/campaigns/999999999"), 404, "campaign_not_found")


# --------------------------------------------------------------------------- errors, schema


def test_unknown_routes_and_methods_answer_with_the_error_body(make_client) -> None:
    client, _ = make_client()
    assert_error(client.get("/nothing-here"), 404, "not_found")
    assert_error(client.put("/leads/1", json={}), 405, "method_not_allowed")


def test_the_openapi_schema_documents_every_error(api_url) -> None:
    schema = httpx.get(f"{api_url}/api/v1/openapi.json").json()
    assert schema["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-Key"
    operations = {
        (method.upper(), path): operation
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    }
    assert set(operations) == {
        ("GET", "/api/v1/health"),
        ("POST", "/api/v1/leads/import"),
        ("POST", "/api/v1/leads"),
        ("GET", "/api/v1/leads"),
        ("GET", "/api/v1/leads/{lead_id}"),
        ("PATCH", "/api/v1/leads/{lead_id}"),
        ("DELETE", "/api/v1/leads/{lead_id}"),
        ("GET", "/api/v1/campaigns/{campaign_id}"),
        ("POST", "/api/v1/campaigns/{campaign_id}/leads"),
    }
    error_ref = "#/components/schemas/ErrorBody"
    health = operations.pop(("GET", "/api/v1/health"))
    assert health["security"] == [] and set(health["responses"]) == {"200", "503"}
    assert health["responses"]["503"]["content"]["application/json"]["schema"] == {
        "$ref": error_ref
    }
    assert "headers" not in health["responses"]["200"]  # not counted: no rate-limit headers
    for key, operation in operations.items():
        responses = operation["responses"]
        for status in ("401", "422", "429", "500", "503"):
            content = responses[status]["content"]["application/json"]["schema"]
            assert content == {"$ref": error_ref}, (key, status)
        for response in responses.values():
            assert "X-RateLimit-Reset" in response["headers"], key
    import_responses = operations[("POST", "/api/v1/leads/import")]["responses"]
    assert {"200", "400", "402", "409"} <= set(import_responses)
    assert "Retry-After" in import_responses["429"]["headers"]
    assert "404" in operations[("GET", "/api/v1/leads/{lead_id}")]["responses"]
    assert "409" in operations[("POST", "/api/v1/leads")]["responses"]


# --------------------------------------------------------------------------- command line


def _leads(*args: str, database_url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "leads_import.cli", *args],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_api_key_create_prints_the_key_last_and_revoke_ends_it(api_url, db, database_url) -> None:
    workspace = make_workspace(db)
    created = _leads("api-key", "create", "--workspace", workspace.slug, database_url=database_url)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("otr_") and len(key) >= 36
    assert all(c.isalnum() or c in "-_" for c in key[4:])
    stored = query(
        db, "SELECT key_hash, prefix FROM api_keys WHERE workspace_id = %s", (workspace.id,)
    )
    assert len(stored) == 1 and key not in stored[0] and stored[0][1] == key[:12]
    headers = {"X-API-Key": key}
    assert httpx.get(f"{api_url}/api/v1/leads", headers=headers).status_code == 200

    listed = _leads("api-key", "list", "--workspace", workspace.slug, database_url=database_url)
    assert key[:12] in listed.stdout and key not in listed.stdout
    missing = _leads("api-key", "revoke", "otr_nothing", database_url=database_url)
    assert missing.returncode == 2
    revoked = _leads("api-key", "revoke", key[:12], database_url=database_url)
    assert revoked.returncode == 0, revoked.stderr
    time.sleep(0)  # the server looks the key up on every request: no cache to expire
    assert_error(httpx.get(f"{api_url}/api/v1/leads", headers=headers), 401, "invalid_api_key")


def test_a_body_over_64_mib_is_413(make_client, db) -> None:
    """Announcing a body over the limit is refused before anything is read."""
    client, workspace = make_client()
    conn = http.client.HTTPConnection(client.base_url.host, client.base_url.port, timeout=30)
    try:
        conn.putrequest("POST", "/api/v1/leads/import")
        conn.putheader("X-API-Key", client.headers["X-API-Key"])
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(64 * 2**20 + 1))
        conn.endheaders(b"{}")
        response = conn.getresponse()
        body = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == 413
    assert response.getheader("X-RateLimit-Remaining") is not None
    assert body["code"] == "payload_too_large"
    assert lead_count(db, workspace.id) == 0
