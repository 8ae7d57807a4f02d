"""The import-leads flow as an operated job: artifacts, retries of transient failures only, the
audit trail of every run (failed ones included), idempotency keys, `leads runs`, URL sources."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg2
import psycopg2.errors
import pytest
import sqlalchemy.exc

from flows.artifacts import artifact_key, counts_table
from flows.import_flow import FileImport
from leads_import.cli.main import main
from leads_import.errors import PlanLimitExceededError, UnreadableSourceError
from tests.support.database import make_workspace
from tests.support.paths import DATA

SAMPLE = DATA / "leads.csv"  # six rows: see tests/data


def _import(request: FileImport) -> Any:
    from flows.import_flow import import_leads_flow

    return import_leads_flow(request, return_state=True)


def _runs(db, workspace_id: int) -> list[dict[str, Any]]:
    with db.cursor() as cur:
        cur.execute(
            "SELECT id, status, kind, source, created, duplicates, errors, total, error, "
            "flow_run_id::text, parameters, idempotency_key FROM import_runs "
            "WHERE workspace_id = %s ORDER BY id",
            (workspace_id,),
        )
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


@pytest.fixture
def load_attempts(monkeypatch) -> list[int]:
    """Counts the attempts of the real `import` task (a counting wrapper around its function)."""
    from flows.import_flow import import_file

    attempts: list[int] = []
    real = import_file.fn

    def counted(*args: Any, **kwargs: Any) -> Any:
        attempts.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(import_file, "fn", counted)
    return attempts


def test_run_publishes_artifacts_and_audit_row(prefect_api_url, db) -> None:
    from prefect.artifacts import Artifact

    workspace = make_workspace(db)
    state = _import(FileImport(source=str(SAMPLE), workspace=workspace.slug))
    report = state.result()
    counts = Artifact.get(artifact_key("counts", workspace.slug))
    assert counts is not None and str(counts.flow_run_id) == str(state.state_details.flow_run_id)
    assert json.loads(counts.data) == counts_table(report)
    samples = Artifact.get(artifact_key("samples", workspace.slug))
    assert samples is not None and samples.type == "markdown"
    for email in report["duplicateEmails"]:
        assert email.replace(".", "\\.").replace("-", "\\-") in samples.data
    progress = Artifact.get(artifact_key("progress", workspace.slug))
    assert progress is not None and progress.type == "progress" and float(progress.data) == 100.0
    [run] = _runs(db, workspace.id)
    assert str(run["id"]) == report["runId"]
    assert (run["status"], run["kind"], run["source"]) == ("succeeded", "file", str(SAMPLE))
    assert (run["created"], run["duplicates"], run["errors"]) == (
        report["created"],
        report["duplicates"],
        report["errors"],
    )
    assert run["flow_run_id"] == str(state.state_details.flow_run_id)
    assert run["parameters"]["workspace"] == workspace.slug


def test_failed_run_is_recorded_and_not_retried(prefect_api_url, db, load_attempts) -> None:
    workspace = make_workspace(db, contact_limit=1)
    state = _import(FileImport(source=str(SAMPLE), workspace=workspace.slug))
    assert state.is_failed()
    assert isinstance(state.result(raise_on_failure=False), PlanLimitExceededError)
    assert len(load_attempts) == 1
    [run] = _runs(db, workspace.id)
    assert run["status"] == "failed" and "plan contact limit" in run["error"]
    assert run["flow_run_id"] == str(state.state_details.flow_run_id)
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM leads WHERE workspace_id = %s", (workspace.id,))
        assert cur.fetchone()[0] == 0


@pytest.fixture
def serialization_failure_once(db) -> Iterator[Any]:
    """A trigger failing the first lead insert of a workspace with SQLSTATE 40001 (a
    serialization failure); the sequence it counts with is not rolled back."""
    workspace = make_workspace(db)
    name = f"flaky_{uuid.uuid4().hex[:8]}"
    with db.cursor() as cur:
        cur.execute(f"CREATE SEQUENCE {name}_seq")
        cur.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.workspace_id = {workspace.id} AND nextval('{name}_seq') = 1 THEN "
            "RAISE EXCEPTION 'injected serialization failure' USING ERRCODE = '40001'; "
            "END IF; RETURN NEW; END $$"
        )
        cur.execute(
            f"CREATE TRIGGER {name} BEFORE INSERT ON leads FOR EACH ROW EXECUTE FUNCTION {name}()"
        )
    try:
        yield workspace
    finally:
        with db.cursor() as cur:
            cur.execute(f"DROP TRIGGER {name} ON leads")
            cur.execute(f"DROP FUNCTION {name}()")
            cur.execute(f"DROP SEQUENCE {name}_seq")


def test_transient_failure_is_retried(
    prefect_api_url,
    db,
    serialization_failure_once,
    load_attempts,
) -> None:
    workspace = serialization_failure_once
    state = _import(FileImport(source=str(SAMPLE), workspace=workspace.slug))
    assert state.is_completed(), state.message
    assert state.result()["created"] > 0
    assert len(load_attempts) == 2
    assert [run["status"] for run in _runs(db, workspace.id)] == ["succeeded"]


def test_idempotency_key_through_the_flow(prefect_api_url, db, tmp_path) -> None:
    workspace = make_workspace(db)
    source = tmp_path / "leads.csv"
    shutil.copy(SAMPLE, source)
    request = FileImport(source=str(source), workspace=workspace.slug, idempotency_key="nightly-1")
    first = _import(request).result()
    again = _import(request).result()
    assert again["replayed"] is True and again["runId"] == first["runId"]
    assert again["created"] == first["created"]
    # The same key with other bytes is refused; with other options too.
    source.write_text(SAMPLE.read_text() + "late@example.com,Late,Comer\n")
    refused = _import(request)
    assert refused.is_failed()
    assert "idempotency key" in str(refused.result(raise_on_failure=False))
    shutil.copy(SAMPLE, source)
    other_options = request.model_copy(update={"on_existing": "overwrite"})
    assert _import(other_options).is_failed()
    runs = _runs(db, workspace.id)
    assert [run["status"] for run in runs] == ["succeeded", "failed", "failed"]
    assert runs[0]["idempotency_key"] == "nightly-1"


def test_cli_idempotency_and_runs_listing(prefect_api_url, db, capsys) -> None:
    workspace = make_workspace(db)
    args = ["import", str(SAMPLE), "--workspace", workspace.slug, "--json", "--quiet"]
    assert main([*args, "--idempotency-key", "k1"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main([*args, "--idempotency-key", "k1"]) == 0
    replay = json.loads(capsys.readouterr().out)
    assert replay["replayed"] is True and replay["runId"] == first["runId"]
    assert main(["runs", "--workspace", workspace.slug, "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert isinstance(first["runId"], str)  # ids as text, as the HTTP API gives them
    assert [run["id"] for run in runs] == [first["runId"]]
    assert runs[0]["created"] == first["created"] and runs[0]["status"] == "succeeded"
    assert main(["runs", "--workspace", workspace.slug]) == 0
    table = capsys.readouterr().out
    assert str(first["runId"]) in table and "succeeded" in table


def test_cli_on_existing_overwrite(prefect_api_url, db, tmp_path, capsys) -> None:
    workspace = make_workspace(db)
    first = tmp_path / "first.csv"
    first.write_text("email,first_name\nann@example.com,Ann\n")
    second = tmp_path / "second.csv"
    second.write_text("email,first_name\nANN@example.com,Annie\n")
    base = ["--workspace", workspace.slug, "--json", "--quiet"]
    assert main(["import", str(first), *base]) == 0
    capsys.readouterr()
    assert main(["import", str(second), *base]) == 0
    assert json.loads(capsys.readouterr().out)["duplicates"] == 1
    assert main(["import", str(second), *base, "--on-existing", "overwrite"]) == 0
    assert json.loads(capsys.readouterr().out)["updated"] == 1
    with db.cursor() as cur:
        cur.execute("SELECT first_name FROM leads WHERE workspace_id = %s", (workspace.id,))
        assert cur.fetchall() == [("Annie",)]


@pytest.mark.parametrize("name", ["leads.csv", "leads.ndjson.gz", "leads.parquet"])
def test_url_source(prefect_api_url, db, http_base_url, name) -> None:
    workspace = make_workspace(db)
    local = _import(FileImport(source=str(DATA / name), workspace=workspace.slug)).result()
    other = make_workspace(db)
    remote = _import(FileImport(source=f"{http_base_url}/{name}", workspace=other.slug)).result()
    for key in ("created", "restored", "duplicates", "errors", "duplicateEmails"):
        assert remote[key] == local[key], key


def test_url_that_fails_is_a_clear_error(prefect_api_url, db, http_base_url) -> None:
    workspace = make_workspace(db)
    state = _import(FileImport(source=f"{http_base_url}/missing.csv", workspace=workspace.slug))
    error = state.result(raise_on_failure=False)
    assert isinstance(error, UnreadableSourceError) and "HTTP 404" in str(error)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (psycopg2.errors.SerializationFailure("could not serialize"), True),
        (psycopg2.errors.DeadlockDetected("deadlock detected"), True),
        (psycopg2.OperationalError("server closed the connection unexpectedly"), True),
        (psycopg2.InterfaceError("connection already closed"), True),
        (sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("gone")), True),
        (PlanLimitExceededError(1, 1, 2), False),
        (UnreadableSourceError("no such file"), False),
        (psycopg2.errors.UniqueViolation("duplicate key"), False),
        (psycopg2.errors.InvalidTextRepresentation("bad input"), False),
        (ValueError("bug"), False),
    ],
)
def test_only_transient_database_failures_are_retried(error, transient) -> None:
    from leads_import.transient import is_transient

    assert is_transient(error) is transient
    wrapped = RuntimeError("while loading")
    wrapped.__cause__ = error
    assert is_transient(wrapped) is transient
