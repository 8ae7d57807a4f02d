"""The guarantee on `leads.workspace_id` (SPEC section 2, migration 0002) that replaces the
foreign key: a lead always names an existing workspace, and a workspace that still has leads
cannot be deleted, re-keyed or truncated away; concurrent transactions are held off by the
same row locks the foreign key takes."""

from __future__ import annotations

import io
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg2
import psycopg2.errors
import pytest

from leads_import.db.connection import connect
from leads_import.db.schema import init_schema
from leads_import.db.workspaces import Workspace
from leads_import.sqlfiles import load_sql
from tests.support.database import make_workspace, query, scratch_database

MISSING = 9_000_000_000  # no workspace has this id


def missing_workspace(db) -> int:
    (highest,) = query(db, "SELECT coalesce(max(id), 0) FROM workspaces")[0]
    return max(highest + 1_000, MISSING)


def add_lead(db, workspace_id: int, *, deleted: bool = False) -> int:
    return query(
        db,
        "INSERT INTO leads (workspace_id, email, deleted_at) VALUES (%s, %s, %s) RETURNING id",
        (workspace_id, f"{uuid.uuid4().hex[:10]}@example.com", "2024-01-01" if deleted else None),
    )[0][0]


def count_leads(db, workspace_id: int) -> int:
    return query(db, "SELECT count(*) FROM leads WHERE workspace_id = %s", (workspace_id,))[0][0]


def workspace_exists(db, workspace_id: int) -> bool:
    return bool(query(db, "SELECT 1 FROM workspaces WHERE id = %s", (workspace_id,)))


# --- the leads half: a lead names an existing workspace ------------------------------------


def test_the_foreign_key_is_replaced_by_the_triggers(db):
    foreign_keys = query(
        db, "SELECT conname FROM pg_constraint WHERE conrelid = 'leads'::regclass AND contype = 'f'"
    )
    assert foreign_keys == []
    triggers = query(
        db,
        "SELECT tgrelid::regclass::text, tgname FROM pg_trigger "
        "WHERE NOT tgisinternal AND tgrelid IN ('leads'::regclass, 'workspaces'::regclass) "
        "ORDER BY 1, 2",
    )
    assert triggers == [
        ("leads", "leads_workspace_exists"),
        ("leads", "leads_workspace_exists_on_update"),
        ("workspaces", "workspaces_keep_leads_on_delete"),
        ("workspaces", "workspaces_keep_leads_on_rekey"),
        ("workspaces", "workspaces_keep_leads_on_truncate"),
    ]


def test_an_insert_naming_a_missing_workspace_fails(db):
    missing = missing_workspace(db)
    with pytest.raises(psycopg2.errors.ForeignKeyViolation) as raised:
        add_lead(db, missing)
    error = raised.value
    assert error.pgcode == "23503"
    assert error.diag.constraint_name == "leads_workspace_exists"
    assert error.diag.table_name == "leads" and error.diag.column_name == "workspace_id"
    assert "names a workspace that does not exist" in error.diag.message_primary
    assert error.diag.message_detail == (
        f'Key (workspace_id)=({missing}) is not present in table "workspaces".'
    )
    assert count_leads(db, missing) == 0


def test_one_missing_workspace_fails_the_whole_statement(db, workspace: Workspace):
    missing = missing_workspace(db)
    with pytest.raises(psycopg2.errors.ForeignKeyViolation, match=f"=\\({missing}\\)"):
        query(
            db,
            "INSERT INTO leads (workspace_id, email) VALUES (%s, 'a@example.com'), "
            "(%s, 'b@example.com'), (%s, 'c@example.com') RETURNING id",
            (workspace.id, missing, workspace.id),
        )
    assert count_leads(db, workspace.id) == 0


def test_an_insert_naming_existing_workspaces_works(db, workspace: Workspace):
    other = make_workspace(db)
    query(
        db,
        "INSERT INTO leads (workspace_id, email) SELECT w, 'x@example.com' "
        "FROM unnest(ARRAY[%s, %s]::bigint[]) AS w RETURNING id",
        (workspace.id, other.id),
    )
    assert (count_leads(db, workspace.id), count_leads(db, other.id)) == (1, 1)


def test_a_copy_naming_a_missing_workspace_fails_and_writes_nothing(db, workspace: Workspace):
    """The engine's own COPY statement (sql/engine/copy_created_leads.sql)."""
    missing = missing_workspace(db)
    rows = "".join(
        f'{w},{n}@example.com,,,,,,,,,,active,"{{}}",{{}}\n'
        for n, w in enumerate([workspace.id] * 500 + [missing] + [workspace.id] * 500)
    )
    with db.cursor() as cur:
        with pytest.raises(psycopg2.errors.ForeignKeyViolation, match=f"=\\({missing}\\)"):
            cur.copy_expert(load_sql("engine/copy_created_leads"), io.StringIO(rows))
        assert count_leads(db, workspace.id) == count_leads(db, missing) == 0
        # Without the stray row the same COPY goes through.
        good = "".join(line for line in rows.splitlines(True) if not line.startswith(str(missing)))
        cur.copy_expert(load_sql("engine/copy_created_leads"), io.StringIO(good))
    assert count_leads(db, workspace.id) == 1000


def test_an_update_to_a_missing_workspace_fails(db, workspace: Workspace):
    lead_id = add_lead(db, workspace.id)
    missing = missing_workspace(db)
    with pytest.raises(psycopg2.errors.ForeignKeyViolation) as raised:
        query(
            db,
            "UPDATE leads SET workspace_id = %s WHERE id = %s RETURNING id",
            (missing, lead_id),
        )
    assert raised.value.diag.constraint_name == "leads_workspace_exists"
    assert query(db, "SELECT workspace_id FROM leads WHERE id = %s", (lead_id,)) == [
        (workspace.id,)
    ]
    # Moving it to a workspace that exists, or an update leaving workspace_id as it is, works.
    other = make_workspace(db)
    query(db, "UPDATE leads SET workspace_id = %s WHERE id = %s RETURNING id", (other.id, lead_id))
    query(
        db,
        "UPDATE leads SET workspace_id = workspace_id, first_name = 'x' WHERE id = %s RETURNING id",
        (lead_id,),
    )
    assert count_leads(db, other.id) == 1


# --- the workspaces half: a workspace with leads stays --------------------------------------


@pytest.mark.parametrize("deleted", [False, True], ids=["active lead", "soft-deleted lead"])
def test_a_workspace_with_leads_cannot_be_deleted(db, workspace: Workspace, deleted: bool):
    add_lead(db, workspace.id, deleted=deleted)
    with pytest.raises(psycopg2.errors.ForeignKeyViolation) as raised:
        query(db, "DELETE FROM workspaces WHERE id = %s RETURNING id", (workspace.id,))
    assert raised.value.diag.constraint_name == "workspaces_keep_leads"
    assert raised.value.diag.message_detail == (
        f'Key (id)=({workspace.id}) is still referenced from table "leads".'
    )
    assert workspace_exists(db, workspace.id)


@pytest.mark.parametrize("deleted", [False, True], ids=["active lead", "soft-deleted lead"])
def test_a_workspace_with_leads_cannot_be_rekeyed(db, workspace: Workspace, deleted: bool):
    add_lead(db, workspace.id, deleted=deleted)
    new_id = missing_workspace(db)
    with pytest.raises(psycopg2.errors.ForeignKeyViolation, match="still referenced"):
        query(
            db, "UPDATE workspaces SET id = %s WHERE id = %s RETURNING id", (new_id, workspace.id)
        )
    assert workspace_exists(db, workspace.id) and not workspace_exists(db, new_id)
    # Other columns of it can change.
    query(db, "UPDATE workspaces SET name = 'renamed' WHERE id = %s RETURNING id", (workspace.id,))


def test_a_workspace_without_leads_can_be_rekeyed_and_deleted(db, workspace: Workspace):
    new_id = missing_workspace(db)
    query(db, "UPDATE workspaces SET id = %s WHERE id = %s RETURNING id", (new_id, workspace.id))
    assert query(db, "DELETE FROM workspaces WHERE id = %s RETURNING id", (new_id,)) == [(new_id,)]
    assert not workspace_exists(db, new_id)


def test_a_workspace_whose_leads_moved_away_can_be_deleted(db, workspace: Workspace):
    lead_id = add_lead(db, workspace.id)
    other = make_workspace(db)
    query(db, "UPDATE leads SET workspace_id = %s WHERE id = %s RETURNING id", (other.id, lead_id))
    query(db, "DELETE FROM workspaces WHERE id = %s RETURNING id", (workspace.id,))
    assert not workspace_exists(db, workspace.id)


def test_a_workspace_with_campaigns_is_still_kept_by_their_foreign_key(db, workspace: Workspace):
    query(
        db,
        "INSERT INTO campaigns (workspace_id, name) VALUES (%s, 'c') RETURNING id",
        (workspace.id,),
    )
    with pytest.raises(psycopg2.errors.ForeignKeyViolation) as raised:
        query(db, "DELETE FROM workspaces WHERE id = %s RETURNING id", (workspace.id,))
    assert raised.value.diag.constraint_name == "campaigns_workspace_id_fkey"


@pytest.fixture
def own_database(database_url: str) -> Iterator[str]:
    """A database of its own at the newest schema, for statements that lock whole tables."""
    with scratch_database(database_url, "leads_guarantee") as made:
        url = made.render_as_string(hide_password=False)
        conn = connect(url)
        init_schema(conn)
        conn.commit()
        conn.close()
        yield url


def test_truncate_cascade_of_workspaces_is_refused_while_leads_has_rows(own_database: str):
    conn = psycopg2.connect(own_database)
    conn.autocommit = True
    try:
        workspace = make_workspace(conn)
        add_lead(conn, workspace.id)
        with pytest.raises(psycopg2.errors.ForeignKeyViolation, match="still referenced"):
            query(conn, "TRUNCATE workspaces CASCADE; SELECT 1")
        assert workspace_exists(conn, workspace.id) and count_leads(conn, workspace.id) == 1
        # Emptying both at once is allowed, as it was with the foreign key.
        query(conn, "TRUNCATE leads, workspaces CASCADE; SELECT 1")
        assert query(conn, "SELECT count(*) FROM workspaces") == [(0,)]
    finally:
        conn.close()


@pytest.mark.parametrize("level", ["REPEATABLE READ", "SERIALIZABLE"])
def test_deleting_a_workspace_needs_read_committed(database_url, db, level: str):
    """In a snapshot-isolated transaction the check could miss leads committed after its
    snapshot, so it refuses; READ COMMITTED deletes the same workspace."""
    workspace = make_workspace(db)
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SET TRANSACTION ISOLATION LEVEL {level}")
            with pytest.raises(psycopg2.errors.InvalidTransactionState, match="READ COMMITTED"):
                cur.execute("DELETE FROM workspaces WHERE id = %s", (workspace.id,))
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("DELETE FROM workspaces WHERE id = %s", (workspace.id,))
        conn.commit()
    finally:
        conn.close()
    assert not workspace_exists(db, workspace.id)


# --- concurrency: the same row locks as the foreign key -----------------------------------


class Blocked:
    """Runs `statement` on its own connection in a thread: to see it wait, then finish."""

    def __init__(self, url: str, statement: str, params: Any = None) -> None:
        self.conn = psycopg2.connect(url)
        self.pid = self.conn.get_backend_pid()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(statement, params), daemon=True)
        self.thread.start()

    def _run(self, statement: str, params: Any) -> None:
        try:
            with self.conn.cursor() as cur:
                cur.execute("SET lock_timeout = '30s'")  # a bug here fails, never hangs
                cur.execute(statement, params)
            self.conn.commit()
        except BaseException as error:  # examined by the test
            self.error = error
            self.conn.rollback()

    def result(self) -> BaseException | None:
        self.thread.join(30)
        assert not self.thread.is_alive(), "the blocked statement never finished"
        self.conn.close()
        return self.error


def wait_for_lock(db, pid: int) -> None:
    """Until the backend `pid` waits on a lock (10 s at most)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = query(db, "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,))
        if rows == [("Lock",)]:
            return
        time.sleep(0.02)
    raise AssertionError(f"backend {pid} never waited on a lock")


@pytest.fixture
def opened(database_url: str) -> Iterator[Callable[[], psycopg2.extensions.connection]]:
    """Connections in a transaction (not autocommit), closed afterwards."""
    made: list[psycopg2.extensions.connection] = []

    def make() -> psycopg2.extensions.connection:
        made.append(psycopg2.connect(database_url))
        return made[-1]

    yield make
    for conn in made:
        conn.close()


@pytest.mark.parametrize(
    "change",
    [
        "DELETE FROM workspaces WHERE id = %(id)s",
        "UPDATE workspaces SET id = %(new)s WHERE id = %(id)s",
    ],
    ids=["delete", "re-key"],
)
def test_a_workspace_change_waits_for_an_open_insert_then_fails(
    database_url, db, opened, workspace: Workspace, change: str
):
    """One transaction inserts a lead and stays open; a DELETE (or re-key) of its workspace
    waits for it (it cannot slip between the check and the commit), and fails once the lead is
    committed."""
    inserter = opened()
    add_lead(inserter, workspace.id)  # not committed
    params = {"id": workspace.id, "new": missing_workspace(db)}

    # A lock_timeout shows the wait…
    impatient = opened()
    with impatient.cursor() as cur:
        cur.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg2.errors.LockNotAvailable):
            cur.execute(change, params)
    impatient.rollback()

    # …and a patient one fails after the insert commits.
    waiting = Blocked(database_url, change, params)
    wait_for_lock(db, waiting.pid)
    inserter.commit()
    error = waiting.result()
    assert isinstance(error, psycopg2.errors.ForeignKeyViolation), error
    assert workspace_exists(db, workspace.id) and count_leads(db, workspace.id) == 1


def test_a_workspace_change_goes_through_when_the_insert_rolls_back(
    database_url, db, opened, workspace: Workspace
):
    inserter = opened()
    add_lead(inserter, workspace.id)
    waiting = Blocked(database_url, "DELETE FROM workspaces WHERE id = %s", (workspace.id,))
    wait_for_lock(db, waiting.pid)
    inserter.rollback()
    assert waiting.result() is None
    assert not workspace_exists(db, workspace.id)


def test_a_copy_holds_off_a_delete_of_its_workspace(database_url, db, opened, workspace):
    """The engine's COPY (statement trigger): the same lock, taken once for the statement."""
    inserter = opened()
    rows = "".join(
        f'{workspace.id},{n}@example.com,,,,,,,,,,active,"{{}}",{{}}\n' for n in range(100)
    )
    with inserter.cursor() as cur:
        cur.copy_expert(load_sql("engine/copy_created_leads"), io.StringIO(rows))
    waiting = Blocked(database_url, "DELETE FROM workspaces WHERE id = %s", (workspace.id,))
    wait_for_lock(db, waiting.pid)
    inserter.commit()
    assert isinstance(waiting.result(), psycopg2.errors.ForeignKeyViolation)
    assert count_leads(db, workspace.id) == 100


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
def test_an_insert_waits_for_an_open_delete_of_its_workspace(
    database_url, db, opened, workspace: Workspace, outcome: str
):
    """The other order: a DELETE of the workspace is open; an INSERT naming it waits, then
    fails once the delete commits (or goes through if it rolls back)."""
    deleter = opened()
    with deleter.cursor() as cur:
        cur.execute("DELETE FROM workspaces WHERE id = %s", (workspace.id,))
    waiting = Blocked(
        database_url,
        "INSERT INTO leads (workspace_id, email) VALUES (%s, 'late@example.com')",
        (workspace.id,),
    )
    wait_for_lock(db, waiting.pid)
    getattr(deleter, outcome)()
    error = waiting.result()
    if outcome == "commit":
        assert isinstance(error, psycopg2.errors.ForeignKeyViolation), error
        assert not workspace_exists(db, workspace.id)
        assert count_leads(db, workspace.id) == 0
    else:
        assert error is None
        assert count_leads(db, workspace.id) == 1


def test_a_repeatable_read_insert_after_a_concurrent_delete_fails(db, opened, workspace: Workspace):
    """A snapshot that still sees the workspace cannot lock it once it is deleted: a
    serialization failure, as with the foreign key."""
    inserter = opened()
    with inserter.cursor() as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur.execute("SELECT count(*) FROM workspaces WHERE id = %s", (workspace.id,))
        assert cur.fetchone() == (1,)  # the snapshot is taken, and sees it
    query(db, "DELETE FROM workspaces WHERE id = %s RETURNING id", (workspace.id,))
    with pytest.raises(psycopg2.errors.SerializationFailure):
        add_lead(inserter, workspace.id)
    inserter.rollback()
    assert count_leads(db, workspace.id) == 0
