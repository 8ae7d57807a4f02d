"""Campaigns: read one, add leads to it (its `leadCount` stays the count of active members)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse

from leads_import.api import service
from leads_import.api.context import ApiContext, ApiRoute, api_context
from leads_import.api.errors import ERROR_RESPONSES, ApiError
from leads_import.api.models import AddCampaignLeads, CampaignBody, CampaignMembersBody, ErrorBody
from leads_import.api.settings import MAX_LEAD_IDS_PER_REQUEST
from leads_import.db.ids import ID_PATTERN

router = APIRouter(route_class=ApiRoute, tags=["campaigns"])

Context = Annotated[ApiContext, Depends(api_context)]
CampaignId = Annotated[
    str,
    Path(
        description="The campaign's id; one outside the key's workspace is a 404.",
        json_schema_extra={"pattern": ID_PATTERN},
    ),
]
NOT_FOUND = {404: {"model": ErrorBody, "description": "No such campaign in the workspace."}}


@router.get(
    "/campaigns/{campaign_id}",
    summary="Get a campaign",
    response_model=CampaignBody,
    responses={**NOT_FOUND, **ERROR_RESPONSES},
)
def get_campaign(campaign_id: CampaignId, ctx: Context) -> Any:
    campaign = service.get_campaign(ctx.database_url, ctx.workspace, campaign_id)
    return JSONResponse({"data": campaign})


@router.post(
    "/campaigns/{campaign_id}/leads",
    summary="Add leads to a campaign",
    description=(
        "Makes active leads of the workspace members of the campaign. Ids that are members "
        "already are listed as such; ids naming no active lead of the workspace are listed "
        "as `notFound` and change nothing."
    ),
    response_model=CampaignMembersBody,
    responses={
        400: {"model": ErrorBody, "description": "No lead ids, or more than 1000."},
        **NOT_FOUND,
        **ERROR_RESPONSES,
    },
)
def add_campaign_leads(campaign_id: CampaignId, body: AddCampaignLeads, ctx: Context) -> Any:
    count = len(body.leadIds)
    if count == 0:
        raise ApiError(400, "no_lead_ids", "no lead ids in the request")
    if count > MAX_LEAD_IDS_PER_REQUEST:
        raise ApiError(
            400,
            "too_many_lead_ids",
            f"at most {MAX_LEAD_IDS_PER_REQUEST} lead ids per request, got {count}",
            {"limit": MAX_LEAD_IDS_PER_REQUEST, "count": count},
        )
    result = service.add_campaign_leads(ctx.database_url, ctx.workspace, campaign_id, body.leadIds)
    return JSONResponse({"data": result})
