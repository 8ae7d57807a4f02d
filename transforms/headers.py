"""Map the columns of a file to the lead's fields and build the canonical raw frame."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

import polars as pl

from transforms.fields import (
    API_TO_COLUMN,
    COLUMN_TO_API,
    CUSTOM_FIELD_PREFIX,
    CUSTOM_FIELDS_API,
    HEADER_TO_COLUMN,
    INPUT_ERROR,
    LINE,
    RAW_COLUMNS,
    ROW_INDEX,
    header_key,
    map_target,
)

UnknownColumns = Literal["ignore", "keep"]
UNKNOWN_COLUMNS: Final = ("ignore", "keep")


@dataclass(frozen=True)
class ColumnRules:
    """What the user said about a file's columns beyond the recognised spellings: explicit
    mappings (header -> field, as `map_target` writes it) and whether unmapped columns are
    kept as custom fields."""

    mapped: tuple[tuple[str, str], ...] = ()
    keep_unknown: bool = False

    @classmethod
    def of(
        cls, mapping: Mapping[str, str] | None = None, unknown_columns: str = "ignore"
    ) -> ColumnRules:
        """Checked rules; ValueError naming the valid fields or choices."""
        if unknown_columns not in UNKNOWN_COLUMNS:
            raise ValueError(
                f"unknown columns: {unknown_columns!r} is not one of {', '.join(UNKNOWN_COLUMNS)}"
            )
        mapped = []
        for header, target in (mapping or {}).items():
            if not header.strip():
                raise ValueError(f"a mapping needs a header: {header!r}={target!r}")
            mapped.append((header, map_target(target)))
        return cls(tuple(mapped), unknown_columns == "keep")


@dataclass(frozen=True)
class HeaderMapping:
    """Which input column feeds which lead column, and what was left out."""

    columns: dict[str, str]  # lead column -> input header
    custom_fields: dict[str, str] = field(default_factory=dict)  # custom key -> input header
    unknown: list[str] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)  # headers that map to an already-mapped field
    # Every input header -> the field it went to, as the report's `columns` shows it (an API
    # name, `customFields.<key>`, or None when ignored), in input order.
    assigned: dict[str, str | None] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # explicitly mapped headers not in the input

    @property
    def has_email(self) -> bool:
        return "email" in self.columns

    def warnings(self) -> list[str]:
        """Human-readable notes about the columns that were not used."""
        notes = []
        if self.unknown:
            notes.append("ignored unknown columns: " + ", ".join(self.unknown))
        if self.repeated:
            notes.append("ignored repeated columns: " + ", ".join(self.repeated))
        if self.missing:
            notes.append("mapped headers not found: " + ", ".join(map(repr, self.missing)))
        return notes


def _find_header(headers: list[str], wanted: str) -> str | None:
    """The header a mapping names: as written, else the first equal ignoring case and padding."""
    if wanted in headers:
        return wanted
    folded = wanted.strip().casefold()
    return next((h for h in headers if h.strip().casefold() == folded), None)


class _Mapper:
    def __init__(self, headers: list[str]) -> None:
        self.columns: dict[str, str] = {}
        self.custom: dict[str, str] = {}
        self.unknown: list[str] = []
        self.repeated: list[str] = []
        self.assigned: dict[str, str | None] = dict.fromkeys(headers)

    def to_column(self, header: str, column: str) -> None:
        if column in self.columns:
            self.repeated.append(header)
        else:
            self.columns[column] = header
            self.assigned[header] = COLUMN_TO_API[column]

    def to_custom(self, header: str, key: str) -> None:
        if not key or key in self.custom:
            self.repeated.append(header)
        else:
            self.custom[key] = header
            self.assigned[header] = f"{CUSTOM_FIELDS_API}.{key}"


def map_headers(headers: list[str], rules: ColumnRules | None = None) -> HeaderMapping:
    """Match headers case-insensitively, ignoring spaces, `_` and `-`; the first match wins.
    Explicit mappings (`rules`) come first and win over the recognised spellings."""
    rules = rules or ColumnRules()
    explicit: dict[str, str] = {}
    missing: list[str] = []
    for wanted, target in rules.mapped:
        header = _find_header(headers, wanted)
        if header is None:
            missing.append(wanted)
        else:
            explicit[header] = target
    mapper = _Mapper(headers)
    for header in headers:
        target = explicit.get(header)
        if target is None:
            continue
        if target.startswith(f"{CUSTOM_FIELDS_API}."):
            mapper.to_custom(header, target[len(CUSTOM_FIELDS_API) + 1 :])
        else:
            mapper.to_column(header, API_TO_COLUMN[target])
    for header in headers:
        if header in explicit:
            continue
        stripped = header.strip()
        if stripped.lower().startswith(CUSTOM_FIELD_PREFIX):
            mapper.to_custom(header, stripped[len(CUSTOM_FIELD_PREFIX) :].strip())
            continue
        column = HEADER_TO_COLUMN.get(header_key(header))
        if column is not None:
            mapper.to_column(header, column)
        elif rules.keep_unknown and stripped and stripped not in mapper.custom:
            mapper.to_custom(header, stripped)
        else:
            mapper.unknown.append(header)
    return HeaderMapping(
        mapper.columns, mapper.custom, mapper.unknown, mapper.repeated, mapper.assigned, missing
    )


def _json_member(key: str, header: str) -> pl.Expr:
    """`"key":"value"` for a non-empty cell, else null (JSON-escaped by Polars)."""
    value = pl.col(header).str.strip_chars()
    member = (
        pl.struct(value.alias(key)).struct.json_encode().str.strip_prefix("{").str.strip_suffix("}")
    )
    return pl.when(value.str.len_bytes() > 0).then(member)


def custom_fields_expr(custom: dict[str, str]) -> pl.Expr:
    """A JSON object text gathering the `customFields.<key>` columns, null when all are empty."""
    members = pl.concat_str(
        [_json_member(k, h) for k, h in custom.items()], separator=",", ignore_nulls=True
    )
    return pl.when(members.str.len_bytes() > 0).then(pl.format("{{{}}}", members))


def to_raw_frame(table: pl.DataFrame, mapping: HeaderMapping) -> pl.DataFrame:
    """Select and rename a text table into the canonical raw frame (row index, RAW_COLUMNS, the
    custom-field extras, input error, and the file line when the table has one)."""
    exprs: list[pl.Expr] = []
    for column in RAW_COLUMNS:
        header = mapping.columns.get(column)
        expr = pl.col(header).cast(pl.String) if header is not None else pl.lit(None, pl.String)
        exprs.append(expr.alias(column))
    if mapping.custom_fields:
        exprs.append(custom_fields_expr(mapping.custom_fields).alias("custom_fields_extra"))
    else:
        exprs.append(pl.lit(None, pl.String).alias("custom_fields_extra"))
    input_error = pl.col(INPUT_ERROR) if INPUT_ERROR in table.columns else pl.lit(None, pl.String)
    exprs.append(input_error.alias(INPUT_ERROR))
    row_index = pl.col(ROW_INDEX) if ROW_INDEX in table.columns else pl.int_range(pl.len())
    exprs.insert(0, row_index.cast(pl.Int64).alias(ROW_INDEX))
    if LINE in table.columns:  # a file row's line, carried to the outcome
        exprs.append(pl.col(LINE).cast(pl.Int64))
    return table.select(exprs)
