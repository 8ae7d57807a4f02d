"""Request and response bodies of the HTTP API: camelCase, described for the OpenAPI schema.

Lead inputs are TypedDicts so that validation hands the engine plain dicts (no model objects to
build and dump per row). Validation is strict: a number where text belongs is a 422 naming the
field and the lead's index, not a row error; what the engine checks per row (email format,
lengths, status values) stays a row error in the report, as for every other entry point.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, Required

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from typing_extensions import TypedDict

from leads_import.api.settings import (
    DEFAULT_PAGE_SIZE,
    MAX_LEAD_IDS_PER_REQUEST,
    MAX_LEADS_PER_REQUEST,
)

_STRICT = ConfigDict(strict=True, extra="allow")

Text = Annotated[str | None, Field(description="Text; surrounding whitespace is stripped.")]
EMAIL_FORMAT = {"format": "email"}
Email = Annotated[
    Annotated[str, Field(json_schema_extra=EMAIL_FORMAT)] | None,
    Field(description="Required; stored lower-cased (Unicode NFC), at most 254 characters."),
]
Name = Annotated[str | None, Field(description="At most 255 characters.")]
Url = Annotated[str | None, Field(description="At most 2048 characters, no whitespace inside.")]
Status = Annotated[
    str | None,
    Field(
        description="`active` (the default), `bounced`, `unsubscribed` or `replied`; "
        "case-insensitive.",
        examples=["active"],
    ),
]
CustomFields = Annotated[
    dict[str, Any] | None, Field(description="A JSON object of your own fields.")
]
Tags = Annotated[
    list[str] | None,
    Field(
        description="Strings, each trimmed (at most 100 characters); empty ones and repeats "
        "are dropped."
    ),
]
Hidden = SkipJsonSchema[str | None]  # snake_case spellings, accepted like the Python API's


class LeadInput(TypedDict, total=False):
    """One lead of an import (SPEC section 1). Unknown fields are ignored with a warning."""

    __pydantic_config__ = _STRICT  # type: ignore[misc]

    email: Email
    firstName: Name
    lastName: Name
    company: Name
    title: Name
    phone: Annotated[str | None, Field(description="At most 50 characters.")]
    linkedinUrl: Url
    website: Url
    notes: Annotated[str | None, Field(description="At most 10,000 characters.")]
    source: Annotated[
        str | None, Field(description="Where the lead came from; default `api`. At most 255.")
    ]
    status: Status
    customFields: CustomFields
    tags: Tags
    first_name: NotRequired[Hidden]
    last_name: NotRequired[Hidden]
    linkedin_url: NotRequired[Hidden]
    custom_fields: NotRequired[SkipJsonSchema[dict[str, Any] | None]]


class LeadCreate(LeadInput, total=False):
    """A lead to create; `email` is required."""

    email: Required[  # type: ignore[misc]
        Annotated[
            str, Field(description="The lead's email address.", json_schema_extra=EMAIL_FORMAT)
        ]
    ]


class LeadPatch(TypedDict, total=False):
    """Fields to change; a field left out keeps its value, `null` clears it (`customFields`
    becomes `{}`, `tags` `[]`). `customFields` and `tags` replace the stored ones wholly."""

    __pydantic_config__ = ConfigDict(strict=True, extra="forbid")  # type: ignore[misc]

    email: Annotated[
        str,
        Field(
            description="A new email; must not be another active lead's.",
            json_schema_extra=EMAIL_FORMAT,
        ),
    ]
    firstName: Name
    lastName: Name
    company: Name
    title: Name
    phone: Annotated[str | None, Field(description="At most 50 characters.")]
    linkedinUrl: Url
    website: Url
    notes: Annotated[str | None, Field(description="At most 10,000 characters.")]
    source: Annotated[str | None, Field(description="At most 255 characters.")]
    status: Annotated[
        str,
        Field(description="`active`, `bounced`, `unsubscribed` or `replied`; case-insensitive."),
    ]
    customFields: CustomFields
    tags: Tags


OnExisting = Literal["skip", "fill_empty", "overwrite"]


class ImportOptions(BaseModel):
    """The import's options: everything of the body but the leads."""

    model_config = ConfigDict(strict=True, extra="ignore")

    restoreSoftDeleted: bool | None = Field(
        None,
        description="Restore soft-deleted leads whose email comes back (default true); false "
        "counts them as duplicates.",
    )
    restoreDeleted: bool | None = Field(
        None, description="Another spelling of `restoreSoftDeleted` (that one wins if both)."
    )
    dryRun: bool = Field(False, description="Classify and report, write nothing.")
    onExisting: OnExisting = Field(
        "skip",
        description="A lead whose email already has an active lead: a duplicate (`skip`, the "
        "contract), or fills the lead's empty fields (`fill_empty`), or replaces them "
        "(`overwrite`); changed leads count as `updated`.",
    )

    def restore(self) -> bool:
        if self.restoreSoftDeleted is not None:
            return self.restoreSoftDeleted
        return self.restoreDeleted if self.restoreDeleted is not None else True


class ImportRequest(ImportOptions):
    """`POST /api/v1/leads/import`: up to 1000 leads in one call, one transaction."""

    leads: list[LeadInput] = Field(
        description=f"1 to {MAX_LEADS_PER_REQUEST:,} leads; an empty list or more is a 400.",
        # Documented, not validated here: the contract answers these with a 400, not a 422.
        json_schema_extra={"minItems": 1, "maxItems": MAX_LEADS_PER_REQUEST},
    )


class ErrorDetail(BaseModel):
    index: int = Field(description="The row's 0-based position in `leads`.")
    email: str = Field(description='The email the row gave, as given ("" when missing).')
    reason: str = Field(description="Why the row was skipped, e.g. `invalid email format`.")


class ImportReport(BaseModel):
    """What the import did (SPEC section 7). The six first keys are the contract."""

    model_config = ConfigDict(extra="allow")

    created: int = Field(description="Leads inserted.")
    restored: int = Field(description="Soft-deleted leads brought back.")
    duplicates: int = Field(description="Rows whose email was already taken.")
    errors: int = Field(description="Rows skipped as invalid.")
    duplicateEmails: list[str] = Field(
        description="The normalised emails of the first 100 duplicate rows, in input order."
    )
    errorDetails: list[ErrorDetail] = Field(description="The first 100 error rows.")
    updated: int = Field(0, description="Active leads changed by `onExisting` (0 under skip).")
    total: int = Field(description="Rows in the request.")
    workspace: str = Field(description="The key's workspace slug.")
    dryRun: bool = Field(description="Whether nothing was written.")
    remainingCapacity: int | None = Field(
        None, description="Active leads the plan still allows after the import (null: no limit)."
    )
    runId: str | None = Field(None, description="The run's `import_runs` id.")
    replayed: bool | None = Field(
        None, description="True when an `Idempotency-Key` returned an earlier run's report."
    )
    loadMs: float | None = Field(None, description="Time spent in the database, milliseconds.")
    warnings: list[str] | None = Field(None, description="E.g. unknown fields ignored.")


class Lead(BaseModel):
    """A lead as stored."""

    id: str = Field(description="The lead's id (a string of digits).")
    email: str
    firstName: str | None
    lastName: str | None
    company: str | None
    title: str | None
    phone: str | None
    linkedinUrl: str | None
    website: str | None
    notes: str | None
    source: str | None
    status: str
    customFields: dict[str, Any]
    tags: list[str]
    createdAt: str = Field(description="ISO 8601 timestamp.")
    updatedAt: str = Field(description="ISO 8601 timestamp.")
    deletedAt: str | None = Field(description="Set once the lead is soft-deleted.")


class PageMeta(BaseModel):
    page: int = Field(description="The page returned, from 1.")
    pageSize: int = Field(description=f"Leads per page (default {DEFAULT_PAGE_SIZE}).")
    total: int = Field(description="Leads matching the filters.")
    totalPages: int = Field(description="Pages of `pageSize` leads (0 when nothing matches).")


class LeadPage(BaseModel):
    data: list[Lead]
    meta: PageMeta


class LeadOutcome(BaseModel):
    outcome: Literal["created", "restored"] = Field(
        description="`restored` when a soft-deleted lead with the email was brought back."
    )


class LeadBody(BaseModel):
    data: Lead


class CreatedLeadBody(BaseModel):
    data: Lead
    meta: LeadOutcome


class ImportBody(BaseModel):
    data: ImportReport


class Campaign(BaseModel):
    id: str = Field(description="The campaign's id (a string of digits).")
    name: str | None
    leadCount: int = Field(description="Active leads in the campaign.")


class CampaignBody(BaseModel):
    data: Campaign


class AddCampaignLeads(BaseModel):
    """`POST /api/v1/campaigns/{id}/leads`."""

    model_config = ConfigDict(strict=True, extra="ignore")

    leadIds: list[str] = Field(
        description=f"1 to {MAX_LEAD_IDS_PER_REQUEST:,} ids of active leads of the workspace "
        "(an empty list or more is a 400).",
        json_schema_extra={"minItems": 1, "maxItems": MAX_LEAD_IDS_PER_REQUEST},
    )


class CampaignMembers(BaseModel):
    campaign: Campaign
    added: list[str] = Field(description="Ids that became members.")
    alreadyMembers: list[str] = Field(description="Ids that were members already.")
    notFound: list[str] = Field(
        description="Ids that name no active lead of the workspace (nothing done)."
    )


class CampaignMembersBody(BaseModel):
    data: CampaignMembers


class ErrorBody(BaseModel):
    """Every error: a message, a snake_case code and details."""

    error: str = Field(description="What went wrong, in English.")
    code: str = Field(description="A stable snake_case code, e.g. `rate_limit_exceeded`.")
    details: dict[str, Any] = Field(description="Specifics (field, index, limit, …).")
