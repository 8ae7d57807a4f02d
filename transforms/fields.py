"""The lead's fields, their limits and the header spellings that map to them (SPEC 1, 3).

`LEAD_FIELDS` is the one definition of a lead's fields; every other field constant here, the
HTTP API's models and validation, and the README's header table derive from it. The SQL
statements list the columns by hand: tests/unit/transforms/test_fields.py checks them against it.
`leads headers` prints the README's table of header spellings (`--readme README.md` updates it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

FieldKind = Literal["email", "text", "url", "status", "json_object", "tags"]


def header_key(header: str) -> str:
    """Return the comparison key of a column header: lower case without spaces, `_` and `-`."""
    return "".join(ch for ch in header.strip().lower() if ch not in " _-")


@dataclass(frozen=True)
class LeadField:
    """One field of a lead: its API and column names, kind, length limit and header spellings.

    `kind` decides the checks: `url` is text without whitespace inside, `status` one of
    `choices`, `json_object` a JSON object, `tags` a list of strings. `limit` is the maximum
    length in characters (of each tag for `tags`; None: no limit). `headers` are the file
    header spellings that map to the field, as `header_key` writes them.
    """

    column: str
    api_name: str
    kind: FieldKind
    limit: int | None
    headers: tuple[str, ...]
    choices: tuple[str, ...] = ()


# In the order of SPEC section 1, which is also the column order of the COPY into `leads`.
LEAD_FIELDS: Final[tuple[LeadField, ...]] = (
    LeadField(
        "email", "email", "email", 254,
        ("email", "emailaddress", "mail", "workemail", "businessemail", "emailid"),
    ),
    LeadField(
        "first_name", "firstName", "text", 255, ("firstname", "first", "givenname", "forename")
    ),
    LeadField("last_name", "lastName", "text", 255, ("lastname", "last", "surname", "familyname")),
    LeadField(
        "company", "company", "text", 255,
        ("company", "companyname", "organization", "organisation", "account", "employer"),
    ),
    LeadField("title", "title", "text", 255, ("title", "jobtitle", "position", "role")),
    LeadField(
        "phone", "phone", "text", 50,
        ("phone", "phonenumber", "mobile", "mobilephone", "telephone", "tel"),
    ),
    LeadField(
        "linkedin_url", "linkedinUrl", "url", 2048,
        ("linkedinurl", "linkedin", "personlinkedinurl", "linkedinprofile"),
    ),
    LeadField(
        "website", "website", "url", 2048,
        ("website", "websiteurl", "companywebsite", "url", "domain"),
    ),
    LeadField("notes", "notes", "text", 10_000, ("notes", "note", "comments", "comment")),
    LeadField("source", "source", "text", 255, ("source", "leadsource")),
    LeadField(
        "status", "status", "status", None, ("status", "leadstatus"),
        choices=("active", "bounced", "unsubscribed", "replied"),
    ),
    LeadField("custom_fields", "customFields", "json_object", None, ("customfields", "custom")),
    LeadField("tags", "tags", "tags", 100, ("tags", "tag", "labels")),
)  # fmt: skip


def field_of_kind(kind: FieldKind) -> LeadField:
    """The lead's only field of `kind` (there is one email, status, customFields and tags)."""
    (field,) = (field for field in LEAD_FIELDS if field.kind == kind)
    return field


def _limit(field: LeadField) -> int:
    if field.limit is None:
        raise ValueError(f"the field {field.api_name} has no length limit")
    return field.limit


# API field name (camelCase) -> column name (snake_case), in the order of SPEC section 1.
API_TO_COLUMN: Final[dict[str, str]] = {field.api_name: field.column for field in LEAD_FIELDS}
COLUMN_TO_API: Final[dict[str, str]] = {column: api for api, column in API_TO_COLUMN.items()}

# Plain text columns (URLs included) with their maximum length in characters.
TEXT_LIMITS: Final[dict[str, int]] = {
    field.column: _limit(field) for field in LEAD_FIELDS if field.kind in ("text", "url")
}
TEXT_COLUMNS: Final[tuple[str, ...]] = tuple(TEXT_LIMITS)
URL_COLUMNS: Final[tuple[str, ...]] = tuple(f.column for f in LEAD_FIELDS if f.kind == "url")
MAX_EMAIL_LENGTH: Final[int] = _limit(field_of_kind("email"))
MAX_TAG_LENGTH: Final[int] = _limit(field_of_kind("tags"))

STATUSES: Final[tuple[str, ...]] = field_of_kind("status").choices
DEFAULT_STATUS: Final = "active"

# The canonical staged frame: every input column as text (custom_fields and tags as raw cells).
RAW_COLUMNS: Final[tuple[str, ...]] = tuple(API_TO_COLUMN.values())
# Columns written to `leads` for a created row, in COPY order.
LEAD_COLUMNS: Final[tuple[str, ...]] = RAW_COLUMNS

# Internal columns of the staged frame.
ROW_INDEX: Final = "row_index"
# A file row's line as a person sees it (1-based; the CSV header is line 1, a multi-line record
# starts at its first line; XLSX: the sheet's row number). Inputs without lines have no column.
LINE: Final = "source_line"
RAW_EMAIL: Final = "raw_email"
INPUT_ERROR: Final = "input_error"
# Tags of a typed input as lists; its presence says the JSON cells need no parsing (the
# customFields cells are JSON objects and the tags cells JSON arrays of strings).
TYPED_TAGS: Final = "typed_tags"
ERROR_REASON: Final = "error_reason"
IS_FIRST: Final = "is_first"
OUTCOME: Final = "outcome"

SOURCE_API: Final = "api"
SOURCE_FILE: Final = "csv_import"
SOURCE_WAREHOUSE: Final = "warehouse_sync"

# Headers `customFields.<key>` (compared lower-cased) gather into customFields.
CUSTOM_FIELD_PREFIX: Final = f"{field_of_kind('json_object').api_name.lower()}."

# What a column can be mapped to explicitly (`--map HEADER=field`): an API name, or a custom field.
CUSTOM_FIELDS_API: Final = field_of_kind("json_object").api_name
MAP_TARGETS: Final = ", ".join([*API_TO_COLUMN, f"{CUSTOM_FIELDS_API}.<key>"])


def map_target(name: str) -> str:
    """The field `name` names in a column mapping, as a report writes it: an API name
    (`firstName`; the column name `first_name` and other cases are accepted too) or
    `customFields.<key>`. ValueError naming the valid fields when it names none."""
    text = name.strip()
    if text.lower().startswith(CUSTOM_FIELD_PREFIX):
        key = text[len(CUSTOM_FIELD_PREFIX) :].strip()
        if key:
            return f"{CUSTOM_FIELDS_API}.{key}"
    elif wanted := header_key(text):
        for lead_field in LEAD_FIELDS:
            if wanted in (header_key(lead_field.api_name), header_key(lead_field.column)):
                return lead_field.api_name
    raise ValueError(f"unknown field {name!r}: the fields are {MAP_TARGETS}")


# Header spellings, compared after lower-casing and removing spaces, `_` and `-`.
HEADER_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    field.column: field.headers for field in LEAD_FIELDS
}
HEADER_TO_COLUMN: Final[dict[str, str]] = {
    alias: column for column, aliases in HEADER_ALIASES.items() for alias in aliases
}

# The README section holding header_table()'s output.
README_HEADERS_HEADING: Final = "### Recognised column headers"


def header_table() -> str:
    """The markdown table of every field's header spellings, as the README shows it."""
    rows = ["| field | column | recognised headers |", "|---|---|---|"]
    for field in LEAD_FIELDS:
        headers = ", ".join(f"`{header}`" for header in field.headers)
        rows.append(f"| `{field.api_name}` | `{field.column}` | {headers} |")
    return "\n".join(rows)


def with_header_table(readme: str) -> str:
    """The README text with the table under README_HEADERS_HEADING replaced by header_table()."""
    heading = re.escape(README_HEADERS_HEADING)
    pattern = re.compile(rf"(^{heading}\n(?:(?!#|\|).*\n)*)(?:\|.*\n)+", re.MULTILINE)
    updated, found = pattern.subn(lambda m: m.group(1) + header_table() + "\n", readme, count=1)
    if not found:
        raise ValueError(f"no table under {README_HEADERS_HEADING!r}")
    return updated
