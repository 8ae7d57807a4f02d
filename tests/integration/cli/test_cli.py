"""The `import-leads` flow under prefect_test_harness, and the `leads` CLI end to end."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flows.import_flow import FileImport
from leads_import.cli.main import main
from tests.support.database import make_workspace
from tests.support.paths import DATA, OTHER_FORMATS, REPO, SAMPLE


def _leads(db, workspace_id: int) -> list[tuple]:
    with db.cursor() as cur:
        cur.execute(
            "SELECT email, deleted_at IS NULL FROM leads WHERE workspace_id = %s ORDER BY email",
            (workspace_id,),
        )
        return cur.fetchall()


def _distinct_valid_emails(path: Path) -> set[str]:
    from leads_import.readers.sources import read_source
    from transforms.normalise import prepare_leads

    prepared = prepare_leads(read_source(path)[0])
    return set(prepared.filter(prepared["is_first"])["email"].to_list())


def test_flow_run_imports_the_sample(prefect_api_url: str, db) -> None:
    from flows.import_flow import import_leads_flow

    workspace = make_workspace(db)
    request = FileImport(source=str(SAMPLE), workspace=workspace.slug)
    state = import_leads_flow(request, return_state=True)
    assert state.is_completed()
    report = state.result()
    rows = sum(1 for _ in csv.DictReader(SAMPLE.open(encoding="utf-8")))
    assert report["created"] + report["restored"] + report["duplicates"] + report["errors"] == rows
    assert report["created"] == len(_distinct_valid_emails(SAMPLE)) > 0
    assert report["errors"] > 0 and report["duplicates"] > 0
    stored = _leads(db, workspace.id)
    assert {email for email, _ in stored} == _distinct_valid_emails(SAMPLE)
    assert all(active for _, active in stored)

    again = import_leads_flow(request)
    assert (again["created"], again["restored"]) == (0, 0)
    assert again["duplicates"] == rows - report["errors"]


def test_flow_dry_run_writes_nothing(prefect_api_url: str, db) -> None:
    from flows.import_flow import import_leads_flow

    workspace = make_workspace(db)
    report = import_leads_flow(
        FileImport(source=str(DATA / "leads.json"), workspace=workspace.slug, dry_run=True)
    )
    assert report["dryRun"] is True and report["created"] == 2
    assert _leads(db, workspace.id) == []


def test_cli_json_end_to_end(prefect_api_url: str, db, tmp_path: Path) -> None:
    workspace = make_workspace(db)
    outcomes = tmp_path / "outcomes.csv"
    env = {**os.environ, "PREFECT_API_URL": prefect_api_url}
    command = [
        sys.executable,
        "-m",
        "leads_import.cli",
        "import",
        str(SAMPLE),
        "--workspace",
        workspace.slug,
        "--json",
        "--outcomes",
        str(outcomes),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=REPO, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # exactly one JSON document on stdout
    assert set(report) >= {
        "created",
        "restored",
        "duplicates",
        "errors",
        "duplicateEmails",
        "errorDetails",
    }
    assert report["created"] == len(_leads(db, workspace.id))
    with outcomes.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["index"]) for r in rows] == list(range(len(rows)))
    by_outcome = {
        o: sum(r["outcome"] == o for r in rows)
        for o in ("created", "restored", "duplicate", "error")
    }
    assert by_outcome == {
        "created": report["created"],
        "restored": report["restored"],
        "duplicate": report["duplicates"],
        "error": report["errors"],
    }
    assert all(r["reason"] for r in rows if r["outcome"] == "error")


def _run_cli(args: list[str], capsys) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().out


def test_cli_plan_limit_exit_code_3_writes_nothing(prefect_api_url: str, db, capsys) -> None:
    workspace = make_workspace(db, contact_limit=1)
    code, out = _run_cli(
        ["import", str(DATA / "leads.csv"), "--workspace", workspace.slug, "--json"], capsys
    )
    assert code == 3
    error = json.loads(out)
    assert error["code"] == "plan_limit_exceeded"
    assert error["details"] == {"limit": 1, "active": 0, "wouldReach": 2}
    assert _leads(db, workspace.id) == []


@pytest.mark.parametrize(
    ("source", "workspace_exists", "code_name"),
    [
        (DATA / "no_email_column.csv", True, "no_email_column"),
        (DATA / "header_only.csv", True, "no_leads"),
        (DATA / "missing.csv", True, "unreadable_source"),
        (DATA / "leads.csv", False, "workspace_not_found"),
    ],
)
def test_cli_request_errors_exit_code_2(
    prefect_api_url: str, db, capsys, source: Path, workspace_exists: bool, code_name: str
) -> None:
    slug = make_workspace(db).slug if workspace_exists else "no-such-workspace"
    code, out = _run_cli(["import", str(source), "--workspace", slug, "--json"], capsys)
    assert code == 2
    assert json.loads(out)["code"] == code_name


def test_cli_summary_no_restore_and_delete(prefect_api_url: str, db, capsys) -> None:
    slug = "cli-" + make_workspace(db).slug
    assert _run_cli(["workspace", "create", slug, "--name", "CLI"], capsys)[0] == 0
    code, out = _run_cli(["import", str(DATA / "leads.csv"), "--workspace", slug], capsys)
    assert code == 0
    assert "created" in out and "Errors (first 3 of 3):" in out

    code, out = _run_cli(["delete", "--workspace", slug, "ANN@example.com"], capsys)
    assert code == 0 and "ann@example.com" in out

    code, out = _run_cli(
        ["import", str(DATA / "leads.csv"), "--workspace", slug, "--json", "--no-restore"], capsys
    )
    report = json.loads(out)
    assert (report["created"], report["restored"], report["duplicates"]) == (0, 0, 3)

    code, out = _run_cli(["import", str(DATA / "leads.csv"), "--workspace", slug, "--json"], capsys)
    assert json.loads(out)["restored"] == 1


def test_db_init_is_idempotent(database_url: str, capsys) -> None:
    for _ in range(2):
        code, out = _run_cli(["db", "init"], capsys)
        assert code == 0 and "schema is up to date" in out


CONTRACT_KEYS = ("created", "restored", "duplicates", "errors", "duplicateEmails", "errorDetails")


def _state(db, workspace_id: int) -> list[tuple]:
    with db.cursor() as cur:
        cur.execute(
            "SELECT email, first_name, company, title, status, source, custom_fields, tags, "
            "deleted_at IS NULL FROM leads WHERE workspace_id = %s ORDER BY email, id",
            (workspace_id,),
        )
        return cur.fetchall()


def test_every_format_gives_the_same_report_and_state(prefect_api_url: str, db) -> None:
    from flows.import_flow import import_leads_flow
    from leads_import.engine import import_leads, soft_delete_leads

    outcomes = {}
    for name in ["leads.csv", *OTHER_FORMATS]:
        workspace = make_workspace(db)
        import_leads([{"email": "bob@example.com", "tags": ["old"]}], workspace.slug)
        soft_delete_leads(workspace.slug, ["bob@example.com"])
        report = import_leads_flow(FileImport(source=str(DATA / name), workspace=workspace.slug))
        # Rows are named by their line, which depends on the format (XLSX: the sheet's row).
        first_line = 1 if name.split(".")[1] in ("json", "ndjson", "parquet") else 2
        lines = [detail.pop("line") for detail in report["errorDetails"]]
        assert lines == [detail["index"] + first_line for detail in report["errorDetails"]], name
        outcomes[name] = ({k: report[k] for k in CONTRACT_KEYS}, _state(db, workspace.id))
    expected = outcomes["leads.csv"]
    assert expected[0]["restored"] == 1 and expected[0]["created"] == 1
    for name, got in outcomes.items():
        assert got == expected, name


def test_cli_reads_standard_input(prefect_api_url: str, db, capsys, monkeypatch) -> None:
    import io

    workspace = make_workspace(db)
    data = (DATA / "leads.ndjson").read_bytes()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out = _run_cli(
        ["import", "-", "--format", "ndjson", "--workspace", workspace.slug, "--json"], capsys
    )
    assert code == 0
    report = json.loads(out)
    assert (report["created"], report["source"], report["format"]) == (2, "-", "ndjson")
    assert _run_cli(["import", "-", "--workspace", workspace.slug, "--json"], capsys)[0] == 2


def test_commit_every_keeps_earlier_batches_and_resumes(
    prefect_api_url: str, db, capsys, tmp_path: Path
) -> None:
    rows = "\n".join(f"lead{i}@example.com" for i in range(10))
    source = tmp_path / "ten.csv"
    source.write_text("email\n" + rows + "\n")
    workspace = make_workspace(db, contact_limit=5)
    command = ["import", str(source), "--workspace", workspace.slug, "--json"]
    code, _ = _run_cli([*command, "--commit-every", "4"], capsys)
    assert code == 3  # the second batch of 4 would pass the limit of 5
    assert len(_leads(db, workspace.id)) == 4  # the first batch was committed

    with db.cursor() as cur:
        cur.execute("UPDATE workspaces SET contact_limit = NULL WHERE id = %s", (workspace.id,))
    code, out = _run_cli([*command, "--commit-every", "4"], capsys)
    report = json.loads(out)
    assert code == 0 and (report["created"], report["duplicates"]) == (6, 4)


def test_one_transaction_by_default_rejects_everything(
    prefect_api_url: str, db, capsys, tmp_path: Path
) -> None:
    source = tmp_path / "ten.csv"
    source.write_text("email\n" + "\n".join(f"x{i}@example.com" for i in range(10)) + "\n")
    workspace = make_workspace(db, contact_limit=9)
    code, _ = _run_cli(["import", str(source), "--workspace", workspace.slug, "--json"], capsys)
    assert code == 3 and _leads(db, workspace.id) == []
