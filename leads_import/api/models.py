"""Request and response bodies of the HTTP API: camelCase, described for the OpenAPI schema.

Lead inputs are TypedDicts so that validation hands the engine plain dicts (no model objects to
build and dump per row). Validation is strict: a number where text belongs is a 422 naming the
field and the lead's index, not a row error; what the engine checks per row (email format,
lengths, status values) stays a row error in the report, as for every other entry point.

The lead's fields, their order, kinds and limits come from `transforms.fields.LEAD_FIELDS`: a
field added there appears in every lead model below, described by its kind.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, Required

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.json_schema import SkipJsonSchema
from typing_extensions import TypedDict

from leads_import.api.settings import (
    DEFAULT_PAGE_SIZE,
    MAX_LEAD_IDS_PER_REQUEST,
    MAX_LEADS_PER_REQUEST,
)
from transforms.fields import (
    DEFAULT_STATUS,
    LEAD_FIELDS,
    MAX_EMAIL_LENGTH,
    MAX_TAG_LENGTH,
    SOURCE_API,
    STATUSES,
    TEXT_LIMITS,
    FieldKind,
    LeadField,
)

_STRICT = ConfigDict(strict=True, extra="allow")

# The Python type of each kind of field (transforms.fields); None is allowed where a field may be
# left out or cleared.
_VALUE_TYPES: dict[FieldKind, Any] = {
    "email": str,
    "text": str,
    "url": str,
    "status": str,
    "json_object": dict[str, Any],
    "tags": list[str],
}


def _count(number: int) -> str:
    """A number as the descriptions write it: with a thousands separator from five digits on."""
    return f"{number:,}" if number >= 10_000 else str(number)


def _one_of(values: tuple[str, ...], default: str | None = None) -> str:
    """The values quoted as code and joined: `a` (the default), `b` or `c`."""
    named = [f"`{value}` (the default)" if value == default else f"`{value}`" for value in values]
    return f"{', '.join(named[:-1])} or {named[-1]}"


def _text(field: LeadField) -> Any:
    """A text field's type, its limit (and for a URL the whitespace rule) as the description."""
    limit = f"At most {_count(TEXT_LIMITS[field.column])} characters"
    rule = ", no whitespace inside" if field.kind == "url" else ""
    return Annotated[str | None, Field(description=f"{limit}{rule}.")]


EMAIL_FORMAT = {"format": "email"}
Email = Annotated[
    Annotated[str, Field(json_schema_extra=EMAIL_FORMAT)] | None,
    Field(
        description="Required; stored lower-cased (Unicode NFC), "
        f"at most {_count(MAX_EMAIL_LENGTH)} characters."
    ),
]
Status = Annotated[
    str | None,
    Field(
        description=f"{_one_of(STATUSES, DEFAULT_STATUS)}; case-insensitive.",
        examples=[DEFAULT_STATUS],
    ),
]
CustomFields = Annotated[
    dict[str, Any] | None, Field(description="A JSON object of your own fields.")
]
Tags = Annotated[
    list[str] | None,
    Field(
        description=f"Strings, each trimmed (at most {_count(MAX_TAG_LENGTH)} characters); "
        "empty ones and repeats are dropped."
    ),
]
_BY_KIND: dict[FieldKind, Any] = {
    "email": Email,
    "status": Status,
    "json_object": CustomFields,
    "tags": Tags,
}


def _input_type(field: LeadField) -> Any:
    """A field's type in a lead input, described by its kind."""
    return _text(field) if field.kind in ("text", "url") else _BY_KIND[field.kind]


def _lead_fields(**overrides: Any) -> dict[str, Any]:
    """Every field of a lead by API name, in SPEC order, typed by its kind unless overridden."""
    if unknown := overrides.keys() - {field.api_name for field in LEAD_FIELDS}:
        raise ValueError(f"no such lead fields: {sorted(unknown)}")
    return {
        field.api_name: overrides.get(field.api_name) or _input_type(field) for field in LEAD_FIELDS
    }


# The snake_case column names an import also accepts (like the Python API), left out of the
# documentation.
_SNAKE_CASE_SPELLINGS = {
    field.column: NotRequired[SkipJsonSchema[_VALUE_TYPES[field.kind] | None]]
    for field in LEAD_FIELDS
    if field.column != field.api_name
}


InputSource = Annotated[
    str | None,
    Field(
        description=f"Where the lead came from; default `{SOURCE_API}`. "
        f"At most {_count(TEXT_LIMITS['source'])}."
    ),
]
_LeadInputFields = TypedDict(  # type: ignore[misc]
    "_LeadInputFields",
    {**_lead_fields(source=InputSource), **_SNAKE_CASE_SPELLINGS},
    total=False,
)


class LeadInput(_LeadInputFields, total=False):
    """One lead of an import (SPEC section 1). Unknown fields are ignored with a warning."""

    __pydantic_config__ = _STRICT  # type: ignore[misc]


class LeadCreate(LeadInput, total=False):
    """A lead to create; `email` is required."""

    email: Required[  # type: ignore[misc]
        Annotated[
            str, Field(description="The lead's email address.", json_schema_extra=EMAIL_FORMAT)
        ]
    ]


PatchEmail = Annotated[
    str,
    Field(
        description="A new email; must not be another active lead's.",
        json_schema_extra=EMAIL_FORMAT,
    ),
]
PatchStatus = Annotated[str, Field(description=f"{_one_of(STATUSES)}; case-insensitive.")]
_LeadPatchFields = TypedDict(  # type: ignore[misc]
    "_LeadPatchFields", _lead_fields(email=PatchEmail, status=PatchStatus), total=False
)


class LeadPatch(_LeadPatchFields, total=False):
    """Fields to change; a field left out keeps its value, `null` clears it (`customFields`
    becomes `{}`, `tags` `[]`). `customFields` and `tags` replace the stored ones wholly."""

    __pydantic_config__ = ConfigDict(strict=True, extra="forbid")  # type: ignore[misc]


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


def _stored_type(field: LeadField) -> Any:
    """A field's type in a stored lead: only the optional text fields can be null."""
    value_type = _VALUE_TYPES[field.kind]
    return value_type | None if field.kind in ("text", "url") else value_type


Lead = create_model(
    "Lead",
    __doc__="A lead as stored.",
    __module__=__name__,
    id=(str, Field(description="The lead's id (a string of digits).")),
    **{field.api_name: (_stored_type(field), ...) for field in LEAD_FIELDS},
    createdAt=(str, Field(description="ISO 8601 timestamp.")),
    updatedAt=(str, Field(description="ISO 8601 timestamp.")),
    deletedAt=(str | None, Field(description="Set once the lead is soft-deleted.")),
)


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


class Health(BaseModel):
    status: Literal["ok"] = Field(description="`ok`: the API and its database answer.")
    database: Literal["ok"] = Field(description="`ok`: the database answered a query.")
    version: str = Field(description="The leads-import version serving the API.")


class HealthBody(BaseModel):
    data: Health


class ErrorBody(BaseModel):
    """Every error: a message, a snake_case code and details."""

    model_config = ConfigDict(extra="forbid")

    error: str = Field(description="What went wrong, in English.")
    code: str = Field(
        description="A stable snake_case code, e.g. `rate_limit_exceeded`.",
        pattern="^[a-z][a-z0-9_]*$",
    )
    details: dict[str, Any] = Field(description="Specifics (field, index, limit, …).")
