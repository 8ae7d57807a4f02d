"""prefect.yaml end to end against a real Prefect server: `prefect deploy --all` to a process work
pool run by `prefect worker start`, and `leads serve` instead of pool and worker.

Everything runs as it would for a user: a `prefect server start` subprocess (its own
PREFECT_HOME and SQLite database, a free port, telemetry off), the Prefect CLI, a worker and
`leads serve` as subprocesses (each in its own process group, killed at teardown whatever
happens), runs created through the Prefect API, and their outcome read back from the API
(state, artifacts) and from the test database (`import_runs`, `sync_state`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb
import httpx
import pytest
import yaml

from flows.artifacts import artifact_key, columns_table, counts_table
from flows.sync_flow import WarehouseSync
from tests.support.database import make_workspace
from tests.support.paths import DATA, REPO

BIN = Path(sys.executable).parent
PREFECT = str(BIN / "prefect")
LEADS = str(BIN / "leads")
CONFIG = yaml.safe_load((REPO / "prefect.yaml").read_text())
DEPLOYMENTS = {
    "import-leads/file": "file",
    "import-leads/backfill": "backfill",
    "sync-leads/warehouse": "warehouse",
}
PULL_STEPS = [
    {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $LEADS_IMPORT_HOME }}"}}
]
# tests/data/leads.csv, in any of its formats: Ann, her duplicate, Bob, and three bad rows.
FILE_COUNTS = {"created": 2, "restored": 0, "updated": 0, "duplicates": 1, "errors": 3, "total": 6}
# The warehouse table of `duckdb_source`: Ann, her duplicate, Bob, a bad email (and a row
# without a cursor value, never synced).
SYNC_COUNTS = {"created": 2, "restored": 0, "updated": 0, "duplicates": 1, "errors": 1, "total": 4}
RUN_TIMEOUT = 150.0  # seconds, per flow run (a worker's flow run pays Python+Prefect imports)


# ----------------------------------------------------------------------------------- processes


@dataclass
class Service:
    """A background process, leader of its own process group, its output in a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def running(self) -> bool:
        return self.process.poll() is None

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # the whole group is gone
            os.killpg(self.process.pid, signum)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        """Signal the group and wait for the leader; SIGKILL the group if it takes too long, and
        in any case whatever of the group outlived its leader (flow run subprocesses)."""
        if self.running():
            self.signal_group(signum)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.process.wait(10)
        self.signal_group(signal.SIGKILL)
        return self.process.returncode

    def tail(self, lines: int = 80) -> str:
        text = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return f"\n----- {self.name}: {self.log} (last {lines} lines)\n" + "\n".join(text[-lines:])


@dataclass
class Stack:
    """The Prefect server of this module, and how to start processes against it."""

    api_url: str
    env: dict[str, str]
    logs: Path
    services: list[Service] = field(default_factory=list)

    def start(self, name: str, *argv: str) -> Service:
        log = self.logs / f"{name}.log"
        with log.open("ab") as output:
            process = subprocess.Popen(
                argv,
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, stopped as one
            )
        service = Service(name, process, log)
        self.services.append(service)
        return service

    def run(self, *argv: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def diagnostics(self) -> str:
        return "".join(service.tail() for service in self.services)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_healthy(stack: Stack, server: Service, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.running(), "prefect server exited" + stack.diagnostics()
        try:
            if httpx.get(f"{stack.api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"no healthy Prefect server after {timeout}s" + stack.diagnostics())


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A `prefect server start` of our own; this process's Prefect client talks to it, and so do
    the processes started through the stack, which also get DATABASE_URL (the test database)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_API_URL=api_url,
        PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_UI_ENABLED="false",
        PREFECT_SERVER_LOGGING_LEVEL="WARNING",
        PREFECT_WORKER_QUERY_SECONDS="1",  # workers and `serve` poll every second, not 10
        PREFECT_RUNNER_POLL_FREQUENCY="1",
        DATABASE_URL=database_url,
        PWD=str(REPO),  # what a shell in the checkout sets; prefect.yaml reads it at deploy time
    )
    made = Stack(api_url, env, home)
    try:
        server = made.start(
            "server", PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)
        )
        _wait_until_healthy(made, server)
        with temporary_settings({PREFECT_API_URL: api_url}):
            yield made
    finally:
        for service in reversed(made.services):
            service.stop()


@pytest.fixture
def client(stack: Stack) -> Iterator[Any]:
    from prefect import get_client

    with get_client(sync_client=True) as prefect_client:
        yield prefect_client


@pytest.fixture
def duckdb_source(tmp_path: Path) -> str:
    """A DuckDB file with a table of contacts, as a warehouse; its SQLAlchemy URL."""
    path = tmp_path / "warehouse.duckdb"
    t0 = dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.UTC)
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE contacts (email VARCHAR, first_name VARCHAR, company VARCHAR, "
            "updated_at TIMESTAMPTZ)"
        )
        con.executemany(
            "INSERT INTO contacts VALUES (?, ?, ?, ?)",
            [
                ("ann@example.com", "Ann", "Acme", t0),
                ("ANN@Example.com", "Ann again", None, t0 + dt.timedelta(minutes=1)),
                ("bob@example.com", "Bob", "Birch", t0 + dt.timedelta(minutes=2)),
                ("not-an-email", "Nobody", None, t0 + dt.timedelta(minutes=3)),
                ("cy@example.com", "Cy", None, None),
            ],
        )
    return f"duckdb:///{path}"


# ------------------------------------------------------------------------------------- helpers


def _entry(name: str) -> dict[str, Any]:
    """The prefect.yaml entry of a deployment."""
    return next(d for d in CONFIG["deployments"] if d["name"] == DEPLOYMENTS[name])


def _assert_registered_as_configured(client: Any, name: str) -> Any:
    """The deployment as the server has it, checked against its prefect.yaml entry."""
    deployment = client.read_deployment_by_name(name)
    entry = _entry(name)
    assert deployment.entrypoint == entry["entrypoint"]
    assert deployment.description == " ".join(entry["description"].split())
    assert deployment.enforce_parameter_schema is True
    assert deployment.parameters == entry.get("parameters", {})
    assert sorted(deployment.tags) == sorted(entry["tags"])
    schedules = [
        (s.schedule.cron, s.schedule.timezone, s.slug, s.active) for s in deployment.schedules
    ]
    configured = [
        (s["cron"], s.get("timezone"), s.get("slug"), s.get("active", True))
        for s in entry.get("schedules") or []
    ]
    assert schedules == configured
    return deployment


def _wait_for(client: Any, stack: Stack, flow_run_id: UUID, *watched: Service) -> Any:
    """The flow run once in a final state; fails early when a watched process died."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        flow_run = client.read_flow_run(flow_run_id)
        if flow_run.state is not None and flow_run.state.is_final():
            return flow_run
        for service in watched:
            assert service.running(), f"{service.name} exited" + stack.diagnostics()
        if time.monotonic() > deadline:
            raise AssertionError(
                f"flow run {flow_run_id} is still {flow_run.state} after {RUN_TIMEOUT}s"
                + stack.diagnostics()
            )
        time.sleep(0.5)


def _import_run(db, flow_run_id: UUID) -> dict[str, Any]:
    """The `import_runs` row of a flow run (there must be exactly one)."""
    with db.cursor() as cur:
        cur.execute(
            "SELECT id, workspace_id, kind, source, status, created, restored, updated, "
            "duplicates, errors, total, report, parameters FROM import_runs "
            "WHERE flow_run_id = %s",
            (str(flow_run_id),),
        )
        names = [d.name for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    assert len(rows) == 1, rows
    return rows[0]


def _assert_run_reported(
    client: Any,
    stack: Stack,
    db,
    flow_run: Any,
    workspace: Any,
    *,
    kind: str,
    source: str,
    counts: dict[str, int],
) -> dict[str, Any]:
    """The flow run completed, wrote its `import_runs` row, and published its artifacts: the
    counts table (the report's counts), the samples page and the finished progress bar."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    assert flow_run.state.is_completed(), f"{flow_run.state!r}" + stack.diagnostics()
    row = _import_run(db, flow_run.id)
    assert (row["workspace_id"], row["kind"], row["source"]) == (workspace.id, kind, source)
    assert row["status"] == "succeeded"
    assert {key: row[key] for key in counts} == counts
    report = row["report"]
    assert {key: report[key] for key in counts} == counts

    artifacts = client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id]))
    )
    keyed = {artifact.key: artifact for artifact in artifacts if artifact.key}
    kinds = ("counts", "samples", "progress", "columns")
    keys = {kind: artifact_key(kind, workspace.slug) for kind in kinds}
    assert set(keyed) == set(keys.values())
    columns = json.loads(keyed[keys["columns"]].data)  # in file order (jsonb's `report` is not)
    assert {row["header"]: row["field"] for row in columns} == {
        row["header"]: row["field"] for row in columns_table(report)
    }
    counts_artifact = keyed[keys["counts"]]
    assert counts_artifact.type == "table"
    table = json.loads(counts_artifact.data)
    assert table == counts_table(report)
    assert {line["outcome"]: line["rows"] for line in table} == counts
    samples = keyed[keys["samples"]]
    assert samples.type == "markdown"
    assert samples.data.startswith("# Import report: " + workspace.slug.replace("-", "\\-"))
    assert "ann@example\\.com" in samples.data  # the duplicate sample
    progress = keyed[keys["progress"]]
    assert (progress.type, progress.data) == ("progress", 100.0)
    return row


# --------------------------------------------------------------------------------------- tests


def test_deployments_run_on_a_process_worker(
    stack: Stack, client: Any, db, duckdb_source: str
) -> None:
    from prefect.deployments import run_deployment
    from prefect.exceptions import PrefectHTTPStatusError

    created = stack.run(PREFECT, "work-pool", "create", "leads", "--type", "process")
    assert created.returncode == 0, created.stdout + created.stderr
    # The worker starts while the deployments are registered (it polls an empty pool first).
    worker = stack.start("worker", PREFECT, "worker", "start", "--pool", "leads")
    try:
        deployed = stack.run(PREFECT, "--no-prompt", "deploy", "--all")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr

        for name in DEPLOYMENTS:
            deployment = _assert_registered_as_configured(client, name)
            assert deployment.work_pool_name == "leads"
            assert deployment.pull_steps == PULL_STEPS
            # Templated at deploy time: the checkout `prefect deploy` ran in.
            assert deployment.job_variables == {"env": {"LEADS_IMPORT_HOME": str(REPO)}}
        warehouse = client.read_deployment_by_name("sync-leads/warehouse")
        WarehouseSync.model_validate(warehouse.parameters["request"])  # a complete example

        # The schema is enforced: a run must name its file (there is no default source).
        for refused, missing in (({}, "'request'"), ({"request": {"workspace": "x"}}, "'source'")):
            with pytest.raises(PrefectHTTPStatusError, match=f"{missing} is a required property"):
                run_deployment("import-leads/file", parameters=refused, timeout=0)

        file_ws, backfill_ws, sync_ws = (make_workspace(db) for _ in range(3))
        backfill = client.read_deployment_by_name("import-leads/backfill")
        runs = {
            "file": run_deployment(
                "import-leads/file",
                parameters={
                    "request": {"source": str(DATA / "leads.csv"), "workspace": file_ws.slug}
                },
                timeout=0,
            ),
            # As the UI's "Custom run" form sends it: the deployment's defaults, completed.
            "backfill": run_deployment(
                "import-leads/backfill",
                parameters={
                    "request": {
                        **backfill.parameters["request"],
                        "source": str(DATA / "leads.csv.gz"),
                        "workspace": backfill_ws.slug,
                    }
                },
                timeout=0,
            ),
            "sync": run_deployment(
                "sync-leads/warehouse",
                parameters={
                    "request": {
                        "name": "crm",
                        "source_url": duckdb_source,
                        "query": "SELECT email, first_name, company, updated_at FROM contacts",
                        "cursor_column": "updated_at",
                        "workspace": sync_ws.slug,
                    }
                },
                timeout=0,
            ),
        }
        done = {key: _wait_for(client, stack, run.id, worker) for key, run in runs.items()}
    finally:
        worker.stop(signal.SIGTERM, timeout=15)

    _assert_run_reported(
        client,
        stack,
        db,
        done["file"],
        file_ws,
        kind="file",
        source=str(DATA / "leads.csv"),
        counts=FILE_COUNTS,
    )
    backfill_row = _assert_run_reported(
        client,
        stack,
        db,
        done["backfill"],
        backfill_ws,
        kind="file",
        source=str(DATA / "leads.csv.gz"),
        counts=FILE_COUNTS,
    )
    assert backfill_row["parameters"]["commit_every"] == 500_000
    sync_row = _assert_run_reported(
        client, stack, db, done["sync"], sync_ws, kind="sync", source="crm", counts=SYNC_COUNTS
    )
    with db.cursor() as cur:
        cur.execute(
            "SELECT cursor_column, run_id FROM sync_state WHERE workspace_id = %s AND "
            "sync_name = 'crm'",
            (sync_ws.id,),
        )
        assert cur.fetchall() == [("updated_at", sync_row["id"])]


def test_leads_serve_registers_the_deployments_and_runs_them(
    stack: Stack, client: Any, db, http_base_url: str
) -> None:
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    started = time.time()
    serve = stack.start("serve", LEADS, "serve")
    try:
        # Registered by `leads serve`: written since it started, served (no pool, no pull steps).
        deadline = time.monotonic() + 90
        pending = set(DEPLOYMENTS)
        while pending:
            assert serve.running(), "leads serve exited" + stack.diagnostics()
            assert time.monotonic() < deadline, f"not served: {pending}" + stack.diagnostics()
            for name in sorted(pending):
                try:
                    deployment = client.read_deployment_by_name(name)
                except ObjectNotFound:
                    continue
                if deployment.updated.timestamp() >= started and deployment.path == ".":
                    pending.discard(name)
            time.sleep(0.5)
        for name in DEPLOYMENTS:
            deployment = _assert_registered_as_configured(client, name)
            assert deployment.work_pool_name is None
            assert not deployment.pull_steps  # [] when created by serve, None when taken over

        workspace = make_workspace(db)
        source = f"{http_base_url}/leads.tsv"
        flow_run = run_deployment(
            "import-leads/file",
            parameters={"request": {"source": source, "workspace": workspace.slug}},
            timeout=0,
        )
        finished = _wait_for(client, stack, flow_run.id, serve)
        _assert_run_reported(
            client, stack, db, finished, workspace, kind="file", source=source, counts=FILE_COUNTS
        )
    finally:
        # Ctrl-C: the runner pauses the deployments' schedules and exits.
        returncode = serve.stop(signal.SIGINT, timeout=30)
    assert returncode == 0, stack.diagnostics()
