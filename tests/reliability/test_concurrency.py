"""Concurrency (issue 6): 8 parallel imports into one workspace and 8 into others, released at
the same moment, through the HTTP API (a real uvicorn server), the engine in threads and the
real CLI in a subprocess, with overlapping emails in case variants, soft-deleted leads to
restore, a soft delete running meanwhile and a workspace with a plan limit.

CI runs 3 rounds; the long variant: `LEADS_RELIABILITY_ROUNDS=20` (see RELIABILITY.md).
"""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg2
import pytest

from leads_import.db.api_keys import create_key
from leads_import.db.connection import connect
from leads_import.db.schema import ensure_schema
from leads_import.db.workspaces import Workspace, create_workspace
from leads_import.engine import import_leads, soft_delete_leads
from leads_import.errors import PlanLimitExceededError
from tests.support.api_server import running_api
from tests.support.crash_driver import PAUSE_DIR_ENV
from tests.support.database import scratch_database
from tests.support.paths import REPO
from tests.support.reliability import (
    ROUNDS_ENV,
    env_count,
    new_workspace,
)

POOL = [f"u{i}@pool.test" for i in range(60)]
SEEDED_ACTIVE = POOL[:10]
SEEDED_DELETED = POOL[10:25]  # the first 8 are soft-deleted twice
KEEP = [f"k{i}@keep.test" for i in range(5)]  # active, outside the pool
DELETED_MEANWHILE = KEEP[:3]
PER_IMPORT = 25
LIMITED_HEADROOM = 25  # the limited workspace may gain this many active leads
BANNED = ("uniqueviolation", "duplicate key", "deadlock", "traceback", "internal server error")


@pytest.fixture(scope="module")
def api_base(database_url: str) -> Iterator[str]:
    with running_api(database_url, "--rate-limit", "100000") as base:
        yield base


def seed_workspace(db: Any, contact_limit: int | None = None) -> tuple[Workspace, int]:
    """SEEDED_ACTIVE and KEEP active, SEEDED_DELETED soft-deleted, a campaign with u0, the
    KEEP leads and every soft-deleted lead; returns the workspace and the campaign id."""
    workspace = new_workspace(db, contact_limit=contact_limit, prefix="conc")
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO leads (workspace_id, email, first_name) SELECT %s, e, 'seed' "
            "FROM unnest(%s::text[]) e",
            (workspace.id, SEEDED_ACTIVE + KEEP),
        )
        cur.execute(
            "INSERT INTO leads (workspace_id, email, company, deleted_at) "
            "SELECT %(ws)s, e, 'old', now() - n * interval '1 hour' "
            "FROM unnest(%(emails)s::text[]) WITH ORDINALITY AS t(e, n) "
            "UNION ALL SELECT %(ws)s, e, 'older', now() - interval '1 year' "
            "FROM unnest(%(twice)s::text[]) e",
            {"ws": workspace.id, "emails": SEEDED_DELETED, "twice": SEEDED_DELETED[:8]},
        )
        cur.execute(
            "INSERT INTO campaigns (workspace_id, name, lead_count) VALUES (%s, 'c', %s) "
            "RETURNING id",
            (workspace.id, 1 + len(KEEP)),
        )
        (campaign,) = cur.fetchone()
        cur.execute(
            "INSERT INTO campaign_leads SELECT %s, id FROM leads WHERE workspace_id = %s "
            "AND (deleted_at IS NOT NULL OR email = ANY(%s))",
            (campaign, workspace.id, [POOL[0], *KEEP]),
        )
    return workspace, campaign


def variant(email: str, rng: random.Random) -> str:
    """The same lead as typed by someone else: case changes and surrounding spaces."""
    cased = "".join(c.upper() if rng.random() < 0.3 else c for c in email)
    return " " * rng.randint(0, 1) + cased + " " * rng.randint(0, 1)


def import_rows(rng: random.Random) -> tuple[list[dict[str, Any]], set[str]]:
    """One import's leads (API field names) and the normalised valid emails among them."""
    emails = rng.sample(POOL, PER_IMPORT)
    leads = [{"email": variant(e, rng), "firstName": "imp", "tags": ["t"]} for e in emails]
    for email in rng.sample(emails, 2):  # repeats within the import
        leads.insert(rng.randrange(len(leads)), {"email": variant(email, rng)})
    leads.insert(rng.randrange(len(leads)), {"email": "not an email", "firstName": "bad"})
    return leads, set(emails)


@dataclass
class Outcome:
    """What one caller got: a report, or a request-level error (code and details)."""

    caller: str
    workspace: str
    rows: int
    emails: set[str]
    report: dict[str, Any] | None = None
    error_code: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None  # anything a user must never see


def _api_call(base: str, key: str, leads: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    response = httpx.post(
        f"{base}/api/v1/leads/import",
        json={"leads": leads},
        headers={"X-API-Key": key},
        timeout=120,
    )
    return response.status_code, response.json()


def _write_csv(path: Path, leads: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Email", "First Name"])
        writer.writerows([lead["email"], lead.get("firstName", "")] for lead in leads)


@dataclass
class Round:
    """The callers of one round, each a function run after the common start signal."""

    callers: list[Callable[[], Outcome]] = field(default_factory=list)
    cli: list[tuple[subprocess.Popen, Path, Outcome]] = field(default_factory=list)


def _engine_caller(workspace: Workspace, database_url: str, rng: random.Random) -> Callable:
    leads, emails = import_rows(rng)
    outcome = Outcome("engine", workspace.slug, len(leads), emails)

    def call() -> Outcome:
        try:
            outcome.report = import_leads(leads, workspace.slug, database=database_url)
        except PlanLimitExceededError as error:
            outcome.error_code, outcome.details = error.code, error.details()
        except Exception as error:  # any other failure is the finding
            outcome.problem = f"{type(error).__name__}: {error}"
        return outcome

    return call


def _api_caller(workspace: Workspace, base: str, key: str, rng: random.Random) -> Callable:
    leads, emails = import_rows(rng)
    outcome = Outcome("api", workspace.slug, len(leads), emails)

    def call() -> Outcome:
        status, body = _api_call(base, key, leads)
        if status == 200:
            outcome.report = body["data"]
        elif status == 402:
            outcome.error_code, outcome.details = body["code"], body["details"]
        else:
            outcome.problem = f"HTTP {status}: {body}"
        return outcome

    return call


def _start_cli(
    workspace: Workspace, folder: Path, env: dict[str, str], rng: random.Random
) -> tuple[subprocess.Popen, Path, Outcome]:
    """A real `leads import` process, held just before it asks for the workspace lock."""
    leads, emails = import_rows(rng)
    folder.mkdir()
    source = folder / "leads.csv"
    _write_csv(source, leads)
    command = [sys.executable, "-m", "tests.support.crash_driver", "gate", "import", str(source)]
    command += ["--workspace", workspace.slug, "--json", "--quiet"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, PAUSE_DIR_ENV: str(folder)},
        cwd=REPO,
    )
    return process, folder, Outcome("cli", workspace.slug, len(leads), emails)


def _finish_cli(process: subprocess.Popen, outcome: Outcome) -> Outcome:
    out, err = process.communicate(timeout=300)
    body = json.loads(out) if out.strip() else {}
    if process.returncode == 0:
        outcome.report = body
    elif process.returncode == 3:
        outcome.error_code, outcome.details = body.get("code"), body.get("details", {})
    else:
        outcome.problem = f"exit {process.returncode}: {err[-2000:]}"
    if any(word in err.lower() for word in BANNED):
        outcome.problem = f"stderr: {err[-2000:]}"
    return outcome


def _state(db: Any, workspace: Workspace, campaign: int) -> dict[str, Any]:
    with db.cursor() as cur:
        cur.execute(
            "SELECT email, count(*) FILTER (WHERE deleted_at IS NULL), count(*) FROM leads "
            "WHERE workspace_id = %s GROUP BY email",
            (workspace.id,),
        )
        per_email = {email: (active, rows) for email, active, rows in cur.fetchall()}
        cur.execute(
            "SELECT c.lead_count, count(*) FILTER (WHERE l.deleted_at IS NULL) FROM campaigns c "
            "JOIN campaign_leads cl ON cl.campaign_id = c.id JOIN leads l ON l.id = cl.lead_id "
            "WHERE c.id = %s GROUP BY c.id",
            (campaign,),
        )
        lead_count, active_members = cur.fetchone()
    return {"per_email": per_email, "lead_count": lead_count, "active_members": active_members}


def check_workspace(
    db: Any, workspace: Workspace, campaign: int, outcomes: list[Outcome], deleted: list[str]
) -> dict[str, int]:
    """The workspace after its concurrent imports equals a serial order of them."""
    state = _state(db, workspace, campaign)
    done = [o for o in outcomes if o.report is not None]
    refused = [o for o in outcomes if o.report is None]
    imported = set().union(*(o.emails for o in done)) if done else set()
    seeded_active = (set(SEEDED_ACTIVE) | set(KEEP)) - set(deleted)
    active = {email for email, (count, _) in state["per_email"].items() if count}
    assert all(count <= 1 for count, _ in state["per_email"].values())
    assert active == seeded_active | imported
    created = sum(o.report["created"] for o in done)
    restored = sum(o.report["restored"] for o in done)
    assert created == len(imported - set(SEEDED_ACTIVE) - set(SEEDED_DELETED))
    assert restored == len(imported & set(SEEDED_DELETED))
    for outcome in done:
        report = outcome.report
        counted = sum(report[k] for k in ("created", "restored", "duplicates", "errors"))
        assert counted == outcome.rows, report
        assert report["errors"] == 1
    seeded_rows = len(SEEDED_ACTIVE) + len(KEEP) + len(SEEDED_DELETED) + 8
    assert sum(rows for _, rows in state["per_email"].values()) == seeded_rows + created
    assert state["lead_count"] == state["active_members"]
    if workspace.contact_limit is not None:
        assert len(active) <= workspace.contact_limit
        for outcome in refused:
            assert outcome.error_code == "plan_limit_exceeded", outcome
            assert outcome.details["limit"] == workspace.contact_limit
            assert outcome.details["wouldReach"] > workspace.contact_limit
    else:
        assert not refused, refused
    return {"created": created, "restored": restored, "refused": len(refused)}


def run_round(
    number: int,
    db: Any,
    database_url: str,
    api_base: str,
    prefect_url: str,
    folder: Path,
) -> dict[str, Any]:
    """One round: seed, start 8 + 8 imports and a soft delete at once, check every workspace."""
    rng = random.Random(number)
    shared, shared_campaign = seed_workspace(db)
    others = [seed_workspace(db) for _ in range(3)]
    limit = len(SEEDED_ACTIVE) + len(KEEP) + LIMITED_HEADROOM
    limited, limited_campaign = seed_workspace(db, contact_limit=limit)
    keys = {ws.id: create_key(db, ws, "concurrency").key for ws, _ in [*others, (shared, 0)]}
    keys[limited.id] = create_key(db, limited, "concurrency").key
    env = {**os.environ, "PREFECT_API_URL": prefect_url, "DATABASE_URL": database_url}

    # The CLI import goes to the shared workspace in even rounds, the limited one in odd rounds.
    cli_target = shared if number % 2 == 0 else limited
    cli = _start_cli(cli_target, folder / f"cli-{number}", env, rng)
    plan: list[tuple[Workspace, str]] = [(shared, kind) for kind in ("api",) * 4 + ("engine",) * 3]
    plan += [(limited, "api"), (limited, "engine")]
    kinds = ["api", "engine", "api", "engine", "api"]
    plan += [(ws, kind) for (ws, _), kind in zip(others * 2, kinds, strict=False)]
    if cli_target is shared:
        plan.append((limited, "api"))
    else:
        plan.append((shared, "api"))
    callers = [
        _api_caller(ws, api_base, keys[ws.id], rng)
        if kind == "api"
        else _engine_caller(ws, database_url, rng)
        for ws, kind in plan
    ]
    deleted: list[str] = []

    def delete_meanwhile() -> Outcome:
        deleted.extend(soft_delete_leads(shared.slug, DELETED_MEANWHILE, database=database_url))
        return Outcome("delete", shared.slug, 0, set(), report={})

    callers.append(delete_meanwhile)
    process, cli_folder, cli_outcome = cli
    deadline = time.monotonic() + 120
    while not (cli_folder / "ready").exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the CLI import never got to its load"
        time.sleep(0.01)
    start = threading.Barrier(len(callers) + 1)

    def after_start(call: Callable[[], Outcome]) -> Outcome:
        start.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(callers)) as pool:
        futures = [pool.submit(after_start, call) for call in callers]
        start.wait()
        (cli_folder / "go").touch()
        outcomes = [future.result() for future in futures]
    outcomes = [o for o in outcomes if o.caller != "delete"]
    outcomes.append(_finish_cli(process, cli_outcome))
    problems = [o for o in outcomes if o.problem]
    assert not problems, problems
    assert sorted(deleted) == sorted(DELETED_MEANWHILE)
    by_slug = {ws.slug: (ws, campaign) for ws, campaign in [*others]}
    by_slug[shared.slug] = (shared, shared_campaign)
    by_slug[limited.slug] = (limited, limited_campaign)
    counts = Counter(o.workspace for o in outcomes)
    assert counts[shared.slug] == 8 and sum(counts.values()) == 16, counts
    figures: dict[str, Any] = {}
    for slug, (ws, campaign) in by_slug.items():
        mine = [o for o in outcomes if o.workspace == slug]
        gone = deleted if ws is shared else []
        figures[slug] = check_workspace(db, ws, campaign, mine, gone)
    return {
        "shared": figures[shared.slug],
        "limited": figures[limited.slug],
        "callers": Counter(o.caller for o in outcomes),
    }


def test_parallel_imports_equal_a_serial_order(
    reliability_prefect: str,
    database_url: str,
    db: Any,
    api_base: str,
    tmp_path: Path,
) -> None:
    rounds = env_count(ROUNDS_ENV, 3)
    started = time.perf_counter()
    results = [
        run_round(number, db, database_url, api_base, reliability_prefect, tmp_path)
        for number in range(rounds)
    ]
    refused = sum(r["limited"]["refused"] for r in results)
    created = sum(r["shared"]["created"] for r in results)
    restored = sum(r["shared"]["restored"] for r in results)
    print(
        f"{rounds} rounds x 16 imports in {time.perf_counter() - started:.1f} s: shared "
        f"workspace created {created}, restored {restored}; plan-limit refusals {refused}"
    )
    # The limited workspace cannot take every import: the refusals are real, and proper.
    assert refused > 0


@pytest.fixture
def fresh_database(database_url: str) -> Iterator[str]:
    """An empty database (no schema yet) on the test server, dropped afterwards."""
    with scratch_database(database_url, "leads_fresh") as url:
        yield url.render_as_string(hide_password=False)


def test_first_imports_into_a_fresh_database_race_safely(fresh_database: str) -> None:
    """8 first-ever imports at once: the schema is set up and `default` created exactly once."""
    rng = random.Random(8)
    batches = [import_rows(rng) for _ in range(8)]
    start = threading.Barrier(len(batches))

    def run(batch: tuple[list[dict[str, Any]], set[str]]) -> dict[str, Any]:
        start.wait()
        return import_leads(batch[0], database=fresh_database)

    with ThreadPoolExecutor(max_workers=len(batches)) as pool:
        reports = list(pool.map(run, batches))
    imported = set().union(*(emails for _, emails in batches))
    assert sum(r["created"] for r in reports) == len(imported)
    assert sum(r["restored"] for r in reports) == 0
    with psycopg2.connect(fresh_database) as conn, conn.cursor() as cur:
        cur.execute("SELECT slug FROM workspaces")
        assert cur.fetchall() == [("default",)]
        cur.execute("SELECT email FROM leads WHERE deleted_at IS NULL")
        assert sorted(email for (email,) in cur.fetchall()) == sorted(imported)
    conn.close()


def test_schema_is_not_taken_for_ready_before_its_transaction_commits(fresh_database: str) -> None:
    """A connection that sets the schema up holds it uncommitted; another connection of the
    same process meanwhile must wait for it, not skip the check and miss the tables (found by
    the race above in CI: `relation "workspaces" does not exist`)."""
    first = connect(fresh_database)
    ensure_schema(first)  # creates the tables; not committed yet
    outcome: dict[str, Any] = {}

    def second() -> None:
        conn = connect(fresh_database)
        try:
            ensure_schema(conn)
            outcome["workspace"] = create_workspace(conn, "default")
            conn.commit()
        except Exception as error:  # reported below, with the assertion
            outcome["error"] = error
        finally:
            conn.close()

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(0.5)
    assert thread.is_alive(), f"the second connection did not wait: {outcome}"
    first.commit()
    first.close()
    thread.join(30)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["workspace"].slug == "default"


def test_creating_one_lead_from_many_clients_at_once(db: Any, api_base: str) -> None:
    """8 `POST /leads` of one email (case variants) at once, the email soft-deleted: one
    restores it, the others get 409 `lead_exists`; never a 500."""
    workspace, campaign = seed_workspace(db)
    key = create_key(db, workspace, "concurrency").key
    email = SEEDED_DELETED[0]
    rng = random.Random(1)
    start = threading.Barrier(8)

    def create(_: int) -> httpx.Response:
        body = {"email": variant(email, rng), "firstName": "racer"}
        start.wait()
        return httpx.post(
            f"{api_base}/api/v1/leads", json=body, headers={"X-API-Key": key}, timeout=60
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(create, range(8)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == Counter({201: 1, 409: 7}), [r.text for r in responses]
    (won,) = [r.json() for r in responses if r.status_code == 201]
    assert won["meta"]["outcome"] == "restored"
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"lead_exists"}
    state = _state(db, workspace, campaign)
    assert state["per_email"][email] == (1, 2)  # restored in place: no new row
    assert state["lead_count"] == state["active_members"]
