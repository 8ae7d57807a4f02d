"""Isolation (SPEC 5): one workspace never sees nor changes another's rows.

1. `test_operations_on_a_never_touch_b` (hypothesis) — random sequences of operations on
   workspace A: imports (emails of a pool that workspace B holds too, active and soft-deleted,
   in varied case and padding, invalid ones; random restore flag, `on_existing` policy, dry run,
   audit with an idempotency key), soft deletes, and the API's service calls (create, PATCH,
   DELETE, campaign adds, rate-limit admissions) aimed at A's ids *and at B's* (a lead or
   campaign of B must be a 404 / `notFound` for A). After every operation every row belonging to
   B (workspace, leads, campaigns, campaign members, import runs, sync state, API keys, rate-limit
   buckets) is exactly as before; A's imports are classified against A alone (a small model
   computed from A's own leads predicts the counts and A's active emails afterwards); no
   campaign membership ever links the two workspaces.
2. `test_same_email_in_two_workspaces_is_two_leads` — the lifecycle of one email side by side.
3. `test_every_sql_statement_is_scoped_to_a_workspace` — a static guard over sql/**/*.sql.
4. `test_row_level_security_policy_as_measured` — the policy bench/rls_cost.py measures, in a
   scratch schema: a session set to A cannot read or write B's rows, and COPY is refused.

A deeper run: ISOLATION_EXAMPLES=300 uv run pytest tests/reliability/test_isolation.py
"""

from __future__ import annotations

import io
import os
import re
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from psycopg2 import sql
from psycopg2.extras import Json

from leads_import.api import rate_limit, service
from leads_import.api.errors import ApiError
from leads_import.db.api_keys import create_key
from leads_import.db.connection import connect
from leads_import.db.runs import KIND_API, RunAudit
from leads_import.db.workspaces import Workspace
from leads_import.engine import import_leads, soft_delete_leads
from tests.support.database import make_workspace
from tests.support.paths import REPO

MAX_EXAMPLES = int(os.environ.get("ISOLATION_EXAMPLES", "60"))
POOL = ["ann@ex.com", "bob@ex.com", "kim@mail.org", "o'neil@ex.com", "zed@ex.com"]
INVALID = ["ann@", "@ex.com", "ann..b@ex.com", "ann@ex", "", "a\x00@ex.com"]
POLICIES = ("skip", "fill_empty", "overwrite")

# --- the two workspaces ------------------------------------------------------------------------


def q(conn, statement: str, params: Any = None) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall() if cur.description else []


class Pair:
    """Workspaces A (operated on) and B (the neighbour, seeded with the same emails)."""

    def __init__(self, conn, url: str) -> None:
        self.conn, self.url = conn, url
        self.a, self.b = make_workspace(conn), make_workspace(conn)
        self.a_key = create_key(conn, self.a, "a")
        self.b_key = create_key(conn, self.b, "b")
        self.a_campaign = q(
            conn,
            "INSERT INTO campaigns (workspace_id, name) VALUES (%s, 'a') RETURNING id",
            (self.a.id,),
        )[0][0]
        self.b_campaign = q(
            conn,
            "INSERT INTO campaigns (workspace_id, name) VALUES (%s, 'b') RETURNING id",
            (self.b.id,),
        )[0][0]
        self._seed_b()

    def _seed_b(self) -> None:
        """B: every pool email (two soft-deleted copies of some), in a campaign, with a run, a
        sync watermark and a rate-limit bucket."""
        leads = [
            {"email": e, "firstName": "B", "tags": ["b"], "customFields": {"ws": "b"}} for e in POOL
        ]
        audit = RunAudit(kind=KIND_API, source="api", idempotency_key="same-key")
        run = int(import_leads(leads, self.b.slug, audit=audit, database=self.url)["runId"])
        soft_delete_leads(self.b.slug, POOL[:2], database=self.url)
        import_leads(leads[:1], self.b.slug, database=self.url)
        soft_delete_leads(self.b.slug, POOL[:1], database=self.url)
        service.add_campaign_leads(
            self.url, self.b, str(self.b_campaign), [str(i) for i in self.lead_ids(self.b)]
        )
        q(
            self.conn,
            "INSERT INTO sync_state (workspace_id, sync_name, cursor_column, watermark, "
            "run_id) VALUES (%s, 'crm', 'id', %s, %s)",
            (self.b.id, Json(7), run),
        )
        self.admit(self.b_key.key)

    def lead_ids(self, workspace: Workspace, active: bool = True) -> list[int]:
        where = " AND deleted_at IS NULL" if active else ""
        rows = q(
            self.conn,
            f"SELECT id FROM leads WHERE workspace_id = %s{where} ORDER BY id",
            (workspace.id,),
        )
        return [row[0] for row in rows]

    def admit(self, key: str) -> None:
        with self.conn.cursor() as cur:
            found, decision = rate_limit.admit(cur, key, "127.0.0.1", 1000, 60.0)
        assert found is not None and decision.allowed

    def snapshot_b(self) -> dict[str, list[tuple]]:
        """Every row that belongs to B, whole."""
        b, params = self.b.id, {"b": self.b.id}
        tables = {
            "workspaces": "SELECT * FROM workspaces WHERE id = %(b)s",
            "leads": "SELECT * FROM leads WHERE workspace_id = %(b)s ORDER BY id",
            "campaigns": "SELECT * FROM campaigns WHERE workspace_id = %(b)s ORDER BY id",
            "campaign_leads": "SELECT * FROM campaign_leads WHERE campaign_id IN (SELECT id FROM "
            "campaigns WHERE workspace_id = %(b)s) OR lead_id IN (SELECT id FROM leads WHERE "
            "workspace_id = %(b)s) ORDER BY 1, 2",
            "import_runs": "SELECT * FROM import_runs WHERE workspace_id = %(b)s ORDER BY id",
            "sync_state": "SELECT * FROM sync_state WHERE workspace_id = %(b)s",
            "api_keys": "SELECT * FROM api_keys WHERE workspace_id = %(b)s ORDER BY id",
            "api_rate_limits": "SELECT * FROM api_rate_limits WHERE bucket IN (SELECT 'key:' || "
            "id FROM api_keys WHERE workspace_id = %(b)s)",
        }
        shot = {name: q(self.conn, statement, params) for name, statement in tables.items()}
        assert shot["leads"] and shot["import_runs"] and shot["api_rate_limits"], b
        return shot

    def crossing_members(self) -> list[tuple]:
        """Campaign memberships whose campaign and lead are in different workspaces."""
        return q(
            self.conn,
            "SELECT cl.* FROM campaign_leads cl JOIN campaigns c ON c.id = "
            "cl.campaign_id JOIN leads l ON l.id = cl.lead_id WHERE c.workspace_id <> "
            "l.workspace_id AND %s IN (c.workspace_id, l.workspace_id)",
            (self.a.id,),
        )

    def a_emails(self) -> tuple[set[str], set[str]]:
        """A's active and soft-deleted emails."""
        rows = q(
            self.conn,
            "SELECT email, deleted_at IS NULL FROM leads WHERE workspace_id = %s",
            (self.a.id,),
        )
        return {e for e, live in rows if live}, {e for e, live in rows if not live}


@pytest.fixture(scope="module")
def conn(database_url: str) -> Iterator[Any]:
    connection = connect(database_url)
    connection.autocommit = True
    yield connection
    connection.close()


# --- operations on A -----------------------------------------------------------------------------


@st.composite
def pool_email(draw: st.DrawFn) -> str:
    email = draw(st.sampled_from(POOL))
    email = "".join(c.upper() if draw(st.booleans()) else c for c in email)
    return draw(st.sampled_from(["", " ", "\t"])) + email + draw(st.sampled_from(["", "  "]))


row = st.fixed_dictionaries(
    {"email": st.one_of(pool_email(), pool_email(), pool_email(), st.sampled_from(INVALID))},
    optional={
        "firstName": st.sampled_from(["A", "", "Ann"]),
        "company": st.sampled_from(["A Inc", None]),
        "customFields": st.sampled_from([{"ws": "a"}, {"n": 1}]),
        "tags": st.sampled_from([["a"], ["b", "a"], []]),
    },
)
imports = st.fixed_dictionaries(
    {
        "op": st.just("import"),
        "rows": st.lists(row, min_size=1, max_size=7),
        "restore": st.booleans(),
        "policy": st.sampled_from([*POLICIES, "skip", "skip"]),
        "dry_run": st.sampled_from([False, False, True]),
        "idempotency": st.sampled_from([None, None, "same-key"]),
    }
)
deletes = st.fixed_dictionaries(
    {"op": st.just("delete"), "emails": st.lists(pool_email(), min_size=1, max_size=3)}
)
# API calls: `target` picks whose lead or campaign the id names (B's must be invisible to A).
api_calls = st.fixed_dictionaries(
    {
        "op": st.sampled_from(
            ["create", "patch", "patch_email", "api_delete", "campaign_add", "admit"]
        ),
        "target": st.sampled_from(["a", "a", "b"]),
        "email": pool_email(),
        "pick": st.integers(0, 10),
    }
)
operations = st.lists(st.one_of(imports, imports, deletes, api_calls), min_size=1, max_size=6)


def expected_import(rows: list[dict], active: set[str], deleted: set[str], restore: bool):
    """Counts of an import into A from A's own leads alone (SPEC 4), and A's active emails
    afterwards; duplicates include what a policy may update."""
    counts = {"created": 0, "restored": 0, "duplicates": 0, "errors": 0}
    seen: set[str] = set()
    now_active = set(active)
    for lead in rows:
        email = lead["email"].strip().lower()
        if lead["email"] in INVALID:
            counts["errors"] += 1
        elif email in seen or email in active or (email in deleted and not restore):
            counts["duplicates"] += 1
        else:
            counts["restored" if email in deleted else "created"] += 1
            now_active.add(email)
        if lead["email"] not in INVALID:
            seen.add(email)
    return counts, now_active


def run_import(pair: Pair, op: dict) -> None:
    active, deleted = pair.a_emails()
    a_runs = {
        r
        for (r,) in q(
            pair.conn,
            "SELECT id FROM import_runs WHERE workspace_id = %s AND idempotency_key IS NOT NULL",
            (pair.a.id,),
        )
    }
    audit = None
    if op["idempotency"] and not op["dry_run"]:
        audit = RunAudit(kind=KIND_API, source="api", idempotency_key=op["idempotency"])
    report = import_leads(
        op["rows"],
        pair.a.slug,
        restore_soft_deleted=op["restore"],
        on_existing=op["policy"],
        dry_run=op["dry_run"],
        audit=audit,
        database=pair.url,
    )
    if report.get("replayed"):  # B used the key too: only a run of A's own may be replayed
        event("import replayed A's own run")
        assert int(report["runId"]) in a_runs, (report, a_runs)
        assert pair.a_emails() == (active, deleted)
        return
    counts, now_active = expected_import(op["rows"], active, deleted, op["restore"])
    got = {k: report[k] for k in counts}
    got["duplicates"] += report.get("updated", 0)
    assert got == counts, (op, report)
    after_active, _ = pair.a_emails()
    assert after_active == (active if op["dry_run"] else now_active), (op, report)
    event(f"import {'dry run' if op['dry_run'] else op['policy']}")


def pick(ids: list[int], index: int) -> int:
    return ids[index % len(ids)] if ids else 10**12 + index  # an id nobody has


FOREIGN_404 = ("patch", "patch_email", "api_delete", "campaign_add")


def run_api_call(pair: Pair, op: dict) -> None:
    """One API service call by A's key; ids of B must behave as ids that do not exist."""
    owner = pair.a if op["target"] == "a" else pair.b
    lead_id = str(pick(pair.lead_ids(owner), op["pick"]))
    foreign = op["target"] == "b"
    try:
        if op["op"] == "create":
            service.create_lead(pair.url, pair.a, {"email": op["email"], "firstName": "A"})
        elif op["op"] == "patch":
            service.update_lead(pair.url, pair.a, lead_id, {"firstName": "patched"})
        elif op["op"] == "patch_email":  # to an email B holds: free in A unless A holds it
            taken = op["email"].strip().lower() in pair.a_emails()[0]
            lead = service.update_lead(pair.url, pair.a, lead_id, {"email": op["email"]})
            assert not taken or lead["id"] == lead_id, lead
        elif op["op"] == "api_delete":
            service.delete_lead(pair.url, pair.a, lead_id)
        elif op["op"] == "campaign_add":
            campaign = pair.b_campaign if foreign else pair.a_campaign
            ids = [str(i) for i in pair.lead_ids(pair.a) + pair.lead_ids(pair.b)]
            result = service.add_campaign_leads(pair.url, pair.a, str(campaign), ids)
            b_ids = {str(i) for i in pair.lead_ids(pair.b, active=False)}
            assert not foreign, "A added leads to B's campaign"
            assert not b_ids & {*result["added"], *result["alreadyMembers"]}, result
        else:
            pair.admit(pair.a_key.key)
        outcome = "ok"
    except ApiError as error:
        outcome = str(error.status)
        if foreign and op["op"] in FOREIGN_404:
            assert error.status == 404, error.message
        if error.status == 409:  # only for an email A itself holds, never for one of B's
            assert error.details["email"] in pair.a_emails()[0], error.details
    if foreign and op["op"] in FOREIGN_404:
        assert outcome == "404", f"A's {op['op']} of B's id {lead_id} answered {outcome}"
    event(f"{op['op']} {op['target']} {outcome}")


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(ops=operations)
def test_operations_on_a_never_touch_b(conn, database_url: str, ops: list[dict]) -> None:
    pair = Pair(conn, database_url)
    before = pair.snapshot_b()
    for op in ops:
        if op["op"] == "import":
            run_import(pair, op)
        elif op["op"] == "delete":
            soft_delete_leads(pair.a.slug, op["emails"], database=database_url)
        else:
            run_api_call(pair, op)
        assert pair.snapshot_b() == before, f"B changed after {op}"
        assert pair.crossing_members() == []


# --- the same email in two workspaces --------------------------------------------------------


def test_same_email_in_two_workspaces_is_two_leads(conn, database_url: str) -> None:
    a, b = make_workspace(conn), make_workspace(conn)
    lead = {"email": "Same@Ex.com", "firstName": "A"}
    assert import_leads([lead], a.slug, database=database_url)["created"] == 1
    assert import_leads([lead | {"firstName": "B"}], b.slug, database=database_url)["created"] == 1
    assert soft_delete_leads(a.slug, ["same@ex.com"], database=database_url) == ["same@ex.com"]
    # B's copy is still active: A's import restores A's own copy, B's is a duplicate in B.
    assert import_leads([lead], a.slug, database=database_url)["restored"] == 1
    assert import_leads([lead], b.slug, database=database_url)["duplicates"] == 1
    rows = q(
        conn,
        "SELECT workspace_id, first_name, deleted_at IS NULL FROM leads WHERE "
        "email = 'same@ex.com' AND workspace_id IN (%s, %s) ORDER BY workspace_id",
        (a.id, b.id),
    )
    assert rows == [(a.id, "A", True), (b.id, "B", True)]


# --- static guard over sql/**/*.sql -----------------------------------------------------------

TENANT_TABLES = ("leads", "campaigns", "campaign_leads", "import_runs", "sync_state", "api_keys")
# Statements that touch those tables without a workspace filter, and why that is right.
UNSCOPED = {
    "api/admit_prepare.sql": "finds the workspace of a key by the key's hash",
    "api/key_list.sql": "operator CLI: keys of one workspace by slug, or of all",
    "api/key_matches.sql": "operator CLI: the keys a revoke would match (slug optional)",
    "api/key_revoke.sql": "operator CLI: revoke one key by id",
    "runs/recent_runs.sql": "operator CLI: runs of one workspace by slug, or of all",
    "runs/find_run.sql": "operator CLI: one run by its id (leads runs show), its workspace named",
    "runs/list_sync_states.sql": "operator CLI: syncs of one workspace by slug, or of all",
    "workspaces/list_workspaces.sql": "operator CLI: workspaces by slug, active leads counted",
    "engine/copy_created_leads.sql": "COPY: every row carries the workspace_id column",
    "api/add_campaign_leads.sql": "scoped: eligible leads and the campaign by workspace_id",
}
# Folders of statements that are not a tenant's reads and writes.
NOT_TENANT_SQL = ("migrations", "schema", "duckdb", "prefect")
TABLE_USE = re.compile(
    r"\b(?:FROM|JOIN|UPDATE|INTO|COPY)\s+(" + "|".join(TENANT_TABLES) + r")\b", re.IGNORECASE
)


def test_every_sql_statement_is_scoped_to_a_workspace() -> None:
    root = REPO / "sql"
    files = sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*.sql")
        if path.relative_to(root).parts[0] not in NOT_TENANT_SQL
    )
    touching = {}
    for name in files:
        text = re.sub(r"--[^\n]*", "", (root / name).read_text())
        tables = {m.lower() for m in TABLE_USE.findall(text)}
        if tables:
            touching[name] = (tables, text)
    assert "engine/restore_leads.sql" in touching and "engine/soft_delete_leads.sql" in touching
    unscoped = [
        name
        for name, (tables, text) in touching.items()
        if name not in UNSCOPED
        and "%(workspace_id)s" not in text
        and "{workspace_id}" not in text  # a psycopg2.sql template's parameter
    ]
    assert unscoped == [], f"SQL touching {TENANT_TABLES} without a workspace filter: {unscoped}"
    # Each UPDATE of leads or campaigns, and each write of campaign_leads, names the workspace.
    for name, (_, text) in touching.items():
        for statement in re.findall(
            r"UPDATE\s+(?:leads|campaigns)\b.*?(?:;|\n\)|RETURNING|\Z)",
            text,
            flags=re.IGNORECASE | re.DOTALL,
        ):
            # or it updates only the ids of a CTE that is filtered by workspace (the policies)
            scoped = "workspace_id" in statement or re.search(r"FROM\s+merged\b", statement)
            assert scoped, f"{name}: {statement[:200]}"
    stale = set(UNSCOPED) - set(files)
    assert not stale, f"allow-listed files that no longer exist: {stale}"


# --- the row-level security policy of bench/rls_cost.py ---------------------------------------

RLS_SETUP = """
CREATE SCHEMA {schema};
CREATE TABLE {schema}.leads (LIKE public.leads INCLUDING DEFAULTS INCLUDING IDENTITY);
ALTER TABLE {schema}.leads ENABLE ROW LEVEL SECURITY;
ALTER TABLE {schema}.leads FORCE ROW LEVEL SECURITY;
CREATE POLICY workspace_only ON {schema}.leads
    USING (workspace_id = current_setting('leads.workspace_id')::bigint)
    WITH CHECK (workspace_id = current_setting('leads.workspace_id')::bigint);
CREATE ROLE {role} NOSUPERUSER NOINHERIT;
GRANT USAGE ON SCHEMA {schema} TO {role};
GRANT SELECT, INSERT, UPDATE ON {schema}.leads TO {role};
ALTER TABLE {schema}.leads OWNER TO {role};
INSERT INTO {schema}.leads (workspace_id, email) VALUES (1, 'a@ex.com'), (2, 'b@ex.com');
"""


@pytest.fixture
def rls_schema(conn) -> Iterator[tuple[str, str]]:
    suffix = uuid.uuid4().hex[:8]
    schema, role = f"rls_{suffix}", f"rls_app_{suffix}"
    names = {"schema": sql.Identifier(schema), "role": sql.Identifier(role)}
    with conn.cursor() as cur:
        cur.execute(sql.SQL(RLS_SETUP).format(**names))
    yield schema, role
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP SCHEMA {schema} CASCADE; DROP ROLE {role}").format(**names))


def test_row_level_security_policy_as_measured(conn, database_url: str, rls_schema) -> None:
    schema, role = rls_schema
    session = psycopg2.connect(database_url)
    table = sql.Identifier(schema, "leads")
    try:
        with session.cursor() as cur:
            cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
            cur.execute("SELECT set_config('leads.workspace_id', '1', true)")
            cur.execute(sql.SQL("SELECT workspace_id, email FROM {}").format(table))
            assert cur.fetchall() == [(1, "a@ex.com")]  # B's row is invisible
            cur.execute(
                sql.SQL("UPDATE {} SET first_name = 'x' WHERE email = 'b@ex.com'").format(table)
            )
            assert cur.rowcount == 0  # and cannot be changed
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(
                    sql.SQL("INSERT INTO {} (workspace_id, email) VALUES (2, 'c@ex.com')").format(
                        table
                    )
                )
        session.rollback()
        with session.cursor() as cur:
            cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
            cur.execute("SELECT set_config('leads.workspace_id', '1', true)")
            with pytest.raises(psycopg2.errors.FeatureNotSupported, match="row-level security"):
                cur.copy_expert(
                    sql.SQL("COPY {} (workspace_id, email) FROM STDIN").format(table),
                    io.StringIO("1\tnew@ex.com\n"),
                )
        session.rollback()
        # The setting lasts one transaction: after it, it reads '' (a cast error), and in a
        # session that never set it, it is undefined. Either way nothing is read.
        with session.cursor() as cur:
            cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
            with pytest.raises(psycopg2.errors.InvalidTextRepresentation):
                cur.execute(sql.SQL("SELECT count(*) FROM {}").format(table))
        session.rollback()
    finally:
        session.close()
    fresh = psycopg2.connect(database_url)
    try:
        with fresh.cursor() as cur:
            cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
            with pytest.raises(psycopg2.errors.UndefinedObject):
                cur.execute(sql.SQL("SELECT count(*) FROM {}").format(table))
    finally:
        fresh.close()
