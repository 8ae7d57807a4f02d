"""`python -m leads_import.cli.runner`: the import runner, a warm process that runs each
`leads import` as an `import-leads` flow run against the background Prefect server.

It has Prefect, Polars and the flows imported, keeps its database pool, and listens on a Unix
socket (mode 0600) in the data directory; `leads import` starts it when none answers
(services.ensure_services), with the environment it serves. Each request runs in its own
thread: the checks that need no data first, then the flow run; progress and Prefect's log lines
of that run stream back to the command (protocol.py), then the report or the error.

It exits after LEADS_RUNNER_IDLE_SECONDS (1800) without a request, after a run that leaves it
above LEADS_RUNNER_MAX_RSS_MB (1024) of memory, and on SIGTERM (`leads stop`). A request from
other code (its files changed) or for another Prefect server is answered `stale`: the runner
hands its socket over to a new runner and exits once its runs are done.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from leads_import.cli import protocol
from leads_import.cli.services import (
    IDLE_ENV,
    RUNNER_MAX_RSS_ENV,
    START_TIMEOUT,
    Layout,
    code_fingerprint,
    healthy,
    read_state,
)

SPOOL_MAX_AGE = 24 * 3600
# Modules a flow run loads lazily (its first run would wait for them); the runner also learns
# the list of its first run, for the next runner (services/warm-modules.txt).
WARM_IMPORTS = (
    "prefect.flow_engine",
    "prefect.task_engine",
    "prefect.engine",
    "prefect.concurrency.context",
    "prefect._internal.control_listener",
    "prefect._internal.attempt_control",
    "prefect.telemetry.run_telemetry",
    "prefect.utilities.visualization",
    "fastapi.encoders",
    "anyio._backends._asyncio",
    "opentelemetry.metrics",
)  # spooled standard inputs left by killed commands are removed


def _note(message: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"{stamp} runner[{os.getpid()}] {message}", file=sys.stderr, flush=True)


class Cancelled(BaseException):
    """The command went away (Ctrl-C) or the runner is stopping: its run stops."""

    def __str__(self) -> str:
        return "cancelled: the command that started this run stopped (or `leads stop`)"


class Session:
    """One connected command: where the progress and log lines of its run go."""

    def __init__(self, conn: socket.socket, log_level: int, progress: bool) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self.open = True
        self.log_level = log_level
        self._progress = progress

    def send(self, message: dict[str, Any]) -> None:
        if not self.open:
            return
        data = protocol.encode(message)
        with self._lock:
            try:
                self._conn.sendall(data)
            except OSError:
                self.open = False

    def advance(self, stage: str, rows: int) -> None:
        if self._progress:
            self.send({"type": "progress", "stage": stage, "rows": rows})

    def set_total(self, rows: int) -> None:
        if self._progress:
            self.send({"type": "total", "rows": rows})

    def read_bytes(self, done: int, total: int) -> None:
        if self._progress:
            self.send({"type": "bytes", "done": done, "total": total})

    def phase(self, text: str | None) -> None:
        if self._progress:
            self.send({"type": "phase", "text": text})


_session: ContextVar[Session | None] = ContextVar("leads_runner_session", default=None)


class _Forward(logging.Handler):
    """Sends the log lines of a run to the command that asked for it."""

    def emit(self, record: logging.LogRecord) -> None:
        session = _session.get()
        if session is None or record.levelno < session.log_level:
            return
        try:
            text = self.format(record)
        except Exception:
            return
        session.send({"type": "log", "level": record.levelno, "text": text})


def _configure_logging(hide: logging.Filter, terminal: logging.Filter) -> None:
    """Prefect's console lines stay in the runner's log (warnings and up); each run's lines go
    to its command, but for those telling the run failed (`terminal`: the command says so);
    request-level errors are logged without a traceback."""
    root = logging.getLogger()
    formatter = next((h.formatter for h in root.handlers if h.formatter), None)
    for handler in root.handlers:
        handler.setLevel(logging.WARNING)
    names = ["prefect", *logging.Logger.manager.loggerDict]
    for name in names:
        if name.startswith("prefect"):
            for handler in logging.getLogger(name).handlers:
                handler.addFilter(hide)
    forward = _Forward()
    forward.setFormatter(formatter or logging.Formatter("%(levelname)s | %(message)s"))
    forward.addFilter(hide)
    forward.addFilter(terminal)
    root.addHandler(forward)


def _raise_in(thread_id: int, error: type[BaseException]) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(error))


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


class Runner:
    def __init__(self, layout: Layout, key: str, path: Path, api_url: str, ui_log: Path) -> None:
        self.layout, self.key, self.path, self.api_url = layout, key, path, api_url
        self.server_log = ui_log
        self.fingerprint = code_fingerprint()
        self.idle_seconds = float(os.environ.get(IDLE_ENV) or 1800)
        self.max_rss = float(os.environ.get(RUNNER_MAX_RSS_ENV) or 1024) * 1024 * 1024
        self._lock = threading.Lock()
        self._runs: dict[int, Any] = {}  # thread id -> cancel()
        self._last = time.monotonic()
        self._draining = False
        self._stopping = False
        self._prefect_ok = False
        self._listener: socket.socket | None = None
        self._inode: int | None = None
        self._loaded: set[str] | None = None  # the modules loaded before the first run

    # --- the socket ------------------------------------------------------------------------

    def bind(self) -> bool:
        """Listen on the socket; False when another runner already does."""
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = folder.stat()
        if info.st_uid != os.getuid():
            raise SystemExit(f"{folder} belongs to another user")
        if info.st_mode & 0o077:
            folder.chmod(0o700)
        if self.path.exists():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(self.path))
            except OSError:
                self.path.unlink()
            else:
                return False
            finally:
                probe.close()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        previous = os.umask(0o177)
        try:
            listener.bind(str(self.path))
        finally:
            os.umask(previous)
        self.path.chmod(0o600)
        listener.listen(64)
        listener.settimeout(1.0)
        self._listener = listener
        self._inode = self.path.stat().st_ino
        self._last = time.monotonic()
        return True

    def _release_socket(self) -> None:
        with contextlib.suppress(OSError):
            if self._inode is not None and self.path.stat().st_ino == self._inode:
                self.path.unlink()
        self._inode = None

    # --- the loop ---------------------------------------------------------------------------

    def serve(self) -> None:
        assert self._listener is not None
        while not self._stopping:
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                if self._should_exit():
                    break
                continue
            except OSError:
                break
            conn.settimeout(None)
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()
        self._listener.close()
        self._release_socket()
        deadline = time.monotonic() + (10 if self._stopping else 24 * 3600)
        while self._runs and time.monotonic() < deadline:
            time.sleep(0.1)

    def _should_exit(self) -> bool:
        with self._lock:
            if self._runs:
                return False
            if self._draining:
                return True
            if time.monotonic() - self._last > self.idle_seconds:
                _note(f"idle for {self.idle_seconds:.0f} s: exiting")
                return True
        return False

    def drain(self, reason: str) -> None:
        """Stop taking requests: the socket and state file go to the next runner; the runs in
        progress finish, then this process exits."""
        with self._lock:
            if self._draining:
                return
            self._draining = True
        _note(f"draining ({reason})")
        state = self.layout.runner_state(self.key)
        if (read_state(state) or {}).get("pid") == os.getpid():
            with contextlib.suppress(OSError):
                os.replace(state, state.with_name(f"runner-{self.key}.{os.getpid()}.json"))
        self._release_socket()

    def stop(self, *_: object) -> None:
        """SIGTERM: stop now; runs in progress are cancelled (their transactions roll back)."""
        self._stopping = True
        with self._lock:
            cancels = list(self._runs.values())
        for cancel in cancels:
            cancel()

    def cleanup(self) -> None:
        for path in self.layout.services.glob(f"runner-{self.key}*.json"):
            if (read_state(path) or {}).get("pid") == os.getpid():
                with contextlib.suppress(OSError):
                    path.unlink()
        self._release_socket()

    # --- one request -------------------------------------------------------------------------

    def handle(self, conn: socket.socket) -> None:
        try:
            reader = conn.makefile("rb")
            line = reader.readline()
            if not line:
                return
            request = json.loads(line)
            if request.get("op") == "ping":
                protocol.send(conn, {"type": "pong", "pid": os.getpid(), "active": len(self._runs)})
                return
            if request.get("op") != "import":
                protocol.send(conn, {"type": "failure", "message": f"unknown request {line!r}"})
                return
            stale = self._stale(request)
            if stale:
                self.drain(stale)
            if stale or self._draining or self._stopping:
                protocol.send(conn, {"type": "stale"})
                return
            self._run(conn, request)
        except Cancelled:
            pass
        except Exception as error:  # a broken request: say so, keep serving
            _note(f"request failed: {error!r}")
            with contextlib.suppress(OSError):
                protocol.send(
                    conn, {"type": "failure", "message": f"{type(error).__name__}: {error}"}
                )
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _stale(self, request: dict[str, Any]) -> str | None:
        if request.get("fingerprint") != self.fingerprint:
            return "the code changed"
        if request.get("key") != self.key:
            return "another environment"
        if request.get("prefect") != self.api_url:
            return "another Prefect server"
        return None

    def _run(self, conn: socket.socket, request: dict[str, Any]) -> None:
        session = Session(
            conn, int(request.get("logLevel") or logging.INFO), bool(request.get("progress"))
        )
        thread_id = threading.get_ident()
        guard = threading.Lock()
        running = [True]

        def cancel() -> None:
            with guard:
                if running[0]:
                    running[0] = False
                    _raise_in(thread_id, Cancelled)

        def watch() -> None:  # the command closing its end cancels the run
            with contextlib.suppress(OSError):
                while conn.recv(4096):
                    pass
            if running[0]:
                _note("the command went away: cancelling its run")
                cancel()

        with self._lock:
            self._runs[thread_id] = cancel
            self._last = time.monotonic()
        session.send({"type": "accepted", "pid": os.getpid()})
        threading.Thread(target=watch, daemon=True).start()
        began = time.monotonic()
        try:
            try:
                answer = self._import(request["request"], session)
            finally:
                with guard:
                    running[0] = False
            session.send(answer)
            _note(f"{answer['type']} in {time.monotonic() - began:.2f} s {answer.get('flowRunId')}")
            if answer.get("type") == "result":
                self._learn_modules()
        except Cancelled:
            _note("run cancelled")
        finally:
            with self._lock:
                self._runs.pop(thread_id, None)
                self._last = time.monotonic()
            rss = _rss_bytes()
            if rss > self.max_rss:
                self.drain(f"{rss / 2**20:.0f} MiB of memory after a run")

    def _import(self, fields: dict[str, Any], session: Session) -> dict[str, Any]:
        from leads_import import progress
        from leads_import.cli import importing

        token = _session.set(session)
        try:
            with progress.reporting(session):
                try:
                    request = importing.file_import(fields)
                except importing.ImportRequestError as error:
                    return _answer(importing.Outcome(error=error))
                if not self._prefect_ok:
                    session.phase("waiting for the local Prefect server to start")
                if not self.wait_prefect():
                    return {
                        "type": "failure",
                        "message": f"the local Prefect server at {self.api_url} does not "
                        f"answer; see {self.server_log}",
                    }
                return _answer(importing.run(request))
        finally:
            _session.reset(token)

    def wait_prefect(self) -> bool:
        """Whether the Prefect server answers (waiting while it starts)."""
        if self._prefect_ok:
            return True
        deadline = time.monotonic() + START_TIMEOUT
        while not healthy(self.api_url, timeout=1.0):
            if time.monotonic() > deadline or self._stopping:
                return False
            time.sleep(0.1)
        self._prefect_ok = True
        return True

    def warm_up(self) -> None:
        """Load what a run loads lazily (the modules the first run of the last runner needed),
        connect to the database (starting the embedded server on a first run), wait for the
        Prefect server and call it once, so that the first request finds all of them warm."""
        learned = self._warm_modules.read_text().split() if self._warm_modules.exists() else []
        for name in (*WARM_IMPORTS, *learned):
            if name not in sys.modules:
                with contextlib.suppress(Exception):
                    importlib.import_module(name)
        try:
            from leads_import.db.connection import transaction

            with transaction() as conn, conn.cursor() as cur:
                cur.execute("SELECT 1")
        except Exception as error:
            _note(f"database not reachable yet: {error}")
        if self.wait_prefect():
            with contextlib.suppress(Exception):
                from prefect.client.orchestration import get_client

                with get_client(sync_client=True) as client:
                    client.read_flows(limit=1)

    @property
    def _warm_modules(self) -> Path:
        return self.layout.services / "warm-modules.txt"

    def _learn_modules(self) -> None:
        """After the first run: remember the modules it loaded, for the next runner's warm-up."""
        if self._loaded is None:
            return
        new = sorted(set(sys.modules) - self._loaded)
        self._loaded = None
        with contextlib.suppress(OSError):
            known = self._warm_modules.read_text().split() if self._warm_modules.exists() else []
            if new and new != known:
                self._warm_modules.write_text("\n".join(new) + "\n", encoding="utf-8")


def _answer(outcome: Any) -> dict[str, Any]:
    from leads_import.cli import importing

    links = {
        "flowRunId": outcome.flow_run_id,
        "flowRunUrl": importing.flow_run_url(outcome.flow_run_id),
    }
    if outcome.report is not None:
        return {"type": "result", "report": outcome.report, **links}
    if outcome.error is not None:
        error = outcome.error
        return {
            "type": "error",
            "message": str(error),
            "code": error.code,
            "details": error.details(),
            "exitCode": error.exit_code,
            **links,
        }
    failure = outcome.failure
    return {"type": "failure", "message": f"{type(failure).__name__}: {failure}", **links}


def _clean_spool(layout: Layout) -> None:
    cutoff = time.time() - SPOOL_MAX_AGE
    for path in layout.spool.glob("stdin-*"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < cutoff:
                path.unlink()


def main() -> int:
    layout = Layout.current()
    key = os.environ["LEADS_RUNNER_KEY"]
    runner = Runner(
        layout,
        key,
        Path(os.environ["LEADS_RUNNER_SOCKET"]),
        os.environ["PREFECT_API_URL"],
        layout.server_log,
    )
    started = time.monotonic()
    from leads_import.cli import importing  # Prefect, Polars, the flows: the point of a runner

    _configure_logging(importing.HIDE_TRACEBACKS, importing.TERMINAL_LOGS)
    signal.signal(signal.SIGTERM, runner.stop)
    signal.signal(signal.SIGINT, runner.stop)
    if not runner.bind():
        _note("another runner serves this socket: exiting")
        return 0
    _note(f"listening on {runner.path} ({time.monotonic() - started:.1f} s to start)")
    runner._loaded = set(sys.modules)
    threading.Thread(target=runner.warm_up, daemon=True).start()
    _clean_spool(layout)
    try:
        runner.serve()
    finally:
        runner.cleanup()
        _note("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
