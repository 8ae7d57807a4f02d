"""`leads import` through the background services, as a user runs it: no PREFECT_API_URL, a
fresh data directory; the command starts the local Prefect server and the import runner once,
later commands reuse them, `leads stop` stops everything. Every test stops what it started."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from leads_import.cli import protocol
from leads_import.cli.services import (
    SERVER_MODULE,
    Layout,
    alive,
    connect,
    read_state,
    server_release,
    write_state,
)
from tests.support.database import make_workspace
from tests.support.paths import DATA, REPO

TIMEOUT = 300


@dataclass
class Services:
    """A data directory of its own and the environment of the commands using it."""

    data: Path
    env: dict[str, str]

    @property
    def layout(self) -> Layout:
        return Layout(self.data)

    def leads(
        self, *args: str, cwd: Path = REPO, stdin: bytes | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "leads_import.cli", *args],
            env={**self.env, **env},
            cwd=cwd,
            input=stdin.decode() if stdin is not None else None,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    def server(self) -> dict:
        return read_state(self.layout.server_state) or {}

    def runners(self) -> list[dict]:
        return [read_state(p) or {} for p in self.layout.runner_states()]

    def pids(self) -> list[int]:
        return [s["pid"] for s in [self.server(), *self.runners()] if s.get("pid")]

    def api(self, path: str, body: dict | None = None) -> object:
        url = f"{self.server()['url']}/api{path}"
        response = httpx.post(url, json=body or {}) if body is not None else httpx.get(url)
        response.raise_for_status()
        return response.json()

    def flow_runs(self) -> int:
        return int(self.api("/flow_runs/count", {}))  # type: ignore[call-overload]

    def stop(self) -> subprocess.CompletedProcess[str]:
        pids = self.pids()
        done = self.leads("stop")
        for pid in pids:  # whatever happened, leave no process behind
            if alive(pid):
                os.kill(pid, 9)
        return done


def _environment(data: Path, database_url: str | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PREFECT_") and k not in ("LEADS_RUNNER", "DATABASE_URL")
    }
    env["LEADS_DATA_DIR"] = str(data)
    env["PREFECT_HOME"] = str(data / "user-prefect-home")  # no profile of the user applies
    env["LEADS_RUNNER_IDLE_SECONDS"] = "600"  # a runner left by a crashed test exits soon
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


@pytest.fixture(scope="module")
def services(tmp_path_factory, database_url: str) -> Iterator[Services]:
    """Background services in a fresh data directory, on the tests' database."""
    data = tmp_path_factory.mktemp("bg")
    started = Services(data, _environment(data, database_url))
    try:
        yield started
    finally:
        started.stop()


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def _flow_run_id(stderr: str) -> str:
    (line,) = [line for line in stderr.splitlines() if line.startswith("Prefect UI: ")]
    return line.rsplit("/", 1)[-1]


def test_first_import_starts_the_services_and_the_next_reuse_them(services: Services, db) -> None:
    workspace = make_workspace(db)
    args = ["import", str(DATA / "leads.csv"), "--workspace", workspace.slug, "--json"]
    began = time.monotonic()
    first = services.leads(*args)
    first_seconds = time.monotonic() - began
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)  # exactly one JSON document on stdout
    assert (report["created"], report["source"]) == (2, str(DATA / "leads.csv"))
    assert "starting the local Prefect server" in first.stderr
    server, (runner,) = services.server(), services.runners()
    assert alive(server["pid"], SERVER_MODULE) and alive(runner["pid"])
    assert server["url"].startswith("http://127.0.0.1:")
    assert f"Prefect UI: {server['url']}/runs/flow-run/" in first.stderr

    began = time.monotonic()
    second = services.leads(*args[:-1], "--json", "--dry-run")
    second_seconds = time.monotonic() - began
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["duplicates"] == 3
    assert "starting the local Prefect server" not in second.stderr
    assert "starting the import runner" not in second.stderr
    assert [r["pid"] for r in services.runners()] == [runner["pid"]]  # the same warm runner
    assert services.server()["pid"] == server["pid"]
    assert second_seconds < first_seconds

    # Both are flow runs of the background server, with their artifacts.
    for done in (first, second):
        run = services.api(f"/flow_runs/{_flow_run_id(done.stderr)}")
        assert run["state_type"] == "COMPLETED"  # type: ignore[index]
        assert run["parameters"]["request"]["workspace"] == workspace.slug  # type: ignore[index]
        artifacts = services.api(
            "/artifacts/filter",
            {"artifacts": {"flow_run_id": {"any_": [_flow_run_id(done.stderr)]}}},
        )
        assert {a["type"] for a in artifacts} >= {"table", "markdown"}  # type: ignore[union-attr]


def test_request_errors_answer_without_a_flow_run(services: Services, db, tmp_path) -> None:
    workspace = make_workspace(db)
    assert services.leads("import", str(DATA / "leads.csv"), "--dry-run").returncode == 0
    before = services.flow_runs()
    cases = [
        (["missing.csv", "--workspace", workspace.slug], "unreadable_source"),
        ([str(DATA / "leads.csv"), "--workspace", "no-such-workspace"], "workspace_not_found"),
        ([str(DATA / "no_email_column.csv"), "--workspace", workspace.slug], "no_email_column"),
    ]
    for args, code in cases:
        done = services.leads("import", *args, "--json", cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert json.loads(done.stdout)["code"] == code
        assert len(_error_lines(done.stderr)) == 1, done.stderr
        assert "Prefect UI" not in done.stderr
    assert services.flow_runs() == before


def _request_errors(db) -> list[tuple[list[str], str, int, str]]:
    """(arguments, code, exit code, message) of request-level errors, answered before a flow
    run (a CSV header, a workspace) or by the flow run (a JSON file's keys, the plan limit)."""
    workspace, limited = make_workspace(db), make_workspace(db, contact_limit=1)
    no_email = "no email column among the headers ('name', 'phone')"
    return [
        ([str(DATA / "no_email_column.csv"), "--workspace", workspace.slug], "no_email_column", 2,
         no_email),
        ([str(DATA / "no_email_column.json"), "--workspace", workspace.slug], "no_email_column", 2,
         no_email),
        ([str(DATA / "leads.csv"), "--workspace", "nosuch"], "workspace_not_found", 2,
         "unknown workspace 'nosuch'"),
        ([str(DATA / "leads.csv"), "--workspace", limited.slug], "plan_limit_exceeded", 3,
         "plan contact limit exceeded: the limit is 1, the workspace has 0 active leads and "
         "this import would reach 2"),
    ]  # fmt: skip


def _said_once(done: subprocess.CompletedProcess[str], message: str) -> None:
    """The error is told once, as `error: …` on stderr, with no traceback or Prefect line."""
    assert done.stderr.count(message) == 1, done.stderr
    (line,) = _error_lines(done.stderr)
    assert line.startswith(f"error: {message}"), done.stderr
    for noise in ("Traceback", "ERROR", "Finished in state", "Encountered exception"):
        assert noise not in done.stderr, done.stderr


def test_each_error_is_said_once(services: Services, db) -> None:
    for args, code, exit_code, message in _request_errors(db):
        done = services.leads("import", *args)
        assert done.returncode == exit_code, done.stderr
        _said_once(done, message)
        assert done.stdout == ""
        answered = services.leads("import", *args, "--json")
        assert answered.returncode == exit_code, answered.stderr
        _said_once(answered, message)
        assert json.loads(answered.stdout)["error"].startswith(message)  # one document
        assert json.loads(answered.stdout)["code"] == code
    # The failed run's own log lines still reach the Prefect server (the run's logs in the UI),
    # sent in the background by Prefect's API log handler.
    query = {"logs": {"flow_run_id": {"any_": [_flow_run_id(answered.stderr)]}}}
    deadline, failed = time.monotonic() + 30, []
    while not any("PlanLimitExceededError" in line for line in failed):
        assert time.monotonic() < deadline, failed
        time.sleep(0.2)
        logs = services.api("/logs/filter", query)
        failed = [log["message"] for log in logs if log["level"] >= 40]  # type: ignore[union-attr]


def test_each_error_is_said_once_without_the_runner(services: Services, db) -> None:
    for args, _, exit_code, message in _request_errors(db):
        done = services.leads("import", *args, LEADS_RUNNER="off")
        assert done.returncode == exit_code, done.stderr
        _said_once(done, message)


def test_progress_off_a_terminal_is_a_few_plain_lines_and_quiet_is_none(
    services: Services, db
) -> None:
    workspace = make_workspace(db)
    args = ["import", str(DATA / "leads.csv"), "--workspace", workspace.slug]
    done = services.leads(*args)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[-1].startswith("Prefect UI: ") and len(lines) <= 4, done.stderr
    assert not re.search(r"[━\x1b\r]|INFO|Beginning flow run", done.stderr), done.stderr
    quiet = services.leads(*args, "--dry-run", "--quiet")
    assert quiet.returncode == 0, quiet.stderr
    assert [line for line in quiet.stderr.splitlines() if not line.startswith("Prefect UI: ")] == []


def test_progress_on_a_terminal_draws_bars(services: Services, db) -> None:
    workspace = make_workspace(db)
    primary, secondary = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "leads_import.cli", "import", str(DATA / "leads.csv"),
             "--workspace", workspace.slug],
            env={**services.env, "COLUMNS": "120"}, stdout=subprocess.PIPE, stderr=secondary,
            stdin=subprocess.DEVNULL, timeout=TIMEOUT, check=False,
        )  # fmt: skip
        os.close(secondary)
        drawn = _read_all(primary)
    finally:
        os.close(primary)
    assert done.returncode == 0, drawn
    assert re.search(r"read +━+ 100%  (\d+)/\1 B  6 rows", drawn), drawn
    assert re.search(r"written +━+ 100%  6/~6 rows", drawn), drawn


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # the terminal's other end is closed
            break
        if not data:
            break
        chunks.append(data)
    drawn = b"".join(chunks).decode(errors="replace")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn)  # the colours and cursor moves


def test_relative_paths_and_standard_input(services: Services, db, tmp_path) -> None:
    workspace = make_workspace(db)
    (tmp_path / "in.csv").write_bytes((DATA / "leads.csv").read_bytes())
    done = services.leads(
        "import", "in.csv", "--workspace", workspace.slug, "--outcomes", "out.csv", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert 'Imported in.csv into workspace "' in done.stdout
    assert (tmp_path / "out.csv").read_text().startswith("index,line,email,outcome,reason")

    piped = services.leads(
        "import", "-", "--format", "ndjson", "--workspace", workspace.slug, "--json",
        stdin=(DATA / "leads.ndjson").read_bytes(),
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["source"] == "-"
    assert list(services.layout.spool.iterdir()) == []  # the spooled input is gone


def test_column_mapping_reaches_the_runner(services: Services, db, tmp_path) -> None:
    """--map and --unknown-columns travel to the runner, whose header check (before any flow
    run) maps like the flow: the email column here exists only through --map."""
    workspace = make_workspace(db)
    source = tmp_path / "contacts.csv"
    source.write_text("Mail Adresse,Vorname,Branche\nann@example.com,Ann,Retail\n")
    before = services.flow_runs()
    refused = services.leads("import", str(source), "--workspace", workspace.slug, "--json")
    assert refused.returncode == 2 and json.loads(refused.stdout)["code"] == "no_email_column"
    assert services.flow_runs() == before  # answered by the runner's check, no flow run
    args = ["--map", "Mail Adresse=email", "--map", "Vorname=firstName"]
    done = services.leads(
        "import", str(source), "--workspace", workspace.slug, *args,
        "--unknown-columns", "keep", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["created"] == 1
    assert report["columns"] == {
        "Mail Adresse": "email",
        "Vorname": "firstName",
        "Branche": "customFields.Branche",
    }
    run = services.api(f"/flow_runs/{_flow_run_id(done.stderr)}")
    assert run["parameters"]["request"]["map"] == {  # type: ignore[index]
        "Mail Adresse": "email",
        "Vorname": "firstName",
    }
    artifacts = services.api(
        "/artifacts/filter",
        {"artifacts": {"flow_run_id": {"any_": [_flow_run_id(done.stderr)]}}},
    )
    keys = {a["key"] for a in artifacts}  # type: ignore[union-attr]
    assert f"leads-columns-{workspace.slug}" in keys


def test_a_runner_of_other_code_hands_over_to_a_new_one(services: Services) -> None:
    assert services.leads("import", str(DATA / "leads.csv"), "--dry-run").returncode == 0
    (old,) = services.runners()
    conn = connect(Path(old["socket"]))
    assert conn is not None
    with conn:
        protocol.send(conn, {"op": "import", "fingerprint": "other code", "request": {}})
        with conn.makefile("rb") as answers:
            assert next(protocol.messages(answers)) == {"type": "stale"}
    done = services.leads("import", str(DATA / "leads.csv"), "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    (new,) = [r for r in services.runners() if alive(r["pid"])]
    assert new["pid"] != old["pid"]
    deadline = time.monotonic() + 30
    while alive(old["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(old["pid"])  # it exited once its runs were done


def test_a_server_of_an_earlier_release_is_restarted(services: Services) -> None:
    assert services.leads("import", str(DATA / "leads.csv"), "--dry-run").returncode == 0
    old = services.server()
    assert old["version"] == server_release()
    write_state(services.layout.server_state, {**old, "version": "3.0.0+launcher-of-before"})
    # An upgrade changes the code: the command finds its runner stale and checks the services.
    for runner in services.runners():
        if alive(runner["pid"]):
            os.kill(runner["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 30
    while any(alive(r["pid"]) for r in services.runners()) and time.monotonic() < deadline:
        time.sleep(0.1)
    done = services.leads("import", str(DATA / "leads.csv"), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "restarting the local Prefect server (Prefect or leads was upgraded)" in done.stderr
    new = services.server()
    assert new["pid"] != old["pid"] and new["version"] == server_release()
    assert not alive(old["pid"])


def test_one_runner_per_database_and_few_of_them(services: Services, database_url: str) -> None:
    separator = "&" if "?" in database_url else "?"
    for name in ("a", "b", "c"):
        url = f"{database_url}{separator}application_name={name}"
        done = services.leads("import", str(DATA / "leads.csv"), "--dry-run", DATABASE_URL=url)
        assert done.returncode == 0, done.stderr
    keys = {r["key"] for r in services.runners() if alive(r["pid"])}
    assert len(keys) == 3  # MAX_RUNNERS: the oldest idle one was stopped


def test_stop_stops_every_process(services: Services) -> None:
    assert services.leads("import", str(DATA / "leads.csv"), "--dry-run").returncode == 0
    pids = services.pids()
    assert len(pids) == 4  # the server and three runners
    done = services.leads("stop")
    assert done.returncode == 0, done.stderr
    assert "import runner stopped" in done.stdout and "Prefect server stopped" in done.stdout
    assert not any(alive(pid) for pid in pids)
    assert services.pids() == [] and list(services.layout.services.glob("*.sock")) == []
    status = services.leads("status")
    assert "Prefect server   not running" in status.stdout, status.stdout


def test_user_prefect_api_url_wins(prefect_api_url: str, database_url: str, db, tmp_path) -> None:
    services = Services(tmp_path, _environment(tmp_path, database_url))
    services.env["PREFECT_API_URL"] = prefect_api_url
    try:
        done = services.leads("import", str(DATA / "leads.csv"), "--dry-run", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["created"] == 2
        assert services.pids() == []  # no background server, no runner
        assert not services.layout.server_state.exists()
    finally:
        services.stop()


def test_no_database_url_uses_the_embedded_postgres(tmp_path_factory) -> None:
    data = tmp_path_factory.mktemp("embedded")
    services = Services(data, _environment(data, None))
    try:
        done = services.leads("import", str(DATA / "leads.csv"), "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["created"] == 2
        assert (data / "pgdata" / "postmaster.pid").exists()
    finally:
        stopped = services.stop()
    assert "embedded PostgreSQL stopped" in stopped.stdout, stopped.stdout + stopped.stderr
    assert not (data / "pgdata" / "postmaster.pid").exists()
    assert services.pids() == []
