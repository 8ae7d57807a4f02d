"""Shared by the concurrency and crash tests: one Prefect server, seeded workspaces, snapshots."""

from __future__ import annotations

import csv
import os
import uuid
from pathlib import Path
from typing import Any

from leads_import.db.workspaces import Workspace, create_workspace

ROUNDS_ENV = "LEADS_RELIABILITY_ROUNDS"
KILLS_ENV = "LEADS_RELIABILITY_KILLS"
REPORT_KEYS = (
    "created", "restored", "updated", "duplicates", "errors", "total", "duplicateEmails",
    "errorDetails",
)  # fmt: skip


def env_count(name: str, default: int) -> int:
    """A count from the environment (the long variants), else the CI default."""
    return int(os.environ.get(name) or default)


def new_workspace(db: Any, contact_limit: int | None = None, prefix: str = "rel") -> Workspace:
    slug = f"{prefix}-{uuid.uuid4().hex[:12]}"
    return create_workspace(db, slug, name=slug, contact_limit=contact_limit)


def seed(db: Any, workspace: Workspace, *, active: int, deleted: int) -> int:
    """Active leads a<i>@seed.test, soft-deleted d<i>@seed.test (every other one deleted twice,
    so that the most recent is restored), and a campaign holding one active lead and every
    soft-deleted one; returns the campaign id."""
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO leads (workspace_id, email, first_name, tags, custom_fields) "
            "SELECT %(ws)s, 'a' || i || '@seed.test', 'Active' || i, ARRAY['seed'], "
            "jsonb_build_object('n', i) FROM generate_series(1, %(n)s) i",
            {"ws": workspace.id, "n": active},
        )
        cur.execute(
            "INSERT INTO leads (workspace_id, email, company, tags, deleted_at) "
            "SELECT %(ws)s, 'd' || i || '@seed.test', 'Old' || i, ARRAY['old'], "
            "timestamptz '2024-01-01' + i * interval '1 minute' "
            "FROM generate_series(1, %(n)s) i "
            "UNION ALL SELECT %(ws)s, 'd' || i || '@seed.test', 'Older' || i, ARRAY['older'], "
            "timestamptz '2023-01-01' FROM generate_series(1, %(n)s, 2) i",
            {"ws": workspace.id, "n": deleted},
        )
        cur.execute(
            "INSERT INTO campaigns (workspace_id, name, lead_count) VALUES (%s, 'spring', 1) "
            "RETURNING id",
            (workspace.id,),
        )
        (campaign,) = cur.fetchone()
        cur.execute(
            "INSERT INTO campaign_leads (campaign_id, lead_id) SELECT %s, id FROM leads "
            "WHERE workspace_id = %s AND (deleted_at IS NOT NULL OR email = 'a1@seed.test')",
            (campaign, workspace.id),
        )
    return campaign


def write_input(path: Path, *, new: int, active: int, deleted: int) -> Path:
    """A CSV mixing new leads, case variants of active and soft-deleted seed leads (duplicates
    and restores), repeats within the file and invalid rows."""
    rows: list[dict[str, str]] = []
    for i in range(1, new + 1):
        rows.append({"Email": f"new{i}@input.test", "First Name": f"New{i}", "Tags": "x;y"})
        if i % 10 == 0:
            rows.append({"Email": f" NEW{i}@Input.TEST ", "First Name": "again", "Tags": ""})
        if i % 25 == 0:
            rows.append({"Email": f"not-an-email-{i}", "First Name": "bad", "Tags": ""})
    for i in range(1, active + 1, 3):
        rows.append({"Email": f"A{i}@SEED.test", "First Name": "dup", "Tags": ""})
    for i in range(1, deleted + 1):
        rows.append({"Email": f"D{i}@Seed.Test", "First Name": f"Back{i}", "Tags": "back"})
    rows.append({"Email": "", "First Name": "empty", "Tags": ""})
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["Email", "First Name", "Tags"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def snapshot(db: Any, workspace_id: int) -> dict[str, list[tuple]]:
    """Every row the workspace owns, exactly (ids and timestamps included)."""
    queries = {
        "leads": "SELECT * FROM leads WHERE workspace_id = %(ws)s ORDER BY id",
        "campaigns": "SELECT * FROM campaigns WHERE workspace_id = %(ws)s ORDER BY id",
        "campaign_leads": "SELECT cl.* FROM campaign_leads cl JOIN campaigns c "
        "ON c.id = cl.campaign_id WHERE c.workspace_id = %(ws)s ORDER BY 1, 2",
        "import_runs": "SELECT * FROM import_runs WHERE workspace_id = %(ws)s ORDER BY id",
        "sync_state": "SELECT * FROM sync_state WHERE workspace_id = %(ws)s ORDER BY 2",
        "workspace": "SELECT * FROM workspaces WHERE id = %(ws)s",
    }
    result = {}
    with db.cursor() as cur:
        for name, query in queries.items():
            cur.execute(query, {"ws": workspace_id})
            result[name] = cur.fetchall()
    return result


def content(db: Any, workspace_id: int) -> dict[str, list[tuple]]:
    """What the workspace holds, without ids, timestamps or run ids: comparable across twins."""
    with db.cursor() as cur:
        cur.execute(
            "SELECT email, first_name, last_name, company, title, phone, linkedin_url, website, "
            "notes, source, status, custom_fields::text, tags, deleted_at IS NULL, "
            "deleted_at IS NOT NULL AND deleted_at > timestamptz '2023-06-01' "
            "FROM leads WHERE workspace_id = %s ORDER BY 1, 14, 15, 3",
            (workspace_id,),
        )
        leads = cur.fetchall()
        cur.execute(
            "SELECT c.name, c.lead_count, count(l.id) FILTER (WHERE l.deleted_at IS NULL) "
            "FROM campaigns c LEFT JOIN campaign_leads cl ON cl.campaign_id = c.id "
            "LEFT JOIN leads l ON l.id = cl.lead_id WHERE c.workspace_id = %s "
            "GROUP BY c.id ORDER BY 1",
            (workspace_id,),
        )
        campaigns = cur.fetchall()
        cur.execute(
            "SELECT status, created, restored, duplicates, errors, total FROM import_runs "
            "WHERE workspace_id = %s ORDER BY id",
            (workspace_id,),
        )
        runs = cur.fetchall()
    return {"leads": leads, "campaigns": campaigns, "runs": runs}


def report_core(report: dict[str, Any]) -> dict[str, Any]:
    """The parts of a report that an interrupted-then-rerun import must reproduce."""
    return {key: report.get(key) for key in REPORT_KEYS}


def advisory_locks(db: Any) -> int:
    """Advisory locks held in this database right now (a killed import must hold none)."""
    with db.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()"
        )
        (count,) = cur.fetchone()
    return int(count)
