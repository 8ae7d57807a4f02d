"""Hostile input (issue 6): every file of tests/data/hostile gives row errors or one clear
file-level error, never a traceback, never a partial write, with memory bounded.

- `test_corpus_file` runs each corpus file through the file pipeline the flow's tasks run
  (reader, prepare, engine writes into a fresh workspace; no Prefect) and checks the report
  against `CASES`, what was stored, and the outcome rows.
- `test_corpus_file_through_cli` runs the files of `CLI_CASES` (every file-level error code and
  every kind of row error) through `leads import --json --outcomes` in-process, as users do:
  exit code, no traceback on stdout or stderr, the report or the error document, the outcomes
  file, nothing written on failure. `LEADS_HOSTILE_FULL=1` runs every corpus file this way.
- `test_big_input_*` write the big inputs of make_big.py into tmp_path; two (three with the
  full variant, five) run as a `python -m leads_import.cli import` subprocess whose peak RSS
  is bounded.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from leads_import.errors import ImportRequestError
from leads_import.readers.chunks import iter_delimited_chunks
from tests.data.hostile.make_big import write_big
from tests.support.paths import HOSTILE, REPO
from tests.support.pipeline import file_pipeline, run_cli, stored_leads
from tests.support.reliability import new_workspace
from transforms.report import FORMULA_PREFIXES

FULL = os.environ.get("LEADS_HOSTILE_FULL") == "1"
RSS_LIMIT_MB = 1024
NUL = "\x00"


@dataclass(frozen=True)
class Rows:
    """An import that runs: counts, and the reason of each error row (by 0-based index)."""

    created: int
    errors: dict[int, str] = field(default_factory=dict)
    duplicates: int = 0


@dataclass(frozen=True)
class Fails:
    """A file-level failure: the error code of SPEC section 8 (exit code 2)."""

    code: str


def _same(reason: str, count: int) -> dict[int, str]:
    return dict.fromkeys(range(count), reason)


BAD_EMAIL = "invalid email format"
NOT_OBJECT = "customFields must be a JSON object"
NUL_FIELDS = [
    "email", "firstName", "lastName", "company", "title", "phone", "linkedinUrl", "website",
    "notes", "source", "status", "tags", "customFields", "email",
]  # fmt: skip

CASES: dict[str, Rows | Fails] = {
    # encodings: decided once per file, never a traceback; undecodable ones are file errors
    "enc_latin1.csv": Rows(3),
    "enc_cp1252.csv": Rows(1),
    "enc_utf8_bom.csv": Rows(1),
    "enc_utf16le_bom.csv": Rows(2),
    "enc_utf16be_bom.csv": Rows(1),
    "enc_utf16le_no_bom.csv": Fails("no_email_column"),
    "enc_utf32_bom.csv": Fails("no_email_column"),
    "enc_mixed_utf8_latin1.csv": Rows(3),
    "enc_utf8_bom_then_invalid.csv": Rows(2),
    "enc_shift_jis.csv": Rows(1),
    "enc_overlong_utf8.csv": Rows(1),
    # NUL characters: in every field, in headers, a whole file of them
    "nul_every_field.csv": Rows(
        1, {i: f"{name} contains a NUL character" for i, name in enumerate(NUL_FIELDS)}
    ),
    "nul_in_header.csv": Rows(1),
    "nul_in_email_header.csv": Fails("no_email_column"),
    "nul_only.csv": Fails("no_email_column"),
    "nul_quoted_multiline.csv": Rows(1, {0: "notes contains a NUL character"}),
    "nul_raw_email_formula.csv": Rows(0, {0: "email contains a NUL character"}),
    # ragged rows and broken quotes: a row error naming the line, the rest imported
    "ragged_rows.csv": Rows(
        1,
        {
            0: "expected 3 fields, found 2",
            1: "expected 3 fields, found 4",
            3: "expected 3 fields, found 1",
            4: "expected 3 fields, found 7",
        },
    ),
    "ragged_trailing_delimiters.csv": Rows(1, {1: "expected 3 fields, found 4"}),
    "only_delimiters.csv": Rows(
        0, {0: "empty email", 1: "empty email", 2: "expected 2 fields, found 3"}
    ),
    "quote_unterminated_last.csv": Rows(
        1, {1: "unterminated quoted field", 2: "expected 2 fields, found 1"}
    ),
    "quote_unterminated_middle.csv": Rows(2, {0: "unterminated quoted field"}),
    "quote_text_after_close.csv": Rows(1, {0: "unexpected text after a closing quote"}),
    "quote_in_unquoted.csv": Rows(2),
    "quote_header_unterminated.csv": Fails("unreadable_source"),
    "quote_multiline_valid.csv": Rows(2),
    "copy_markers.csv": Rows(2),
    # headers: repeated, blank, hostile names (ignored with a warning), SQL
    "header_duplicates.csv": Rows(1),
    "header_blank_names.csv": Rows(1),
    "header_variants.csv": Rows(1),
    "header_sql_injection.csv": Rows(1),
    "header_customfield_keys_hostile.csv": Rows(1),
    "header_emoji_rtl.csv": Rows(1),
    # values: SQL in every field, spreadsheet formulas
    "sql_injection_values.csv": Rows(8, {8: BAD_EMAIL}),
    "formula_prefixes.csv": Rows(11, {11: BAD_EMAIL, 12: BAD_EMAIL, 13: BAD_EMAIL}, 1),
    # customFields and tags
    "custom_fields_invalid.csv": Rows(
        5, {**_same(NOT_OBJECT, 8), 10: NOT_OBJECT, 12: "customFields contains a NUL character"}
    ),
    "custom_fields_deep_nesting.csv": Rows(
        1,
        {
            1: "customFields nested more than 100 levels deep",
            2: "customFields nested more than 100 levels deep",
        },
    ),
    "tags_invalid.csv": Rows(
        2,
        {
            **_same("tags must be a list of strings", 3),
            3: "tag longer than 100 characters",
            5: "tags must be a list of strings",
            6: "tags must be a list of strings",
        },
    ),
    # emails: emoji, right-to-left, zero-width, homoglyphs, control characters, lengths
    "emails_emoji.csv": Rows(1, _same(BAD_EMAIL, 3)),
    "emails_rtl.csv": Rows(1, _same(BAD_EMAIL, 4)),
    "emails_zero_width.csv": Rows(1, _same(BAD_EMAIL, 4)),
    "emails_homoglyph.csv": Rows(1, _same(BAD_EMAIL, 3)),
    "emails_control_chars.csv": Rows(1, _same(BAD_EMAIL, 4)),
    "emails_long.csv": Rows(3, {1: BAD_EMAIL, 3: BAD_EMAIL, 4: BAD_EMAIL}),
    "emails_case_nfc.csv": Rows(2, {3: BAD_EMAIL}, 2),
    # empty, header-only
    "empty.csv": Fails("no_leads"),
    "whitespace_only.csv": Fails("no_leads"),
    "header_only.csv": Fails("no_leads"),
    "header_only_crlf_no_newline.csv": Fails("no_leads"),
    "header_then_blank_lines.csv": Fails("no_leads"),
    "bom_only.csv": Fails("no_leads"),
    "no_email_column.csv": Fails("no_email_column"),
    # binary files named .csv
    "binary_png.csv": Fails("no_email_column"),
    "binary_random.csv": Fails("no_email_column"),
    "binary_elf.csv": Fails("no_email_column"),
    "binary_zip_named_csv.csv": Fails("no_email_column"),
    "binary_truncated.csv.gz": Fails("unreadable_source"),
    "binary_gzip_named_csv.csv": Rows(1),
    # line endings and delimiters
    "crlf.csv": Rows(2),
    "cr_only.csv": Fails("no_leads"),
    "mixed_line_endings.csv": Rows(2),
    "semicolon.csv": Rows(1),
    "pipe_with_commas.csv": Rows(1),
    # other formats
    "json_truncated.json": Fails("unreadable_source"),
    "json_not_array.json": Fails("unreadable_source"),
    "json_wrong_types.json": Rows(
        1,
        {
            0: "email must be a string",
            1: "firstName must be a string",
            2: NOT_OBJECT,
            3: "tags must be a list of strings",
            4: "row is not a JSON object",
        },
    ),
    "json_deep_nesting.json": Rows(0, {0: NOT_OBJECT}),
    "ndjson_garbage_lines.ndjson": Rows(
        1,
        {
            1: "not a valid JSON object",
            2: "not a valid JSON object",
            3: "notes contains a NUL character",
            4: "not a valid JSON object",
            5: "not a valid JSON object",
        },
    ),
    "ndjson_lenient_json.ndjson": Rows(2, {0: NOT_OBJECT, 2: NOT_OBJECT}),
    "fake.parquet": Fails("unreadable_source"),
    "fake.xlsx": Fails("unreadable_source"),
}

# Through the CLI in CI: every file-level code and every kind of row error, the NUL and
# formula files (outcomes file), SQL injection; the rest with LEADS_HOSTILE_FULL=1.
CLI_CASES = [
    "enc_utf16le_bom.csv",
    "nul_every_field.csv",
    "nul_in_header.csv",
    "nul_raw_email_formula.csv",
    "ragged_rows.csv",
    "quote_header_unterminated.csv",
    "sql_injection_values.csv",
    "formula_prefixes.csv",
    "custom_fields_invalid.csv",
    "emails_zero_width.csv",
    "empty.csv",
    "header_only.csv",
    "binary_png.csv",
    "ndjson_garbage_lines.ndjson",
]


def test_the_corpus_is_indexed() -> None:
    on_disk = {p.name for p in HOSTILE.iterdir() if p.is_file() and p.suffix not in (".py", ".md")}
    assert on_disk == set(CASES)
    assert len(CASES) >= 60
    assert set(CLI_CASES) <= set(CASES)
    index = (HOSTILE / "CASES.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in index for name in CASES)


# --- helpers ---------------------------------------------------------------------------------


def _counts(db, workspace_id: int) -> tuple[int, int]:
    """Leads of the workspace, and its succeeded import runs."""
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM leads WHERE workspace_id = %s", (workspace_id,))
        (leads,) = cur.fetchone()
        cur.execute(
            "SELECT count(*) FROM import_runs WHERE workspace_id = %s AND status = 'succeeded'",
            (workspace_id,),
        )
        (runs,) = cur.fetchone()
    return int(leads), int(runs)


def _check_report(report: dict[str, Any], expected: Rows) -> None:
    got_errors = {d["index"]: d["reason"] for d in report["errorDetails"]}
    assert got_errors == expected.errors
    assert (report["created"], report["duplicates"], report["restored"]) == (
        expected.created,
        expected.duplicates,
        0,
    )
    assert report["errors"] == len(expected.errors)
    total = report["created"] + report["restored"] + report["duplicates"] + report["errors"]
    assert total == report["total"]


def _check_outcome_rows(rows: list[dict[str, str]], report: dict[str, Any]) -> None:
    """Every row once, counts as reported, no cell a spreadsheet would run as a formula."""
    assert [int(r["index"]) for r in rows] == list(range(report["total"]))
    for outcome, key in (("created", "created"), ("duplicate", "duplicates"), ("error", "errors")):
        assert sum(r["outcome"] == outcome for r in rows) == report[key]
    errors = {d["index"]: d for d in report["errorDetails"]}
    for row in rows:
        assert not any(cell.startswith(FORMULA_PREFIXES) for cell in row.values()), row
        if int(row["index"]) in errors:
            detail = errors[int(row["index"])]
            assert row["reason"] == detail["reason"]
            email = detail["email"]
            assert row["email"] == ("'" + email if email.startswith(FORMULA_PREFIXES) else email)


# --- the corpus --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_corpus_file(db, name: str) -> None:
    expected = CASES[name]
    workspace = new_workspace(db, prefix="hostile")
    if isinstance(expected, Fails):
        with pytest.raises(ImportRequestError) as failure:
            file_pipeline(HOSTILE / name, workspace)
        assert failure.value.code == expected.code and str(failure.value)
        assert _counts(db, workspace.id) == (0, 0)
        return
    report, rows = file_pipeline(HOSTILE / name, workspace)
    _check_report(report, expected)
    _check_outcome_rows(rows, report)
    assert _counts(db, workspace.id)[0] == expected.created


@pytest.mark.parametrize("name", sorted(CASES) if FULL else CLI_CASES)
def test_corpus_file_through_cli(
    reliability_prefect: str,
    db,
    capsys,
    tmp_path: Path,
    name: str,
) -> None:
    expected = CASES[name]
    workspace = new_workspace(db, prefix="hostile")
    outcomes = tmp_path / "outcomes.csv"
    args = ["import", str(HOSTILE / name), "--workspace", workspace.slug, "--json"]
    code, out, err = run_cli([*args, "--outcomes", str(outcomes)], capsys)
    assert "Traceback" not in out + err
    document = json.loads(out)  # exactly one JSON document on stdout
    if isinstance(expected, Fails):
        assert code == 2
        assert document["code"] == expected.code and document["error"]
        assert f"error: {document['error']}" in err
        assert _counts(db, workspace.id) == (0, 0)
        assert not outcomes.exists()
        return
    assert code == 0
    _check_report(document, expected)
    assert _counts(db, workspace.id) == (expected.created, 1)
    raw = outcomes.read_bytes()
    with outcomes.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    _check_outcome_rows(rows, document)
    if name in ("nul_every_field.csv", "nul_raw_email_formula.csv"):
        assert b"\x00" in raw  # the raw email as given, NUL and all, in a valid CSV


def test_sql_injection_is_stored_as_given(db) -> None:
    workspace = new_workspace(db, prefix="hostile")
    file_pipeline(HOSTILE / "sql_injection_values.csv", workspace)
    stored = stored_leads(db, workspace.id)
    with (HOSTILE / "sql_injection_values.csv").open(encoding="utf-8", newline="") as handle:
        given = list(csv.DictReader(handle))
    assert "o'brien@ex.com" in stored
    for row in given[:7]:
        lead = stored[row["email"]]
        value = row["firstName"]
        for column in ("first_name", "last_name", "company", "title", "phone", "notes", "source"):
            assert lead[column] == value
        assert lead["linkedin_url"] == lead["website"] == "".join(value.split())
        assert lead["tags"] == [value]
        assert lead["custom_fields"] == {"k": value, value: 1}
    with db.cursor() as cur:  # and the tables the values name are all still there
        cur.execute("SELECT count(*) FROM workspaces WHERE id = %s", (workspace.id,))
        assert cur.fetchone() == (1,)


def test_header_sql_becomes_a_custom_field_key_as_given(db) -> None:
    workspace = new_workspace(db, prefix="hostile")
    report, _ = file_pipeline(HOSTILE / "header_sql_injection.csv", workspace)
    assert report["created"] == 1
    lead = stored_leads(db, workspace.id)["ann@ex.com"]
    assert lead["custom_fields"] == {"'; DELETE FROM leads; --": "1; DROP TABLE campaigns"}


def test_copy_markers_and_backslashes_survive(db) -> None:
    """`\\.` and `\\N` mean end-of-data and NULL to COPY's text format; CSV COPY keeps them."""
    workspace = new_workspace(db, prefix="hostile")
    file_pipeline(HOSTILE / "copy_markers.csv", workspace)
    file_pipeline(HOSTILE / "quote_multiline_valid.csv", new_workspace(db, prefix="hostile"))
    stored = stored_leads(db, workspace.id)
    assert (stored["ann@ex.com"]["notes"], stored["ann@ex.com"]["company"]) == ("\\.", "\\N")
    assert (stored["bob@ex.com"]["notes"], stored["bob@ex.com"]["company"]) == ("\\", "\\\\")


# --- big inputs --------------------------------------------------------------------------------


# A child's ru_maxrss starts from its parent's high-water mark at fork time (Linux keeps it
# across exec), so the CLI is started by a small launcher whose own RSS is tiny; the launcher
# reports the CLI's peak from wait4.
_LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _cli_subprocess(
    path: Path, slug: str, api_url: str, tmp_path: Path
) -> tuple[int, str, str, float]:
    """`python -m leads_import.cli import PATH --json --outcomes`: exit code, stdout, stderr and the
    CLI process's own peak RSS in MiB."""
    command = [
        sys.executable,
        "-m",
        "leads_import.cli",
        "import",
        str(path),
        "--workspace",
        slug,
    ]
    command += ["--json", "--outcomes", str(tmp_path / "outcomes.csv")]
    peak = tmp_path / "peak_rss_kib.txt"
    done = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, str(peak), *command],
        capture_output=True,
        text=True,
        env={**os.environ, "PREFECT_API_URL": api_url},
        cwd=REPO,
        timeout=600,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr, int(peak.read_text()) / 1024


# In CI one big input runs as a subprocess (its RSS measured) and the others in-process;
# LEADS_HOSTILE_FULL=1 runs every one as a subprocess.
BIG_SUBPROCESS = (
    ["field_10mb.csv"]
    if not FULL
    else [
        "field_10mb.csv",
        "field_10mb_email.csv",
        "columns_100k.csv",
        "columns_100k_no_email.csv",
        "deep_custom_fields.csv",
        "deep_custom_fields.json",
        "gzip_bomb.csv.gz",
        "binary_20mb.csv",
    ]
)
BIG_PIPELINE_CI = ["columns_100k.csv", "deep_custom_fields.csv", "gzip_bomb.csv.gz"]
BIG_EXPECTED: dict[str, Rows | Fails] = {
    "field_10mb.csv": Rows(2, {1: "notes longer than 10,000 characters"}),
    "field_10mb_email.csv": Rows(1, {1: BAD_EMAIL}),
    "columns_100k.csv": Rows(2),
    "columns_100k_no_email.csv": Fails("no_email_column"),
    "deep_custom_fields.csv": Rows(1, {0: "customFields nested more than 100 levels deep"}),
    "deep_custom_fields.json": Rows(1, {0: "customFields nested more than 100 levels deep"}),
    "gzip_bomb.csv.gz": Fails("unreadable_source"),
    "binary_20mb.csv": Fails("no_email_column"),
}


@pytest.mark.parametrize("name", BIG_SUBPROCESS)
def test_big_input_cli_subprocess_memory_bounded(
    reliability_prefect: str,
    db,
    tmp_path: Path,
    name: str,
) -> None:
    path = write_big(name, tmp_path)
    workspace = new_workspace(db, prefix="hostile")
    outcomes = tmp_path / "outcomes.csv"
    code, out, err, peak_mib = _cli_subprocess(path, workspace.slug, reliability_prefect, tmp_path)
    print(f"{name}: peak RSS {peak_mib:.0f} MiB")
    assert "Traceback" not in out + err, err[-3000:]
    assert peak_mib < RSS_LIMIT_MB
    document = json.loads(out)
    expected = BIG_EXPECTED[name]
    if isinstance(expected, Fails):
        assert code == 2 and document["code"] == expected.code
        assert _counts(db, workspace.id) == (0, 0) and not outcomes.exists()
        return
    assert code == 0
    _check_report(document, expected)
    assert _counts(db, workspace.id) == (expected.created, 1)
    csv.field_size_limit(64 << 20)  # the 10 MB email is echoed in the outcomes file
    with outcomes.open(encoding="utf-8", newline="") as handle:
        _check_outcome_rows(list(csv.DictReader(handle)), document)


@pytest.mark.parametrize("name", sorted(BIG_EXPECTED) if FULL else BIG_PIPELINE_CI)
def test_big_inputfile_pipeline(db, tmp_path: Path, name: str) -> None:
    path = write_big(name, tmp_path)
    workspace = new_workspace(db, prefix="hostile")
    expected = BIG_EXPECTED[name]
    if isinstance(expected, Fails):
        with pytest.raises(ImportRequestError) as failure:
            file_pipeline(path, workspace)
        assert failure.value.code == expected.code
        assert _counts(db, workspace.id) == (0, 0)
        return
    report, rows = file_pipeline(path, workspace)
    _check_report(report, expected)
    _check_outcome_rows(rows, report)


def test_a_record_longer_than_the_limit_is_one_file_error(tmp_path: Path) -> None:
    """Streaming holds at most one record beyond a chunk; a longer one stops the read."""
    path = tmp_path / "long.csv"
    path.write_text("email,notes\nann@ex.com," + "x" * 10_000 + "\nbob@ex.com,ok\n")
    chunked = iter_delimited_chunks(path, chunk_bytes=1024, max_record_bytes=2048)
    with pytest.raises(ImportRequestError, match="record at line 2 is longer than 2,048 bytes"):
        list(chunked)
    header = tmp_path / "header.csv"
    header.write_text("email," + "x" * 200_000 + "\nann@ex.com,1\n")
    with pytest.raises(ImportRequestError, match="line 1 is longer than 2,048 bytes"):
        iter_delimited_chunks(header, max_record_bytes=2048)
