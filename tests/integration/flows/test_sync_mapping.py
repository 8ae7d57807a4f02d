"""The sync-leads flow with a column mapping: `map` and `unknown_columns` apply to the query's
columns as to a file's headers, and the report says where each column went."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine, text

from flows.sync_flow import WarehouseSync
from leads_import.errors import NoEmailColumnError
from tests.support.database import make_workspace, query


def _duckdb_source(folder: Path) -> str:
    url = f"duckdb:///{folder / 'crm.duckdb'}"
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "CREATE TABLE people AS SELECT * FROM (VALUES "
                    "('ann@example.com', 'Ann', 'EU', 1), ('bob@example.com', 'Bob', NULL, 2)"
                    ") AS t(kontakt, vorname, region, changed)"
                )
            )
    finally:
        engine.dispose()
    return url


def test_a_sync_maps_its_query_columns(prefect_api_url: str, db, tmp_path: Path) -> None:
    from flows.sync_flow import sync_leads_flow

    workspace = make_workspace(db)
    url = _duckdb_source(tmp_path)
    request = WarehouseSync(
        name="crm",
        source_url=url,
        query="SELECT * FROM people",
        cursor_column="changed",
        workspace=workspace.slug,
        map={"kontakt": "email", "vorname": "firstName"},
        unknown_columns="keep",
    )
    report = sync_leads_flow(request)
    assert report["created"] == 2
    assert report["columns"] == {
        "kontakt": "email",
        "vorname": "firstName",
        "region": "customFields.region",
    }
    rows = query(
        db,
        "SELECT email, first_name, custom_fields, source FROM leads WHERE workspace_id = %s "
        "ORDER BY email",
        (workspace.id,),
    )
    assert rows == [
        ("ann@example.com", "Ann", {"region": "EU"}, "warehouse_sync"),
        ("bob@example.com", "Bob", {}, "warehouse_sync"),
    ]
    [(stored,)] = query(
        db, "SELECT report FROM import_runs WHERE workspace_id = %s", (workspace.id,)
    )
    assert stored["columns"] == report["columns"]

    unmapped = WarehouseSync(
        name="crm2", source_url=url, query="SELECT * FROM people", workspace=workspace.slug
    )
    state = sync_leads_flow(unmapped, return_state=True)
    error = state.result(raise_on_failure=False)
    assert isinstance(error, NoEmailColumnError)
    assert "map one with the sync's `map`" in str(error)


def test_a_sync_refuses_unknown_fields() -> None:
    with pytest.raises(ValidationError) as raised:
        WarehouseSync(name="x", source_url="duckdb://", query="SELECT 1", map={"a": "vorname"})
    assert "the fields are email, firstName" in json.dumps(raised.value.errors(), default=str)
