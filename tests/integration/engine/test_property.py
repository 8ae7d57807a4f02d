"""Property tests: the engine against the pure-Python reference model
(tests/support/reference_model.py).

Against the database (each example gets fresh workspaces, arranged with plain SQL):

1. `test_import_matches_model` — `import_leads` with random API-style rows (a small pool of
   emails in varied case, padding and NFC forms so that collisions are frequent; invalid and
   empty emails; optional fields, some broken) into a workspace with random pre-existing leads
   (active and soft-deleted, several deleted copies of one email at equal or different
   deleted_at, in campaigns), a random restore flag, source, dry run and plan limit. The report
   (six contract keys), every lead of the workspace afterwards (fields, tags order,
   custom_fields, deleted_at; pre-existing leads by id, so which copy was restored is checked),
   which leads were touched (updated_at), campaign lead counts, the plan-limit error and a
   neighbouring workspace that must stay invisible and untouched all equal the model's.
   The `on_existing` policy is random too (mostly skip): under fill_empty and overwrite the
   stored leads have empty ('' or null) fields and tag lists now and then, and some rows repeat
   an active lead's own values, so that both an update and an update that changes nothing (a
   duplicate) are reached; updated leads must hold the model's values and a newer updated_at.
2. `test_batched_import_matches_model` — the same, with the rows cut into batches that are
   prepared separately and imported by `run_import` in one transaction (the file path).

Pure (no database):

3. `test_prepare_matches_model` — `prepare_leads` over a much wider space of rows (random
   Unicode, odd whitespace, values at and over their length limits, NUL characters, wrong types,
   clean rows with zero to two broken fields) agrees with the model row by row: raw email,
   normalised email, validity and reason, normalised fields, first occurrence.
4. `test_email_rule_matches_model` — the same over many emails per batch: valid emails built
   from parts, each broken in one targeted way, glued from invalid parts, random text.

`--hypothesis-show-statistics` shows which situations the generated examples reached.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from psycopg2.extras import Json

from leads_import import engine
from leads_import.engine import ImportOptions, import_leads
from leads_import.errors import EmptyInputError, PlanLimitExceededError
from tests.support.database import make_workspace
from tests.support.reference_model import (
    LEAD_FIELDS,
    STATUSES,
    TEXT_FIELDS,
    URL_FIELDS,
    WHITESPACE,
    ImportModel,
    check_row,
    run_import,
)
from transforms.fields import LINE
from transforms.normalise import prepare_leads
from transforms.records import records_to_raw_frame

# --- strategies shared by the properties -------------------------------------------------

PADDING = st.sampled_from(["", "", "", " ", "  ", "\t", "\n", "\xa0", "\u3000", " \r\n "])


@st.composite
def recased(draw: st.DrawFn, text: str) -> str:
    """`text` with each letter's case chosen at random."""
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(ch.upper() if flip else ch for ch, flip in zip(text, flips, strict=True))


@st.composite
def padded(draw: st.DrawFn, inner: st.SearchStrategy[str]) -> str:
    return draw(PADDING) + draw(inner) + draw(PADDING)


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, drawn with these relative weights (`st.one_of` drops repeats)."""
    pool = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(pool).flatmap(lambda strategy: strategy)


def status_values(extra: st.SearchStrategy[Any] | None = None) -> st.SearchStrategy[Any]:
    valid = st.sampled_from(STATUSES).flatmap(recased)
    invalid = st.sampled_from(["foo", "activ", "Active!", "deleted", "ACTIVE X"])
    choices = [(4, padded(valid)), (1, padded(invalid)), (1, st.just(""))]
    return weighted(*choices, *([(1, extra)] if extra is not None else []))


# --- properties 1 and 2: the whole import against the database ---------------------------

BASE_EMAILS = [
    "ann@ex.com",
    "bob@ex.com",
    "ann@mail.org",
    "c.d+o'n@ex.com",
    "kim@ex.com",
    "x`y@ex.com",
]
OTHER_EMAIL = "zed@ex.com"  # exists in the workspace, never imported
INVALID_EMAILS = [
    "ann@",
    "@ex.com",
    "ann@@ex.com",
    "ann..b@ex.com",
    ".ann@ex.com",
    "ann.@ex.com",
    "ann@ex",
    "ann@-ex.com",
    "ann@ex.c0m",
    "ann @ex.com",
    "ann@ex..com",
    "josé@ex.com",
    "ann\x00@ex.com",
]
MISSING = object()  # the row has no "email" key at all
LOOKUP_PER_BATCH = 10**9  # a commit_every never reached: one lookup per batch, no commit


@st.composite
def api_email(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["base"] * 12 + ["nfc", "invalid", "empty", "other"]))
    if kind == "base":
        return draw(padded(st.sampled_from(BASE_EMAILS).flatmap(recased)))
    if kind == "nfc":  # NFC makes U+212A KELVIN SIGN "K" and U+1FEF GREEK VARIA "`"
        return draw(padded(st.sampled_from(["\u212aim@ex.com", "X\u1fefy@ex.com"])))
    if kind == "invalid":
        return draw(padded(st.sampled_from(INVALID_EMAILS)))
    if kind == "other":
        return draw(st.sampled_from([OTHER_EMAIL, 42]))
    return draw(st.sampled_from(["", "   ", " \t\n", None, MISSING]))


def short_text(field: str, limit: int) -> st.SearchStrategy[Any]:
    plain = st.sampled_from(
        [
            "Ann",
            "Zoë",
            "O'Brien",
            "a,b",
            'say "hi"',
            "back\\slash",
            "\\.",
            f"two\nlines {field}",
            "",
            "  ",
        ]
    )
    broken = st.sampled_from(["x" * (limit + 1), "a\x00b", 7])
    return rarely(padded(plain), broken)


def rarely(valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any]) -> st.SearchStrategy:
    """`valid` most of the time: rows with several broken fields teach little."""
    return weighted((19, valid), (1, invalid))


JSON_SCALARS = st.one_of(
    st.integers(-5, 5),
    st.booleans(),
    st.none(),
    st.sampled_from(["x", " y ", "", "\\u0000", "é", 'q"t', "back\\slash", "null"]),
)
JSON_VALUES = st.one_of(
    JSON_SCALARS, st.dictionaries(st.sampled_from(["n", "m"]), JSON_SCALARS, max_size=2)
)
CUSTOM_KEYS = st.sampled_from(["a", "b", "c", " d", "plan"])
TAG_TEXT = rarely(
    st.sampled_from(
        [
            "a",
            "A",
            " a ",
            "",
            "  ",
            "b",
            "vip",
            "old",
            "NULL",
            "a,b",
            'q"t',
            "back\\slash",
            "{x}",
            "é",
        ]
    ),
    st.sampled_from(["x" * 101, "a\x00"]),
)


def custom_fields() -> st.SearchStrategy[Any]:
    return rarely(
        st.dictionaries(CUSTOM_KEYS, JSON_VALUES, max_size=3),
        st.one_of(
            st.sampled_from([[1], 5, ["a"]]),
            st.dictionaries(st.just("k"), st.just("nul\x00"), min_size=1),
        ),
    )


def tag_lists() -> st.SearchStrategy[Any]:
    return rarely(st.lists(TAG_TEXT, max_size=5), st.tuples(st.just("a"), st.integers()).map(list))


@st.composite
def api_row(draw: st.DrawFn) -> dict[str, Any]:
    row: dict[str, Any] = {}
    email = draw(api_email())
    if email is not MISSING:
        row["email"] = email
    optional: dict[str, st.SearchStrategy[Any]] = {
        "firstName": short_text("firstName", 255),
        "company": short_text("company", 255),
        "lastName": short_text("lastName", 255),
        "title": short_text("title", 255),
        "phone": short_text("phone", 50),
        "website": rarely(
            st.sampled_from(["ex.com", " https://ex.com/a "]), st.just("https://ex.com/a b")
        ),
        "linkedinUrl": rarely(st.just("https://linkedin.com/in/ann"), st.just("in/\u2003ann")),
        "notes": st.sampled_from(["note", "  ", "multi\nline\n\\.\nnote"]),
        "source": rarely(st.sampled_from(["web", " csv ", ""]), st.just("s" * 256)),
        "status": rarely(status_values(), st.just(3)),
        "customFields": custom_fields(),
        "tags": tag_lists(),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):  # each field present in about half of the rows
            row[name] = draw(weighted((3, strategy), (1, st.none())))
    return row


@st.composite
def api_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    size = 0 if draw(st.sampled_from([False] * 30 + [True])) else draw(st.integers(1, 25))
    rows = draw(st.lists(api_row(), min_size=size, max_size=size))
    # Now and then the rows again and again, so that the 100-row cut of the samples is reached.
    repeat = 2 + 101 // max(size, 1) if draw(st.sampled_from([False] * 5 + [True])) else 1
    return [copy.deepcopy(row) for _ in range(repeat) for row in rows]


T0 = datetime(2024, 1, 1, tzinfo=UTC)


@st.composite
def stored_lead(draw: st.DrawFn, email: str, deleted_minute: int | None) -> dict[str, Any]:
    lead: dict[str, Any] = {column: None for column in LEAD_FIELDS}
    lead.update(
        email=email,
        deleted_at=None if deleted_minute is None else T0 + timedelta(minutes=deleted_minute),
        # '' as well as null: fill_empty treats both as empty (and may turn '' into null).
        first_name=draw(st.sampled_from([None, "Old", "Stored", "", "Ann"])),
        company=draw(st.sampled_from([None, "Acme", "Acme", ""])),
        title=draw(st.sampled_from([None, "CEO"])),
        phone=draw(st.sampled_from([None, None, None, "555", ""])),
        website=draw(st.sampled_from([None, None, None, "ex.com"])),
        notes=draw(st.sampled_from([None, "kept"])),
        source=draw(st.sampled_from([None, "csv_import", "crm", "web"])),
        status=draw(st.sampled_from(STATUSES)),
        custom_fields=draw(st.dictionaries(CUSTOM_KEYS, JSON_VALUES, max_size=3)),
        tags=draw(st.lists(st.sampled_from(["old", "vip", "a", "b"]), max_size=3, unique=True)),
    )
    return lead


@st.composite
def echo_row(draw: st.DrawFn, lead: dict[str, Any]) -> dict[str, Any]:
    """A row giving some of an active lead's own values (in varied case and padding). Under
    overwrite it changes nothing; under fill_empty neither, unless the lead has a '' field
    (which becomes null). It only gives tags the lead has, or none."""
    row: dict[str, Any] = {"email": draw(padded(recased(lead["email"])))}
    for api, (column, _) in TEXT_FIELDS.items():
        value = lead[column]
        if value not in (None, "") and draw(st.booleans()):
            row[api] = draw(padded(st.just(value)))
    if draw(st.booleans()):
        row["status"] = draw(padded(recased(lead["status"])))
    if draw(st.booleans()):
        keys = draw(st.lists(st.sampled_from(sorted(lead["custom_fields"]) or ["-"]), unique=True))
        row["customFields"] = {k: copy.deepcopy(lead["custom_fields"][k]) for k in keys if k != "-"}
    if lead["tags"]:
        if draw(st.booleans()):  # the same list, or with a repeat and a blank dropped on input
            row["tags"] = draw(
                st.sampled_from([list(lead["tags"]), [*lead["tags"], " ", lead["tags"][0]]])
            )
    elif draw(st.booleans()):  # no tags given either way
        row["tags"] = draw(st.sampled_from([[], ["", " "], None]))
    return row


@st.composite
def workspace_state(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Pre-existing leads in insertion order (which decides their ids)."""
    planned: list[dict[str, Any]] = []
    for email in [*BASE_EMAILS, OTHER_EMAIL]:
        if draw(st.integers(0, 2)) == 2:
            planned.append(draw(stored_lead(email, None)))
        copies = draw(st.sampled_from([0, 0, 1, 2, 3]))
        minutes = st.sampled_from([0, 0, 1, 2])  # equal minutes: the id decides
        for minute in draw(st.lists(minutes, min_size=copies, max_size=copies)):
            planned.append(draw(stored_lead(email, minute)))
    return draw(st.permutations(planned))


INSERT_LEAD = """
INSERT INTO leads (workspace_id, email, first_name, last_name, company, title, phone,
                   linkedin_url, website, notes, source, status, custom_fields, tags, deleted_at)
VALUES (%(workspace_id)s, %(email)s, %(first_name)s, %(last_name)s, %(company)s, %(title)s,
        %(phone)s, %(linkedin_url)s, %(website)s, %(notes)s, %(source)s, %(status)s,
        %(custom_fields)s, %(tags)s::text[], %(deleted_at)s)
RETURNING id
"""
SELECT_LEADS = f"""
SELECT id, email, {", ".join(LEAD_FIELDS)}, deleted_at, updated_at
FROM leads WHERE workspace_id = %s
"""


def arrange(db, workspace_id: int, leads: list[dict[str, Any]]) -> None:
    """Insert the leads with plain SQL, recording each one's id in the dict."""
    with db.cursor() as cur:
        for lead in leads:
            params = {
                **lead,
                "workspace_id": workspace_id,
                "custom_fields": Json(lead["custom_fields"]),
            }
            cur.execute(INSERT_LEAD, params)
            (lead["id"],) = cur.fetchone()


def add_campaigns(db, workspace_id: int, leads, memberships: list[list[int]]) -> list[int]:
    """Campaigns with the given members (indexes into `leads`), counts consistent with them."""
    ids = []
    with db.cursor() as cur:
        for members in memberships:
            chosen = {leads[i]["id"]: leads[i] for i in members if i < len(leads)}
            active = sum(1 for lead in chosen.values() if lead["deleted_at"] is None)
            cur.execute(
                "INSERT INTO campaigns (workspace_id, name, lead_count) VALUES (%s, 'c', %s)"
                " RETURNING id",
                (workspace_id, active),
            )
            (campaign_id,) = cur.fetchone()
            for lead_id in chosen:
                cur.execute("INSERT INTO campaign_leads VALUES (%s, %s)", (campaign_id, lead_id))
            ids.append(campaign_id)
    return ids


def canonical(leads: list[dict[str, Any]], known_ids: set[int]) -> list[tuple]:
    """Leads as comparable tuples: ids kept only for pre-existing leads, sorted."""
    out = []
    for lead in leads:
        deleted_at = lead["deleted_at"]
        out.append(
            (
                lead["id"] if lead["id"] in known_ids else None,
                lead["email"],
                *[json.dumps(lead[c], sort_keys=True) for c in LEAD_FIELDS],
                None if deleted_at is None else deleted_at.timestamp(),
            )
        )
    return sorted(out, key=repr)


def database_leads(db, workspace_id: int) -> list[dict[str, Any]]:
    with db.cursor() as cur:
        cur.execute(SELECT_LEADS, (workspace_id,))
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def campaign_counts(db, campaign_ids: list[int]) -> dict[int, int]:
    with db.cursor() as cur:
        cur.execute("SELECT id, lead_count FROM campaigns WHERE id = ANY(%s)", (campaign_ids,))
        return dict(cur.fetchall())


def snapshot(db, workspace_id: int, known_ids: set[int], campaigns: list[int]) -> tuple:
    """The workspace's leads, the pre-existing leads' updated_at and the campaign counts."""
    leads = database_leads(db, workspace_id)
    updated = {lead["id"]: lead["updated_at"] for lead in leads if lead["id"] in known_ids}
    return canonical(leads, known_ids), updated, campaign_counts(db, campaigns)


FIRST_LINE = 2  # the line of an input's first row when it is read from a file (via_batches)
REASON_TEXT = {
    "input": "duplicate of line {}",
    "active": "already in workspace (lead {})",
    "deleted": "soft-deleted in workspace (lead {}), not restored",
    "unchanged": "already in workspace (lead {}), nothing to update",
}


def assert_report_matches(report: dict[str, Any], expected: dict[str, Any]) -> None:
    for key in ("created", "restored", "updated", "duplicates", "errors", "duplicateEmails"):
        assert report[key] == expected[key], key
    details, wanted = report["errorDetails"], expected["errorDetails"]
    assert [(d["index"], d["email"]) for d in details] == [(w["index"], w["email"]) for w in wanted]
    # Rows read from a file are named by their line as well; the others by their index alone.
    lines = bool(details) and "line" in details[0]
    for detail, want in zip(details, wanted, strict=True):
        assert set(detail) == {"index", "email", "reason"} | ({"line"} if lines else set())
        assert detail["reason"] in want["reasons"], (detail, want["reasons"])
        if lines:
            assert detail["line"] == detail["index"] + FIRST_LINE
    if "duplicateDetails" not in report:
        return
    # The duplicates of a file say why: the line of the email's first row, or the lead.
    reasons = [
        REASON_TEXT[kind].format(ref + FIRST_LINE if kind == "input" else ref)
        for kind, ref in expected["duplicateReasons"]
    ]
    got = report["duplicateDetails"]
    assert [d["email"] for d in got] == expected["duplicateEmails"]
    assert [d["line"] - d["index"] for d in got] == [FIRST_LINE] * len(got)
    assert [d["reason"] for d in got] == reasons


def note_coverage(stored: list[dict[str, Any]], model: ImportModel, on_existing: str) -> None:
    """Hypothesis events (see --hypothesis-show-statistics): is the interesting space reached?"""
    for outcome in sorted(set(model.outcomes)):
        event(f"has {outcome} rows")
    event(f"on_existing={on_existing}")
    if model.unchanged_update_ids:
        event("update changed nothing")
    if len(model.report["duplicateEmails"]) == 100 or len(model.report["errorDetails"]) == 100:
        event("a sample is cut at 100")
    by_id = {lead["id"]: lead for lead in stored}
    for lead_id in model.restored_ids:
        target = by_id[lead_id]
        copies = [
            lead
            for lead in stored
            if lead["email"] == target["email"]
            and lead["deleted_at"] is not None
            and lead is not target
        ]
        if copies:
            event("restored one of several soft-deleted copies")
        if any(lead["deleted_at"] == target["deleted_at"] for lead in copies):
            event("restored one of copies deleted at the same time (id decides)")


def old_lead(email: str, minute: int | None, **fields: Any) -> dict[str, Any]:
    """A pre-existing lead for the explicit examples."""
    lead: dict[str, Any] = {column: None for column in LEAD_FIELDS}
    deleted_at = None if minute is None else T0 + timedelta(minutes=minute)
    lead.update(email=email, deleted_at=deleted_at, status="active", custom_fields={}, tags=[])
    lead.update(fields)
    return lead


@dataclass
class Scenario:
    """One generated case of the database properties."""

    rows: list[dict[str, Any]]
    stored: list[dict[str, Any]]  # pre-existing leads, in insertion (id) order
    memberships: list[list[int]]  # campaigns' members, as indexes into `stored`
    restore: bool
    dry_run: bool
    limit_slack: int | None  # plan limit = active leads before + slack; None: unlimited
    source: str
    on_existing: str = "skip"  # what a row does to an active lead of its email


ImportCall = Callable[[Scenario, str, str], dict[str, Any]]


def via_import_leads(case: Scenario, slug: str, database_url: str) -> dict[str, Any]:
    return import_leads(
        copy.deepcopy(case.rows),
        slug,
        dry_run=case.dry_run,
        restore_soft_deleted=case.restore,
        source=case.source,
        on_existing=case.on_existing,
        database=database_url,
    )


def batch_ends(rows: list[Any], cuts: list[int]) -> list[int]:
    return [*sorted({cut for cut in cuts if 0 < cut < len(rows)}), len(rows)]


@dataclass
class StreamedChunks:
    """An input read chunk by chunk, as a file is (not `Frames`, which the engine takes for a
    short input held in memory): it goes through the writer-thread pipeline, against a
    snapshot of the workspace or, with a plan limit, after a first pass for the emails."""

    frames: list[pl.DataFrame]
    warnings: list[str] = field(default_factory=list)
    prepared: bool = True

    def chunks(self) -> Iterator[pl.DataFrame]:
        yield from self.frames


def via_batches(cuts: list[int], *, mode: str) -> ImportCall:
    """The file path's way in: the rows cut into batches, each prepared on its own (with its
    rows' input positions), imported in one transaction by `run_import` ("whole": looked up
    before the first write, as file imports and syncs are) or batch by batch ("each": a lookup
    per batch, as with --commit-every)."""

    def call(case: Scenario, slug: str, database_url: str) -> dict[str, Any]:
        batches, start = [], 0
        for end in batch_ends(case.rows, cuts):
            raw, _ = records_to_raw_frame(copy.deepcopy(case.rows[start:end]))
            # Numbered as a CSV file's rows would be: the header on line 1.
            raw = raw.with_columns(pl.col("row_index") + start).with_columns(
                (pl.col("row_index") + FIRST_LINE).alias(LINE)
            )
            batches.append(prepare_leads(raw))
            start = end
        options = ImportOptions(
            restore_soft_deleted=case.restore,
            dry_run=case.dry_run,
            on_existing=case.on_existing,
            default_source=case.source,
            # "each": batch by batch, as --commit-every does, but never reaching a commit
            commit_every=None if mode == "whole" else LOOKUP_PER_BATCH,
        )
        batched = StreamedChunks(batches)
        return engine.run_import(batched, slug, options, database=database_url).to_json()

    return call


def check_against_model(
    db, database_url: str, case: Scenario, call: ImportCall, ends: list[int] | None = None
) -> None:
    """Arrange the workspace, import through `call`, compare report and state with the model.

    `ends`: where the batches of an import looked up batch by batch end (default: one batch,
    or an import checked as a whole).
    """
    stored = case.stored
    # A plan limit, when there is one, close to the active leads the workspace starts with.
    active = sum(1 for lead in stored if lead["deleted_at"] is None)
    limit = None if case.limit_slack is None else max(0, active + case.limit_slack)
    workspace = make_workspace(db, contact_limit=limit)
    # Another workspace holding every email, active or deleted later than any of ours: invisible.
    neighbour = make_workspace(db)
    arrange(
        db,
        neighbour.id,
        [
            old_lead(email, None if i % 2 else 9, first_name="Neighbour")
            for i, email in enumerate(BASE_EMAILS)
        ],
    )
    neighbour_before = snapshot(db, neighbour.id, set(), [])
    arrange(db, workspace.id, stored)
    known_ids = {lead["id"] for lead in stored}
    campaigns = add_campaigns(db, workspace.id, stored, case.memberships)
    before = snapshot(db, workspace.id, known_ids, campaigns)
    assert before[0] == canonical(stored, known_ids)

    if not case.rows:
        with pytest.raises(EmptyInputError):
            call(case, workspace.slug, database_url)
        assert snapshot(db, workspace.id, known_ids, campaigns) == before
        return
    model = run_import(
        case.rows,
        stored,
        restore_soft_deleted=case.restore,
        source=case.source,
        on_existing=case.on_existing,
    )
    note_coverage(stored, model, case.on_existing)
    would_reach = model.active_before + model.report["created"] + model.report["restored"]
    if limit is not None and would_reach > limit:
        event("plan limit exceeded")
        # An import looked up batch by batch stops at the first batch that passes the limit:
        # the error reports the count reached there (otherwise the whole import's).
        for end in ends or [len(case.rows)]:
            added = sum(1 for outcome in model.outcomes[:end] if outcome in ADDING)
            if model.active_before + added > limit:
                would_reach = model.active_before + added
                break
        with pytest.raises(PlanLimitExceededError) as raised:
            call(case, workspace.slug, database_url)
        error = raised.value
        assert (error.limit, error.active, error.would_reach) == (
            limit,
            model.active_before,
            would_reach,
        )
        assert snapshot(db, workspace.id, known_ids, campaigns) == before
        assert snapshot(db, neighbour.id, set(), []) == neighbour_before
        return

    report = call(case, workspace.slug, database_url)
    assert_report_matches(report, model.report)
    assert snapshot(db, neighbour.id, set(), []) == neighbour_before
    after = snapshot(db, workspace.id, known_ids, campaigns)
    if case.dry_run:
        event("dry run")
        assert after == before
        return
    leads_after, updated_after, counts_after = after
    assert leads_after == canonical(model.leads, known_ids)
    # Only restored leads and active leads an update changed are touched (updated_at = now());
    # every other pre-existing lead, an update that changed nothing included, keeps its own.
    updated_before = before[1]
    touched = {*model.restored_ids, *model.updated_ids}
    for lead_id, updated_at in updated_after.items():
        if lead_id in touched:
            assert updated_at > updated_before[lead_id], lead_id
        else:
            assert updated_at == updated_before[lead_id], lead_id
    # lead_count counts active members: it grows by the members restored.
    by_id = {lead["id"]: lead for lead in model.leads if lead["id"] is not None}
    expected_counts = {}
    for campaign_id, members in zip(campaigns, case.memberships, strict=True):
        ids = {stored[i]["id"] for i in members if i < len(stored)}
        expected_counts[campaign_id] = sum(1 for i in ids if by_id[i]["deleted_at"] is None)
    assert counts_after == expected_counts


@st.composite
def scenario(draw: st.DrawFn) -> Scenario:
    on_existing = draw(st.sampled_from(["skip", "skip", "fill_empty", "overwrite"]))
    stored = draw(workspace_state())
    rows = draw(api_rows())
    active = [lead for lead in stored if lead["deleted_at"] is None]
    if rows and active and draw(st.booleans()):
        # Rows repeating active leads' own values, so that updates changing nothing are reached.
        for lead in draw(st.lists(st.sampled_from(active), min_size=1, max_size=3)):
            rows.insert(draw(st.integers(0, len(rows))), draw(echo_row(lead)))
    return Scenario(
        rows=rows,
        stored=stored,
        memberships=draw(st.lists(st.lists(st.integers(0, 20), max_size=6), max_size=2)),
        restore=draw(st.sampled_from([True, True, False])),
        dry_run=draw(st.sampled_from([False, False, False, False, True])),
        limit_slack=draw(weighted((3, st.none()), (1, st.integers(-1, 4)))),
        source=draw(st.sampled_from(["api", "csv_import"])),
        on_existing=on_existing,
    )


scenarios = scenario()
ADDING = ("created", "restored")
DB_SETTINGS = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


# Cut after two rows: the second batch repeats an email the first updated and one it created.
# Their rows are not the first of their email in the input, so both are duplicates.
LATER_BATCH_REPEATS = Scenario(
    rows=[
        {"email": "ann@ex.com", "firstName": "First"},
        {"email": "cy@ex.com"},
        {"email": "ann@ex.com", "firstName": "Second"},
        {"email": "cy@ex.com", "phone": "555"},
    ],
    stored=[old_lead("ann@ex.com", None, first_name="Old")],
    memberships=[],
    restore=True,
    dry_run=False,
    limit_slack=None,
    source="api",
    on_existing="overwrite",
)


@settings(DB_SETTINGS, max_examples=100)
@given(case=scenarios)
@example(
    Scenario(  # several copies, two deleted at the same latest time: the higher id wins
        rows=[
            {
                "email": " ANN@Ex.com ",
                "firstName": " New ",
                "status": "REPLIED",
                "source": "web",
                "tags": ["b", " a", "b", ""],
                "customFields": {"a": 2, "z": None},
            },
            {"email": "ann@ex.com", "company": "Second"},
            {"email": "bob@ex.com"},
        ],
        stored=[
            old_lead(
                "ann@ex.com",
                1,
                first_name="Old",
                company="Acme",
                tags=["a", "old"],
                custom_fields={"a": 1, "b": 1},
                source="crm",
                status="bounced",
            ),
            old_lead(
                "ann@ex.com",
                1,
                first_name="Tie",
                tags=["a", "x"],
                source="crm",
                custom_fields={"a": 1, "b": 1},
            ),
            old_lead("ann@ex.com", 0, first_name="Older"),
            old_lead("bob@ex.com", 0),
        ],
        memberships=[[0, 1, 2, 3], [1]],
        restore=True,
        dry_run=False,
        limit_slack=None,
        source="api",
    )
)
@example(
    Scenario(  # both samples cut at 100
        rows=[{"email": "Bob@ex.com"}] * 102 + [{"email": " "}, {"email": "x@"}] * 51,
        stored=[old_lead("bob@ex.com", 0)],
        memberships=[],
        restore=False,
        dry_run=False,
        limit_slack=None,
        source="api",
    )
)
@example(
    Scenario(  # overwrite: an update, a later row of its email, a no-op, jsonb 1 vs true
        rows=[
            {
                "email": " ANN@ex.com ",
                "firstName": "New",
                "status": "Replied",
                "tags": [" ", ""],  # empty once cleaned: the stored tags stay
                "customFields": {"b": 2},
            },
            {"email": "ann@ex.com", "company": "Later"},
            {
                "email": "bob@EX.com",
                "firstName": " Bob ",
                "tags": ["a", "b", "a"],
                "customFields": {"plan": "x"},
            },
            {"email": "kim@ex.com", "customFields": {"a": True}},
            {"email": "cy@ex.com", "tags": ["t"]},
        ],
        stored=[
            old_lead(
                "ann@ex.com",
                None,
                first_name="Old",
                company="Acme",
                tags=["vip"],
                custom_fields={"a": 1},
                source="crm",
            ),
            old_lead(
                "bob@ex.com", None, first_name="Bob", tags=["a", "b"], custom_fields={"plan": "x"}
            ),
            old_lead("kim@ex.com", None, custom_fields={"a": 1}),
        ],
        memberships=[[0, 1]],
        restore=True,
        dry_run=False,
        limit_slack=1,
        source="api",
        on_existing="overwrite",
    )
)
@example(
    Scenario(  # fill_empty: '' and null filled, '' cleared by a row giving nothing, a no-op
        rows=[
            {
                "email": "Ann@ex.com",
                "firstName": "Annie",
                "company": "New Co",
                "status": "active",
                "tags": ["t"],
                "customFields": {"a": 2, "b": 3},
            },
            {
                "email": "bob@ex.com",
                "firstName": "Robert",
                "status": "replied",
                "tags": ["new"],
                "customFields": {"plan": "y"},
            },
            {"email": "kim@ex.com", "firstName": " "},
            {"email": "kim@ex.com", "firstName": "Kim"},
        ],
        stored=[
            old_lead(
                "ann@ex.com",
                None,
                first_name="",
                company="Acme",
                status="bounced",
                custom_fields={"a": 1},
            ),
            old_lead(
                "bob@ex.com",
                None,
                first_name="Bob",
                tags=["vip"],
                custom_fields={"plan": "x"},
                source="crm",
            ),
            old_lead("kim@ex.com", None, phone=""),
        ],
        memberships=[],
        restore=True,
        dry_run=False,
        limit_slack=None,
        source="api",
        on_existing="fill_empty",
    )
)
def test_import_matches_model(db, database_url, case):
    check_against_model(db, database_url, case, via_import_leads)


@settings(DB_SETTINGS, max_examples=50)
@given(case=scenarios, cuts=st.lists(st.integers(1, 40), min_size=1, max_size=4))
@example(  # the second batch passes the plan limit: the workspace still has 0 active leads
    case=Scenario(
        rows=[{"email": "ann@ex.com"}, {"email": "bob@ex.com"}],
        stored=[],
        memberships=[],
        restore=True,
        dry_run=False,
        limit_slack=1,
        source="api",
    ),
    cuts=[1],
)
@example(case=LATER_BATCH_REPEATS, cuts=[2])
def test_batched_import_matches_model(db, database_url, case, cuts):
    """Batches of one input behave as one import: same report, same final state."""
    check_against_model(db, database_url, case, via_batches(cuts, mode="whole"))


@settings(DB_SETTINGS, max_examples=30)
@given(case=scenarios, cuts=st.lists(st.integers(1, 40), min_size=1, max_size=4))
@example(  # the second batch passes the plan limit: the error counts up to it
    case=Scenario(
        rows=[{"email": "ann@ex.com"}, {"email": "bob@ex.com"}, {"email": "cy@ex.com"}],
        stored=[],
        memberships=[],
        restore=True,
        dry_run=False,
        limit_slack=1,
        source="api",
    ),
    cuts=[1, 2],
)
@example(case=LATER_BATCH_REPEATS, cuts=[2])
def test_batch_by_batch_import_matches_model(db, database_url, case, cuts):
    """Batches looked up one after another (the --commit-every path) in one transaction: same
    report and state; a plan-limit failure reports where it stopped."""
    check_against_model(
        db,
        database_url,
        case,
        via_batches(cuts, mode="each"),
        batch_ends(case.rows, cuts),
    )


# --- properties 3 and 4: normalisation and validation only, a wider space ------------------

UNICODE = st.characters(exclude_categories=("Cs", "Cn"), exclude_characters="\x00")
ODD_SPACE = st.sampled_from([*WHITESPACE, "\x1c", "\x1f", "\u200b", "\ufeff"])
TEXT = st.tuples(
    st.text(UNICODE, max_size=6), st.text(ODD_SPACE, max_size=2), st.text(UNICODE, max_size=6)
).map("".join)
WITH_NUL = st.tuples(TEXT, TEXT).map("\x00".join)

VALID_LOCAL = st.sampled_from(
    [
        "a",
        "Z",
        "0",
        "ann",
        "+tag",
        "!#$%&'*/=?^_`{|}~-",
        "\u212a",
        "O'Neil",
        "x" * 20,
        "\u1fef",
    ]  # U+1FEF GREEK VARIA: NFC makes it "`"
)
VALID_LABEL = st.sampled_from(["ex", "EX", "a-b", "1", "123", "c", "x" * 63, "xn--p1ai"])
VALID_TOP = st.sampled_from(["com", "io", "Org", "XN--80AK6AA92E", "xn--p1ai"])
LOCAL_PARTS = st.sampled_from(
    [
        "a",
        "Z",
        "0",
        "ann",
        ".",
        "..",
        "+tag",
        "!#$%&'*/=?^_`{|}~-",
        "é",
        "\u212a",
        "İ",
        " ",
        "@",
        "\x00",
        "(",
        '"',
        "\u0301",
        "\u200b",
        "\u1fef",
        "\u037e",
        "e\u0301",
        "a" * 64,
    ]
)
LABELS = st.sampled_from(
    [
        "ex",
        "EX",
        "a-b",
        "-a",
        "b-",
        "xn--p1ai",
        "XN--80AK6AA92E",
        "xn--",
        "xn--a-",
        "1",
        "123",
        "com",
        "c0m",
        "c",
        "io",
        "x" * 63,
        "x" * 64,
        "",
        "münchen",
        "_",
        "a_b",
    ]
)


@st.composite
def valid_email(draw: st.DrawFn) -> str:
    """Valid by construction (the model decides; this only makes valid ones common)."""
    local = ".".join(draw(st.lists(VALID_LOCAL, min_size=1, max_size=3)))
    if draw(st.integers(0, 9)) == 9:
        local = "l" * 64
    labels = draw(st.lists(VALID_LABEL, min_size=1, max_size=3))
    top = draw(VALID_TOP)
    if draw(st.integers(0, 3)) == 3:  # 253, 254 or 255 characters in all
        length = draw(st.sampled_from([253, 254, 255]))
        filler = length - len(f"{local}@{'x' * 63}.{'x' * 63}.{'x' * 63}..{top}")
        if 1 <= filler <= 63:
            labels = ["x" * 63] * 3 + ["x" * filler]
    return draw(padded(st.just(f"{local}@{'.'.join(labels)}.{top}")))


# One targeted break of a valid email each (the model still decides what the result is).
EMAIL_BREAKS = [
    lambda e: e.replace("@", ".@", 1),  # local part ends with a dot
    lambda e: "." + e,  # ... starts with one
    lambda e: e.replace("@", "..x@", 1),  # doubled dot
    lambda e: e.replace(".", "..", 1),  # the first dot doubled, local part or domain
    lambda e: e.replace("@", "@@", 1),
    lambda e: e.replace("@", "", 1),
    lambda e: e.replace("@", "@-", 1),  # label starts with a hyphen
    lambda e: e.replace(".", "-.", 1) if e.index(".") > e.index("@") else e + "-",
    lambda e: e + "1",  # digit in the last label (fine after xn--)
    lambda e: e + ".c",  # one-letter last label
    lambda e: e + ".",  # empty last label
    lambda e: e.rsplit(".", 1)[0],  # one label fewer
    lambda e: e.replace("@", "é@", 1),
    lambda e: e.replace("@", " @", 1),
    lambda e: e.replace("@", "(@", 1),
    lambda e: e.replace("@", "_@_", 1),  # "_" is fine on the left, not in a label
    lambda e: "a" * 65 + e[e.index("@") :],
    lambda e: e.replace("@", "@" + "x" * 64 + ".", 1),
    lambda e: e.upper(),
]


@st.composite
def broken_email(draw: st.DrawFn) -> str:
    email = draw(valid_email()).strip(WHITESPACE)
    return draw(padded(st.just(draw(st.sampled_from(EMAIL_BREAKS))(email))))


@st.composite
def built_email(draw: st.DrawFn) -> str:
    """Glued from valid and invalid pieces."""
    local = "".join(draw(st.lists(LOCAL_PARTS, min_size=0, max_size=4)))
    if draw(st.integers(0, 5)) == 5:
        local = draw(st.sampled_from(["a" * 64, "a" * 65]))
    labels = draw(st.lists(LABELS, min_size=0, max_size=4))
    email = f"{local}@{'.'.join(labels)}"
    if draw(st.integers(0, 8)) == 8:
        email = email.replace("@", "@@", 1)
    return draw(ODD_SPACE if draw(st.booleans()) else PADDING) + email + draw(PADDING)


NO_SPACE_TEXT = st.text(
    st.one_of(
        st.characters(exclude_categories=("Cs", "Cn", "Cc", "Zs", "Zl", "Zp")),
        st.sampled_from(["\x1c", "\x1f", "\u200b", "\ufeff"]),
    ),
    max_size=12,
)
INNER_SPACE = st.tuples(
    NO_SPACE_TEXT.filter(bool), st.sampled_from(WHITESPACE), NO_SPACE_TEXT.filter(bool)
).map("".join)
JSON_TEXT = weighted((2, TEXT), (1, st.sampled_from(["\\u0000", "\\\\u0000", "\\"])))
JSON_VALUE = st.one_of(
    JSON_TEXT, st.integers(), st.booleans(), st.none(), st.lists(JSON_TEXT, max_size=2)
)
TAG = weighted((2, padded(TEXT)), (1, st.sampled_from(["a", "A", " a", "", "d" * 100])))


def clean_text(api: str, limit: int) -> st.SearchStrategy[Any]:
    text = padded(NO_SPACE_TEXT) if api in URL_FIELDS else padded(TEXT)
    return weighted((3, text), (1, st.just("é" * limit)), (1, st.sampled_from(["", " ", None])))


# Each field's values that pass validation (mostly: the model decides) ...
CLEAN: dict[str, st.SearchStrategy[Any]] = {
    "email": st.one_of(valid_email(), padded(st.sampled_from(BASE_EMAILS).flatmap(recased))),
    **{api: clean_text(api, limit) for api, (_, limit) in TEXT_FIELDS.items()},
    "status": status_values(),
    "customFields": st.dictionaries(JSON_TEXT, JSON_VALUE, max_size=3),
    "tags": st.lists(TAG, max_size=6),
}
# ... and values that break it, one field at a time.
BROKEN: dict[str, st.SearchStrategy[Any]] = {
    "email": weighted(
        (4, broken_email()),
        (2, built_email()),
        (1, TEXT),
        (1, WITH_NUL),
        (2, st.sampled_from(["", " \x85 ", None, 7, MISSING])),
    ),
    **{
        api: st.one_of(
            WITH_NUL,
            st.just(limit + 1).map(lambda n: " " + "é" * n),
            st.just(1.5),
            INNER_SPACE if api in URL_FIELDS else WITH_NUL,
        )
        for api, (_, limit) in TEXT_FIELDS.items()
    },
    "status": st.one_of(TEXT, WITH_NUL, st.just(1)),
    "customFields": st.one_of(
        st.dictionaries(WITH_NUL, JSON_VALUE, min_size=1, max_size=2),
        st.dictionaries(
            JSON_TEXT, st.one_of(WITH_NUL, st.lists(WITH_NUL, min_size=1)), min_size=1, max_size=2
        ),
        st.sampled_from([[], 5, [{"a": 1}]]),
    ),
    "tags": st.one_of(
        st.tuples(st.lists(TAG, max_size=3), st.one_of(WITH_NUL, st.just(" " + "c" * 101))).map(
            lambda t: [*t[0], t[1]]
        ),
        st.lists(st.one_of(TAG, st.integers(), st.none()), min_size=1, max_size=3),
        st.just(5),
    ),
}


@st.composite
def wide_row(draw: st.DrawFn) -> dict[str, Any]:
    """Clean fields (each present or not), then zero, one or two fields broken."""
    row: dict[str, Any] = {"email": draw(weighted((3, CLEAN["email"]), (1, BROKEN["email"])))}
    for name, strategy in CLEAN.items():
        if name != "email" and draw(st.integers(0, 2)) == 2:
            row[name] = draw(strategy)
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2]))):
        name = draw(st.sampled_from(sorted(BROKEN)))
        row[name] = draw(BROKEN[name])
    return {name: value for name, value in row.items() if value is not MISSING}


def assert_prepared_like_model(rows: list[dict[str, Any]]) -> None:
    """prepare_leads agrees with the model on every row."""
    raw, _ = records_to_raw_frame(copy.deepcopy(rows))
    prepared = prepare_leads(raw).sort("row_index").to_dicts()
    assert len(prepared) == len(rows)
    seen: set[str] = set()
    for index, (row, got) in enumerate(zip(rows, prepared, strict=True)):
        want = check_row(row)
        event("engine reason: " + (got["error_reason"] or "none").split('"')[0])
        assert got["row_index"] == index
        assert got["raw_email"] == want.raw_email, index
        assert got["email"] == want.email, index
        if not want.valid:
            assert got["error_reason"] in want.reasons, (index, got["error_reason"], want.reasons)
            assert not got["is_first"]
            continue
        assert got["error_reason"] is None, (index, got["error_reason"])
        assert got["is_first"] == (want.email not in seen)
        seen.add(want.email)
        for api, (column, _) in TEXT_FIELDS.items():
            assert got[column] == want.fields.get(column), (index, api)
        assert got["status"] == want.fields.get("status")
        assert got["tags"] == want.fields.get("tags", [])
        given_custom = got["custom_fields"]
        parsed = None if given_custom is None else json.loads(given_custom)
        assert parsed == want.fields.get("custom_fields"), index


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(wide_row(), min_size=1, max_size=12))
def test_prepare_matches_model(rows):
    assert_prepared_like_model(rows)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    emails=st.lists(
        weighted(
            (1, valid_email()),
            (3, broken_email()),
            (1, built_email()),
            (1, TEXT),
            (1, WITH_NUL),
            (1, padded(st.sampled_from(BASE_EMAILS).flatmap(recased))),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_email_rule_matches_model(emails):
    """Many emails per batch: the email rule and normalisation, row by row."""
    assert_prepared_like_model([{"email": email} for email in emails])
