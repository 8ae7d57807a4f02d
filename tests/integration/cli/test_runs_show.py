"""`leads runs show ID`: a run's parameters, report, timings and flow run, with the per-row
outcomes kept by `--keep-outcomes` (the same rows as the outcomes file), pruned to the newest
runs; dry runs recorded and marked; an unknown id is exit 2. Real flows, real database."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from flows.import_flow import FileImport
from leads_import.cli.main import main
from leads_import.db.settings import DATA_DIR_ENV
from leads_import.engine.kept_outcomes import KEEP_RUNS_ENV, outcomes_dir
from tests.support.database import make_workspace
from tests.support.paths import DATA, SAMPLE


@pytest.fixture(autouse=True)
def own_data_dir(tmp_path: Path, monkeypatch) -> Path:
    """Kept outcomes go to this test's own data directory (the database is DATABASE_URL's)."""
    folder = tmp_path / "data"
    monkeypatch.setenv(DATA_DIR_ENV, str(folder))
    return folder


def import_file(**fields: Any) -> tuple[dict[str, Any], str]:
    from flows.import_flow import import_leads_flow

    state = import_leads_flow(FileImport(**fields), return_state=True)
    return state.result(), str(state.state_details.flow_run_id)


def show(capsys, run_id: int, *extra: str) -> tuple[int, str]:
    code = main(["runs", "show", str(run_id), *extra])
    return code, capsys.readouterr().out


def test_show_a_run_with_its_kept_outcomes(prefect_api_url, db, capsys, tmp_path) -> None:
    workspace = make_workspace(db)
    outcomes_csv = tmp_path / "outcomes.csv"
    report, flow_run_id = import_file(
        source=str(SAMPLE),
        workspace=workspace.slug,
        keep_outcomes=True,
        outcomes=str(outcomes_csv),
    )
    code, out = show(capsys, report["runId"], "--json")
    assert code == 0
    run = json.loads(out)
    assert (run["id"], run["workspace"], run["kind"], run["status"]) == (
        report["runId"],
        workspace.slug,
        "file",
        "succeeded",
    )
    assert run["parameters"]["source"] == str(SAMPLE) and run["parameters"]["keep_outcomes"]
    for key in ("created", "restored", "duplicates", "errors", "duplicateEmails", "errorDetails"):
        assert run["report"][key] == report[key], key
    assert run["flowRunId"] == flow_run_id and flow_run_id in run["flowRunUrl"]
    assert run["durationMs"] > 0 and run["timings"]["loadMs"] > 0
    assert run["outcomesPath"] == str(outcomes_dir() / flow_run_id)
    # The kept rows are the outcomes file's rows.
    with outcomes_csv.open(encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    kept = run["outcomes"]
    assert len(kept) == len(written) == report["total"]
    columns = ("index", "line", "email", "outcome", "reason")
    assert tuple(kept[0]) == tuple(written[0]) == columns
    assert [tuple(str(r[c]) for c in columns) for r in kept] == [
        tuple(r[c].removeprefix("'") for c in columns) for r in written
    ]
    assert sum(r["outcome"] == "created" for r in kept) == report["created"]

    code, out = show(capsys, report["runId"], "--rows", "3")
    assert code == 0
    assert out.startswith(f'run {report["runId"]}: file into workspace "{workspace.slug}"')
    assert f"flow run    {run['flowRunUrl']}" in out
    assert f"outcomes: {report['total']:,} rows in {run['outcomesPath']}" in out
    assert f"… {report['total'] - 3:,} more" in out


def test_a_dry_run_is_listed_and_shown_as_one(prefect_api_url, db, capsys) -> None:
    workspace = make_workspace(db)
    report, _ = import_file(source=str(DATA / "leads.csv"), workspace=workspace.slug, dry_run=True)
    assert report["runId"].isdigit()
    assert main(["runs", "--workspace", workspace.slug, "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["id"], listed["status"]) == (report["runId"], "dry_run")
    assert main(["runs", "--workspace", workspace.slug]) == 0
    assert " dry_run " in capsys.readouterr().out
    code, out = show(capsys, report["runId"])
    assert code == 0
    assert "dry run (nothing written)" in out.splitlines()[0]
    assert "outcomes: not kept (leads import --keep-outcomes keeps them)" in out
    code, out = show(capsys, report["runId"], "--json")
    assert json.loads(out)["outcomes"] is None and json.loads(out)["outcomesPath"] is None


def test_only_the_newest_runs_keep_outcomes(prefect_api_url, db, capsys, monkeypatch) -> None:
    monkeypatch.setenv(KEEP_RUNS_ENV, "2")
    workspace = make_workspace(db)
    runs = [
        import_file(source=str(DATA / "leads.csv"), workspace=workspace.slug, keep_outcomes=True)
        for _ in range(3)
    ]
    kept = sorted(p.name for p in outcomes_dir().iterdir())
    assert kept == sorted(flow_run_id for _, flow_run_id in runs[1:])
    first = json.loads(show(capsys, runs[0][0]["runId"], "--json")[1])
    assert first["outcomes"] is None
    last = json.loads(show(capsys, runs[2][0]["runId"], "--json")[1])
    assert [row["outcome"] for row in last["outcomes"]].count("duplicate") == last["report"][
        "duplicates"
    ]


def test_a_failed_run_keeps_nothing(prefect_api_url, db) -> None:
    from flows.import_flow import import_leads_flow

    workspace = make_workspace(db)
    request = FileImport(
        source=str(DATA / "header_only.csv"), workspace=workspace.slug, keep_outcomes=True
    )
    state = import_leads_flow(request, return_state=True)
    assert state.is_failed()
    assert list(outcomes_dir().iterdir()) == []


def test_an_unknown_run_is_exit_2(db, capsys) -> None:
    assert main(["runs", "show", "987654321"]) == 2
    assert capsys.readouterr().err == "error: no run 987654321 (see leads runs)\n"
    assert main(["runs", "show", "987654321", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["code"] == "run_not_found"
