"""The background services `leads` starts and reuses, all under the data directory: a local
Prefect server (with its UI) and the import runner (a warm process that runs the `import-leads`
flow for `leads import`); the embedded PostgreSQL is started by whoever first needs it.

This module is on the command line's fast path: it imports nothing heavy (no Prefect, Polars or
database driver). State files are JSON in `<data dir>/services`, logs in `<data dir>/logs`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Final

from leads_import.db.settings import DATA_DIR_ENV, DATABASE_URL_ENV, data_dir

RUNNER_ENV: Final = "LEADS_RUNNER"  # "off": `leads import` runs the flow in its own process
IDLE_ENV: Final = "LEADS_RUNNER_IDLE_SECONDS"  # the runner exits after this long idle (1800)
RUNNER_MAX_RSS_ENV: Final = "LEADS_RUNNER_MAX_RSS_MB"  # it exits after a run above this (1024)
PREFECT_PORT: Final = 4200  # the Prefect server's port, or the next free one
HOST: Final = "127.0.0.1"
RUNNER_MODULE: Final = "leads_import.cli.runner"
SERVER_MODULE: Final = "leads_import.cli.prefect_server"
MAX_RUNNERS: Final = 3  # warm runners kept per data directory (one per environment)
START_TIMEOUT: Final = 180.0  # seconds to wait for a service to answer (a first run migrates)
STOP_TIMEOUT: Final = 15.0
LOG_MAX_BYTES: Final = 4 << 20  # a service's log is kept below this, plus one older file
_SOCKET_PATH_MAX: Final = 100  # sun_path holds 104 (macOS) or 108 (Linux) bytes
_CODE_SUFFIXES: Final = (".py", ".sql", ".yml", ".yaml", ".json")


class ServiceError(RuntimeError):
    """A background service could not be started or reached."""


@dataclass(frozen=True)
class Layout:
    """Where the services keep their state, sockets and logs."""

    data: Path

    @classmethod
    def current(cls) -> Layout:
        return cls(data_dir())

    @property
    def services(self) -> Path:
        return self.data / "services"

    @property
    def logs(self) -> Path:
        return self.data / "logs"

    @property
    def spool(self) -> Path:
        return self.data / "spool"

    @property
    def prefect_home(self) -> Path:
        return self.data / "prefect"

    @property
    def server_state(self) -> Path:
        return self.services / "prefect-server.json"

    @property
    def server_log(self) -> Path:
        return self.logs / "prefect-server.log"

    def runner_state(self, key: str) -> Path:
        return self.services / f"runner-{key}.json"

    def runner_log(self, key: str) -> Path:
        return self.logs / f"runner-{key}.log"

    def runner_socket(self, key: str) -> Path:
        """The runner's Unix socket: in the services folder, or (when that path is too long for
        a socket) in a private folder under the temporary directory named after it."""
        path = self.services / f"runner-{key}.sock"
        if len(os.fsencode(path)) <= _SOCKET_PATH_MAX:
            return path
        digest = hashlib.sha256(os.fsencode(self.data)).hexdigest()[:16]
        short = Path("/tmp") / f"leads-{os.getuid()}" / digest
        return short / f"runner-{key}.sock"

    def runner_states(self) -> list[Path]:
        return sorted(self.services.glob("runner-*.json"))

    def make(self) -> None:
        for folder in (self.data, self.services, self.logs, self.spool):
            folder.mkdir(parents=True, exist_ok=True)
        self.services.chmod(0o700)


def runner_wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether `leads import` goes through the runner (LEADS_RUNNER=off: in-process; so too
    where there are no Unix sockets)."""
    if not hasattr(socket, "AF_UNIX"):
        return False
    return environ.get(RUNNER_ENV, "").strip().lower() not in ("off", "0", "false", "no")


def runner_key(environ: Mapping[str, str] = os.environ) -> str:
    """The runner serving this environment: one per data directory, DATABASE_URL and libpq
    settings (PG*), so a command never runs against another command's database."""
    relevant = {name: value for name, value in environ.items() if name.startswith("PG")}
    relevant[DATABASE_URL_ENV] = environ.get(DATABASE_URL_ENV, "")
    relevant[DATA_DIR_ENV] = str(data_dir())
    blob = json.dumps(relevant, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def _code_roots() -> list[Path]:
    roots = [Path(__file__).resolve().parents[1]]  # leads_import
    for name in ("flows", "transforms"):
        spec = find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            roots.extend(Path(p) for p in spec.submodule_search_locations)
    sql = roots[0].parent / "sql"
    if sql.is_dir():
        roots.append(sql)
    return roots


def _site_packages() -> list[Path]:
    return [Path(p) for p in sys.path if p.endswith("site-packages") and os.path.isdir(p)]


def code_fingerprint() -> str:
    """A digest of the code a runner would load: our packages' files (names, sizes, mtimes),
    the installed distributions (the site-packages folder changes when one is added, removed or
    upgraded) and the interpreter. A runner started with another fingerprint is replaced."""
    digest = hashlib.sha256(f"{sys.executable}\0{sys.version}".encode())
    for root in _code_roots():
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
            for name in sorted(files):
                if name.endswith(_CODE_SUFFIXES):
                    path = os.path.join(folder, name)
                    with contextlib.suppress(OSError):
                        st = os.stat(path)
                        digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    for site in _site_packages():
        digest.update(f"{site}\0{os.stat(site).st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def prefect_version() -> str:
    """The installed Prefect's version, from its dist-info folder (without importing it)."""
    spec = find_spec("prefect")
    if spec is None or spec.origin is None:
        return "unknown"
    site = Path(spec.origin).parent.parent
    found = sorted(site.glob("prefect-*.dist-info"))
    return found[-1].name.removeprefix("prefect-").removesuffix(".dist-info") if found else "?"


# The files the background Prefect server runs besides Prefect: a change to them (an upgrade of
# leads) restarts a running server, as an upgrade of Prefect does.
_SERVER_CODE: Final = ("prefect_server.py", "busy_retry.py")


def server_release() -> str:
    """What a running Prefect server must have been started with to be reused: the Prefect
    version and a digest of the launcher's code."""
    digest = hashlib.sha256()
    for name in _SERVER_CODE:
        digest.update((Path(__file__).parent / name).read_bytes())
    return f"{prefect_version()}+{digest.hexdigest()[:12]}"


# --- state files and processes ---------------------------------------------------------------


def read_state(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_state(path: Path, state: dict[str, Any]) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(state, indent=1), encoding="utf-8")
    partial.chmod(0o600)
    os.replace(partial, path)


def remove_state(path: Path, pid: int) -> None:
    """Remove a state file if it still describes process `pid`."""
    state = read_state(path)
    if state is not None and state.get("pid") == pid:
        with contextlib.suppress(OSError):
            path.unlink()


def _cmdline(pid: int) -> str | None:
    """The command line of process `pid` (from /proc, else `ps`); None if unknown."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        if Path("/proc/self").exists():
            return None  # Linux: the process is gone
        try:
            done = subprocess.run(
                ["ps", "-p", str(pid), "-o", "command="],
                capture_output=True, text=True, timeout=5, check=False,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() or None
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace")


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


def alive(pid: int | None, module: str | None = None) -> bool:
    """Whether process `pid` runs (and, given `module`, is our `python -m module`)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process reusing the number
    if _zombie(pid):
        return False
    if module is None:
        return True
    cmdline = _cmdline(pid)
    return cmdline is not None and module in cmdline


def terminate(pid: int, module: str, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop our process `pid` (SIGTERM, then SIGKILL); return whether it was running."""
    if not alive(pid, module):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


@contextlib.contextmanager
def start_lock(layout: Layout) -> Iterator[None]:
    """One command at a time starts or stops services (others wait, then reuse them)."""
    import fcntl

    layout.make()
    with open(layout.services / "lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _detached(
    command: list[str], env: dict[str, str], log: Path, cwd: Path
) -> subprocess.Popen[bytes]:
    """Start a process that outlives this one: its own session, no terminal, output to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        if log.stat().st_size > LOG_MAX_BYTES:
            os.replace(log, log.with_name(log.name + ".1"))
    with open(log, "ab") as out:
        return subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )


def _log_tail(log: Path, lines: int = 15) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace").rstrip().splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


_CHILD_ENV_DROPPED: Final = ("PREFECT_PROFILE", "PREFECT_PROFILES_PATH", "PREFECT_API_URL")


def _child_env(layout: Layout, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CHILD_ENV_DROPPED}
    env.update(
        PREFECT_HOME=str(layout.prefect_home),
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PYTHONUNBUFFERED="1",
    )
    env[DATA_DIR_ENV] = str(layout.data)
    env.update(extra)
    return env


# --- the Prefect server ----------------------------------------------------------------------


@dataclass(frozen=True)
class PrefectServer:
    pid: int
    port: int
    version: str

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> PrefectServer | None:
        try:
            return cls(int(state["pid"]), int(state["port"]), str(state["version"]))  # type: ignore[index]
        except (TypeError, KeyError, ValueError):
            return None

    def running(self) -> bool:
        return alive(self.pid, SERVER_MODULE)


def running_server(layout: Layout) -> PrefectServer | None:
    """The background Prefect server of this data directory, when its process runs."""
    server = PrefectServer.from_state(read_state(layout.server_state))
    return server if server is not None and server.running() else None


def healthy(url: str, timeout: float = 2.0) -> bool:
    """Whether the Prefect server at `url` answers its health check."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or HOST, parts.port or 80, timeout=timeout)
    try:
        conn.request("GET", "/api/health")
        response = conn.getresponse()
        return response.status == 200 and response.read().strip() == b"true"
    except OSError:
        return False
    finally:
        conn.close()


def _free_port(first: int = PREFECT_PORT, tries: int = 100) -> int:
    for port in range(first, first + tries):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
            return port
    raise ServiceError(f"no free port for the Prefect server in {first}-{first + tries - 1}")


def start_server(layout: Layout) -> PrefectServer:
    """Start the background Prefect server (UI on, telemetry off) on 4200 or the next free
    port; it creates its database in <data dir>/prefect on first start."""
    layout.make()
    layout.prefect_home.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = _child_env(
        layout,
        PREFECT_UI_ENABLED="true",
        PREFECT_SERVER_UI_ENABLED="true",
        PREFECT_SERVER_API_HOST=HOST,
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_SERVER_LOGGING_LEVEL=os.environ.get("PREFECT_SERVER_LOGGING_LEVEL", "WARNING"),
        PREFECT__SERVER_FINAL="1",
    )
    process = _detached(
        [sys.executable, "-m", SERVER_MODULE], env, layout.server_log, layout.prefect_home
    )
    server = PrefectServer(process.pid, port, server_release())
    write_state(
        layout.server_state,
        {"pid": server.pid, "port": port, "url": server.url, "version": server.version,
         "started": time.time(), "log": str(layout.server_log)},
    )  # fmt: skip
    return server


def wait_healthy(layout: Layout, server: PrefectServer, timeout: float = START_TIMEOUT) -> None:
    """Wait until the server answers, or fail with the end of its log."""
    deadline = time.monotonic() + timeout
    while not healthy(server.url, timeout=1.0):
        if not server.running():
            raise ServiceError(
                f"the local Prefect server stopped while starting; the end of "
                f"{layout.server_log}:\n{_log_tail(layout.server_log)}"
            )
        if time.monotonic() > deadline:
            raise ServiceError(
                f"the local Prefect server did not answer within {timeout:.0f} s; "
                f"see {layout.server_log}"
            )
        time.sleep(0.1)


def stop_server(layout: Layout) -> PrefectServer | None:
    """Stop the background Prefect server; return it if it was running."""
    server = PrefectServer.from_state(read_state(layout.server_state))
    stopped = server is not None and terminate(server.pid, SERVER_MODULE)
    if server is not None:
        remove_state(layout.server_state, server.pid)
    return server if stopped else None


# --- the runner ------------------------------------------------------------------------------


def connect(path: Path, timeout: float | None = None) -> socket.socket | None:
    """A connection to the runner's socket, or None when no runner listens there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(os.fspath(path))
    except OSError as error:
        sock.close()
        if error.errno in (errno.ENOENT, errno.ECONNREFUSED, errno.ENOTSOCK, errno.EACCES):
            return None
        if isinstance(error, TimeoutError):
            return None
        raise
    sock.settimeout(None)
    return sock


def start_runner(layout: Layout, key: str, server: PrefectServer, fingerprint: str) -> int:
    """Start the import runner of this environment against the background Prefect server."""
    layout.make()
    sock = layout.runner_socket(key)
    env = _child_env(
        layout,
        PREFECT_API_URL=server.api_url,
        PREFECT_UI_URL=server.url,
        LEADS_RUNNER_KEY=key,
        LEADS_RUNNER_SOCKET=str(sock),
        LEADS_RUNNER_FINGERPRINT=fingerprint,
    )
    process = _detached(
        [sys.executable, "-m", RUNNER_MODULE], env, layout.runner_log(key), layout.data
    )
    write_state(
        layout.runner_state(key),
        {"pid": process.pid, "key": key, "socket": str(sock), "fingerprint": fingerprint,
         "prefect": server.api_url, "started": time.time(), "log": str(layout.runner_log(key))},
    )  # fmt: skip
    return process.pid


def wait_runner(layout: Layout, key: str, pid: int, timeout: float = START_TIMEOUT) -> None:
    """Wait until the runner `pid` accepts connections, or fail with the end of its log."""
    path = layout.runner_socket(key)
    deadline = time.monotonic() + timeout
    while True:
        conn = connect(path, timeout=1.0)
        if conn is not None:
            conn.close()
            return
        # Not `alive(pid, RUNNER_MODULE)`: a process just started may not show its command line
        # yet (Linux sets it after the exec that let Popen return).
        if not alive(pid):
            log = layout.runner_log(key)
            raise ServiceError(
                f"the import runner stopped while starting; the end of {log}:\n{_log_tail(log)}"
            )
        if time.monotonic() > deadline:
            raise ServiceError(f"the import runner did not start within {timeout:.0f} s")
        time.sleep(0.03)


def _ping(path: Path) -> dict[str, Any] | None:
    conn = connect(path, timeout=2.0)
    if conn is None:
        return None
    try:
        conn.settimeout(2.0)
        conn.sendall(json.dumps({"op": "ping"}).encode() + b"\n")
        with conn.makefile("rb") as answers:
            return json.loads(answers.readline() or b"null")
    except (OSError, ValueError):
        return None
    finally:
        conn.close()


def _prune_runners(layout: Layout, keep: str) -> None:
    """Stop idle runners of other environments beyond MAX_RUNNERS - 1 (a script looping over
    many DATABASE_URLs would otherwise leave one warm process per database), oldest first."""
    others = []
    for path in layout.runner_states():
        state = read_state(path) or {}
        if state.get("key") != keep and alive(int(state.get("pid") or 0), RUNNER_MODULE):
            others.append(state)
    others.sort(key=lambda state: state.get("started", 0))
    for state in others[: max(0, len(others) - (MAX_RUNNERS - 1))]:
        answer = _ping(Path(state.get("socket", "")))
        if answer is not None and answer.get("active") == 0:
            terminate(int(state["pid"]), RUNNER_MODULE)


def _server_of_this_release(
    layout: Layout, say: Callable[[str], None]
) -> tuple[PrefectServer, bool]:
    """The running Prefect server, restarted when another release started it, or a new one
    (not waited for); whether it was started now. Called under the start lock."""
    server = running_server(layout)
    if server is not None and server.version != server_release():
        say("restarting the local Prefect server (Prefect or leads was upgraded)…")
        stop_server(layout)
        server = None
    if server is not None:
        return server, False
    say("starting the local Prefect server (first run only)…")
    return start_server(layout), True


def ensure_services(
    layout: Layout,
    key: str,
    fingerprint: str,
    say: Callable[[str], None],
    *,
    replace_runner: bool = False,
) -> PrefectServer:
    """Make sure the Prefect server and this environment's runner run and answer (starting
    what is missing, replacing a runner of other code); return the server."""
    with start_lock(layout):
        server, started_server = _server_of_this_release(layout, say)
        state = read_state(layout.runner_state(key)) or {}
        pid = int(state.get("pid") or 0)
        current = (
            alive(pid, RUNNER_MODULE)
            and state.get("fingerprint") == fingerprint
            and state.get("prefect") == server.api_url
            and not replace_runner
        )
        if current and connect(layout.runner_socket(key), timeout=1.0) is None:
            with contextlib.suppress(ServiceError):
                wait_runner(layout, key, pid, timeout=15.0)  # another command is starting it
        conn = connect(layout.runner_socket(key), timeout=1.0) if current else None
        if conn is None:
            if alive(pid, RUNNER_MODULE):
                terminate(pid, RUNNER_MODULE)
            remove_state(layout.runner_state(key), pid)
            if not started_server:
                say("starting the import runner…")
            _prune_runners(layout, keep=key)
            pid = start_runner(layout, key, server, fingerprint)
            wait_runner(layout, key, pid)
        else:
            conn.close()
        if started_server:
            wait_healthy(layout, server)
        return server


def ensure_server(layout: Layout, say: Callable[[str], None]) -> PrefectServer:
    """Make sure the background Prefect server runs and answers (no runner: `leads sync run`
    runs its flow in its own process against it); return it."""
    with start_lock(layout):
        server, _ = _server_of_this_release(layout, say)
        wait_healthy(layout, server)
        return server


def stop_all(layout: Layout) -> list[str]:
    """Stop every runner and the Prefect server of this data directory; say what stopped."""
    said: list[str] = []
    if not layout.services.is_dir():
        return said
    with start_lock(layout):
        for path in layout.runner_states():
            state = read_state(path) or {}
            pid = int(state.get("pid") or 0)
            if terminate(pid, RUNNER_MODULE):
                said.append(f"import runner stopped (pid {pid})")
            with contextlib.suppress(OSError):
                path.unlink()
            with contextlib.suppress(OSError, KeyError):
                sock = Path(state["socket"])
                if connect(sock, timeout=0.5) is None:
                    sock.unlink()
        server = stop_server(layout)
        if server is not None:
            said.append(f"Prefect server stopped ({server.url}, pid {server.pid})")
    return said


def describe(layout: Layout) -> list[tuple[str, str]]:
    """The services of this data directory and what they are doing, for `leads status`."""
    rows: list[tuple[str, str]] = [("data directory", str(layout.data))]
    server = PrefectServer.from_state(read_state(layout.server_state))
    if server is not None and server.running():
        rows.append(("Prefect server", f"running, UI at {server.url} (pid {server.pid})"))
    else:
        rows.append(("Prefect server", "not running"))
    runners = 0
    for path in layout.runner_states():
        state = read_state(path) or {}
        pid = int(state.get("pid") or 0)
        if not alive(pid, RUNNER_MODULE):
            continue
        runners += 1
        since = time.strftime("%Y-%m-%d %H:%M", time.localtime(state.get("started", 0)))
        rows.append(("import runner", f"running (pid {pid}, since {since}, key {state['key']})"))
    if not runners:
        rows.append(("import runner", "not running"))
    return rows


# --- a Prefect server the user configured ----------------------------------------------------


def _toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    import tomllib

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _dotenv_api_url(path: Path) -> str | None:
    if not path.is_file():
        return None
    with contextlib.suppress(OSError, UnicodeDecodeError):
        for line in path.read_text(encoding="utf-8").splitlines():
            name, sep, value = line.strip().removeprefix("export ").partition("=")
            if sep and name.strip() == "PREFECT_API_URL":
                return value.strip().strip("'\"") or None
    return None


def user_prefect_api_url(environ: Mapping[str, str] = os.environ) -> str | None:
    """The Prefect server the user configured, where Prefect would find it: PREFECT_API_URL,
    then `.env`, `prefect.toml` and `pyproject.toml` ([tool.prefect]) in the working folder,
    then the active profile of ~/.prefect/profiles.toml. Read without importing Prefect."""
    if environ.get("PREFECT_API_URL"):
        return environ["PREFECT_API_URL"]
    cwd = Path.cwd()
    found = _dotenv_api_url(cwd / ".env")
    if found:
        return found
    pyproject = _toml(cwd / "pyproject.toml").get("tool", {})
    for section in (_toml(cwd / "prefect.toml"), pyproject.get("prefect", {})):
        api = section.get("api") if isinstance(section, dict) else None
        if isinstance(api, dict) and api.get("url"):
            return str(api["url"])
    home = Path(environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    profiles_path = Path(environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml")
    profiles = _toml(profiles_path.expanduser())
    active = environ.get("PREFECT_PROFILE") or profiles.get("active")
    profile = profiles.get("profiles", {}).get(active, {}) if active else {}
    url = profile.get("PREFECT_API_URL") if isinstance(profile, dict) else None
    return str(url) if url else None


def prefect_loaded_api_url() -> str | None:
    """The API URL of the Prefect settings in force in this process, when Prefect is already
    loaded (a Python caller, the tests' Prefect server); None otherwise, without loading it."""
    if "prefect.settings" not in sys.modules:
        return None
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url) if url else None
