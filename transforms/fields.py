"""The lead's fields, their limits and the header spellings that map to them (SPEC 1, 3)."""

from __future__ import annotations

from typing import Final

# API field name (camelCase) -> column name (snake_case), in the order of SPEC section 1.
API_TO_COLUMN: Final[dict[str, str]] = {
    "email": "email",
    "firstName": "first_name",
    "lastName": "last_name",
    "company": "company",
    "title": "title",
    "phone": "phone",
    "linkedinUrl": "linkedin_url",
    "website": "website",
    "notes": "notes",
    "source": "source",
    "status": "status",
    "customFields": "custom_fields",
    "tags": "tags",
}
COLUMN_TO_API: Final[dict[str, str]] = {column: api for api, column in API_TO_COLUMN.items()}

# Plain text columns with their maximum length in characters.
TEXT_LIMITS: Final[dict[str, int]] = {
    "first_name": 255,
    "last_name": 255,
    "company": 255,
    "title": 255,
    "phone": 50,
    "linkedin_url": 2048,
    "website": 2048,
    "notes": 10_000,
    "source": 255,
}
TEXT_COLUMNS: Final[tuple[str, ...]] = tuple(TEXT_LIMITS)
URL_COLUMNS: Final[tuple[str, ...]] = ("linkedin_url", "website")
MAX_EMAIL_LENGTH: Final = 254
MAX_TAG_LENGTH: Final = 100

STATUSES: Final[tuple[str, ...]] = ("active", "bounced", "unsubscribed", "replied")
DEFAULT_STATUS: Final = "active"

# The canonical staged frame: every input column as text (custom_fields and tags as raw cells).
RAW_COLUMNS: Final[tuple[str, ...]] = tuple(API_TO_COLUMN.values())
# Columns written to `leads` for a created row, in COPY order.
LEAD_COLUMNS: Final[tuple[str, ...]] = RAW_COLUMNS

# Internal columns of the staged frame.
ROW_INDEX: Final = "row_index"
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

CUSTOM_FIELD_PREFIX: Final = "customfields."

# Header spellings, compared after lower-casing and removing spaces, `_` and `-`.
HEADER_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "email": ("email", "emailaddress", "mail", "workemail", "businessemail", "emailid"),
    "first_name": ("firstname", "first", "givenname", "forename"),
    "last_name": ("lastname", "last", "surname", "familyname"),
    "company": ("company", "companyname", "organization", "organisation", "account", "employer"),
    "title": ("title", "jobtitle", "position", "role"),
    "phone": ("phone", "phonenumber", "mobile", "mobilephone", "telephone", "tel"),
    "linkedin_url": ("linkedinurl", "linkedin", "personlinkedinurl", "linkedinprofile"),
    "website": ("website", "websiteurl", "companywebsite", "url", "domain"),
    "notes": ("notes", "note", "comments", "comment"),
    "source": ("source", "leadsource"),
    "status": ("status", "leadstatus"),
    "custom_fields": ("customfields", "custom"),
    "tags": ("tags", "tag", "labels"),
}


def header_key(header: str) -> str:
    """Return the comparison key of a column header: lower case without spaces, `_` and `-`."""
    return "".join(ch for ch in header.strip().lower() if ch not in " _-")


HEADER_TO_COLUMN: Final[dict[str, str]] = {
    alias: column for column, aliases in HEADER_ALIASES.items() for alias in aliases
}
