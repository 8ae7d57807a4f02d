"""The pieces of the background services that need no running service: the seed of the Prefect
server's database, the Prefect server the user configured, the runner's key and fingerprint,
per-run progress."""

from __future__ import annotations

import re
import sqlite3
import threading
from pathlib import Path

import pytest

from leads_import import progress
from leads_import.cli import prefect_server, services


def _alembic_head() -> str:
    revisions, parents = set(), set()
    for path in prefect_server._migrations().glob("*.py"):
        text = path.read_text(encoding="utf-8")
        found = re.search(r"^revision\s*=\s*[\"'](\w+)[\"']", text, re.MULTILINE)
        parent = re.search(r"^down_revision\s*=\s*[\"'](\w+)[\"']", text, re.MULTILINE)
        if found:
            revisions.add(found.group(1))
        if parent:
            parents.add(parent.group(1))
    (head,) = revisions - parents
    return head


def test_the_prefect_database_seed_is_current() -> None:
    assert prefect_server.schema_revision() == _alembic_head(), (
        "Prefect was upgraded: regenerate the seed of the background Prefect server with "
        "`uv run python -m leads_import.cli.prefect_server --write-schema`"
    )


def test_the_seed_makes_a_database_at_that_revision(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PREFECT_API_DATABASE_CONNECTION_URL", raising=False)
    monkeypatch.delenv("PREFECT_SERVER_DATABASE_CONNECTION_URL", raising=False)
    assert prefect_server.seed_database(tmp_path)
    assert not prefect_server.seed_database(tmp_path)  # an existing database is left alone
    conn = sqlite3.connect(tmp_path / "prefect.db")
    try:
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    finally:
        conn.close()
    assert revision == prefect_server.schema_revision()
    assert {"flow_run", "task_run", "artifact", "log"} <= tables


def test_a_seed_from_an_unknown_prefect_is_not_used(tmp_path: Path, monkeypatch) -> None:
    seed = tmp_path / "seed.sql"
    seed.write_text("-- alembic revision ffffffffffff\nCREATE TABLE x (a);\n")
    monkeypatch.setattr(prefect_server, "SCHEMA", seed)
    assert not prefect_server.seed_database(tmp_path)
    assert not (tmp_path / "prefect.db").exists()


@pytest.mark.parametrize(
    ("files", "environ", "expected"),
    [
        ({}, {"PREFECT_API_URL": "http://env:1/api"}, "http://env:1/api"),
        ({".env": "X=1\nPREFECT_API_URL='http://dotenv:1/api'\n"}, {}, "http://dotenv:1/api"),
        ({"prefect.toml": '[api]\nurl = "http://toml:1/api"\n'}, {}, "http://toml:1/api"),
        (
            {"pyproject.toml": '[tool.prefect.api]\nurl = "http://py:1/api"\n'},
            {},
            "http://py:1/api",
        ),
        (
            {
                "home/profiles.toml": 'active = "work"\n[profiles.work]\n'
                'PREFECT_API_URL = "http://profile:1/api"\n[profiles.default]\n'
            },
            {},
            "http://profile:1/api",
        ),
        ({"home/profiles.toml": 'active = "default"\n[profiles.default]\n'}, {}, None),
        ({}, {}, None),
    ],
)
def test_the_prefect_server_the_user_configured(
    tmp_path: Path, monkeypatch, files: dict[str, str], environ: dict[str, str], expected
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    environ = {"PREFECT_HOME": str(tmp_path / "home"), **environ}
    assert services.user_prefect_api_url(environ) == expected


def test_runner_key_follows_the_database_and_data_directory(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LEADS_DATA_DIR", str(tmp_path))
    base = services.runner_key({"DATABASE_URL": "postgresql://a/b"})
    assert services.runner_key({"DATABASE_URL": "postgresql://a/b"}) == base
    assert services.runner_key({"DATABASE_URL": "postgresql://a/c"}) != base
    assert services.runner_key({"DATABASE_URL": "postgresql://a/b", "PGHOST": "x"}) != base
    monkeypatch.setenv("LEADS_DATA_DIR", str(tmp_path / "other"))
    assert services.runner_key({"DATABASE_URL": "postgresql://a/b"}) != base


def test_code_fingerprint_follows_the_code(monkeypatch, tmp_path: Path) -> None:
    first = services.code_fingerprint()
    assert services.code_fingerprint() == first
    module = tmp_path / "extra.py"
    module.write_text("x = 1\n")
    monkeypatch.setattr(services, "_code_roots", lambda: [tmp_path])
    before = services.code_fingerprint()
    module.write_text("x = 22\n")
    assert services.code_fingerprint() != before


def test_long_data_directories_get_a_short_socket(tmp_path: Path) -> None:
    short = services.Layout(tmp_path).runner_socket("k")
    assert short.parent == tmp_path / "services"
    deep = services.Layout(tmp_path / ("d" * 120)).runner_socket("k")
    assert len(str(deep)) <= 100 and deep.name == "runner-k.sock"


class _Counter:
    def __init__(self) -> None:
        self.rows = 0

    def advance(self, stage: str, rows: int) -> None:
        self.rows += rows

    def set_total(self, rows: int) -> None:
        pass


def test_progress_is_per_run() -> None:
    first, second = _Counter(), _Counter()
    seen: dict[str, object] = {}

    def run(name: str, counter: _Counter, ready: threading.Barrier) -> None:
        with progress.reporting(counter):
            ready.wait()
            progress.reporter().advance("read", 5)
            seen[name] = progress.reporter()
            ready.wait()

    ready = threading.Barrier(2)
    threads = [
        threading.Thread(target=run, args=("a", first, ready)),
        threading.Thread(target=run, args=("b", second, ready)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (first.rows, second.rows) == (5, 5)
    assert seen == {"a": first, "b": second}


def test_a_worker_thread_reports_to_the_only_run() -> None:
    counter = _Counter()
    with progress.reporting(counter):
        worker = threading.Thread(target=lambda: progress.reporter().advance("written", 3))
        worker.start()
        worker.join()
    assert counter.rows == 3
    progress.reporter().advance("written", 1)  # no run: the silent default
    assert counter.rows == 3
