"""Campaigns: read one, add active leads as members (its `lead_count` follows)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from psycopg2.extensions import cursor as Cursor

from leads_import.sqlfiles import load_sql


class Campaign(NamedTuple):
    id: int
    name: str | None
    lead_count: int


class MembersAdded(NamedTuple):
    """What adding members did: the campaign after it, the ids added, the ids that were eligible
    (active leads of the workspace, members already or added now)."""

    campaign: Campaign
    added: set[int]
    eligible: set[int]


def get_campaign(cur: Cursor, workspace_id: int, campaign_id: int) -> Campaign | None:
    """The workspace's campaign with this id, if any."""
    cur.execute(load_sql("api/get_campaign"), {"id": campaign_id, "workspace_id": workspace_id})
    row = cur.fetchone()
    return Campaign(*row) if row is not None else None


def add_members(
    cur: Cursor, workspace_id: int, campaign_id: int, lead_ids: Sequence[int]
) -> MembersAdded:
    """Add the workspace's active leads among `lead_ids` to the campaign (one statement; the
    caller holds the workspace lock so that `lead_count` stays exact)."""
    params: dict[str, Any] = {
        "campaign_id": campaign_id,
        "workspace_id": workspace_id,
        "lead_ids": sorted(set(lead_ids)),
    }
    cur.execute(load_sql("api/add_campaign_leads"), params)
    cid, name, lead_count, added, eligible = cur.fetchone()
    return MembersAdded(Campaign(cid, name, lead_count), set(added), set(eligible))
