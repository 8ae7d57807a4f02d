"""A row-by-row, pure-Python reference model of SPEC sections 3-5 and 7 (API-style dict input),
and of the `on_existing` policies for rows whose email already has an active lead.

Deliberately naive: one loop over the rows, plain string methods, dicts for the lead table. It
shares no code with `transforms/` or `flows/`. The property tests compare the engine to it.

Decisions where SPEC.md is silent (the engine agrees with each):

- "Whitespace" is the Unicode White_Space property (`WHITESPACE` below), both for stripping and
  for "no whitespace inside" a URL. Python's `str.isspace` also counts the ASCII information
  separators U+001C..U+001F, which are control characters, not whitespace.
- A row may break several rules; SPEC does not rank them, so `check_row` returns every
  applicable reason and the engine's single reason must be one of them. Reasons not worded by
  SPEC use the phrases `<field> contains a NUL character`, `<field> longer than <n> characters`,
  `<field> contains whitespace`, `<field> must be a string`, `tags must be a list of strings`
  and `tag longer than 100 characters`.
- A field whose value has the wrong Python type (not a string; customFields not a mapping; tags
  not a list of strings) is a row error for that field and is not checked further.
- `customFields` values are stored as given (a JSON object is data, not a text value to trim);
  a NUL anywhere in its keys or string values is a row error.
- Unicode data is Python's (`unicodedata`); the tests draw only characters assigned in it, as
  engines built on a newer Unicode version may case-map or compose newer characters.
- Whether an `on_existing` update changes a lead compares custom_fields as JSON (`1` and `true`
  differ, as in jsonb, though Python's `1 == True`).
- A duplicate says why (`duplicateReasons`): a row repeating an email of the input names the
  email's first row, even when the email also has a lead in the workspace; otherwise it names
  the workspace's lead (the active one, or the soft-deleted one restoring would have taken).
"""

from __future__ import annotations

import copy
import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Unicode White_Space (PropList.txt).
WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)

# API field -> (column, max length) for the plain text fields of SPEC section 1.
TEXT_FIELDS = {
    "firstName": ("first_name", 255),
    "lastName": ("last_name", 255),
    "company": ("company", 255),
    "title": ("title", 255),
    "phone": ("phone", 50),
    "linkedinUrl": ("linkedin_url", 2048),
    "website": ("website", 2048),
    "notes": ("notes", 10_000),
    "source": ("source", 255),
}
URL_FIELDS = ("linkedinUrl", "website")
STATUSES = ("active", "bounced", "unsubscribed", "replied")
MAX_TAG = 100
SAMPLE = 100

# Columns of a stored lead that the model tracks, besides id, email and deleted_at.
LEAD_FIELDS = (
    *(column for column, _ in TEXT_FIELDS.values()),
    "status",
    "custom_fields",
    "tags",
)

LOCAL_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+/=?^_`{|}~.-")
LABEL_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")
LETTERS = set("abcdefghijklmnopqrstuvwxyz")


def clean(value: str) -> str | None:
    """Strip surrounding whitespace; an empty string is a missing value."""
    stripped = value.strip(WHITESPACE)
    return stripped if stripped else None


def normalise_email(value: Any) -> str | None:
    """Stripped, NFC, lower-cased as a whole; None when missing or empty."""
    if not isinstance(value, str):
        return None
    stripped = clean(value)
    if stripped is None:
        return None
    return unicodedata.normalize("NFC", stripped).lower()


def _label_ok(label: str) -> bool:
    return (
        1 <= len(label) <= 63
        and all(ch in LABEL_CHARS for ch in label)
        and not label.startswith("-")
        and not label.endswith("-")
    )


def email_is_valid(email: str) -> bool:
    """SPEC section 3, checked piece by piece on a normalised email."""
    if not email.isascii() or len(email) > 254 or email.count("@") != 1:
        return False
    local, domain = email.split("@")
    if not 1 <= len(local) <= 64 or not all(ch in LOCAL_CHARS for ch in local):
        return False
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return False
    labels = domain.split(".")
    if len(labels) < 2 or not all(_label_ok(label) for label in labels):
        return False
    last = labels[-1]
    return last.startswith("xn--") or (len(last) >= 2 and all(ch in LETTERS for ch in last))


def _has_nul(value: Any) -> bool:
    """A NUL in a string, or in any key or string inside a JSON-like value."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


@dataclass
class Row:
    """One input row after section 3: the raw email, the normalised lead fields, the errors."""

    raw_email: str
    email: str | None
    fields: dict[str, Any] = field(default_factory=dict)  # column -> value; missing = absent
    reasons: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.reasons


def check_row(row: Mapping[str, Any]) -> Row:
    """Normalise and validate one API-style dict (camelCase keys)."""
    raw = row.get("email")
    result = Row(raw_email=raw if isinstance(raw, str) else "", email=normalise_email(raw))
    reasons = result.reasons

    if raw is not None and not isinstance(raw, str):
        reasons.append("email must be a string")
    if result.email is None:
        reasons.append("empty email")
    else:
        if "\x00" in raw:
            reasons.append("email contains a NUL character")
        if not email_is_valid(result.email):
            reasons.append("invalid email format")

    for api, (column, limit) in TEXT_FIELDS.items():
        value = row.get(api)
        if value is None:
            continue
        if not isinstance(value, str):
            reasons.append(f"{api} must be a string")
            continue
        if "\x00" in value:
            reasons.append(f"{api} contains a NUL character")
        text = clean(value)
        if text is None:
            continue
        if len(text) > limit:
            reasons.append(f"{api} longer than {limit:,} characters")
        if api in URL_FIELDS and any(ch in WHITESPACE for ch in text):
            reasons.append(f"{api} contains whitespace")
        result.fields[column] = text

    status = row.get("status")
    if status is not None:
        if not isinstance(status, str):
            reasons.append("status must be a string")
        else:
            if "\x00" in status:
                reasons.append("status contains a NUL character")
            given = clean(status)
            if given is not None:
                if given.lower() in STATUSES:
                    result.fields["status"] = given.lower()
                else:
                    expected = "(expected active, bounced, unsubscribed or replied)"
                    reasons.append(f'invalid status "{given}" {expected}')

    custom = row.get("customFields")
    if custom is not None:
        if not isinstance(custom, Mapping):
            reasons.append("customFields must be a JSON object")
        elif _has_nul(custom):
            reasons.append("customFields contains a NUL character")
        else:
            result.fields["custom_fields"] = copy.deepcopy(dict(custom))

    tags = row.get("tags")
    if tags is not None:
        if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
            reasons.append("tags must be a list of strings")
        else:
            kept: list[str] = []
            for tag in tags:
                text = clean(tag)
                if text is not None and text not in kept:
                    kept.append(text)
            if any("\x00" in tag for tag in tags):
                reasons.append("tags contains a NUL character")
            if any(len(tag) > MAX_TAG for tag in kept):
                reasons.append(f"tag longer than {MAX_TAG} characters")
            result.fields["tags"] = kept
    return result


# --- sections 4, 5 and 7 ------------------------------------------------------------------


def new_lead(email: str, fields: Mapping[str, Any], default_source: str) -> dict[str, Any]:
    """A created lead: given fields plus the defaults of SPEC section 5."""
    lead: dict[str, Any] = {"id": None, "email": email, "deleted_at": None}
    for column in LEAD_FIELDS:
        lead[column] = None
    lead.update(status="active", source=default_source, custom_fields={}, tags=[])
    lead.update(copy.deepcopy(dict(fields)))
    return lead


def restore_lead(lead: dict[str, Any], fields: Mapping[str, Any]) -> None:
    """The restore merge of SPEC section 5, in place."""
    lead["deleted_at"] = None
    for column, value in fields.items():
        if column == "custom_fields":
            lead["custom_fields"] = {**lead["custom_fields"], **copy.deepcopy(value)}
        elif column == "tags":
            lead["tags"] = lead["tags"] + [t for t in value if t not in lead["tags"]]
        else:
            lead[column] = value


ON_EXISTING = ("skip", "fill_empty", "overwrite")
# The plain text columns a policy merges field by field (status has rules of its own).
POLICY_TEXT_COLUMNS = tuple(column for column, _ in TEXT_FIELDS.values())


def overwrite_lead(lead: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """on_existing = overwrite: what the active `lead` becomes (a new dict)."""
    merged = copy.deepcopy(dict(lead))
    for column in (*POLICY_TEXT_COLUMNS, "status"):
        given = fields.get(column)
        if given is not None:
            merged[column] = given
    given_custom = fields.get("custom_fields", {})
    merged["custom_fields"] = {**lead["custom_fields"], **copy.deepcopy(given_custom)}
    given_tags = fields.get("tags", [])
    if len(given_tags) > 0:
        merged["tags"] = list(given_tags)
    return merged


def fill_empty_lead(lead: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """on_existing = fill_empty: what the active `lead` becomes (a new dict)."""
    merged = copy.deepcopy(dict(lead))
    for column in POLICY_TEXT_COLUMNS:  # not status: it is never empty and always kept
        stored = lead[column]
        if stored is None or stored == "":
            merged[column] = fields.get(column)
    given_custom = fields.get("custom_fields", {})
    merged["custom_fields"] = {**copy.deepcopy(given_custom), **lead["custom_fields"]}
    if len(lead["tags"]) == 0:
        merged["tags"] = list(fields.get("tags", []))
    return merged


def same_lead_fields(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two leads agree on every LEAD_FIELDS column (custom_fields compared as JSON)."""
    for column in LEAD_FIELDS:
        if column == "custom_fields":
            if json.dumps(a[column], sort_keys=True) != json.dumps(b[column], sort_keys=True):
                return False
        elif a[column] != b[column]:
            return False
    return True


@dataclass
class ImportModel:
    """What one import does: the report, each row's outcome, and the workspace afterwards."""

    report: dict[str, Any]
    outcomes: list[str]
    leads: list[dict[str, Any]]
    active_before: int
    restored_ids: list[int]
    updated_ids: list[int] = field(default_factory=list)  # active leads an update changed
    unchanged_update_ids: list[int] = field(default_factory=list)  # updates that changed nothing

    @property
    def active_after(self) -> int:
        return sum(1 for lead in self.leads if lead["deleted_at"] is None)


def run_import(
    rows: list[Mapping[str, Any]],
    leads: list[dict[str, Any]],
    *,
    restore_soft_deleted: bool = True,
    source: str = "api",
    on_existing: str = "skip",
) -> ImportModel:
    """Classify `rows` against the workspace's `leads` (dicts with id, email, deleted_at and
    LEAD_FIELDS) and return the report and the leads as they are after the import.

    `on_existing`: with `skip`, the first row of an email that has an active lead is a
    duplicate; with `fill_empty` or `overwrite` that row is merged into the active lead, and is
    `updated` if the lead changed, else a duplicate."""
    assert on_existing in ON_EXISTING, on_existing
    leads = copy.deepcopy(leads)
    active_before = sum(1 for lead in leads if lead["deleted_at"] is None)
    seen: dict[str, int] = {}  # email -> index of its first valid row
    outcomes: list[str] = []
    duplicate_emails: list[str] = []
    # Why each duplicate is one: ("input", index of the email's first row), or ("active" |
    # "deleted" | "unchanged", the workspace lead's id).
    duplicate_reasons: list[tuple[str, int]] = []
    error_details: list[dict[str, Any]] = []
    created: list[dict[str, Any]] = []
    restored_ids: list[int] = []
    updated_ids: list[int] = []
    unchanged_update_ids: list[int] = []
    for index, given in enumerate(rows):
        row = check_row(given)
        if not row.valid:
            outcomes.append("error")
            error_details.append({"index": index, "email": row.raw_email, "reasons": row.reasons})
            continue
        email = row.email
        assert email is not None
        first = email not in seen
        seen.setdefault(email, index)
        reason: tuple[str, int] | None = None
        same = [lead for lead in leads if lead["email"] == email]
        active = [lead for lead in same if lead["deleted_at"] is None]
        deleted = [lead for lead in same if lead["deleted_at"] is not None]
        assert len(active) <= 1, email  # one active lead per email (a unique index)
        if not first:
            outcome = "duplicate"
            reason = ("input", seen[email])
        elif active and on_existing == "skip":
            outcome = "duplicate"
            reason = ("active", active[0]["id"])
        elif active:
            target = active[0]
            if on_existing == "overwrite":
                merged = overwrite_lead(target, row.fields)
            else:
                merged = fill_empty_lead(target, row.fields)
            if same_lead_fields(merged, target):
                outcome = "duplicate"
                reason = ("unchanged", target["id"])
                unchanged_update_ids.append(target["id"])
            else:
                outcome = "updated"
                target.update(merged)
                updated_ids.append(target["id"])
        elif deleted and restore_soft_deleted:
            outcome = "restored"
            target = max(deleted, key=lambda lead: (lead["deleted_at"], lead["id"]))
            restore_lead(target, row.fields)
            restored_ids.append(target["id"])
        elif deleted:
            outcome = "duplicate"
            target = max(deleted, key=lambda lead: (lead["deleted_at"], lead["id"]))
            reason = ("deleted", target["id"])
        else:
            outcome = "created"
            created.append(new_lead(email, row.fields, source))
        outcomes.append(outcome)
        if outcome == "duplicate":
            assert reason is not None
            duplicate_emails.append(email)
            duplicate_reasons.append(reason)
    report = {
        "created": outcomes.count("created"),
        "restored": outcomes.count("restored"),
        "updated": outcomes.count("updated"),
        "duplicates": outcomes.count("duplicate"),
        "errors": outcomes.count("error"),
        "duplicateEmails": duplicate_emails[:SAMPLE],
        "errorDetails": error_details[:SAMPLE],  # `reasons`: any one of them is right
        "duplicateReasons": duplicate_reasons[:SAMPLE],  # not a report key: the model's own
    }
    counted = ("created", "restored", "updated", "duplicates", "errors")
    assert sum(report[k] for k in counted) == len(rows)
    return ImportModel(
        report,
        outcomes,
        leads + created,
        active_before,
        restored_ids,
        updated_ids,
        unchanged_update_ids,
    )
