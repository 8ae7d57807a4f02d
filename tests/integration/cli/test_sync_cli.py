"""`leads sync run|state|reset` against real sources (a DuckDB file, a PostgreSQL database on
the test server), the real `sync-leads` flow and the test database: runs, watermarks, the
confirmation, and the request-level errors (one line, exit 2, no traceback)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from leads_import.cli import syncs
from leads_import.cli.main import main
from tests.support.database import make_workspace, query, scratch_database
from tests.support.paths import REPO

T0 = dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.UTC)


def execute(url: str, statement: str, params: dict[str, Any] | None = None) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement), params or {})
    finally:
        engine.dispose()  # a DuckDB file stays locked while a connection is open


def add_people(url: str, first: int, count: int) -> None:
    for i in range(first, first + count):
        execute(
            url,
            "INSERT INTO people VALUES (:email, :name, :at)",
            {"email": f"p{i}@example.com", "name": f"P{i}", "at": T0 + dt.timedelta(minutes=i)},
        )


@pytest.fixture
def duckdb_url(tmp_path: Path) -> str:
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    execute(url, "CREATE TABLE people (email varchar, first_name varchar, updated_at timestamptz)")
    return url


@pytest.fixture
def postgresql_url(database_url: str) -> Iterator[str]:
    with scratch_database(database_url, "leads_src") as url:
        url = url.set(drivername="postgresql+psycopg2")
        rendered = url.render_as_string(hide_password=False)
        execute(
            rendered, "CREATE TABLE people (email text, first_name text, updated_at timestamptz)"
        )
        yield rendered


QUERY = "SELECT email, first_name, updated_at FROM people"


def sync_run(url: str, workspace: str, *extra: str, name: str = "crm") -> list[str]:
    return [
        "sync", "run", name, "--source-url", url, "--query", QUERY,
        "--cursor-column", "updated_at", "--workspace", workspace, *extra,
    ]  # fmt: skip


def leads_of(db, workspace) -> list[str]:
    rows = query(
        db, "SELECT email FROM leads WHERE workspace_id = %s ORDER BY email", (workspace.id,)
    )
    return [email for (email,) in rows]


@pytest.mark.parametrize("source", ["duckdb", "postgresql"])
def test_run_state_reset_round_trip(prefect_api_url, db, capsys, request, source) -> None:
    url = request.getfixturevalue(f"{source}_url")
    workspace = make_workspace(db)
    add_people(url, 0, 3)

    assert main([*sync_run(url, workspace.slug), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["created"], report["sync"], report["cursorColumn"]) == (3, "crm", "updated_at")
    assert len(leads_of(db, workspace)) == 3

    add_people(url, 3, 1)
    assert main(sync_run(url, workspace.slug)) == 0  # the text summary
    out = capsys.readouterr().out
    assert f'Imported sync crm into workspace "{workspace.slug}"' in out
    assert "created" in out and "watermark  updated_at = 2024-05-01T08:03:00" in out
    assert leads_of(db, workspace)[-1] == "p3@example.com"

    assert main(["sync", "state", "--workspace", workspace.slug, "--json"]) == 0
    (state,) = json.loads(capsys.readouterr().out)
    assert (state["workspace"], state["name"], state["cursorColumn"]) == (
        workspace.slug,
        "crm",
        "updated_at",
    )
    assert state["value"].startswith("2024-05-01T08:03:00")
    assert main(["sync", "state", "--workspace", workspace.slug]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["workspace", "name", "cursor", "column", "watermark"]
    assert table[1].split()[:3] == [workspace.slug, "crm", "updated_at"]

    assert main(["sync", "reset", "crm", "--workspace", workspace.slug, "--yes"]) == 0
    assert "watermark forgotten" in capsys.readouterr().out
    assert main(["sync", "state", "--workspace", workspace.slug]) == 0
    assert capsys.readouterr().out == "no syncs yet\n"
    # Forgotten: the next run reads every row again (all duplicates now).
    assert main([*sync_run(url, workspace.slug), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["created"], again["duplicates"]) == (0, 4)


def test_options_map_onto_the_flow_parameters(prefect_api_url, db, capsys, duckdb_url) -> None:
    workspace = make_workspace(db)
    add_people(duckdb_url, 0, 2)
    extra = ["--dry-run", "--no-restore", "--on-existing", "overwrite", "--chunk-rows", "1"]
    assert main([*sync_run(duckdb_url, workspace.slug), *extra, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dryRun"] is True and report["created"] == 2
    assert leads_of(db, workspace) == []
    (parameters, status), *_ = query(
        db, "SELECT parameters, status FROM import_runs WHERE id = %s", (report["runId"],)
    )
    assert status == "dry_run"
    assert parameters["restore_soft_deleted"] is False
    assert (parameters["on_existing"], parameters["chunk_rows"]) == ("overwrite", 1)
    assert parameters["cursor_column"] == "updated_at" and parameters["dry_run"] is True
    assert main(["sync", "state", "--workspace", workspace.slug]) == 0
    assert capsys.readouterr().out == "no syncs yet\n"  # a dry run keeps no watermark


def test_columns_are_mapped_as_for_a_file(prefect_api_url, db, capsys, duckdb_url) -> None:
    workspace = make_workspace(db)
    add_people(duckdb_url, 0, 2)
    extra = ["--map", "first_name=lastName", "--unknown-columns", "keep", "--json"]
    assert main([*sync_run(duckdb_url, workspace.slug), *extra]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["columns"]["first_name"] == "lastName"
    rows = query(
        db,
        "SELECT last_name, first_name FROM leads WHERE workspace_id = %s ORDER BY email",
        (workspace.id,),
    )
    assert rows == [("P0", None), ("P1", None)]
    bad = main([*sync_run(duckdb_url, workspace.slug), "--map", "first_name=nickname"])
    assert "nickname" in error_line(capsys, 2, bad)


def error_line(capsys, code: int, got: int) -> str:
    """The one error line of a command run here (these fail before any flow run)."""
    err = capsys.readouterr().err
    assert got == code, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    return errors[0]


def test_request_errors_are_one_line_exit_2(prefect_api_url, db, capsys, duckdb_url) -> None:
    workspace = make_workspace(db)
    add_people(duckdb_url, 0, 1)
    unknown = main(sync_run(duckdb_url, "nosuch-workspace"))
    assert error_line(capsys, 2, unknown) == "error: unknown workspace 'nosuch-workspace'"
    bad_url = main(sync_run("nodb://what", workspace.slug))
    assert "source URL nodb://what is not usable" in error_line(capsys, 2, bad_url)
    no_file = main(sync_run("duckdb:////nowhere/x.duckdb", workspace.slug))
    assert "no DuckDB file at /nowhere/x.duckdb" in error_line(capsys, 2, no_file)
    reset = main(["sync", "reset", "nosuch", "--workspace", workspace.slug, "--yes"])
    assert "no sync 'nosuch' in workspace" in error_line(capsys, 2, reset)
    state = main(["sync", "state", "--workspace", "nosuch-workspace"])
    assert error_line(capsys, 2, state) == "error: unknown workspace 'nosuch-workspace'"

    # Not a terminal (standard input under pytest): reset refuses without --yes.
    assert main(sync_run(duckdb_url, workspace.slug)) == 0
    capsys.readouterr()
    refused = main(["sync", "reset", "crm", "--workspace", workspace.slug])
    assert "standard input is not a terminal (pass --yes)" in error_line(capsys, 2, refused)
    assert syncs.states(workspace.slug) != []


def test_a_query_the_source_refuses_is_one_line(prefect_api_url, db, duckdb_url) -> None:
    """In a process of its own, as a person runs it: the flow run fails, and stderr holds
    the command's one error line, none of Prefect's ERROR lines or tracebacks."""
    workspace = make_workspace(db)
    bad_query = sync_run(duckdb_url, workspace.slug)
    bad_query[bad_query.index(QUERY)] = "SELECT email FROM nosuch_table"
    env = {**os.environ, "PREFECT_API_URL": prefect_api_url}
    done = subprocess.run(
        [sys.executable, "-m", "leads_import.cli", *bad_query, "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=600,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "ERROR" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    assert "sync 'crm' cannot read its source" in errors[0] and "nosuch_table" in errors[0]
    assert json.loads(done.stdout)["code"] == "unreadable_source"
    # The failed run is recorded like any other.
    assert query(db, "SELECT status FROM import_runs WHERE workspace_id = %s", (workspace.id,)) == [
        ("failed",)
    ]


def test_reset_asks_first(prefect_api_url, db, capsys, duckdb_url, monkeypatch) -> None:
    workspace = make_workspace(db)
    add_people(duckdb_url, 0, 1)
    assert main(sync_run(duckdb_url, workspace.slug)) == 0
    capsys.readouterr()
    reset = ["sync", "reset", "crm", "--workspace", workspace.slug]

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    asked: list[str] = []

    def answer(reply: str) -> Any:
        def _input(question: str) -> str:
            asked.append(question)
            return reply

        return _input

    monkeypatch.setattr("builtins.input", answer("n"))
    assert main(reset) == 2
    assert "error: not reset" in capsys.readouterr().err
    assert "updated_at = 2024-05-01T08:00:00" in asked[0] and asked[0].endswith("[y/N] ")
    assert syncs.states(workspace.slug) != []

    monkeypatch.setattr("builtins.input", answer("y"))
    assert main(reset) == 0
    assert syncs.states(workspace.slug) == []
