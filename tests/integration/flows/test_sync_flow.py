"""The `sync-leads` flow against two real sources, a PostgreSQL database and a DuckDB file:
incremental runs by watermark, atomicity with the leads, policies, isolation, the audit trail,
unreadable sources."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from flows.sync_flow import WarehouseSync
from leads_import.errors import PlanLimitExceededError, UnreadableSourceError
from tests.support.database import make_workspace, scratch_database
from transforms.watermark import decode_watermark, encode_watermark

PASSWORD = "s3cret-pw"
T0 = dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.UTC)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


# ------------------------------------------------------------------------------------ sources


@pytest.fixture(scope="module")
def postgres_source_url(database_url: str) -> Iterator[str]:
    """A separate database on the test server, as a source (dropped at the end). Its URL
    carries a password (the test server trusts local connections, so any one is accepted)."""
    with scratch_database(database_url, "leads_src") as url:
        url = url.set(drivername="postgresql+psycopg2")
        if not url.password:
            url = url.set(password=PASSWORD)
        yield url.render_as_string(hide_password=False)


@dataclass
class Source:
    """A source database with one table of people; `url` is what a sync is given."""

    kind: str
    url: str
    table: str

    def execute(self, statement: str, params: Any = None) -> None:
        engine = create_engine(self.url)
        try:
            with engine.begin() as conn:
                conn.execute(text(statement), params or {})
        finally:
            engine.dispose()  # a DuckDB file stays locked while a connection is open

    def create(self, extra_columns: str = "") -> None:
        json_type = "jsonb" if self.kind == "postgresql" else "json"
        self.execute(
            f"CREATE TABLE {self.table} (crm_id integer, email varchar, first_name varchar, "
            f"company varchar, title varchar, tags varchar[], custom {json_type}, "
            f"updated_at timestamptz{extra_columns})"
        )

    def add(self, *rows: dict[str, Any]) -> None:
        for row in rows:
            columns = ", ".join(row)
            values = ", ".join(f":{name}" for name in row)
            self.execute(f"INSERT INTO {self.table} ({columns}) VALUES ({values})", row)

    @property
    def query(self) -> str:
        return (
            f"SELECT crm_id, email, first_name, company, title, tags, custom AS custom_fields, "
            f"updated_at FROM {self.table}"
        )

    def sync(self, workspace: Any, **options: Any) -> WarehouseSync:
        values = {
            "name": "crm",
            "source_url": self.url,
            "query": self.query,
            "cursor_column": "updated_at",
            "workspace": workspace.slug,
            **options,
        }
        return WarehouseSync(**values)


@pytest.fixture(params=["postgresql", "duckdb"])
def source(request, tmp_path: Path) -> Source:
    table = f"people_{uuid.uuid4().hex[:8]}"
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_source_url")
    else:
        url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    made = Source(request.param, url, table)
    made.create()
    return made


# ------------------------------------------------------------------------------------ helpers


def run_sync(request: WarehouseSync) -> tuple[dict[str, Any], str]:
    """Run the flow; return its report and flow run id."""
    from flows.sync_flow import sync_leads_flow

    state = sync_leads_flow(request, return_state=True)
    report = state.result()
    return report, str(state.state_details.flow_run_id)


def failed_sync(request: WarehouseSync) -> BaseException:
    from flows.sync_flow import sync_leads_flow

    state = sync_leads_flow(request, return_state=True)
    assert state.is_failed()
    return state.result(raise_on_failure=False)


def counts(report: dict[str, Any]) -> tuple[int, ...]:
    keys = ("created", "restored", "updated", "duplicates", "errors", "total")
    return tuple(report[key] for key in keys)


def leads(db, workspace) -> dict[str, dict[str, Any]]:
    with db.cursor() as cur:
        cur.execute(
            "SELECT email, first_name, company, title, source, tags, custom_fields FROM leads "
            "WHERE workspace_id = %s AND deleted_at IS NULL ORDER BY email",
            (workspace.id,),
        )
        names = [d.name for d in cur.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}


def sync_state(db, workspace, name: str = "crm") -> tuple[Any, ...] | None:
    with db.cursor() as cur:
        cur.execute(
            "SELECT cursor_column, watermark, run_id FROM sync_state "
            "WHERE workspace_id = %s AND sync_name = %s",
            (workspace.id, name),
        )
        return cur.fetchone()


def runs(db, workspace) -> list[dict[str, Any]]:
    with db.cursor() as cur:
        cur.execute(
            "SELECT id, kind, status, source, created, duplicates, total, error, "
            "flow_run_id::text, parameters, report FROM import_runs "
            "WHERE workspace_id = %s ORDER BY id",
            (workspace.id,),
        )
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def person(crm_id: int, email: str, minutes: int | None, **fields: Any) -> dict[str, Any]:
    return {
        "crm_id": crm_id,
        "email": email,
        "updated_at": at(minutes) if minutes is not None else None,
        **fields,
    }


# -------------------------------------------------------------------------------------- tests


def test_runs_import_only_rows_beyond_the_watermark(prefect_api_url, db, source) -> None:
    workspace = make_workspace(db)
    source.add(
        person(
            1,
            "Ann@Example.com",
            1,
            first_name="Ann",
            tags=["vip", "eu"],
            custom='{"plan": "pro", "seats": 3}',
        ),
        person(2, "bob@example.com", 2, first_name="Bob"),
        person(3, "not-an-email", 3),
        person(4, "cy@example.com", 4),
        person(5, "never@example.com", None),  # a NULL cursor is never synced
    )
    request = source.sync(workspace, chunk_rows=2)

    first, first_run = run_sync(request)
    assert counts(first) == (3, 0, 0, 0, 1, 4)
    # Indexes run across the chunks (of 2 rows): the bad row is the third one read.
    assert first["errorDetails"] == [
        {"index": 2, "email": "not-an-email", "reason": "invalid email format"}
    ]
    assert first["watermark"] == encode_watermark(at(4))
    assert (first["sync"], first["cursorColumn"]) == ("crm", "updated_at")
    assert first["warnings"] == ["ignored unknown columns: crm_id"]  # not updated_at
    stored = leads(db, workspace)
    assert set(stored) == {"ann@example.com", "bob@example.com", "cy@example.com"}
    assert {lead["source"] for lead in stored.values()} == {"warehouse_sync"}
    assert stored["ann@example.com"]["tags"] == ["vip", "eu"]
    assert stored["ann@example.com"]["custom_fields"] == {"plan": "pro", "seats": 3}
    cursor_column, watermark, run_id = sync_state(db, workspace)
    assert (cursor_column, run_id) == ("updated_at", int(first["runId"]))
    assert decode_watermark(watermark) == at(4)

    # New rows with later cursors; an old row edited without moving its cursor.
    source.add(
        person(6, "dee@example.com", 5),
        person(7, "ANN@example.com", 6, first_name="Annie"),  # comes back: a duplicate
        person(8, "eve@example.com", 7),
    )
    source.execute(f"UPDATE {source.table} SET first_name = 'Robert' WHERE crm_id = 2")
    second, second_run = run_sync(request)
    assert counts(second) == (2, 0, 0, 1, 0, 3)
    assert second["duplicateEmails"] == ["ann@example.com"]
    assert second["watermark"] == encode_watermark(at(7))
    stored = leads(db, workspace)
    assert len(stored) == 5
    assert stored["bob@example.com"]["first_name"] == "Bob"  # its cursor did not move
    assert stored["ann@example.com"]["first_name"] == "Ann"  # skip: never modified

    third, third_run = run_sync(request)
    assert counts(third) == (0, 0, 0, 0, 0, 0)
    assert third["watermark"] == second["watermark"]
    assert sync_state(db, workspace)[2] == int(second["runId"])  # the state stays as it was
    assert len(leads(db, workspace)) == 5

    recorded = runs(db, workspace)
    assert [str(r["id"]) for r in recorded] == [first["runId"], second["runId"], third["runId"]]
    assert [r["flow_run_id"] for r in recorded] == [first_run, second_run, third_run]
    assert [(r["kind"], r["status"], r["source"]) for r in recorded] == [
        ("sync", "succeeded", "crm")
    ] * 3
    assert [(r["created"], r["total"]) for r in recorded] == [(3, 4), (2, 3), (0, 0)]
    for recorded_run in recorded:
        assert PASSWORD not in json.dumps(recorded_run["parameters"])
        assert recorded_run["parameters"]["name"] == "crm"
        assert recorded_run["parameters"]["query"] == source.query
    assert PASSWORD not in json.dumps(first) and PASSWORD not in first["source"]
    if source.kind == "postgresql":
        assert "***" in first["source"] and "***" in recorded[0]["parameters"]["source_url"]


def test_failed_run_advances_nothing_and_a_rerun_imports(prefect_api_url, db, source) -> None:
    workspace = make_workspace(db, contact_limit=3)
    source.add(*(person(i, f"p{i}@example.com", i) for i in range(3)))
    request = source.sync(workspace)
    first, _ = run_sync(request)
    assert counts(first) == (3, 0, 0, 0, 0, 3) and first["remainingCapacity"] == 0
    state_before, leads_before = sync_state(db, workspace), leads(db, workspace)

    source.add(person(3, "p3@example.com", 3), person(4, "p4@example.com", 4))
    error = failed_sync(request)
    assert isinstance(error, PlanLimitExceededError)
    assert (error.limit, error.active, error.would_reach) == (3, 3, 5)
    assert sync_state(db, workspace) == state_before
    assert leads(db, workspace) == leads_before
    failed = runs(db, workspace)[-1]
    assert (failed["kind"], failed["status"]) == ("sync", "failed")
    assert "plan contact limit" in failed["error"]

    with db.cursor() as cur:
        cur.execute("UPDATE workspaces SET contact_limit = 10 WHERE id = %s", (workspace.id,))
    again, _ = run_sync(request)
    assert counts(again) == (2, 0, 0, 0, 0, 2)
    assert len(leads(db, workspace)) == 5
    assert decode_watermark(sync_state(db, workspace)[1]) == at(4)


def test_on_existing_policies_update_leads(prefect_api_url, db, source) -> None:
    workspace = make_workspace(db)
    source.add(person(1, "ann@example.com", 1, first_name="Ann"))
    assert counts(run_sync(source.sync(workspace))[0]) == (1, 0, 0, 0, 0, 1)

    source.execute(
        f"UPDATE {source.table} SET first_name = 'Annie', company = 'Acme', updated_at = :t",
        {"t": at(2)},
    )
    report, _ = run_sync(source.sync(workspace, on_existing="overwrite"))
    assert counts(report) == (0, 0, 1, 0, 0, 1)
    ann = leads(db, workspace)["ann@example.com"]
    assert (ann["first_name"], ann["company"], ann["title"]) == ("Annie", "Acme", None)

    source.execute(
        f"UPDATE {source.table} SET first_name = 'Anna', title = 'CEO', updated_at = :t",
        {"t": at(3)},
    )
    report, _ = run_sync(source.sync(workspace, on_existing="fill_empty"))
    assert counts(report) == (0, 0, 1, 0, 0, 1)
    ann = leads(db, workspace)["ann@example.com"]
    assert (ann["first_name"], ann["company"], ann["title"]) == ("Annie", "Acme", "CEO")
    assert report["watermark"] == encode_watermark(at(3))


def test_watermarks_are_per_workspace_and_name(prefect_api_url, db, source) -> None:
    one, two = make_workspace(db), make_workspace(db)
    source.add(*(person(i, f"p{i}@example.com", i) for i in range(3)))

    dry, _ = run_sync(source.sync(one, dry_run=True))
    assert counts(dry) == (3, 0, 0, 0, 0, 3) and dry["dryRun"] is True
    assert dry["watermark"] is None
    assert (leads(db, one), sync_state(db, one)) == ({}, None)
    assert [(r["status"], r["kind"], r["created"]) for r in runs(db, one)] == [
        ("dry_run", "sync", 3)
    ]

    assert counts(run_sync(source.sync(one))[0]) == (3, 0, 0, 0, 0, 3)
    # Another name in the same workspace has its own watermark: it reads everything.
    assert counts(run_sync(source.sync(one, name="crm-copy"))[0]) == (0, 0, 0, 3, 0, 3)
    # The same name in another workspace too.
    assert counts(run_sync(source.sync(two))[0]) == (3, 0, 0, 0, 0, 3)

    source.add(person(9, "new@example.com", 9))
    assert counts(run_sync(source.sync(one))[0]) == (1, 0, 0, 0, 0, 1)
    assert decode_watermark(sync_state(db, one)[1]) == at(9)
    assert decode_watermark(sync_state(db, one, "crm-copy")[1]) == at(2)
    assert decode_watermark(sync_state(db, two)[1]) == at(2)
    assert "new@example.com" not in leads(db, two)

    # Another cursor column starts the sync over (every row read again, with a warning).
    report, _ = run_sync(source.sync(two, cursor_column="crm_id"))
    assert counts(report) == (1, 0, 0, 3, 0, 4) and report["watermark"] == encode_watermark(9)
    assert any("cursor column changed" in warning for warning in report["warnings"])
    assert sync_state(db, two)[0] == "crm_id"


def test_a_run_that_read_a_stale_watermark_writes_nothing(prefect_api_url, db, source) -> None:
    from flows.sync_flow import SyncStaged, SyncStart, load
    from leads_import.db.runs import KIND_SYNC, RunAudit
    from leads_import.engine import RawFiles
    from leads_import.errors import SyncConflictError

    workspace = make_workspace(db)
    source.add(person(1, "ann@example.com", 1))
    request = source.sync(workspace)
    run_sync(request)  # stores a watermark
    before = (sync_state(db, workspace), runs(db, workspace))
    # A run that started before that watermark was stored (as an overlapping run would).
    stale = SyncStart(stored=None, watermark=None)
    staged = SyncStaged(RawFiles([]), watermark=None)
    with pytest.raises(SyncConflictError, match="advanced while this run was reading"):
        load.fn(staged, request, RunAudit(kind=KIND_SYNC), stale)
    assert (sync_state(db, workspace), runs(db, workspace)) == before


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cursor_column": "changed_at"}, "the cursor column 'changed_at' is not a column"),
        ({"query": "SELEC email FROM nowhere"}, "cannot read its source"),
        ({"query": "SELECT email FROM no_such_table"}, "no_such_table"),
    ],
    ids=["unknown-cursor", "syntax", "missing-table"],
)
def test_unreadable_source_writes_nothing(
    prefect_api_url,
    db,
    source,
    change: dict[str, Any],
    message: str,
) -> None:
    workspace = make_workspace(db)
    source.add(person(1, "ann@example.com", 1))
    error = failed_sync(source.sync(workspace, **change))
    assert isinstance(error, UnreadableSourceError)
    assert "sync 'crm'" in str(error) and message in str(error)
    assert "Traceback" not in str(error) and PASSWORD not in str(error)
    assert (leads(db, workspace), sync_state(db, workspace)) == ({}, None)
    assert [(r["status"], r["created"]) for r in runs(db, workspace)] == [("failed", None)]


def test_unusable_url_is_a_clear_error(prefect_api_url, db, tmp_path: Path) -> None:
    workspace = make_workspace(db)
    for url, message in [
        ("nosuchdialect://host/db", "is not usable"),
        (f"duckdb:///{tmp_path / 'missing.duckdb'}", "no DuckDB file"),
    ]:
        request = WarehouseSync(
            name="crm", source_url=url, query="SELECT 1", workspace=workspace.slug
        )
        error = failed_sync(request)
        assert isinstance(error, UnreadableSourceError) and message in str(error)
    assert leads(db, workspace) == {}


# ------------------------------------------------------------- cursor types, without the flow

CURSOR_TYPES = {
    "n_int": ("bigint", [1, 2, 3], 10),
    "n_dec": ("numeric(12, 3)", [Decimal("1.5"), Decimal("1.75"), Decimal("2")], Decimal("2.001")),
    "n_float": ("double precision", [0.1, 0.2, 0.30000000000000004], 0.3000000000000001),
    "n_date": ("date", [dt.date(2024, 1, d) for d in (1, 2, 3)], dt.date(2024, 1, 4)),
    "n_ts": (
        "timestamp",
        [dt.datetime(2024, 1, 1, 0, 0, 0, us) for us in (1, 2, 3)],
        dt.datetime(2024, 1, 1, 0, 0, 0, 4),
    ),
    "n_tstz": ("timestamptz", [at(1), at(2), at(3)], at(3) + dt.timedelta(microseconds=1)),
    "n_text": ("varchar", ["a", "b", "c"], "d"),
}


def test_watermarks_of_every_cursor_type_bind_on_the_source(source) -> None:
    from leads_import.readers.warehouse import read_source_chunks

    columns = ", ".join(f"{name} {sql_type}" for name, (sql_type, _, _) in CURSOR_TYPES.items())
    table = f"typed_{uuid.uuid4().hex[:8]}"
    source.execute(f"CREATE TABLE {table} (email varchar, {columns})")
    for i in range(3):
        row = {name: values[i] for name, (_, values, _) in CURSOR_TYPES.items()}
        names = ", ".join(row)
        source.execute(
            f"INSERT INTO {table} (email, {names}) VALUES (:email, "
            + ", ".join(f":{n}" for n in row)
            + ")",
            {"email": f"p{i}@example.com", **row},
        )

    def read(cursor: str, watermark: Any) -> tuple[list[str], Any]:
        chunks = list(
            read_source_chunks(
                "typed", source.url, f"SELECT * FROM {table}", cursor, watermark, chunk_rows=2
            )
        )
        emails = [e for chunk in chunks for e in chunk.frame["email"].to_list()]
        return emails, chunks[-1].last_cursor if chunks else None

    for cursor, (_, values, later) in CURSOR_TYPES.items():
        emails, last = read(cursor, None)
        assert emails == ["p0@example.com", "p1@example.com", "p2@example.com"], cursor
        stored = json.loads(json.dumps(encode_watermark(last)))
        watermark = decode_watermark(stored)
        assert watermark == values[-1] and type(watermark) is type(values[-1]), cursor
        assert read(cursor, watermark) == ([], None), cursor
        source.execute(
            f"UPDATE {table} SET {cursor} = :later WHERE email = 'p0@example.com'",
            {"later": later},
        )
        assert read(cursor, watermark)[0] == ["p0@example.com"], cursor
