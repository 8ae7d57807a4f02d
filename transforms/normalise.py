"""Normalise and validate a raw frame (SPEC 3), then mark in-batch duplicates (SPEC 4)."""

from __future__ import annotations

from functools import cache

import duckdb
import polars as pl

from leads_import.sqlfiles import load_sql
from transforms.fields import (
    COLUMN_TO_API,
    ERROR_REASON,
    INPUT_ERROR,
    IS_FIRST,
    LINE,
    MAX_EMAIL_LENGTH,
    MAX_TAG_LENGTH,
    RAW_COLUMNS,
    RAW_EMAIL,
    ROW_INDEX,
    STATUSES,
    TEXT_COLUMNS,
    TEXT_LIMITS,
    TYPED_TAGS,
    URL_COLUMNS,
)
from transforms.frames import collect

_LOCAL_CHARS = r"[a-z0-9!#$%&'*+/=?^_`{|}~.-]"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_TOP_LABEL = r"(?:[a-z]{2,63}|xn--[a-z0-9-]{0,58}[a-z0-9])"
# Applied to the lower-cased email; the dot rules of the local part are checked separately.
EMAIL_PATTERN = rf"^{_LOCAL_CHARS}{{1,64}}@(?:{_LABEL}\.)+{_TOP_LABEL}$"

# A `\u0000` escape in JSON text, not preceded by an escaped backslash (`\\u0000` is text).
_JSON_NUL_ESCAPE = r"(?:^|[^\\])(?:\\\\)*\\u0000"

# DuckDB's JSON reader is lenient where PostgreSQL's jsonb is not (NaN, Infinity, trailing
# commas), and jsonb's parser recurses (a deep document exhausts its stack) and keeps numbers as
# `numeric`. So a customFields text is checked again: strings, literals and numbers in range
# become `S`, leaving punctuation that must be well formed and at most MAX_JSON_DEPTH deep.
MAX_JSON_DEPTH = 100
_JSON_STRING = r'(?s)"(?:[^"\\]|\\.)*"'
_JSON_LITERAL = r"\b(?:true|false|null)\b"
_JSON_NUMBER = r"-?(?:0|[1-9][0-9]{0,999})(?:\.[0-9]{1,1000})?(?:[eE][+-]?[0-9]{1,4})?"
_JSON_LEFTOVER = r"[^{}\[\],:S \t\n\r]|S[ \t\n\r]*S|,[ \t\n\r]*[}\]]"

# Said after an invalid status, so the row's reason names the values that would do.
STATUS_EXPECTED = f"(expected {', '.join(STATUSES[:-1])} or {STATUSES[-1]})"

PREPARED_SCHEMA_COLUMNS = (ROW_INDEX, RAW_EMAIL, *RAW_COLUMNS, ERROR_REASON, IS_FIRST)


def _blank_to_null(expr: pl.Expr) -> pl.Expr:
    stripped = expr.str.strip_chars()
    return pl.when(stripped.str.len_bytes() > 0).then(stripped)


def normalise_email(expr: pl.Expr, *, ascii_only: bool = False) -> pl.Expr:
    """Strip, Unicode NFC, lower-case as a whole; empty becomes null. `ascii_only`: the column
    is known to hold ASCII alone (`is_ascii`), which NFC leaves as it is."""
    stripped = _blank_to_null(expr)
    return (stripped if ascii_only else stripped.str.normalize("NFC")).str.to_lowercase()


def is_ascii(column: pl.Series) -> bool:
    """Whether a text column holds ASCII alone (nulls aside): one byte per character."""
    return bool(column.str.len_bytes().sum() == column.str.len_chars().sum())


def email_is_valid(email: pl.Expr) -> pl.Expr:
    """The email rule of SPEC section 3, over already normalised emails."""
    return (
        email.str.contains(EMAIL_PATTERN)
        & (email.str.len_bytes() <= MAX_EMAIL_LENGTH)
        & ~email.str.starts_with(".")
        & ~email.str.contains(".@", literal=True)
        & ~email.str.contains("..", literal=True)
    )


def _json_skeleton(text: pl.Expr) -> pl.Expr:
    """JSON text with every string, literal and number replaced by `S`."""
    return (
        text.str.replace_all(_JSON_STRING, "S")
        .str.replace_all(_JSON_LITERAL, "S")
        .str.replace_all(_JSON_NUMBER, "S")
    )


def _json_depth(skeleton: pl.Expr) -> pl.Expr:
    """The deepest nesting of a JSON skeleton's brackets (vectorised over list elements)."""
    step = pl.when(pl.element().is_in(["{", "["])).then(1).otherwise(-1)
    return skeleton.str.extract_all(r"[\[\]{}]").list.eval(step.cum_sum().max()).list.first()


def _parse_json_cells(raw: pl.DataFrame, con: duckdb.DuckDBPyConnection | None) -> pl.DataFrame:
    """Run the DuckDB JSON pass over the customFields and tags cells (on `con`, else on an
    in-memory database of this call's own)."""
    cells = raw.select(ROW_INDEX, "custom_fields", "custom_fields_extra", "tags")
    if con is None:
        with duckdb.connect() as own:
            return _parse_json_cells(raw, own)
    con.register("cells", cells)
    return con.sql(load_sql("duckdb/parse_json_cells")).pl()


def _split_tags(cell: pl.Expr, json_tags: pl.Expr) -> pl.Expr:
    """Tags from a JSON array or a `;`/`,` list: trimmed, empties and repeats dropped."""
    split = cell.str.replace_all(";", ",", literal=True).str.split(",")
    tags = pl.when(cell.str.starts_with("[")).then(json_tags).otherwise(split)
    cleaned = tags.list.eval(pl.element().str.strip_chars()).list.eval(
        pl.element().filter(pl.element().str.len_bytes() > 0)
    )
    return cleaned.list.unique(maintain_order=True).fill_null(pl.lit([], pl.List(pl.String)))


# The number of the first check a row fails (a column of its own, so the checks run once).
_FAILED = "_failed_check"


@cache
def _failed_check(*, strict_json: bool) -> pl.Expr:
    """The number of the first check (`_error_checks`) a row fails, null for valid rows: one
    byte per row, where a text column per check, mostly nulls, cost more than the checks."""
    checks = _error_checks(strict_json=strict_json)
    return pl.coalesce(
        pl.when(check).then(pl.lit(number, pl.UInt8)) for number, (check, _) in enumerate(checks)
    ).alias(_FAILED)


@cache
def _error_reason(*, strict_json: bool) -> pl.Expr:
    """The reason of the check `_failed_check` names, null for valid rows."""
    checks = _error_checks(strict_json=strict_json)
    failed = pl.col(_FAILED)
    texts = {number: text for number, (_, text) in enumerate(checks) if isinstance(text, str)}
    said = [
        pl.when(failed == number).then(text)
        for number, (_, text) in enumerate(checks)
        if isinstance(text, pl.Expr)
    ]
    return pl.coalesce(*said, failed.replace_strict(texts, default=None, return_dtype=pl.String))


def _error_checks(*, strict_json: bool) -> list[tuple[pl.Expr, str | pl.Expr]]:
    """Every check (true when the row fails it) with its reason, in the order reasons take
    precedence. With `strict_json` the customFields cells were written by a JSON encoder
    (typed input), so only their depth is checked again."""
    checks: list[tuple[pl.Expr, str | pl.Expr]] = [
        (pl.col(INPUT_ERROR).is_not_null(), pl.col(INPUT_ERROR)),
        (pl.col("email").is_null(), "empty email"),
    ]
    for column in (*RAW_COLUMNS, "custom_fields_extra"):
        field = COLUMN_TO_API.get(column, "customFields")
        has_nul = pl.col(f"_raw_{column}").str.contains("\x00", literal=True)
        checks.append((has_nul, f"{field} contains a NUL character"))
    checks.append((~email_is_valid(pl.col("email")), "invalid email format"))
    for column, limit in TEXT_LIMITS.items():
        too_long = pl.col(column).str.len_chars() > limit
        checks.append((too_long, f"{COLUMN_TO_API[column]} longer than {limit:,} characters"))
    for column in URL_COLUMNS:
        checks.append(
            (pl.col(column).str.contains(r"\s"), f"{COLUMN_TO_API[column]} contains whitespace")
        )
    checks.append(
        (
            pl.col("status").is_not_null() & ~pl.col("status").is_in(STATUSES),
            pl.format(f'invalid status "{{}}" {STATUS_EXPECTED}', pl.col("_given_status")),
        )
    )
    custom_given = pl.col("custom_fields_given")
    not_an_object = "customFields must be a JSON object"
    checks.append(
        (
            custom_given.is_not_null() & (pl.col("custom_fields_type").fill_null("") != "OBJECT"),
            not_an_object,
        )
    )
    if not strict_json:
        checks.append((_json_skeleton(custom_given).str.contains(_JSON_LEFTOVER), not_an_object))
    # Only a cell with more brackets than the limit can be too deep: the depth is worked out
    # for those alone (a Polars `when` evaluates its branch over the whole column).
    deep_candidate = pl.when(custom_given.str.count_matches(r"[\[{]") > MAX_JSON_DEPTH).then(
        custom_given
    )
    checks.append(
        (
            _json_depth(_json_skeleton(deep_candidate)) > MAX_JSON_DEPTH,
            f"customFields nested more than {MAX_JSON_DEPTH} levels deep",
        )
    )
    checks.append(
        (
            pl.col("custom_fields").str.contains(_JSON_NUL_ESCAPE),
            "customFields contains a NUL character",
        )
    )
    # A JSON tags cell carries NUL escaped (`\u0000`); the parsed tags hold the character itself.
    tags = pl.col("tags")
    checks.append(
        (
            tags.list.eval(pl.element().str.contains("\x00", literal=True)).list.any(),
            "tags contains a NUL character",
        )
    )
    tag_cell = pl.col("_tags_cell")
    bad_json_tags = tag_cell.str.starts_with("[") & (
        pl.col("tags_json_type").is_null()
        | (pl.col("tags_json_type") != "ARRAY")
        | pl.col("tag_types").list.eval(pl.element() != "VARCHAR").list.any()
    )
    checks.append((bad_json_tags, "tags must be a list of strings"))
    checks.append(
        (
            tags.list.eval(pl.element().str.len_chars() > MAX_TAG_LENGTH).list.any(),
            f"tag longer than {MAX_TAG_LENGTH} characters",
        )
    )
    return checks


def prepare_leads(raw: pl.DataFrame, con: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
    """Normalise, validate and mark first occurrences; one output row per input row.

    The JSON cells of untyped input (files) are parsed by DuckDB, on `con` when given (opening
    a database costs milliseconds a 1000-row batch cannot spare), else on one of this call's.

    Output columns: row_index, raw_email (as given, "" when missing), the lead columns
    (text normalised, custom_fields as JSON object text or null, tags as a list), error_reason
    (null for valid rows), is_first (valid and the first valid row with its email), then the
    file line (source_line) when the raw frame has one.
    """
    typed = TYPED_TAGS in raw.columns
    # NFC costs more than the rest of the email's normalisation; ASCII needs none.
    normalised = _normalised_columns(ascii_emails=is_ascii(raw.get_column("email")))
    if typed:
        # Typed input: what the JSON pass would find is known (its fixed cost is ~6 ms), and
        # everything runs as one query.
        df = raw.lazy().with_columns(normalised).with_columns(_typed_json_columns())
    else:
        cells = raw.with_columns(normalised)
        parsed = _parse_json_cells(cells, con)
        if parsed.get_column(ROW_INDEX).equals(cells.get_column(ROW_INDEX)):
            # DuckDB kept the row order (its default)
            df = cells.hstack(parsed.drop(ROW_INDEX)).lazy()
        else:
            df = cells.lazy().join(parsed.lazy(), on=ROW_INDEX, how="left", maintain_order="left")
    return collect(
        df.with_columns(_parsed_json_columns())
        .with_columns(_split_tags(pl.col("_tags_cell"), pl.col("json_tags")).alias("tags"))
        .with_columns(_failed_check(strict_json=typed))
        .with_columns(_error_reason(strict_json=typed).alias(ERROR_REASON))
        .with_columns(_first_valid().alias(IS_FIRST))
        .select(*PREPARED_SCHEMA_COLUMNS, *([LINE] if LINE in raw.columns else []))
    )


@cache
def _normalised_columns(*, ascii_emails: bool) -> list[pl.Expr]:
    return [
        *[pl.col(c).alias(f"_raw_{c}") for c in (*RAW_COLUMNS, "custom_fields_extra")],
        pl.col("email").fill_null("").alias(RAW_EMAIL),
        normalise_email(pl.col("email"), ascii_only=ascii_emails).alias("email"),
        *[_blank_to_null(pl.col(c)).alias(c) for c in (*TEXT_COLUMNS, "custom_fields", "tags")],
        _blank_to_null(pl.col("status")).alias("_given_status"),
        _blank_to_null(pl.col("status")).str.to_lowercase().alias("status"),
    ]


@cache
def _typed_json_columns() -> list[pl.Expr]:
    """The JSON pass's columns (parse_json_cells.sql) for customFields objects and tags lists
    of strings: the cells are known to parse, as an OBJECT and an ARRAY of VARCHAR."""
    custom, tags = pl.col("custom_fields"), pl.col("tags")
    return [
        pl.when(custom.is_not_null()).then(pl.lit("OBJECT")).alias("custom_fields_type"),
        pl.lit(None, pl.String).alias("custom_fields_extra_type"),
        custom.alias("custom_fields_merged"),
        pl.when(tags.is_not_null()).then(pl.lit("ARRAY")).alias("tags_json_type"),
        pl.lit([], pl.List(pl.String)).alias("tag_types"),
        pl.col(TYPED_TAGS).alias("json_tags"),
    ]


@cache
def _parsed_json_columns() -> list[pl.Expr]:
    return [
        pl.col("custom_fields").alias("custom_fields_given"),
        pl.when(pl.col("custom_fields").is_null())
        .then(pl.col("custom_fields_extra_type"))
        .otherwise(pl.col("custom_fields_type"))
        .alias("custom_fields_type"),
        pl.col("custom_fields_merged").alias("custom_fields"),
        pl.col("tags").alias("_tags_cell"),
    ]


@cache
def _first_valid() -> pl.Expr:
    valid = pl.col(ERROR_REASON).is_null()
    return valid & pl.when(valid).then(pl.col("email")).is_first_distinct()
