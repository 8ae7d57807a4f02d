"""Run the real `leads` CLI with a crash hook at one named point of an import.

    python -m tests.crash_driver POINT [LEADS ARGS...]

The hook wraps the real engine/store function, lets it run, then kills this process with
SIGKILL (kill -9), so that crash hooks stay out of production code. Points:

    read      while reading the file (the first raw chunk is read, nothing staged yet)
    lock      after the workspace lock is taken, before the lookup
    lookup    after the existing leads are looked up, before any write
    copy      after the COPY of the created leads, before the UPDATE of the restored ones
    update    after the restoring UPDATE (campaign counts included), before the run's audit row
    record    after the audit row is written, before commit
    commit    just before COMMIT (the connection's commit is about to be sent)
    random:S  S seconds (a float) after the workspace lock is taken, wherever the import is

`gate` does not kill either: just before the workspace lock is asked for, it creates
`$LEADS_CRASH_PAUSE_DIR/ready` and waits for `$LEADS_CRASH_PAUSE_DIR/go`, so that a test can
start this import at the same moment as others (the concurrency test).

`pause:POINT` does not kill: at POINT (first time only) it writes the backend pid of the
import's connection to `$LEADS_CRASH_PAUSE_DIR/pid` and waits until `$LEADS_CRASH_PAUSE_DIR/go`
exists, so that a test can terminate that backend or restart the server meanwhile.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extensions

PAUSE_DIR_ENV = "LEADS_CRASH_PAUSE_DIR"
PAUSE_TIMEOUT_S = 60
POINTS = ("read", "lock", "lookup", "copy", "update", "record", "commit")

_state = {"recorded": False, "fired": False}


def die() -> None:
    """kill -9 this process: no exception handler, no atexit, no rollback from the client."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _pause(conn: psycopg2.extensions.connection) -> None:
    folder = Path(os.environ[PAUSE_DIR_ENV])
    (folder / "pid.tmp").write_text(str(conn.get_backend_pid()))
    (folder / "pid.tmp").rename(folder / "pid")
    _wait_for_go(folder)


def _after(target: Any, name: str, action: Callable[[tuple[Any, ...]], None]) -> None:
    """Replace `target.name` with a wrapper running the real function, then `action(args)`."""
    real = getattr(target, name)

    @functools.wraps(real)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        action(args)
        return result

    setattr(target, name, wrapper)


def _wait_for_go(folder: Path) -> None:
    deadline = time.monotonic() + PAUSE_TIMEOUT_S
    while not (folder / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.005)


def _gate_before_lock(workspaces: Any) -> None:
    real = workspaces.lock_workspace

    @functools.wraps(real)
    def lock_workspace(*args: Any, **kwargs: Any) -> Any:
        if not _state["fired"]:
            _state["fired"] = True
            folder = Path(os.environ[PAUSE_DIR_ENV])
            (folder / "ready").touch()
            _wait_for_go(folder)
        return real(*args, **kwargs)

    workspaces.lock_workspace = lock_workspace


def _kill_while_reading() -> None:
    import flows.import_flow as import_flow

    real_open = import_flow.open_source

    def open_source(*args: Any, **kwargs: Any) -> Any:
        opened = real_open(*args, **kwargs)

        def chunks() -> Iterator[Any]:
            for _chunk in opened.chunks():
                die()
            yield from ()

        return dataclasses.replace(opened, chunks=chunks)

    import_flow.open_source = open_source


def _install_commit_hook(on_commit: Callable[[psycopg2.extensions.connection], None]) -> None:
    """Connections whose commit runs `on_commit` first, once the import's audit row is written."""
    import leads_import.db.connection as database

    class HookedConnection(psycopg2.extensions.connection):
        def commit(self) -> None:
            if _state["recorded"] and not _state["fired"]:
                _state["fired"] = True
                on_commit(self)
            super().commit()

    def connect(url: str | None = None) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(
            url or database.database_url(),
            application_name="leads-import",
            connection_factory=HookedConnection,
        )
        conn.autocommit = False
        return conn

    database.connect = connect


def install(point: str) -> None:
    """Arm the hook for POINT (see the module docstring)."""
    import leads_import.db.leads as store
    import leads_import.db.runs as runs
    import leads_import.db.workspaces as workspaces

    if point == "gate":
        _gate_before_lock(workspaces)
        return
    pause = point.startswith("pause:")
    name = point.removeprefix("pause:")

    def fire(args: tuple[Any, ...]) -> None:
        if _state["fired"]:
            return
        _state["fired"] = True
        if pause:
            _pause(args[0].connection)
        else:
            die()

    if name.startswith("random:"):
        delay = float(name.removeprefix("random:"))

        def start_timer(args: tuple[Any, ...]) -> None:
            if not _state["fired"]:
                _state["fired"] = True
                threading.Timer(delay, die).start()

        _after(workspaces, "lock_workspace", start_timer)
        return
    if name == "read":
        _kill_while_reading()
        return
    if name == "commit":
        _after(runs, "record_run", lambda args: _state.update(recorded=True))
        _install_commit_hook(_pause if pause else lambda conn: die())
        return
    targets = {
        "lock": (workspaces, "lock_workspace"),
        "lookup": (store, "fetch_existing"),
        "copy": (store, "insert_created"),
        "update": (store, "restore_leads"),
        "record": (runs, "record_run"),
    }
    if name not in targets:
        raise SystemExit(f"unknown crash point {point!r}; one of {', '.join(POINTS)}, random:S")
    _after(*targets[name], fire)


def main(argv: list[str]) -> int:
    """Arm the hook named by argv[0], then run `leads` with the rest of argv."""
    install(argv[0])
    from leads_import.cli.main import main as leads

    return leads(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
