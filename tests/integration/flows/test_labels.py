"""Flow runs carry readable names and the tags the Prefect UI filters by (workspace, kind),
read back from the Prefect server: runs created by a plain call (as a deployment's would be,
without our tags) and runs created inside `tagged` (as `leads import` and `leads sync run`)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from flows.import_flow import FileImport
from flows.labels import file_name, tagged
from flows.sync_flow import WarehouseSync
from tests.support.database import make_workspace
from tests.support.paths import DATA


def flow_run(flow_run_id: Any) -> Any:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id)


def test_a_file_import_is_named_and_tagged(prefect_api_url: str, db) -> None:
    from flows.import_flow import import_leads_flow

    workspace = make_workspace(db)
    request = FileImport(source=str(DATA / "leads.csv"), workspace=workspace.slug, dry_run=True)
    state = import_leads_flow(request, return_state=True)
    assert state.is_completed()
    run = flow_run(state.state_details.flow_run_id)
    assert run.name == f"import-{workspace.slug}-leads.csv"
    assert sorted(run.tags) == sorted([f"workspace:{workspace.slug}", "kind:file"])


def test_tags_given_at_creation_are_not_repeated(prefect_api_url: str, db) -> None:
    from flows.import_flow import import_leads_flow

    workspace = make_workspace(db)
    request = FileImport(source=str(DATA / "leads.json"), workspace=workspace.slug, dry_run=True)
    from prefect import tags

    with tags("nightly"), tagged("file", workspace.slug):
        state = import_leads_flow(request, return_state=True)
    run = flow_run(state.state_details.flow_run_id)
    assert run.name == f"import-{workspace.slug}-leads.json"
    assert sorted(run.tags) == sorted(["nightly", f"workspace:{workspace.slug}", "kind:file"])


def test_a_sync_is_named_and_tagged(prefect_api_url: str, db, tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    from flows.sync_flow import sync_leads_flow

    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE people AS SELECT 'ann@example.com' AS email, 1 AS n"))
    engine.dispose()
    workspace = make_workspace(db)
    name = f"crm-{uuid.uuid4().hex[:6]}"
    request = WarehouseSync(
        name=name,
        source_url=url,
        query="SELECT email, n FROM people",
        cursor_column="n",
        workspace=workspace.slug,
    )
    state = sync_leads_flow(request, return_state=True)
    assert state.result()["created"] == 1
    run = flow_run(state.state_details.flow_run_id)
    assert run.name == f"sync-{workspace.slug}-{name}"
    assert sorted(run.tags) == sorted([f"workspace:{workspace.slug}", "kind:sync"])


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("/data/in/leads.csv", "leads.csv"),
        ("leads.xlsx", "leads.xlsx"),
        ("https://files.example.com/exports/march.csv.gz?token=abc", "march.csv.gz"),
        ("C:\\Users\\ann\\leads.tsv", "leads.tsv"),
    ],
)
def test_file_name_of_a_source(source: str, name: str) -> None:
    assert file_name(source) == name
